package io.mayastorj.nvmf.internal.host;

import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.reactor.Listener;
import io.mayastorj.core.reactor.Reactor;
import io.mayastorj.nvmf.internal.protocol.ControllerRegisters;
import io.mayastorj.nvmf.internal.protocol.Identify;
import io.mayastorj.nvmf.internal.protocol.LbaStatus;
import io.mayastorj.nvmf.internal.protocol.Sqe;
import io.mayastorj.nvmf.internal.protocol.Status;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.net.Inet6Address;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * One association with a remote controller: the admin queue, the I/O queues, and what Identify
 * said. Made by {@link #connect} in the order the Linux host uses (ICReq, Connect, CAP, CC.EN,
 * CSTS.RDY, Identify, Number of Queues, I/O queue Connects); it keeps itself alive with Keep Alive
 * and reports its first failure once. A new association is a new session.
 */
final class Session implements HostQueue.CloseListener {

    private static final Logger LOG = System.getLogger("mayastor.nvmf");
    static final int ADMIN_DEPTH = 32;
    private static final int CNTLID_ANY = 0xFFFF;
    private static final int CC_ENABLE = 0x00460001;   // IOCQES 4, IOSQES 6, EN
    private static final int CC_SHUTDOWN = 0x00464001; // and SHN = normal

    /** Where and as whom to connect. */
    record Target(InetSocketAddress address, String subnqn, String hostnqn, UUID hostId, boolean headerDigest,
                  boolean dataDigest) {
    }

    /** What the controller and its namespace 1 said about themselves. */
    /**
     * @param allocationUnit blocks per unit of the namespace's allocation report (TLBAAG) when the
     *                       controller reports allocated ranges (RALBAS), else 0
     */
    record Identity(int cntlid, String serial, String model, int maxTransfer, int inCapsule, boolean volatileCache,
                    int oncs, int blockSize, long blockCount, UUID uuid, int maxCommands, long allocationUnit) {

        int maxCommandsOrDefault() {
            return maxCommands == 0 ? 128 : maxCommands;
        }
    }

    /** A Connect the target refused, with its status and CQE dword 0 (for Invalid Parameters: IPO/IATTR). */
    static final class RefusedException extends IOException {
        final int status;
        final int dw0;

        RefusedException(String message, int status, int dw0) {
            super(message);
            this.status = status;
            this.dw0 = dw0;
        }
    }

    private final Host host;
    private final Target target;
    private final HostQueue.IoSink sink;
    private HostQueue admin;
    /** Added on the connector's thread while a failure may walk it on a reactor. */
    private final List<HostQueue> io = new java.util.concurrent.CopyOnWriteArrayList<>();
    private volatile boolean writesMayLand;
    /** The session failed because the target's side ended a connection: its queues' writes end with it. */
    private volatile boolean peerEnded;
    private Identity identity;
    private Consumer<String> failureListener; // both under this session's lock
    private boolean told;
    private volatile boolean failed;
    private volatile String failure;
    private volatile boolean closing;
    private Reactor.Timer keepAlive;

    private Session(Host host, Target target, HostQueue.IoSink sink) {
        this.host = host;
        this.target = target;
        this.sink = sink;
    }

    /** Connects, or throws with a message that says which step failed. Blocks; not on a reactor. */
    static Session connect(Host host, Target target, HostQueue.IoSink sink) throws IOException {
        Session session = new Session(host, target, sink);
        try {
            session.establish();
            return session;
        } catch (IOException | RuntimeException e) {
            session.closing = true;
            session.closeQueues();
            throw e;
        }
    }

