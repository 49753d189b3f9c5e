package io.mayastorj.iscsi.internal.target;

import io.mayastorj.core.buffer.BufferPool;
import io.mayastorj.iscsi.internal.protocol.Bhs;
import io.mayastorj.iscsi.internal.scsi.Sense;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;

/**
 * The iSCSI side of a SCSI task, around its execution: the task made (or reused) when its Command
 * PDU's header arrives, so that immediate data lands straight in its buffer; Data-Out checked
 * against the R2T or the unsolicited allowance and reassembled in place; R2Ts of MaxBurstLength, one
 * outstanding; Data-In in PDUs of the initiator's MaxRecvDataSegmentLength, the status in the last;
 * the SCSI Response with its residuals; and the finished task back for reuse once its data has
 * gone out. What a command means is {@link ScsiCommands}'s and {@link MediaCommands}'s business:
 * this class moves bytes and tags, and tells them when a command's data is all in.
 */
final class DataPhase {

    private static final byte[] NO_DATA = new byte[0];

    private final IscsiConnection connection;
    private final Session session;
    private final SequenceNumbers sequence;
    private final PduSender sender;
    private final TaskTable tasks;
    private final BufferPool buffers;
    /** The connection's buffer for data segments that are no SCSI data; data no task can take is read into it and dropped. */
    private final ByteBuffer text;
    private final TaskTable byTtt = new TaskTable(IscsiConnection.WINDOW);
    /** Finished tasks kept for reuse (see retire). */
    private final ArrayDeque<Task> freeTasks = new ArrayDeque<>(IscsiConnection.WINDOW);
    private final ArrayDeque<Task> releaseAfterSend = new ArrayDeque<>();
    /** The task the data segment being read lands in, or null. */
    private Task dataTask;
    /** The task prepareCommand made for the SCSI Command whose immediate data is being read. */
    private Task prepared;
    /** A task aborted while the data segment being read goes into its buffer: the buffer is freed once the PDU is read. */
    private Task abortedWhileRead;

    DataPhase(IscsiConnection connection, Session session, SequenceNumbers sequence, PduSender sender, TaskTable tasks,
              BufferPool buffers, ByteBuffer text) {
        this.connection = connection;
        this.session = session;
        this.sequence = sequence;
        this.sender = sender;
        this.tasks = tasks;
        this.buffers = buffers;
        this.text = text;
    }

    // ================================================================== data in from the initiator

    /**
     * Where the data segment of the PDU whose BHS is {@code bhs} goes: SCSI data (a SCSI Command's
     * immediate data, a Data-Out) into the task's buffer at its offset; everything else, and data the
     * task cannot take (a task that failed, data past its transfer), into the text buffer — SCSI data
     * there is dropped after.
     */
    ByteBuffer dataTarget(ByteBuffer bhs, int dataLength, boolean scsiData) throws IscsiConnection.ProtocolError {
        dataTask = null;
        if (!scsiData) {
            return text.clear().limit(dataLength);
        }
        Task task;
        int offset;
        if (Bhs.opcode(bhs) == Bhs.SCSI_COMMAND) {
            task = prepareCommand(bhs);
            offset = 0;
        } else {
            task = tasks.get(bhs.getInt(Bhs.ITT));
            offset = bhs.getInt(Bhs.BUFFER_OFFSET);
            if (task != null && !checkDataOut(task, offset, bhs, dataLength)) {
                task = null;
            }
        }
        if (task == null || task.buffer == null || offset != task.received || offset + dataLength > task.transfer) {
            return text.clear().limit(dataLength); // read and dropped; checkDataOut ended anything worse
        }
        dataTask = task;
        ByteBuffer region = task.buffer.bytes().duplicate();
        region.limit(offset + dataLength).position(offset);
        return region;
    }

    /**
     * A SCSI Command's BHS is in {@code bhs}; before its immediate data is read: makes the task (with
     * a buffer for write data) so the data can land in place. Its CmdSN is checked when the PDU is whole.
     */
    private Task prepareCommand(ByteBuffer bhs) {
        if (tasks.containsKey(bhs.getInt(Bhs.ITT))) {
            return null; // a task in progress has this tag: ScsiCommands rejects the command, its data is dropped
        }
        Task task = newTask(bhs);
        tasks.put(task.itt, task);
        prepared = task;
        return task.buffer != null && task.write ? task : null;
    }

