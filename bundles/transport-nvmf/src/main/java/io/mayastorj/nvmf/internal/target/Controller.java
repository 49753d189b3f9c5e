package io.mayastorj.nvmf.internal.target;

import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.reactor.Reactor;
import io.mayastorj.nvmf.internal.protocol.Ana;
import io.mayastorj.nvmf.internal.protocol.ChangedNamespaces;
import io.mayastorj.nvmf.internal.protocol.ControllerRegisters;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A dynamic controller: made by an admin queue's Connect, joined by I/O queues that name its
 * CNTLID, gone when its admin queue closes or its keep-alive timer expires. Its registers and
 * features change only on the admin queue's reactor; I/O queues join from theirs, so the queue
 * table is guarded by this object.
 */
final class Controller {

    private static final Logger LOG = System.getLogger("mayastor.nvmf");

    /** I/O queues a controller grants at most; the Linux host asks for one per CPU. */
    static final int MAX_IO_QUEUES = 16;
    /** Entries per queue (CAP.MQES + 1); the Linux host asks for 128. */
    static final int MAX_QUEUE_ENTRIES = 128;
    /** Asynchronous Event Requests held at once (ACL/AERL + 1). */
    static final int MAX_HELD_EVENTS = 4;

    private final Subsystem subsystem;
    private final int cntlid;
    private final String hostNqn;
    private final String hostId;
    /** Keep Alive Timeout, rounded up to whole KAS units (1 s); 0: none. Admin reactor. */
    private int katoMillis;
    /** The one the Connect asked for (rounded): the feature's default. */
    private final int connectKatoMillis;
    private final TargetQueue admin;
    private final TargetQueue[] ioQueues = new TargetQueue[MAX_IO_QUEUES + 1];
    private volatile boolean destroyed; // read by its I/O queues' reactors before each command

    // registers and features: admin reactor only
    private int cc;
    private volatile int csts; // written on the admin reactor; read by a Connect of the same host on another
    private int grantedIoQueues = MAX_IO_QUEUES;
    private boolean queuesNegotiated;
    private int asyncEventConfig;
    int heldEvents;
    private long lastKeepAlive = System.nanoTime();
    /**
     * The ANA change count as of the host's last read of the ANA log without RAE, and whether a notice
     * of a later change is out: further notices wait until the host reads the log so (§5.2.1; a read
     * with RAE, as `nvme ana-log` makes, leaves the event pending).
     */
    private long anaSeen;
    private boolean anaNoticeOut;
    /**
     * The namespace size change count as of the host's last read of the Changed Namespace List, and
     * whether a notice of a later one is out: further notices wait until the host reads the log (§5.2.1).
     */
    private long sizeSeen;
    private boolean sizeNoticeOut;
    private Reactor.Timer keepAliveTimer;
    /** Looks for ANA and size changes to notice (the bdev has a state, no event), keep-alive or not. */
    private Reactor.Timer anaTimer;
    /** How often: a moving volume's old path is noticed well within the host's ANATT. */
    private static final long ANA_LOOK_MILLIS = 200;

    Controller(Subsystem subsystem, int cntlid, String hostNqn, String hostId, int katoMillis, TargetQueue admin) {
        this.subsystem = subsystem;
        this.cntlid = cntlid;
        this.hostNqn = hostNqn;
        this.hostId = hostId;
        this.katoMillis = roundedKato(katoMillis);
        this.connectKatoMillis = this.katoMillis;
        this.admin = admin;
        this.sizeSeen = subsystem.sizeChangeCount(); // a change before it connected is in what it identifies
        if (katoMillis > 0) {
            scheduleKeepAliveCheck();
        }
        scheduleAnaLook();
    }

    private void scheduleAnaLook() {
        anaTimer = admin.reactor().schedule(ANA_LOOK_MILLIS, TimeUnit.MILLISECONDS, () -> {
            synchronized (this) {
                if (destroyed) {
                    return;
                }
            }
            noticeAnaChange();
            noticeSizeChange();
            scheduleAnaLook();
        });
    }

