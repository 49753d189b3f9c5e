package io.mayastorj.nexus.internal;

import io.mayastorj.core.bdev.AccessState;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.BlockDeviceBase;
import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.buffer.BufferPool;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.concurrent.FreeList;
import io.mayastorj.core.error.ErrorKind;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.nexus.internal.store.NexusRecord;
import io.mayastorj.nexus.internal.store.NexusStore;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A nexus: one bdev mirrored over N children. Writes, flushes, unmaps and write-zeroes go to every
 * writable child and complete when all have; reads go to the in-sync child with the fewest I/Os
 * outstanding. A child that fails an I/O (an error, a lost connection, a timeout from its own
 * transport) is faulted and the I/O completes from the others; the last in-sync child is never
 * faulted by its own error — the application gets that error instead.
 *
 * <p>Threads: the I/O path runs on whatever thread submits and completes, reading one volatile
 * {@link Topology}. Every change of the children — faults, adds, removes, rebuild steps — runs on
 * the node's single nexus control thread, which also writes the {@link NexusRecord}: a write that
 * left out a child the record still calls healthy is acknowledged only after the record says
 * otherwise, so a nexus re-created after a crash never reads a stale child.
 *
 * <p>Why one class of ~1000 lines: the I/O path, the topology it reads and the record that makes
 * it safe are one state machine. A write's acknowledgement waits on the record's generation, a
 * fault changes topology and record together, fencing stops both at once; apart, these orderings
 * would be spread over classes that share every field. What stands alone is apart already:
 * {@link Child}, {@link NexusIo}, {@link Topology}, {@link Rebuild}, {@link RangeLocks},
 * {@link SegmentMap}, the stores, and {@link NexusManager} for the node's set of nexuses.
 */
public final class Nexus extends BlockDeviceBase {

    private static final Logger LOG = System.getLogger("io.mayastorj.nexus");

    private final NexusSettings settings;
    private final ScheduledExecutorService control;
    private final Executor background;
    /** The reactors for the rebuild's steps (none without reactors: a serial executor on the background pool). */
    private final Executor[] homes;
    private final NexusStore store;
    private final ChildDevices devices;
    final BufferPool buffers;
    final int segmentBlocks;

    private final FreeList<NexusIo> ios = new FreeList<>(1024);

    /** What the I/O path reads. */
    private volatile Topology topology = Topology.EMPTY;
    /** Held while a child that reconnected, with no in-sync child that stayed, is trusted again: one at a time. */
    private final Object trustLock = new Object();

    // ------------------------------------------------------------ control-thread state
    private final List<Child> children = new ArrayList<>();
    /** Children removed whose bdev is not closed yet, by URI (control thread). */
    private final java.util.Map<String, CompletableFuture<Void>> removed = new java.util.HashMap<>();
    private final List<Topology> retired = new ArrayList<>();
    private RangeLocks rangeLocks;
    /** Bumped whenever the set of in-sync children changes; the record of generation N says who was in sync then. */
    private long healthGeneration = 1;
    private volatile long persistedGeneration;
    private final ArrayDeque<NexusIo> parked = new ArrayDeque<>();
    private boolean persistScheduled;
    /** The record's revision this nexus wrote last; a save over any other means it was superseded. */
    private long revision;
    private int incarnation;
    /** Another nexus took the volume over (its record was rewritten): this one serves nothing more. */
    private volatile boolean fenced;
    private volatile AccessState access = AccessState.OPTIMIZED;
    /**
     * When this nexus last saw its record as its own (a shared store only). A process that was
     * frozen past the switch-over grace — SIGSTOP, a long pause — may have been replaced meanwhile:
     * an I/O that finds this older than {@link #OWNERSHIP_STALE_NANOS} waits for a check first, so
     * a thawed nexus never serves a read from its own, now stale, replica.
     */
    private volatile long ownershipSeenNanos = System.nanoTime();
    private final boolean checksOwnership;
    private java.util.concurrent.ScheduledFuture<?> ownershipTimer;
    private boolean lookInFlight;
    /**
     * The last look failed: the store cannot be reached, so it cannot say whether the record is still
     * ours, and the nexus goes on without waiting for looks (each one can take the store's timeout,
     * 10 s with NATS reconnecting, and trust runs from when a look was issued: waiting for them
     * stopped every nexus's I/O for as long as NATS was away). The periodic look goes on trying.
     * Not right after the process stood still ({@link #pauses}).
     */
    private volatile boolean storeUnreachable;
    /**
     * Whether the process stood still lately: then a failed look proves nothing (it may have been issued
     * before the pause and timed out during it, while another nexus took over), and the I/O waits for a
     * look that succeeds, store reachable or not.
     */
    private final PauseClock pauses;
    private final ArrayDeque<Runnable> awaitingLook = new ArrayDeque<>();
    /** The control plane waits longer than this after a node's last heartbeat (VolumeOperator.switchoverGrace). */
    static final long OWNERSHIP_STALE_NANOS = TimeUnit.SECONDS.toNanos(3);
    /**
     * The lease a nexus honours when it takes a record over from an incarnation that did not shut
     * down cleanly: it serves no I/O until that one's trust in its last look has run out (3 s from
     * when the look was issued, which was before this save), and half a second more for clocks and
     * scheduling. Whatever the control plane knew of heartbeats, the old nexus then looks again
     * before it serves, and finds itself superseded.
     */
    static final long TAKE_OVER_LEASE_NANOS = OWNERSHIP_STALE_NANOS + TimeUnit.MILLISECONDS.toNanos(500);
    /** I/O waits: the lease after a take-over has not run out yet. */
    private volatile boolean awaitingLease;
    private volatile boolean destroyed;
    /** Destroyed while the record was not known ours lately: the I/O that waits for a look fails. */
    private volatile boolean refuseUnowned;
    /** The shutdown wrote the last record (clean) or deleted it: no save after it. Control thread. */
    private boolean recordFinal;
    /** The shutdown's last record was written or left (control thread). */
    private boolean lastRecordDone;
    private int reservedSlots;

    // ------------------------------------------------------------ writes since the last flush
    // A child can lose writes it acknowledged but never flushed when its node crashes (a thin
    // replica's new clusters are committed on flush), so a faulted child's partial-rebuild log
    // starts with every segment written since the last completed flush.
    private volatile SegmentMap dirty;
    private volatile SegmentMap dirtyPrev;
    private volatile long dirtyEpoch;
    /** Held while the dirty maps are rotated (a flush) or replaced (a grow). */
    private final Object dirtyMaps = new Object();
    private final AtomicInteger flushesInFlight = new AtomicInteger();
    /** The last flush to finish failed: what the flush before it covered is not known durable. */
    private volatile boolean lastFlushFailed;

    int readCursor; // package-private: a test picks the child a read tries first

    Nexus(String name, UUID uuid, int blockSize, long blockCount, NexusSettings settings, ScheduledExecutorService control,
          Executor background, List<? extends Executor> homes, NexusStore store, ChildDevices devices, BufferPool buffers,
          PauseClock pauses) {
        super(name, uuid, blockSize, blockCount);
        this.pauses = pauses;
        this.settings = settings;
        this.control = control;
        this.background = background;
        this.homes = homes.toArray(Executor[]::new);
        this.store = store;
        this.devices = devices;
        this.buffers = buffers;
        this.segmentBlocks = settings.segmentBytes() / blockSize;
        this.dirty = new SegmentMap(blockCount, segmentBlocks, true);
        this.dirtyPrev = new SegmentMap(blockCount, segmentBlocks, true);
        this.checksOwnership = store.shared();
    }

    /**
     * Saves over the revision this nexus wrote last. When the store holds another revision, the
     * record's incarnation says whose it is: a higher one is the nexus that took the volume over
     * ({@link NexusStore.Superseded}); our own is a save of ours that landed although its call
     * failed (a timeout while NATS reconnected); a lower one, or none, is a record the store lost
     * (a NATS server restarted without its data) and perhaps a superseded nexus wrote again — ours
     * to write. Each incarnation belongs to one nexus: a nexus takes it by compare-and-set when it
     * starts. Control thread.
     */
    private long saveOwned(NexusRecord r) throws IOException {
        try {
            return store.save(r, revision);
        } catch (NexusStore.Superseded e) {
            Optional<NexusStore.Stored> stored = store.load(uuid());
            if (stored.isPresent() && stored.get().record().incarnation() > incarnation) {
                throw e;
            }
            if (stored.map(s -> s.record().incarnation() != incarnation).orElse(true) && trustLapsed(System.nanoTime())) {
                throw new NexusStore.Superseded(lostWhileStale());
            }
            LOG.log(stored.isPresent() && stored.get().record().incarnation() == incarnation ? Level.INFO : Level.WARNING,
                    "nexus {0}: {1}; written again", name(), stored.isEmpty() ? "its record is gone from " + store.describe()
                            + " (restarted without its data?)" : stored.get().record().incarnation() == incarnation
                            ? "an earlier save of its record landed although it failed" : "its record was lost and written by "
                            + "incarnation " + stored.get().record().incarnation() + " (this is " + incarnation + ")");
            return store.save(r, stored.map(NexusStore.Stored::revision).orElse(0L));
        }
    }

