package io.mayastorj.nvmf.internal.target;

import static io.mayastorj.nvmf.internal.target.CommandLog.hex;

import io.mayastorj.core.bdev.BdevStats;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.buffer.BufferPool;
import io.mayastorj.nvmf.internal.protocol.Ana;
import io.mayastorj.nvmf.internal.protocol.ChangedNamespaces;
import io.mayastorj.nvmf.internal.protocol.Discovery;
import io.mayastorj.nvmf.internal.protocol.Identify;
import io.mayastorj.nvmf.internal.protocol.LbaStatus;
import io.mayastorj.nvmf.internal.protocol.Pdu;
import io.mayastorj.nvmf.internal.protocol.Sqe;
import io.mayastorj.nvmf.internal.protocol.Status;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * The admin command set of one controller, on its admin queue: Identify, Get LBA Status, Get Log
 * Page (ANA and discovery included), Set/Get Features, Keep Alive, Abort and the held Asynchronous
 * Event Requests. Made by the admin queue's Connect, next to the {@link Controller} it answers for
 * (its registers, features and keep-alive timer stay there); it reads the namespace's bdev but
 * never sends it I/O. How the answers move on the wire is {@link TargetQueue}'s.
 */
final class AdminCommands {

    private final TargetQueue queue;
    private final CommandLog commandLog;
    private final NvmfTarget target;
    private final Subsystem subsystem;
    private final Controller controller;
    /** The namespace's bdev; null for the discovery subsystem. */
    private final BlockDevice device;
    private final int blockShift;

    AdminCommands(TargetQueue queue, CommandLog commandLog, NvmfTarget target, Subsystem subsystem,
            Controller controller) {
        this.queue = queue;
        this.commandLog = commandLog;
        this.target = target;
        this.subsystem = subsystem;
        this.controller = controller;
        this.device = subsystem.device();
        this.blockShift = device == null ? 0 : Integer.numberOfTrailingZeros(device.blockSize());
    }

    /** Checks an admin command as its capsule arrives; allocates the buffer its in-capsule data goes to. */
    int prepare(Command c) {
        if (c.inCapsule > 0) {
            // only Set Features carries data to us on the admin queue (a timestamp, host behaviour)
            if (c.opcode != Sqe.ADMIN_SET_FEATURES) {
                return Status.SUCCESS; // refused after the data, as a command that takes none
            }
            return queue.inCapsuleBuffer(c);
        }
        return Status.SUCCESS;
    }

    /** The namespace size change count the Changed Namespace List being answered was built from. */
    private long sizeChangesInLog;
    /** The ANA change count the ANA log being answered was built as of. */
    private long anaChangesInLog;

    void execute(Command c) {
        if (c.inCapsule > 0 && c.opcode != Sqe.ADMIN_SET_FEATURES) {
            c.status = commandLog.logged(Status.INVALID_FIELD, "admin opcode " + hex(c.opcode) + " with in-capsule data");
            queue.respond(c);
            return;
        }
        switch (c.opcode) {
            case Sqe.ADMIN_IDENTIFY -> identify(c);
            case Sqe.ADMIN_GET_LOG_PAGE -> logPage(c);
            case LbaStatus.OPCODE -> lbaStatus(c);
            case Sqe.ADMIN_SET_FEATURES -> {
                setFeatures(c);
                queue.respond(c);
            }
            case Sqe.ADMIN_GET_FEATURES -> {
                getFeatures(c);
                queue.respond(c);
            }
            case Sqe.ADMIN_KEEP_ALIVE -> {
                controller.keepAlive();
                queue.respond(c);
            }
            case Sqe.ADMIN_ABORT -> {
                c.dw0 = 1; // not aborted: commands here complete on their own
                queue.respond(c);
            }
            case Sqe.ADMIN_ASYNC_EVENT -> {
                if (controller.heldEvents >= Controller.MAX_HELD_EVENTS) {
                    c.status = commandLog.logged(Status.ASYNC_EVENT_LIMIT_EXCEEDED, "more Asynchronous Event Requests than "
                            + Controller.MAX_HELD_EVENTS);
                    queue.respond(c);
                } else {
                    controller.heldEvents++;
                    c.state = Command.State.HELD; // answered when there is an event, or never
                }
            }
            default -> {
                c.status = commandLog.logged(Status.INVALID_OPCODE, "admin opcode " + hex(c.opcode));
                queue.respond(c);
            }
        }
    }