    private void establish() throws IOException {
        List<Reactor> reactors = host.reactors();
        int timeout = host.connectTimeoutMillis();
        admin = HostQueue.open(target.address(), reactors.get(0), 0, ADMIN_DEPTH, sink, host.ioTimeoutNanos(),
                target.headerDigest(), target.dataDigest(), timeout, this);
        admin.inCapsuleLimit(8192);
        int[] connected = connectQueue(admin, 0, ADMIN_DEPTH - 1, CNTLID_ANY, host.keepAliveMillis());
        int cntlid = connected[0] & 0xFFFF;
        long cap = property(ControllerRegisters.CAP, true);
        int mqes = (int) (cap & 0xFFFF) + 1;
        long readyMillis = ((cap >>> 24) & 0xFF) * 500 + 500;
        setProperty(ControllerRegisters.CC, CC_ENABLE);
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(readyMillis);
        while ((property(ControllerRegisters.CSTS, false) & ControllerRegisters.CSTS_RDY) == 0) {
            if (System.nanoTime() > deadline) {
                throw new IOException("controller " + cntlid + " of " + target.subnqn() + " did not become ready in "
                        + readyMillis + " ms");
            }
            sleep(2);
        }
        identity = identify(cntlid);
        int wanted = reactors.size();
        int[] queues = adminCall(r -> {
            r.opcode = Sqe.ADMIN_SET_FEATURES;
            r.cdw10 = 0x07;
            r.cdw11 = (wanted - 1) | (wanted - 1) << 16;
        }, null, 0, HostRequest.Data.NONE, "Set Features (number of queues)");
        int granted = Math.min(wanted, Math.min(queues[0] & 0xFFFF, queues[0] >>> 16) + 1);
        int depth = Math.min(Math.min(mqes, host.queueDepth()), identity.maxCommandsOrDefault());
        for (int qid = 1; qid <= granted; qid++) {
            HostQueue queue = HostQueue.open(target.address(), reactors.get((qid - 1) % reactors.size()), qid, depth,
                    sink, host.ioTimeoutNanos(), target.headerDigest(), target.dataDigest(), timeout, this);
            io.add(queue);
            queue.inCapsuleLimit(identity.inCapsule());
            connectQueue(queue, qid, depth - 1, cntlid, 0);
        }
        scheduleKeepAlive();
        LOG.log(Level.INFO, "connected to {0} at {1}: controller {2}, {3} I/O queue(s) of {4}, {5} blocks of {6} B",
                target.subnqn(), hostPort(target.address()), cntlid, granted, depth, identity.blockCount(),
                identity.blockSize());
    }

    private int[] connectQueue(HostQueue queue, int qid, int sqsize, int cntlid, int kato) throws IOException {
        DmaBuffer data = host.buffers().allocate(4096);
        if (data == null) {
            throw new IOException("no buffer for Connect: the buffer pool is exhausted");
        }
        try {
            ByteBuffer bytes = data.bytes();
            for (int i = 0; i < Sqe.CONNECT_DATA_LENGTH; i += 8) {
                bytes.putLong(i, 0);
            }
            ByteBuffer big = bytes.duplicate().order(ByteOrder.BIG_ENDIAN);
            big.putLong(Sqe.CONNECT_DATA_HOSTID, target.hostId().getMostSignificantBits());
            big.putLong(Sqe.CONNECT_DATA_HOSTID + 8, target.hostId().getLeastSignificantBits());
            bytes.putShort(Sqe.CONNECT_DATA_CNTLID, (short) cntlid);
            putString(bytes, Sqe.CONNECT_DATA_SUBNQN, target.subnqn());
            putString(bytes, Sqe.CONNECT_DATA_HOSTNQN, target.hostnqn());
            CompletableFuture<int[]> result = new CompletableFuture<>();
            submit(queue, r -> {
                r.opcode = Sqe.FABRICS_OPCODE;
                r.fctype = Sqe.FCTYPE_CONNECT;
                r.cdw10 = qid << 16;
                r.cdw11 = sqsize;
                r.cdw12 = kato;
            }, data, Sqe.CONNECT_DATA_LENGTH, HostRequest.Data.TO_TARGET, result);
            int[] cqe = awaitHolding(result, data, "Connect of queue " + qid);
            if (cqe[0] != Status.SUCCESS) {
                if (failure != null) {
                    throw new IOException("Connect of queue " + qid + " failed: " + failure);
                }
                throw refused(cqe[0], cqe[1]);
            }
            return new int[] {cqe[1]};
        } finally {
            data.release();
        }
    }

    private RefusedException refused(int status, int dw0) {
        String where = target.subnqn() + " at " + hostPort(target.address());
        String why = switch (status) {
            case Status.CONNECT_INVALID_HOST -> "host " + target.hostnqn() + " is not allowed to connect to " + where;
            case Status.CONNECT_INVALID_PARAMETERS -> (dw0 >>> 16 & 1) == 1 && (dw0 & 0xFFFF) == Sqe.CONNECT_DATA_SUBNQN
                    ? "there is no subsystem " + where
                    : "Connect to " + where + " refused: invalid parameter at offset " + (dw0 & 0xFFFF)
                    + ((dw0 >>> 16 & 1) == 1 ? " of its data" : " of the command");
            case Status.CONNECT_CONTROLLER_BUSY -> where + " takes no new controllers";
            default -> "Connect to " + where + " failed with status 0x" + Integer.toHexString(status);
        };
        return new RefusedException(why, status, dw0);
    }

