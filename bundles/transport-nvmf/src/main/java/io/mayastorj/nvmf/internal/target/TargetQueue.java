package io.mayastorj.nvmf.internal.target;

import io.mayastorj.core.bdev.AccessState;
import io.mayastorj.core.bdev.BdevStats;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.buffer.BufferPool;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.reactor.Reactor;
import io.mayastorj.nvmf.internal.protocol.Ana;
import io.mayastorj.nvmf.internal.protocol.Discovery;
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
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * One NVMe/TCP connection of the target: an admin or an I/O queue once the host's Connect names
 * it. Owned by one reactor; the bdev's completions come back to it as tasks. Commands live in
 * preallocated slots; the transfer tag of an R2T is the slot's index, so H2CData finds its command
 * without a lookup.
 */
final class TargetQueue extends PduChannel {

    private static final Logger LOG = System.getLogger("mayastor.nvmf");

    /** The most a host may put in one H2CData PDU. */
    static final int MAX_H2C_DATA = Identify.MAX_TRANSFER;
    /** In-capsule data accepted: the Linux host sends up to 8 KiB in admin capsules. */
    static final int MAX_IN_CAPSULE = Math.max(8192, Identify.IN_CAPSULE_DATA);
    private static final int SLOT_BYTES = 64;
    private static final int PAD_ALLOWANCE = 256;
    private static final int CNTLID_ANY = 0xFFFF;
    private static final int FUA = 1 << 30;

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
    private final long[] loggedStatuses = new long[0x400 / 64];

    private volatile Phase phase = Phase.AWAIT_ICREQ;
    private volatile Subsystem subsystem;
    private Controller controller;
    private BlockDevice device;
    private int blockShift;
    private volatile int qid = -1;
    /** Commands the host may have outstanding: 1 (its Connect) until Connect says more. */
    private volatile int depth = 1;
    // read by the shell from other threads: racy, for display only
    private int inFlight;
    private long commands;
    private int sqhd;
    private boolean sqFlowControl = true;
    private boolean closeAfterResponses;

    /** The command whose capsule data or H2CData is arriving. */
    private Command receiving;
    private int receivingLength;

