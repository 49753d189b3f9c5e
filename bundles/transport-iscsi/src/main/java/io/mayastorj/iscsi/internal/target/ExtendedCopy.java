package io.mayastorj.iscsi.internal.target;

import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.buffer.BufferPool;
import io.mayastorj.iscsi.internal.scsi.Cdb;
import io.mayastorj.iscsi.internal.scsi.CopyParameters;
import io.mayastorj.iscsi.internal.scsi.CopyParameters.CopyList;
import io.mayastorj.iscsi.internal.scsi.CopyParameters.Segment;
import io.mayastorj.iscsi.internal.scsi.CopyParameters.Target;
import io.mayastorj.iscsi.internal.scsi.ScsiLun;
import io.mayastorj.iscsi.internal.scsi.Sense;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * One EXTENDED COPY (LID1) command, run on the target: the copy targets are LUNs this node's iSCSI
 * target serves (found by the designators of their VPD 83h page), and each block-to-block segment
 * is read from one bdev and written to the other in runs of up to a megabyte through one buffer —
 * the data never crosses the network. Everything is checked before the first block moves (indexes,
 * targets, block lengths, ranges, reservations), so a refused list changes nothing. Overlapping
 * runs on one LUN are copied from the end when the destination lies after the source, as a memmove
 * would. Its writes wait for a COMPARE AND WRITE of their blocks as any write does. Runs on the
 * connection's reactor; the bdev answers on any thread.
 */
final class ExtendedCopy implements IoCompletion<ExtendedCopy>, Runnable {

    /** A copy's status, for RECEIVE COPY RESULTS (COPY STATUS); kept per session (the I_T nexus). */
    static final class Status {
        /** 00h running, 01h completed without errors, 02h completed with errors (SPC-4 §6.18.3). */
        int state;
        int segmentsProcessed;
        long bytes;

        byte[] report() {
            byte[] data = new byte[12];
            ByteBuffer b = ByteBuffer.wrap(data);
            b.putInt(0, 8);
            data[4] = (byte) state;
            b.putShort(5, (short) Math.min(segmentsProcessed, 0xFFFF));
            boolean fits = bytes <= 0xFFFFFFFFL;
            data[7] = (byte) (fits ? 0x00 : 0x01); // transfer count units: bytes, or kibibytes
            b.putInt(8, (int) (fits ? bytes : Math.min(bytes >>> 10, 0xFFFFFFFFL)));
            return data;
        }
    }

    private final IscsiTarget target;
    private final IscsiConnection connection;
    private final Session session;
    private final DataPhase dataPhase;
    private final TaskTable tasks;
    private final BufferPool buffers;
    private final Task task;

    private CopyList list;
    private final List<BlockDevice> devices = new ArrayList<>();
    private Status status;
    private int segment;
    private long done; // blocks of the current segment copied
    private int run;   // blocks in flight
    private boolean backwards;
    private boolean writing;
    private boolean submitting;
    private boolean completedInline;
    private IoStatus ioStatus;
    /** The destination's fence while a write run is at its bdev (a COMPARE AND WRITE there waits for it). */
    private volatile IscsiTarget.AtomicSection writeFence;
    /** Counted in its connection's {@code copiesRunning}. */
    private boolean running;

    ExtendedCopy(IscsiTarget target, IscsiConnection connection, Session session, DataPhase dataPhase, TaskTable tasks,
                 BufferPool buffers, Task task) {
        this.target = target;
        this.connection = connection;
        this.session = session;
        this.dataPhase = dataPhase;
        this.tasks = tasks;
        this.buffers = buffers;
        this.task = task;
    }

