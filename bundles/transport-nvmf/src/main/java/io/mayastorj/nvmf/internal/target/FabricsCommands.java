package io.mayastorj.nvmf.internal.target;

import static io.mayastorj.nvmf.internal.target.CommandLog.hex;

import io.mayastorj.nvmf.internal.protocol.Sqe;
import io.mayastorj.nvmf.internal.protocol.Status;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * The Fabrics command set (opcode 7Fh) on one queue: Connect, which makes a controller (admin queue)
 * or joins one (I/O queue) and binds the queue to it; Property Get/Set on that controller's
 * registers; Disconnect. One per connection, made with it: Connect is what turns a connection into
 * a queue, so these commands come before the queue knows its controller, and the admin and I/O
 * command sets exist only after.
 */
final class FabricsCommands {

    private static final Logger LOG = System.getLogger("mayastor.nvmf");

    private static final int CNTLID_ANY = 0xFFFF;

    private final TargetQueue queue;
    private final CommandLog commandLog;
    private final NvmfTarget target;

    FabricsCommands(TargetQueue queue, CommandLog commandLog, NvmfTarget target) {
        this.queue = queue;
        this.commandLog = commandLog;
        this.target = target;
    }

    /** Checks a Fabrics command as its capsule arrives; allocates the buffer Connect's data goes to. */
    int prepare(Command c) {
        return switch (c.fctype) {
            case Sqe.FCTYPE_CONNECT -> {
                if (queue.phase() != TargetQueue.Phase.AWAIT_CONNECT) {
                    yield commandLog.logged(Status.COMMAND_SEQUENCE_ERROR, "Connect on a queue that is connected already");
                }
                if (c.inCapsule != Sqe.CONNECT_DATA_LENGTH || c.sglType != Sqe.SGL_DATA_BLOCK_OFFSET
                        || c.sglLength != Sqe.CONNECT_DATA_LENGTH) {
                    yield commandLog.logged(Status.DATA_SGL_LENGTH_INVALID,
                            "Connect without its 1024 bytes of data in the capsule");
                }
                yield queue.inCapsuleBuffer(c);
            }
            case Sqe.FCTYPE_PROPERTY_GET, Sqe.FCTYPE_PROPERTY_SET, Sqe.FCTYPE_DISCONNECT -> {
                if (queue.phase() != TargetQueue.Phase.LIVE) {
                    yield commandLog.logged(Status.COMMAND_SEQUENCE_ERROR, "a command before Connect");
                }
                if (c.fctype != Sqe.FCTYPE_DISCONNECT && queue.qid() != 0) {
                    yield commandLog.logged(Status.INVALID_OPCODE, "Property Get/Set on an I/O queue");
                }
                yield Status.SUCCESS;
            }
            default -> commandLog.logged(Status.INVALID_OPCODE, "fabrics command type " + hex(c.fctype));
        };
    }

    void execute(Command c) {
        switch (c.fctype) {
            case Sqe.FCTYPE_CONNECT -> connect(c);
            case Sqe.FCTYPE_PROPERTY_GET -> {
                int size = c.cdw10 & 0x7; // ATTRIB: 0 = 4 bytes, 1 = 8 bytes
                long value = queue.controller().property(c.cdw11);
                if (value == -1 || size > 1) {
                    c.status = commandLog.logged(Status.INVALID_FIELD, "Property Get of offset " + hex(c.cdw11));
                } else {
                    c.dw0 = (int) value;
                    c.dw1 = size == 1 ? (int) (value >>> 32) : 0;
                }
                queue.respond(c);
            }
            case Sqe.FCTYPE_PROPERTY_SET -> {
                long value = (c.cdw12 & 0xFFFFFFFFL) | ((long) c.cdw13 << 32);
                if (!queue.controller().setProperty(c.cdw11, value)) {
                    c.status = commandLog.logged(Status.INVALID_FIELD, "Property Set of offset " + hex(c.cdw11));
                }
                queue.respond(c);
            }
            case Sqe.FCTYPE_DISCONNECT -> {
                queue.closeAfterResponses();
                queue.respond(c);
            }
            default -> throw new IllegalStateException("fabrics type " + c.fctype + " passed validation");
        }
    }