    TargetQueue(NvmfTarget target, SocketChannel channel, Reactor reactor) {
        super(channel, reactor);
        this.target = target;
        this.buffers = target.buffers();
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

    // ---------------------------------------------------------------- PDUs in

    @Override
    protected int maxPduLength(int type) {
        if (phase == Phase.AWAIT_ICREQ) {
            return type == Pdu.IC_REQ ? Pdu.IC_LENGTH : 0;
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
            case Pdu.H2C_DATA -> h2cData(header, dataLength);
            case Pdu.H2C_TERM_REQ -> LOG.log(Level.WARNING, "{0}: the host ended the connection: fatal error status {1}",
                    peer(), header.getShort(Pdu.TERM_FES) & 0xFFFF);
            default -> throw new IllegalStateException("unexpected PDU type " + type);
        }
    }

    @Override
    protected void onPduEnd(int type, boolean dataDigestOk) {
        switch (type) {
            case Pdu.CAPSULE_CMD -> {
                Command command = receiving;
                receiving = null;
                if (!dataDigestOk && command.status == Status.SUCCESS) {
                    command.status = Status.TRANSIENT_TRANSPORT_ERROR;
                    logOnce(command.status, "data digest mismatch in a command capsule");
                }
                execute(command);
            }
            case Pdu.H2C_DATA -> {
                Command command = receiving;
                receiving = null;
                command.received += receivingLength;
                if (!dataDigestOk && command.status == Status.SUCCESS) {
                    command.status = Status.TRANSIENT_TRANSPORT_ERROR;
                    logOnce(command.status, "data digest mismatch in H2CData");
                }
                if (command.received == command.length) {
                    if (command.status != Status.SUCCESS) {
                        respond(command);
                    } else if (command.opcode == Sqe.IO_DATASET_MANAGEMENT) {
                        deallocate(command);
                    } else {
                        submitWrite(command);
                    }
                }
            }
            case Pdu.H2C_TERM_REQ -> close(null);
            default -> {
                // IC_REQ: answered at its header
            }
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
        phase = Phase.AWAIT_CONNECT;
    }

    private void capsule(ByteBuffer header, int dataLength) {
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
            logOnce(command.status, "command ID " + command.cid + " is already in use");
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
                    logOnce(command.status, "opcode " + hex(command.opcode) + " does not take in-capsule data");
                }
            }
        }
        receiving = command;
    }

    private void h2cData(ByteBuffer header, int dataLength) {
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
        dataInto(command.buffer.bytes(), offset);
        receiving = command;
        receivingLength = length;
    }

    // ---------------------------------------------------------------- validation

    /** Checks a command as its capsule arrives; allocates the buffer its in-capsule data goes to. */
    private int prepare(Command c) {
        if (c.opcode == Sqe.FABRICS_OPCODE) {
            return switch (c.fctype) {
                case Sqe.FCTYPE_CONNECT -> {
                    if (phase != Phase.AWAIT_CONNECT) {
                        yield logged(Status.COMMAND_SEQUENCE_ERROR, "Connect on a queue that is connected already");
                    }
                    if (c.inCapsule != Sqe.CONNECT_DATA_LENGTH || c.sglType != Sqe.SGL_DATA_BLOCK_OFFSET
                            || c.sglLength != Sqe.CONNECT_DATA_LENGTH) {
                        yield logged(Status.DATA_SGL_LENGTH_INVALID, "Connect without its 1024 bytes of data in the capsule");
                    }
                    yield inCapsuleBuffer(c);
                }
                case Sqe.FCTYPE_PROPERTY_GET, Sqe.FCTYPE_PROPERTY_SET, Sqe.FCTYPE_DISCONNECT -> {
                    if (phase != Phase.LIVE) {
                        yield logged(Status.COMMAND_SEQUENCE_ERROR, "a command before Connect");
                    }
                    if (c.fctype != Sqe.FCTYPE_DISCONNECT && qid != 0) {
                        yield logged(Status.INVALID_OPCODE, "Property Get/Set on an I/O queue");
                    }
                    yield Status.SUCCESS;
                }
                default -> logged(Status.INVALID_OPCODE, "fabrics command type " + hex(c.fctype));
            };
        }
        if (phase != Phase.LIVE) {
            return logged(Status.COMMAND_SEQUENCE_ERROR, "a command before Connect");
        }
        if (c.inCapsule > 0 && c.inCapsule > Identify.IN_CAPSULE_DATA && qid != 0) {
            return logged(Status.INVALID_FIELD, c.inCapsule + " bytes of in-capsule data on an I/O queue");
        }
        return qid == 0 ? prepareAdmin(c) : prepareIo(c);
    }

    private int prepareAdmin(Command c) {
        if (c.inCapsule > 0) {
            // only Set Features carries data to us on the admin queue (a timestamp, host behaviour)
            if (c.opcode != Sqe.ADMIN_SET_FEATURES) {
                return Status.SUCCESS; // refused after the data, as a command that takes none
            }
            return inCapsuleBuffer(c);
        }
        return Status.SUCCESS;
    }

    private int prepareIo(Command c) {
        boolean known = switch (c.opcode) {
            case Sqe.IO_READ, Sqe.IO_WRITE, Sqe.IO_FLUSH, Sqe.IO_WRITE_ZEROES, Sqe.IO_DATASET_MANAGEMENT -> true;
            default -> false;
        };
        if (known && c.nsid != 1 && !(c.opcode == Sqe.IO_FLUSH && c.nsid == -1)) {
            return logged(Status.INVALID_NAMESPACE, "namespace " + Integer.toUnsignedString(c.nsid) + " does not exist");
        }
        switch (c.opcode) {
            case Sqe.IO_READ, Sqe.IO_WRITE -> {
                int status = range(c, (c.cdw12 & 0xFFFF) + 1L);
                if (status != Status.SUCCESS) {
                    return status;
                }
                long bytes = (long) c.blocks << blockShift;
                if (bytes > Identify.MAX_TRANSFER) {
                    return logged(Status.INVALID_FIELD, "a transfer of " + bytes + " bytes exceeds MDTS");
                }
                c.length = (int) bytes;
                if (c.opcode == Sqe.IO_READ) {
                    return transportSgl(c);
                }
                return c.inCapsule > 0 ? inCapsuleSgl(c) : transportSgl(c);
            }
            case Sqe.IO_FLUSH -> {
                return Status.SUCCESS;
            }
            case Sqe.IO_WRITE_ZEROES -> {
                if (!device.supports(IoType.WRITE_ZEROES)) {
                    return logged(Status.INVALID_OPCODE, "Write Zeroes on a bdev without it");
                }
                return range(c, (c.cdw12 & 0xFFFF) + 1L);
            }
            case Sqe.IO_DATASET_MANAGEMENT -> {
                if (!device.supports(IoType.UNMAP)) {
                    return logged(Status.INVALID_OPCODE, "Dataset Management on a bdev without unmap");
                }
                // the ranges take (NR + 1) * 16 bytes; the Linux host sends a whole 4 KiB page
                int needed = ((c.cdw10 & 0xFF) + 1) * 16;
                if (c.sglLength < needed || c.sglLength > 4096) {
                    return logged(Status.DATA_SGL_LENGTH_INVALID, "Dataset Management of " + needed
                            + " bytes of ranges in an SGL of " + c.sglLength);
                }
                c.length = c.sglLength;
                return c.inCapsule > 0 ? inCapsuleSgl(c) : transportSgl(c);
            }
            default -> {
                return logged(Status.INVALID_OPCODE, "I/O opcode " + hex(c.opcode));
            }
        }
    }

    private int range(Command c, long blocks) {
        long lba = (c.cdw10 & 0xFFFFFFFFL) | ((long) c.cdw11 << 32);
        long count = device.blockCount();
        if (lba < 0 || lba >= count || blocks > count - lba) {
            return logged(Status.LBA_OUT_OF_RANGE, blocks + " blocks at LBA " + Long.toUnsignedString(lba)
                    + " on a namespace of " + count);
        }
        c.lba = lba;
        c.blocks = (int) blocks;
        return Status.SUCCESS;
    }

    /** The data comes with the capsule, described by a Data Block (offset) SGL. */
    private int inCapsuleSgl(Command c) {
        if (c.sglType != Sqe.SGL_DATA_BLOCK_OFFSET) {
            return logged(Status.SGL_DESCRIPTOR_TYPE_INVALID, "in-capsule data with SGL type " + hex(c.sglType));
        }
        if (c.sglAddress != 0 || c.sglLength != c.inCapsule || c.sglLength != c.length) {
            return logged(Status.DATA_SGL_LENGTH_INVALID, "in-capsule data of " + c.inCapsule + " bytes for an SGL of "
                    + c.sglLength + " at offset " + c.sglAddress + " and a command of " + c.length);
        }
        return inCapsuleBuffer(c);
    }

    /** The data moves in data PDUs, described by a Transport Data Block SGL. */
    private int transportSgl(Command c) {
        if (c.inCapsule > 0) {
            return logged(Status.INVALID_FIELD, "in-capsule data on a command that moves its data separately");
        }
        if (c.sglType != Sqe.SGL_TRANSPORT_DATA_BLOCK) {
            return logged(Status.SGL_DESCRIPTOR_TYPE_INVALID, "SGL type " + hex(c.sglType));
        }
        if (c.sglLength != c.length) {
            return logged(Status.DATA_SGL_LENGTH_INVALID, "an SGL of " + c.sglLength + " bytes for " + c.length);
        }
        return Status.SUCCESS;
    }

    private int inCapsuleBuffer(Command c) {
        DmaBuffer buffer = buffers.allocate(Math.max(c.inCapsule, 1));
        if (buffer == null) {
            return logged(Status.COMMAND_INTERRUPTED, "no buffer for in-capsule data (the buffer pool is exhausted)");
        }
        c.buffer = buffer;
        c.received = c.inCapsule;
        return Status.SUCCESS;
    }

    // ---------------------------------------------------------------- execution

    private void execute(Command c) {
        if (c.status != Status.SUCCESS) {
            respond(c);
        } else if (c.opcode == Sqe.FABRICS_OPCODE) {
            fabrics(c);
        } else if (qid == 0) {
            admin(c);
        } else {
            io(c);
        }
    }

    private void io(Command c) {
        AccessState access = device.accessState();
        if (!access.usable()) {
            // another node serves the volume now (or is about to): a path error, which a multipath
            // host answers by sending the command down its other path
            c.status = Status.ofAccess(access);
            logOnce(c.status, "bdev " + device.name() + " is " + access + " through this node");
            respond(c);
            return;
        }
        switch (c.opcode) {
            case Sqe.IO_READ -> {
                if (allocate(c, c.length)) {
                    toBdev(c);
                    device.read(c.buffer, 0, c.lba, c.blocks, c, c);
                }
            }
            case Sqe.IO_WRITE -> {
                if (c.inCapsule > 0) {
                    submitWrite(c);
                } else if (allocate(c, c.length)) {
                    requestData(c);
                }
            }
            case Sqe.IO_FLUSH -> {
                if (device.supports(IoType.FLUSH)) {
                    toBdev(c);
                    device.flush(c, c);
                } else {
                    respond(c);
                }
            }
            case Sqe.IO_WRITE_ZEROES -> {
                toBdev(c);
                device.writeZeroes(c.lba, c.blocks, c, c);
            }
            case Sqe.IO_DATASET_MANAGEMENT -> {
                if (c.inCapsule > 0) {
                    deallocate(c);
                } else if (allocate(c, c.length)) {
                    requestData(c);
                }
            }
            default -> throw new IllegalStateException("opcode " + c.opcode + " passed validation");
        }
    }

    private void submitWrite(Command c) {
        toBdev(c);
        device.write(c.buffer, 0, c.lba, c.blocks, c, c);
    }

    /** Dataset Management: the ranges are in the buffer; each deallocated range is one unmap, in turn. */
    private void deallocate(Command c) {
        if ((c.cdw11 & 0x4) == 0) {
            respond(c); // only hints (integral read/write): nothing to do
            return;
        }
        ByteBuffer ranges = c.buffer.bytes();
        int count = (c.cdw10 & 0xFF) + 1;
        long capacity = device.blockCount();
        for (int i = 0; i < count; i++) {
            long blocks = ranges.getInt(i * 16 + 4) & 0xFFFFFFFFL;
            long lba = ranges.getLong(i * 16 + 8);
            if (blocks > 0 && (lba < 0 || lba >= capacity || blocks > capacity - lba)) {
                c.status = logged(Status.LBA_OUT_OF_RANGE, "deallocate " + blocks + " blocks at LBA " + lba);
                respond(c);
                return;
            }
        }
        c.step = 0;
        nextRange(c);
    }

    private void nextRange(Command c) {
        ByteBuffer ranges = c.buffer.bytes();
        int count = (c.cdw10 & 0xFF) + 1;
        while (c.step < count) {
            int i = c.step++;
            long blocks = ranges.getInt(i * 16 + 4) & 0xFFFFFFFFL;
            if (blocks > 0) {
                toBdev(c);
                device.unmap(ranges.getLong(i * 16 + 8), blocks, c, c);
                return;
            }
        }
        respond(c);
    }

    private void toBdev(Command c) {
        c.state = Command.State.IN_BDEV;
        subsystem.inFlight.incrementAndGet();
    }

    /** The bdev answered (on this reactor). */
    void bdevDone(Command c) {
        subsystem.inFlight.decrementAndGet();
        if (phase == Phase.CLOSED) {
            release(c);
            return;
        }
        IoStatus outcome = c.ioStatus;
        if (outcome != IoStatus.SUCCESS) {
            AccessState access = device.accessState();
            // a nexus that lost its volume to another node fails what it held: a path error, never a media one
            c.status = access.usable() ? Status.of(outcome, c.opcode != Sqe.IO_READ) : Status.ofAccess(access);
            logOnce(c.status, "bdev " + device.name() + ": " + outcome);
            respond(c);
            return;
        }
        if (c.opcode == Sqe.IO_WRITE && (c.cdw12 & FUA) != 0 && c.step == 0 && device.supports(IoType.FLUSH)) {
            c.step = 1; // forced unit access: the write is acknowledged once it is durable
            toBdev(c);
            device.flush(c, c);
            return;
        }
        if (c.opcode == Sqe.IO_DATASET_MANAGEMENT) {
            nextRange(c);
            return;
        }
        respond(c);
    }

    /** Takes a buffer for the command, or parks it until the pool has one. */
    private boolean allocate(Command c, int bytes) {
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

    private void requestData(Command c) {
        c.state = Command.State.AWAIT_DATA;
        c.received = 0;
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
    private void respond(Command c) {
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
        ByteBuffer data = c.buffer.bytes();
        data.limit(c.length).position(0);
        ByteBuffer header = c.dataHeader;
        header.clear();
        int flags = Pdu.FLAG_LAST_PDU | (hd > 0 ? Pdu.FLAG_HDGST : 0) | (dd > 0 ? Pdu.FLAG_DDGST : 0);
        Pdu.header(header, Pdu.C2H_DATA, flags, Pdu.DATA_HLEN, Pdu.DATA_HLEN + hd, Pdu.DATA_HLEN + hd + c.length + dd);
        header.putShort(Pdu.DATA_CCCID, (short) c.cid);
        header.putShort(Pdu.DATA_TTAG, (short) 0);
        header.putInt(Pdu.DATA_OFFSET, 0);
        header.putInt(Pdu.DATA_LENGTH, c.length);
        if (hd > 0) {
            header.putInt(Pdu.DATA_HLEN, digest(header, 0, Pdu.DATA_HLEN));
        }
        header.limit(Pdu.DATA_HLEN + hd).position(0);
        send(header, null);
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
        if (closeAfterResponses && inFlight == 0) {
            close(null);
        }
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

    // ---------------------------------------------------------------- fabrics

    private void fabrics(Command c) {
        switch (c.fctype) {
            case Sqe.FCTYPE_CONNECT -> connect(c);
            case Sqe.FCTYPE_PROPERTY_GET -> {
                int size = c.cdw10 & 0x7; // ATTRIB: 0 = 4 bytes, 1 = 8 bytes
                long value = controller.property(c.cdw11);
                if (value == -1 || size > 1) {
                    c.status = logged(Status.INVALID_FIELD, "Property Get of offset " + hex(c.cdw11));
                } else {
                    c.dw0 = (int) value;
                    c.dw1 = size == 1 ? (int) (value >>> 32) : 0;
                }
                respond(c);
            }
            case Sqe.FCTYPE_PROPERTY_SET -> {
                long value = (c.cdw12 & 0xFFFFFFFFL) | ((long) c.cdw13 << 32);
                if (!controller.setProperty(c.cdw11, value)) {
                    c.status = logged(Status.INVALID_FIELD, "Property Set of offset " + hex(c.cdw11));
                }
                respond(c);
            }
            case Sqe.FCTYPE_DISCONNECT -> {
                closeAfterResponses = true;
                respond(c);
            }
            default -> throw new IllegalStateException("fabrics type " + c.fctype + " passed validation");
        }
    }

    private void connect(Command c) {
        ByteBuffer data = c.buffer.bytes();
        int recfmt = c.cdw10 & 0xFFFF;
        int queueId = c.cdw10 >>> 16;
        int sqsize = c.cdw11 & 0xFFFF;
        int cattr = (c.cdw11 >>> 16) & 0xFF;
        int kato = c.cdw12;
        int cntlid = data.getShort(Sqe.CONNECT_DATA_CNTLID) & 0xFFFF;
        String subnqn = nulTerminated(data, Sqe.CONNECT_DATA_SUBNQN, 256);
        String hostnqn = nulTerminated(data, Sqe.CONNECT_DATA_HOSTNQN, 256);
        String hostid = new UUID(data.duplicate().order(java.nio.ByteOrder.BIG_ENDIAN).getLong(Sqe.CONNECT_DATA_HOSTID),
                data.duplicate().order(java.nio.ByteOrder.BIG_ENDIAN).getLong(Sqe.CONNECT_DATA_HOSTID + 8)).toString();
        if (recfmt != 0) {
            refuse(c, Status.CONNECT_INCOMPATIBLE_FORMAT, 0, "Connect record format " + recfmt);
            return;
        }
        Subsystem sub = target.subsystem(subnqn);
        if (sub == null) {
            refuseParameter(c, true, Sqe.CONNECT_DATA_SUBNQN, "no subsystem " + subnqn);
            return;
        }
        if (!sub.allows(hostnqn)) {
            refuse(c, Status.CONNECT_INVALID_HOST, 0, "host " + hostnqn + " may not connect to " + subnqn);
            return;
        }
        int maxEntries = Controller.MAX_QUEUE_ENTRIES;
        if (sqsize == 0 || sqsize + 1 > maxEntries) {
            refuseParameter(c, false, Sqe.CONNECT_SQSIZE, "SQSIZE " + sqsize + " (the target takes 1.." + (maxEntries - 1) + ")");
            return;
        }
        if (queueId != 0 && sub.isDiscovery()) {
            refuseParameter(c, false, Sqe.CONNECT_QID, "an I/O queue for the discovery subsystem");
            return;
        }
        Controller joined;
        if (queueId == 0) {
            if (cntlid != CNTLID_ANY) {
                refuseParameter(c, true, Sqe.CONNECT_DATA_CNTLID, "admin Connect for static controller " + cntlid);
                return;
            }
            joined = sub.newController(this, hostnqn, hostid, kato);
            if (joined == null) {
                refuse(c, Status.CONNECT_CONTROLLER_BUSY, 0, "subsystem " + subnqn + " takes no new controllers");
                return;
            }
            LOG.log(Level.INFO, "{0}: controller {1} of {2} for host {3}{4}", peer(), joined.cntlid(), subnqn, hostnqn,
                    kato > 0 ? ", keep-alive " + kato + " ms" : "");
        } else {
            joined = sub.controller(cntlid);
            if (joined == null || !joined.hostNqn().equals(hostnqn)) {
                refuseParameter(c, true, Sqe.CONNECT_DATA_CNTLID, "no controller " + cntlid + " of " + subnqn
                        + " for host " + hostnqn);
                return;
            }
            switch (joined.attach(queueId, this)) {
                case OK -> { }
                case NO_SUCH_QUEUE -> {
                    refuseParameter(c, false, Sqe.CONNECT_QID, "queue " + queueId + " of controller " + cntlid
                            + " (it has " + joined.grantedIoQueues() + ")");
                    return;
                }
                case TAKEN -> {
                    refuse(c, Status.COMMAND_SEQUENCE_ERROR, 0, "queue " + queueId + " of controller " + cntlid
                            + " is connected already");
                    return;
                }
                case NOT_READY -> {
                    refuse(c, Status.COMMAND_SEQUENCE_ERROR, 0, "controller " + cntlid + " is not enabled");
                    return;
                }
                case GONE -> {
                    refuseParameter(c, true, Sqe.CONNECT_DATA_CNTLID, "controller " + cntlid + " is gone");
                    return;
                }
            }
        }
        subsystem = sub;
        controller = joined;
        device = sub.device();
        blockShift = device == null ? 0 : Integer.numberOfTrailingZeros(device.blockSize());
        qid = queueId;
        depth = sqsize + 1;
        sqFlowControl = (cattr & 0x4) == 0;
        sqhd = 0;
        phase = Phase.LIVE;
        sub.liveQueues.incrementAndGet();
        c.dw0 = joined.cntlid();
        respond(c);
    }

    private void refuse(Command c, int status, int dw0, String why) {
        c.status = status;
        c.dw0 = dw0;
        LOG.log(Level.WARNING, "{0}: Connect refused: {1}", peer(), why);
        respond(c);
    }

    /** Connect Invalid Parameters, pointing at the field: in the SQE or (data) in the Connect data. */
    private void refuseParameter(Command c, boolean inData, int offset, String why) {
        refuse(c, Status.CONNECT_INVALID_PARAMETERS, offset | (inData ? 1 << 16 : 0), why);
    }

    private static String nulTerminated(ByteBuffer data, int offset, int length) {
        byte[] bytes = new byte[length];
        data.get(offset, bytes);
        int end = 0;
        while (end < length && bytes[end] != 0) {
            end++;
        }
        return new String(bytes, 0, end, StandardCharsets.UTF_8).strip();
    }

    // ---------------------------------------------------------------- admin

    private void admin(Command c) {
        if (c.inCapsule > 0 && c.opcode != Sqe.ADMIN_SET_FEATURES) {
            c.status = logged(Status.INVALID_FIELD, "admin opcode " + hex(c.opcode) + " with in-capsule data");
            respond(c);
            return;
        }
        switch (c.opcode) {
            case Sqe.ADMIN_IDENTIFY -> identify(c);
            case Sqe.ADMIN_GET_LOG_PAGE -> logPage(c);
            case LbaStatus.OPCODE -> lbaStatus(c);
            case Sqe.ADMIN_SET_FEATURES -> {
                setFeatures(c);
                respond(c);
            }
            case Sqe.ADMIN_GET_FEATURES -> {
                getFeatures(c);
                respond(c);
            }
            case Sqe.ADMIN_KEEP_ALIVE -> {
                controller.keepAlive();
                respond(c);
            }
            case Sqe.ADMIN_ABORT -> {
                c.dw0 = 1; // not aborted: commands here complete on their own
                respond(c);
            }
            case Sqe.ADMIN_ASYNC_EVENT -> {
                if (controller.heldEvents >= Controller.MAX_HELD_EVENTS) {
                    c.status = logged(Status.ASYNC_EVENT_LIMIT_EXCEEDED, "more Asynchronous Event Requests than "
                            + Controller.MAX_HELD_EVENTS);
                    respond(c);
                } else {
                    controller.heldEvents++;
                    c.state = Command.State.HELD; // answered when there is an event, or never
                }
            }
            default -> {
                c.status = logged(Status.INVALID_OPCODE, "admin opcode " + hex(c.opcode));
                respond(c);
            }
        }
    }

    /**
     * Answers one held Asynchronous Event Request with {@code dw0}; false when the host holds
     * none here. Admin queue, on its reactor.
     */
    boolean completeAsyncEvent(int dw0) {
        for (Command c : slots) {
            if (c.state == Command.State.HELD) {
                controller.heldEvents--;
                c.dw0 = dw0;
                c.status = Status.SUCCESS;
                respond(c);
                return true;
            }
        }
        return false;
    }

    private void identify(Command c) {
        if (c.sglType != Sqe.SGL_TRANSPORT_DATA_BLOCK || c.sglLength != Identify.SIZE) {
            c.status = logged(Status.DATA_SGL_LENGTH_INVALID, "Identify with an SGL of " + c.sglLength + " bytes");
            respond(c);
            return;
        }
        if (!allocate(c, Identify.SIZE)) {
            return;
        }
        c.length = Identify.SIZE;
        ByteBuffer page = c.buffer.bytes();
        int cns = c.cdw10 & 0xFF;
        boolean discovery = subsystem.isDiscovery();
        switch (cns) {
            case Identify.CNS_CONTROLLER -> {
                int oncs = discovery ? 0 : (device.supports(IoType.UNMAP) ? Identify.ONCS_DSM : 0)
                        | (device.supports(IoType.WRITE_ZEROES) ? Identify.ONCS_WRITE_ZEROES : 0);
                Identify.controller(page, controller.cntlid(), subsystem.serial(), subsystem.nqn(), discovery,
                        !discovery && device.supports(IoType.FLUSH), oncs, Controller.MAX_QUEUE_ENTRIES);
            }
            case Identify.CNS_NAMESPACE -> {
                if (discovery || c.nsid != 1) {
                    c.status = logged(Status.INVALID_NAMESPACE, "Identify of namespace " + Integer.toUnsignedString(c.nsid));
                } else {
                    Identify.namespace(page, device.blockCount(), blockShift, device.uuid(), false);
                }
            }
            case Identify.CNS_ACTIVE_NAMESPACES -> {
                if (c.nsid == -1 || c.nsid == -2) {
                    c.status = logged(Status.INVALID_NAMESPACE, "active namespaces after " + Integer.toUnsignedString(c.nsid));
                } else {
                    Identify.activeNamespaces(page, discovery ? Integer.MAX_VALUE : c.nsid);
                }
            }
            case Identify.CNS_DESCRIPTORS -> {
                if (discovery || c.nsid != 1) {
                    c.status = logged(Status.INVALID_NAMESPACE, "namespace descriptors of " + Integer.toUnsignedString(c.nsid));
                } else {
                    Identify.descriptors(page, device.uuid());
                }
            }
            case Identify.CNS_CSI_CONTROLLER, Identify.CNS_CSI_NAMESPACE -> {
                int csi = c.cdw11 >>> 24;
                if (discovery || csi != Identify.CSI_NVM) {
                    c.status = unsupported(Status.INVALID_FIELD, "Identify CNS " + hex(cns) + " for command set " + hex(csi));
                } else if (cns == Identify.CNS_CSI_CONTROLLER) {
                    Identify.nvmController(page, device.allocationUnit() > 0);
                } else if (c.nsid != 1) {
                    c.status = logged(Status.INVALID_NAMESPACE, "Identify CNS 05h of " + Integer.toUnsignedString(c.nsid));
                } else {
                    Identify.nvmNamespace(page, device.allocationUnit());
                }
            }
            default -> c.status = unsupported(Status.INVALID_FIELD, "Identify CNS " + hex(cns));
        }
        respond(c);
    }

    /**
     * Get LBA Status, action type 02h: the namespace's allocated ranges, from the bdev's own map
     * (a thin replica's clusters), so that a rebuild from this namespace copies only those. Walks
     * the range a unit at a time on this reactor: an admin command, rare, and one map lookup per unit.
     */
    private void lbaStatus(Command c) {
        long bytes = ((c.cdw12 & 0xFFFFFFFFL) + 1) * 4;
        int atype = c.cdw13 >>> 24;
        long rangeLength = c.cdw13 & 0xFFFF;
        long slba = (c.cdw10 & 0xFFFFFFFFL) | ((long) c.cdw11 << 32);
        long unit = device == null ? 0 : device.allocationUnit();
        if (subsystem.isDiscovery() || c.nsid != 1) {
            c.status = logged(Status.INVALID_NAMESPACE, "Get LBA Status of namespace " + Integer.toUnsignedString(c.nsid));
        } else if (atype != LbaStatus.ATYPE_ALLOCATED || unit <= 0) {
            c.status = unsupported(Status.INVALID_FIELD, "Get LBA Status action " + hex(atype)
                    + (unit <= 0 ? " (the bdev does not track its allocation)" : ""));
        } else if (c.sglType != Sqe.SGL_TRANSPORT_DATA_BLOCK || c.sglLength != bytes) {
            c.status = logged(Status.DATA_SGL_LENGTH_INVALID, "Get LBA Status of " + bytes + " bytes with an SGL of "
                    + c.sglLength);
        } else if (bytes > BufferPool.MAX_BUFFER_SIZE) {
            c.status = logged(Status.INVALID_FIELD, "Get LBA Status of " + bytes + " bytes");
        } else if (slba < 0 || slba >= device.blockCount()) {
            c.status = logged(Status.LBA_OUT_OF_RANGE, "Get LBA Status from LBA " + Long.toUnsignedString(slba));
        } else {
            if (!allocate(c, (int) bytes)) {
                return;
            }
            c.length = (int) bytes;
            long end = rangeLength == 0 ? device.blockCount() : Math.min(device.blockCount(), slba + rangeLength);
            LbaStatus.allocated(c.buffer.bytes(), (int) bytes, device::holdsData, unit, slba, end);
        }
        respond(c);
    }

    private void logPage(Command c) {
        int lid = c.cdw10 & 0xFF;
        long dwords = (((c.cdw11 & 0xFFFFL) << 16) | (c.cdw10 >>> 16)) + 1;
        long bytes = dwords * 4;
        long offset = (c.cdw12 & 0xFFFFFFFFL) | ((long) c.cdw13 << 32);
        if (c.sglType != Sqe.SGL_TRANSPORT_DATA_BLOCK || c.sglLength != bytes) {
            c.status = logged(Status.DATA_SGL_LENGTH_INVALID, "Get Log Page of " + bytes + " bytes with an SGL of "
                    + c.sglLength);
            respond(c);
            return;
        }
        if (bytes > BufferPool.MAX_BUFFER_SIZE || (offset & 3) != 0) {
            c.status = logged(Status.INVALID_FIELD, "Get Log Page of " + bytes + " bytes at offset " + offset);
            respond(c);
            return;
        }
        ByteBuffer log = buildLog(lid, c.cdw10);
        if (log == null) {
            c.status = unsupported(Status.INVALID_LOG_PAGE, "log page " + hex(lid));
            respond(c);
            return;
        }
        if (offset > log.capacity()) {
            c.status = logged(Status.INVALID_FIELD, "log page " + hex(lid) + " at offset " + offset + " beyond its "
                    + log.capacity() + " bytes");
            respond(c);
            return;
        }
        if (!allocate(c, (int) bytes)) {
            return;
        }
        c.length = (int) bytes;
        ByteBuffer out = c.buffer.bytes();
        int available = (int) Math.min(bytes, log.capacity() - offset);
        out.put(0, log, (int) offset, available);
        for (int i = available; i < bytes; i++) {
            out.put(i, (byte) 0);
        }
        respond(c);
    }

    /** The whole log page, or null for one this controller does not have. Admin path: may allocate. */
    private ByteBuffer buildLog(int lid, int cdw10) {
        boolean discovery = subsystem.isDiscovery();
        ByteBuffer log;
        switch (lid) {
            case 0x01 -> log = Pdu.allocate(64);          // error information: no errors kept
            case 0x02 -> {                                  // SMART / health, from the bdev's counters
                log = Pdu.allocate(512);
                log.put(3, (byte) 100);                     // available spare
                log.put(4, (byte) 10);                      // available spare threshold
                if (!discovery) {
                    BdevStats stats = device.stats();
                    log.putLong(32, (stats.bytesRead() + 511_999) / 512_000);    // data units read
                    log.putLong(48, (stats.bytesWritten() + 511_999) / 512_000); // data units written
                    log.putLong(64, stats.readOps());       // host read commands
                    log.putLong(80, stats.writeOps());      // host write commands
                    log.putLong(176, stats.errors());       // media and data integrity errors
                }
            }
            case 0x03 -> {                                  // firmware slots
                log = Pdu.allocate(512);
                log.put(0, (byte) 1);
                log.put(8, "0.1".getBytes(StandardCharsets.US_ASCII));
            }
            case 0x04 -> log = Pdu.allocate(4096);         // changed namespaces: none
            case Ana.LOG_PAGE -> {
                if (discovery) {
                    return null;
                }
                boolean groupsOnly = (cdw10 & Ana.RGO) != 0;
                log = Pdu.allocate(Ana.size(groupsOnly));
                long changes = subsystem.anaChangeCount();
                Ana.log(log, changes, subsystem.access(), groupsOnly);
                controller.anaReported(changes);
            }
            case Discovery.LOG_PAGE -> {
                if (!discovery) {
                    return null;
                }
                InetSocketAddress local = localAddress();
                var entries = target.discoveryEntries(controller.hostNqn(), local);
                log = Pdu.allocate(Discovery.size(entries.size()));
                Discovery.write(log, target.generation(), entries);
            }
            default -> log = null;
        }
        return log;
    }

    private void setFeatures(Command c) {
        int fid = c.cdw10 & 0xFF;
        if (c.cdw10 < 0) { // SV: save across resets
            c.status = logged(Status.FEATURE_NOT_SAVEABLE, "Set Features " + hex(fid) + " with save");
            return;
        }
        switch (fid) {
            case 0x07 -> {                                  // number of queues
                if (subsystem.isDiscovery()) {
                    c.status = logged(Status.INVALID_FIELD, "number of queues on a discovery controller");
                } else if (controller.hasIoQueues()) {
                    c.status = logged(Status.COMMAND_SEQUENCE_ERROR, "number of queues after I/O queues exist");
                } else {
                    c.dw0 = controller.negotiateQueues(c.cdw11 & 0xFFFF, c.cdw11 >>> 16);
                }
            }
            case 0x0B -> controller.asyncEventConfig(c.cdw11); // asynchronous event configuration
            case 0x0E -> { }                                     // timestamp: no clock to set
            default -> c.status = unsupported(Status.INVALID_FIELD, "Set Features " + hex(fid));
        }
    }

    private void getFeatures(Command c) {
        int fid = c.cdw10 & 0xFF;
        switch (fid) {
            case 0x01, 0x02, 0x08 -> c.dw0 = 0;                 // arbitration, power management, coalescing
            case 0x06 -> c.dw0 = !subsystem.isDiscovery() && device.supports(IoType.FLUSH) ? 1 : 0;
            case 0x07 -> {
                if (subsystem.isDiscovery()) {
                    c.status = logged(Status.INVALID_FIELD, "number of queues on a discovery controller");
                } else {
                    c.dw0 = controller.queuesDword();
                }
            }
            case 0x0B -> c.dw0 = controller.asyncEventConfig();
            case 0x0F -> c.dw0 = controller.katoMillis();
            default -> c.status = unsupported(Status.INVALID_FIELD, "Get Features " + hex(fid));
        }
    }

    // ---------------------------------------------------------------- close

    @Override
    protected void onClosed() {
        Phase was = phase;
        phase = Phase.CLOSED;
        target.closed(this);
        if (bufferRetry != null) {
            bufferRetry.cancel();
            bufferRetry = null;
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

    private InetSocketAddress localAddress() {
        try {
            return (InetSocketAddress) channel.getLocalAddress();
        } catch (IOException e) {
            return null;
        }
    }

    // ---------------------------------------------------------------- logging

    /** A host asking for something optional that this target does not have: normal, logged for debugging. */
    private int unsupported(int status, String what) {
        LOG.log(Level.DEBUG, "{0}: {1} is not supported: status {2}", peer(), what, hex(status));
        return status;
    }

    private int logged(int status, String what) {
        logOnce(status, what);
        return status;
    }

    /** Logs the first command error of each status on this connection; later ones only count. */
    private void logOnce(int status, String what) {
        int index = status & 0x3FF;
        long bit = 1L << index;
        if ((loggedStatuses[index >>> 6] & bit) == 0) {
            loggedStatuses[index >>> 6] |= bit;
            LOG.log(Level.WARNING, "{0}: {1}: status {2} (further ones on this connection are not logged)",
                    peer(), what, hex(status));
        }
    }

    private static String hex(int value) {
        return "0x" + Integer.toHexString(value);
    }

    QueueView view() {
        Subsystem s = subsystem;
        Controller ctrl = controller;
        return new QueueView(peer(), reactor.id(), s == null ? "-" : s.nqn(), ctrl == null ? -1 : ctrl.cntlid(),
                qid, depth, inFlight, commands, headerDigest, dataDigest);
    }
}
