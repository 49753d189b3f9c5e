package io.mayastorj.pool.internal;

import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.buffer.BufferPool;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.core.text.Sizes;
import io.mayastorj.pool.internal.format.Layout;
import io.mayastorj.pool.internal.format.ReplicaRecord;
import io.mayastorj.pool.internal.format.Superblock;
import io.mayastorj.pool.internal.format.SuperblockChoice;
import io.mayastorj.pool.internal.format.Tombstone;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * A pool: a logical-volume store on one block device (FORMAT.md). This class is the pool's face: its
 * identity and state, its thread, the table of replicas, and every administrative change — make,
 * import, export and destroy the pool; create, grow, set properties of and destroy replicas — each
 * of which commits before it returns. The machinery is in the pieces it owns, one job each:
 * {@link ClusterAllocator} (data clusters, the reservation, clusters given back),
 * {@link MetadataPageTable} (the metadata pages in memory), {@link MetadataCommitter} (the commit
 * protocol and group commit: the durability contract), {@link PoolImport} with
 * {@link MetadataReader} (import and its checks), {@link PoolDevice} (blocking metadata I/O).
 *
 * <p>Commits are crash-consistent: changed metadata pages are written to the slot that does not hold
 * their committed version, the device is flushed, then the superblock (the commit record) is written
 * to its other slot and the device flushed again. A thin replica's new clusters are committed by the
 * next flush of any replica (group commit), as a file system does: a write is durable once a flush
 * after it has completed. Everything that changes metadata runs on the pool's own thread; the I/O
 * path takes the pool's lock only to allocate or free a cluster. One lock, {@link #lock}, guards the
 * state of every piece.
 *
 * <p>Free clusters always read as zeros: the pool is zeroed when it is made, and a cluster is zeroed
 * before it is freed. A thin replica takes its new clusters from a small batch that a commit has
 * first recorded as <em>reserved</em> in the superblock; if the node dies before the clusters'
 * mapping is committed, the next import zeroes the reserved clusters that no replica maps, so data of
 * writes that were never made durable cannot surface in another replica.
 */
public final class LvStore {

    private static final Logger LOG = System.getLogger("mayastor.pool");

    final String name;
    final UUID uuid;
    final BlockDevice device;
    final Layout layout;
    final long createdMillis;
    final ExecutorService thread;
    final PoolDevice deviceIo;
    final MetadataPageTable pages;
    final ClusterAllocator allocator;
    final MetadataCommitter committer;

    final Object lock = new Object();
    // ---- guarded by lock
    final Map<UUID, Replica> replicas = new LinkedHashMap<>();
    final Map<Integer, DamagedReplica> damaged = new LinkedHashMap<>();
    PoolState state = PoolState.ONLINE;
    String reason;
    boolean closed;
    /** An export (or destroy) began: no administrative change is taken any more (under {@link #lock}). */
    private boolean exporting;