    /** The record is not known to be ours lately (a shared store, and no look for 3 s): the I/O waits for a look. */
    boolean ownershipStale() {
        return checksOwnership && !fenced && (refuseUnowned || !destroyed && (awaitingLease || staleSince(System.nanoTime())));
    }

    /**
     * The record lost by the store (a NATS server back without its data) or below this incarnation, seen
     * after this nexus's trust had lapsed (it stood still): the nexus that took the volume over meanwhile
     * may have written the newer record that was lost. Written again, this one owned the record until the
     * newer nexus's next look, and its writes reached only its own, stale replica. It fences itself; a
     * nexus that never stood still writes the record again (the control plane makes a fenced one anew).
     */
    private boolean trustLapsed(long now) {
        return checksOwnership && pauses.pausedSince(ownershipSeenNanos, now);
    }

    private String lostWhileStale() {
        return "its record is gone from " + store.describe() + " or older than incarnation " + incarnation
                + ", and this process stood still since it last saw it: another nexus may have taken the volume over and "
                + "its record been lost";
    }

    private boolean staleSince(long now) {
        return now - ownershipSeenNanos > OWNERSHIP_STALE_NANOS
                && (!storeUnreachable || pauses.pausedSince(ownershipSeenNanos, now) || pauses.unheard());
    }

    /**
     * A look at the record (every second, and when an I/O finds the last one too old), read off the
     * control thread — a store that does not answer holds up no other nexus — and judged on it.
     */
    private void lookAtRecord() {
        if (lookInFlight || fenced || destroyed) {
            if (!lookInFlight) {
                runAwaitingLook();
            }
            return;
        }
        lookInFlight = true;
        long issued = System.nanoTime(); // what the look shows is known as of now, not of when it returns
        background.execute(() -> {
            Optional<NexusStore.Stored> stored = null;
            Exception failure = null;
            try {
                stored = store.load(uuid());
            } catch (IOException | RuntimeException e) {
                failure = e;
            }
            Optional<NexusStore.Stored> seen = stored;
            Exception failed = failure;
            control.execute(() -> recordSeen(seen, failed, issued));
        });
    }

    /**
     * Whether the record is still this nexus's: fenced when a later incarnation wrote it. A store
     * that cannot be reached cannot say; the nexus goes on, as before it looked (a write that needs
     * the record waits for it anyway). Control thread: no save of ours runs meanwhile, so
     * {@link #revision} is current. Trust runs from when the look was {@code issued}: a look that
     * was in flight while the process stood still (SIGSTOP, a pause) may bring a record read
     * before another nexus took over, and must not let a thawed nexus serve as if it were fresh.
     */
    private void recordSeen(Optional<NexusStore.Stored> stored, Exception failure, long issued) {
        lookInFlight = false;
        if (!fenced && !destroyed) {
            if (failure != null) {
                if (!storeUnreachable) {
                    LOG.log(Level.WARNING, "nexus {0}: cannot read its record to see it is still its own ({1}); it goes on "
                            + "serving, and looks again every second", name(), failure.getMessage());
                }
                storeUnreachable = true;
                if (ownershipStale() && !refuseUnowned) {
                    // the I/O waiting would only wait again (the process stood still, or the control plane does not
                    // hear the node): looked at again shortly, not at once — a store that fails at once spun a core
                    lookAgainSoon();
                    return;
                }
                runAwaitingLook();
                return; // trust is not renewed: it runs from the first look that succeeds again
            }
            if (storeUnreachable) {
                LOG.log(Level.INFO, "nexus {0}: its record can be read again", name());
                storeUnreachable = false;
            }
            if (stored.isPresent() && stored.get().record().incarnation() > incarnation) {
                fence("incarnation " + stored.get().record().incarnation() + " wrote its record (revision " + stored.get().revision()
                        + "; this is incarnation " + incarnation + ")");
            } else if (stored.map(s -> s.record().incarnation() < incarnation).orElse(true) && trustLapsed(issued)) {
                fence(lostWhileStale());
            } else if (stored.isEmpty() || stored.get().revision() != revision) {
                persist(); // lost by the store, or a save of ours landed late: written again (saveOwned says which)
            }
            ownershipSeenNanos = issued;
        }
        runAwaitingLook();
    }

    private boolean lookAgainScheduled; // control thread

    private void lookAgainSoon() {
        if (!lookAgainScheduled && !awaitingLook.isEmpty()) {
            lookAgainScheduled = true;
            control.schedule(() -> {
                lookAgainScheduled = false;
                if (!ownershipStale()) {
                    runAwaitingLook(); // heard again meanwhile: at once, not after a look that may take the store's timeout
                } else {
                    lookAtRecord();
                }
            }, 200, TimeUnit.MILLISECONDS);
        }
    }

    private void runAwaitingLook() {
        for (Runnable io = awaitingLook.poll(); io != null; io = awaitingLook.poll()) {
            io.run(); // no longer stale (or fenced, or stopping): it goes its way, or fails
        }
    }

    /**
     * Runs {@code io} after a look at the record, the last one being too old (a fenced nexus fails it
     * then). Callers test {@link #ownershipStale} first, so that the I/O's lambda is made only then.
     */
    void deferForOwnership(Runnable io) {
        control.execute(() -> {
            awaitingLook.add(io);
            if (!awaitingLease) {
                lookAtRecord(); // else the lease's end looks, and runs them
            }
        });
    }

    @Override
    public String productName() {
        return "Nexus";
    }

    @Override
    public int bufferAlignment() {
        int a = 1;
        for (Child c : topology.writable()) {
            a = Math.max(a, c.device.bufferAlignment());
        }
        return a;
    }

    @Override
    public boolean supports(IoType type) {
        Child[] w = topology.writable();
        if (w.length == 0) {
            // what the children could do when there were some (fenced, shutting down): an iSCSI host told that
            // UNMAP went away (ILLEGAL REQUEST) turns discard off for the disk for good, and the I/O fails anyway
            return (lastSupported & 1 << type.ordinal()) != 0;
        }
        for (Child c : w) {
            if (!c.device.supports(type)) {
                return false;
            }
        }
        return true;
    }

    /** The I/O types every writable child supported at the last topology that had one (a bit per {@link IoType}). */
    private volatile int lastSupported = 1 << IoType.READ.ordinal() | 1 << IoType.WRITE.ordinal() | 1 << IoType.FLUSH.ordinal();

    private void rememberSupported(Child[] writable) {
        if (writable.length == 0) {
            return;
        }
        int mask = 0;
        for (IoType type : IoType.values()) {
            boolean all = true;
            for (Child c : writable) {
                BlockDevice d = c.device;
                all &= d != null && d.supports(type);
            }
            mask |= all ? 1 << type.ordinal() : 0;
        }
        lastSupported = mask;
    }

    NexusSettings settings() {
        return settings;
    }

    // ================================================================== the I/O path

    private NexusIo obtain() {
        NexusIo io = ios.pop();
        if (io == null) {
            io = ios.addTaken(i -> new NexusIo(this, i));
            if (io == null) {
                io = new NexusIo(this, -1); // more in flight than the pool holds: rare, and garbage afterwards
            }
        }
        return io;
    }

    @Override
    protected <C> void doRead(DmaBuffer buffer, int bufferOffset, long lba, int blocks, IoCompletion<? super C> done, C context) {
        if (ownershipStale()) {
            if (refuseUnowned) {
                complete(IoType.READ, 0, IoStatus.UNAVAILABLE, done, context);
                return;
            }
            deferForOwnership(() -> doRead(buffer, bufferOffset, lba, blocks, done, context));
            return;
        }
        Topology t = topology;
        Child c = pick(t.readable(), 0);
        if (c == null) {
            complete(IoType.READ, 0, IoStatus.UNAVAILABLE, done, context);
            return;
        }
        NexusIo io = obtain();
        io.set(IoType.READ, buffer, bufferOffset, lba, blocks, done, context);
        io.topology = t;
        io.tried = c.bit();
        readFrom(io, c);
    }

