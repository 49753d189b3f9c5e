package io.mayastorj.nvmf.internal.target;

import static io.mayastorj.nvmf.internal.target.CommandLog.hex;

import io.mayastorj.core.buffer.BufferPool;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.reactor.Reactor;
import io.mayastorj.nvmf.internal.protocol.Identify;
import io.mayastorj.nvmf.internal.protocol.LbaStatus;
import io.mayastorj.nvmf.internal.protocol.Pdu;
import io.mayastorj.nvmf.internal.protocol.PduChannel;
import io.mayastorj.nvmf.internal.protocol.Sqe;
import io.mayastorj.nvmf.internal.protocol.Status;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;

/**
 * One NVMe/TCP connection of the target: an admin or an I/O queue once the host's Connect names
 * it. Owned by one reactor; the bdev's completions come back to it as tasks. Commands live in
 * preallocated slots; the transfer tag of an R2T is the slot's index, so H2CData finds its command
 * without a lookup.
 *
 * <p>This class is the transport: PDUs in (ICReq, command capsules, H2CData), the SGL and where a
 * command's data comes from (in the capsule, or asked for with an R2T), buffers from the pool, and
 * PDUs out (R2T, C2HData, the response capsule), plus the slots and command IDs. What a command
 * means is decided by the command set it belongs to: {@link FabricsCommands} (any queue, from the
 * start), then, once Connect has bound the queue, {@link AdminCommands} (queue 0) or
 * {@link IoCommands} (the others). Each of them answers through {@link #respond}.
 */
final class TargetQueue extends PduChannel {

    private static final Logger LOG = System.getLogger("mayastor.nvmf");

    /** The most a host may put in one H2CData PDU. */
    static final int MAX_H2C_DATA = Identify.MAX_TRANSFER;
    /** In-capsule data accepted: the Linux host sends up to 8 KiB in admin capsules. */
    static final int MAX_IN_CAPSULE = Math.max(8192, Identify.IN_CAPSULE_DATA);
    private static final int SLOT_BYTES = 64;
    private static final int PAD_ALLOWANCE = 256;
    /** A Connect's data: the only capsule before the queue is connected. */
    private static final int CONNECT_DATA = 1024;

    enum Phase { AWAIT_ICREQ, AWAIT_CONNECT, LIVE, CLOSED }

    private final NvmfTarget target;
    private final BufferPool buffers;
    private final Command[] slots = new Command[Controller.MAX_QUEUE_ENTRIES];
    private final int[] freeSlots = new int[Controller.MAX_QUEUE_ENTRIES];
    private int freeCount;
    /** The command IDs in use, one bit each: a second command with the same CID is refused. */
    private final long[] cidsInUse = new long[65536 / 64];
    private final ArrayDeque<Command> awaitingBuffer = new ArrayDeque<>();
    private Reactor.Timer bufferRetry;
    /** The buffer taken for the in-capsule data of the capsule being received, until its command takes it. */
    private DmaBuffer spare;
    /** Offers a capsule held for want of a buffer again. */
    private Reactor.Timer capsuleRetry;
    /** Since when the capsule being offered has waited for a buffer (System.nanoTime()), or 0. */
    private long heldSince;
    /** How long a capsule waits for a buffer before it is refused with Command Interrupted. */
    private static final long HOLD_NANOS = TimeUnit.SECONDS.toNanos(5);
    /** Armed while commands await their data: see watchData. */
    private Reactor.Timer dataWatch;
    /** Armed until the queue is connected (or closed): see connectedWithin. */
    private Reactor.Timer connectDeadline;
    private final CommandLog commandLog = new CommandLog(this);

    private volatile Phase phase = Phase.AWAIT_ICREQ;
    /** Bytes the host's data in C2HData PDUs is aligned to, from its ICReq's HPDA (4: none). */
    private int hostDataAlignment = 4;
    private volatile Subsystem subsystem;
    private Controller controller;
    private volatile int qid = -1;
    /** Commands the host may have outstanding: 1 (its Connect) until Connect says more. */
    private volatile int depth = 1;
    /**
     * Its commands at the bdev, written on its reactor only; read from others (a Connect of the same
     * host, waiting for them) with acquire semantics, which costs the I/O path no fence.
     */
    private int atBdev;
    private static final java.lang.invoke.VarHandle AT_BDEV;

