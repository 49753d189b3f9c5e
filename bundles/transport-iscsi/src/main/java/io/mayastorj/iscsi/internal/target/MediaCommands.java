package io.mayastorj.iscsi.internal.target;

import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.buffer.BufferPool;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.iscsi.internal.scsi.Cdb;
import io.mayastorj.iscsi.internal.scsi.ScsiLun;
import io.mayastorj.iscsi.internal.scsi.Sense;
import java.nio.ByteBuffer;

/**
 * The SCSI commands that become I/O on the bdev (SBC-3): READ, WRITE, VERIFY and WRITE AND VERIFY
 * (6/10/12/16), UNMAP, WRITE SAME, COMPARE AND WRITE, ORWRITE — their checks, their submission once their
 * data is in, and every bdev completion ({@link #bdevDone}, SYNCHRONIZE CACHE's too) through to the
 * status. Apart from {@link ScsiCommands}, which admits a command and answers those the LUN answers
 * from its own state, because this is the path every read and write takes, and the only one with
 * steps that come back from the bdev on any thread.
 */
final class MediaCommands {

    private final IscsiConnection connection;
    private final IscsiTarget target;
    private final Session session;
    private final DataPhase dataPhase;
    private final TaskTable tasks;
    private final BufferPool buffers;
    /** This session's LUN's atomic section, looked up once (not per write). */
    private IscsiTarget.AtomicSection section;
    /**
     * Writes of this connection admitted and not yet done with the bdev, by epoch (on this reactor
     * only): a COMPARE AND WRITE starts once the writes admitted before it asked are done
     * ({@link #whenWritesQuiet}) — the epoch flips when it asks, so the writes to other blocks
     * admitted after count in the other and keep it waiting for at most one more epoch (when an
     * earlier compare's wait still drains), never for ever under steady load.
     */
    private final int[] writesAtBdev = new int[2];
    private int writeEpoch;
    /** Waiting for epoch {@code 1 - writeEpoch} to drain; while set, that epoch holds writes of theirs. */
    private java.util.List<java.util.concurrent.CompletableFuture<Void>> draining;
    /** Asked while {@link #draining}: they flip the epoch again once it has drained. */
    private java.util.List<java.util.concurrent.CompletableFuture<Void>> nextDrain;

    MediaCommands(IscsiConnection connection, IscsiTarget target, Session session, DataPhase dataPhase, TaskTable tasks,
                  BufferPool buffers) {
        this.connection = connection;
        this.target = target;
        this.session = session;
        this.dataPhase = dataPhase;
        this.tasks = tasks;
        this.buffers = buffers;
    }

    static boolean isMedia(int opcode) {
        return switch (opcode) {
            case ScsiLun.READ_6, ScsiLun.READ_10, ScsiLun.READ_12, ScsiLun.READ_16,
                 ScsiLun.WRITE_6, ScsiLun.WRITE_10, ScsiLun.WRITE_12, ScsiLun.WRITE_16,
                 ScsiLun.VERIFY_10, ScsiLun.VERIFY_12, ScsiLun.VERIFY_16,
                 ScsiLun.WRITE_VERIFY_10, ScsiLun.WRITE_VERIFY_12, ScsiLun.WRITE_VERIFY_16 -> true;
            default -> false;
        };
    }

    static boolean isVerify(int opcode) {
        return opcode == ScsiLun.VERIFY_10 || opcode == ScsiLun.VERIFY_12 || opcode == ScsiLun.VERIFY_16;
    }

    static boolean isWriteVerify(int opcode) {
        return opcode == ScsiLun.WRITE_VERIFY_10 || opcode == ScsiLun.WRITE_VERIFY_12 || opcode == ScsiLun.WRITE_VERIFY_16;
    }

    /** BYTCHK of VERIFY (SBC-4 byte 1 bits 1-2): 0 check the medium only, 1 compare with the data sent. */
    static int bytchk(Task t) {
        return (t.cdb[1] >>> 1) & 3;
    }

    /** COMPARE AND WRITE and ORWRITE: a read, then a write of what it read changed, with no write of theirs between. */
    static boolean isAtomic(int opcode) {
        return opcode == ScsiLun.COMPARE_AND_WRITE || opcode == ScsiLun.ORWRITE_16;
    }