    private void readFrom(NexusIo io, Child c) {
        c.outstanding.incrementAndGet();
        c.device.read(io.buffer, io.offset, io.lba, (int) io.blocks, io, c);
    }

    /** The in-sync child with the fewest I/Os outstanding, not among {@code exclude}; null if none. */
    private Child pick(Child[] readable, int exclude) {
        int n = readable.length;
        if (n == 0) {
            return null;
        }
        int start = (readCursor++ & 0x7FFFFFFF) % n; // a racy cursor is fine: it only spreads ties
        Child best = null;
        int bestLoad = Integer.MAX_VALUE;
        for (int i = 0; i < n; i++) {
            Child c = readable[(start + i) % n];
            if ((exclude & c.bit()) != 0) {
                continue;
            }
            int load = c.outstanding.get();
            if (load < bestLoad) {
                best = c;
                bestLoad = load;
            }
        }
        return best;
    }

    @Override
    protected <C> void doWrite(DmaBuffer buffer, int bufferOffset, long lba, int blocks, IoCompletion<? super C> done, C context) {
        if (ownershipStale()) {
            if (refuseUnowned) {
                complete(IoType.WRITE, 0, IoStatus.UNAVAILABLE, done, context);
                return;
            }
            deferForOwnership(() -> doWrite(buffer, bufferOffset, lba, blocks, done, context));
            return;
        }
        NexusIo io = obtain();
        io.set(IoType.WRITE, buffer, bufferOffset, lba, blocks, done, context);
        startWrite(io);
    }

    @Override
    protected <C> void doUnmap(long lba, long blocks, IoCompletion<? super C> done, C context) {
        if (ownershipStale()) {
            if (refuseUnowned) {
                complete(IoType.UNMAP, 0, IoStatus.UNAVAILABLE, done, context);
                return;
            }
            deferForOwnership(() -> doUnmap(lba, blocks, done, context));
            return;
        }
        NexusIo io = obtain();
        io.set(IoType.UNMAP, null, 0, lba, blocks, done, context);
        startWrite(io);
    }

    @Override
    protected <C> void doWriteZeroes(long lba, long blocks, IoCompletion<? super C> done, C context) {
        if (ownershipStale()) {
            if (refuseUnowned) {
                complete(IoType.WRITE_ZEROES, 0, IoStatus.UNAVAILABLE, done, context);
                return;
            }
            deferForOwnership(() -> doWriteZeroes(lba, blocks, done, context));
            return;
        }
        NexusIo io = obtain();
        io.set(IoType.WRITE_ZEROES, null, 0, lba, blocks, done, context);
        startWrite(io);
    }

    @Override
    protected <C> void doFlush(IoCompletion<? super C> done, C context) {
        if (ownershipStale()) {
            if (refuseUnowned) {
                complete(IoType.FLUSH, 0, IoStatus.UNAVAILABLE, done, context);
                return;
            }
            deferForOwnership(() -> doFlush(done, context));
            return;
        }
        NexusIo io = obtain();
        io.set(IoType.FLUSH, null, 0, 0, 0, done, context);
        if (flushesInFlight.getAndIncrement() == 0 && !lastFlushFailed) {
            // the flush before this one is done: what it covered is durable; what completed since is next
            // (after one that failed, nothing is known durable: the maps keep what they hold)
            synchronized (dirtyMaps) { // once per flush, not per I/O: a grow replaces both maps under it too
                SegmentMap covered = dirtyPrev;
                covered.clear();
                dirtyPrev = dirty;
                dirty = covered;
                dirtyEpoch++;
            }
        }
        startWrite(io);
    }

    /** A write-like I/O through the current topology (again, when it waited for a rebuild's segment lock). */
    private void startWrite(NexusIo io) {
        Topology t = topology;
        t.writesInFlight().incrementAndGet();
        while (topology != t) { // changed meanwhile: a rebuild may already have seen t drained
            t.writesInFlight().decrementAndGet();
            t = topology;
            t.writesInFlight().incrementAndGet();
        }
        io.topology = t;
        if (t.readable().length == 0) { // nothing in sync: a rebuilding child alone is no copy of the volume
            finish(io, IoStatus.UNAVAILABLE);
            return;
        }
        if (io.type != IoType.FLUSH) {
            for (SegmentMap log : t.logs()) {
                log.mark(io.lba, io.blocks);
            }
            if (t.locks() != null && !t.locks().beginWrite(io)) {
                return; // the rebuild is copying this segment: resubmitted when it is done
            }
        }
        Child[] w = t.writable();
        io.expect(w.length);
        for (Child c : w) {
            c.outstanding.incrementAndGet();
            BlockDevice d = c.device;
            switch (io.type) {
                case WRITE -> d.write(io.buffer, io.offset, io.lba, (int) io.blocks, io, c);
                case UNMAP -> d.unmap(io.lba, io.blocks, io, c);
                case WRITE_ZEROES -> d.writeZeroes(io.lba, io.blocks, io, c);
                default -> d.flush(io, c);
            }
        }
    }

    /** A write that waited for a segment lock goes again, through the topology of now. */
    void resubmit(NexusIo io) {
        if (ownershipStale()) {
            // parked in a copy's segment lock across a pause, or until trust ran out: it waits for a look as a
            // new write does (resubmitted at once, it reached the children unchecked: a review finding). Still
            // counted where it was meanwhile: a rebuild that waits for that topology to drain waits for it too
            if (refuseUnowned) {
                finish(io, IoStatus.UNAVAILABLE);
                return;
            }
            deferForOwnership(() -> resubmit(io));
            return;
        }
        io.topology.writesInFlight().decrementAndGet();
        startWrite(io);
    }

    /** A child answered; any thread. */
    void childDone(NexusIo io, Child c, IoStatus status) {
        c.outstanding.decrementAndGet();
        if (status.isSuccess() && reattached(c)) {
            status = IoStatus.UNAVAILABLE; // faulted as a child that went away: rebuilt from what was written since the last flush
        }
        if (io.type == IoType.READ) {
            readDone(io, c, status);
            return;
        }
        if (!status.isSuccess()) {
            io.failedOn(c, status);
        }
        if (io.answered()) {
            writeAnswered(io);
        }
    }

    private void readDone(NexusIo io, Child c, IoStatus status) {
        if (status.isSuccess()) {
            finish(io, status);
            return;
        }
        Child next = pick(topology.readable(), io.tried);
        if (!isChildFault(status)) {
            // a request error from one child, for a range the nexus checked itself: it may be that child's alone (a
            // transfer limit it learned anew on a reconnect), so the next is asked; not faulted, as every child
            // would say it of a request that was wrong, and all but one would go
            if (next == null) {
                finish(io, status);
            } else {
                io.tried |= next.bit();
                readFrom(io, next);
            }
            return;
        }
        if (next == null) {
            if (changedSinceOpen(c)) {
                // refused as reconnected, the others having failed it: faulted unless none stayed attached (a
                // queued fault of a child that did is then dropped, above), or that one would be faulted instead
                long lba = io.lba;
                long blocks = io.blocks;
                control.execute(() -> faultUnlessLast(c, Child.Reason.of(status), "read refused: " + status, lba, blocks));
            }
            finish(io, status); // the last in-sync child: its error is the application's
            return;
        }
        long lba = io.lba; // (io is retried on the next child meanwhile: its range taken now)
        long blocks = io.blocks;
        control.execute(() -> faultUnlessLast(c, Child.Reason.of(status), "read failed: " + status, lba, blocks));
        io.tried |= next.bit();
        readFrom(io, next);
    }

