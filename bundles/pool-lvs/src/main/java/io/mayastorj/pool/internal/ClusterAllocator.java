package io.mayastorj.pool.internal;

import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.pool.internal.format.Superblock;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * The pool's data clusters: which are in use, the batch reserved for thin replicas' first writes,
 * and clusters given back by unmap that wait to be free (FORMAT.md "Free clusters read as zeros").
 *
 * <p>A write to an unallocated cluster of a thin replica calls {@link #allocate} on the I/O path,
 * under the pool's lock: it takes a cluster of the reservation and maps it ({@link #mapCluster}),
 * marking the map page changed for the next commit. A reservation is handed out only once the commit
 * recording it is durable ({@link #reserveMore}, on the pool's thread); a write that finds none
 * waits for it ({@link #afterReserve}). Everything here is guarded by the pool's lock; the commit
 * itself is {@link MetadataCommitter}'s.
 *
 * <p>A whole cluster an unmap gives back is zeroed only once no I/O that found it in the map can
 * reach it any more ({@link #release}): zeroed first, a write in flight to it could land after the
 * zeros and the cluster would go to another replica holding that data. Until it is zeroed it is listed
 * with the reservation, so an import after a crash zeroes it.
 */
final class ClusterAllocator {

    private static final Logger LOG = System.getLogger("mayastor.pool");
    /** {@link #allocate} result: no reserved cluster now; retry through {@link #afterReserve}. */
    static final int WAIT = -1;
    /** {@link #allocate} result: the replica is closing, or its pool is faulted. */
    static final int REFUSED = -2;

    private final LvStore pool;
    private final MetadataPageTable pages;
    private final int clusterCount;
    // ---- guarded by the pool's lock
    private final BitSet usedClusters;
    private final List<PendingFree> pendingFree = new ArrayList<>();
    private final BitSet reserved = new BitSet();
    /**
     * Clusters taken for the next reservation whose commit is not yet durable: listed as reserved in
     * the superblock being written, but not handed out, or a write could land in a cluster that, after
     * a crash, the pool would call free without zeroing it.
     */
    private final BitSet reserving = new BitSet();
    /** Clusters out of a replica's map by an unmap and not yet zeroed; in the superblock's reserved list. */
    private final BitSet releasing = new BitSet();
    private int releasingCount;
    /** Of those, the ones whose zeroing failed: held until the next import zeroes them, not waited for. */
    private int zeroFailed;
    private final int maxReleasing;
    /** Zero writes of given-back clusters still at the device (an export waits for them). */
    private int zeroing;
    private final int reserveBatch;
    private boolean reserveScheduled;
    private List<Runnable> afterReserve = new ArrayList<>();
    private int clusterCursor;
    private boolean warnedFull;
    /**
     * Writes that found the pool full while an unmap's clusters wait to be freed: they retry once one
     * is ({@link #zeroed}), or fail with no space when none is freed within {@link #RELEASE_WAIT_NANOS}.
     */
    private List<Runnable> afterRelease = new ArrayList<>();
    private boolean releaseRoundScheduled;
    private long releaseWaitStart;
    /**
     * Given-back clusters freed nothing within {@link #RELEASE_WAIT_NANOS}: writes to new clusters fail
     * at once until one is freed or given back. A cluster cannot drain while a write that found it
     * mapped is in flight, and the waiting writes are in flight themselves: waiting on without a bound
     * could be waiting for themselves.
     */
    private boolean releaseWaitExpired;
    static final long RELEASE_WAIT_NANOS = TimeUnit.SECONDS.toNanos(1);
    private static final long RELEASE_ROUND_MILLIS = 10;

    /** A cluster given back by an unmap: free once its new map is committed and no I/O can reach it. */
    private static final class PendingFree {
        final Replica replica;
        final int cluster;
        final long generation;
        final int epoch;
        long committedBy = Long.MAX_VALUE;

        PendingFree(Replica replica, int cluster) {
            this.replica = replica;
            this.cluster = cluster;
            this.generation = replica.epochGeneration;
            this.epoch = replica.currentEpoch();
        }

        /**
         * No I/O that found the cluster mapped can still reach it. Not taken from the replica being
         * closed: a close marks it closed first and then waits for its I/O, and a write that found
         * the cluster could land after zeros written meanwhile; its epoch counters say when it is done.
         */
        boolean drained() {
            long now = replica.epochGeneration;
            return now >= generation + 2 || (now == generation + 1 && replica.epochDrained(epoch));
        }
    }

    ClusterAllocator(LvStore pool, MetadataPageTable pages) {
        this.pool = pool;
        this.pages = pages;
        this.clusterCount = pool.layout.clusterCount();
        this.usedClusters = new BitSet(clusterCount);
        this.reserveBatch = Math.max(1, Math.min(64, clusterCount / 16));
        this.maxReleasing = Superblock.MAX_RESERVED - reserveBatch; // reserved + reserving never exceed the batch
    }

    // ------------------------------------------------------------------ the I/O path

    /**
     * The data cluster + 1 for a replica cluster written for the first time; 0 when there is no space;
     * {@link #WAIT} when no reserved cluster is at hand (a reservation is on its way: retry through
     * {@link #afterReserve}); {@link #REFUSED} when nothing may be allocated for the replica now.
     */
    int allocate(Replica replica, long cluster) {
        synchronized (pool.lock) {
            int existing = replica.physical(cluster);
            if (existing != 0) {
                return existing; // another writer got here first
            }
            if (pool.state == PoolState.FAULTED || replica.isClosed()) {
                return REFUSED; // not "no space": a host would take the pool for full (ENOSPC), and its operator too
            }
            if (pool.state != PoolState.ONLINE) {
                return 0; // degraded: no cluster can be handed out until the damaged replicas' are known again
            }
            boolean needsMapPage = replica.mapPageNumbers[(int) (cluster / Replica.ENTRIES)] < 0;
            int free = reserved.nextSetBit(0);
            if (free < 0 && freeClusters() == 0 && reserving.isEmpty() && releasesPending() && !releaseWaitExpired
                    && !(needsMapPage && pages.free() == 0)) {
                return WAIT; // an unmap gave clusters back: free once zeroed (afterReserve waits for that)
            }
            if ((needsMapPage && pages.free() == 0) || (free < 0 && freeClusters() == 0 && reserving.isEmpty())) {
                if (releasesPending()) {
                    scheduleReleaseRound(RELEASE_ROUND_MILLIS); // what drains meanwhile is free for the next writes
                }
                if (!warnedFull) {
                    warnedFull = true;
                    LOG.log(Level.WARNING, "pool {0} is full: writes to unallocated clusters fail with no space",
                            pool.name);
                }
                return 0;
            }
            if (free < 0) {
                scheduleReserve();
                return WAIT;
            }
            reserved.clear(free);
            if (reserved.cardinality() <= reserveBatch / 2) {
                scheduleReserve(); // refill before anyone has to wait
            }
            return mapCluster(replica, cluster, free);
        }
    }

    /** Runs {@code retry} once reserved clusters are at hand (or it is clear that none will come). */
    void afterReserve(Runnable retry) {
        synchronized (pool.lock) {
            if (reserved.isEmpty() && pool.state == PoolState.ONLINE && !pool.closed) {
                if (freeClusters() > 0 || !reserving.isEmpty()) {
                    afterReserve.add(retry);
                    scheduleReserve();
                    return;
                }
                if (releasesPending() && !releaseWaitExpired) {
                    if (afterRelease.isEmpty()) {
                        releaseWaitStart = System.nanoTime();
                    }
                    afterRelease.add(retry);
                    scheduleReleaseRound(0);
                    return;
                }
            }
        }
        retry.run();
    }

    /** Under the lock: a commit on the pool's thread that zeroes what drained, after {@code delayMillis}. */
    private void scheduleReleaseRound(long delayMillis) {
        if (releaseRoundScheduled) {
            return;
        }
        releaseRoundScheduled = true;
        Executor onPoolThread = round -> {
            try {
                pool.thread.execute(round);
            } catch (RejectedExecutionException e) {
                CompletableFuture.runAsync(this::abandonReleaseWaits); // not under the lock: they complete I/O
            }
        };
        Executor executor = delayMillis == 0 ? onPoolThread
                : CompletableFuture.delayedExecutor(delayMillis, TimeUnit.MILLISECONDS, onPoolThread);
        executor.execute(this::releaseRound);
    }

    /** The pool's thread has stopped (the pool is closing): the waiting writes retry now and find it so. */
    private void abandonReleaseWaits() {
        List<Runnable> waiters;
        synchronized (pool.lock) {
            releaseRoundScheduled = false;
            waiters = takeReleaseWaiters();
        }
        waiters.forEach(Runnable::run);
    }

    /**
     * On the pool's thread, for writes waiting on given-back clusters: commits (which takes the unmaps'
     * map changes to the device and zeroes the clusters no I/O can reach any more); {@link #zeroed}
     * lets the writes retry. When nothing could be zeroed, tries again shortly, within the bound.
     */
    private void releaseRound() {
        synchronized (pool.lock) {
            releaseRoundScheduled = false;
        }
        try {
            pool.committer.commitNow();
        } catch (IOException | RuntimeException e) {
            LOG.log(Level.WARNING, "pool {0}: a commit to free unmapped clusters failed: {1}", pool.name, e.getMessage());
        }
        List<Runnable> waiters;
        synchronized (pool.lock) {
            if (afterRelease.isEmpty() || zeroing > 0) {
                return; // the zeroing hands them back
            }
            if (freeClusters() == 0 && reserved.isEmpty() && reserving.isEmpty() && releasesPending()
                    && pool.state == PoolState.ONLINE && !pool.closed) {
                if (System.nanoTime() - releaseWaitStart < RELEASE_WAIT_NANOS) {
                    scheduleReleaseRound(RELEASE_ROUND_MILLIS);
                    return;
                }
                releaseWaitExpired = true;
                LOG.log(Level.WARNING, "pool {0} is full and the {1} clusters unmaps gave back are still in use by I/O: "
                        + "writes to unallocated clusters fail with no space", pool.name, String.valueOf(releasingCount));
            }
            waiters = takeReleaseWaiters();
        }
        waiters.forEach(Runnable::run);
    }

    /** Under the lock: clusters given back by unmaps that are on their way to being free. */
    private boolean releasesPending() {
        return releasingCount - zeroFailed > 0;
    }

    /** Under the lock: the writes waiting on given-back clusters, to retry. */
    private List<Runnable> takeReleaseWaiters() {
        List<Runnable> waiters = afterRelease;
        afterRelease = new ArrayList<>();
        releaseWaitStart = 0;
        return waiters;
    }

    /** Lets writes waiting on given-back clusters retry, on the pool's thread (not a device's). */
    private void retryReleaseWaiters(List<Runnable> waiters) {
        if (waiters.isEmpty()) {
            return;
        }
        try {
            pool.thread.execute(() -> waiters.forEach(Runnable::run));
        } catch (RejectedExecutionException e) {
            waiters.forEach(Runnable::run); // the pool is closing: they find it so (a device completion, no lock held)
        }
    }

    private void scheduleReserve() {
        if (!reserveScheduled && !pool.closed) {
            reserveScheduled = true;
            pool.thread.execute(this::reserveMore);
        }
    }

    /** On the pool's thread: records a fresh batch of reserved clusters, then lets waiting writes go on. */
    private void reserveMore() {
        List<Runnable> waiters;
        synchronized (pool.lock) {
            reserveScheduled = false;
            reserveClusters();
        }
        try {
            pool.committer.commitNow();
            synchronized (pool.lock) {
                reserved.or(reserving); // on disk now: these may be handed out
                reserving.clear();
            }
        } catch (IOException | RuntimeException e) {
            // the waiting writes go on whatever failed (they find the pool faulted, or wait for the next batch):
            // left waiting, they were never answered, and held their replica "in use" for good
            LOG.log(Level.ERROR, "pool {0}: reserving clusters failed: {1}", pool.name, e.getMessage());
        }
        synchronized (pool.lock) {
            waiters = afterReserve;
            afterReserve = new ArrayList<>();
        }
        waiters.forEach(Runnable::run);
    }

    /**
     * Takes a whole cluster an unmap gives back out of the replica's map: it reads as zeros from now
     * on, and is zeroed and freed once its map change is committed and no I/O that found it can still
     * reach it ({@link #freeDrained}). False when too many clusters wait for that to list one more in
     * the superblock: the caller zeroes the cluster in place and the replica keeps it.
     */
    boolean release(Replica replica, long cluster, int physical) {
        synchronized (pool.lock) {
            if (replica.physical(cluster) != physical) {
                return true; // another unmap took it out already
            }
            if (replica.isClosed() || releasingCount >= maxReleasing) {
                return false;
            }
            replica.setPhysical(cluster, 0);
            replica.allocatedClusters--;
            pages.markDirty(replica.mapPageNumbers[(int) (cluster / Replica.ENTRIES)]);
            releasing.set(physical - 1);
            releasingCount++;
            pendingFree.add(new PendingFree(replica, physical - 1));
            replica.tryFlipEpoch();
            releaseWaitExpired = false;
            return true;
        }
    }

    private static final IoCompletion<Released> ZEROED = (status, released) -> released.allocator.zeroed(released, status);

    /** A drained given-back cluster being zeroed; one per unmapped cluster, not the hot path. */
    private record Released(ClusterAllocator allocator, int cluster) {
    }

    boolean hasPendingFrees() {
        return !pendingFree.isEmpty();
    }

    /**
     * Waits (up to {@code millis}) for the zero writes still at the device: an export lets the
     * device go after this, and a late zero write would land in a cluster the next import hands out.
     */
    void awaitZeroing(long millis) throws InterruptedException {
        long deadline = System.currentTimeMillis() + millis;
        synchronized (pool.lock) {
            while (zeroing > 0) {
                long left = deadline - System.currentTimeMillis();
                if (left <= 0) {
                    LOG.log(Level.WARNING, "pool {0}: {1} zero writes of unmapped clusters still at the device after {2} ms",
                            pool.name, String.valueOf(zeroing), String.valueOf(millis));
                    return;
                }
                pool.lock.wait(left);
            }
        }
    }

    /** Zeroes drained given-back clusters on the device (not waiting); each is free once that is done. */
    void zeroReleased(List<Integer> clusters) {
        if (clusters.isEmpty()) {
            return;
        }
        synchronized (pool.lock) {
            zeroing += clusters.size();
        }
        long blocks = pool.layout.clusterSize() / pool.device.blockSize();
        for (int cluster : clusters) {
            pool.device.writeZeroes(pool.layout.clusterOffset(cluster) / pool.device.blockSize(), blocks, ZEROED,
                    new Released(this, cluster));
        }
    }

    private void zeroed(Released released, IoStatus status) {
        List<Runnable> waiters = List.of();
        synchronized (pool.lock) {
            if (--zeroing == 0) {
                pool.lock.notifyAll();
            }
            if (status != IoStatus.SUCCESS) {
                LOG.log(Level.WARNING, "pool {0}: zeroing unmapped cluster {1} failed ({2}); it is held until the "
                        + "next import zeroes it", pool.name, String.valueOf(released.cluster()), status);
                if (releasing.get(released.cluster())) {
                    zeroFailed++; // no write waits for it (a round every 10 ms would go on for as long as writes came)
                }
            } else if (releasing.get(released.cluster())) {
                releasing.clear(released.cluster());
                releasingCount--;
                usedClusters.clear(released.cluster());
                warnedFull = false;
                releaseWaitExpired = false;
            }
            if (zeroing == 0 || freeClusters() > 0) {
                waiters = takeReleaseWaiters();
            }
        }
        retryReleaseWaiters(waiters);
    }

    // ------------------------------------------------------------------ under the pool's lock

    /** For tests: clusters reserved on disk and ready to hand out, or -1 while a refill is scheduled or being committed. */
    int reservedWhenSettled() {
        synchronized (pool.lock) {
            return reserveScheduled || !reserving.isEmpty() ? -1 : reserved.cardinality();
        }
    }

    /** Under the lock: tops the reservation up to a batch from the free clusters; the caller commits it. */
    void reserveClusters() {
        int wanted = reserveBatch - reserved.cardinality() - reserving.cardinality();
        for (int i = 0; i < wanted; i++) {
            int free = nextFreeCluster();
            if (free < 0) {
                break;
            }
            usedClusters.set(free);
            reserving.set(free);
        }
        pages.markSuperblockDirty();
    }

    private int nextFreeCluster() {
        int free = usedClusters.nextClearBit(clusterCursor);
        if (free >= clusterCount) {
            free = usedClusters.nextClearBit(0);
        }
        if (free >= clusterCount) {
            return -1;
        }
        clusterCursor = free + 1;
        return free;
    }

    /** A free cluster for a thick replica (free clusters read as zeros already). */
    int assignFreeCluster(Replica replica, long cluster) {
        int free = nextFreeCluster();
        usedClusters.set(free);
        return mapCluster(replica, cluster, free);
    }

    /** Maps data cluster {@code free} at a replica cluster, with a new map page when its range has none. */
    private int mapCluster(Replica replica, long cluster, int free) {
        int mapIndex = (int) (cluster / Replica.ENTRIES);
        if (replica.mapPageNumbers[mapIndex] < 0) {
            int page = pages.allocate();
            replica.mapPageNumbers[mapIndex] = page;
            pages.assign(page, replica, mapIndex);
            pages.markDirty(replica.descriptorPage);
        }
        // counted before the entry is visible: a write that finds it mapped sees the count (both volatile)
        replica.stampMapPage(mapIndex, pages.mapping());
        replica.setPhysical(cluster, free + 1);
        replica.allocatedClusters++;
        pages.markDirty(replica.mapPageNumbers[mapIndex]);
        return free + 1;
    }

    long freeClusters() {
        return clusterCount - usedClusters.cardinality();
    }

    boolean isUsed(int cluster) {
        return usedClusters.get(cluster);
    }

    /** A cluster a committed map names (import). */
    void markUsed(int cluster) {
        usedClusters.set(cluster);
    }

    /** The reservation as a commit records it: handed out or not, every reserved cluster. */
    int[] reservedList() {
        BitSet listed = (BitSet) reserved.clone();
        listed.or(reserving);
        listed.or(releasing);
        return listed.stream().limit(Superblock.MAX_RESERVED).toArray();
    }

    /**
     * Once every cluster's owner is known again (the damaged replicas forgotten): forgets the
     * reservation and returns the clusters no replica maps. They stay in use, not allocatable, until
     * they are zeroed and given to {@link #freeZeroed}. Clusters given back by an unmap and not yet
     * zeroed are not among them: those are freed by their own zeroing alone ({@link #freeDrained}),
     * and freed twice one would be handed out twice.
     */
    BitSet holdUnreferenced(BitSet referenced) {
        BitSet unknown = new BitSet(clusterCount);
        unknown.set(0, clusterCount);
        unknown.andNot(referenced);
        unknown.andNot(releasing);
        reserved.clear();
        reserving.clear();
        usedClusters.clear();
        usedClusters.set(0, clusterCount); // mapped, pending, and the unknown ones: not allocatable until zeroed
        return unknown;
    }

    /** Clusters zeroed that no committed metadata points at any more: free. */
    void freeZeroed(BitSet clusters) {
        usedClusters.andNot(clusters);
    }

    void freeZeroed(List<Integer> clusters) {
        for (int cluster : clusters) {
            usedClusters.clear(cluster);
        }
    }

    /**
     * Before a destroyed replica's clusters are zeroed: the clusters its unmaps gave back that wait
     * for their zeroing, to be zeroed with the rest (they stay in the wait until {@link #freeDestroyed}:
     * a destroy whose zeroing fails finds them again when it is resumed).
     */
    List<Integer> pendingOf(Replica replica) {
        List<Integer> clusters = new ArrayList<>();
        for (PendingFree p : pendingFree) {
            if (p.replica == replica) {
                clusters.add(p.cluster);
            }
        }
        return clusters;
    }

    /**
     * A destroyed replica's clusters, zeroed and out of the committed metadata: free, and so are the
     * ones its unmaps gave back that still wait. (One the zeroing after a commit took meanwhile is
     * freed by that zeroing.)
     */
    void freeDestroyed(Replica replica, List<Integer> mapped) {
        freeZeroed(mapped);
        pendingFree.removeIf(p -> {
            if (p.replica != replica) {
                return false;
            }
            releasing.clear(p.cluster);
            releasingCount--;
            usedClusters.clear(p.cluster);
            return true;
        });
    }

    /** A commit of sequence {@code seq} holds the map change of every cluster given back so far. */
    void pendingFreesCommittedBy(long seq) {
        for (PendingFree p : pendingFree) {
            if (p.committedBy == Long.MAX_VALUE) {
                p.committedBy = seq; // its map change is in this commit
            }
        }
    }

    /**
     * After commit {@code committedSeq}: the given-back clusters no I/O can reach any more, out of
     * the wait; the caller zeroes them ({@link #zeroReleased}) once it holds the lock no longer.
     */
    List<Integer> freeDrained(long committedSeq) {
        List<Integer> drained = new ArrayList<>();
        for (Iterator<PendingFree> it = pendingFree.iterator(); it.hasNext(); ) {
            PendingFree p = it.next();
            if (p.committedBy <= committedSeq && p.drained()) {
                drained.add(p.cluster);
                it.remove();
            } else if (p.replica.epochGeneration == p.generation) {
                p.replica.tryFlipEpoch();
            }
        }
        return drained;
    }
}