    int cntlid() {
        return cntlid;
    }

    String hostNqn() {
        return hostNqn;
    }

    /** Where the host's admin queue connects from. */
    String peer() {
        String peer = admin.peer();
        return peer.startsWith("/") ? peer.substring(1) : peer;
    }

    String hostId() {
        return hostId;
    }

    Subsystem subsystem() {
        return subsystem;
    }

    int katoMillis() {
        return katoMillis;
    }

    int connectKatoMillis() {
        return connectKatoMillis;
    }

    // ---------------------------------------------------------------- registers

    long property(int offset) {
        return switch (offset) {
            case ControllerRegisters.CAP -> ControllerRegisters.capabilities(MAX_QUEUE_ENTRIES);
            case ControllerRegisters.VS -> ControllerRegisters.VERSION;
            case ControllerRegisters.CC -> cc & 0xFFFFFFFFL;
            case ControllerRegisters.CSTS -> csts & 0xFFFFFFFFL;
            default -> -1;
        };
    }

    /** Property Set: only CC is writable. False for any other offset. */
    boolean setProperty(int offset, long value) {
        if (offset != ControllerRegisters.CC) {
            return false;
        }
        int old = cc;
        cc = (int) value;
        boolean wasEnabled = (old & ControllerRegisters.CC_EN) != 0;
        boolean enabled = (cc & ControllerRegisters.CC_EN) != 0;
        if (enabled && !wasEnabled) {
            csts |= ControllerRegisters.CSTS_RDY;
        } else if (!enabled && wasEnabled) {
            // a controller reset (§3.7.2) deletes the I/O queues, aborts the held event requests and puts the
            // features back: a re-enabled controller would refuse the host's new AERs past the limit, and
            // answer a new Number of Queues with the old grant
            csts &= ~(ControllerRegisters.CSTS_RDY | 3 << 2);
            closeIoQueues("controller " + cntlid + " was reset by the host");
            admin.adminCommands().abortHeldEvents();
            queuesNegotiated = false;
            grantedIoQueues = MAX_IO_QUEUES;
            asyncEventConfig = 0;
            anaNoticeOut = false; // the notices aborted with their requests: the next ones may go
            sizeNoticeOut = false;
            katoMillis(connectKatoMillis);
        }
        int shn = (cc >> ControllerRegisters.CC_SHN_SHIFT) & 3;
        int oldShn = (old >> ControllerRegisters.CC_SHN_SHIFT) & 3;
        if (shn != 0 && oldShn == 0) {
            shutDown();
        } else if (shn == 0 && oldShn != 0) {
            csts &= ~(3 << 2); // SHN cleared: no shutdown any more (SHST 00b), as nvmet does
        }
        return true;
    }

    /**
     * CC.SHN: the volatile write cache this controller reports (VWC) is committed before SHST says
     * complete — a host that disconnects sends no Flush and trusts the shutdown with that
     * (Linux polls SHST for its shutdown timeout). A flush that fails leaves SHST processing.
     */
    private void shutDown() {
        csts = (csts & ~(3 << 2)) | ControllerRegisters.CSTS_SHST_PROCESSING;
        BlockDevice device = subsystem.device();
        if (device == null || !device.supports(IoType.FLUSH)) { // the discovery controller has none
            csts = (csts & ~(3 << 2)) | ControllerRegisters.CSTS_SHST_COMPLETE;
            return;
        }
        device.flush((status, ignored) -> admin.reactor().execute(() -> {
            if (status.isSuccess()) {
                csts = (csts & ~(3 << 2)) | ControllerRegisters.CSTS_SHST_COMPLETE;
            } else {
                LOG.log(Level.WARNING, "controller {0} of {1}: the shutdown''s flush failed ({2}): shutdown stays in "
                        + "progress", cntlid, subsystem.nqn(), status);
            }
        }), null);
    }

    boolean enabled() {
        return (csts & ControllerRegisters.CSTS_RDY) != 0;
    }