    /**
     * The child's device reattached since it was opened (a remote replica reconnected, perhaps to a
     * restarted node that lost the writes it had not flushed — while the nexus was idle, so no I/O
     * failed): its answers are not trusted while another in-sync child's device has not reattached.
     * When every in-sync child's has (the nexus's own node lost the network a moment, or every
     * replica's node restarted), there is no better copy: the first to answer is trusted again, said
     * once, and the others' answers are refused from then on — trusted too, each could have lost
     * different unflushed writes, and reads would alternate between their versions for good. They are
     * faulted, and a partial rebuild copies from the trusted one what was written since the last
     * flush. Any thread; the check beyond the first volatile read runs only on a change.
     */
    boolean reattached(Child c) {
        BlockDevice d = c.device;
        if (d == null) {
            return false;
        }
        long now = d.reattachments();
        if (now == c.attachedAs) {
            return false;
        }
        long trusted;
        synchronized (trustLock) { // two answering at once: one is trusted, not both
            Child[] readable = topology.readable();
            if (!java.util.Arrays.asList(readable).contains(c)) {
                // a rebuild's destination: trusted again with the others, it lost copies (in no dirty map) with a
                // restart and was called in sync at the rebuild's end. Faulted, its rebuild starts over
                return true;
            }
            for (Child o : readable) {
                if (o != c && !changedSinceOpen(o)) {
                    return true; // a copy that stayed attached (or was trusted first) is there: this one is brought back in sync
                }
            }
            c.attachedAs = now;
            trusted = trustGeneration.incrementAndGet(); // before the lock is let go: rebuilt() sees it with the trust
        }
        LOG.log(Level.WARNING, "nexus {0}: child {1} reconnected, and no in-sync child stayed connected: it is trusted "
                + "(writes it had not flushed may be lost); the others that reconnected are rebuilt from it", name(), c.uri);
        // a rebuild's destination holds what the sources held before: the segments it copied may keep writes
        // they lost, and its rebuild would call it in sync with them. Faulted, with no log: added back, it is
        // rebuilt in full (one whose end is already posted is refused by rebuilt(), which sees the generation)
        control.execute(() -> {
            for (Child dest : children) {
                Rebuild r = dest.rebuild;
                if (dest.state == Child.State.REBUILDING && r != null && r.trustedAs < trusted) { // not one begun since
                    fault(dest, Child.Reason.REBUILD_FAILED, "its rebuild's source " + c.uri + " reconnected and may have lost "
                            + "writes the rebuild had copied: rebuilt again in full", 0, 0);
                }
            }
        });
        return false;
    }

    private static boolean changedSinceOpen(Child c) {
        BlockDevice d = c.device;
        return d == null || d.reattachments() != c.attachedAs;
    }

    /** Errors that say the child is unwell, rather than that the request was wrong (which every child would say). */
    private static boolean isChildFault(IoStatus s) {
        return switch (s) {
            case MEDIA_ERROR, NO_SPACE, TIMED_OUT, ABORTED, DEVICE_CLOSED, UNAVAILABLE, FAILED, UNSUPPORTED -> true;
            default -> false;
        };
    }

    private void writeAnswered(NexusIo io) {
        int failed = io.failed;
        if (failed == 0) {
            endWrite(io);
            writeSucceeded(io);
            return;
        }
        IoStatus requestError = null;
        boolean unwell = false;
        boolean tookIt = false;
        boolean allUnsupported = true;
        for (Child c : io.topology.writable()) {
            if ((failed & c.bit()) == 0) {
                tookIt = true;
            } else if (isChildFault(io.statuses[c.slot])) {
                unwell = true;
                allUnsupported &= io.statuses[c.slot] == IoStatus.UNSUPPORTED;
            } else {
                requestError = io.statuses[c.slot];
                allUnsupported = false;
            }
        }
        if (!tookIt && unwell && allUnsupported) {
            // none of them does it (an unmap sent while a child without it joined): nothing landed anywhere, and
            // faulting all but one for it would leave the volume on one copy
            endWrite(io);
            finish(io, IoStatus.UNSUPPORTED);
            return;
        }
        if (requestError != null && !unwell && !tookIt) { // every child called the request wrong
            endWrite(io);
            finish(io, requestError);
            return;
        }
        // the range stays locked until the children that failed it are faulted: a rebuild's copy waiting
        // for it would otherwise read a child that lacks this write while it still counts as in sync,
        // and write that old data over the new on the child being rebuilt
        control.execute(() -> writeFailed(io));
    }

    /** A write's range lock ends: copies of a rebuild waiting for it go on. */
    private static void endWrite(NexusIo io) {
        if (io.locks != null) {
            io.locks.endWrite(io);
        }
    }

    private void writeSucceeded(NexusIo io) {
        if (io.type != IoType.FLUSH) {
            markWritten(io);
        }
        long need = Math.max(io.topology.mustPersist(), io.mustPersist);
        if (need > persistedGeneration) {
            control.execute(() -> parkUntilPersisted(io, need));
            return;
        }
        finish(io, IoStatus.SUCCESS);
    }

    /** Records a completed write where a child that comes back will look for it. */
    private void markWritten(NexusIo io) {
        long epoch = dirtyEpoch;
        dirty.mark(io.lba, io.blocks);
        if (dirtyEpoch != epoch) { // a flush rotated the maps meanwhile: the mark may have gone to the covered one
            dirty.mark(io.lba, io.blocks);
        }
        for (SegmentMap log : topology.logs()) { // children that faulted while it was in flight
            log.mark(io.lba, io.blocks);
        }
        if (io.topology != topology) {
            // a child that took it, then faulted and came back while it was in flight: its earlier life's
            // log is its new life's partial rebuild (which waits for this write) and in no log of now
            for (Child c : io.topology.writable()) {
                SegmentMap log = c.log;
                if (c.state == Child.State.FAULTED && log != null) {
                    log.mark(io.lba, io.blocks);
                }
            }
        }
    }

    private void finish(NexusIo io, IoStatus status) {
        if (fenced && status.isSuccess()) {
            // superseded while it was at the children: another nexus serves the volume, and what this one
            // read may be stale, what it wrote may have landed beside the other's writes — not acknowledged
            status = IoStatus.UNAVAILABLE;
        }
        IoType type = io.type;
        if (type != IoType.READ) {
            io.topology.writesInFlight().decrementAndGet();
            if (type == IoType.FLUSH) {
                lastFlushFailed = !status.isSuccess(); // before the count: the next flush reads it once the count is 0
                flushesInFlight.decrementAndGet();
            }
        }
        IoCompletion<Object> done = io.done;
        Object context = io.context;
        long bytes = io.blocks * blockSize();
        io.clear();
        if (io.index >= 0) {
            ios.push(io.index);
        }
        complete(type, bytes, status, done, context);
    }

    // ================================================================== faults (control thread)

    /** A write (or flush) failed on some children: fault them, and finish it as the survivors allow. */
    private void writeFailed(NexusIo io) {
        int failed = io.failed;
        List<Child> bad = new ArrayList<>();
        boolean survivor = false;
        boolean tookIt = false;
        for (Child c : io.topology.writable()) {
            tookIt |= (failed & c.bit()) == 0;
        }
        IoStatus refused = null;
        // being rebuilt, and took it or refused it as a wrong request: out of step with the children in sync if
        // those all failed it as a child's fault (it may have landed on them, or not)
        List<Child> rebuildingOutOfStep = new ArrayList<>(0);
        for (Child c : io.topology.writable()) {
            if ((failed & c.bit()) != 0) {
                IoStatus s = io.statuses[c.slot];
                if (!tookIt && !isChildFault(s)) {
                    // it called the request wrong and no child took it: it is as it was, in step with the
                    // application, and the error is the application's (a child that took what another
                    // refused disagrees with it, and the one that refused is faulted below)
                    refused = s;
                    survivor |= c.state == Child.State.ONLINE;
                    if (c.state == Child.State.REBUILDING) {
                        rebuildingOutOfStep.add(c);
                    }
                } else if (c.state != Child.State.FAULTED) {
                    bad.add(c);
                } else if (c.log != null) {
                    c.log.mark(io.lba, io.blocks); // already faulted by another I/O: this range is its too
                }
            } else if (c.state == Child.State.ONLINE) {
                survivor = true;
            } else if (c.state == Child.State.REBUILDING) {
                rebuildingOutOfStep.add(c);
            }
        }
        IoStatus worst = null;
        if (!survivor) {
            // every child in sync failed it, one being rebuilt took it — or refused it while they failed it as a
            // child's fault (a timeout: it may have landed there): a copy still to come makes it right; past that
            // range already, the child would differ from the one kept for good: it is rebuilt again
            for (Child c : rebuildingOutOfStep) {
                Rebuild r = c.rebuild;
                if (io.type == IoType.FLUSH || r != null && r.willCopy(io.lba, io.blocks)) {
                    continue;
                }
                String what = io.type.name().toLowerCase(java.util.Locale.ROOT).replace('_', ' ');
                fault(c, Child.Reason.IO_FAILURE, (failed & c.bit()) == 0
                        ? what + " failed on every child in sync but reached this one, being rebuilt"
                        : what + " failed on every child in sync (it may have landed there) and this one, being rebuilt, "
                                + "refused it (" + io.statuses[c.slot] + ")", io);
            }
        }
        if (!survivor) {
            // every in-sync child failed it: the application gets the error; keep the child that failed least badly
            Child keep = null;
            for (Child c : bad) {
                if (c.state == Child.State.ONLINE && (keep == null || keptBefore(c, keep, io))) {
                    keep = c;
                }
            }
            bad.remove(keep);
            worst = keep != null ? io.statuses[keep.slot] : IoStatus.UNAVAILABLE;
        }
        for (Child c : bad) {
            IoStatus s = io.statuses[c.slot];
            fault(c, Child.Reason.of(s), io.type.name().toLowerCase(java.util.Locale.ROOT).replace('_', ' ') + " failed: " + s, io);
        }
        endWrite(io); // the children that failed it are out of the topology now: no copy reads them
        if (refused != null && survivor) {
            finish(io, refused);
            return;
        }
        if (worst != null) {
            if (io.type != IoType.FLUSH) {
                // failed, yet it may have landed on a child faulted meanwhile: a return rebuilds the range
                // from the child kept, or the two would answer it differently for good
                markWritten(io);
            }
            finish(io, worst);
            return;
        }
        io.mustPersist = healthGeneration;
        writeSucceeded(io);
    }

