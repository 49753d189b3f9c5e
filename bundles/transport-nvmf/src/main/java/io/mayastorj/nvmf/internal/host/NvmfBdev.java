package io.mayastorj.nvmf.internal.host;

import io.mayastorj.core.bdev.BlockDeviceBase;
import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.nvmf.internal.protocol.Identify;
import io.mayastorj.nvmf.internal.protocol.Sqe;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A remote namespace as a local bdev: {@code nvmf://host:port/nqn}. I/O goes to the queue of the
 * caller's reactor when there is one (no thread hop), else round-robin. When the connection drops,
 * the I/O in flight fails (UNAVAILABLE, or TIMED_OUT for the command that timed out), new I/O fails
 * at once, and the bdev reconnects in the background with back-off until it is closed: a nexus sees
 * errors, never a hang, and its child comes back by itself.
 */
final class NvmfBdev extends BlockDeviceBase implements HostQueue.IoSink {

    private static final Logger LOG = System.getLogger("mayastor.nvmf");
    private static final HostQueue[] NONE = new HostQueue[0];
    private static final long FIRST_RETRY_MILLIS = 250;
    private static final long MAX_RETRY_MILLIS = 10_000;
    private static final int MAX_WRITE_ZEROES_BLOCKS = 1 << 16;
    private static final int MAX_DSM_RANGES = 256;
    /** How long an unmap waits for a buffer for its range list. */
    static final long BUFFER_PATIENCE_NANOS = TimeUnit.SECONDS.toNanos(10);

    private final Host host;
    private final Session.Target target;
    /** What the target says of itself: read again at each reconnect (a restarted target may differ). */
    private volatile Session.Identity identity;
    private final int blockShift;
    private final AllocationMap allocation;
    private volatile Session session;
    private volatile HostQueue[] queues;
    private int nextQueue;
    private final ConcurrentLinkedQueue<Pending> waiting = new ConcurrentLinkedQueue<>();
    private volatile boolean closing;
    private volatile String lastError;
    private final AtomicInteger reconnects = new AtomicInteger();
    private long retryMillis = FIRST_RETRY_MILLIS;
    /** When the session now in use was attached: one lost soon after does not start the back-off over. */
    private volatile long attachedNanos;
    private static final long STABLE_NANOS = TimeUnit.SECONDS.toNanos(10);
    private int attempts;

    /** An I/O that found every slot taken: submitted when one frees (allocates; only under overload). */
    private record Pending(IoType type, DmaBuffer buffer, int bufferOffset, long lba, int blocks,
                           IoCompletion<Object> done, Object context) {
    }

    NvmfBdev(String name, Host host, Session first) {
        super(name, first.identity().uuid(), first.identity().blockSize(), first.identity().blockCount());
        this.host = host;
        this.target = first.target();
        this.identity = first.identity();
        this.blockShift = Integer.numberOfTrailingZeros(identity.blockSize());
        this.allocation = identity.allocationUnit() > 0 ? new AllocationMap(identity.blockCount(), identity.allocationUnit())
                : null;
        attach(first);
        loadAllocation(first);
    }

    /** After a connect: the target's allocation report, added to what this host's writes marked. */
    private void loadAllocation(Session live) {
        if (allocation == null) {
            return;
        }
        try {
            live.allocatedRanges(allocation);
            synchronized (this) { // with lost's unload: a loss between the look and the mark must win
                if (session == live) {
                    allocation.loaded();
                }
            }
        } catch (IOException e) {
            LOG.log(Level.WARNING, "{0}: the target''s allocation report failed ({1}); every range counts as holding "
                    + "data until the next connect", name(), e.getMessage());
        }
    }

    /** Answered from the target's allocation report and this host's writes since (see {@link AllocationMap}). */
    @Override
    public boolean holdsData(long lba, long blocks) {
        return allocation == null || allocation.holdsData(lba, blocks);
    }

    /** Asks the target for the namespace's size again and grows with it (a volume that grew). */
    @Override
    public long refreshSize() {
        Session live = session;
        if (live != null) {
            try {
                long blocks = live.namespaceBlocks();
                if (blocks > blockCount()) {
                    LOG.log(Level.INFO, "{0}: grew from {1} to {2} blocks", name(), blockCount(), blocks);
                    grow(blocks);
                }
            } catch (java.io.IOException e) {
                LOG.log(Level.WARNING, "{0}: cannot read the namespace''s size again: {1}", name(), e.getMessage());
            }
        }
        return blockCount();
    }

    @Override
    public long allocationUnit() {
        AllocationMap map = allocation;
        return map != null && map.isLoaded() ? map.unit() : 0;
    }

    private void attach(Session live) {
        attachedNanos = System.nanoTime();
        session = live;
        queues = live.ioQueues().toArray(NONE);
        live.onFailure(why -> lost(live, why)); // last: a session that failed already is lost at once, as itself
    }

    @Override
    public String productName() {
        return "NVMe-oF/TCP disk";
    }

    @Override
    public boolean supports(IoType type) {
        return switch (type) {
            case READ, WRITE, FLUSH -> true;
            case UNMAP -> (identity.oncs() & Identify.ONCS_DSM) != 0;
            case WRITE_ZEROES -> (identity.oncs() & Identify.ONCS_WRITE_ZEROES) != 0;
        };
    }

    // ---------------------------------------------------------------- I/O

    @Override
    protected <C> void doRead(DmaBuffer buffer, int bufferOffset, long lba, int blocks,
                              IoCompletion<? super C> done, C context) {
        transfer(IoType.READ, buffer, bufferOffset, lba, blocks, cast(done), context);
    }

    @Override
    protected <C> void doWrite(DmaBuffer buffer, int bufferOffset, long lba, int blocks,
                               IoCompletion<? super C> done, C context) {
        if (allocation != null) {
            allocation.mark(lba, blocks); // before it is sent: a report fetched meanwhile may not have it
        }
        transfer(IoType.WRITE, buffer, bufferOffset, lba, blocks, cast(done), context);
    }

    @Override
    protected <C> void doFlush(IoCompletion<? super C> done, C context) {
        if (!identity.volatileCache()) {
            complete(IoType.FLUSH, 0, IoStatus.SUCCESS, done, context); // every write is durable already
            return;
        }
        submit(IoType.FLUSH, null, 0, 0, 0, cast(done), context);
    }

    @Override
    protected <C> void doUnmap(long lba, long blocks, IoCompletion<? super C> done, C context) {
        if (blocks > (long) MAX_DSM_RANGES * 0xFFFFFFFFL) {
            complete(IoType.UNMAP, 0, IoStatus.INVALID_LENGTH, done, context);
            return;
        }
        unmap(lba, blocks, cast(done), context, 0);
    }

    /**
     * The range list needs a buffer. An empty pool is backpressure, not this child's failure: failed at
     * once, every remote child of a nexus failed the same unmap together, and all but one were faulted.
     */
    private void unmap(long lba, long blocks, IoCompletion<Object> done, Object context, long since) {
        DmaBuffer ranges = host.buffers().allocate(MAX_DSM_RANGES * 16);
        if (ranges == null) {
            HostQueue[] live = queues;
            long now = System.nanoTime();
            if (live.length == 0) {
                complete(IoType.UNMAP, 0, IoStatus.UNAVAILABLE, done, context);
            } else if (since != 0 && now - since > BUFFER_PATIENCE_NANOS) {
                complete(IoType.UNMAP, 0, IoStatus.FAILED, done, context); // the node's buffers held that long: no backpressure
            } else {
                long first = since == 0 ? now : since;
                live[0].reactor().schedule(1, TimeUnit.MILLISECONDS, () -> unmap(lba, blocks, done, context, first));
            }
            return;
        }
        int count = 0;
        for (long at = lba, left = blocks; left > 0; count++) {
            long n = Math.min(left, 0xFFFFFFFFL);
            ranges.bytes().putInt(count * 16, 0);
            ranges.bytes().putInt(count * 16 + 4, (int) n);
            ranges.bytes().putLong(count * 16 + 8, at);
            at += n;
            left -= n;
        }
        // blocks carries the range count; the request owns the buffer and releases it
        submit(IoType.UNMAP, ranges, 0, lba, count, done, context);
    }

    @Override
    protected <C> void doWriteZeroes(long lba, long blocks, IoCompletion<? super C> done, C context) {
        if (blocks <= MAX_WRITE_ZEROES_BLOCKS) {
            submit(IoType.WRITE_ZEROES, null, 0, lba, (int) blocks, cast(done), context);
            return;
        }
        Split split = new Split(IoType.WRITE_ZEROES, blocks << blockShift, cast(done), context,
                (int) ((blocks + MAX_WRITE_ZEROES_BLOCKS - 1) / MAX_WRITE_ZEROES_BLOCKS));
        for (long at = lba, left = blocks; left > 0; ) {
            int n = (int) Math.min(left, MAX_WRITE_ZEROES_BLOCKS);
            submit(IoType.WRITE_ZEROES, null, 0, at, n, split, split);
            at += n;
            left -= n;
        }
    }

    /** Reads and writes beyond the controller's transfer limit go as several commands. */
    private void transfer(IoType type, DmaBuffer buffer, int bufferOffset, long lba, int blocks,
                          IoCompletion<Object> done, Object context) {
        long bytes = (long) blocks << blockShift;
        int maxTransfer = identity.maxTransfer(); // read once: a reconnect may change it meanwhile
        if (bytes <= maxTransfer) {
            submit(type, buffer, bufferOffset, lba, blocks, done, context);
            return;
        }
        int chunkBlocks = maxTransfer >> blockShift;
        Split split = new Split(type, bytes, done, context, (blocks + chunkBlocks - 1) / chunkBlocks);
        for (int at = 0; at < blocks; at += chunkBlocks) {
            int n = Math.min(chunkBlocks, blocks - at);
            submit(type, buffer, bufferOffset + (at << blockShift), lba + at, n, split, split);
        }
    }

    private void submit(IoType type, DmaBuffer buffer, int bufferOffset, long lba, int blocks,
                        IoCompletion<Object> done, Object context) {
        HostQueue[] live = queues;
        if (live.length == 0) {
            finish(type, buffer, IoStatus.UNAVAILABLE, done, context);
            return;
        }
        HostQueue queue = null;
        HostRequest r = null;
        for (HostQueue q : live) {
            if (q.reactor().inReactor()) {
                queue = q;
                r = q.take();
                break;
            }
        }
        if (r == null) {
            int start = nextQueue++ & Integer.MAX_VALUE;
            for (int i = 0; i < live.length && r == null; i++) {
                queue = live[(start + i) % live.length];
                r = queue.take();
            }
        }
        if (r == null) {
            waiting.add(new Pending(type, buffer, bufferOffset, lba, blocks, done, context));
            // a slot may have come free meanwhile, with nobody left to look at the queue
            slotFreed(live[0]);
            HostQueue[] now = queues;
            if (now != live) {
                // the session was lost meanwhile, and lost() may have ended what waited before this came
                if (now.length == 0) {
                    Pending p;
                    while ((p = waiting.poll()) != null) {
                        finish(p.type(), p.buffer(), IoStatus.UNAVAILABLE, p.done(), p.context());
                    }
                } else {
                    slotFreed(now[0]);
                }
            }
            return;
        }
        fill(r, type, buffer, bufferOffset, lba, blocks, done, context);
        queue.post(r);
    }

    private void fill(HostRequest r, IoType type, DmaBuffer buffer, int bufferOffset, long lba, int blocks,
                      IoCompletion<Object> done, Object context) {
        r.type = type;
        r.done = done;
        r.context = context;
        r.nsid = 1;
        r.buffer = buffer;
        r.bufferOffset = bufferOffset;
        r.cdw10 = (int) lba;
        r.cdw11 = (int) (lba >>> 32);
        switch (type) {
            case READ, WRITE -> {
                r.opcode = type == IoType.READ ? Sqe.IO_READ : Sqe.IO_WRITE;
                r.cdw12 = blocks - 1;
                r.length = blocks << blockShift;
                r.data = type == IoType.READ ? HostRequest.Data.TO_HOST : HostRequest.Data.TO_TARGET;
            }
            case FLUSH -> {
                r.opcode = Sqe.IO_FLUSH;
                r.cdw10 = 0;
                r.cdw11 = 0;
            }
            case WRITE_ZEROES -> {
                r.opcode = Sqe.IO_WRITE_ZEROES;
                r.cdw12 = blocks - 1;
                r.length = blocks << blockShift; // counted as bytes zeroed; no data moves
            }
            case UNMAP -> {
                r.opcode = Sqe.IO_DATASET_MANAGEMENT;
                r.cdw10 = blocks - 1;              // number of ranges, 0-based
                r.cdw11 = 0x4;                     // AD: deallocate
                r.length = blocks * 16;
                r.data = HostRequest.Data.TO_TARGET;
                r.ownsBuffer = true;
            }
        }
    }

    @Override
    public void ioDone(IoType type, long bytes, IoStatus status, IoCompletion<Object> done, Object context) {
        if (context instanceof Split split && done == split) {
            split.chunkDone(status);
            return;
        }
        complete(type, type == IoType.UNMAP ? 0 : bytes, status, done, context);
    }

    @Override
    public void slotFreed(HostQueue queue) {
        while (!waiting.isEmpty()) {
            HostRequest r = queue.take();
            if (r == null) {
                return;
            }
            Pending p = waiting.poll();
            if (p == null) {
                queue.giveBack(r);
                return;
            }
            fill(r, p.type(), p.buffer(), p.bufferOffset(), p.lba(), p.blocks(), p.done(), p.context());
            queue.post(r);
        }
    }

    /** Ends an I/O that never reached a queue. */
    private void finish(IoType type, DmaBuffer owned, IoStatus status, IoCompletion<Object> done, Object context) {
        if (type == IoType.UNMAP && owned != null) {
            owned.release();
        }
        ioDone(type, 0, status, done, context);
    }

    @SuppressWarnings("unchecked")
    private static IoCompletion<Object> cast(IoCompletion<?> done) {
        return (IoCompletion<Object>) done;
    }

    /** A request cut into commands; completes its caller once, with the first failure if any. */
    private final class Split implements IoCompletion<Object> {
        private final IoType type;
        private final long bytes;
        private final IoCompletion<Object> done;
        private final Object context;
        private final AtomicInteger remaining;
        private volatile IoStatus failure;

        Split(IoType type, long bytes, IoCompletion<Object> done, Object context, int parts) {
            this.type = type;
            this.bytes = bytes;
            this.done = done;
            this.context = context;
            this.remaining = new AtomicInteger(parts);
        }

        void chunkDone(IoStatus status) {
            if (status != IoStatus.SUCCESS && failure == null) {
                failure = status;
            }
            if (remaining.decrementAndGet() == 0) {
                IoStatus outcome = failure == null ? IoStatus.SUCCESS : failure;
                complete(type, bytes, outcome, done, context);
            }
        }

        @Override
        public void ioDone(IoStatus status, Object ignored) {
            chunkDone(status);
        }
    }

    /** Each reconnect is a new incarnation: the target may have restarted and lost writes it had not flushed. */
    @Override
    public long reattachments() {
        return reconnects.get();
    }

    // ---------------------------------------------------------------- connection

    /** The session failed: fail what waits, and reconnect unless closing. Any thread, once per session. */
    private void lost(Session dead, String why) {
        if (session != dead) {
            return;
        }
        queues = NONE;
        session = null;
        lastError = why;
        if (allocation != null) {
            // another host (a nexus elsewhere after a switch-over) may write it while this one is away: until a
            // new report is read, every range counts as holding data — else a rebuild from it skipped those
            synchronized (this) {
                allocation.unload();
            }
        }
        Pending p;
        while ((p = waiting.poll()) != null) {
            finish(p.type(), p.buffer(), IoStatus.UNAVAILABLE, p.done(), p.context());
        }
        if (leaving()) {
            return;
        }
        boolean fence = dead.writesMayLand();
        LOG.log(Level.WARNING, "{0}: lost the connection ({1}); reconnecting{2}", name(), why, fence
                ? " once the target has given up the old association (" + fenceMillis() / 1000 + " s: writes were unanswered)" : "");
        synchronized (this) {
            if (System.nanoTime() - attachedNanos >= STABLE_NANOS) {
                // a session that held: retried at once. One that died soon after connecting (a target closing queues
                // on the first I/O, a timeout below its latency) backs off, or it reconnected every 250 ms for ever —
                // each time a reattachment for the nexus, the I/O in flight failed, the allocation report read again
                retryMillis = FIRST_RETRY_MILLIS;
                attempts = 0;
            }
        }
        if (fence) {
            // writes this side gave up on (a timeout, a broken connection) may still be at the target's bdev, under
            // a controller it believes alive. Connected again at once, they could land after the rebuild of the
            // blocks they touch, and the replica would be called in sync with old data there: the first attempt
            // waits until the target's keep-alive timer must have ended that controller. That narrows the window
            // rather than closing it — a write still at the target's bdev when its controller ends lands when
            // the bdev answers — but it is what the host can do without the target's help
            schedule(fenceMillis());
            return;
        }
        scheduleReconnect();
    }

    /** See {@link Session#fenceMillis}: the session fenced the target for new bdevs as long when it failed. */
    private long fenceMillis() {
        return Session.fenceMillis(host);
    }

    private synchronized void scheduleReconnect() {
        long delay = retryMillis;
        retryMillis = Math.min(MAX_RETRY_MILLIS, retryMillis * 2);
        schedule(delay);
    }

    /** The next attempt in {@code delay} ms; the back-off is left as it is. */
    private synchronized void schedule(long delay) {
        if (leaving()) {
            return;
        }
        try {
            host.connector().schedule(this::reconnect, delay, TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            lastError = "the nvmf host is stopping";
        }
    }

    /** Closed, or closing: a close that waits for I/O the lost session never answers must not see it reconnect. */
    private boolean leaving() {
        return closing || isClosed();
    }

    private void reconnect() {
        if (leaving() || session != null) {
            return;
        }
        long fenced = host.fenceLeftNanos(target);
        if (fenced > 0) {
            // the target was fenced after this session's loss was judged: a write sent on another of its queues
            // meanwhile, or another bdev's unanswered write to it. Connected again now, it could land after a rebuild
            schedule(TimeUnit.NANOSECONDS.toMillis(fenced) + 1);
            return;
        }
        int attempt;
        synchronized (this) {
            attempt = ++attempts;
        }
        try {
            Session fresh = Session.connect(host, target, this);
            Session.Identity now = fresh.identity();
            if (!now.uuid().equals(identity.uuid()) || now.blockSize() != identity.blockSize()
                    || now.blockCount() < blockCount()) {
                fresh.close();
                lastError = "the namespace changed: now " + now.uuid() + ", " + now.blockCount() + " blocks of "
                        + now.blockSize() + " B";
                LOG.log(Level.ERROR, "{0}: {1}; it stays disconnected", name(), lastError);
                return;
            }
            if (now.volatileCache() != identity.volatileCache() || now.maxTransfer() != identity.maxTransfer()
                    || now.oncs() != identity.oncs()) {
                // a target restarted on another back-end or version: a write cache now there must get its flushes,
                // a smaller transfer limit its splits
                LOG.log(Level.INFO, "{0}: the controller changed: volatile write cache {1}, transfer limit {2} B, ONCS 0x{3}",
                        name(), now.volatileCache(), now.maxTransfer(), Integer.toHexString(now.oncs()));
            }
            synchronized (this) {
                if (leaving()) {
                    fresh.close();
                    return;
                }
                identity = now; // before the first I/O through the new session
                reconnects.incrementAndGet(); // before the first I/O through the new session: a mirror must see it
                attach(fresh);
            }
            loadAllocation(fresh);
            lastError = null;
            LOG.log(Level.INFO, "{0}: reconnected after {1} attempt(s)", name(), attempt);
        } catch (IOException | RuntimeException e) {
            lastError = e.getMessage();
            if (attempt == 1 || attempt % 10 == 0) {
                LOG.log(Level.WARNING, "{0}: reconnect attempt {1} failed: {2}", name(), attempt, e.getMessage());
            }
            scheduleReconnect();
        }
    }

    @Override
    protected void doClose() {
        Session live;
        synchronized (this) {
            closing = true;
            live = session;
            session = null;
            queues = NONE;
        }
        if (live != null) {
            live.close();
        }
        host.closed(this);
    }

    // ---------------------------------------------------------------- inspection

    /** For the shell: the target, whether connected, the queues, reconnects and the last error. */
    NvmfBdevView view() {
        HostQueue[] live = queues;
        StringBuilder q = new StringBuilder();
        for (HostQueue queue : live) {
            q.append(q.isEmpty() ? "" : " ").append(queue.qid).append(':').append(queue.outstanding()).append('/')
                    .append(queue.depth());
        }
        return new NvmfBdevView(name(), Session.hostPort(target.address()), target.subnqn(), live.length > 0,
                q.toString(), reconnects.get(), lastError);
    }

    List<HostQueue> liveQueues() {
        return List.of(queues);
    }
}