    LvStore(String name, UUID uuid, BlockDevice device, Layout layout, long createdMillis, BufferPool buffers) {
        this.name = name;
        this.uuid = uuid;
        this.device = device;
        this.layout = layout;
        this.createdMillis = createdMillis;
        this.deviceIo = new PoolDevice(device, buffers);
        this.pages = new MetadataPageTable(name, layout.metadataPages());
        this.allocator = new ClusterAllocator(this, pages);
        this.committer = new MetadataCommitter(this, pages, allocator, deviceIo);
        this.thread = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "pool " + name);
            t.setDaemon(true);
            return t;
        });
    }

    // ------------------------------------------------------------------ create, probe, import

    /** What a device holds. */
    public sealed interface Probe {
        record Empty() implements Probe {
        }

        /**
         * @param reason   which blocks failed which check
         * @param fallback the newest readable state, which a person may import knowingly; null when none
         */
        record Damaged(String reason, Superblock fallback) implements Probe {
        }

        /**
         * @param findings superblock blocks that failed their checks or lag their other copy (torn by
         *                 a crash, or damaged), which the import rewrites
         */
        record Valid(Superblock superblock, List<String> findings, List<SuperblockChoice.Heal> heals) implements Probe {
        }
    }

    /**
     * Reads the superblock blocks — both slots, and from format version 2 both copies of each — and
     * decides which state to import ({@link SuperblockChoice}). Reads only.
     */
    public static Probe probe(BlockDevice device, BufferPool buffers) {
        return MetadataReader.probe(new PoolDevice(device, buffers));
    }

    /**
     * Makes a new pool on {@code device}: zeroes the metadata area and the data clusters (free
     * clusters always read as zeros), then commits an empty superblock.
     */
    public static LvStore create(String name, UUID uuid, BlockDevice device, int clusterSize, BufferPool buffers) {
        return create(name, uuid, device, clusterSize, buffers, Layout.CURRENT_VERSION);
    }

    /** Makes a new pool of format {@code version}: 1 only for tests of pools made before version 2. */
    static LvStore create(String name, UUID uuid, BlockDevice device, int clusterSize, BufferPool buffers, int version) {
        if (!Superblock.validName(name)) {
            throw MayastorException.invalidArgument(
                    "pool name '%s' is not valid: up to 63 letters, digits, '.', '_' and '-'", name);
        }
        Probe probe = probe(device, buffers);
        if (probe instanceof Probe.Valid valid) {
            Superblock sb = valid.superblock();
            throw MayastorException.failedPrecondition(
                    "%s holds pool '%s' (uuid %s) already; import it, or destroy that pool to reuse the device",
                    device.name(), sb.name(), sb.poolUuid());
        }
        if (probe instanceof Probe.Damaged damaged) {
            throw MayastorException.failedPrecondition(
                    "%s holds a damaged pool (%s); it is left as it is: nothing is overwritten", device.name(),
                    damaged.reason());
        }
        Layout layout = Layout.compute(version, device.sizeBytes(), device.blockSize(), clusterSize);
        LvStore pool = new LvStore(name, uuid, device, layout, System.currentTimeMillis(), buffers);
        try {
            pool.committer.takeBuffers(); // now, while the node has them: a commit under load must not need the shared pool
            // every superblock block but the tombstone's goes first, flushed: over a destroy cut short after its
            // tombstone they may still hold the old pool, and with the tombstone zeroed below and no new superblock
            // yet, a crash in the (long) zeroing would let the old pool be imported from them, or leave one slot
            // readable and the other not (damage). Slot 1's first copy first: with it gone, a probe looks for the
            // second copies at the device's end, zeroed here too
            pool.deviceIo.zero(Layout.superblockOffset(1), Layout.PAGE);
            for (int slot = 0; slot < 2; slot++) {
                long mirror = Layout.mirrorSuperblockOffset(device.sizeBytes(), slot);
                if (mirror >= Layout.METADATA_START && mirror + Layout.PAGE <= device.sizeBytes()) {
                    pool.deviceIo.zero(mirror, Layout.PAGE);
                }
            }
            pool.deviceIo.flush();
            pool.deviceIo.zero(0, layout.dataOffset());
            pool.deviceIo.zero(layout.dataOffset(), layout.capacity());
            if (layout.mirrored()) {
                pool.deviceIo.zero(layout.mirrorStart(), layout.bytesNeeded() - layout.mirrorStart());
            }
            synchronized (pool.lock) {
                pool.allocator.reserveClusters();
            }
            pool.committer.commitNow();
            if (layout.mirrored()) {
                synchronized (pool.lock) {
                    pool.pages.markSuperblockDirty();
                }
                pool.committer.commitNow(); // both slots hold a superblock from the start
            }
        } catch (IOException | RuntimeException e) {
            pool.thread.shutdownNow();
            pool.committer.releaseBuffers();
            if (e instanceof MayastorException me) {
                throw me;
            }
            throw MayastorException.internal("creating pool %s on %s failed: %s", name, device.name(), e.getMessage());
        }
        LOG.log(Level.INFO, "created pool {0} on {1}: {2} in {3} clusters of {4}", name, device.name(),
                Sizes.human(layout.capacity()), String.valueOf(layout.clusterCount()), Sizes.human(clusterSize));
        return pool;
    }

    /**
     * Imports the pool on {@code device}. A metadata block that fails its checks is read from its
     * other copy and rewritten (format version 2); when neither copy can be trusted the import is
     * refused with the blocks and checks that failed, and nothing on the device is written.
     */
    public static LvStore open(BlockDevice device, BufferPool buffers) {
        return open(device, buffers, false);
    }

    /**
     * Imports the pool on {@code device}; with {@code forceRollback}, also when the newest
     * acknowledged state cannot be established: the newest readable superblock is taken (every free
     * cluster is zeroed again, since the lost commits may have written some), and replicas whose
     * metadata cannot be read are listed as damaged. A person's choice, logged.
     */
    public static LvStore open(BlockDevice device, BufferPool buffers, boolean forceRollback) {
        return open(device, buffers, forceRollback, () -> { });
    }

    /** ... telling {@code progress} at each step of a long zeroing (a destroy finished), on the caller's thread. */
    public static LvStore open(BlockDevice device, BufferPool buffers, boolean forceRollback, Runnable progress) {
        return PoolImport.open(device, buffers, forceRollback, progress);
    }

    // ------------------------------------------------------------------ replicas

    /** Runs an administrative change on the pool's thread and waits for it. */
    <T> T call(Callable<T> work) {
        return call(work, false);
    }

    /**
     * ... refused once an export began (but for the export's own last commit, {@code final}): a change
     * queued behind that commit ran after it, unsaved, or after the device was handed back — a destroy
     * that had erased the superblocks found one written again, the disk read as a damaged pool.
     */
    private <T> T call(Callable<T> work, boolean last) {
        Future<T> future;
        synchronized (lock) {
            if (closed) {
                throw MayastorException.failedPrecondition("pool %s is exported", name);
            }
            if (exporting && !last) {
                throw MayastorException.unavailable("pool %s is being exported or destroyed", name);
            }
            future = thread.submit(work);
        }
        try {
            return future.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw MayastorException.unavailable("interrupted while pool %s worked", name);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof MayastorException me) {
                throw me;
            }
            throw MayastorException.internal("pool %s: %s", name, e.getCause());
        }
    }

    Replica createReplica(UUID replicaUuid, String replicaName, long sizeBytes, boolean thin, String properties) {
        return call(() -> {
            Replica replica;
            synchronized (lock) {
                checkWritable();
                if (replicas.containsKey(replicaUuid)) {
                    throw MayastorException.alreadyExists("replica %s exists already in pool %s", replicaUuid, name);
                }
                for (Replica other : replicas.values()) {
                    if (!other.destroying && other.replicaName.equals(replicaName)) {
                        throw MayastorException.alreadyExists("pool %s has a replica named %s already (uuid %s)", name,
                                replicaName, other.uuid());
                    }
                }
                checkFits("the replica name", replicaName, ReplicaRecord.MAX_NAME);
                checkFits("the properties of replica " + replicaUuid, properties, ReplicaRecord.MAX_PROPERTIES);
                if (sizeBytes <= 0 || sizeBytes % layout.blockSize() != 0) {
                    throw MayastorException.invalidArgument("replica size %d must be a positive multiple of %d bytes",
                            sizeBytes, layout.blockSize());
                }
                long clusters = Replica.clustersFor(sizeBytes, layout.clusterSize());
                if (clusters > (long) ReplicaRecord.MAX_MAP_PAGES * Replica.ENTRIES) {
                    throw MayastorException.invalidArgument("replica size %s is beyond what a pool of %s clusters maps (%s)",
                            Sizes.human(sizeBytes), Sizes.human(layout.clusterSize()),
                            Sizes.human((long) ReplicaRecord.MAX_MAP_PAGES * Replica.ENTRIES * layout.clusterSize()));
                }
                if (replicas.size() + damaged.size() >= layout.maxReplicas()) {
                    throw MayastorException.resourceExhausted("pool %s holds its maximum of %d replicas",
                            name, layout.maxReplicas());
                }
                long free = allocator.freeClusters();
                if (!thin && clusters > free) {
                    throw MayastorException.resourceExhausted("pool %s has %s free; a thick replica of %s needs %s",
                            name, Sizes.human(free * layout.clusterSize()), Sizes.human(sizeBytes),
                            Sizes.human(clusters * layout.clusterSize()));
                }
                int mapPagesNeeded = thin ? 0 : Replica.mapPagesFor(sizeBytes, layout.clusterSize());
                if (pages.free() < 1 + mapPagesNeeded) {
                    throw MayastorException.resourceExhausted("pool %s has no metadata room left", name);
                }
                replica = new Replica(this, replicaUuid, replicaName, sizeBytes, thin, System.currentTimeMillis(), properties);
                int descriptor = pages.allocate();
                replica.descriptorPage = descriptor;
                pages.assign(descriptor, replica, -1);
                if (!thin) {
                    for (long c = 0; c < clusters; c++) {
                        allocator.assignFreeCluster(replica, c);
                    }
                }
                replicas.put(replicaUuid, replica);
                pages.markDirty(descriptor);
                pages.markSuperblockDirty();
            }
            committer.commitNow();
            LOG.log(Level.INFO, "pool {0}: created {1} replica {2} ({3}, {4})", name, thin ? "thin" : "thick",
                    replicaUuid, replicaName, Sizes.human(sizeBytes));
            return replica;
        });
    }

    /** Grows a replica; a thick one gets its new clusters now. */
    void resizeReplica(UUID replicaUuid, long newSize) {
        call(() -> {
            synchronized (lock) {
                checkWritable();
                Replica replica = replica(replicaUuid);
                if (newSize == replica.sizeBytes) {
                    return null;
                }
                if (newSize < replica.sizeBytes) {
                    throw MayastorException.invalidArgument("replica %s is %s; shrinking it to %s is not supported",
                            replicaUuid, Sizes.human(replica.sizeBytes), Sizes.human(newSize));
                }
                if (newSize % layout.blockSize() != 0) {
                    throw MayastorException.invalidArgument("replica size %d must be a multiple of %d bytes",
                            newSize, layout.blockSize());
                }
                long oldClusters = Replica.clustersFor(replica.sizeBytes, layout.clusterSize());
                long newClusters = Replica.clustersFor(newSize, layout.clusterSize());
                if (newClusters > (long) ReplicaRecord.MAX_MAP_PAGES * Replica.ENTRIES) {
                    throw MayastorException.invalidArgument("replica size %s is beyond what this pool maps",
                            Sizes.human(newSize));
                }
                if (!replica.thin && newClusters - oldClusters > allocator.freeClusters()) {
                    throw MayastorException.resourceExhausted("pool %s has %s free; growing replica %s to %s needs %s more",
                            name, Sizes.human(allocator.freeClusters() * layout.clusterSize()), replicaUuid,
                            Sizes.human(newSize),
                            Sizes.human((newClusters - oldClusters) * layout.clusterSize()));
                }
                if (!replica.thin && pages.free() < Replica.mapPagesFor(newSize, layout.clusterSize())
                        - Replica.mapPagesFor(replica.sizeBytes, layout.clusterSize())) {
                    // checked before anything changes: a page found missing half-way left the replica grown in memory
                    throw MayastorException.resourceExhausted("pool %s has no metadata room left to grow replica %s", name,
                            replicaUuid);
                }
                replica.growTo(newSize);
                if (!replica.thin) {
                    for (long c = oldClusters; c < newClusters; c++) {
                        allocator.assignFreeCluster(replica, c);
                    }
                }
                pages.markDirty(replica.descriptorPage);
            }
            committer.commitNow();
            synchronized (lock) {
                replica(replicaUuid).grownOnDisk();
            }
            LOG.log(Level.INFO, "pool {0}: replica {1} grown to {2}", name, replicaUuid, Sizes.human(newSize));
            return null;
        });
    }

    /**
     * Refuses a string the replica's descriptor has no room for, before anything changes: once in
     * a replica, it failed every later commit of the pool.
     */
    static void checkFits(String what, String value, int maxBytes) {
        int bytes = value.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
        if (bytes > maxBytes) {
            throw MayastorException.invalidArgument("%s: %d bytes, more than the %d the pool's metadata keeps",
                    what, bytes, maxBytes);
        }
    }

    /**
     * Stores free-form properties (share settings) with a replica. A degraded pool takes them too:
     * they allocate nothing, and a healthy replica in it must be shareable (a volume moves) and its
     * unshare (a switch-over's fence) must last past a restart.
     */
    void setProperties(UUID replicaUuid, String properties) {
        checkFits("the properties of replica " + replicaUuid, properties, ReplicaRecord.MAX_PROPERTIES);
        call(() -> {
            synchronized (lock) {
                if (state == PoolState.FAULTED) {
                    throw MayastorException.failedPrecondition("pool %s is faulted: %s", name, reason);
                }
                Replica replica = replica(replicaUuid);
                replica.properties = properties;
                pages.markDirty(replica.descriptorPage);
            }
            committer.commitNow();
            return null;
        });
    }

    /**
     * Destroys a replica: marks it destroying (committed), zeroes its clusters, then removes it
     * (committed). A crash in between is finished at the next import. The caller has closed it.
     *
     * <p>The zeroing runs on the caller's thread, between two steps on the pool thread: on the pool
     * thread, a large thick replica on a disk without a fast write-zeroes held every other replica's
     * thin allocations and the pool's flushes for as long as it took (minutes to hours). The clusters
     * it maps stay allocated until the removal is committed, so nothing reuses them meanwhile; those
     * its unmaps gave back are left to the allocator's own zeroing (commits go on meanwhile, and one
     * frees them once zeroed — zeroed here too, they were wiped again after another replica took
     * them). An export waits for the zeroing, which stops within a step once the export began.
     */
    void destroyReplica(UUID replicaUuid) {
        Replica replica = call(() -> {
            Replica r;
            boolean resumed;
            synchronized (lock) {
                if (state == PoolState.FAULTED) {
                    throw MayastorException.failedPrecondition("pool %s is faulted: %s", name, reason);
                }
                r = replicas.get(replicaUuid);
                // a destroy whose second half failed (its zeroing: a device error or timeout) is resumed by the
                // next: the replica is no longer listed, and a retry once answered NOT_FOUND with it still there
                resumed = r != null && r.destroying;
                if (!resumed) {
                    r = replica(replicaUuid);
                    r.destroying = true;
                    pages.markDirty(r.descriptorPage);
                }
            }
            if (!resumed) {
                committer.commitNow();
            }
            return r;
        });
        synchronized (lock) { // here, not on the pool thread: a caller interrupted there would leave the marks set
            if (exporting || closed) {
                throw MayastorException.unavailable("pool %s is being exported or destroyed", name);
            }
            if (replicas.get(replicaUuid) != replica) {
                // another destroy removed it since this one's first half: its clusters are free, maybe reused —
                // zeroed from the map the removal leaves in memory, they were wiped under their new owner
                LOG.log(Level.INFO, "pool {0}: replica {1} was destroyed meanwhile", name, replicaUuid);
                return;
            }
            if (replica.finishing) {
                throw MayastorException.unavailable("replica %s of pool %s is being destroyed already", replicaUuid, name);
            }
            replica.finishing = true; // one destroy zeroes and removes it at a time
            destroysZeroing++;
        }
        try {
            replica.close();
            List<Integer> clusters = destroyedClusters(replica);
            try {
                deviceIo.zeroClusters(layout, clusters, () -> {
                    synchronized (lock) {
                        return exporting || closed;
                    }
                });
            } catch (IOException e) {
                throw MayastorException.unavailable("pool %s: zeroing replica %s did not finish: %s", name, replicaUuid,
                        e.getMessage());
            }
            call(() -> {
                removeDestroyed(replica, clusters, false);
                return null;
            });
        } finally {
            synchronized (lock) {
                replica.finishing = false;
                destroysZeroing--;
                lock.notifyAll();
            }
        }
        LOG.log(Level.INFO, "pool {0}: destroyed replica {1}", name, replicaUuid);
    }

    /** Destroys zeroing on their callers' threads (under the lock): an export waits for them. */
    private int destroysZeroing;

    /** A destroy's second half at import, before the pool serves: zeroes the clusters, commits the removal, frees them. */
    void finishDestroy(Replica replica) throws IOException {
        replica.close();
        List<Integer> clusters = destroyedClusters(replica);
        List<Integer> zeroed = new ArrayList<>(clusters);
        synchronized (lock) {
            zeroed.addAll(allocator.pendingOf(replica));
        }
        deviceIo.zeroClusters(layout, zeroed);
        removeDestroyed(replica, clusters, true);
    }

    /** The data clusters a replica being destroyed maps. */
    private List<Integer> destroyedClusters(Replica replica) {
        List<Integer> clusters = new ArrayList<>();
        synchronized (lock) {
            for (int i = 0; i < replica.mapPageCount(); i++) {
                for (int entry : replica.mapEntries(i)) {
                    if (entry != 0) {
                        clusters.add(entry - 1);
                    }
                }
            }
        }
        return clusters;
    }

    /**
     * On the pool thread, its clusters zeroed: the replica's removal is committed, then its clusters are
     * free — and, when {@code pendingZeroed}, those its unmaps gave back that still wait; else they are
     * left to the allocator's zeroing.
     */
    private void removeDestroyed(Replica replica, List<Integer> clusters, boolean pendingZeroed) throws IOException {
        synchronized (lock) {
            if (replicas.get(replica.uuid()) != replica) {
                return; // removed already (a retry's first half ran after this one's)
            }
            replicas.remove(replica.uuid());
            for (int page : replica.mapPageNumbers) {
                if (page >= 0) {
                    pages.release(page);
                }
            }
            pages.release(replica.descriptorPage);
            pages.markSuperblockDirty();
        }
        committer.commitNow();
        synchronized (lock) {
            // zeroed, and no committed metadata points at them any more
            if (pendingZeroed) {
                allocator.freeDestroyed(replica, clusters);
            } else {
                allocator.freeZeroed(clusters);
            }
        }
    }

    /**
     * Forgets a replica whose metadata is damaged; its clusters are zeroed before they are reused.
     * The last one's are zeroed before the commit that forgets it: once no committed metadata names
     * a damaged replica, a plain import takes every unmapped cluster for free and zeroed, so a crash
     * (or a failed zeroing) between that commit and the zeroing handed its data to the next replica.
     * That zeroing (every cluster no replica maps: the pool's free space) runs on the caller's thread,
     * as a replica destroy's does: on the pool thread it held every commit — flushes, shares, the
     * switch-over's fence — for as long as zeroing a large disk took.
     */
    void destroyDamaged(int descriptorPage) {
        boolean last = call(() -> {
            synchronized (lock) {
                if (!damaged.containsKey(descriptorPage)) {
                    throw MayastorException.notFound("pool %s has no damaged replica at page %d", name, descriptorPage);
                }
                if (damaged.size() == 1 && state == PoolState.DEGRADED) {
                    return true;
                }
                damaged.remove(descriptorPage);
                pages.markSuperblockDirty();
            }
            committer.commitNow();
            return false;
        });
        if (!last) {
            return;
        }
        synchronized (lock) { // here, not on the pool thread: a caller interrupted there would leave the marks set
            if (forgettingLast) {
                throw MayastorException.unavailable("pool %s: its last damaged replica is being forgotten already", name);
            }
            if (exporting || closed) {
                throw MayastorException.unavailable("pool %s is being exported or destroyed", name);
            }
            if (state == PoolState.FAULTED) {
                throw MayastorException.failedPrecondition("pool %s is faulted: %s", name, reason);
            }
            if (!damaged.containsKey(descriptorPage) || damaged.size() != 1 || state != PoolState.DEGRADED) {
                // another destroy forgot it meanwhile: holding "what no replica maps" now would take an online pool's
                // reservation from under its writes
                throw MayastorException.notFound("pool %s has no damaged replica at page %d", name, descriptorPage);
            }
            forgettingLast = true;
            destroysZeroing++; // an export waits for it
        }
        try {
            BitSet held = call(this::holdUnreferenced);
            try {
                deviceIo.zeroClusters(layout, held, () -> {
                    synchronized (lock) {
                        return exporting || closed;
                    }
                });
            } catch (IOException e) {
                throw MayastorException.unavailable("pool %s: zeroing what no replica maps did not finish: %s", name,
                        e.getMessage());
            }
            call(() -> {
                synchronized (lock) {
                    if (state == PoolState.FAULTED) { // a commit failed while this zeroed: it is not online again
                        throw MayastorException.failedPrecondition("pool %s is faulted: %s", name, reason);
                    }
                    damaged.remove(descriptorPage);
                    pages.markSuperblockDirty();
                }
                committer.commitNow();
                onlineAgain(held);
                return null;
            });
        } finally {
            synchronized (lock) {
                forgettingLast = false;
                destroysZeroing--;
                lock.notifyAll();
            }
        }
    }

    /** The last damaged replica's destroy is zeroing (one at a time: which one is the last is decided once). */
    private boolean forgettingLast;

    /**
     * Once no damaged replica is left, the pool knows every cluster's owner again: the unreferenced
     * ones (the damaged replicas' data among them) are zeroed and the pool is online.
     */
    void reclaimUnreferenced() throws IOException {
        onlineAgain(zeroUnreferenced());
    }

    /** Holds the clusters no replica maps (not allocatable) and zeroes them. */
    private BitSet zeroUnreferenced() throws IOException {
        BitSet unknown = holdUnreferenced();
        deviceIo.zeroClusters(layout, unknown, () -> false);
        return unknown;
    }

    /** Holds the clusters no replica maps: not allocatable until they are zeroed and freed. */
    private BitSet holdUnreferenced() {
        BitSet unknown;
        synchronized (lock) {
            BitSet referenced = new BitSet(layout.clusterCount());
            for (Replica r : replicas.values()) {
                for (int i = 0; i < r.mapPageCount(); i++) {
                    for (int entry : r.mapEntries(i)) {
                        if (entry != 0) {
                            referenced.set(entry - 1);
                        }
                    }
                }
            }
            unknown = allocator.holdUnreferenced(referenced);
            pages.rebuildUsed(replicas.values());
        }
        return unknown;
    }

    private void onlineAgain(BitSet zeroed) throws IOException {
        synchronized (lock) {
            allocator.freeZeroed(zeroed);
            state = PoolState.ONLINE;
            reason = null;
            allocator.reserveClusters();
        }
        committer.commitNow();
        LOG.log(Level.INFO, "pool {0} is online again", name);
    }

    private Replica replica(UUID replicaUuid) {
        Replica replica = replicas.get(replicaUuid);
        if (replica == null || replica.destroying) {
            throw MayastorException.notFound("replica %s not found in pool %s", replicaUuid, name);
        }
        return replica;
    }

    private void checkWritable() {
        if (state == PoolState.FAULTED) {
            throw MayastorException.failedPrecondition("pool %s is faulted: %s", name, reason);
        }
        if (state == PoolState.DEGRADED) {
            throw MayastorException.failedPrecondition(
                    "pool %s is degraded (%s); destroy the damaged replicas before changing it", name, reason);
        }
    }

    /** Under the lock: a metadata write failed, and nothing more is committed or served. */
    void fault(String why) {
        if (state != PoolState.FAULTED) {
            state = PoolState.FAULTED;
            reason = why;
            LOG.log(Level.ERROR, "pool {0} is faulted: {1}", name, why);
        }
    }

    // ------------------------------------------------------------------ export, destroy, views

    /** Commits what is pending and stops; the replicas are closed. The pool stays on the device. */
    void export() {
        List<Replica> open;
        synchronized (lock) {
            if (closed) {
                return; // exported already (a destroy tried again after its erasure failed)
            }
            exporting = true; // no change is queued from here on: the last commit below is the last
            open = new ArrayList<>(replicas.values());
            // a destroy zeroing on its caller's thread stops within a step (it looks at exporting): waited for,
            // or it would write zeros after the device was handed back, over what an import there made since
            long deadline = System.nanoTime() + PoolDevice.zeroStepTimeout.toNanos() + TimeUnit.MINUTES.toNanos(1);
            while ((destroysZeroing > 0 || deviceIo.abandonedZeroes() > 0) && System.nanoTime() < deadline) {
                try {
                    lock.wait(1000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            if (destroysZeroing > 0) {
                LOG.log(Level.ERROR, "pool {0}: a replica's destroy is still zeroing; the export goes on", name);
            }
            if (deviceIo.abandonedZeroes() > 0) {
                LOG.log(Level.ERROR, "pool {0}: {1} zeroing requests given up on are still at the device; the export goes on",
                        name, deviceIo.abandonedZeroes());
            }
        }
        for (Replica r : open) {
            r.close(); // drains I/O, so nothing changes the metadata below
        }
        try {
            call(() -> {
                committer.commitNow();
                return null;
            }, true);
        } catch (MayastorException e) {
            LOG.log(Level.WARNING, "pool {0}: the last commit failed: {1}", name, e.getMessage());
        }
        try {
            allocator.awaitZeroing(30_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (lock) {
            closed = true;
        }
        thread.shutdown();
        try {
            if (thread.awaitTermination(10, TimeUnit.SECONDS)) {
                committer.releaseBuffers(); // no commit runs any more
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Exports the pool and erases its superblock: the device no longer holds a pool. */
    void destroy() {
        export();
        DmaBuffer page = deviceIo.page();
        try {
            // the tombstone first, durable: from then on the device reads as free, however far the
            // erasure gets (erased blocks alone would read as damage, with one slot gone and one not)
            Tombstone.encode(page.bytes(), Layout.PAGE);
            deviceIo.writePage(page, Layout.superblockOffset(0));
            deviceIo.flush();
            page.bytes().put(0, new byte[Layout.PAGE]);
            deviceIo.writePage(page, Layout.superblockOffset(1));
            if (layout.mirrored()) {
                deviceIo.writePage(page, layout.mirrorSuperblockOffset(0));
                deviceIo.writePage(page, layout.mirrorSuperblockOffset(1));
            }
            deviceIo.flush();
            deviceIo.writePage(page, Layout.superblockOffset(0)); // and the tombstone itself: a blank device
            deviceIo.flush();
        } catch (IOException e) {
            throw MayastorException.internal("erasing pool %s failed: %s", name, e.getMessage());
        } finally {
            page.release();
        }
        LOG.log(Level.INFO, "destroyed pool {0} on {1}", name, device.name());
    }

    public String name() {
        return name;
    }

    /** Exported (or destroyed): its replicas closed, nothing committed any more. */
    boolean isClosed() {
        synchronized (lock) {
            return closed;
        }
    }

    public UUID uuid() {
        return uuid;
    }

    public PoolState state() {
        synchronized (lock) {
            return state;
        }
    }

    public String reason() {
        synchronized (lock) {
            return reason;
        }
    }

    public List<Replica> replicas() {
        synchronized (lock) {
            return replicas.values().stream().filter(r -> !r.destroying).toList();
        }
    }

    /** A replica whose destroy began and did not finish (its zeroing failed): a destroy resumes it. */
    boolean beingDestroyed(UUID replicaUuid) {
        synchronized (lock) {
            Replica r = replicas.get(replicaUuid);
            return r != null && r.destroying;
        }
    }

    public List<DamagedReplica> damagedReplicas() {
        synchronized (lock) {
            return List.copyOf(damaged.values());
        }
    }

    /** Bytes of clusters mapped by replicas. */
    public long usedBytes() {
        synchronized (lock) {
            return replicas.values().stream().mapToLong(r -> r.allocatedClusters).sum() * layout.clusterSize();
        }
    }

    public long committedBytes() {
        synchronized (lock) {
            return replicas.values().stream().mapToLong(r -> r.sizeBytes).sum();
        }
    }

    public long capacity() {
        return layout.capacity();
    }

    public int clusterSize() {
        return layout.clusterSize();
    }

    public int metadataPagesTotal() {
        return layout.metadataPages();
    }

    public int metadataPagesUsed() {
        synchronized (lock) {
            return pages.used();
        }
    }

    /** For tests: the slot that holds a page's committed version (-1 for none yet). */
    int committedSlot(int page) {
        synchronized (lock) {
            return pages.committedSlot(page);
        }
    }

    long committedSequence() {
        return committer.committedSequence();
    }

    /** For tests: see {@link ClusterAllocator#reservedWhenSettled}. */
    int reservedWhenSettled() {
        return allocator.reservedWhenSettled();
    }
}