    private static void putString(ByteBuffer bytes, int offset, String text) {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        bytes.put(offset, b, 0, Math.min(b.length, 255));
    }

    private long property(int offset, boolean eightBytes) throws IOException {
        int[] cqe = adminCall(r -> {
            r.opcode = Sqe.FABRICS_OPCODE;
            r.fctype = Sqe.FCTYPE_PROPERTY_GET;
            r.cdw10 = eightBytes ? 1 : 0;
            r.cdw11 = offset;
        }, null, 0, HostRequest.Data.NONE, "Property Get 0x" + Integer.toHexString(offset));
        return (cqe[0] & 0xFFFFFFFFL) | (eightBytes ? (long) cqe[1] << 32 : 0);
    }

    private void setProperty(int offset, int value) throws IOException {
        adminCall(r -> {
            r.opcode = Sqe.FABRICS_OPCODE;
            r.fctype = Sqe.FCTYPE_PROPERTY_SET;
            r.cdw10 = 0;
            r.cdw11 = offset;
            r.cdw12 = value;
        }, null, 0, HostRequest.Data.NONE, "Property Set 0x" + Integer.toHexString(offset));
    }

    private Identity identify(int cntlid) throws IOException {
        DmaBuffer page = host.buffers().allocate(Identify.SIZE);
        if (page == null) {
            throw new IOException("no buffer for Identify: the buffer pool is exhausted");
        }
        try {
            ByteBuffer p = page.bytes();
            identifyInto(page, Identify.CNS_CONTROLLER, 0);
            int reportedCntlid = p.getShort(78) & 0xFFFF;
            if (reportedCntlid != cntlid) {
                throw new IOException("Identify says controller " + reportedCntlid + ", Connect said " + cntlid);
            }
            String serial = Identify.readAscii(p, 4, 20);
            String model = Identify.readAscii(p, 24, 40);
            int mdts = p.get(77) & 0xFF;
            int maxTransfer = mdts == 0 || mdts > 9 ? 2 << 20 : (1 << mdts) * 4096;
            int maxCommands = p.getShort(514) & 0xFFFF;
            int oncs = p.getShort(520) & 0xFFFF;
            boolean vwc = (p.get(525) & 1) != 0;
            int ioccsz = p.getInt(1792);
            int icdoff = p.getShort(1800) & 0xFFFF;
            // in-capsule data goes right after the command (SGL offset 0): a target that wants it ICDOFF units
            // further on would read other bytes, so such a target gets none (its data by R2T; Linux refuses it)
            int inCapsule = ioccsz >= 4 && icdoff == 0 ? ioccsz * 16 - 64 : 0;
            String subnqn = Identify.readAscii(p, 768, 256);
            if (!subnqn.isEmpty() && !subnqn.equals(target.subnqn())) {
                throw new IOException("the controller belongs to " + subnqn + ", not " + target.subnqn());
            }
            identifyInto(page, Identify.CNS_NAMESPACE, 1);
            long blocks = p.getLong(0);
            int format = p.get(26) & 0xF;
            int lbads = p.get(128 + 4 * format + 2) & 0xFF;
            int metadata = p.getShort(128 + 4 * format) & 0xFFFF;
            if (blocks <= 0 || lbads < 9 || lbads > 12 || metadata != 0) {
                throw new IOException("namespace 1 of " + target.subnqn() + " is not usable: " + blocks + " blocks of 2^"
                        + lbads + " bytes with " + metadata + " bytes of metadata");
            }
            byte[] nguid = new byte[16];
            p.get(104, nguid);
            UUID uuid = null;
            identifyInto(page, Identify.CNS_DESCRIPTORS, 1);
            for (int at = 0; at + 4 <= Identify.SIZE; ) {
                int type = p.get(at) & 0xFF;
                int length = p.get(at + 1) & 0xFF;
                if (type == 0 || length == 0 || at + 4 + length > Identify.SIZE) {
                    break;
                }
                if ((type == 3 || (type == 2 && uuid == null)) && length == 16) {
                    ByteBuffer big = p.duplicate().order(ByteOrder.BIG_ENDIAN);
                    uuid = new UUID(big.getLong(at + 4), big.getLong(at + 12));
                }
                at += 4 + length;
            }
            if (uuid == null) {
                ByteBuffer big = ByteBuffer.wrap(nguid);
                uuid = new UUID(big.getLong(0), big.getLong(8));
            }
            if (uuid.getMostSignificantBits() == 0 && uuid.getLeastSignificantBits() == 0) {
                throw new IOException("namespace 1 of " + target.subnqn() + " has no UUID or NGUID");
            }
            return new Identity(cntlid, serial, model, maxTransfer, inCapsule, vwc, oncs, 1 << lbads, blocks, uuid,
                    maxCommands, allocationUnit(page));
        } finally {
            page.release();
        }
    }