    /** How long an admin Connect waits for the commands of the host's earlier controller at the bdev. */
    private static final long EARLIER_WAIT_NANOS = TimeUnit.SECONDS.toNanos(10);

    /** The keep-alive timeout of a discovery controller connected without one (nvmet's NVMET_DISC_KATO_MS). */
    static final int DISCOVERY_KATO_MILLIS = 120_000;

    private void connect(Command c) {
        ByteBuffer data = c.buffer.bytes();
        int recfmt = c.cdw10 & 0xFFFF;
        int queueId = c.cdw10 >>> 16;
        int sqsize = c.cdw11 & 0xFFFF;
        int cattr = (c.cdw11 >>> 16) & 0xFF;
        int kato = c.cdw12 < 0 ? Integer.MAX_VALUE : c.cdw12; // unsigned: 2^31 ms and more read as negative turned keep-alive off
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
            if (heldForEarlier(c, sub, hostnqn)) {
                return;
            }
            // a discovery controller without a keep-alive gets Linux's target's 2 minutes: kept for good, a
            // client looping connect-and-keep passed the cap on connections not yet connected, each one a socket
            // and a timer (a host reading the log disconnects long before; a persistent one sends keep-alives)
            joined = sub.newController(queue, hostnqn, hostid, kato == 0 && sub.isDiscovery() ? DISCOVERY_KATO_MILLIS : kato);
            if (joined == null) {
                refuse(c, Status.CONNECT_CONTROLLER_BUSY, 0, "subsystem " + subnqn + " takes no new controllers");
                return;
            }
            LOG.log(Level.INFO, "{0}: controller {1} of {2} for host {3}{4}", queue.peer(), joined.cntlid(), subnqn, hostnqn,
                    kato > 0 ? ", keep-alive " + kato + " ms" : "");
        } else {
            joined = sub.controller(cntlid);
            if (joined == null || !joined.hostNqn().equals(hostnqn)) {
                refuseParameter(c, true, Sqe.CONNECT_DATA_CNTLID, "no controller " + cntlid + " of " + subnqn
                        + " for host " + hostnqn);
                return;
            }
            switch (joined.attach(queueId, queue)) {
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
        queue.connected(sub, joined, queueId, sqsize + 1, (cattr & 0x4) == 0);
        c.dw0 = joined.cntlid();
        queue.respond(c);
    }

    /**
     * A host that reconnects (a reset, error recovery) sends again what it had in flight, and newer
     * writes after it: a write of its earlier association still at the bdev would land over them. Its
     * admin Connect is answered once those have ended (as an iSCSI reinstatement is), or refused as
     * Controller Busy (the host tries again) when they do not end in time. True while it is held.
     */
    private boolean heldForEarlier(Command c, Subsystem sub, String hostnqn) {
        int earlier = sub.earlierAtBdev(hostnqn);
        if (earlier == 0) {
            return false;
        }
        long now = System.nanoTime();
        if (c.heldSince == 0) {
            c.heldSince = now;
            LOG.log(Level.INFO, "{0}: Connect of host {1} to {2} waits for {3} command(s) of its earlier controller still "
                    + "at the bdev", queue.peer(), hostnqn, sub.nqn(), earlier);
        } else if (now - c.heldSince > EARLIER_WAIT_NANOS) {
            refuse(c, Status.CONNECT_CONTROLLER_BUSY, 0, "host " + hostnqn + "'s earlier controller of " + sub.nqn()
                    + " still has " + earlier + " command(s) at the bdev after "
                    + TimeUnit.NANOSECONDS.toSeconds(EARLIER_WAIT_NANOS) + " s");
            return true;
        }
        queue.reactor().schedule(2, TimeUnit.MILLISECONDS, () -> {
            if (queue.phase() != TargetQueue.Phase.CLOSED) { // closed: the command went with the queue
                connect(c);
            }
        });
        return true;
    }

    private void refuse(Command c, int status, int dw0, String why) {
        c.status = status;
        c.dw0 = dw0;
        LOG.log(Level.WARNING, "{0}: Connect refused: {1}", queue.peer(), why);
        queue.respond(c);
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
}