    /** Enabled and not ended: its I/O queues' commands may go to the bdev. */
    boolean serving() {
        return !destroyed && (csts & ControllerRegisters.CSTS_RDY) != 0;
    }

    // ---------------------------------------------------------------- features

    /** Set Features Number of Queues: grants up to {@link #MAX_IO_QUEUES}; returns DW0. */
    int negotiateQueues(int requestedSubmission, int requestedCompletion) {
        if (!queuesNegotiated) {
            grantedIoQueues = Math.min(MAX_IO_QUEUES, Math.min(requestedSubmission, requestedCompletion) + 1);
            queuesNegotiated = true;
        }
        return queuesDword();
    }

    int queuesDword() {
        return (grantedIoQueues - 1) | (grantedIoQueues - 1) << 16;
    }

    synchronized boolean hasIoQueues() {
        for (int qid = 1; qid < ioQueues.length; qid++) {
            if (ioQueues[qid] != null) {
                return true;
            }
        }
        return false;
    }

    int grantedIoQueues() {
        return grantedIoQueues;
    }

    int asyncEventConfig() {
        return asyncEventConfig;
    }

    void asyncEventConfig(int value) {
        asyncEventConfig = value;
    }

    // ---------------------------------------------------------------- queues

    enum Attach { OK, NO_SUCH_QUEUE, TAKEN, NOT_READY, GONE }

    /** Every I/O queue attached, closed ones until their commands at the bdev have ended. */
    private final List<TargetQueue> everyIoQueue = new java.util.concurrent.CopyOnWriteArrayList<>();

    /** An I/O queue's Connect; from the queue's reactor. */
    synchronized Attach attach(int qid, TargetQueue queue) {
        if (destroyed) {
            return Attach.GONE;
        }
        if (qid < 1 || qid > grantedIoQueues) {
            return Attach.NO_SUCH_QUEUE;
        }
        if (ioQueues[qid] != null) {
            return Attach.TAKEN;
        }
        if (!enabled()) {
            return Attach.NOT_READY;
        }
        ioQueues[qid] = queue;
        // the closed ones with nothing at the bdev go first: a host that connected and closed I/O queues
        // over and over under one admin queue kept every one of them (about 72 KiB each) until it ended
        everyIoQueue.removeIf(q -> q.phase() == TargetQueue.Phase.CLOSED && q.atBdev() == 0);
        everyIoQueue.add(queue);
        return Attach.OK;
    }

    /** Its commands at the bdev now, over every I/O queue it had (they outlive a closed one); any thread. */
    int atBdev() {
        everyIoQueue.removeIf(q -> q.phase() == TargetQueue.Phase.CLOSED && q.atBdev() == 0);
        int n = 0;
        for (TargetQueue q : everyIoQueue) {
            n += q.atBdev();
        }
        return n;
    }

    /** Every I/O queue it had is closed and has nothing at the bdev: it can write no more. */
    boolean drained() {
        return atBdev() == 0 && everyIoQueue.isEmpty();
    }

    /** An I/O queue closed. */
    synchronized void detach(int qid, TargetQueue queue) {
        if (qid > 0 && qid < ioQueues.length && ioQueues[qid] == queue) {
            ioQueues[qid] = null;
        }
    }

    synchronized int ioQueueCount() {
        int n = 0;
        for (TargetQueue queue : ioQueues) {
            if (queue != null) {
                n++;
            }
        }
        return n;
    }

    private void closeIoQueues(String why) {
        TargetQueue[] doomed;
        synchronized (this) {
            doomed = ioQueues.clone();
        }
        for (TargetQueue queue : doomed) {
            if (queue != null) {
                queue.reactor().execute(() -> queue.close(why));
            }
        }
    }

    // ---------------------------------------------------------------- keep alive

    void keepAlive() {
        lastKeepAlive = System.nanoTime();
    }

    /** The host read the ANA log built as of {@code changeCount}, not retaining the event: the notice unmasked. */
    void anaLogRead(long changeCount) {
        anaSeen = Math.max(anaSeen, changeCount);
        anaNoticeOut = false;
    }