    /** Namespace 1's size now (Identify Namespace): larger than at connect once the volume grew. Blocking. */
    long namespaceBlocks() throws IOException {
        DmaBuffer page = host.buffers().allocate(Identify.SIZE);
        if (page == null) {
            throw new IOException("no buffer for Identify: the buffer pool is exhausted");
        }
        try {
            identifyInto(page, Identify.CNS_NAMESPACE, 1);
            return page.bytes().getLong(0);
        } finally {
            page.release();
        }
    }

    private void identifyInto(DmaBuffer page, int cns, int nsid) throws IOException {
        adminCall(r -> {
            r.opcode = Sqe.ADMIN_IDENTIFY;
            r.nsid = nsid;
            r.cdw10 = cns;
            r.cdw11 = Identify.CSI_NVM << 24;
        }, page, Identify.SIZE, HostRequest.Data.TO_HOST, "Identify (CNS " + cns + ")");
    }

    /**
     * The unit of the namespace's allocation report, when the controller has one (RALBAS in the NVM
     * command set's Identify Controller, TLBAAG in its Identify Namespace); 0 when it has not, or
     * does not know these Identify pages (an NVMe 1.x controller answers Invalid Field).
     */
    private long allocationUnit(DmaBuffer page) {
        try {
            identifyInto(page, Identify.CNS_CSI_CONTROLLER, 0);
            if ((page.bytes().getShort(LbaStatus.AOCS) & 1) == 0) {
                return 0;
            }
            identifyInto(page, Identify.CNS_CSI_NAMESPACE, 1);
            return page.bytes().getInt(LbaStatus.TLBAAG) & 0xFFFF_FFFFL;
        } catch (IOException e) {
            return 0;
        }
    }

    /**
     * The namespace's allocated ranges (Get LBA Status, action 02h), whole namespace, as many
     * commands as its answer needs: each range to {@code ranges}. Blocking; not on a reactor.
     */
    void allocatedRanges(AllocationMap ranges) throws IOException {
        int bytes = 64 * 1024;
        DmaBuffer data = host.buffers().allocate(bytes);
        if (data == null) {
            throw new IOException("no buffer for Get LBA Status: the buffer pool is exhausted");
        }
        try {
            long next = 0;
            for (int round = 0; round < 1 << 20 && next < identity.blockCount(); round++) {
                long slba = next;
                adminCall(r -> {
                    r.opcode = LbaStatus.OPCODE;
                    r.nsid = 1;
                    r.cdw10 = (int) slba;
                    r.cdw11 = (int) (slba >>> 32);
                    r.cdw12 = bytes / 4 - 1;
                    r.cdw13 = LbaStatus.ATYPE_ALLOCATED << 24; // RL 0: to the end of the namespace
                }, data, bytes, HostRequest.Data.TO_HOST, "Get LBA Status");
                long after = absorbReport(data.bytes(), (bytes - LbaStatus.HEADER) / LbaStatus.DESCRIPTOR, slba,
                        identity.blockCount(), ranges);
                if (after < 0) {
                    return;
                }
                next = after;
            }
            if (next < identity.blockCount()) {
                throw new IOException("Get LBA Status still incomplete at block " + next + " after " + (1 << 20) + " commands");
            }
        } finally {
            data.release();
        }
    }

