package io.mayastorj.iscsi.internal.target;

import static io.mayastorj.iscsi.internal.target.MediaCommands.bytchk;
import static io.mayastorj.iscsi.internal.target.MediaCommands.isMedia;
import static io.mayastorj.iscsi.internal.target.MediaCommands.isVerify;
import static io.mayastorj.iscsi.internal.target.MediaCommands.isWrite;
import static io.mayastorj.iscsi.internal.target.MediaCommands.isWriteVerify;

import io.mayastorj.core.buffer.BufferPool;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.iscsi.internal.protocol.Bhs;
import io.mayastorj.iscsi.internal.scsi.Cdb;
import io.mayastorj.iscsi.internal.scsi.CopyParameters;
import io.mayastorj.iscsi.internal.scsi.OperationCodes;
import io.mayastorj.iscsi.internal.scsi.ScsiLun;
import io.mayastorj.iscsi.internal.scsi.Sense;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * A session's SCSI commands, from the whole SCSI Command PDU to where each one goes: the CmdSN
 * check, then the gates every command passes (LUN 0, reservation conflict, a pending unit
 * attention, a command {@link OperationCodes} knows); commands that move data on the medium go to
 * {@link MediaCommands}, EXTENDED COPY to {@link ExtendedCopy}; the rest are answered here from the
 * LUN's state ({@link ScsiLun}, {@link io.mayastorj.iscsi.internal.scsi.Reservations}): INQUIRY, READ
 * CAPACITY, MODE SENSE/SELECT, REPORT LUNS, REPORT SUPPORTED OPERATION CODES, REQUEST SENSE,
 * RESERVE/RELEASE, PERSISTENT RESERVE IN/OUT, RECEIVE COPY RESULTS, PRE-FETCH, READ DEFECT DATA,
 * TEST UNIT READY, SYNCHRONIZE CACHE. Also {@link #plan}: what a command moves, read
 * from its CDB before its data arrives. In the target package rather than beside ScsiLun because it
 * works on the connection's {@link Task}s, which are private to this package.
 */
final class ScsiCommands {

    private static final Logger LOG = System.getLogger("mayastor.iscsi");

    private final IscsiConnection connection;
    private final IscsiTarget target;
    private final Session session;
    private final SequenceNumbers sequence;
    private final DataPhase dataPhase;
    private final MediaCommands media;
    private final TaskTable tasks;
    private final BufferPool buffers;
    /** This I_T nexus's unit attentions and known capacity; another session of it may have left them. */
    private UnitAttentions attentions = new UnitAttentions();

    ScsiCommands(IscsiConnection connection, IscsiTarget target, Session session, SequenceNumbers sequence,
                 DataPhase dataPhase, MediaCommands media, TaskTable tasks, BufferPool buffers) {
        this.connection = connection;
        this.target = target;
        this.buffers = buffers;
        this.session = session;
        this.sequence = sequence;
        this.dataPhase = dataPhase;
        this.media = media;
        this.tasks = tasks;
    }

    /** On this connection's reactor: a unit attention for its next command. */
    void unitAttention(int ascq) {
        attentions.add(ascq);
    }

    /** On this connection's reactor, at its login: what an earlier session of its I_T nexus left untold. */
    void takeOver(UnitAttentions left) {
        attentions.takeOver(left);
    }

    /** On this connection's reactor, at its close: what it has not told yet, which this connection touches no more. */
    UnitAttentions leave() {
        UnitAttentions left = attentions;
        attentions = new UnitAttentions();
        return left;
    }

    /**
     * What the command in {@code t} (its CDB and EDTL filled in) moves: its LBA and blocks, the bytes
     * on the wire and on the medium, whether data comes from the initiator, and a buffer from the
     * pool for that data (none when the pool is out of buffers or the request is out of bounds: the
     * command's checks answer that). Before any of its data is read, so that the data lands in place.
     */
    static void plan(Task t, ScsiLun lun, BufferPool buffers) {
        if (lun != null && t.opcode == ScsiLun.COMPARE_AND_WRITE) {
            t.dataOut = true;
            t.lba = Cdb.lba(t.cdb);
            t.blocks = t.cdb[13] & 0xFF;
            t.cdbLength = 2L * t.blocks * lun.device().blockSize(); // verify data, then write data
            long edtl = Integer.toUnsignedLong(t.expectedLength);
            if (edtl > 0 && edtl <= ScsiLun.MAX_TRANSFER_BYTES) {
                t.transfer = (int) edtl;
                t.buffer = budgeted(t, buffers, Math.max(t.transfer, lun.device().blockSize()));
            }
            return;
        }
        if (lun != null && t.opcode == ScsiLun.ORWRITE_16) {
            t.dataOut = true;
            t.lba = Cdb.lba(t.cdb);
            t.blocks = (int) Math.min(Cdb.transferLength(t.cdb), Integer.MAX_VALUE);
            t.cdbLength = Cdb.transferLength(t.cdb) * lun.device().blockSize();
            long edtl = Integer.toUnsignedLong(t.expectedLength);
            if (edtl > 0 && edtl <= ScsiLun.MAX_TRANSFER_BYTES && t.cdbLength <= ScsiLun.MAX_TRANSFER_BYTES) {
                t.transfer = (int) edtl;
                t.buffer = budgeted(t, buffers, (int) Math.max(edtl, lun.device().blockSize()));
            }
            return;
        }
        if (lun != null && (t.opcode == ScsiLun.WRITE_SAME_10 || t.opcode == ScsiLun.WRITE_SAME_16)) {
            t.dataOut = true;
            t.lba = Cdb.lba(t.cdb);
            t.blocks = (int) Math.min(Cdb.transferLength(t.cdb), Integer.MAX_VALUE);
            t.cdbLength = lun.device().blockSize(); // one block of data, whatever the range
            long edtl = Integer.toUnsignedLong(t.expectedLength);
            if (edtl > 0 && edtl <= 64 * 1024) {
                t.transfer = (int) edtl;
                t.buffer = budgeted(t, buffers, Math.max(t.transfer, lun.device().blockSize()));
            }
            return;
        }
        if (lun != null && (t.opcode == ScsiLun.MODE_SELECT_6 || t.opcode == ScsiLun.MODE_SELECT_10
                || t.opcode == ScsiLun.PERSISTENT_RESERVE_OUT || t.opcode == ScsiLun.UNMAP
                || t.opcode == ScsiLun.EXTENDED_COPY)) { // a parameter list
            t.dataOut = true;
            long edtl = Integer.toUnsignedLong(t.expectedLength);
            if (edtl > 0 && edtl <= 64 * 1024) {
                t.transfer = (int) edtl;
                t.buffer = budgeted(t, buffers, Math.max(t.transfer, 512));
            }
            return;
        }
        if (lun != null && isMedia(t.opcode)) {
            t.lba = Cdb.lba(t.cdb);
            long blocks = Cdb.transferLength(t.cdb);
            if (t.opcode == ScsiLun.READ_6 || t.opcode == ScsiLun.WRITE_6) {
                blocks = (t.cdb[4] & 0xFF) == 0 ? 256 : t.cdb[4] & 0xFF;
            }
            t.cdbLength = blocks * lun.device().blockSize();
            t.blocks = (int) Math.min(blocks, Integer.MAX_VALUE);
            t.dataOut = isWrite(t.opcode) || isWriteVerify(t.opcode) || isVerify(t.opcode) && bytchk(t) == 1;
            if (isVerify(t.opcode) && bytchk(t) != 1) {
                return; // no data moves
            }
            boolean writeOp = t.dataOut;
            long edtl = Integer.toUnsignedLong(t.expectedLength);
            // a write moves the whole blocks the initiator sent; a read reads every block the CDB asks
            // for and sends as much of it as the initiator expects
            long io = writeOp ? Math.min(t.cdbLength, edtl) / lun.device().blockSize() * lun.device().blockSize()
                    : t.cdbLength;
            long wire = writeOp ? edtl : Math.min(t.cdbLength, edtl);
            if (wire <= ScsiLun.MAX_TRANSFER_BYTES && t.cdbLength <= ScsiLun.MAX_TRANSFER_BYTES && wire > 0
                    && Cdb.inRange(t.lba, blocks, lun.device().blockCount())) {
                t.transfer = (int) wire;
                t.ioBytes = (int) io;
                t.buffer = budgeted(t, buffers, (int) Math.max(Math.max(wire, io), lun.device().blockSize()));
            }
        }
    }

    /**
     * A buffer of {@code bytes} for the task's data, counted against its connection's budget; null
     * when the pool has none free or the connection holds its budget already (answered BUSY).
     */
    private static DmaBuffer budgeted(Task t, BufferPool buffers, int bytes) {
        if (!t.connection.mayHold(Task.sizeClass(bytes))) {
            return null;
        }
        DmaBuffer b = buffers.allocate(bytes);
        if (b != null) {
            t.held = b.capacity();
            t.connection.hold(t.held);
        }
        return b;
    }

    /** A SCSI Command PDU is whole (its immediate data, if any, in the task's buffer): admits and runs it. */
    void command(ByteBuffer req, int dataLength) {
        Task task = dataPhase.takePrepared();
        if (task == null) {
            if (tasks.containsKey(req.getInt(Bhs.ITT))) { // RFC 7143 §11.17.1: reason 0x07, Task in progress
                if (sequence.acceptCmdSn(req)) {
                    connection.logOnce("itt", "a command reuses the tag of a task in progress: rejected");
                    connection.reject(0x07, req);
                }
                return;
            }
            task = dataPhase.newTask(req);
            tasks.put(task.itt, task);
        }
        boolean beyond = Bhs.immediate(req) && tasks.size() > IscsiConnection.WINDOW; // immediate: no CmdSN, no window
        if (beyond || !sequence.acceptCmdSn(req)) {
            if (beyond) {
                connection.logOnce("immediate", "dropped an immediate command beyond " + IscsiConnection.WINDOW
                        + " in progress");
            }
            tasks.remove(task.itt);
            task.release();
            return;
        }
        if (dataLength > 0 && (!session.params.immediateData() || dataLength > session.params.firstBurst())) {
            // RFC 7143 §13.11, §13.14: immediate data the session did not agree to is a broken initiator's;
            // the command is not run on it (LIO rejects it as a protocol error too)
            connection.logOnce("immediate-data", "a command with " + dataLength + " bytes of immediate data where "
                    + (session.params.immediateData() ? "FirstBurstLength is " + session.params.firstBurst()
                            : "ImmediateData=No") + ": rejected");
            connection.reject(0x04, req);
            tasks.remove(task.itt);
            task.release();
            return;
        }
        dataPhase.immediateData(task, dataLength);
        if (session.lun == null) {
            dataPhase.respond(task, Sense.CHECK_CONDITION, Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.LOGICAL_UNIT_NOT_SUPPORTED), 0);
            return;
        }
        if (Bhs.lun(req) != 0 && task.opcode != ScsiLun.REPORT_LUNS) { // any LUN may be asked which LUNs there are
            if (task.opcode == ScsiLun.INQUIRY && task.cdb[1] == 0 && task.cdb[2] == 0) {
                // SPC-4 §6.6.2: a LUN with no logical unit answers a standard INQUIRY, saying so (peripheral qualifier
                // 011b, type 1Fh); a host that scans LUN by LUN reads "none here", not an error
                byte[] data = truncate(session.lun.standardInquiry(), Cdb.u16(task.cdb, 3));
                if (data.length > 0) {
                    data[0] = 0x7F;
                }
                dataPhase.dataIn(task, ByteBuffer.wrap(data), data.length, data.length);
            } else if (task.opcode == ScsiLun.REQUEST_SENSE) {
                // SPC-4 §6.39: GOOD, the sense data saying there is no logical unit there as its parameter data
                byte[] data = truncate(Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.LOGICAL_UNIT_NOT_SUPPORTED), Cdb.u8(task.cdb, 4));
                dataPhase.dataIn(task, ByteBuffer.wrap(data), data.length, data.length);
            } else {
                dataPhase.respond(task, Sense.CHECK_CONDITION, Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.LOGICAL_UNIT_NOT_SUPPORTED), 0);
            }
            return;
        }
        if (session.reservations.conflicts(session.nexus, task.cdb)) {
            dataPhase.respond(task, Sense.RESERVATION_CONFLICT, null, 0);
            return;
        }
        long blocks = session.lun.device().blockCount();
        if (blocks != attentions.knownBlocks) { // the volume grew: the initiator reads its capacity again (SBC-4 §4.10)
            if (attentions.knownBlocks >= 0) {
                attentions.add(Sense.CAPACITY_DATA_HAS_CHANGED);
            }
            attentions.knownBlocks = blocks;
        }
        if (!attentions.isEmpty() && task.opcode != ScsiLun.INQUIRY && task.opcode != ScsiLun.REPORT_LUNS) {
            byte[] ua = Sense.fixed(Sense.UNIT_ATTENTION, attentions.take());
            if (task.opcode == ScsiLun.REQUEST_SENSE) { // reports the attention and clears it
                dataPhase.dataIn(task, ByteBuffer.wrap(truncate(ua, Cdb.u8(task.cdb, 4))), Math.min(ua.length, Cdb.u8(task.cdb, 4)),
                        Math.min(ua.length, Cdb.u8(task.cdb, 4)));
            } else {
                dataPhase.respond(task, Sense.CHECK_CONDITION, ua, 0);
            }
            return;
        }
        if (OperationCodes.find(task.cdb, session.lun) == null) {
            // initiators probe for optional commands: worth a debug line, not a warning
            LOG.log(Level.DEBUG, "{0}: SCSI opcode 0x{1} is not supported", connection.peer(), Integer.toHexString(task.opcode));
            dataPhase.respond(task, Sense.CHECK_CONDITION, OperationCodes.refusal(task.cdb, session.lun), 0);
            return;
        }
        if (task.transfer > 0 && task.buffer == null) {
            // a buffer was planned and none given (the pool is dry, or the connection holds its budget):
            // a transient state, BUSY, which initiators retry (a CHECK CONDITION would fail the I/O)
            dataPhase.respond(task, Sense.BUSY, null, 0);
            return;
        }
        if (isMedia(task.opcode)) {
            media.media(task, req);
            return;
        }
        if (task.opcode == ScsiLun.ORWRITE_16) {
            media.orWriteCommand(task, req);
            return;
        }
        if (task.opcode == ScsiLun.UNMAP) {
            media.unmap(task, req);
            return;
        }
        if (task.opcode == ScsiLun.WRITE_SAME_10 || task.opcode == ScsiLun.WRITE_SAME_16) {
            media.writeSame(task, req);
            return;
        }
        if (task.opcode == ScsiLun.COMPARE_AND_WRITE) {
            media.compareAndWriteCommand(task, req);
            return;
        }
        if (task.opcode == ScsiLun.PERSISTENT_RESERVE_OUT) {
            if (task.buffer == null || Cdb.u32(task.cdb, 5) == 0) { // no parameter list to wait for
                persistentReserveOut(task);
            } else {
                receiveData(task, req);
            }
            return;
        }
        if (task.opcode == ScsiLun.EXTENDED_COPY) {
            if (dataPhase.expectParameterList(task, req, (int) Math.min(Cdb.u32(task.cdb, 10), Integer.MAX_VALUE))) {
                dataReceived(task);
            }
            return;
        }
        if (task.opcode == ScsiLun.MODE_SELECT_6 || task.opcode == ScsiLun.MODE_SELECT_10) {
            if ((task.cdb[1] & 0x01) != 0) { // SP: nothing is saved
                dataPhase.respond(task, Sense.CHECK_CONDITION, Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 1, 0), 0);
                return;
            }
            int listLength = task.opcode == ScsiLun.MODE_SELECT_6 ? Cdb.u8(task.cdb, 4) : Cdb.u16(task.cdb, 7);
            if (dataPhase.expectParameterList(task, req, listLength)) {
                dataReceived(task);
            }
            return;
        }
        ScsiLun lun = session.lun;
        try {
            byte[] data = switch (task.opcode) {
                case ScsiLun.TEST_UNIT_READY, ScsiLun.START_STOP_UNIT -> null;
                case ScsiLun.RESERVE_6, ScsiLun.RESERVE_10 -> {
                    if (task.opcode == ScsiLun.RESERVE_6 ? (task.cdb[1] & 0x1F) != 0 : (task.cdb[1] & 0x13) != 0) {
                        throw new ScsiLun.Check(Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 1, -1)); // third party, extents
                    }
                    if (!session.reservations.reserve(session.nexus)) {
                        dataPhase.respond(task, Sense.RESERVATION_CONFLICT, null, 0);
                        yield new byte[0];
                    }
                    yield null;
                }
                case ScsiLun.RELEASE_6, ScsiLun.RELEASE_10 -> {
                    if (!session.reservations.release(session.nexus)) { // a non-holder's release changes nothing, and is GOOD
                        dataPhase.respond(task, Sense.RESERVATION_CONFLICT, null, 0);
                        yield new byte[0];
                    }
                    yield null;
                }
                case ScsiLun.PERSISTENT_RESERVE_IN -> truncate(session.reservations.in(task.cdb), Cdb.u16(task.cdb, 7));
                case ScsiLun.INQUIRY -> truncate(lun.inquiry(task.cdb), Cdb.u16(task.cdb, 3));
                case ScsiLun.READ_CAPACITY_10 -> lun.readCapacity10(task.cdb);
                case ScsiLun.SERVICE_ACTION_IN_16 -> switch (task.cdb[1] & 0x1F) {
                    case ScsiLun.READ_CAPACITY_16 -> truncate(lun.readCapacity16(), Cdb.u32(task.cdb, 10));
                    case ScsiLun.GET_LBA_STATUS -> truncate(lun.getLbaStatus(task.cdb), Cdb.u32(task.cdb, 10));
                    default -> throw new IllegalStateException("in the table, not dispatched: " + task.cdb[1]);
                };
                case ScsiLun.RECEIVE_COPY_RESULTS -> truncate(switch (task.cdb[1] & 0x1F) {
                    case 0x00 -> {
                        ExtendedCopy.Status copy = session.copies.get(Cdb.u8(task.cdb, 2));
                        if (copy == null) {
                            throw new ScsiLun.Check(Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 2, -1)); // no such list id
                        }
                        yield copy.report();
                    }
                    case 0x03 -> CopyParameters.operatingParameters(lun.device().blockSize());
                    default -> throw new IllegalStateException("in the table, not dispatched: " + task.cdb[1]);
                }, Cdb.u32(task.cdb, 10));
                case ScsiLun.MAINTENANCE_IN -> truncate(OperationCodes.report(task.cdb, lun), Cdb.u32(task.cdb, 6));
                case ScsiLun.PRE_FETCH_10, ScsiLun.PRE_FETCH_16 -> {
                    lun.preFetch(task.cdb);
                    yield null;
                }
                case ScsiLun.READ_DEFECT_DATA_10 -> truncate(lun.readDefectData(task.cdb), Cdb.u16(task.cdb, 7));
                case ScsiLun.READ_DEFECT_DATA_12 -> truncate(lun.readDefectData(task.cdb), Cdb.u32(task.cdb, 6));
                case ScsiLun.MODE_SENSE_6 -> truncate(lun.modeSense(task.cdb), Cdb.u8(task.cdb, 4));
                case ScsiLun.MODE_SENSE_10 -> truncate(lun.modeSense(task.cdb), Cdb.u16(task.cdb, 7));
                case ScsiLun.REPORT_LUNS -> truncate(lun.reportLuns(task.cdb), Cdb.u32(task.cdb, 6));
                case ScsiLun.REQUEST_SENSE -> truncate(lun.requestSense(task.cdb), Cdb.u8(task.cdb, 4));
                case ScsiLun.SYNCHRONIZE_CACHE_10, ScsiLun.SYNCHRONIZE_CACHE_16 -> {
                    lun.checkSyncCacheRange(task.cdb);
                    task.submitted = true;
                    MediaCommands.flush(lun.device(), task); // comes back in MediaCommands.bdevDone
                    yield new byte[0];
                }
                default -> throw new IllegalStateException("in the table, not dispatched: opcode 0x" + Integer.toHexString(task.opcode));
            };
            if (data == null) {
                dataPhase.respond(task, Sense.GOOD, null, 0);
            } else if (task.opcode != ScsiLun.SYNCHRONIZE_CACHE_10 && task.opcode != ScsiLun.SYNCHRONIZE_CACHE_16
                    && task.opcode != ScsiLun.RESERVE_6 && task.opcode != ScsiLun.RESERVE_10
                    && task.opcode != ScsiLun.RELEASE_6 && task.opcode != ScsiLun.RELEASE_10) {
                dataPhase.dataIn(task, ByteBuffer.wrap(data), data.length, data.length);
            }
        } catch (ScsiLun.Check c) {
            dataPhase.respond(task, Sense.CHECK_CONDITION, c.sense(), 0);
        }
    }

    /** The data phase, and the command on once every byte of it is in. */
    private void receiveData(Task task, ByteBuffer req) {
        if (dataPhase.expectData(task, req)) {
            dataReceived(task);
        }
    }

    /**
     * Every byte of the command's data is in: the command runs (medium I/O in {@link MediaCommands}).
     * The reservations are asked again: the sender may have been preempted (fenced) while its data
     * was on its way, and then nothing of it may reach the medium.
     */
    void dataReceived(Task task) {
        if (session.reservations.conflicts(session.nexus, task.cdb)) {
            dataPhase.respond(task, Sense.RESERVATION_CONFLICT, null, 0);
            return;
        }
        if (task.opcode == ScsiLun.EXTENDED_COPY) {
            new ExtendedCopy(target, connection, session, dataPhase, tasks, buffers, task).start();
            return;
        }
        if (task.opcode == ScsiLun.PERSISTENT_RESERVE_OUT) {
            persistentReserveOut(task);
            return;
        }
        if (task.opcode == ScsiLun.MODE_SELECT_6 || task.opcode == ScsiLun.MODE_SELECT_10) {
            modeSelect(task);
            return;
        }
        media.dataReceived(task);
    }

    /** PERSISTENT RESERVE OUT with its parameter list in (or none sent, which it reports as a length error). */
    private void persistentReserveOut(Task task) {
        int length = task.buffer == null ? 0 : Math.min(task.received, (int) Math.min(Cdb.u32(task.cdb, 5), Integer.MAX_VALUE));
        ByteBuffer list = task.buffer == null ? ByteBuffer.allocate(0)
                : task.buffer.bytes().duplicate().order(java.nio.ByteOrder.BIG_ENDIAN);
        try {
            List<String> aborted = new ArrayList<>();
            int status = session.reservations.out(session.nexus, task.cdb, list, length, aborted);
            if (aborted.isEmpty()) {
                dataPhase.respond(task, status, null, task.received);
                return;
            }
            // PREEMPT AND ABORT: GOOD once the preempted hosts' tasks can no longer write (fence_scsi relies on it).
            // Meanwhile an ABORT TASK of it waits for the end, which then drops it instead of answering an ITT
            // the initiator may have given to another command. It is not at the bdev: a close releases it, and
            // the connection's writes at the bdev (what a reinstating login waits for) do not count it
            task.awaitingFence = true;
            target.abortTasksOf(session.lunTarget.device(), aborted).whenComplete((done, failed) -> connection.reactor()
                    .execute(() -> {
                        if (!media.goneAfterWait(task)) {
                            dataPhase.respond(task, status, null, task.received);
                        }
                    }));
        } catch (ScsiLun.Check c) {
            dataPhase.respond(task, Sense.CHECK_CONDITION, c.sense(), 0);
        }
    }

    /** MODE SELECT with its parameter list in: a list that restates the current values is accepted. */
    private void modeSelect(Task task) {
        int listLength = task.opcode == ScsiLun.MODE_SELECT_6 ? Cdb.u8(task.cdb, 4) : Cdb.u16(task.cdb, 7);
        try {
            session.lun.modeSelect(task.cdb, task.buffer.bytes().duplicate().order(java.nio.ByteOrder.BIG_ENDIAN),
                    Math.min(listLength, task.received));
            dataPhase.respond(task, Sense.GOOD, null, task.received);
        } catch (ScsiLun.Check c) {
            dataPhase.respond(task, Sense.CHECK_CONDITION, c.sense(), 0);
        }
    }

    private static byte[] truncate(byte[] data, long allocation) {
        return allocation >= data.length ? data : java.util.Arrays.copyOf(data, (int) allocation);
    }
}