    /**
     * Which of two in-sync children that both failed a write is the better copy to keep: one that
     * stayed attached before one that reconnected (which may have lost acknowledged writes, whatever
     * its error says now), then the one that failed less badly.
     */
    private boolean keptBefore(Child c, Child keep, NexusIo io) {
        if (changedSinceOpen(c) != changedSinceOpen(keep)) {
            return !changedSinceOpen(c);
        }
        return severity(io.statuses[c.slot]) < severity(io.statuses[keep.slot]);
    }

    private static int severity(IoStatus s) {
        return switch (s) {
            case NO_SPACE -> 1;
            case MEDIA_ERROR, UNSUPPORTED -> 2;
            case FAILED, ABORTED -> 3;
            case TIMED_OUT -> 4;
            default -> 5; // unreachable, closed
        };
    }

    private void faultUnlessLast(Child c, Child.Reason reason, String cause, long lba, long blocks) {
        if (c.state != Child.State.ONLINE) {
            return;
        }
        for (Child other : children) {
            // one that reconnected since it was opened is no better copy while this one stayed (its answers are
            // refused until it is faulted): this one faulted, it would be trusted alone, without the writes it lost
            if (other != c && other.state == Child.State.ONLINE && (!changedSinceOpen(other) || changedSinceOpen(c))) {
                fault(c, reason, cause, lba, blocks);
                return;
            }
        }
    }

    /** A rebuild could not read from {@code c}: faulted unless it is the last in-sync child. Control thread. */
    void faultSource(Child c, IoStatus status, long lba, long blocks) {
        faultUnlessLast(c, Child.Reason.of(status), "read for a rebuild failed: " + status, lba, blocks);
    }

    /** Faults a child; the I/O that caused it (if any) is marked in its log. Control thread. */
    void fault(Child c, Child.Reason reason, String cause, NexusIo io) {
        fault(c, reason, cause, io == null ? 0 : io.lba, io == null ? 0 : io.blocks);
    }

    /**
     * Faults a child; {@code blocks} at {@code lba} (none when 0), the range whose I/O failed, are
     * marked in its log: a read that failed (a bad sector) is rewritten by a partial rebuild too, or
     * the child came back in sync with the range still unreadable or wrong. Control thread.
     */
    private void fault(Child c, Child.Reason reason, String cause, long lba, long blocks) {
        if (c.state == Child.State.FAULTED) {
            return;
        }
        boolean wasInSync = c.state == Child.State.ONLINE;
        Rebuild r = c.rebuild;
        if (c.state == Child.State.REBUILDING && r != null) {
            r.abort();
        }
        c.moveTo(Child.State.FAULTED, reason, cause);
        SegmentMap log = null;
        if (wasInSync) {
            log = new SegmentMap(blockCount(), segmentBlocks);
            c.log = log;
            c.faultedAtNanos = System.nanoTime();
            healthGeneration++;
        }
        if (blocks > 0 && c.log != null) {
            c.log.mark(lba, blocks);
        }
        LOG.log(Level.WARNING, "nexus {0}: child {1} faulted ({2}): {3}{4}", name(), c.uri, reason, cause,
                c.log != null ? "; a return within " + settings.partialRebuildWindow().toMinutes()
                        + " min rebuilds only what was written meanwhile" : "");
        publish(wasInSync ? healthGeneration : topology.mustPersist());
        if (log != null) {
            // what was written before, copied only now that the log is in the topology: a write that marks
            // the dirty map after this copy reads the new topology and marks the log itself (copied first,
            // a write between the copy and the publish was in neither)
            log.or(dirty);
            log.or(dirtyPrev);
        }
        persist();
        c.closing = leaving(c, r);
    }

    /**
     * The child's bdev closed once its rebuild's copies in flight have ended: a copy read before the
     * child left must not land on it once it is back, after the application wrote there anew.
     */
    private CompletableFuture<Void> leaving(Child c, Rebuild r) {
        CompletableFuture<Void> copies = r == null ? CompletableFuture.completedFuture(null) : r.over();
        return copies.thenRunAsync(() -> devices.close(c), background);
    }

    /** What a child given again under {@code uri} waits for: the close of one removed under it. Control thread. */
    CompletableFuture<Void> leftUnder(String uri) {
        CompletableFuture<Void> f = removed.get(uri);
        return f == null ? CompletableFuture.completedFuture(null) : f;
    }

    // ================================================================== topology and record (control thread)

    private void publish(long mustPersist) {
        if (fenced) {
            return; // stays without children for I/O
        }
        List<Child> readable = new ArrayList<>();
        List<Child> writable = new ArrayList<>();
        List<SegmentMap> logs = new ArrayList<>();
        boolean rebuilding = false;
        for (Child c : children) {
            switch (c.state) {
                case ONLINE -> {
                    readable.add(c);
                    writable.add(c);
                }
                case REBUILDING -> {
                    writable.add(c);
                    rebuilding = true;
                }
                case FAULTED -> {
                    if (c.log != null) {
                        logs.add(c.log);
                    }
                }
            }
        }
        if (rebuilding && rangeLocks == null) {
            rangeLocks = new RangeLocks(segmentBlocks);
        } else if (!rebuilding) {
            rangeLocks = null; // writes still tracked by the old one end on it (NexusIo.locks)
        }
        Topology old = topology;
        Child[] w = writable.toArray(Child[]::new);
        rememberSupported(w);
        topology = new Topology(readable.toArray(Child[]::new), w, logs.toArray(SegmentMap[]::new), rangeLocks, mustPersist,
                new AtomicLong());
        retired.add(old);
        retired.removeIf(t -> t.writesInFlight().get() == 0);
    }

    /** Runs {@code then} once every write submitted through an earlier topology has finished. Control thread. */
    void afterEarlierWrites(Runnable then) {
        waitDrained(new ArrayList<>(retired), then);
    }

    private void waitDrained(List<Topology> earlier, Runnable then) {
        earlier.removeIf(t -> t.writesInFlight().get() == 0);
        if (earlier.isEmpty()) {
            then.run();
        } else {
            control.schedule(() -> waitDrained(earlier, then), 1, TimeUnit.MILLISECONDS);
        }
    }

    private void parkUntilPersisted(NexusIo io, long need) {
        if (fenced) {
            finish(io, IoStatus.UNAVAILABLE); // its record can no longer be written
        } else if (need <= persistedGeneration) {
            finish(io, IoStatus.SUCCESS);
        } else {
            io.mustPersist = need;
            parked.add(io);
        }
    }

    /** Writes the record of now; writes parked for it finish once it is durable. Control thread. */
    void persist() {
        if (persistScheduled) {
            return; // one save at a time; the one queued writes the latest state
        }
        persistScheduled = true;
        control.execute(this::save);
    }

    private void save() {
        persistScheduled = false;
        if (fenced || recordFinal || lastRecordDone && parked.isEmpty() && stats().inFlight() == 0) {
            // a retry due after the shutdown's record must not write over it (clean, or deleted); after an
            // unclean one, saves go on only for writes waiting for one, or still in flight (they may park)
            return;
        }
        long generation = healthGeneration;
        try {
            revision = saveOwned(record(false));
        } catch (NexusStore.Superseded e) {
            fence(e.getMessage());
            return;
        } catch (IOException | RuntimeException e) {
            LOG.log(Level.ERROR, "nexus {0}: cannot record which children are healthy ({1}); writes that depend on it wait, retrying in 1 s",
                    name(), e.getMessage());
            persistScheduled = true;
            control.schedule(this::save, 1, TimeUnit.SECONDS);
            return;
        }
        persistedGeneration = Math.max(persistedGeneration, generation);
        for (int n = parked.size(); n > 0; n--) {
            NexusIo io = parked.poll();
            if (io.mustPersist <= persistedGeneration) {
                finish(io, IoStatus.SUCCESS);
            } else {
                parked.add(io);
            }
        }
    }