    /** A task for the SCSI Command in {@code req}: a finished one reused, or a new one; its transfer planned from the CDB. */
    Task newTask(ByteBuffer req) {
        Task t = freeTasks.pollFirst();
        if (t == null) {
            t = new Task(connection);
        } else {
            t.reset();
        }
        t.itt = req.getInt(Bhs.ITT);
        t.cmdSn = req.getInt(Bhs.CMD_SN);
        t.arrivedNanos = System.nanoTime();
        req.get(Bhs.CDB, t.cdb, 0, 16);
        t.opcode = t.cdb[0] & 0xFF;
        int flags = Bhs.flags(req);
        t.read = (flags & Bhs.READ) != 0;
        t.write = (flags & Bhs.WRITE) != 0;
        t.expectedLength = req.getInt(Bhs.EXPECTED_LENGTH);
        ScsiCommands.plan(t, session.lun, buffers);
        return t;
    }

    /** A write that has waited longer than {@code limitNanos} for data it holds a buffer for, or null. */
    Task starved(long now, long limitNanos) {
        for (Task t : tasks.tasks()) {
            // what moves is the CDB's to say (dataOut): a write sent without the W bit is asked for its data too
            if ((t.write || t.dataOut) && t.buffer != null && !t.submitted && !t.aborted && t.received < t.transfer
                    && now - t.arrivedNanos > limitNanos) {
                return t;
            }
        }
        return null;
    }

    /**
     * The task made before the immediate data of the SCSI Command now whole, or null; taken once. One
     * aborted while its PDU was read arrived after the abort: it is a command like any other.
     */
    Task takePrepared() {
        Task task = prepared;
        prepared = null;
        if (task != null && task == abortedWhileRead) {
            abortedWhileRead = null;
            task.aborted = false;
            tasks.put(task.itt, task);
        }
        return task;
    }

    /**
     * An abort of a task not at the bdev: true when the data segment being read lands in its buffer
     * (a PREEMPT AND ABORT runs between two reads of one PDU). The buffer is then freed once the PDU
     * is read: freed now, the rest of the segment would go into a buffer another command holds by then.
     */
    boolean holdUntilRead(Task task) {
        if (task != dataTask && task != prepared) {
            return false;
        }
        abortedWhileRead = task;
        return true;
    }

    /** The PDU has been read and handled: no data goes into a task's buffer before the next {@link #dataTarget}. */
    void pduDone() {
        dataTask = null;
        prepared = null;
        Task aborted = abortedWhileRead;
        if (aborted != null) {
            abortedWhileRead = null;
            aborted.release();
        }
    }

    /** The SCSI Command is admitted: the immediate data that landed in its buffer counts as received. */
    void immediateData(Task task, int dataLength) {
        if (dataTask == task) {
            task.received = dataLength;
        }
    }

    /**
     * The command's data-out phase: what may still come unsolicited (InitialR2T=No, up to
     * FirstBurstLength, unless the command PDU said F), then R2Ts for the rest. True when every byte
     * is in already: the caller runs the command.
     */
    boolean expectData(Task task, ByteBuffer req) {
        boolean finalPdu = (Bhs.flags(req) & Bhs.FINAL) != 0;
        task.unsolicitedLeft = session.params.initialR2T() || finalPdu ? 0
                : Math.max(0, Math.min(session.params.firstBurst(), task.transfer) - task.received);
        return continueData(task);
    }