    /**
     * Takes one Get LBA Status answer asked from block {@code from} into {@code ranges}: -1 when it
     * covers the rest of the namespace, else the block to ask from next. More is to come when the
     * target says so, said more than the buffer holds ({@code fit} descriptors), or gave no indication
     * with the buffer full: taken for complete, the map lacks what it never saw, and a thin rebuild
     * from this replica skips (or zeroes) data it holds. An answer outside the namespace, or one
     * incomplete that does not move on, is an IOException.
     */
    static long absorbReport(ByteBuffer answer, int fit, long from, long blockCount, AllocationMap ranges) throws IOException {
        long reportedCount = LbaStatus.count(answer) & 0xFFFF_FFFFL; // unsigned
        int count = (int) Math.min(reportedCount, fit);
        long next = from;
        for (int i = 0; i < count; i++) {
            long start = LbaStatus.start(answer, i);
            long length = LbaStatus.length(answer, i);
            if (start < 0 || start >= blockCount || length > blockCount - start) {
                // a report outside the namespace (a target's bug): nothing of it is believed
                throw new IOException("Get LBA Status reported " + length + " blocks at " + Long.toUnsignedString(start)
                        + ", outside the namespace's " + blockCount);
            }
            ranges.reported(start, length);
            next = Math.max(next, start + length);
        }
        boolean more = !LbaStatus.complete(answer) || reportedCount > count || LbaStatus.condition(answer) == 0 && count == fit;
        if (!more) {
            return -1;
        }
        if (next == from) {
            // incomplete, and asked again it would say the same: what lies past it is not known
            throw new IOException("Get LBA Status " + (count == 0 ? "reported nothing and not the end" : "did not move on")
                    + " past block " + from);
        }
        return next;
    }

    /** An admin command, waited for; a non-success status is an IOException naming the command. */
    private int[] adminCall(Consumer<HostRequest> fill, DmaBuffer data, int length, HostRequest.Data direction,
                            String what) throws IOException {
        CompletableFuture<int[]> result = new CompletableFuture<>();
        submit(admin, fill, data, length, direction, result);
        int[] cqe = awaitHolding(result, data, what);
        if (cqe[0] != Status.SUCCESS) {
            String lost = failure;
            throw new IOException(what + " failed " + (lost != null ? "(" + lost + ")"
                    : "with status 0x" + Integer.toHexString(cqe[0])));
        }
        return new int[] {cqe[1], cqe[2]};
    }

    private static void submit(HostQueue queue, Consumer<HostRequest> fill, DmaBuffer data, int length,
                               HostRequest.Data direction, CompletableFuture<int[]> result) throws IOException {
        HostRequest r = queue.take();
        if (r == null) {
            throw new IOException(queue + " has no free command slot");
        }
        fill.accept(r);
        r.data = direction;
        r.buffer = data;
        r.bufferOffset = 0;
        r.length = length;
        r.admin = (status, dw0, dw1) -> result.complete(new int[] {status, dw0, dw1});
        queue.post(r);
    }

    /**
     * A command's answer, waited for the connect timeout. A command that is not answered by then is
     * still outstanding on its queue (closed only after the I/O timeout, which may be longer) and
     * its answer may still arrive: its buffer stays the queue's ({@link DmaBuffer#pin()}) until the
     * command completes or its queue closes, so the caller's release cannot hand memory the answer
     * would be written into to another owner.
     */
    private <T> T awaitHolding(CompletableFuture<T> future, DmaBuffer data, String what) throws IOException {
        try {
            return await(future, host.connectTimeoutMillis(), what);
        } catch (IOException e) {
            if (data != null && !future.isDone()) {
                data.pin();
                future.whenComplete((answer, failure) -> data.unpin()); // at once if it completed meanwhile
            }
            throw e;
        }
    }

    static <T> T await(CompletableFuture<T> future, long timeoutMillis, String what) throws IOException {
        try {
            return future.get(timeoutMillis, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            throw cause instanceof IOException io ? io : new IOException(what + ": " + cause, cause);
        } catch (TimeoutException e) {
            throw new IOException("no answer to " + what + " in " + timeoutMillis + " ms");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for " + what);
        }
    }

    private static void sleep(long millis) throws IOException {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted");
        }
    }

    static String hostPort(InetSocketAddress address) {
        return Listener.hostPort(address);
    }

    // ---------------------------------------------------------------- running

    Identity identity() {
        return identity;
    }

    List<HostQueue> ioQueues() {
        return io;
    }

    HostQueue adminQueue() {
        return admin;
    }

    Target target() {
        return target;
    }