    NexusRecord record(boolean clean) {
        List<NexusRecord.ChildRecord> list = new ArrayList<>();
        for (Child c : children) {
            list.add(new NexusRecord.ChildRecord(c.uri, NexusRecord.replicaOf(c.uri), c.state == Child.State.ONLINE, c.sinceMillis));
        }
        return new NexusRecord(uuid(), name(), sizeBytes(), clean, incarnation, list);
    }

    /**
     * The record was rewritten by another nexus: the control plane made one on another node (this
     * node was taken for lost) and it owns the volume now. Nothing more is acknowledged here — the
     * writes waiting for a record fail, every new I/O fails — and the path reports ANA
     * inaccessible, so a multipath host sends its I/O to the new nexus. Control thread.
     */
    void fence(String why) {
        if (fenced) {
            return;
        }
        fenced = true;
        LOG.log(Level.ERROR, "nexus {0}: {1}. Another nexus serves the volume now: this one is fenced (ANA inaccessible) "
                + "and completes no more I/O; destroy it", name(), why);
        for (Child c : children) {
            Rebuild r = c.rebuild;
            if (c.state == Child.State.REBUILDING && r != null) {
                r.abort();
            }
        }
        Topology old = topology;
        topology = new Topology(new Child[0], new Child[0], new SegmentMap[0], null, 0, new AtomicLong());
        retired.add(old);
        access = AccessState.INACCESSIBLE; // once no I/O can reach a child any more: whoever sees it may rely on that
        for (NexusIo io = parked.poll(); io != null; io = parked.poll()) {
            finish(io, IoStatus.UNAVAILABLE); // never acknowledged: the host retries it on the new nexus
        }
    }

    @Override
    public AccessState accessState() {
        return access;
    }

    /**
     * Sets how hosts should use this path (CHANGE while the volume moves to another node). A fenced
     * nexus stays inaccessible. Control thread.
     */
    void accessState(AccessState state) {
        if (fenced) {
            throw MayastorException.failedPrecondition("nexus %s is fenced (another nexus took its volume over): it stays "
                    + "inaccessible", name());
        }
        if (state != access) {
            LOG.log(Level.INFO, "nexus {0}: ANA state {1} (was {2})", name(), state, access);
            access = state;
        }
    }

    boolean fenced() {
        return fenced;
    }

    int incarnation() {
        return incarnation;
    }

    // ================================================================== children (control thread)

    /**
     * Starts the nexus with opened children in the given states; control thread. {@code takesOver}:
     * the record it replaces was written by an incarnation that did not shut down cleanly, which
     * may still be serving somewhere; I/O then waits for the {@link #TAKE_OVER_LEASE_NANOS lease}.
     */
    void start(List<Child> initial, long storedRevision, int incarnation, boolean takesOver) {
        children.addAll(initial);
        this.revision = storedRevision;
        this.incarnation = incarnation;
        publish(0);
        NexusRecord written = record(false);
        try {
            // this nexus owns the volume from the moment its record is written over the one it read
            revision = store.save(written, revision);
            persistedGeneration = healthGeneration;
        } catch (NexusStore.Superseded e) {
            throw new MayastorException(ErrorKind.ABORTED, "nexus " + name() + ": its record changed while it started ("
                    + e.getMessage() + "); try again");
        } catch (IOException e) {
            // the save may have landed though its call failed (the answer late or lost): left so, the record says an
            // unclean incarnation that never served, and the next nexus takes it over as from a crash — one child
            // trusted, the others rebuilt in full. Read back: the very record this one wrote means it landed
            Optional<NexusStore.Stored> now;
            try {
                now = store.load(uuid());
            } catch (IOException again) {
                e.addSuppressed(again);
                now = Optional.empty();
            }
            if (now.isEmpty() || !now.get().record().equals(written)) {
                throw new MayastorException(ErrorKind.UNAVAILABLE, "nexus " + name() + ": cannot record its children: "
                        + e.getMessage());
            }
            LOG.log(Level.INFO, "nexus {0}: the save of its record failed ({1}) but landed: it starts", name(), e.getMessage());
            revision = now.get().revision();
            persistedGeneration = healthGeneration;
        }
        // copies wait for the lease too: the range locks fence this nexus's writes only, and a copy that read
        // a segment before the old incarnation wrote it would land over that write on the child rebuilt
        awaitingLease = checksOwnership && takesOver;
        for (Child c : initial) {
            if (c.state == Child.State.REBUILDING) {
                startRebuild(c, null);
            }
        }
        ownershipSeenNanos = System.nanoTime();
        if (checksOwnership) {
            if (takesOver) {
                LOG.log(Level.INFO, "nexus {0}: took its record over from incarnation {1}, which did not shut down cleanly; "
                        + "it serves (and rebuilds) in {2} ms, once that one no longer trusts its record", name(),
                        incarnation - 1, TimeUnit.NANOSECONDS.toMillis(TAKE_OVER_LEASE_NANOS));
                control.schedule(() -> {
                    awaitingLease = false;
                    lookAtRecord();
                    List<Runnable> due = List.copyOf(afterLease);
                    afterLease.clear();
                    if (!fenced && !destroyed) {
                        due.forEach(Runnable::run);
                    }
                }, TAKE_OVER_LEASE_NANOS, TimeUnit.NANOSECONDS);
            }
            ownershipTimer = control.scheduleWithFixedDelay(this::lookAtRecord, 1, 1, TimeUnit.SECONDS);
        }
    }

    List<Child> children() {
        return List.copyOf(children);
    }

    /**
     * Grows the nexus to {@code newBlocks}; control thread. Every child must be online (a faulted
     * child's partial-rebuild log and a running rebuild cover the old size only) and large enough
     * already (its replica resized, its size read again). The maps of writes since the last flush
     * are replaced by full ones: a child that faults before the next flush is rebuilt in full, as
     * nothing records which of the new blocks it missed. The record is saved with the new size.
     */
    void growTo(long newBlocks) {
        if (destroyed) {
            // a resize that found the nexus before a destroy: its record would overwrite the clean one
            throw MayastorException.notFound("nexus %s is being destroyed", name());
        }
        if (newBlocks < blockCount()) {
            throw MayastorException.invalidArgument("nexus %s is %d blocks; it cannot shrink to %d", name(), blockCount(), newBlocks);
        }
        if (newBlocks == blockCount()) {
            return;
        }
        for (Child c : children) {
            if (c.state != Child.State.ONLINE) {
                throw MayastorException.failedPrecondition("nexus %s: child %s is %s; it grows once every child is online",
                        name(), c.uri, c.state.name().toLowerCase(java.util.Locale.ROOT));
            }
            if (c.device.blockCount() < newBlocks) {
                throw MayastorException.failedPrecondition("nexus %s: child %s holds %d blocks, not %d: grow its replica first",
                        name(), c.uri, c.device.blockCount(), newBlocks);
            }
        }
        SegmentMap nowDirty = new SegmentMap(newBlocks, segmentBlocks, true);
        SegmentMap prevDirty = new SegmentMap(newBlocks, segmentBlocks, true);
        nowDirty.markAll();
        prevDirty.markAll();
        synchronized (dirtyMaps) { // a flush rotating the maps meanwhile would put an old-size one back
            dirty = nowDirty;
            dirtyPrev = prevDirty;
            dirtyEpoch++;
        }
        long before = blockCount();
        grow(newBlocks);
        try {
            revision = saveOwned(record(false));
        } catch (NexusStore.Superseded e) {
            fence(e.getMessage());
        } catch (IOException e) {
            LOG.log(Level.WARNING, "nexus {0}: grew, but its record keeps the old size until the next save: {1}", name(), e.getMessage());
        }
        LOG.log(Level.INFO, "nexus {0} grew from {1} to {2} blocks", name(), before, newBlocks);
    }

    Child child(String uri) {
        for (Child c : children) {
            if (c.uri.equals(uri)) {
                return c;
            }
        }
        return null;
    }

    /** Reserves a slot for a child about to be opened; give it back with {@link #releaseSlot} if that fails. */
    int reserveSlot() {
        int used = reservedSlots;
        for (Child c : children) {
            used |= c.bit();
        }
        for (int i = 0; i < Child.MAX; i++) {
            if ((used & (1 << i)) == 0) {
                reservedSlots |= 1 << i;
                return i;
            }
        }
        throw new MayastorException(ErrorKind.RESOURCE_EXHAUSTED, "nexus " + name() + " has " + Child.MAX + " children already");
    }