    /** The parameter list is in the task's buffer: check it all, then copy. */
    void start() {
        int length = (int) Math.min(task.received, Cdb.u32(task.cdb, 10));
        // counted before the reservations are checked: a PREEMPT AND ABORT of a destination either sees
        // this copy (and aborts it, on this reactor, once it is marked below) or is seen by the check
        connection.copiesRunning.incrementAndGet();
        running = true;
        try {
            list = CopyParameters.parse(task.buffer.bytes().duplicate().order(ByteOrder.BIG_ENDIAN), length);
            resolve();
        } catch (ScsiLun.Check c) {
            ended();
            dataPhase.respond(task, Sense.CHECK_CONDITION, c.sense(), 0);
            return;
        } catch (Conflict c) {
            ended();
            dataPhase.respond(task, Sense.RESERVATION_CONFLICT, null, 0);
            return;
        }
        List<BlockDevice> into = new ArrayList<>();
        for (Segment s : list.segments()) {
            into.add(devices.get(s.destination()));
        }
        task.copyInto = into; // a LUN RESET or PREEMPT AND ABORT there aborts this copy too
        if (list.listIdUsage() != 3) {
            Status busy = session.copies.get(list.listId());
            if (busy != null && busy.state == 0) {
                ended();
                dataPhase.respond(task, Sense.CHECK_CONDITION, Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.OPERATION_IN_PROGRESS), 0);
                return;
            }
            status = new Status();
            session.copies.remove(list.listId());
            session.copies.put(list.listId(), status);
            forgetOldest(session.copies);
        } else {
            status = new Status();
        }
        if (list.segments().isEmpty()) {
            finish(Sense.GOOD, null);
            return;
        }
        task.releaseBuffer(); // the list is parsed; the copy's buffer takes its place
        if (task.takeCompare(buffers, ScsiLun.MAX_TRANSFER_BYTES) == null) {
            session.copies.remove(list.listId());
            ended();
            dataPhase.respond(task, Sense.BUSY, null, 0);
            return;
        }
        task.submitted = true; // an abort or a closed connection leaves the task to this copy to drop
        segment = -1;
        nextSegment();
    }

    private static void forgetOldest(Map<Integer, Status> copies) {
        Iterator<Status> it = copies.values().iterator();
        while (copies.size() > CopyParameters.MAX_CONCURRENT && it.hasNext()) {
            if (it.next().state != 0) {
                it.remove();
            }
        }
    }

    /** A reservation of a copy target forbids this nexus the read or write. */
    private static final class Conflict extends Exception {
        Conflict() {
            super(null, null, false, false);
        }
    }

    /** Every segment's targets found on this node, of the block length the list says, the ranges within them. */
    private void resolve() throws ScsiLun.Check, Conflict {
        List<Target> targets = list.targets();
        for (int i = 0; i < targets.size(); i++) {
            devices.add(null);
        }
        for (Segment s : list.segments()) {
            if (s.source() >= targets.size() || s.destination() >= targets.size()) {
                throw aborted(Sense.UNREACHABLE_COPY_TARGET, s.offset());
            }
            BlockDevice from = device(s.source(), s.offset());
            BlockDevice to = device(s.destination(), s.offset());
            if (from.blockSize() != to.blockSize()) { // block to block moves whole blocks of one size
                throw aborted(Sense.NO_ADDITIONAL_SENSE, s.offset());
            }
            if (!Cdb.inRange(s.sourceLba(), s.blocks(), from.blockCount())
                    || !Cdb.inRange(s.destinationLba(), s.blocks(), to.blockCount())) {
                throw aborted(Sense.NO_ADDITIONAL_SENSE, s.offset());
            }
            if (target.reservations(from).conflicts(session.nexus, new byte[] {(byte) ScsiLun.READ_16})
                    || target.reservations(to).conflicts(session.nexus, new byte[] {(byte) ScsiLun.WRITE_16})) {
                throw new Conflict();
            }
        }
    }

    private BlockDevice device(int index, int segmentOffset) throws ScsiLun.Check {
        BlockDevice found = devices.get(index);
        if (found != null) {
            return found;
        }
        Target t = list.targets().get(index);
        for (IscsiTarget.Target shared : target.targets()) {
            if (reachable(shared) && new ScsiLun(shared.device()).identifiedBy(t.designatorType(), t.designator())) {
                found = shared.device();
                break;
            }
        }
        if (found == null) {
            throw aborted(Sense.UNREACHABLE_COPY_TARGET, segmentOffset);
        }
        if (t.blockLength() != found.blockSize()) {
            throw new ScsiLun.Check(Sense.illegal(Sense.INVALID_FIELD_IN_PARAMETER_LIST, false, t.offset() + 29, -1));
        }
        devices.set(index, found);
        return found;
    }

    /**
     * A LUN this session could log in to: its own, or another target that admits its initiator with
     * no CHAP or the same CHAP. Any shared LUN named by its designator once was a copy source or
     * destination, past the other target's allowed initiators and CHAP.
     */
    private boolean reachable(IscsiTarget.Target shared) {
        IscsiTarget.Target own = session.lunTarget;
        return shared.equals(own) || shared.allows(session.initiatorName)
                && (shared.chap() == null || own != null && shared.chap().equals(own.chap()));
    }

    /** COPY ABORTED, with the segment descriptor it failed at (SPC-4's segment pointer, from the list's start). */
    private static ScsiLun.Check aborted(int ascq, int segmentOffset) {
        byte[] sense = Sense.fixed(Sense.COPY_ABORTED, ascq);
        sense[15] = (byte) 0x80;
        sense[16] = (byte) (segmentOffset >>> 8);
        sense[17] = (byte) segmentOffset;
        return new ScsiLun.Check(sense);
    }

    private void nextSegment() {
        segment++;
        done = 0;
        if (segment == list.segments().size()) {
            finish(Sense.GOOD, null);
            return;
        }
        Segment s = list.segments().get(segment);
        backwards = devices.get(s.source()) == devices.get(s.destination()) && s.destinationLba() > s.sourceLba()
                && s.destinationLba() < s.sourceLba() + s.blocks();
        nextRun();
    }

    private void nextRun() {
        Segment s = list.segments().get(segment);
        if (done == s.blocks()) {
            status.segmentsProcessed++;
            nextSegment();
            return;
        }
        BlockDevice from = devices.get(s.source());
        run = (int) Math.min(s.blocks() - done, ScsiLun.MAX_TRANSFER_BYTES / from.blockSize());
        writing = false;
        submit(from, s.sourceLba() + offset(s));
    }

    /** Where the run in flight starts, from the segment's start. */
    private long offset(Segment s) {
        return backwards ? s.blocks() - done - run : done;
    }

    private void submit(BlockDevice device, long lba) {
        submitting = true;
        completedInline = false;
        if (writing) {
            device.write(task.compare, 0, lba, run, this, this);
        } else {
            device.read(task.compare, 0, lba, run, this, this);
        }
        submitting = false;
        if (completedInline) { // a bdev that answered at once: go on here rather than deeper in its stack
            connection.reactor().execute(this);
        }
    }

    /**
     * The run read is written, unless a COMPARE AND WRITE holds or waits for some of its blocks: then it
     * parks and comes back here after — written between the compare's read and write, the copy was lost
     * or the compare's update was.
     */
    private void writeRun() {
        Segment s = list.segments().get(segment);
        BlockDevice to = devices.get(s.destination());
        if (target.reservations(to).conflicts(session.nexus, new byte[] {(byte) ScsiLun.WRITE_16})) {
            finish(Sense.RESERVATION_CONFLICT, null); // reserved by another host since the list was checked
            return;
        }
        long lba = s.destinationLba() + offset(s);
        IscsiTarget.AtomicSection fence = target.atomicSection(to);
        if (!fence.copyWriteStarts(this, lba, run)) {
            fence.park(() -> connection.reactor().execute(this::resumeWrite), lba, run);
            return;
        }
        writeFence = fence;
        submit(to, lba);
    }

    /** Back from the park, on the connection's reactor: dropped, refused if preempted meanwhile, or written. */
    private void resumeWrite() {
        if (connection.isClosed() || task.aborted) {
            drop();
            return;
        }
        writeRun(); // which checks the reservations again: the copy may have been preempted meanwhile
    }

    @Override
    public void ioDone(IoStatus status, ExtendedCopy context) {
        IscsiTarget.AtomicSection fence = writeFence;
        if (fence != null) {
            writeFence = null;
            fence.copyWriteEnded(this);
        }
        ioStatus = status;
        if (submitting && connection.reactor().inReactor()) {
            completedInline = true;
        } else if (connection.reactor().inReactor()) {
            run();
        } else {
            connection.reactor().execute(this);
        }
    }

    /** A run came back from a bdev, on the connection's reactor. */
    @Override
    public void run() {
        if (connection.isClosed() || task.aborted) {
            drop();
            return;
        }
        Segment s = list.segments().get(segment);
        if (ioStatus != IoStatus.SUCCESS) {
            connection.logOnce("xcopy" + ioStatus, "EXTENDED COPY: bdev I/O failed: " + ioStatus);
            finish(Sense.CHECK_CONDITION, aborted(writing ? Sense.WRITE_ERROR : Sense.UNRECOVERED_READ_ERROR, s.offset()).sense());
            return;
        }
        if (!writing) {
            writing = true;
            writeRun();
            return;
        }
        done += run;
        status.bytes += (long) run * devices.get(s.destination()).blockSize();
        nextRun();
    }

    /** The copy no longer runs: it leaves its connection's count (once). */
    private void ended() {
        if (running) {
            running = false;
            task.copyInto = null;
            connection.copiesRunning.decrementAndGet();
        }
    }

    /** Closed or aborted: the copy ends where it is, and its task goes. */
    private void drop() {
        ended();
        if (status.state == 0) {
            status.state = 2;
        }
        task.submitted = false;
        tasks.remove(task.itt, task);
        task.release();
    }

    private void finish(int scsiStatus, byte[] sense) {
        ended();
        task.submitted = false;
        status.state = scsiStatus == Sense.GOOD ? 1 : 2;
        if (list.listIdUsage() == 2) { // DISCARD: nothing to report later
            session.copies.remove(list.listId());
        }
        dataPhase.respond(task, scsiStatus, sense, scsiStatus == Sense.GOOD ? task.received : 0);
    }
}