    /** An ANA change the host has not heard of becomes a notice, if it asked for them and holds a request. */
    private void noticeAnaChange() {
        if ((asyncEventConfig & Ana.NOTICE_ENABLE) == 0 || heldEvents == 0 || anaNoticeOut) {
            return;
        }
        if (subsystem.anaChangeCount() != anaSeen && admin.adminCommands().completeAsyncEvent(Ana.CHANGE_EVENT)) {
            anaNoticeOut = true;
        }
    }

    /** A namespace that grew becomes a notice, if the host asked for them, holds a request and read the last one's log. */
    private void noticeSizeChange() {
        if ((asyncEventConfig & ChangedNamespaces.NOTICE_ENABLE) == 0 || heldEvents == 0 || sizeNoticeOut) {
            return;
        }
        if (subsystem.sizeChangeCount() != sizeSeen && admin.adminCommands().completeAsyncEvent(ChangedNamespaces.CHANGE_EVENT)) {
            sizeNoticeOut = true;
        }
    }

    /** The namespace's size change count now. */
    long sizeChanges() {
        return subsystem.sizeChangeCount();
    }

    /** Whether the namespace changed, as of {@code changes}, since the host last read the Changed Namespace List. */
    boolean sizeChangedSince(long changes) {
        return changes != sizeSeen;
    }

    /** The host read the list built as of {@code changes}, not retaining the event: cleared, the notice unmasked. */
    void sizeLogRead(long changes) {
        sizeSeen = changes;
        sizeNoticeOut = false;
    }

    /** A KATO as the controller keeps it: rounded up to the keep-alive granularity KAS, 1 s (§5.27.1.12). */
    static int roundedKato(int millis) {
        long unsigned = Integer.toUnsignedLong(millis); // a 32-bit field: 2^31 ms and more is a long timeout, not none
        return unsigned == 0 ? 0 : (int) Math.min(Integer.MAX_VALUE / 1000 * 1000, (unsigned + 999) / 1000 * 1000);
    }

    /** Set Features Keep Alive Timer: the new timeout counts from now; 0 stops the check. Admin reactor. */
    void katoMillis(int millis) {
        katoMillis = roundedKato(millis);
        lastKeepAlive = System.nanoTime();
        if (keepAliveTimer != null) {
            keepAliveTimer.cancel();
            keepAliveTimer = null;
        }
        if (katoMillis > 0) {
            scheduleKeepAliveCheck();
        }
    }

    private void scheduleKeepAliveCheck() {
        // check four times per KATO; a host sends a Keep Alive every KATO/2
        keepAliveTimer = admin.reactor().schedule(Math.max(100, katoMillis / 4), TimeUnit.MILLISECONDS,
                this::checkKeepAlive);
    }

    private void checkKeepAlive() {
        synchronized (this) {
            if (destroyed) {
                return;
            }
        }
        long silent = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - lastKeepAlive);
        if (silent > katoMillis) {
            destroy("keep-alive timeout: no Keep Alive from " + hostNqn + " for " + silent + " ms (KATO "
                    + katoMillis + " ms)");
            return;
        }
        scheduleKeepAliveCheck();
    }

    // ---------------------------------------------------------------- end

    /** Ends the controller: its queues close, the subsystem forgets it. Any thread; idempotent. */
    void destroy(String why) {
        synchronized (this) {
            if (destroyed) {
                return;
            }
            destroyed = true;
        }
        if (keepAliveTimer != null) {
            keepAliveTimer.cancel();
        }
        if (anaTimer != null) {
            anaTimer.cancel();
        }
        subsystem.removed(this);
        if (why != null) {
            LOG.log(Level.INFO, "{0} controller {1} ({2}) ends: {3}", subsystem.nqn(), cntlid, hostNqn, why);
        }
        closeIoQueues(why);
        admin.reactor().execute(() -> admin.close(null));
    }

    synchronized boolean isDestroyed() {
        return destroyed;
    }
}