    void releaseSlot(int slot) {
        reservedSlots &= ~(1 << slot);
    }

    /**
     * Adds a child (its bdev opened off this thread by the caller) and rebuilds it: in full, or
     * only the segments written while it was away when it is a faulted child back in time —
     * {@code earlier}, its faulted earlier life, which {@code c} takes the place (and slot) of.
     */
    void join(Child c, Child earlier) {
        if (earlier == null) {
            releaseSlot(c.slot);
        }
        if (destroyed) {
            background.execute(() -> devices.close(c));
            throw new MayastorException(ErrorKind.FAILED_PRECONDITION, "nexus " + name() + " is being destroyed");
        }
        if (c.device.blockSize() != blockSize() || c.device.blockCount() < blockCount()) {
            background.execute(() -> devices.close(c));
            throw new MayastorException(ErrorKind.INVALID_ARGUMENT, "child " + c.uri + " (" + c.device.sizeBytes() + " B in blocks of "
                    + c.device.blockSize() + ") cannot hold nexus " + name() + " (" + sizeBytes() + " B in blocks of " + blockSize() + ")");
        }
        if (earlier != null && (!children.contains(earlier) || earlier.state != Child.State.FAULTED)) {
            // removed (or added back by another call) while this one opened its bdev
            background.execute(() -> devices.close(c));
            throw new MayastorException(ErrorKind.FAILED_PRECONDITION, "child " + c.uri + " of nexus " + name()
                    + " was removed or added back meanwhile; ask again");
        }
        SegmentMap partial = null;
        if (earlier != null && earlier.log != null
                && System.nanoTime() - earlier.faultedAtNanos <= settings.partialRebuildWindow().toNanos()) {
            // the earlier life keeps the map: a write of its that fails late marks its range there (before
            // the rebuild reads it: the rebuild waits for the writes of earlier topologies)
            partial = earlier.log;
        }
        if (earlier == null) {
            children.add(c);
        } else {
            children.set(children.indexOf(earlier), c);
        }
        c.moveTo(Child.State.REBUILDING, Child.Reason.NONE, "");
        publish(topology.mustPersist());
        persist();
        startRebuild(c, partial);
    }

    private void startRebuild(Child c, SegmentMap partial) {
        Rebuild r = new Rebuild(this, c, partial, settings.rebuildTasks(),
                homes.length > 0 ? homes : new Executor[] {Rebuild.serial(background)});
        c.rebuild = r;
        LOG.log(Level.INFO, "nexus {0}: rebuilding child {1} ({2})", name(), c.uri,
                partial == null ? "in full, ranges that hold data" : "partial: " + partial.count() + " segments written while it was away");
        afterEarlierWrites(() -> {
            if (awaitingLease) {
                afterLease.add(r::start); // a start after an abort does nothing
            } else {
                r.start();
            }
        });
    }

    /** Rebuilds that wait for a take-over's lease to end; control thread. */
    private final List<Runnable> afterLease = new ArrayList<>();

    /**
     * Counts the times reconnected in-sync children were trusted again (see {@link #reattached}); a
     * rebuild that began before one of them copied what the sources may have lost since.
     */
    private final java.util.concurrent.atomic.AtomicLong trustGeneration = new java.util.concurrent.atomic.AtomicLong();

    long trustGeneration() {
        return trustGeneration.get();
    }

    /** The rebuild of {@code c} finished: it is in sync now. Control thread. */
    void rebuilt(Child c, Rebuild r) {
        if (r.trustedAs != trustGeneration.get()) {
            rebuildEnded(c, r, Child.Reason.REBUILD_FAILED, "a source was trusted again during the rebuild, after it "
                    + "reconnected: what the rebuild copied may hold writes the source lost; rebuilt again in full");
            return;
        }
        // once the nexus is being destroyed, its shutdown flushed only the children then in sync: one whose
        // rebuild ends now took writes that flush did not cover, and must not be recorded healthy and clean
        if (c.rebuild != r || c.state != Child.State.REBUILDING || destroyed) {
            return;
        }
        c.moveTo(Child.State.ONLINE, Child.Reason.NONE, "");
        healthGeneration++;
        LOG.log(Level.INFO, "nexus {0}: child {1} is in sync ({2})", name(), c.uri, r.summary());
        publish(topology.mustPersist());
        persist();
    }

    /** The rebuild of {@code c} failed or was cancelled. Control thread. */
    void rebuildEnded(Child c, Rebuild r, Child.Reason reason, String why) {
        if (c.rebuild == r && c.state == Child.State.REBUILDING) {
            fault(c, reason, why, null);
        }
    }

    /**
     * A healthy child for a rebuild to copy from, preferring those not in {@code failed} (they
     * failed this copy's reads and may not be faulted yet: a source that fails fast has nothing
     * outstanding and would win every pick); null if none.
     */
    Child source(int failed) {
        Child[] readable = topology.readable();
        Child c = pick(readable, failed);
        if (c != null && changedSinceOpen(c)) { // it reconnected, and may have lost writes: another, if one stayed attached
            for (Child o : readable) {
                if ((failed & o.bit()) == 0 && !changedSinceOpen(o)) {
                    return o;
                }
            }
        }
        return c != null ? c : pick(readable, 0);
    }

    RangeLocks rangeLocks() {
        return topology.locks();
    }

    /** Takes a child out for good: its bdev is closed and the record forgets it. Control thread. */
    void remove(Child c) {
        boolean inSync = c.state == Child.State.ONLINE;
        if (inSync) {
            distrustReattachedBesides(c);
            int others = 0;
            for (Child o : children) {
                if (o != c && o.state == Child.State.ONLINE) {
                    others++;
                }
            }
            if (others == 0) {
                throw new MayastorException(ErrorKind.FAILED_PRECONDITION, "child " + c.uri
                        + " is the last in-sync child of nexus " + name() + "; removing it would lose the volume");
            }
        }
        Rebuild r = c.rebuild;
        if (c.state == Child.State.REBUILDING && r != null) {
            r.abort();
        }
        boolean open = c.state != Child.State.FAULTED;
        // out for good: a write still in flight that fails on it must not fault it again (and close it a
        // second time), nor count it as the last in-sync child to keep
        c.moveTo(Child.State.FAULTED, Child.Reason.BY_CLIENT, "removed from the nexus");
        children.remove(c);
        if (inSync) {
            healthGeneration++;
        }
        publish(inSync ? healthGeneration : topology.mustPersist());
        persist();
        CompletableFuture<Void> closed = open ? leaving(c, r) : c.closing;
        removed.put(c.uri, closed);
        closed.whenCompleteAsync((x, e) -> removed.remove(c.uri, closed), control);
        LOG.log(Level.INFO, "nexus {0}: child {1} removed", name(), c.uri);
    }

    /**
     * Before an in-sync child is taken out by request: the others whose device reconnected since it was
     * opened are faulted first. That is noticed at their next answer, which an idle nexus never asks
     * for, and counted as in sync, one could be left the only copy and trusted again without the writes
     * its node lost. Control thread.
     */
    private void distrustReattachedBesides(Child c) {
        for (Child o : List.copyOf(children)) {
            if (o != c && o.state == Child.State.ONLINE && reattached(o)) {
                fault(o, Child.Reason.UNREACHABLE, "reconnected since it was opened: not trusted", 0, 0);
            }
        }
    }

    /** By hand, for maintenance: refused for the last in-sync child. Control thread. */
    void faultByClient(Child c) {
        if (c.state == Child.State.ONLINE) {
            distrustReattachedBesides(c);
            for (Child o : children) {
                if (o != c && o.state == Child.State.ONLINE) {
                    fault(c, Child.Reason.BY_CLIENT, "faulted by request", null);
                    return;
                }
            }
            throw new MayastorException(ErrorKind.FAILED_PRECONDITION, "child " + c.uri
                    + " is the last in-sync child of nexus " + name() + "; faulting it would stop the volume");
        }
        fault(c, Child.Reason.BY_CLIENT, "faulted by request", null);
    }