    /**
     * Answers one held Asynchronous Event Request with {@code dw0}; false when the host holds
     * none here. Admin queue, on its reactor.
     */
    boolean completeAsyncEvent(int dw0) {
        Command c = queue.firstHeld();
        if (c == null) {
            return false;
        }
        controller.heldEvents--;
        c.dw0 = dw0;
        c.status = Status.SUCCESS;
        queue.respond(c);
        return true;
    }

    /** A controller reset: the held Asynchronous Event Requests are aborted (§3.7.2), answered so. Admin queue reactor. */
    void abortHeldEvents() {
        Command c;
        while ((c = queue.firstHeld()) != null) {
            controller.heldEvents--;
            c.status = Status.ABORT_SQ_DELETION;
            queue.respond(c);
        }
    }

    private void identify(Command c) {
        if (c.sglType != Sqe.SGL_TRANSPORT_DATA_BLOCK || c.sglLength != Identify.SIZE) {
            c.status = commandLog.logged(Status.DATA_SGL_LENGTH_INVALID, "Identify with an SGL of " + c.sglLength + " bytes");
            queue.respond(c);
            return;
        }
        if (!queue.allocate(c, Identify.SIZE)) {
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
                    c.status = commandLog.logged(Status.INVALID_NAMESPACE, "Identify of namespace "
                            + Integer.toUnsignedString(c.nsid));
                } else {
                    Identify.namespace(page, device.blockCount(), blockShift, device.uuid(), false);
                }
            }
            case Identify.CNS_ACTIVE_NAMESPACES -> {
                if (c.nsid == -1 || c.nsid == -2) {
                    c.status = commandLog.logged(Status.INVALID_NAMESPACE, "active namespaces after "
                            + Integer.toUnsignedString(c.nsid));
                } else {
                    Identify.activeNamespaces(page, discovery ? Integer.MAX_VALUE : c.nsid);
                }
            }
            case Identify.CNS_DESCRIPTORS -> {
                if (discovery || c.nsid != 1) {
                    c.status = commandLog.logged(Status.INVALID_NAMESPACE, "namespace descriptors of "
                            + Integer.toUnsignedString(c.nsid));
                } else {
                    Identify.descriptors(page, device.uuid());
                }
            }
            case Identify.CNS_CSI_CONTROLLER, Identify.CNS_CSI_NAMESPACE -> {
                int csi = c.cdw11 >>> 24;
                if (discovery || csi != Identify.CSI_NVM) {
                    c.status = commandLog.unsupported(Status.INVALID_FIELD, "Identify CNS " + hex(cns) + " for command set "
                            + hex(csi));
                } else if (cns == Identify.CNS_CSI_CONTROLLER) {
                    Identify.nvmController(page, device.allocationUnit() > 0);
                } else if (c.nsid != 1) {
                    c.status = commandLog.logged(Status.INVALID_NAMESPACE, "Identify CNS 05h of "
                            + Integer.toUnsignedString(c.nsid));
                } else {
                    Identify.nvmNamespace(page, device.allocationUnit());
                }
            }
            default -> c.status = commandLog.unsupported(Status.INVALID_FIELD, "Identify CNS " + hex(cns));
        }
        queue.respond(c);
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
            c.status = commandLog.logged(Status.INVALID_NAMESPACE, "Get LBA Status of namespace "
                    + Integer.toUnsignedString(c.nsid));
        } else if (atype != LbaStatus.ATYPE_ALLOCATED || unit <= 0) {
            c.status = commandLog.unsupported(Status.INVALID_FIELD, "Get LBA Status action " + hex(atype)
                    + (unit <= 0 ? " (the bdev does not track its allocation)" : ""));
        } else if (c.sglType != Sqe.SGL_TRANSPORT_DATA_BLOCK || c.sglLength != bytes) {
            c.status = commandLog.logged(Status.DATA_SGL_LENGTH_INVALID, "Get LBA Status of " + bytes
                    + " bytes with an SGL of " + c.sglLength);
        } else if (bytes > BufferPool.MAX_BUFFER_SIZE) {
            c.status = commandLog.logged(Status.INVALID_FIELD, "Get LBA Status of " + bytes + " bytes");
        } else if (slba < 0 || slba >= device.blockCount()) {
            c.status = commandLog.logged(Status.LBA_OUT_OF_RANGE, "Get LBA Status from LBA " + Long.toUnsignedString(slba));
        } else {
            if (!queue.allocate(c, (int) bytes)) {
                return;
            }
            c.length = (int) bytes;
            long end = rangeLength == 0 ? device.blockCount() : Math.min(device.blockCount(), slba + rangeLength);
            LbaStatus.allocated(c.buffer.bytes(), (int) bytes, device::holdsData, unit, slba, end);
        }
        queue.respond(c);
    }

    private void logPage(Command c) {
        int lid = c.cdw10 & 0xFF;
        long dwords = (((c.cdw11 & 0xFFFFL) << 16) | (c.cdw10 >>> 16)) + 1;
        long bytes = dwords * 4;
        long offset = (c.cdw12 & 0xFFFFFFFFL) | ((long) c.cdw13 << 32);
        if (c.sglType != Sqe.SGL_TRANSPORT_DATA_BLOCK || c.sglLength != bytes) {
            c.status = commandLog.logged(Status.DATA_SGL_LENGTH_INVALID, "Get Log Page of " + bytes + " bytes with an SGL of "
                    + c.sglLength);
            queue.respond(c);
            return;
        }
        if (bytes > BufferPool.MAX_BUFFER_SIZE || (offset & 3) != 0) {
            c.status = commandLog.logged(Status.INVALID_FIELD, "Get Log Page of " + bytes + " bytes at offset " + offset);
            queue.respond(c);
            return;
        }
        ByteBuffer log = buildLog(lid, c.cdw10);
        if (log == null) {
            c.status = commandLog.unsupported(Status.INVALID_LOG_PAGE, "log page " + hex(lid));
            queue.respond(c);
            return;
        }
        if (offset < 0 || offset > log.capacity()) { // a 64-bit offset: negative when its top bit is set
            c.status = commandLog.logged(Status.INVALID_FIELD, "log page " + hex(lid) + " at offset " + offset
                    + " beyond its " + log.capacity() + " bytes");
            queue.respond(c);
            return;
        }
        if (!queue.allocate(c, (int) bytes)) {
            return;
        }
        c.length = (int) bytes;
        ByteBuffer out = c.buffer.bytes();
        int available = (int) Math.min(bytes, log.capacity() - offset);
        out.put(0, log, (int) offset, available);
        for (int i = available; i < bytes; i++) {
            out.put(i, (byte) 0);
        }
        if (lid == ChangedNamespaces.LOG_PAGE && !subsystem.isDiscovery() && (c.cdw10 & ChangedNamespaces.RAE) == 0) {
            controller.sizeLogRead(sizeChangesInLog); // read without retaining the event: cleared, the notice unmasked
        }
        if (lid == Ana.LOG_PAGE && (c.cdw10 & ChangedNamespaces.RAE) == 0) { // RAE: CDW10 bit 15, for any log page
            controller.anaLogRead(anaChangesInLog);
        }
        queue.respond(c);
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
                    log.putLong(160, stats.errors());       // media and data integrity errors (176: error log entries, none kept)
                }
            }
            case 0x03 -> {                                  // firmware slots
                log = Pdu.allocate(512);
                log.put(0, (byte) 1);
                log.put(8, "0.1".getBytes(StandardCharsets.US_ASCII));
            }
            case ChangedNamespaces.LOG_PAGE -> {
                log = Pdu.allocate(ChangedNamespaces.SIZE);
                if (!discovery) {
                    // only looked at here: the read clears the list once it is answered (a read parked for a buffer is
                    // built again, and one refused clears nothing)
                    sizeChangesInLog = controller.sizeChanges();
                    ChangedNamespaces.log(log, controller.sizeChangedSince(sizeChangesInLog));
                }
            }
            case Ana.LOG_PAGE -> {
                if (discovery) {
                    return null;
                }
                boolean groupsOnly = (cdw10 & Ana.RGO) != 0;
                log = Pdu.allocate(Ana.size(groupsOnly));
                anaChangesInLog = subsystem.anaChangeCount(); // the read unmasks notices once answered, without RAE
                Ana.log(log, anaChangesInLog, subsystem.access(), groupsOnly);
            }
            case Discovery.LOG_PAGE -> {
                if (!discovery) {
                    return null;
                }
                InetSocketAddress local = queue.localAddress();
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
            c.status = commandLog.logged(Status.FEATURE_NOT_SAVEABLE, "Set Features " + hex(fid) + " with save");
            return;
        }
        switch (fid) {
            case 0x07 -> {                                  // number of queues
                if (subsystem.isDiscovery()) {
                    c.status = commandLog.logged(Status.INVALID_FIELD, "number of queues on a discovery controller");
                } else if ((c.cdw11 & 0xFFFF) == 0xFFFF || c.cdw11 >>> 16 == 0xFFFF) { // 65536 queues: invalid (§5.27.1.11)
                    c.status = commandLog.logged(Status.INVALID_FIELD, "number of queues of 65536");
                } else if (controller.hasIoQueues()) {
                    c.status = commandLog.logged(Status.COMMAND_SEQUENCE_ERROR, "number of queues after I/O queues exist");
                } else {
                    c.dw0 = controller.negotiateQueues(c.cdw11 & 0xFFFF, c.cdw11 >>> 16);
                }
            }
            case 0x0B -> controller.asyncEventConfig(c.cdw11); // asynchronous event configuration
            case 0x0E -> { }                                     // timestamp: no clock to set
            case 0x0F -> controller.katoMillis(c.cdw11 == 0 && controller.subsystem().isDiscovery()
                    ? FabricsCommands.DISCOVERY_KATO_MILLIS : c.cdw11); // keep alive timer (TCP requires keep-alive);
                                                                         // a discovery controller's never off (as at Connect)
            default -> c.status = commandLog.unsupported(Status.INVALID_FIELD, "Set Features " + hex(fid));
        }
    }

    private void getFeatures(Command c) {
        int fid = c.cdw10 & 0xFF;
        int sel = (c.cdw10 >>> 8) & 7;
        if (sel > 3) {
            c.status = commandLog.logged(Status.INVALID_FIELD, "Get Features " + hex(fid) + " with SEL " + sel);
            return;
        }
        if (sel == 3) { // supported capabilities: nothing saveable or per namespace; which the host may change
            switch (fid) {
                case 0x01, 0x02, 0x06, 0x08 -> c.dw0 = 0;
                case 0x07 -> c.dw0 = subsystem.isDiscovery() ? 0 : 0x4;
                case 0x0B, 0x0F -> c.dw0 = 0x4;
                default -> c.status = commandLog.unsupported(Status.INVALID_FIELD, "Get Features " + hex(fid));
            }
            return;
        }
        if (sel != 0) { // default, or saved: none is saveable, so the saved value is the default
            switch (fid) {
                case 0x01, 0x02, 0x08, 0x0B -> c.dw0 = 0;
                case 0x06 -> c.dw0 = !subsystem.isDiscovery() && device.supports(IoType.FLUSH) ? 1 : 0;
                case 0x07 -> {
                    if (subsystem.isDiscovery()) {
                        c.status = commandLog.logged(Status.INVALID_FIELD, "number of queues on a discovery controller");
                    } else {
                        c.dw0 = (Controller.MAX_IO_QUEUES - 1) | (Controller.MAX_IO_QUEUES - 1) << 16;
                    }
                }
                case 0x0F -> c.dw0 = controller.connectKatoMillis();
                default -> c.status = commandLog.unsupported(Status.INVALID_FIELD, "Get Features " + hex(fid));
            }
            return;
        }
        switch (fid) {
            case 0x01, 0x02, 0x08 -> c.dw0 = 0;                 // arbitration, power management, coalescing
            case 0x06 -> c.dw0 = !subsystem.isDiscovery() && device.supports(IoType.FLUSH) ? 1 : 0;
            case 0x07 -> {
                if (subsystem.isDiscovery()) {
                    c.status = commandLog.logged(Status.INVALID_FIELD, "number of queues on a discovery controller");
                } else {
                    c.dw0 = controller.queuesDword();
                }
            }
            case 0x0B -> c.dw0 = controller.asyncEventConfig();
            case 0x0F -> c.dw0 = controller.katoMillis();
            default -> c.status = commandLog.unsupported(Status.INVALID_FIELD, "Get Features " + hex(fid));
        }
    }
}