    static {
        try {
            AT_BDEV = java.lang.invoke.MethodHandles.lookup().findVarHandle(TargetQueue.class, "atBdev", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    // read by the shell from other threads: racy, for display only
    private int inFlight;
    private long commands;
    private int sqhd;
    private boolean sqFlowControl = true;
    private boolean closeAfterResponses;

    /** The host's address, counted by the target among the queues not connected yet until Connect or close. */
    private final java.net.InetAddress peerAddress;
    private final java.util.concurrent.atomic.AtomicBoolean connecting = new java.util.concurrent.atomic.AtomicBoolean(true);

    /** The command whose capsule data or H2CData is arriving. */
    private Command receiving;
    private int receivingLength;

    /** The command sets: Fabrics from the start; admin or I/O once Connect has said which queue this is. */
    private final FabricsCommands fabrics;
    private AdminCommands adminCommands;
    private IoCommands ioCommands;

    TargetQueue(NvmfTarget target, SocketChannel channel, Reactor reactor, java.net.InetAddress peer) {
        super(channel, reactor);
        this.target = target;
        this.peerAddress = peer;
        this.buffers = target.buffers();
        this.fabrics = new FabricsCommands(this, commandLog, target);
        ByteBuffer block = Pdu.allocate(SLOT_BYTES * slots.length);
        for (int i = 0; i < slots.length; i++) {
            int base = i * SLOT_BYTES;
            slots[i] = new Command(this, i, slice(block, base, 28), slice(block, base + 28, 28),
                    slice(block, base + 56, 4));
            freeSlots[freeCount++] = slots.length - 1 - i;
        }
    }

    private static ByteBuffer slice(ByteBuffer block, int offset, int length) {
        return block.slice(offset, length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    }

    Reactor reactor() {
        return reactor;
    }

    /** A command of this queue went to the bdev; on its reactor. */
    void enteredBdev() {
        AT_BDEV.setRelease(this, atBdev + 1);
    }

    /** The bdev answered one; on its reactor. */
    void leftBdev() {
        AT_BDEV.setRelease(this, atBdev - 1);
        if (atBdev == 0 && phase == Phase.CLOSED) {
            releaseSocket(); // the last of a closed queue's commands at the bdev ended: the host may hear of the close
        }
    }

    /**
     * A queue closed (by this side: a controller's end, a data watchdog) with commands at the bdev
     * keeps its socket until they end: the host takes the close for the end of its writes, reconnects
     * and rebuilds, and a write landing after that would put old data over the rebuild's copy.
     */
    @Override
    protected boolean socketOutlivesClose() {
        return atBdev() > 0;
    }

    /** Its commands at the bdev now, also once it closed; any thread. */
    int atBdev() {
        return (int) AT_BDEV.getAcquire(this);
    }

    Phase phase() {
        return phase;
    }

    int qid() {
        return qid;
    }

    Controller controller() {
        return controller;
    }

    /** The admin command set; null until this queue's Connect made it the admin queue of a controller. */
    AdminCommands adminCommands() {
        return adminCommands;
    }

    /** The I/O command set; null until this queue's Connect made it an I/O queue. */
    IoCommands ioCommands() {
        return ioCommands;
    }

    // ---------------------------------------------------------------- PDUs in

    @Override
    protected int maxPduLength(int type) {
        if (phase == Phase.AWAIT_ICREQ) {
            return type == Pdu.IC_REQ ? Pdu.IC_LENGTH : 0;
        }
        if (phase == Phase.AWAIT_CONNECT) {
            // only a Connect, whose data is 1024 bytes: a capsule announcing 128 KiB took a pool buffer that
            // size before anything was checked, held until the connect deadline — by 512 connections that
            // never connect, the node's whole pool
            return switch (type) {
                case Pdu.CAPSULE_CMD -> Pdu.CAPSULE_CMD_HLEN + 2 * Pdu.DIGEST + CONNECT_DATA + PAD_ALLOWANCE;
                case Pdu.H2C_TERM_REQ -> Pdu.TERM_HLEN + Pdu.TERM_MAX_DATA;
                case Pdu.H2C_DATA, Pdu.IC_REQ -> 0;
                default -> -1;
            };
        }
        return switch (type) {
            case Pdu.CAPSULE_CMD -> Pdu.CAPSULE_CMD_HLEN + 2 * Pdu.DIGEST + MAX_IN_CAPSULE + PAD_ALLOWANCE;
            case Pdu.H2C_DATA -> Pdu.DATA_HLEN + 2 * Pdu.DIGEST + MAX_H2C_DATA + PAD_ALLOWANCE;
            case Pdu.H2C_TERM_REQ -> Pdu.TERM_HLEN + Pdu.TERM_MAX_DATA;
            case Pdu.IC_REQ -> 0;
            default -> -1;
        };
    }

    @Override
    protected int terminationType() {
        return Pdu.C2H_TERM_REQ;
    }

    @Override
    protected void onHeader(int type, int flags, ByteBuffer header, int dataLength) {
        switch (type) {
            case Pdu.IC_REQ -> initialize(header);
            case Pdu.CAPSULE_CMD -> capsule(header, dataLength);
            case Pdu.H2C_DATA -> h2cData(header, flags, dataLength);
            case Pdu.H2C_TERM_REQ -> LOG.log(Level.WARNING, "{0}: the host ended the connection: fatal error status {1}",
                    peer(), header.getShort(Pdu.TERM_FES) & 0xFFFF);
            default -> throw new IllegalStateException("unexpected PDU type " + type);
        }
    }

    private void initialize(ByteBuffer header) {
        int pfv = header.getShort(Pdu.IC_PFV) & 0xFFFF;
        int hpda = header.get(Pdu.IC_HPDA_CPDA) & 0xFF;
        int digests = header.get(Pdu.IC_DGST) & 0xFF;
        if (pfv != 0) {
            terminate(Pdu.FES_UNSUPPORTED_PARAMETER, Pdu.IC_PFV, "ICReq asks for PDU format version " + pfv);
            return;
        }
        if (hpda > 31) {
            terminate(Pdu.FES_INVALID_HEADER_FIELD, Pdu.IC_HPDA_CPDA, "ICReq with HPDA " + hpda);
            return;
        }
        ByteBuffer response = Pdu.allocate(Pdu.IC_LENGTH);
        Pdu.header(response, Pdu.IC_RESP, 0, Pdu.IC_LENGTH, 0, Pdu.IC_LENGTH);
        response.putShort(Pdu.IC_PFV, (short) 0);
        response.put(Pdu.IC_HPDA_CPDA, (byte) 0);           // CPDA: no alignment of H2C data
        response.put(Pdu.IC_DGST, (byte) (digests & (Pdu.DGST_HEADER | Pdu.DGST_DATA)));
        response.putInt(Pdu.IC_MAXR2T_MAXH2CDATA, MAX_H2C_DATA);
        send(response, null);
        // the ICResp itself goes without digests; every later PDU carries them
        headerDigest = (digests & Pdu.DGST_HEADER) != 0;
        dataDigest = (digests & Pdu.DGST_DATA) != 0;
        hostDataAlignment = (hpda + 1) * 4;
        phase = Phase.AWAIT_CONNECT;
    }

    private void capsule(ByteBuffer header, int dataLength) {
        if (dataLength > 0 && spare == null) {
            // the buffer for the data first: with none in the pool the capsule waits in the socket (the host
            // backs off as TCP tells it to) rather than failing — Command Interrupted on a write fails it
            // after a few retries, and a nexus faults the replica that answered it
            spare = buffers.allocate(dataLength);
            if (spare == null) { // (the clock is read only here: not per I/O)
                long now = System.nanoTime();
                if (heldSince == 0) {
                    heldSince = now;
                }
                // (data for an R2T would come behind it, and a pool dry for seconds may wait on this very
                // queue, node to node: refused below instead, as before)
                if (!awaitingData() && now - heldSince < HOLD_NANOS) {
                    holdPdu();
                    if (capsuleRetry == null) {
                        capsuleRetry = reactor.schedule(1, TimeUnit.MILLISECONDS, () -> {
                            capsuleRetry = null;
                            resumeReceive();
                        });
                    }
                    return;
                }
            }
        }
        heldSince = 0;
        Command command = takeSlot();
        if (command == null) {
            terminate(Pdu.FES_PDU_SEQUENCE_ERROR, 0,
                    "the host sent more commands than the " + depth + " it may have outstanding");
            return;
        }
        commands++;
        if (sqFlowControl) {
            sqhd = sqhd + 1 == depth ? 0 : sqhd + 1;
        }
        int sqe = Pdu.SQE_OFFSET;
        command.opcode = header.get(sqe + Sqe.OPCODE) & 0xFF;
        command.fctype = header.get(sqe + Sqe.FCTYPE) & 0xFF;
        command.flags = header.get(sqe + Sqe.FLAGS) & 0xFF;
        command.cid = header.getShort(sqe + Sqe.CID) & 0xFFFF;
        command.nsid = header.getInt(sqe + Sqe.NSID);
        command.sglAddress = header.getLong(sqe + Sqe.SGL_ADDRESS);
        command.sglLength = header.getInt(sqe + Sqe.SGL_LENGTH);
        command.sglType = header.get(sqe + Sqe.SGL_IDENTIFIER) & 0xFF;
        command.cdw10 = header.getInt(sqe + Sqe.CDW10);
        command.cdw11 = header.getInt(sqe + Sqe.CDW11);
        command.cdw12 = header.getInt(sqe + Sqe.CDW12);
        command.cdw13 = header.getInt(sqe + Sqe.CDW13);
        command.cdw14 = header.getInt(sqe + Sqe.CDW14);
        command.cdw15 = header.getInt(sqe + Sqe.CDW15);
        command.inCapsule = dataLength;
        command.state = Command.State.CAPSULE;
        if (!claimCid(command)) {
            command.status = Status.COMMAND_ID_CONFLICT;
            commandLog.logOnce(command.status, "command ID " + command.cid + " is already in use");
        } else {
            command.status = prepare(command);
        }
        if (dataLength > 0) {
            if (command.status == Status.SUCCESS && command.buffer != null) {
                dataInto(command.buffer.bytes(), 0);
            } else {
                discardData();
                if (command.status == Status.SUCCESS) {
                    command.status = Status.INVALID_FIELD;
                    commandLog.logOnce(command.status, "opcode " + hex(command.opcode) + " does not take in-capsule data");
                }
            }
        }
        receiving = command;
        if (spare != null) { // refused before its buffer was taken
            spare.release();
            spare = null;
        }
    }

    private void h2cData(ByteBuffer header, int flags, int dataLength) {
        int cccid = header.getShort(Pdu.DATA_CCCID) & 0xFFFF;
        int ttag = header.getShort(Pdu.DATA_TTAG) & 0xFFFF;
        int offset = header.getInt(Pdu.DATA_OFFSET);
        int length = header.getInt(Pdu.DATA_LENGTH);
        Command command = ttag < slots.length ? slots[ttag] : null;
        if (command == null || command.state != Command.State.AWAIT_DATA || command.cid != cccid) {
            terminate(Pdu.FES_INVALID_HEADER_FIELD, Pdu.DATA_TTAG,
                    "H2CData for command " + cccid + " (tag " + ttag + "), which awaits no data");
            return;
        }
        if (length != dataLength) {
            terminate(Pdu.FES_INVALID_HEADER_FIELD, Pdu.DATA_LENGTH,
                    "H2CData says " + length + " bytes but carries " + dataLength);
            return;
        }
        if (length == 0 || offset != command.received || offset + (long) length > command.length) {
            terminate(Pdu.FES_DATA_OUT_OF_RANGE, Pdu.DATA_OFFSET, "H2CData of " + length + " bytes at offset " + offset
                    + " for command " + cccid + ", which has " + command.received + " of " + command.length);
            return;
        }
        if ((flags & Pdu.FLAG_LAST_PDU) != 0 && offset + length != command.length) {
            // the R2T asked for all of the command's data: its last PDU ends there. Taken, the command would
            // wait, its buffer and slot held, for data the host says it will not send
            terminate(Pdu.FES_PDU_SEQUENCE_ERROR, 1, "H2CData marked last ends at " + (offset + length) + " of the "
                    + command.length + " bytes command " + cccid + " moves");
            return;
        }
        dataInto(command.buffer.bytes(), offset);
        receiving = command;
        receivingLength = length;
    }

    @Override
    protected void onPduEnd(int type, boolean dataDigestOk) {
        switch (type) {
            case Pdu.CAPSULE_CMD -> {
                Command command = receiving;
                receiving = null;
                if (!dataDigestOk && command.status == Status.SUCCESS) {
                    command.status = Status.TRANSIENT_TRANSPORT_ERROR;
                    commandLog.logOnce(command.status, "data digest mismatch in a command capsule");
                }
                execute(command);
            }
            case Pdu.H2C_DATA -> {
                Command command = receiving;
                receiving = null;
                command.received += receivingLength;
                command.dataSince = System.nanoTime();
                if (!dataDigestOk && command.status == Status.SUCCESS) {
                    command.status = Status.TRANSIENT_TRANSPORT_ERROR;
                    commandLog.logOnce(command.status, "data digest mismatch in H2CData");
                }
                if (command.received == command.length) {
                    if (command.status != Status.SUCCESS) {
                        respond(command);
                    } else {
                        ioCommands.dataReceived(command);
                    }
                }
            }
            case Pdu.H2C_TERM_REQ -> close(null);
            default -> {
                // IC_REQ: answered at its header
            }
        }
    }

    // ---------------------------------------------------------------- validation

    /** Checks a command as its capsule arrives; allocates the buffer its in-capsule data goes to. */
    private int prepare(Command c) {
        if ((c.flags & Sqe.FUSE_MASK) != 0) {
            // no fused operations (Identify: FUSES 0). Run alone, the Write of a fused Compare and Write
            // would be a blind overwrite where the host asked for a test-and-set
            return commandLog.logged(Status.INVALID_FIELD, "a fused command (FUSE " + (c.flags & Sqe.FUSE_MASK) + ")");
        }
        if ((c.flags & Sqe.PSDT_MASK) != Sqe.PSDT_SGL) {
            // PRPs (00b) name host memory a fabric cannot reach; the SGL is read as one all the same, so a
            // host that meant otherwise is told (NVMe over Fabrics 1.1 §2.1; Linux's target refuses it too)
            return commandLog.logged(Status.INVALID_FIELD, "PSDT " + ((c.flags & Sqe.PSDT_MASK) >> 6)
                    + " (NVMe over Fabrics takes SGLs, 01b)");
        }
        if (c.opcode == Sqe.FABRICS_OPCODE) {
            return fabrics.prepare(c);
        }
        if (phase != Phase.LIVE) {
            return commandLog.logged(Status.COMMAND_SEQUENCE_ERROR, "a command before Connect");
        }
        if (c.inCapsule > 0 && c.inCapsule > Identify.IN_CAPSULE_DATA && qid != 0) {
            return commandLog.logged(Status.INVALID_FIELD, c.inCapsule + " bytes of in-capsule data on an I/O queue");
        }
        return qid == 0 ? adminCommands.prepare(c) : ioCommands.prepare(c);
    }

    /** The data comes with the capsule, described by a Data Block (offset) SGL. */
    int inCapsuleSgl(Command c) {
        if (c.sglType != Sqe.SGL_DATA_BLOCK_OFFSET) {
            return commandLog.logged(Status.SGL_DESCRIPTOR_TYPE_INVALID, "in-capsule data with SGL type " + hex(c.sglType));
        }
        if (c.sglAddress != 0) { // the data starts at the capsule's ICDOFF, 0: there is no other place for it
            return commandLog.logged(Status.SGL_OFFSET_INVALID, "in-capsule data at offset " + c.sglAddress);
        }
        if (c.sglLength != c.inCapsule || c.sglLength != c.length) {
            return commandLog.logged(Status.DATA_SGL_LENGTH_INVALID, "in-capsule data of " + c.inCapsule + " bytes for an SGL of "
                    + c.sglLength + " at offset " + c.sglAddress + " and a command of " + c.length);
        }
        return inCapsuleBuffer(c);
    }

    /** The data moves in data PDUs, described by a Transport Data Block SGL. */
    int transportSgl(Command c) {
        if (c.inCapsule > 0) {
            return commandLog.logged(Status.INVALID_FIELD, "in-capsule data on a command that moves its data separately");
        }
        if (c.sglType != Sqe.SGL_TRANSPORT_DATA_BLOCK) {
            return commandLog.logged(Status.SGL_DESCRIPTOR_TYPE_INVALID, "SGL type " + hex(c.sglType));
        }
        if (c.sglLength != c.length) {
            return commandLog.logged(Status.DATA_SGL_LENGTH_INVALID, "an SGL of " + c.sglLength + " bytes for " + c.length);
        }
        return Status.SUCCESS;
    }

    int inCapsuleBuffer(Command c) {
        DmaBuffer buffer = spare;
        spare = null;
        if (buffer == null) {
            buffer = buffers.allocate(Math.max(c.inCapsule, 1));
        }
        if (buffer == null) {
            return commandLog.logged(Status.COMMAND_INTERRUPTED, "no buffer for in-capsule data (the buffer pool is exhausted)");
        }
        c.buffer = buffer;
        c.received = c.inCapsule;
        return Status.SUCCESS;
    }

    // ---------------------------------------------------------------- Connect

    /**
     * Connect succeeded: this connection is now queue {@code queueId} of {@code joined}, with
     * {@code entries} slots, and its commands go to the admin or the I/O command set.
     */
    void connected(Subsystem sub, Controller joined, int queueId, int entries, boolean flowControl) {
        subsystem = sub;
        controller = joined;
        if (queueId == 0) {
            adminCommands = new AdminCommands(this, commandLog, target, sub, joined);
        } else {
            ioCommands = new IoCommands(this, commandLog, sub);
        }
        qid = queueId;
        depth = entries;
        sqFlowControl = flowControl;
        sqhd = 1 % entries; // the Connect was the queue's first entry: its response says the head is past it
        phase = Phase.LIVE;
        if (connecting.getAndSet(false)) {
            target.connectingEnded(peerAddress);
        }
        disarmConnectDeadline();
        sub.liveQueues.incrementAndGet();
    }

    /** Disconnect: the connection ends once the responses in flight have gone. */
    void closeAfterResponses() {
        closeAfterResponses = true;
    }

    // ---------------------------------------------------------------- execution

    private void execute(Command c) {
        if (c.status != Status.SUCCESS) {
            respond(c);
        } else if (c.opcode == Sqe.FABRICS_OPCODE) {
            fabrics.execute(c);
        } else if (qid == 0) {
            adminCommands.execute(c);
        } else {
            ioCommands.execute(c);
        }
    }

    /** Takes a buffer for the command, or parks it until the pool has one. */
    boolean allocate(Command c, int bytes) {
        DmaBuffer buffer = buffers.allocate(bytes);
        if (buffer == null) {
            c.state = Command.State.AWAIT_BUFFER;
            awaitingBuffer.add(c);
            if (bufferRetry == null) {
                bufferRetry = reactor.schedule(1, TimeUnit.MILLISECONDS, this::retryBuffers);
            }
            return false;
        }
        c.buffer = buffer;
        return true;
    }

    private void retryBuffers() {
        bufferRetry = null;
        int waiting = awaitingBuffer.size();
        for (int i = 0; i < waiting && phase != Phase.CLOSED; i++) {
            Command c = awaitingBuffer.poll();
            execute(c); // allocates again, or parks again
        }
    }

    /** Asks the host for the command's data: one R2T for all of it, tagged with the slot. */
    void requestData(Command c) {
        c.state = Command.State.AWAIT_DATA;
        c.received = 0;
        c.dataSince = System.nanoTime();
        if (dataWatch == null) {
            watchData();
        }
        ByteBuffer r2t = c.dataHeader;
        int hd = headerDigest ? Pdu.DIGEST : 0;
        r2t.clear();
        Pdu.header(r2t, Pdu.R2T, headerDigest ? Pdu.FLAG_HDGST : 0, Pdu.R2T_HLEN, 0, Pdu.R2T_HLEN + hd);
        r2t.putShort(Pdu.DATA_CCCID, (short) c.cid);
        r2t.putShort(Pdu.DATA_TTAG, (short) c.slot);
        r2t.putInt(Pdu.DATA_OFFSET, 0);
        r2t.putInt(Pdu.DATA_LENGTH, c.length);
        if (hd > 0) {
            r2t.putInt(Pdu.R2T_HLEN, digest(r2t, 0, Pdu.R2T_HLEN));
        }
        r2t.limit(Pdu.R2T_HLEN + hd).position(0);
        send(r2t, null);
    }

    // ---------------------------------------------------------------- responses

    /** Sends the command's data (reads, admin data) and its response. */
    void respond(Command c) {
        c.state = Command.State.RESPONDING;
        if (c.status == Status.SUCCESS && c.buffer != null && c.length > 0 && sendsData(c)) {
            sendData(c);
        }
        ByteBuffer response = c.response;
        int hd = headerDigest ? Pdu.DIGEST : 0;
        response.clear();
        Pdu.header(response, Pdu.CAPSULE_RESP, headerDigest ? Pdu.FLAG_HDGST : 0, Pdu.CAPSULE_RESP_HLEN, 0,
                Pdu.CAPSULE_RESP_HLEN + hd);
        int cqe = Pdu.CQE_OFFSET;
        response.putInt(cqe, c.dw0);
        response.putInt(cqe + 4, c.dw1);
        response.putShort(cqe + 8, (short) (sqFlowControl ? sqhd : 0xFFFF));
        response.putShort(cqe + 10, (short) Math.max(qid, 0));
        response.putShort(cqe + 12, (short) c.cid);
        response.putShort(cqe + 14, Status.cqe(c.status, Status.permanent(c.status)));
        if (hd > 0) {
            response.putInt(Pdu.CAPSULE_RESP_HLEN, digest(response, 0, Pdu.CAPSULE_RESP_HLEN));
        }
        response.limit(Pdu.CAPSULE_RESP_HLEN + hd).position(0);
        send(response, c);
    }

    private boolean sendsData(Command c) {
        if (c.opcode == Sqe.FABRICS_OPCODE) {
            return false;
        }
        return qid == 0 ? c.opcode == Sqe.ADMIN_IDENTIFY || c.opcode == Sqe.ADMIN_GET_LOG_PAGE
                || c.opcode == LbaStatus.OPCODE : c.opcode == Sqe.IO_READ;
    }

    private void sendData(Command c) {
        int hd = headerDigest ? Pdu.DIGEST : 0;
        int dd = dataDigest ? Pdu.DIGEST : 0;
        // the host's HPDA: its data starts at a multiple of the alignment it asked for (Linux asks for none)
        int pad = (Pdu.DATA_HLEN + hd + hostDataAlignment - 1) / hostDataAlignment * hostDataAlignment - Pdu.DATA_HLEN - hd;
        ByteBuffer data = c.buffer.bytes();
        data.limit(c.length).position(0);
        ByteBuffer header = c.dataHeader;
        header.clear();
        int flags = Pdu.FLAG_LAST_PDU | (hd > 0 ? Pdu.FLAG_HDGST : 0) | (dd > 0 ? Pdu.FLAG_DDGST : 0);
        Pdu.header(header, Pdu.C2H_DATA, flags, Pdu.DATA_HLEN, Pdu.DATA_HLEN + hd + pad,
                Pdu.DATA_HLEN + hd + pad + c.length + dd);
        header.putShort(Pdu.DATA_CCCID, (short) c.cid);
        header.putShort(Pdu.DATA_TTAG, (short) 0);
        header.putInt(Pdu.DATA_OFFSET, 0);
        header.putInt(Pdu.DATA_LENGTH, c.length);
        if (hd > 0) {
            header.putInt(Pdu.DATA_HLEN, digest(header, 0, Pdu.DATA_HLEN));
        }
        header.limit(Pdu.DATA_HLEN + hd).position(0);
        send(header, null);
        if (pad > 0) {
            send(Pdu.padding(pad), null);
        }
        send(data, null);
        if (dd > 0) {
            c.dataDigest.putInt(0, digest(data, 0, c.length));
            c.dataDigest.clear();
            send(c.dataDigest, null);
        }
    }

    /** The command's response has gone (or the connection has): its slot is free again. */
    void release(Command c) {
        if (c.buffer != null) {
            c.buffer.release();
        }
        if (c.status != Status.COMMAND_ID_CONFLICT) {
            cidsInUse[c.cid >>> 6] &= ~(1L << c.cid);
        }
        c.reset();
        freeSlots[freeCount++] = c.slot;
        inFlight--;
        if (closeAfterResponses && inFlight == held()) {
            close(null); // a held Asynchronous Event Request has no response coming: it ends with the queue
        }
    }

    /** Commands held without a response due (Asynchronous Event Requests); counted only at a Disconnect. */
    private int held() {
        int n = 0;
        for (Command c : slots) {
            n += c.state == Command.State.HELD ? 1 : 0;
        }
        return n;
    }

    private Command takeSlot() {
        if (inFlight >= depth || freeCount == 0) {
            return null;
        }
        inFlight++;
        return slots[freeSlots[--freeCount]];
    }

    private boolean claimCid(Command c) {
        long bit = 1L << c.cid;
        int word = c.cid >>> 6;
        if ((cidsInUse[word] & bit) != 0) {
            return false;
        }
        cidsInUse[word] |= bit;
        return true;
    }

    /**
     * While writes await their data: one whose data has not moved for the target's data timeout
     * ends the connection (its buffer, and the pool's, would be held for good by a host that
     * answers keep-alives but never sends it).
     */
    private void watchData() {
        long timeout = target.dataTimeoutNanos();
        dataWatch = reactor.schedule(Math.max(1, timeout / 4), TimeUnit.NANOSECONDS, () -> {
            dataWatch = null;
            if (phase == Phase.CLOSED) {
                return;
            }
            long now = System.nanoTime();
            boolean waiting = false;
            for (Command c : slots) {
                if (c.state == Command.State.AWAIT_DATA) {
                    if (now - c.dataSince > timeout) {
                        close(String.format(java.util.Locale.ROOT, "command %d waited %.1f s for its data (H2CData, %d of %d bytes came)",
                                c.cid, (now - c.dataSince) / 1e9, c.received, c.length));
                        return;
                    }
                    waiting = true;
                }
            }
            if (waiting) {
                watchData();
            }
        });
    }

    /**
     * The connection has had {@code timeout} to be connected (an ICReq and a Connect take a host
     * milliseconds): one still not connected is closed. Anyone may open a connection, and one that
     * stops half-way through its Connect capsule held a buffer and its receive buffers for good.
     */
    void connectWithin(long timeout) {
        connectDeadline = reactor.schedule(timeout, TimeUnit.NANOSECONDS, () -> {
            connectDeadline = null;
            if (phase == Phase.AWAIT_ICREQ || phase == Phase.AWAIT_CONNECT) {
                close(String.format(java.util.Locale.ROOT, "not connected within %.1f s", timeout / 1e9));
            }
        });
    }

    /** Connected or closed: the deadline and what it holds (this queue, its buffers) go at once. */
    private void disarmConnectDeadline() {
        if (connectDeadline != null) {
            connectDeadline.cancel();
            connectDeadline = null;
        }
    }

    /** Whether a command of this queue waits for its data in H2CData PDUs. */
    private boolean awaitingData() {
        for (Command c : slots) {
            if (c.state == Command.State.AWAIT_DATA) {
                return true;
            }
        }
        return false;
    }

    /** The first slot holding an Asynchronous Event Request, or null. */
    Command firstHeld() {
        for (Command c : slots) {
            if (c.state == Command.State.HELD) {
                return c;
            }
        }
        return null;
    }

    // ---------------------------------------------------------------- close

    @Override
    protected void onClosed() {
        Phase was = phase;
        phase = Phase.CLOSED;
        if (connecting.getAndSet(false)) {
            target.connectingEnded(peerAddress);
        }
        target.closed(this);
        if (bufferRetry != null) {
            bufferRetry.cancel();
            bufferRetry = null;
        }
        if (capsuleRetry != null) {
            capsuleRetry.cancel();
            capsuleRetry = null;
        }
        disarmConnectDeadline();
        if (dataWatch != null) {
            dataWatch.cancel();
            dataWatch = null;
        }
        if (spare != null) {
            spare.release();
            spare = null;
        }
        awaitingBuffer.clear();
        for (Command c : slots) {
            switch (c.state) {
                case CAPSULE, AWAIT_BUFFER, AWAIT_DATA -> release(c);
                case HELD -> {
                    controller.heldEvents--;
                    release(c);
                }
                default -> {
                    // FREE; IN_BDEV ends in bdevDone; RESPONDING ended as the sends were dropped
                }
            }
        }
        if (controller != null && was == Phase.LIVE) {
            subsystem.liveQueues.decrementAndGet();
            if (qid == 0) {
                controller.destroy(null);
                LOG.log(Level.INFO, "{0}: controller {1} of {2} disconnected", peer(), controller.cntlid(),
                        subsystem.nqn());
            } else {
                controller.detach(qid, this);
            }
        }
    }

    InetSocketAddress localAddress() {
        try {
            return (InetSocketAddress) channel.getLocalAddress();
        } catch (IOException e) {
            return null;
        }
    }

    QueueView view() {
        Subsystem s = subsystem;
        Controller ctrl = controller;
        return new QueueView(peer(), reactor.id(), s == null ? "-" : s.nqn(), ctrl == null ? -1 : ctrl.cntlid(),
                qid, depth, inFlight, commands, headerDigest, dataDigest);
    }
}