    /**
     * Stops: rebuilds end, the I/O in flight drains, then the record says clean shutdown and the
     * children are closed. Control thread; the drain and what follows run in the background.
     */
    CompletableFuture<Void> shutdown(boolean forget) {
        // the I/O waiting for a look fails unless the record was known ours lately: run as it was, it reached
        // the replicas after the volume may have been taken over (a thawed process destroyed meanwhile)
        refuseUnowned = ownershipStale();
        destroyed = true;
        if (ownershipTimer != null) {
            ownershipTimer.cancel(false);
        }
        runAwaitingLook();
        for (Child c : children) {
            Rebuild r = c.rebuild;
            if (c.state == Child.State.REBUILDING && r != null) {
                r.abort();
            }
        }
        List<Child> open = new ArrayList<>();
        List<CompletableFuture<Void>> letGo = new ArrayList<>(removed.values()); // children removed, closing
        for (Child c : children) {
            if (c.state != Child.State.FAULTED) {
                open.add(c);
                if (c.rebuild != null) {
                    letGo.add(c.rebuild.over()); // a copy in flight lands before the child is closed
                }
            } else {
                letGo.add(c.closing);
            }
        }
        return CompletableFuture.runAsync(() -> {
            close(); // waits for the I/O in flight
            try { // and for the copies of the rebuilds just stopped, and the closes of children gone (bounded)
                CompletableFuture.allOf(letGo.toArray(CompletableFuture[]::new)).get(30, TimeUnit.SECONDS);
            } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException e) {
                LOG.log(Level.WARNING, "nexus {0}: a rebuild's copy or a child's close has not ended after 30 s: closing anyway", name());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            // the record says clean only once nothing is in flight: killed during the drain, the nexus leaves
            // it unclean, and the next one trusts a single child rather than mirrors that may differ. And only
            // once the children in sync have flushed: a clean record has every healthy child trusted, and one
            // whose node then lost its volatile cache would serve writes it no longer has
            List<Child> flushFailed = new ArrayList<>();
            String unclean = stats().inFlight() != 0 ? "I/O still in flight after the drain" : forget ? null
                    : unflushed(open, flushFailed);
            CompletableFuture.runAsync(() -> lastRecord(forget, unclean, flushFailed), control).join();
            for (Child c : open) {
                devices.close(c);
            }
        }, background);
    }

    /**
     * Flushes the children in sync among {@code open}, all at once: null when all did, else which did
     * not (added to {@code failed}). Off the control thread.
     */
    private String unflushed(List<Child> open, List<Child> failedChildren) {
        Map<Child, CompletableFuture<IoStatus>> flushes = new LinkedHashMap<>();
        for (Child c : open) {
            BlockDevice d = c.device;
            if (c.state == Child.State.ONLINE && d != null) { // one not in sync: the record does not call it healthy anyway
                CompletableFuture<IoStatus> flushed = new CompletableFuture<>();
                d.flush((status, ignored) -> flushed.complete(status), null);
                flushes.put(c, flushed);
            }
        }
        List<String> failed = new ArrayList<>();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        for (Map.Entry<Child, CompletableFuture<IoStatus>> f : flushes.entrySet()) {
            try {
                IoStatus status = f.getValue().get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                if (!status.isSuccess()) {
                    failed.add(f.getKey().uri + ": " + status);
                    failedChildren.add(f.getKey());
                }
            } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException e) {
                failed.add(f.getKey().uri + ": no answer in 30 s");
                failedChildren.add(f.getKey());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                failed.add(f.getKey().uri + ": interrupted");
                failedChildren.add(f.getKey());
            }
        }
        return failed.isEmpty() ? null : "the children's flush failed (" + String.join(", ", failed) + ")";
    }

    /** The record at shutdown: clean, deleted ({@code forget}), or left as it is ({@code unclean} says why). Control thread. */
    private void lastRecord(boolean forget, String unclean, List<Child> flushFailed) {
        lastRecordDone = true;
        if (unclean == null && awaitingLease) {
            // written clean, the next nexus would serve at once, while the unclean incarnation this one took
            // over from may still trust its last look: the lease is the next one's to wait out
            unclean = "stopped within its take-over lease";
        }
        boolean distrusted = false;
        // those whose last flush failed asked last: when every one reconnected, the first asked is trusted, and it must
        // not be one that may have lost writes the others flushed
        List<Child> asked = new ArrayList<>(children);
        asked.sort(java.util.Comparator.comparing(flushFailed::contains));
        for (Child c : asked) {
            // a child whose device reconnected since it was opened (its node restarted while the nexus was idle,
            // losing writes it had not flushed) is noticed at its next answer; at shutdown there is none, and the
            // clean record called it healthy — the next nexus trusted it. Out of the record, it is rebuilt
            if (c.state == Child.State.ONLINE && reattached(c)) {
                c.moveTo(Child.State.FAULTED, Child.Reason.UNREACHABLE, "reconnected since it was opened: not trusted");
                distrusted = true;
                LOG.log(Level.WARNING, "nexus {0}: child {1} reconnected since it was opened: recorded out of sync", name(),
                        c.uri);
            }
        }
        if (children.stream().anyMatch(c -> c.state == Child.State.ONLINE && !flushFailed.contains(c))) {
            // a child whose last flush failed may have lost writes it acknowledged (its node restarting, its cache
            // gone) while another flushed them: kept healthy in the record, the next nexus could trust it first and
            // rebuild the one that has them from it. A running nexus faults such a child; so does its last record
            for (Child c : flushFailed) {
                if (c.state == Child.State.ONLINE) {
                    c.moveTo(Child.State.FAULTED, Child.Reason.IO_FAILURE, "its flush at shutdown failed: not trusted");
                    distrusted = true;
                    LOG.log(Level.WARNING, "nexus {0}: child {1} failed its flush at shutdown while another flushed: recorded "
                            + "out of sync", name(), c.uri);
                }
            }
        }
        try {
            if (fenced) {
                LOG.log(Level.INFO, "nexus {0}: its record belongs to the nexus that took over; left as that one wrote it", name());
            } else if (forget) {
                store.delete(uuid());
                recordFinal = true;
            } else if (unclean != null) {
                // saves go on: writes still parked for a record complete when the store takes it
                LOG.log(Level.WARNING, "nexus {0}: {1}: its record is left unclean", name(), unclean);
                if (distrusted && children.stream().anyMatch(c -> c.state == Child.State.ONLINE)) {
                    // unclean, but without the child that reconnected: kept healthy, the next nexus could trust it
                    // first and rebuild the others from it, over the copies that still held the lost writes
                    revision = saveOwned(record(false));
                }
            } else {
                revision = saveOwned(record(true));
                recordFinal = true;
            }
        } catch (NexusStore.Superseded e) {
            LOG.log(Level.WARNING, "nexus {0}: superseded at shutdown, its record is left to the nexus that took over: {1}",
                    name(), e.getMessage());
        } catch (IOException e) {
            LOG.log(Level.WARNING, "nexus {0}: cannot update its record at shutdown: {1}", name(), e.getMessage());
        }
    }

    @Override
    protected void doClose() {
        // the children are closed by shutdown(), after the I/O in flight here has drained
    }

    // ================================================================== views

    Topology topology() {
        return topology;
    }

    /** ONLINE: every child in sync; DEGRADED: some; FAULTED: none. */
    String state() {
        if (destroyed) {
            return "shutdown";
        }
        Topology t = topology;
        if (t.readable().length == 0) {
            return "faulted";
        }
        return t.readable().length == children.size() ? "online" : "degraded";
    }

    /** Control thread. */
    NexusView view(String deviceUri) {
        List<NexusView.ChildView> list = new ArrayList<>();
        for (Child c : children) {
            Rebuild r = c.rebuild;
            NexusView.RebuildView rv = r == null ? null : new NexusView.RebuildView(r.state().name().toLowerCase(java.util.Locale.ROOT), r.partial(),
                    settings.segmentBytes(), r.total, r.done.get(), r.bytesCopied.get(), r.zeroed.get(), r.skipped.get(), r.progress(), r.rate(),
                    r.etaSeconds(), r.startMillis, r.error());
            list.add(new NexusView.ChildView(c.uri, c.state.name().toLowerCase(java.util.Locale.ROOT), c.reason.name(), c.cause, c.sinceMillis, rv));
        }
        return new NexusView(name(), uuid(), sizeBytes(), state(), deviceUri, list, access, incarnation);
    }

    long persistedGeneration() {
        return persistedGeneration;
    }

    DmaBuffer allocate(int bytes) {
        return buffers.allocate(bytes);
    }

    Executor controlExecutor() {
        return control;
    }

    /** Runs {@code task} on the control thread after {@code millis} (a pause before a retry). */
    void later(long millis, Runnable task) {
        control.schedule(task, millis, java.util.concurrent.TimeUnit.MILLISECONDS);
    }
}