    /**
     * The data phase of a command whose data is a parameter list (UNMAP, MODE SELECT): no list (a
     * list length or EDTL of 0) is GOOD at once, a list that got no buffer is PARAMETER LIST LENGTH
     * ERROR; otherwise as {@link #expectData}.
     */
    boolean expectParameterList(Task task, ByteBuffer req, int listLength) {
        if (listLength == 0 || task.expectedLength == 0) {
            respond(task, Sense.GOOD, null, 0);
            return false;
        }
        if (task.buffer == null) {
            respond(task, Sense.CHECK_CONDITION, Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.PARAMETER_LIST_LENGTH_ERROR), 0);
            return false;
        }
        return expectData(task, req);
    }

    /** True once every byte is in; otherwise issues the next R2T, unless data is on its way. */
    private boolean continueData(Task task) {
        if (task.received >= task.transfer) {
            return true;
        }
        if (task.unsolicitedLeft > 0 || task.ttt != -1) {
            return false; // unsolicited data, or the answer to an R2T, is on its way
        }
        task.ttt = sequence.nextTtt();
        task.r2tOffset = task.received;
        task.r2tLength = Math.min(task.transfer - task.received, session.params.maxBurst());
        task.nextDataSn = 0;
        byTtt.put(task.ttt, task);
        ByteBuffer r2t = sender.newHeader(Bhs.R2T, 0);
        r2t.put(1, (byte) Bhs.FINAL);
        r2t.putInt(Bhs.ITT, task.itt);
        r2t.putInt(Bhs.TTT, task.ttt);
        sequence.numbers(r2t, false);
        r2t.putInt(Bhs.DATA_SN, task.r2tsn++);
        r2t.putInt(Bhs.BUFFER_OFFSET, task.r2tOffset);
        r2t.putInt(Bhs.DESIRED_LENGTH, task.r2tLength);
        sender.send(r2t, null);
        sender.postFlush();
        return false;
    }

    /** Checks a Data-Out against its task before its data is read; false drops the data. */
    private boolean checkDataOut(Task task, int offset, ByteBuffer bhs, int dataLength) throws IscsiConnection.ProtocolError {
        int ttt = bhs.getInt(Bhs.TTT);
        int dataSn = bhs.getInt(Bhs.DATA_SN);
        if (!task.aborted && task.ttt == -1 && task.unsolicitedLeft == 0) {
            // no R2T outstanding and no unsolicited data allowed: a READ, or a write whose data is all in
            // (at the bdev already); taking it would send an R2T for a READ's buffer or submit a write twice
            throw new IscsiConnection.ProtocolError("a Data-Out for task " + Integer.toHexString(task.itt)
                    + ", which expects no data");
        }
        if (ttt == Bhs.RESERVED_TAG) {
            if (task.unsolicitedLeft < dataLength) {
                throw new IscsiConnection.ProtocolError("unsolicited data beyond FirstBurstLength for task "
                        + Integer.toHexString(task.itt));
            }
        } else if (ttt != task.ttt || offset < task.r2tOffset || offset + dataLength > task.r2tOffset + task.r2tLength) {
            throw new IscsiConnection.ProtocolError("Data-Out for tag " + Integer.toHexString(ttt) + " at offset " + offset
                    + " does not match the R2T of task " + Integer.toHexString(task.itt));
        }
        if (dataSn != task.nextDataSn) {
            // the data is out of order: the task fails (CHECK CONDITION), the connection goes on
            connection.logOnce("datasn", "Data-Out DataSN " + Integer.toUnsignedString(dataSn) + " where " + task.nextDataSn
                    + " was due (task " + Integer.toHexString(task.itt) + "): the command fails");
            task.dataError = true;
            return false;
        }
        return !task.aborted && !task.dataError;
    }

    /** A Data-Out PDU is whole: counts its data, ends its R2T; returns its task when all its data is in (the caller runs it). */
    Task dataOut(ByteBuffer req, int dataLength) {
        Task task = tasks.get(req.getInt(Bhs.ITT));
        if (task == null) {
            if (dataTask != null && dataTask == abortedWhileRead) {
                return null; // aborted while this PDU came in; pduDone frees its buffer
            }
            connection.logOnce("dataout", "Data-Out for unknown task " + Integer.toHexString(req.getInt(Bhs.ITT)) + ": dropped");
            return null;
        }
        if (dataTask == task) {
            task.received += dataLength;
        }
        task.nextDataSn++;
        boolean last = (Bhs.flags(req) & Bhs.FINAL) != 0;
        if (req.getInt(Bhs.TTT) == Bhs.RESERVED_TAG) {
            task.unsolicitedLeft = last ? 0 : task.unsolicitedLeft - dataLength;
            if (last) {
                task.nextDataSn = 0;
            }
        } else if (last || task.received >= task.r2tOffset + task.r2tLength) {
            byTtt.remove(task.ttt);
            task.ttt = -1;
        }
        if (task.aborted) {
            return null;
        }
        if (task.dataError) {
            byTtt.remove(task.ttt);
            task.ttt = -1;
            respond(task, Sense.CHECK_CONDITION, Sense.fixed(Sense.ABORTED_COMMAND, Sense.DATA_PHASE_ERROR), 0);
            return null;
        }
        return continueData(task) ? task : null;
    }

    // ================================================================== data and status to the initiator

    /** Data-In PDUs of at most the initiator's MaxRecvDataSegmentLength; the last carries the status. */
    void dataIn(Task task, ByteBuffer data, int length, long wanted) {
        int edtl = task.expectedLength;
        int send = (int) Math.min(Integer.toUnsignedLong(edtl), length);
        int segment = session.params.initiatorMaxRecvDataSegment();
        int burst = session.params.maxBurst();
        int dataSn = 0;
        int offset = 0;
        int inBurst = 0;
        if (send == 0) {
            respond(task, Sense.GOOD, null, 0, wanted);
            return;
        }
        while (offset < send) {
            int n = Math.min(Math.min(segment, send - offset), burst - inBurst);
            boolean last = offset + n == send;
            boolean endOfBurst = last || inBurst + n == burst;
            ByteBuffer pdu = sender.newHeader(Bhs.DATA_IN, n);
            int flags = endOfBurst ? Bhs.FINAL : 0;
            if (last) {
                flags |= Bhs.STATUS | residualFlags(task, send, wanted);
                pdu.putInt(Bhs.STAT_SN, sequence.nextStatSn());
                pdu.putInt(Bhs.RESIDUAL, residual(task, send, wanted));
            }
            pdu.put(1, (byte) flags);
            pdu.putInt(Bhs.ITT, task.itt);
            pdu.putInt(Bhs.TTT, Bhs.RESERVED_TAG);
            sequence.window(pdu);
            pdu.putInt(Bhs.DATA_SN, dataSn++);
            pdu.putInt(Bhs.BUFFER_OFFSET, offset);
            ByteBuffer slice;
            if (n == send) {
                slice = data.limit(data.position() + n); // the one PDU: the data itself, no view
            } else {
                slice = data.duplicate();
                slice.limit(data.position() + offset + n).position(data.position() + offset);
            }
            sender.send(pdu, slice);
            offset += n;
            inBurst = endOfBurst ? 0 : inBurst + n;
        }
        finish(task);
    }

    /** O or U: the initiator expected more (U) or less (O) than the command moves. */
    private static int residualFlags(Task task, long moved, long wanted) {
        long edtl = Integer.toUnsignedLong(task.expectedLength);
        if (wanted > edtl) {
            return Bhs.RESIDUAL_OVERFLOW;
        }
        return moved < edtl ? Bhs.RESIDUAL_UNDERFLOW : 0;
    }

    private static int residual(Task task, long moved, long wanted) {
        long edtl = Integer.toUnsignedLong(task.expectedLength);
        return (int) (wanted > edtl ? wanted - edtl : edtl - moved);
    }

    void respond(Task task, int status, byte[] sense, long moved) {
        respond(task, status, sense, moved, MediaCommands.isMedia(task.opcode) ? task.cdbLength : moved);
    }

    /** A SCSI Response: status, sense when there is one, residuals against what the CDB wanted. */
    void respond(Task task, int status, byte[] sense, long moved, long wanted) {
        byte[] data = sense == null ? NO_DATA : new byte[2 + sense.length];
        if (sense != null) {
            data[0] = (byte) (sense.length >>> 8);
            data[1] = (byte) sense.length;
            System.arraycopy(sense, 0, data, 2, sense.length);
        }
        ByteBuffer rsp = sender.newHeader(Bhs.SCSI_RESPONSE, data.length);
        int flags = Bhs.FINAL;
        if (status == Sense.GOOD && (task.read || task.write)) {
            flags |= residualFlags(task, moved, wanted);
            if ((flags & (Bhs.RESIDUAL_OVERFLOW | Bhs.RESIDUAL_UNDERFLOW)) != 0) {
                rsp.putInt(Bhs.RESIDUAL, residual(task, moved, wanted));
            }
        }
        rsp.put(1, (byte) flags);
        rsp.put(2, (byte) 0); // command completed at target
        rsp.put(3, (byte) status);
        rsp.putInt(Bhs.ITT, task.itt);
        sequence.numbers(rsp, true);
        sender.send(rsp, data.length == 0 ? null : ByteBuffer.wrap(data));
        finish(task);
    }

    // ================================================================== the end of a task

    private void finish(Task task) {
        tasks.remove(task.itt, task);
        forgetR2t(task);
        if (task.buffer != null || task.compare != null) {
            task.sentMark = sender.queuedMark();
            releaseAfterSend.add(task); // its data may still be in the send queue
        } else {
            retire(task);
        }
        sender.postFlush();
    }

    /** The task's outstanding R2T, if any, is no longer answered (the task finished or was aborted). */
    void forgetR2t(Task task) {
        if (task.ttt != -1) {
            byTtt.remove(task.ttt);
        }
    }

    /**
     * A finished task whose buffers are back is kept for the next command. Only on the plain path:
     * a task that was aborted, or that the bdev still has, is left to the garbage collector, and no
     * field of the connection may still point at a task that is reused.
     */
    private void retire(Task task) {
        if (task.aborted || task.submitted || freeTasks.size() >= IscsiConnection.WINDOW || tasks.get(task.itt) == task) {
            return;
        }
        if (dataTask == task) {
            dataTask = null;
        }
        if (prepared == task) {
            prepared = null;
        }
        freeTasks.addFirst(task);
    }

    /** The socket has taken {@code written} bytes: the tasks whose PDUs were all queued before that give their buffers back. */
    void sentUpTo(long written) {
        Task t;
        while ((t = releaseAfterSend.peek()) != null && t.sentMark <= written) {
            releaseAfterSend.poll();
            t.release();
            retire(t);
        }
    }

    /** The send queue has drained: the tasks whose data it carried give their buffers back and are kept for reuse. */
    void allSent() {
        Task t;
        while ((t = releaseAfterSend.poll()) != null) {
            t.release();
            retire(t);
        }
    }

    /** The connection closed: the buffers of tasks whose data was queued go back; none is kept. */
    void releaseUnsent() {
        pduDone(); // a PDU read in part
        Task t;
        while ((t = releaseAfterSend.poll()) != null) {
            t.release();
        }
    }
}
