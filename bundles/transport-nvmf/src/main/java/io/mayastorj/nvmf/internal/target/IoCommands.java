package io.mayastorj.nvmf.internal.target;

import static io.mayastorj.nvmf.internal.target.CommandLog.hex;

import io.mayastorj.core.bdev.AccessState;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.nvmf.internal.protocol.Identify;
import io.mayastorj.nvmf.internal.protocol.Sqe;
import io.mayastorj.nvmf.internal.protocol.Status;
import java.nio.ByteBuffer;

/**
 * The NVM command set on one I/O queue: Read, Write (FUA), Flush, Write Zeroes and Dataset
 * Management, from the checks at capsule time to the bdev and back. Made by the queue's Connect,
 * one per I/O queue, on its reactor. The line is drawn at the bdev: how data and responses move on
 * the wire (SGLs, R2T, C2HData, the response capsule) is {@link TargetQueue}'s; what a command asks
 * of the namespace, and what the bdev's answer means as an NVMe status, is this class's.
 */
final class IoCommands {

    private static final int FUA = 1 << 30;

    private final TargetQueue queue;
    private final CommandLog commandLog;
    private final Subsystem subsystem;
    private final BlockDevice device;
    private final int blockShift;

    /** An I/O queue's subsystem always has a bdev: Connect refuses I/O queues of the discovery subsystem. */
    IoCommands(TargetQueue queue, CommandLog commandLog, Subsystem subsystem) {
        this.queue = queue;
        this.commandLog = commandLog;
        this.subsystem = subsystem;
        this.device = subsystem.device();
        this.blockShift = Integer.numberOfTrailingZeros(device.blockSize());
    }

    // ---------------------------------------------------------------- validation

    /** Checks an I/O command as its capsule arrives: namespace, LBA range, MDTS, and the SGL its data comes by. */
    int prepare(Command c) {
        boolean known = switch (c.opcode) {
            case Sqe.IO_READ, Sqe.IO_WRITE, Sqe.IO_FLUSH, Sqe.IO_WRITE_ZEROES, Sqe.IO_DATASET_MANAGEMENT -> true;
            default -> false;
        };
        if (known && c.nsid != 1 && !(c.opcode == Sqe.IO_FLUSH && c.nsid == -1)) {
            return commandLog.logged(Status.INVALID_NAMESPACE, "namespace " + Integer.toUnsignedString(c.nsid)
                    + " does not exist");
        }
        switch (c.opcode) {
            case Sqe.IO_READ, Sqe.IO_WRITE -> {
                int status = range(c, (c.cdw12 & 0xFFFF) + 1L);
                if (status != Status.SUCCESS) {
                    return status;
                }
                long bytes = (long) c.blocks << blockShift;
                if (bytes > Identify.MAX_TRANSFER) {
                    return commandLog.logged(Status.INVALID_FIELD, "a transfer of " + bytes + " bytes exceeds MDTS");
                }
                c.length = (int) bytes;
                if (c.opcode == Sqe.IO_READ) {
                    return queue.transportSgl(c);
                }
                return c.inCapsule > 0 ? queue.inCapsuleSgl(c) : queue.transportSgl(c);
            }
            case Sqe.IO_FLUSH -> {
                return Status.SUCCESS;
            }
            case Sqe.IO_WRITE_ZEROES -> {
                if (!device.supports(IoType.WRITE_ZEROES)) {
                    return commandLog.logged(Status.INVALID_OPCODE, "Write Zeroes on a bdev without it");
                }
                return range(c, (c.cdw12 & 0xFFFF) + 1L);
            }
            case Sqe.IO_DATASET_MANAGEMENT -> {
                if (!device.supports(IoType.UNMAP)) {
                    return commandLog.logged(Status.INVALID_OPCODE, "Dataset Management on a bdev without unmap");
                }
                // the ranges take (NR + 1) * 16 bytes; the Linux host sends a whole 4 KiB page
                int needed = ((c.cdw10 & 0xFF) + 1) * 16;
                if (c.sglLength < needed || c.sglLength > 4096) {
                    return commandLog.logged(Status.DATA_SGL_LENGTH_INVALID, "Dataset Management of " + needed
                            + " bytes of ranges in an SGL of " + c.sglLength);
                }
                c.length = c.sglLength;
                return c.inCapsule > 0 ? queue.inCapsuleSgl(c) : queue.transportSgl(c);
            }
            default -> {
                return commandLog.logged(Status.INVALID_OPCODE, "I/O opcode " + hex(c.opcode));
            }
        }
    }

    private int range(Command c, long blocks) {
        long lba = (c.cdw10 & 0xFFFFFFFFL) | ((long) c.cdw11 << 32);
        long count = device.blockCount();
        if (lba < 0 || lba >= count || blocks > count - lba) {
            return commandLog.logged(Status.LBA_OUT_OF_RANGE, blocks + " blocks at LBA " + Long.toUnsignedString(lba)
                    + " on a namespace of " + count);
        }
        c.lba = lba;
        c.blocks = (int) blocks;
        return Status.SUCCESS;
    }