    static boolean isWrite(int opcode) {
        return opcode == ScsiLun.WRITE_6 || opcode == ScsiLun.WRITE_10 || opcode == ScsiLun.WRITE_12
                || opcode == ScsiLun.WRITE_16;
    }

    /** The data phase, and the command on once every byte of it is in. */
    private void receiveData(Task task, ByteBuffer req) {
        if (dataPhase.expectData(task, req)) {
            dataReceived(task);
        }
    }

    // ================================================================== READ, WRITE, VERIFY, WRITE AND VERIFY

    /** Where the TRANSFER LENGTH (VERIFICATION LENGTH) field of a read, write or verify CDB starts, by its group. */
    static int transferLengthByte(int opcode) {
        return switch (opcode >>> 5) {
            case 0 -> 4;   // 6-byte CDBs
            case 5 -> 6;   // 12-byte
            case 4 -> 10;  // 16-byte
            default -> 7;  // 10-byte
        };
    }

    void media(Task task, ByteBuffer req) {
        BlockDevice device = session.lun.device();
        long blocks = task.cdbLength / device.blockSize();
        boolean writeOp = task.dataOut;
        if (!Cdb.inRange(task.lba, blocks, device.blockCount())) {
            dataPhase.respond(task, Sense.CHECK_CONDITION, Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.LBA_OUT_OF_RANGE), 0);
            return;
        }
        if (task.cdbLength > ScsiLun.MAX_TRANSFER_BYTES) {
            dataPhase.respond(task, Sense.CHECK_CONDITION,
                    Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, transferLengthByte(task.opcode), -1), 0);
            return;
        }
        if (task.cdbLength == 0 || task.expectedLength == 0) {
            dataPhase.respond(task, Sense.GOOD, null, 0);
            return;
        }
        if (writeOp && Integer.toUnsignedLong(task.expectedLength) > ScsiLun.MAX_TRANSFER_BYTES) {
            // more data than a command takes (the CDB's own length is within it): no buffer was planned, and the
            // BUSY that said so was retried until the initiator's command timeout
            dataPhase.respond(task, Sense.CHECK_CONDITION, Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.INVALID_FIELD_IN_CDB), 0);
            return;
        }
        if ((task.cdb[1] & 0xE0) != 0 && task.opcode != ScsiLun.READ_6 && task.opcode != ScsiLun.WRITE_6) {
            // RDPROTECT / WRPROTECT: the LUN has no protection information
            dataPhase.respond(task, Sense.CHECK_CONDITION, Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 1, 7), 0);
            return;
        }
        if (isVerify(task.opcode) && bytchk(task) > 1) {
            dataPhase.respond(task, Sense.CHECK_CONDITION, Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 1, 2), 0);
            return;
        }
        if (isVerify(task.opcode) && bytchk(task) == 0) {
            dataPhase.respond(task, Sense.GOOD, null, 0); // the range is there; the medium is RAM or a file
            return;
        }
        // WRITE AND VERIFY writes to the medium (SBC-4 §5.46), not to a volatile cache: durable before its status
        task.fua = isWrite(task.opcode) && task.opcode != ScsiLun.WRITE_6 && (task.cdb[1] & 0x08) != 0
                || isWriteVerify(task.opcode);
        if (task.buffer == null) {
            dataPhase.respond(task, Sense.BUSY, null, 0); // the buffer pool is exhausted: the initiator retries
            return;
        }
        task.blocks = task.ioBytes / device.blockSize();
        if (!writeOp) {
            if (task.blocks == 0) {
                dataPhase.respond(task, Sense.GOOD, null, 0);
                return;
            }
            task.submitted = true;
            device.read(task.buffer, 0, task.lba, task.blocks, task, task);
            return;
        }
        receiveData(task, req);
    }

    /**
     * Every byte of the command's data is in: COMPARE AND WRITE waits for its LUN, UNMAP and WRITE
     * SAME start, and a write goes to the bdev (a VERIFY with BYTCHK 1 reads the medium to compare).
     */
    void dataReceived(Task task) {
        if (isAtomic(task.opcode)) {
            section().enter(task);
            return;
        }
        // UNMAP's ranges are in its list and WRITE SAME's may be long: both count as the whole LUN
        task.fenceLba = isMedia(task.opcode) ? task.lba : 0;
        task.fenceBlocks = isMedia(task.opcode) ? task.ioBytes / session.lun.device().blockSize() : Long.MAX_VALUE;
        if (section().excludes(task.fenceLba, task.fenceBlocks)) {
            // a COMPARE AND WRITE holds or waits for some of its blocks: no write lands between its read and
            // its write (SBC-3: "an uninterrupted series of actions"); this one goes on once it is done
            task.awaitingFence = true; // an abort meanwhile leaves the task to resumeParked to drop
            section().park(task);
            return;
        }
        task.writeEpoch = writeEpoch;
        writesAtBdev[writeEpoch]++;
        task.writeHeld = true;
        try {
            admitted(task);
        } finally {
            stepEnded(task); // whatever happened: a count left behind would keep every later COMPARE AND WRITE waiting
        }
    }

    private IscsiTarget.AtomicSection section() {
        IscsiTarget.AtomicSection s = section;
        if (s == null) {
            s = target.atomicSection(session.lun.device());
            section = s;
        }
        return s;
    }

    /** On this reactor: a write parked behind a COMPARE AND WRITE goes on (or is dropped, aborted meanwhile). */
    void resumeParked(Task task) {
        if (goneAfterWait(task)) {
            return;
        }
        connection.scsi().dataReceived(task); // the reservations are asked again: a preemption may have come meanwhile
    }

    /**
     * After a wait of {@code task} outside the bdev (a fence, a COMPARE AND WRITE): true when it is gone —
     * released by its connection's close, or aborted meanwhile and dropped now (the abort's response
     * waited for that).
     */
    boolean goneAfterWait(Task task) {
        task.awaitingFence = false;
        if (connection.isClosed()) {
            return true;
        }
        if (task.aborted) {
            tasks.remove(task.itt, task);
            task.release();
            return true;
        }
        return false;
    }

    /**
     * After a step of an admitted write: once it is no longer at the bdev (answered, failed, dropped),
     * it counts no more, and a COMPARE AND WRITE waiting for this connection's writes may go.
     */
    private void stepEnded(Task task) {
        if (task.writeHeld && !task.submitted) {
            task.writeHeld = false;
            int e = task.writeEpoch;
            if (--writesAtBdev[e] == 0 && e != writeEpoch && draining != null) {
                java.util.List<java.util.concurrent.CompletableFuture<Void>> done = draining;
                draining = null;
                java.util.List<java.util.concurrent.CompletableFuture<Void>> next = nextDrain;
                nextDrain = null;
                if (next != null) {
                    drainFor(next); // before the completions: one that asked again inline must find this state settled
                }
                done.forEach(w -> w.complete(null));
            }
        }
    }

    /** For tests, on this reactor: the epoch new writes count in. */
    int writeEpoch() {
        return writeEpoch;
    }

    /** On this reactor: completes once the writes this connection admitted so far are done with the bdev. */
    void whenWritesQuiet(java.util.concurrent.CompletableFuture<Void> quiet) {
        if (draining != null) { // the epoch cannot flip again until that one drained: this waits for the next flip
            if (nextDrain == null) {
                nextDrain = new java.util.ArrayList<>();
            }
            nextDrain.add(quiet);
            return;
        }
        drainFor(new java.util.ArrayList<>(java.util.List.of(quiet)));
    }

    /** No epoch draining (the other one is empty): the current one's writes are what {@code waiters} wait for. */
    private void drainFor(java.util.List<java.util.concurrent.CompletableFuture<Void>> waiters) {
        if (writesAtBdev[writeEpoch] == 0) {
            waiters.forEach(w -> w.complete(null));
            return;
        }
        writeEpoch = 1 - writeEpoch; // new writes count in the other, empty epoch
        draining = waiters;
    }

    private void admitted(Task task) {
        if (task.opcode == ScsiLun.UNMAP) {
            unmapList(task);
            return;
        }
        if (task.opcode == ScsiLun.WRITE_SAME_10 || task.opcode == ScsiLun.WRITE_SAME_16) {
            startWriteSame(task);
            return;
        }
        task.blocks = task.ioBytes / session.lun.device().blockSize();
        if (task.blocks == 0) {
            dataPhase.respond(task, Sense.GOOD, null, 0);
            return;
        }
        task.submitted = true;
        if (isVerify(task.opcode)) { // BYTCHK 1: read the medium and compare
            if (task.takeCompare(buffers, task.ioBytes) == null) {
                task.submitted = false;
                dataPhase.respond(task, Sense.BUSY, null, 0);
                return;
            }
            task.comparing = true;
            session.lun.device().read(task.compare, 0, task.lba, task.blocks, task, task);
            return;
        }
        session.lun.device().write(task.buffer, 0, task.lba, task.blocks, task, task);
    }

    // ================================================================== UNMAP

    /** UNMAP (SBC-3 §5.28): the parameter list comes as data-out; the ranges are unmapped one by one. */
    void unmap(Task task, ByteBuffer req) {
        if (!session.lun.provisioning()) {
            dataPhase.respond(task, Sense.CHECK_CONDITION,
                    Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.INVALID_COMMAND_OPERATION_CODE), 0);
            return;
        }
        if ((task.cdb[1] & 0x01) != 0) { // ANCHOR: no anchored state here
            dataPhase.respond(task, Sense.CHECK_CONDITION, Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 1, 0), 0);
            return;
        }
        if (dataPhase.expectParameterList(task, req, Cdb.u16(task.cdb, 7))) {
            dataReceived(task);
        }
    }

    /** The UNMAP parameter list is in: checks every range first, then unmaps them. */
    private void unmapList(Task task) {
        ByteBuffer list = task.buffer.bytes().duplicate().order(java.nio.ByteOrder.BIG_ENDIAN);
        int length = Math.min(task.received, Cdb.u16(task.cdb, 7));
        if (length < 8) {
            dataPhase.respond(task, Sense.CHECK_CONDITION,
                    Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.PARAMETER_LIST_LENGTH_ERROR), 0);
            return;
        }
        int descriptors = Math.min(list.getShort(2) & 0xFFFF, length - 8) / 16;
        if (descriptors > ScsiLun.MAX_UNMAP_DESCRIPTORS) {
            dataPhase.respond(task, Sense.CHECK_CONDITION,
                    Sense.illegal(Sense.INVALID_FIELD_IN_PARAMETER_LIST, false, 2, -1), 0);
            return;
        }
        long capacity = session.lun.device().blockCount();
        task.ranges = new long[descriptors * 2];
        long total = 0;
        for (int i = 0; i < descriptors; i++) {
            long lba = list.getLong(8 + 16 * i);
            long count = list.getInt(16 + 16 * i) & 0xFFFFFFFFL;
            if (!Cdb.inRange(lba, count, capacity)) {
                dataPhase.respond(task, Sense.CHECK_CONDITION, Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.LBA_OUT_OF_RANGE), 0);
                return;
            }
            total += count;
            if (total > ScsiLun.MAX_UNMAP_BLOCKS) { // the whole list counts against MAXIMUM UNMAP LBA COUNT (SBC-3)
                dataPhase.respond(task, Sense.CHECK_CONDITION,
                        Sense.illegal(Sense.INVALID_FIELD_IN_PARAMETER_LIST, false, 16 + 16 * i, -1), 0);
                return;
            }
            task.ranges[2 * i] = lba;
            task.ranges[2 * i + 1] = count;
        }
        task.step = 0;
        nextUnmap(task);
    }

    private void nextUnmap(Task task) {
        while (task.step < task.ranges.length / 2 && task.ranges[2 * task.step + 1] == 0) {
            task.step++;
        }
        if (task.step == task.ranges.length / 2) {
            dataPhase.respond(task, Sense.GOOD, null, task.received);
            return;
        }
        task.submitted = true;
        session.lun.device().unmap(task.ranges[2 * task.step], task.ranges[2 * task.step + 1], task, task);
    }

    // ================================================================== WRITE SAME

    /**
     * WRITE SAME (10)/(16), SBC-4 §5.50/5.51: one block of data written over a range, at most MAXIMUM
     * WRITE SAME LENGTH blocks; 0 blocks means to the end of the medium (WSNZ is 0). The UNMAP bit is
     * taken where the LUN can unmap (LBPWS, LBPWS10): a block of zeros becomes the bdev's
     * write-zeroes, which a thin bdev serves by deallocating, and reads back as zeros; any other
     * pattern is written (SBC-4 lets the device write rather than unmap). No anchored state (ANCHOR),
     * no NDOB.
     */
    void writeSame(Task task, ByteBuffer req) {
        BlockDevice device = session.lun.device();
        boolean ten = task.opcode == ScsiLun.WRITE_SAME_10;
        long lba = Cdb.lba(task.cdb);
        long blocks = Cdb.transferLength(task.cdb);
        if ((task.cdb[1] & 0xE0) != 0) {
            dataPhase.respond(task, Sense.CHECK_CONDITION, Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 1, 7), 0);
            return;
        }
        if ((task.cdb[1] & 0x08) != 0 && !session.lun.provisioning()) { // UNMAP where nothing unmaps
            dataPhase.respond(task, Sense.CHECK_CONDITION, Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 1, 3), 0);
            return;
        }
        if ((task.cdb[1] & 0x10) != 0) { // ANCHOR
            dataPhase.respond(task, Sense.CHECK_CONDITION, Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 1, 4), 0);
            return;
        }
        if (!ten && (task.cdb[1] & 0x01) != 0) { // NDOB
            dataPhase.respond(task, Sense.CHECK_CONDITION, Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 1, 0), 0);
            return;
        }
        if (!Cdb.inRange(lba, blocks, device.blockCount())) {
            dataPhase.respond(task, Sense.CHECK_CONDITION, Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.LBA_OUT_OF_RANGE), 0);
            return;
        }
        if (blocks == 0) {
            blocks = device.blockCount() - lba;
        }
        if (blocks > ScsiLun.MAX_WRITE_SAME_BLOCKS) {
            dataPhase.respond(task, Sense.CHECK_CONDITION, Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, ten ? 7 : 10, -1), 0);
            return;
        }
        if (task.buffer == null || task.expectedLength != device.blockSize()) {
            dataPhase.respond(task, Sense.CHECK_CONDITION, Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.INVALID_FIELD_IN_CDB), 0);
            return;
        }
        task.lba = lba;
        task.sameLeft = blocks; // 0 at the very end of the medium: the block still comes, nothing is written
        receiveData(task, req);
    }

    /** The block is in: zeros go as write-zeroes; any other pattern is copied over a buffer and written chunk by chunk. */
    private void startWriteSame(Task task) {
        if (task.sameLeft == 0) {
            dataPhase.respond(task, Sense.GOOD, null, task.received);
            return;
        }
        int bs = session.lun.device().blockSize();
        ByteBuffer block = task.buffer.bytes().duplicate().limit(bs).position(0);
        // zeros go as write-zeroes where the device has it; elsewhere (a nexus over a child without it) they
        // are written as any pattern is, not refused as a medium error
        task.sameZeroes = block.mismatch(ByteBuffer.allocate(bs)) < 0 && session.lun.device().supports(IoType.WRITE_ZEROES);
        if (task.sameZeroes) {
            task.submitted = true;
            task.sameChunk = (int) task.sameLeft;
            task.sameLeft = 0;
            session.lun.device().writeZeroes(task.lba, task.sameChunk, task, task);
            return;
        }
        int chunkBlocks = (int) Math.min(task.sameLeft, ScsiLun.MAX_TRANSFER_BYTES / bs);
        DmaBuffer pattern = task.takeCompare(buffers, chunkBlocks * bs); // released with the task
        if (pattern == null) {
            dataPhase.respond(task, Sense.BUSY, null, 0);
            return;
        }
        for (int i = 0; i < chunkBlocks; i++) {
            pattern.bytes().put(i * bs, task.buffer.bytes(), 0, bs);
        }
        task.samePatternBlocks = chunkBlocks;
        nextWriteSame(task);
    }

    private void nextWriteSame(Task task) {
        if (task.sameLeft == 0) {
            dataPhase.respond(task, Sense.GOOD, null, task.received);
            return;
        }
        int bs = session.lun.device().blockSize();
        // the blocks filled with the pattern, not the buffer's capacity: a larger buffer the pool handed out
        // holds another transfer's data beyond them
        task.sameChunk = (int) Math.min(task.sameLeft, task.samePatternBlocks);
        task.sameLeft -= task.sameChunk;
        task.submitted = true;
        session.lun.device().write(task.compare, 0, task.lba, task.sameChunk, task, task);
    }

    // ================================================================== COMPARE AND WRITE

    /** COMPARE AND WRITE (SBC-3 §5.2): checks, then the 2 × NLB blocks of data come in. */
    void compareAndWriteCommand(Task task, ByteBuffer req) {
        BlockDevice device = session.lun.device();
        int maxBlocks = Math.min(ScsiLun.MAX_COMPARE_AND_WRITE_BLOCKS, ScsiLun.MAX_TRANSFER_BYTES / 2 / device.blockSize());
        if ((task.cdb[1] & 0xE0) != 0) {
            dataPhase.respond(task, Sense.CHECK_CONDITION, Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 1, 7), 0);
            return;
        }
        if (task.blocks > maxBlocks) {
            dataPhase.respond(task, Sense.CHECK_CONDITION, Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 13, -1), 0);
            return;
        }
        if (!Cdb.inRange(task.lba, task.blocks, device.blockCount())) {
            dataPhase.respond(task, Sense.CHECK_CONDITION, Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.LBA_OUT_OF_RANGE), 0);
            return;
        }
        if (task.blocks == 0) { // nothing to do; but data for it means the CDB meant more (256 wraps to 0)
            dataPhase.respond(task, task.expectedLength == 0 ? Sense.GOOD : Sense.CHECK_CONDITION,
                    task.expectedLength == 0 ? null : Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 13, -1), 0);
            return;
        }
        if (task.buffer == null || Integer.toUnsignedLong(task.expectedLength) != task.cdbLength) {
            dataPhase.respond(task, Sense.CHECK_CONDITION, Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.INVALID_FIELD_IN_CDB), 0);
            return;
        }
        task.fua = (task.cdb[1] & 0x08) != 0;
        receiveData(task, req);
    }

    /**
     * ORWRITE (16), SBC-4 §5.10, with BMOP 0 (no generation processing): the blocks sent are ORed
     * into the blocks on the medium, as one read-modify-write in the LUN's atomic section, so that
     * two ORWRITEs (or an ORWRITE and a COMPARE AND WRITE) of the same blocks never lose a bit.
     */
    void orWriteCommand(Task task, ByteBuffer req) {
        BlockDevice device = session.lun.device();
        if ((task.cdb[1] & 0xE0) != 0) { // ORPROTECT: no protection information
            dataPhase.respond(task, Sense.CHECK_CONDITION, Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 1, 7), 0);
            return;
        }
        if (!Cdb.inRange(task.lba, task.blocks, device.blockCount())) {
            dataPhase.respond(task, Sense.CHECK_CONDITION, Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.LBA_OUT_OF_RANGE), 0);
            return;
        }
        if (task.cdbLength > ScsiLun.MAX_TRANSFER_BYTES) {
            dataPhase.respond(task, Sense.CHECK_CONDITION, Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 10, -1), 0);
            return;
        }
        if (task.blocks == 0) {
            dataPhase.respond(task, Sense.GOOD, null, 0);
            return;
        }
        if (Integer.toUnsignedLong(task.expectedLength) != task.cdbLength) {
            dataPhase.respond(task, Sense.CHECK_CONDITION, Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.INVALID_FIELD_IN_CDB), 0);
            return;
        }
        if (task.buffer == null) {
            dataPhase.respond(task, Sense.BUSY, null, 0);
            return;
        }
        task.fua = (task.cdb[1] & 0x08) != 0;
        receiveData(task, req);
    }

    /** On this reactor, holding the LUN's atomic section: read, then compare and write if equal, or OR and write. */
    void compareAndWrite(Task task) {
        task.awaitingFence = false;
        if (connection.isClosed() || task.aborted) {
            section().leave(task);
            tasks.remove(task.itt, task);
            task.release();
            return;
        }
        if (session.reservations.conflicts(session.nexus, task.cdb)) { // asked again: a PREEMPT may have come while it waited
            section().leave(task);
            dataPhase.respond(task, Sense.RESERVATION_CONFLICT, null, 0);
            return;
        }
        int bytes = task.blocks * session.lun.device().blockSize();
        if (task.takeCompare(buffers, bytes) == null) {
            section().leave(task);
            dataPhase.respond(task, Sense.BUSY, null, 0);
            return;
        }
        task.cawStage = 1;
        task.submitted = true;
        session.lun.device().read(task.compare, 0, task.lba, task.blocks, task, task);
    }

    /** A COMPARE AND WRITE step came back from the bdev. */
    private void compareAndWriteDone(Task task) {
        int bytes = task.blocks * session.lun.device().blockSize();
        if (task.cawStage == 1 && task.ioStatus == IoStatus.SUCCESS && task.opcode == ScsiLun.ORWRITE_16) {
            ByteBuffer medium = task.compare.bytes();
            ByteBuffer sent = task.buffer.bytes();
            for (int i = 0; i < bytes; i += Long.BYTES) { // whole blocks: a multiple of eight bytes
                medium.putLong(i, medium.getLong(i) | sent.getLong(i));
            }
            task.cawStage = 2;
            task.submitted = true; // at the bdev again: an abort or a closed connection must not free its buffers
            session.lun.device().write(task.compare, 0, task.lba, task.blocks, task, task);
            return;
        }
        if (task.cawStage == 1 && task.ioStatus == IoStatus.SUCCESS) {
            ByteBuffer expected = task.buffer.bytes().duplicate().limit(bytes).position(0);
            ByteBuffer medium = task.compare.bytes().duplicate().limit(bytes).position(0);
            int at = expected.mismatch(medium);
            if (at >= 0) {
                section().leave(task);
                byte[] sense = Sense.fixed(Sense.MISCOMPARE, Sense.MISCOMPARE_DURING_VERIFY);
                sense[0] |= (byte) 0x80; // VALID: INFORMATION holds the offset of the first difference
                sense[3] = (byte) (at >>> 24);
                sense[4] = (byte) (at >>> 16);
                sense[5] = (byte) (at >>> 8);
                sense[6] = (byte) at;
                dataPhase.respond(task, Sense.CHECK_CONDITION, sense, 0);
                return;
            }
            task.cawStage = 2;
            task.compare.bytes().put(0, task.buffer.bytes(), bytes, bytes); // the write half, block aligned
            task.submitted = true;
            session.lun.device().write(task.compare, 0, task.lba, task.blocks, task, task);
            return;
        }
        section().leave(task);
        if (task.ioStatus != IoStatus.SUCCESS) {
            dataPhase.respond(task, Sense.CHECK_CONDITION, failed(task.ioStatus, task.cawStage != 1), 0);
            return;
        }
        if (task.fua) {
            task.fua = false;
            task.cawStage = 3;
            task.submitted = true;
            flush(session.lun.device(), task);
            return;
        }
        dataPhase.respond(task, Sense.GOOD, null, task.received);
    }

    /**
     * The sense for a bdev I/O that failed. A path that is away (a nexus being taken over, a replica
     * timing out) is no medium error: ABORTED COMMAND is retried by the host (and failed over by
     * multipath), MEDIUM ERROR is not.
     */
    private static byte[] failed(IoStatus status, boolean written) {
        return switch (status) {
            case NO_SPACE -> Sense.fixed(Sense.DATA_PROTECT, Sense.SPACE_ALLOCATION_FAILED);
            case LBA_OUT_OF_RANGE -> Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.LBA_OUT_OF_RANGE);
            case UNAVAILABLE, TIMED_OUT, DEVICE_CLOSED, ABORTED -> Sense.fixed(Sense.ABORTED_COMMAND, Sense.NO_ADDITIONAL_SENSE);
            case MEDIA_ERROR -> Sense.fixed(Sense.MEDIUM_ERROR, written ? Sense.WRITE_ERROR : Sense.UNRECOVERED_READ_ERROR);
            // the target's own failure, not the medium's: a medium error tells the host (and its file system) the
            // sectors are bad, and is never retried or failed over
            default -> Sense.fixed(Sense.HARDWARE_ERROR, Sense.INTERNAL_TARGET_FAILURE);
        };
    }

    // ================================================================== completions

    /**
     * A flush that comes back to {@link #bdevDone}; on a device without one (nothing volatile to
     * write back) done at once, as the NVMe target does: sent, its UNSUPPORTED failed a SYNCHRONIZE
     * CACHE, and a FUA write whose data had landed.
     */
    static void flush(BlockDevice device, Task task) {
        if (device.supports(IoType.FLUSH)) {
            device.flush(task, task);
        } else {
            task.ioDone(IoStatus.SUCCESS, task);
        }
    }

    /** From the bdev, on this reactor. */
    void bdevDone(Task task) {
        boolean held = task.writeHeld;
        task.writeHeld = false; // a step completing inline inside this one leaves the count to this call
        try {
            bdevStep(task);
        } finally {
            if (held) {
                task.writeHeld = true;
                stepEnded(task);
            }
        }
    }

    private void bdevStep(Task task) {
        task.submitted = false; // the bdev is done with it (a next step submits it again)
        if (isAtomic(task.opcode) && task.cawStage == 3) {
            if (connection.isClosed() || task.aborted) {
                tasks.remove(task.itt, task);
                task.release();
            } else {
                dataPhase.respond(task, task.ioStatus == IoStatus.SUCCESS ? Sense.GOOD : Sense.CHECK_CONDITION,
                        task.ioStatus == IoStatus.SUCCESS ? null : failed(task.ioStatus, true), task.received);
            }
            return;
        }
        if (isAtomic(task.opcode) && (connection.isClosed() || task.aborted)) {
            section().leave(task); // stage 1 or 2 held the LUN
            tasks.remove(task.itt, task);
            task.release();
            return;
        }
        if (isAtomic(task.opcode)) {
            compareAndWriteDone(task);
            return;
        }
        if (connection.isClosed() || task.aborted) {
            tasks.remove(task.itt, task);
            task.release();
            return;
        }
        if (task.ioStatus != IoStatus.SUCCESS) {
            boolean written = task.dataOut && !task.comparing || task.opcode == ScsiLun.SYNCHRONIZE_CACHE_10
                    || task.opcode == ScsiLun.SYNCHRONIZE_CACHE_16;
            connection.logOnce("io" + task.ioStatus, "bdev I/O failed: " + task.ioStatus);
            dataPhase.respond(task, Sense.CHECK_CONDITION, failed(task.ioStatus, written), 0);
            return;
        }
        if (task.opcode == ScsiLun.UNMAP) {
            task.step++;
            nextUnmap(task);
            return;
        }
        if (task.opcode == ScsiLun.WRITE_SAME_10 || task.opcode == ScsiLun.WRITE_SAME_16) {
            task.lba += task.sameChunk;
            if (task.sameZeroes) {
                dataPhase.respond(task, Sense.GOOD, null, task.received);
            } else {
                nextWriteSame(task);
            }
            return;
        }
        if (task.comparing) {
            ByteBuffer sent = task.buffer.bytes().duplicate().limit(task.ioBytes).position(0);
            ByteBuffer medium = task.compare.bytes().duplicate().limit(task.ioBytes).position(0);
            if (sent.mismatch(medium) >= 0) {
                dataPhase.respond(task, Sense.CHECK_CONDITION, Sense.fixed(Sense.MISCOMPARE, Sense.MISCOMPARE_DURING_VERIFY), 0);
            } else {
                dataPhase.respond(task, Sense.GOOD, null, task.transfer);
            }
            return;
        }
        if (isMedia(task.opcode) && !task.dataOut) {
            ByteBuffer data = task.buffer.bytes(); // ours again: the bdev is done with it
            data.limit(task.ioBytes).position(0);
            dataPhase.dataIn(task, data, task.ioBytes, task.cdbLength);
            return;
        }
        if (task.fua) { // FUA: durable before the status; the flush comes back here
            task.fua = false;
            task.submitted = true;
            flush(session.lun.device(), task);
            return;
        }
        dataPhase.respond(task, Sense.GOOD, null, task.ioBytes);
    }
}