    /** Who hears of the first failure (a queue lost, a keep-alive unanswered). */
    /**
     * Who hears that the session failed, once. A session that failed before its listener came (a
     * queue closed between the connect and the bdev's attach) tells it at once.
     */
    void onFailure(Consumer<String> listener) {
        boolean now;
        synchronized (this) {
            failureListener = listener;
            now = failed && !told;
            told |= now;
        }
        if (now) {
            listener.accept(failure);
        }
    }

    private void scheduleKeepAlive() {
        long period = Math.max(1000, host.keepAliveMillis() / 2);
        keepAlive = admin.reactor().schedule(period, TimeUnit.MILLISECONDS, this::sendKeepAlive);
    }

    private void sendKeepAlive() {
        if (closing || failed) {
            return;
        }
        HostRequest r = admin.take();
        if (r != null) {
            r.opcode = Sqe.ADMIN_KEEP_ALIVE;
            r.admin = (status, dw0, dw1) -> {
                if (status != Status.SUCCESS && !closing) {
                    fail("Keep Alive failed with status 0x" + Integer.toHexString(status));
                }
            };
            admin.post(r);
        }
        scheduleKeepAlive();
    }

    @Override
    public void closed(HostQueue queue, String why) {
        if (why != null && !closing) {
            fail("queue " + queue.qid + ": " + why, queue);
        }
    }

    @Override
    public void writesMayLand(HostQueue queue) {
        if (closing || peerEnded) {
            // a bdev closing (its I/O drained: nothing of it left), or a queue shut down by a failure whose target
            // had closed its side: that queue did not see its own connection end first, the target did end it
            return;
        }
        fence();
    }

    /** No new connection to the target until it must have ended this association (see {@link Host#fence}). */
    private void fence() {
        host.fence(target, System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(fenceMillis(host)));
    }

    /**
     * How long a target takes at most to give up an association whose host went silent, counted from
     * the loss: the keep-alive timeout (its silence began at the last Keep Alive, before the loss) and
     * half of it again for the target's timer.
     */
    static long fenceMillis(Host host) {
        return host.keepAliveMillis() * 3L / 2;
    }

    private void fail(String why) {
        fail(why, null);
    }

    /**
     * The session is lost ({@code failing}: the queue whose close said so, or null for the admin's
     * Keep Alive). Whether writes may still land at the target is decided here, once, before the other
     * queues close: a write unanswered on any queue counts, unless the target's side ended the connection.
     */
    private void fail(String why, HostQueue failing) {
        synchronized (this) {
            if (failed || closing) {
                return;
            }
            failed = true;
            failure = why;
        }
        peerEnded = failing != null && failing.peerClosed();
        boolean writes = failing != null && failing.writesMayLand();
        for (HostQueue queue : io) {
            writes |= queue != failing && queue.writesUnanswered();
        }
        writesMayLand = writes && (failing == null || !failing.peerClosed());
        if (writesMayLand) {
            fence(); // (the failing queue fenced already when it closed with writes; another queue's count here)
        }
        if (keepAlive != null) {
            keepAlive.cancel();
        }
        closeQueues();
        Consumer<String> listener;
        synchronized (this) {
            listener = told ? null : failureListener;
            told |= listener != null;
        }
        if (listener != null) {
            listener.accept(why);
        }
    }

    /** Shuts the controller down (CC.SHN, then CSTS.SHST) and closes the queues. */
    void close() {
        synchronized (this) {
            if (closing) {
                return;
            }
            closing = true;
        }
        if (keepAlive != null) {
            keepAlive.cancel();
        }
        for (HostQueue queue : io) {
            queue.shutdown();
        }
        if (!failed && admin != null && admin.isLive()) {
            try {
                setProperty(ControllerRegisters.CC, CC_SHUTDOWN);
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
                while ((property(ControllerRegisters.CSTS, false) & (3 << 2)) != ControllerRegisters.CSTS_SHST_COMPLETE
                        && System.nanoTime() < deadline) {
                    sleep(10);
                }
            } catch (IOException e) {
                LOG.log(Level.DEBUG, "shutting down controller of {0}: {1}", target.subnqn(), e.getMessage());
            }
        }
        closeQueues();
    }

    private void closeQueues() {
        for (HostQueue queue : io) {
            queue.shutdown();
        }
        if (admin != null) {
            admin.shutdown();
        }
    }

    boolean isFailed() {
        return failed;
    }

    /** Whether the session was lost with writes the target may still make (decided when it failed). */
    boolean writesMayLand() {
        return writesMayLand;
    }
}