    // ---------------------------------------------------------------- execution

    /** The capsule (and its in-capsule data) is in: to the bdev, or an R2T for the data first. */
    void execute(Command c) {
        Controller controller = queue.controller();
        if (controller != null && !controller.serving()) {
            // reset (CC.EN 0) or ended: its queues are being deleted, and a capsule read from the socket since
            // must not reach the bdev (the host sends it again on its new association, then newer writes)
            c.status = Status.ABORT_SQ_DELETION;
            queue.respond(c);
            return;
        }
        AccessState access = device.accessState();
        if (!access.usable()) {
            // another node serves the volume now (or is about to): a path error, which a multipath
            // host answers by sending the command down its other path
            c.status = Status.ofAccess(access);
            commandLog.logOnce(c.status, "bdev " + device.name() + " is " + access + " through this node");
            queue.respond(c);
            return;
        }
        switch (c.opcode) {
            case Sqe.IO_READ -> {
                if (queue.allocate(c, c.length)) {
                    toBdev(c);
                    device.read(c.buffer, 0, c.lba, c.blocks, c, c);
                }
            }
            case Sqe.IO_WRITE -> {
                if (c.inCapsule > 0) {
                    submitWrite(c);
                } else if (queue.allocate(c, c.length)) {
                    queue.requestData(c);
                }
            }
            case Sqe.IO_FLUSH -> {
                if (device.supports(IoType.FLUSH)) {
                    toBdev(c);
                    device.flush(c, c);
                } else {
                    queue.respond(c);
                }
            }
            case Sqe.IO_WRITE_ZEROES -> {
                toBdev(c);
                device.writeZeroes(c.lba, c.blocks, c, c);
            }
            case Sqe.IO_DATASET_MANAGEMENT -> {
                if (c.inCapsule > 0) {
                    deallocate(c);
                } else if (queue.allocate(c, c.length)) {
                    queue.requestData(c);
                }
            }
            default -> throw new IllegalStateException("opcode " + c.opcode + " passed validation");
        }
    }

    /** The last H2CData of a command the R2T asked for has arrived, without error. */
    void dataReceived(Command c) {
        Controller controller = queue.controller();
        if (controller != null && !controller.serving()) { // reset while its data came (see execute)
            c.status = Status.ABORT_SQ_DELETION;
            queue.respond(c);
            return;
        }
        if (c.opcode == Sqe.IO_DATASET_MANAGEMENT) {
            deallocate(c);
        } else {
            submitWrite(c);
        }
    }

    private void submitWrite(Command c) {
        toBdev(c);
        device.write(c.buffer, 0, c.lba, c.blocks, c, c);
    }

    /** Dataset Management: the ranges are in the buffer; each deallocated range is one unmap, in turn. */
    private void deallocate(Command c) {
        if ((c.cdw11 & 0x4) == 0) {
            queue.respond(c); // only hints (integral read/write): nothing to do
            return;
        }
        ByteBuffer ranges = c.buffer.bytes();
        int count = (c.cdw10 & 0xFF) + 1;
        long capacity = device.blockCount();
        for (int i = 0; i < count; i++) {
            long blocks = ranges.getInt(i * 16 + 4) & 0xFFFFFFFFL;
            long lba = ranges.getLong(i * 16 + 8);
            if (blocks > 0 && (lba < 0 || lba >= capacity || blocks > capacity - lba)) {
                c.status = commandLog.logged(Status.LBA_OUT_OF_RANGE, "deallocate " + blocks + " blocks at LBA " + lba);
                queue.respond(c);
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
        queue.respond(c);
    }

    private void toBdev(Command c) {
        c.state = Command.State.IN_BDEV;
        subsystem.inFlight.incrementAndGet();
        queue.enteredBdev();
    }

    /** The bdev answered (on this reactor, from {@link Command#run}). */
    void bdevDone(Command c) {
        subsystem.inFlight.decrementAndGet();
        queue.leftBdev();
        if (queue.phase() == TargetQueue.Phase.CLOSED) {
            queue.release(c);
            return;
        }
        IoStatus outcome = c.ioStatus;
        if (outcome != IoStatus.SUCCESS) {
            AccessState access = device.accessState();
            // a nexus that lost its volume to another node fails what it held: a path error, never a media one
            c.status = access.usable() ? Status.of(outcome, c.opcode != Sqe.IO_READ) : Status.ofAccess(access);
            commandLog.logOnce(c.status, "bdev " + device.name() + ": " + outcome);
            queue.respond(c);
            return;
        }
        if ((c.opcode == Sqe.IO_WRITE || c.opcode == Sqe.IO_WRITE_ZEROES) && (c.cdw12 & FUA) != 0 && c.step == 0
                && device.supports(IoType.FLUSH)) {
            c.step = 1; // forced unit access: the write is acknowledged once it is durable
            toBdev(c);
            device.flush(c, c);
            return;
        }
        if (c.opcode == Sqe.IO_DATASET_MANAGEMENT) {
            nextRange(c);
            return;
        }
        queue.respond(c);
    }
}
