package io.mayastorj.pool.internal;

import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.BlockingIo;
import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.buffer.BufferPool;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.core.text.Sizes;
import io.mayastorj.pool.internal.format.ClusterMapPage;
import io.mayastorj.pool.internal.format.DamagedMetadataException;
import io.mayastorj.pool.internal.format.Layout;
import io.mayastorj.pool.internal.format.MetaPage;
import io.mayastorj.pool.internal.format.ReplicaRecord;
import io.mayastorj.pool.internal.format.Superblock;
import io.mayastorj.pool.internal.format.SuperblockChoice;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A pool: a logical-volume store on one block device (FORMAT.md). Holds the metadata in memory,
 * allocates clusters, and commits changes crash-consistently: changed metadata pages are written to
 * the slot that does not hold their committed version, the device is flushed, then the superblock
 * (the commit record) is written to its other slot and the device flushed again.
 *
 * <p>Administrative changes (create, destroy, resize) commit before they return. A thin replica's
 * new clusters are committed by the next flush of any replica (group commit), as a file system does:
 * a write is durable once a flush after it has completed. Everything that changes metadata runs on
 * the pool's own thread; the I/O path takes the pool's lock only to allocate or free a cluster.
 *
 * <p>Free clusters always read as zeros: the pool is zeroed when it is made, and a cluster is zeroed
 * before it is freed. A thin replica takes its new clusters from a small batch that a commit has
 * first recorded as <em>reserved</em> in the superblock; if the node dies before the clusters'
 * mapping is committed, the next import zeroes the reserved clusters that no replica maps, so data of
 * writes that were never made durable cannot surface in another replica.
 */
public final class LvStore {

    private static final Logger LOG = System.getLogger("mayastor.pool");
    static final Duration IO_TIMEOUT = Duration.ofSeconds(30);
    private static final int ZERO_CHUNK = 1 << 20;
    /** {@link #allocate} result: no reserved cluster now; retry through {@link #afterReserve}. */
    static final int WAIT = -1;

    final String name;
    final UUID uuid;
    final BlockDevice device;
    final Layout layout;
    final long createdMillis;
    private final BufferPool buffers;
    private final ExecutorService thread;

    final Object lock = new Object();
    // ---- guarded by lock
    private long committedSeq;
    private final byte[] latestSlot;
    private final BitSet usedPages;
    private final BitSet usedClusters;
    private final Replica[] pageReplica;
    private final int[] pageMapIndex;
    private final Map<UUID, Replica> replicas = new LinkedHashMap<>();
    private final Map<Integer, DamagedReplica> damaged = new LinkedHashMap<>();
    private final BitSet dirtyPages = new BitSet();
    private boolean superDirty;
    private final List<PendingFree> pendingFree = new ArrayList<>();
    private final BitSet reserved = new BitSet();
    /**
     * Clusters taken for the next reservation whose commit is not yet durable: listed as reserved in
     * the superblock being written, but not handed out, or a write could land in a cluster that, after
     * a crash, the pool would call free without zeroing it.
     */
    private final BitSet reserving = new BitSet();
    private final int reserveBatch;
    private boolean reserveScheduled;
    private List<Runnable> afterReserve = new ArrayList<>();
    private PoolState state = PoolState.ONLINE;
    private String reason;
    private int clusterCursor;
    private boolean warnedFull;
    private List<Replica.Io> waitingFlushes = new ArrayList<>();
    private List<Replica.Io> committingFlushes;
    /**
     * A commit (of any kind: group commit, reservation, create, resize, destroy) has taken its page
     * images and is not durable yet. A flush that comes meanwhile must wait for it: the images may
     * hold the cluster mapping of a write this flush has to make durable.
     */
    private boolean committing;
    private boolean commitScheduled;
    private boolean closed;

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

        boolean drained() {
            long now = replica.epochGeneration;
            return replica.isClosed() || now >= generation + 2
                    || (now == generation + 1 && replica.epochInFlight[epoch].sum() == 0);
        }
    }

    private LvStore(String name, UUID uuid, BlockDevice device, Layout layout, long createdMillis, BufferPool buffers) {
        this.name = name;
        this.uuid = uuid;
        this.device = device;
        this.layout = layout;
        this.createdMillis = createdMillis;
        this.buffers = buffers;
        this.latestSlot = new byte[layout.metadataPages()];
        Arrays.fill(latestSlot, (byte) -1);
        this.usedPages = new BitSet(layout.metadataPages());
        this.usedClusters = new BitSet(layout.clusterCount());
        this.pageReplica = new Replica[layout.metadataPages()];
        this.pageMapIndex = new int[layout.metadataPages()];
        this.reserveBatch = Math.max(1, Math.min(64, layout.clusterCount() / 16));
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
        record Valid(Superblock superblock, List<String> findings) implements Probe {
        }
    }

    /**
     * Reads the superblock blocks — both slots, and from format version 2 both copies of each — and
     * decides which state to import ({@link SuperblockChoice}). Reads only.
     */
    public static Probe probe(BlockDevice device, BufferPool buffers) {
        if (device.blockSize() > Layout.PAGE || device.sizeBytes() < 2L * Layout.PAGE) {
            return new Probe.Empty();
        }
        DmaBuffer page = page(buffers);
        try {
            List<SuperblockChoice.Block> blocks = new ArrayList<>();
            Superblock first = null;
            for (int slot = 0; slot < 2; slot++) {
                SuperblockChoice.Block b = readSuperblock(device, page, slot, Superblock.FIRST_COPY,
                        Layout.superblockOffset(slot), -1);
                blocks.add(b);
                if (b.superblock() != null && (first == null || b.superblock().sequence() > first.sequence())) {
                    first = b.superblock();
                }
            }
            // The second copy lies where the first copy's geometry says; when no first copy is
            // readable, at the device's end (where it is unless the device grew since).
            if (first == null || first.layout().mirrored()) {
                long deviceBytes = first != null ? first.layout().deviceBytes() : device.sizeBytes();
                for (int slot = 0; slot < 2; slot++) {
                    long offset = Layout.mirrorSuperblockOffset(deviceBytes, slot);
                    if (offset < Layout.METADATA_START || offset + Layout.PAGE > device.sizeBytes()) {
                        if (first != null) {
                            blocks.add(SuperblockChoice.Block.failed(slot, Superblock.SECOND_COPY, offset,
                                    "it lies beyond the device's end (" + device.sizeBytes() + " bytes)", false));
                        }
                        continue;
                    }
                    blocks.add(readSuperblock(device, page, slot, Superblock.SECOND_COPY, offset, deviceBytes));
                }
            }
            return switch (SuperblockChoice.choose(blocks)) {
                case SuperblockChoice.Result.Empty e -> new Probe.Empty();
                case SuperblockChoice.Result.Undecided u -> new Probe.Damaged(u.reason(), u.fallback());
                case SuperblockChoice.Result.Chosen c -> new Probe.Valid(c.superblock(), c.findings());
            };
        } catch (IOException e) {
            return new Probe.Damaged("cannot read the superblock: " + e.getMessage(), null);
        } finally {
            page.release();
        }
    }

    /** Reads one superblock block; a second copy must also lie where its own geometry puts it. */
    private static SuperblockChoice.Block readSuperblock(BlockDevice device, DmaBuffer page, int slot, int copy,
                                                         long offset, long assumedDeviceBytes) throws IOException {
        readPage(device, page, offset);
        ByteBuffer view = page.bytes().duplicate().order(ByteOrder.LITTLE_ENDIAN);
        if (!Superblock.hasMagic(view)) {
            return SuperblockChoice.Block.failed(slot, copy, offset, "no pool signature", false);
        }
        try {
            Superblock sb = Superblock.decode(view, copy);
            if (copy == Superblock.SECOND_COPY && sb.layout().mirrorSuperblockOffset(slot) != offset) {
                return SuperblockChoice.Block.failed(slot, copy, offset, "its pool keeps this copy at byte "
                        + sb.layout().mirrorSuperblockOffset(slot) + ", not here", true);
            }
            return SuperblockChoice.Block.valid(slot, copy, offset, sb);
        } catch (DamagedMetadataException e) {
            return SuperblockChoice.Block.failed(slot, copy, offset, e.getMessage(), true);
        }
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
            pool.zero(0, layout.dataOffset());
            pool.zero(layout.dataOffset(), layout.capacity());
            if (layout.mirrored()) {
                pool.zero(layout.mirrorStart(), layout.bytesNeeded() - layout.mirrorStart());
            }
            synchronized (pool.lock) {
                pool.reserveClusters();
            }
            pool.commitNow();
            if (layout.mirrored()) {
                synchronized (pool.lock) {
                    pool.superDirty = true;
                }
                pool.commitNow(); // both slots hold a superblock from the start
            }
        } catch (IOException e) {
            pool.thread.shutdownNow();
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
        Probe probe = probe(device, buffers);
        if (probe instanceof Probe.Empty) {
            throw MayastorException.notFound("%s holds no pool", device.name());
        }
        Superblock sb;
        List<String> findings = List.of();
        boolean rolledBack = false;
        if (probe instanceof Probe.Damaged damaged) {
            if (!forceRollback || damaged.fallback() == null) {
                throw MayastorException.failedPrecondition("%s holds a damaged pool: %s%s", device.name(),
                        damaged.reason(), damaged.fallback() == null ? ""
                                : "; nothing was written (import with force-rollback to take commit "
                                + damaged.fallback().sequence() + " knowingly)");
            }
            sb = damaged.fallback();
            rolledBack = true;
            LOG.log(Level.WARNING, "pool {0} on {1}: importing commit {2} by request (force-rollback), although {3}",
                    sb.name(), device.name(), String.valueOf(sb.sequence()), damaged.reason());
        } else {
            Probe.Valid valid = (Probe.Valid) probe;
            sb = valid.superblock();
            findings = valid.findings();
        }
        Layout layout = sb.layout();
        if (layout.blockSize() != device.blockSize()) {
            throw MayastorException.failedPrecondition("pool %s was made on %d-byte blocks but %s has %d-byte blocks",
                    sb.name(), layout.blockSize(), device.name(), device.blockSize());
        }
        long needed = layout.bytesNeeded();
        if (device.sizeBytes() < needed) {
            throw MayastorException.failedPrecondition("pool %s needs %s but %s holds only %s (did the device shrink?)",
                    sb.name(), Sizes.human(needed), device.name(), Sizes.human(device.sizeBytes()));
        }
        LvStore pool = new LvStore(sb.name(), sb.poolUuid(), device, layout, sb.createdMillis(), buffers);
        try {
            pool.load(sb, forceRollback, rolledBack, findings);
        } catch (IOException e) {
            pool.thread.shutdownNow();
            throw MayastorException.internal("importing pool %s failed: %s", sb.name(), e.getMessage());
        } catch (RuntimeException e) {
            pool.thread.shutdownNow();
            throw e;
        }
        return pool;
    }

    /**
     * Reads the metadata the superblock names, decides whether it can be served, and only then
     * writes: finishes interrupted destroys, zeroes clusters that a crash left reserved but unmapped,
     * and rewrites blocks that failed their checks in one copy.
     */
    private void load(Superblock sb, boolean force, boolean rolledBack, List<String> superFindings)
            throws IOException {
        // Version 1 skips two sequence numbers: the dead commit's, and one more so that the next
        // commit goes to the superblock slot that does not hold the one imported.
        committedSeq = layout.mirrored() ? sb.sequence() : sb.sequence() + 2;
        long importedSeq = sb.sequence();
        List<Replica> resumeDestroy = new ArrayList<>();
        Map<Integer, UUID> owners = new HashMap<>();
        DmaBuffer page = page(buffers);
        try {
            for (int i = 0; i < sb.replicaPages().length; i++) {
                int descriptor = sb.replicaPages()[i];
                usedPages.set(descriptor);
                PageRead loaded = readCommitted(page, descriptor, sb.replicaSlots()[i], MetaPage.KIND_REPLICA, null,
                        importedSeq);
                latestSlot[descriptor] = sb.replicaSlots()[i]; // kept as named while the replica is damaged
                if (loaded.view == null) {
                    damaged.put(descriptor, new DamagedReplica(descriptor, null, null, "descriptor page " + descriptor
                            + " " + loaded.problem));
                    continue;
                }
                ReplicaRecord record;
                try {
                    record = ReplicaRecord.decode(loaded.view, layout);
                    if (!record.uuid().equals(MetaPage.owner(loaded.view))) {
                        throw new DamagedMetadataException("descriptor names another replica");
                    }
                } catch (DamagedMetadataException e) {
                    damaged.put(descriptor, new DamagedReplica(descriptor, null, null,
                            "descriptor page " + descriptor + ": " + e.getMessage()));
                    continue;
                }
                latestSlot[descriptor] = (byte) loaded.slot;
                Replica replica = new Replica(this, record.uuid(), record.name(), record.sizeBytes(), record.thin(),
                        record.createdMillis(), record.properties());
                replica.descriptorPage = descriptor;
                replica.destroying = record.destroying();
                String problem = loadMaps(page, replica, record, owners, importedSeq);
                if (problem != null) {
                    damaged.put(descriptor, new DamagedReplica(descriptor, record.uuid(), record.name(), problem));
                    continue;
                }
                if (loaded.problem != null) {
                    repairs.add("descriptor page " + descriptor + " of replica " + record.uuid() + ": " + loaded.problem);
                    repairPages.add(descriptor);
                }
                pageReplica[descriptor] = replica;
                pageMapIndex[descriptor] = -1;
                replicas.put(replica.uuid(), replica);
                if (replica.destroying) {
                    resumeDestroy.add(replica);
                }
            }
        } finally {
            page.release();
        }
        if (!damaged.isEmpty()) {
            String first = damaged.values().iterator().next().reason();
            if (layout.mirrored() && !force) {
                // Both copies of a block failed (or hold what no crash could have left): which state
                // was acknowledged cannot be known here. Refuse before anything is written.
                List<String> reasons = damaged.values().stream().map(DamagedReplica::reason).toList();
                throw MayastorException.failedPrecondition("%s holds pool %s whose metadata cannot be read safely: %s; "
                                + "nothing was written (import with force-rollback to serve the other replicas and "
                                + "list %s as damaged)", device.name(), name, String.join("; ", reasons),
                        damaged.size() == 1 ? "this one" : "these");
            }
            state = PoolState.DEGRADED;
            reason = damaged.size() + " replica(s) with damaged metadata: " + first;
            LOG.log(Level.WARNING, "pool {0} is degraded: {1}", name, reason);
        }
        if (!superFindings.isEmpty()) {
            if (layout.mirrored()) {
                repairs.addAll(superFindings);
                superRepair = true;
            } else {
                LOG.log(Level.WARNING, "pool {0}: {1}; imported commit {2} from the other slot. A commit cut short by "
                                + "a crash is rolled back this way; had the slot been damaged after its commit completed, "
                                + "that commit is lost: format version 1 keeps one copy and cannot tell", name,
                        String.join("; ", superFindings), String.valueOf(importedSeq));
            }
        }
        // A version-1 commit that died before its superblock left newer versions of some pages in
        // their spare slots. Left there, they would pass for committed as soon as the sequence grew
        // past theirs: erase them. (Version 2 reads only the slots the parents name.)
        if (!orphans.isEmpty()) {
            DmaBuffer zero = page(buffers);
            try {
                zero.bytes().put(0, new byte[Layout.PAGE]);
                for (long[] orphan : orphans) {
                    writePage(zero, layout.pageOffset((int) orphan[0], (int) orphan[1]));
                }
                checked(BlockingIo.flush(device, IO_TIMEOUT), "flush");
            } finally {
                zero.release();
            }
            LOG.log(Level.INFO, "pool {0}: erased {1} page(s) of a commit that did not complete", name,
                    String.valueOf(orphans.size()));
            orphans.clear();
        }
        if (rolledBack) {
            // The lost commits may have reserved and written clusters that this state calls free.
            for (Replica replica : resumeDestroy) {
                finishDestroy(replica);
            }
            if (state == PoolState.ONLINE) {
                reclaimUnreferenced();
            }
            repairs.add(0, "rolled back to commit " + importedSeq + " by request");
        } else {
            List<Integer> dirty = new ArrayList<>();
            for (int cluster : sb.reservedClusters()) {
                if (!usedClusters.get(cluster)) {
                    dirty.add(cluster); // may hold data of writes whose mapping was never committed
                }
            }
            if (!dirty.isEmpty()) {
                zeroClusters(dirty);
                superDirty = true; // the next commit records an empty (or fresh) reservation
            }
            for (Replica replica : resumeDestroy) {
                LOG.log(Level.INFO, "pool {0}: finishing the destroy of replica {1}", name, replica.uuid());
                finishDestroy(replica);
            }
        }
        if (state == PoolState.ONLINE) {
            synchronized (lock) {
                reserveClusters();
                for (int p : repairPages) {
                    if (usedPages.get(p) && pageReplica[p] != null) {
                        dirtyPages.set(p); // written afresh to the other slot, both copies
                    }
                }
            }
            commitNow();
            if (superRepair) {
                synchronized (lock) {
                    superDirty = true;
                }
                commitNow(); // both slots, both copies
            }
            if (!repairs.isEmpty()) {
                reason = "repaired at import: " + String.join("; ", repairs);
                LOG.log(Level.WARNING, "pool {0}: {1}", name, reason);
            }
        }
        LOG.log(Level.INFO, "imported pool {0} from {1}: {2} replicas, {3} of {4} used", name, device.name(),
                String.valueOf(replicas.size()), Sizes.human(usedBytes()), Sizes.human(layout.capacity()));
    }

    /** Reads a replica's cluster maps; returns what is wrong, or null. */
    private String loadMaps(DmaBuffer page, Replica replica, ReplicaRecord record, Map<Integer, UUID> owners,
                            long importedSeq) throws IOException {
        int[] maps = record.mapPages();
        if (maps.length != replica.mapPageCount()) {
            return "its cluster-map directory holds " + maps.length + " pages for a size that needs "
                    + replica.mapPageCount();
        }
        long clusters = Replica.clustersFor(record.sizeBytes(), layout.clusterSize());
        List<int[]> loaded = new ArrayList<>();
        List<Integer> repaired = new ArrayList<>();
        List<String> repairNotes = new ArrayList<>();
        for (int i = 0; i < maps.length; i++) {
            int mapPage = maps[i];
            if (mapPage < 0) {
                loaded.add(null);
                continue;
            }
            PageRead map = readCommitted(page, mapPage, record.mapSlots()[i], MetaPage.KIND_CLUSTER_MAP, record.uuid(),
                    importedSeq);
            if (map.view == null) {
                return "cluster-map page " + mapPage + " " + map.problem;
            }
            int[] entries;
            try {
                entries = ClusterMapPage.decode(map.view, layout.clusterCount());
            } catch (DamagedMetadataException e) {
                return "cluster-map page " + mapPage + ": " + e.getMessage();
            }
            for (int j = 0; j < entries.length; j++) {
                if (entries[j] != 0 && (long) i * Replica.ENTRIES + j >= clusters) {
                    return "cluster-map page " + mapPage + " maps clusters beyond the replica's size";
                }
            }
            if (map.problem != null) {
                repaired.add(mapPage);
                repairNotes.add("cluster-map page " + mapPage + " of replica " + record.uuid() + ": " + map.problem);
            }
            latestSlot[mapPage] = (byte) map.slot;
            loaded.add(entries);
        }
        // claim pages and clusters only now that the whole replica checked out
        int allocated = 0;
        for (int i = 0; i < maps.length; i++) {
            int[] entries = loaded.get(i);
            if (entries == null) {
                continue;
            }
            for (int entry : entries) {
                if (entry != 0 && usedClusters.get(entry - 1)) {
                    return "data cluster " + (entry - 1) + " is owned twice (also by "
                            + owners.getOrDefault(entry - 1, null) + ")";
                }
            }
            for (int entry : entries) {
                if (entry != 0) {
                    usedClusters.set(entry - 1);
                    owners.put(entry - 1, record.uuid());
                    allocated++;
                }
            }
            usedPages.set(maps[i]);
            pageReplica[maps[i]] = replica;
            pageMapIndex[maps[i]] = i;
            replica.mapPageNumbers[i] = maps[i];
            replica.loadMapPage(i, entries);
        }
        replica.allocatedClusters = allocated;
        repairPages.addAll(repaired);
        repairs.addAll(repairNotes);
        return null;
    }

    /**
     * The committed version of a page, or (view null) why there is none.
     *
     * @param problem with a view: a copy that failed its checks, to rewrite; without: what failed
     */
    private record PageRead(ByteBuffer view, int slot, String problem) {
    }

    /** Slots that a commit which never completed wrote: invalidated at import (version 1, see {@link #load}). */
    private final List<long[]> orphans = new ArrayList<>();
    /** Pages read from their second copy at import, to write afresh; and what was found. */
    private final List<Integer> repairPages = new ArrayList<>();
    private final List<String> repairs = new ArrayList<>();
    private boolean superRepair;

    private PageRead readCommitted(DmaBuffer page, int number, byte slot, short kind, UUID owner, long importedSeq)
            throws IOException {
        return layout.mirrored() ? readNamedSlot(page, number, slot, kind, owner, importedSeq)
                : readNewestSlot(page, number, kind, owner, importedSeq);
    }

    /**
     * Version 2: the slot the parent names holds the committed version, in two copies written by the
     * same commit before the superblock that names them. Either valid copy will do; when both fail,
     * nothing else on the device is that version.
     */
    private PageRead readNamedSlot(DmaBuffer page, int number, byte slot, short kind, UUID owner, long importedSeq)
            throws IOException {
        ByteBuffer[] images = new ByteBuffer[2];
        long[] seqs = {-1, -1};
        String[] failures = new String[2];
        String[] where = new String[2];
        for (int copy = 0; copy < 2; copy++) {
            long offset = copy == 0 ? layout.pageOffset(number, slot) : layout.mirrorPageOffset(number, slot);
            where[copy] = (copy == 0 ? "first" : "second") + " copy (byte " + offset + ")";
            readPage(device, page, offset);
            ByteBuffer view = page.bytes().duplicate().order(ByteOrder.LITTLE_ENDIAN).limit(Layout.PAGE);
            failures[copy] = MetaPage.check(view, number, kind, uuid, owner);
            if (failures[copy] == null && MetaPage.sequence(view) > importedSeq) {
                failures[copy] = "written by commit " + MetaPage.sequence(view) + ", after the superblock's " + importedSeq;
            }
            if (failures[copy] == null) {
                seqs[copy] = MetaPage.sequence(view);
                images[copy] = ByteBuffer.allocate(Layout.PAGE).order(ByteOrder.LITTLE_ENDIAN).put(0, view, 0, Layout.PAGE);
            }
        }
        if (images[0] == null && images[1] == null) {
            return new PageRead(null, slot, "fails its checks in both copies of slot " + slot + " (" + where[0] + ": "
                    + failures[0] + "; " + where[1] + ": " + failures[1] + ")");
        }
        // One commit wrote both copies; a copy older than the other was a lost or misdirected write.
        int chosen = images[0] == null || (images[1] != null && seqs[1] > seqs[0]) ? 1 : 0;
        int other = 1 - chosen;
        String problem = null;
        if (images[other] == null) {
            problem = where[other] + ": " + failures[other];
        } else if (seqs[other] != seqs[chosen]) {
            problem = where[other] + ": holds commit " + seqs[other] + ", its other copy commit " + seqs[chosen];
        }
        return new PageRead(images[chosen], slot, problem == null ? null : "slot " + slot + ", " + problem);
    }

    /** Version 1: the valid slot with the higher sequence not above the commit's. */
    private PageRead readNewestSlot(DmaBuffer page, int number, short kind, UUID owner, long importedSeq)
            throws IOException {
        ByteBuffer best = null;
        long bestSeq = -1;
        int bestSlot = -1;
        for (int slot = 0; slot < 2; slot++) {
            readPage(device, page, layout.pageOffset(number, slot));
            ByteBuffer view = page.bytes().duplicate().order(ByteOrder.LITTLE_ENDIAN).limit(Layout.PAGE);
            long seq = MetaPage.validSequence(view, number, kind, uuid, owner);
            if (seq > importedSeq) {
                orphans.add(new long[] {number, slot});
            }
            if (seq >= 0 && seq <= importedSeq && seq > bestSeq) {
                best = ByteBuffer.allocate(Layout.PAGE).order(ByteOrder.LITTLE_ENDIAN).put(0, view, 0, Layout.PAGE);
                bestSeq = seq;
                bestSlot = slot;
            }
        }
        return best == null ? new PageRead(null, -1, "fails its checks in both slots")
                : new PageRead(best, bestSlot, null);
    }

    // ------------------------------------------------------------------ replicas

    /** Runs an administrative change on the pool's thread and waits for it. */
    <T> T call(Callable<T> work) {
        Future<T> future;
        synchronized (lock) {
            if (closed) {
                throw MayastorException.failedPrecondition("pool %s is exported", name);
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
                long free = freeClusters();
                if (!thin && clusters > free) {
                    throw MayastorException.resourceExhausted("pool %s has %s free; a thick replica of %s needs %s",
                            name, Sizes.human(free * layout.clusterSize()), Sizes.human(sizeBytes),
                            Sizes.human(clusters * layout.clusterSize()));
                }
                int mapPagesNeeded = thin ? 0 : Replica.mapPagesFor(sizeBytes, layout.clusterSize());
                if (freePages() < 1 + mapPagesNeeded) {
                    throw MayastorException.resourceExhausted("pool %s has no metadata room left", name);
                }
                replica = new Replica(this, replicaUuid, replicaName, sizeBytes, thin, System.currentTimeMillis(), properties);
                int descriptor = allocatePage();
                replica.descriptorPage = descriptor;
                pageReplica[descriptor] = replica;
                pageMapIndex[descriptor] = -1;
                if (!thin) {
                    for (long c = 0; c < clusters; c++) {
                        assignFreeCluster(replica, c);
                    }
                }
                replicas.put(replicaUuid, replica);
                dirtyPages.set(descriptor);
                superDirty = true;
            }
            commitNow();
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
                if (!replica.thin && newClusters - oldClusters > freeClusters()) {
                    throw MayastorException.resourceExhausted("pool %s has %s free; growing replica %s to %s needs %s more",
                            name, Sizes.human(freeClusters() * layout.clusterSize()), replicaUuid, Sizes.human(newSize),
                            Sizes.human((newClusters - oldClusters) * layout.clusterSize()));
                }
                replica.growTo(newSize);
                if (!replica.thin) {
                    for (long c = oldClusters; c < newClusters; c++) {
                        assignFreeCluster(replica, c);
                    }
                }
                dirtyPages.set(replica.descriptorPage);
            }
            commitNow();
            LOG.log(Level.INFO, "pool {0}: replica {1} grown to {2}", name, replicaUuid, Sizes.human(newSize));
            return null;
        });
    }

    /** Stores free-form properties (share settings) with a replica. */
    void setProperties(UUID replicaUuid, String properties) {
        call(() -> {
            synchronized (lock) {
                checkWritable();
                Replica replica = replica(replicaUuid);
                replica.properties = properties;
                dirtyPages.set(replica.descriptorPage);
            }
            commitNow();
            return null;
        });
    }

    /**
     * Destroys a replica: marks it destroying (committed), zeroes its clusters, then removes it
     * (committed). A crash in between is finished at the next import. The caller has closed it.
     */
    void destroyReplica(UUID replicaUuid) {
        call(() -> {
            Replica replica;
            synchronized (lock) {
                if (state == PoolState.FAULTED) {
                    throw MayastorException.failedPrecondition("pool %s is faulted: %s", name, reason);
                }
                replica = replica(replicaUuid);
                replica.destroying = true;
                dirtyPages.set(replica.descriptorPage);
            }
            commitNow();
            finishDestroy(replica);
            LOG.log(Level.INFO, "pool {0}: destroyed replica {1}", name, replicaUuid);
            return null;
        });
    }

    private void finishDestroy(Replica replica) throws IOException {
        replica.close();
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
        zeroClusters(clusters);
        synchronized (lock) {
            replicas.remove(replica.uuid());
            for (int page : replica.mapPageNumbers) {
                if (page >= 0) {
                    releasePage(page);
                }
            }
            releasePage(replica.descriptorPage);
            superDirty = true;
        }
        commitNow();
        synchronized (lock) {
            // zeroed, and no committed metadata points at them any more
            for (int cluster : clusters) {
                usedClusters.clear(cluster);
            }
            pendingFree.removeIf(p -> p.replica == replica && freeCluster(p.cluster));
        }
    }

    /** Forgets a replica whose metadata is damaged; its clusters are zeroed before they are reused. */
    void destroyDamaged(int descriptorPage) {
        call(() -> {
            synchronized (lock) {
                if (damaged.remove(descriptorPage) == null) {
                    throw MayastorException.notFound("pool %s has no damaged replica at page %d", name, descriptorPage);
                }
                superDirty = true;
            }
            commitNow();
            if (damagedCleared()) {
                reclaimUnreferenced();
            }
            return null;
        });
    }

    private boolean damagedCleared() {
        synchronized (lock) {
            return damaged.isEmpty() && state == PoolState.DEGRADED;
        }
    }

    /**
     * Once no damaged replica is left, the pool knows every cluster's owner again: the unreferenced
     * ones (the damaged replicas' data among them) are zeroed and the pool is online.
     */
    private void reclaimUnreferenced() throws IOException {
        List<Integer> unknown = new ArrayList<>();
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
            for (int c = 0; c < layout.clusterCount(); c++) {
                if (!referenced.get(c)) {
                    unknown.add(c);
                }
            }
            reserved.clear();
            reserving.clear();
            usedClusters.clear();
            usedClusters.or(referenced);
            for (int c : unknown) {
                usedClusters.set(c); // not allocatable until zeroed
            }
            usedPages.clear();
            for (Replica r : replicas.values()) {
                usedPages.set(r.descriptorPage);
                for (int page : r.mapPageNumbers) {
                    if (page >= 0) {
                        usedPages.set(page);
                    }
                }
            }
        }
        zeroClusters(unknown);
        synchronized (lock) {
            for (int c : unknown) {
                usedClusters.clear(c);
            }
            state = PoolState.ONLINE;
            reason = null;
            reserveClusters();
        }
        commitNow();
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

    // ------------------------------------------------------------------ allocation (I/O path)

    /**
     * The data cluster + 1 for a replica cluster written for the first time; 0 when there is no space;
     * {@link #WAIT} when no reserved cluster is at hand (a reservation is on its way: retry through
     * {@link #afterReserve}).
     */
    int allocate(Replica replica, long cluster) {
        synchronized (lock) {
            int existing = replica.physical(cluster);
            if (existing != 0) {
                return existing; // another writer got here first
            }
            if (state != PoolState.ONLINE || replica.isClosed()) {
                return 0;
            }
            boolean needsMapPage = replica.mapPageNumbers[(int) (cluster / Replica.ENTRIES)] < 0;
            int free = reserved.nextSetBit(0);
            if ((needsMapPage && freePages() == 0) || (free < 0 && freeClusters() == 0 && reserving.isEmpty())) {
                if (!warnedFull) {
                    warnedFull = true;
                    LOG.log(Level.WARNING, "pool {0} is full: writes to unallocated clusters fail with no space", name);
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
        synchronized (lock) {
            if (reserved.isEmpty() && state == PoolState.ONLINE && (freeClusters() > 0 || !reserving.isEmpty()) && !closed) {
                afterReserve.add(retry);
                scheduleReserve();
                return;
            }
        }
        retry.run();
    }

    private void scheduleReserve() {
        if (!reserveScheduled && !closed) {
            reserveScheduled = true;
            thread.execute(this::reserveMore);
        }
    }

    /** On the pool's thread: records a fresh batch of reserved clusters, then lets waiting writes go on. */
    private void reserveMore() {
        List<Runnable> waiters;
        synchronized (lock) {
            reserveScheduled = false;
            reserveClusters();
        }
        try {
            commitNow();
            synchronized (lock) {
                reserved.or(reserving); // on disk now: these may be handed out
                reserving.clear();
            }
        } catch (IOException e) {
            LOG.log(Level.ERROR, "pool {0}: reserving clusters failed: {1}", name, e.getMessage());
        }
        synchronized (lock) {
            waiters = afterReserve;
            afterReserve = new ArrayList<>();
        }
        waiters.forEach(Runnable::run);
    }

    /** For tests: clusters reserved on disk and ready to hand out, or -1 while a refill is scheduled or being committed. */
    int reservedWhenSettled() {
        synchronized (lock) {
            return reserveScheduled || !reserving.isEmpty() ? -1 : reserved.cardinality();
        }
    }

    /** Under the lock: tops the reservation up to a batch from the free clusters; the caller commits it. */
    private void reserveClusters() {
        int wanted = reserveBatch - reserved.cardinality() - reserving.cardinality();
        for (int i = 0; i < wanted; i++) {
            int free = nextFreeCluster();
            if (free < 0) {
                break;
            }
            usedClusters.set(free);
            reserving.set(free);
        }
        superDirty = true;
    }

    private int nextFreeCluster() {
        int free = usedClusters.nextClearBit(clusterCursor);
        if (free >= layout.clusterCount()) {
            free = usedClusters.nextClearBit(0);
        }
        if (free >= layout.clusterCount()) {
            return -1;
        }
        clusterCursor = free + 1;
        return free;
    }

    /** A free cluster for a thick replica (free clusters read as zeros already). */
    private int assignFreeCluster(Replica replica, long cluster) {
        int free = nextFreeCluster();
        usedClusters.set(free);
        return mapCluster(replica, cluster, free);
    }

    private int mapCluster(Replica replica, long cluster, int free) {
        int mapIndex = (int) (cluster / Replica.ENTRIES);
        if (replica.mapPageNumbers[mapIndex] < 0) {
            int page = allocatePage();
            replica.mapPageNumbers[mapIndex] = page;
            pageReplica[page] = replica;
            pageMapIndex[page] = mapIndex;
            dirtyPages.set(replica.descriptorPage);
        }
        replica.setPhysical(cluster, free + 1);
        replica.allocatedClusters++;
        dirtyPages.set(replica.mapPageNumbers[mapIndex]);
        return free + 1;
    }

    /** A whole cluster an unmap zeroed: out of the replica's map now, free once that is committed and drained. */
    void release(Replica replica, long cluster, int physical) {
        synchronized (lock) {
            if (replica.physical(cluster) != physical || replica.isClosed()) {
                return;
            }
            replica.setPhysical(cluster, 0);
            replica.allocatedClusters--;
            dirtyPages.set(replica.mapPageNumbers[(int) (cluster / Replica.ENTRIES)]);
            pendingFree.add(new PendingFree(replica, physical - 1));
            replica.tryFlipEpoch();
            warnedFull = false;
        }
    }

    private boolean freeCluster(int cluster) {
        usedClusters.clear(cluster);
        return true;
    }

    private long freeClusters() {
        return layout.clusterCount() - usedClusters.cardinality();
    }

    private int freePages() {
        return layout.metadataPages() - usedPages.cardinality();
    }

    private int allocatePage() {
        int page = usedPages.nextClearBit(0);
        if (page >= layout.metadataPages()) {
            throw MayastorException.resourceExhausted("pool %s has no metadata room left", name);
        }
        usedPages.set(page);
        return page;
    }

    private void releasePage(int page) {
        usedPages.clear(page);
        pageReplica[page] = null;
        dirtyPages.clear(page);
    }

    // ------------------------------------------------------------------ commit

    /** A replica flush: a device flush, or a wait for the group commit that makes new clusters durable. */
    void flush(Replica.Io io) {
        synchronized (lock) {
            if (state == PoolState.FAULTED) {
                io.replica.pieceDone(io, IoStatus.MEDIA_ERROR);
                return;
            }
            // A commit in progress may not be durable yet, nor cover writes that ended after its own
            // device flush: such a flush waits for the next commit, which flushes the device again.
            if (!dirtyPages.isEmpty() || superDirty || commitScheduled || committingFlushes != null || committing) {
                waitingFlushes.add(io);
                if (!commitScheduled) {
                    commitScheduled = true;
                    thread.execute(this::groupCommit);
                }
                return;
            }
        }
        device.flush(Replica.PIECE_DONE, io);
    }

    private void groupCommit() {
        List<Replica.Io> batch;
        synchronized (lock) {
            commitScheduled = false;
            batch = waitingFlushes;
            waitingFlushes = new ArrayList<>();
            committingFlushes = batch;
        }
        IoStatus status = IoStatus.SUCCESS;
        try {
            commitNow();
        } catch (IOException | RuntimeException e) {
            status = IoStatus.MEDIA_ERROR;
        }
        synchronized (lock) {
            batch = committingFlushes;
            committingFlushes = null;
        }
        for (Replica.Io io : batch) {
            io.replica.pieceDone(io, status);
        }
    }

    /**
     * Writes what changed and commits it; on the pool's thread. A device flush when nothing changed.
     *
     * <p>Every changed page goes to the slot that does not hold its committed version (both copies
     * in version 2, where a parent names its children's slots: a moved map page rewrites its
     * descriptor, a moved descriptor the superblock). Flush; the superblock's first copy; flush; in
     * version 2 its second copy and a flush. Only then is the commit done: a crash tears at most one
     * superblock block, and an acknowledged commit is on the device twice.
     */
    private void commitNow() throws IOException {
        long seq;
        int[] pages;
        int[] slots;
        byte[][] images;
        Superblock superblock;
        synchronized (lock) {
            if (state == PoolState.FAULTED) {
                throw new IOException("pool " + name + " is faulted: " + reason);
            }
            if (dirtyPages.isEmpty() && !superDirty) {
                pages = null;
                seq = 0;
                slots = null;
                images = null;
                superblock = null;
            } else {
                if (layout.mirrored()) {
                    for (int p = dirtyPages.nextSetBit(0); p >= 0; p = dirtyPages.nextSetBit(p + 1)) {
                        if (pageMapIndex[p] >= 0 && pageReplica[p] != null) {
                            dirtyPages.set(pageReplica[p].descriptorPage);
                        }
                    }
                }
                seq = committedSeq + 1;
                BitSet moving = (BitSet) dirtyPages.clone();
                pages = moving.stream().toArray();
                slots = new int[pages.length];
                images = new byte[pages.length][];
                for (int i = 0; i < pages.length; i++) {
                    slots[i] = slotAfter(pages[i], moving);
                    images[i] = encodePage(pages[i], seq, moving);
                }
                superblock = superblock(seq, moving);
                dirtyPages.clear();
                superDirty = false;
                committing = true;
                for (PendingFree p : pendingFree) {
                    if (p.committedBy == Long.MAX_VALUE) {
                        p.committedBy = seq; // its map change is in this commit
                    }
                }
            }
        }
        if (pages == null) {
            checked(BlockingIo.flush(device, IO_TIMEOUT), "flush");
            return;
        }
        try {
            writePages(pages, slots, images);
            checked(BlockingIo.flush(device, IO_TIMEOUT), "flush");
            writeSuperblock(superblock, Superblock.FIRST_COPY, Layout.superblockOffset((int) (seq & 1)));
            checked(BlockingIo.flush(device, IO_TIMEOUT), "flush");
            if (layout.mirrored()) {
                writeSuperblock(superblock, Superblock.SECOND_COPY, layout.mirrorSuperblockOffset((int) (seq & 1)));
                checked(BlockingIo.flush(device, IO_TIMEOUT), "flush");
            }
        } catch (IOException | RuntimeException e) {
            synchronized (lock) {
                for (int p : pages) {
                    dirtyPages.set(p);
                }
                superDirty = true;
                committing = false;
                fault("a metadata write failed: " + e.getMessage());
            }
            throw e;
        }
        synchronized (lock) {
            committing = false;
            committedSeq = seq;
            for (int i = 0; i < pages.length; i++) {
                latestSlot[pages[i]] = (byte) slots[i];
            }
            freeDrained();
        }
    }

    /** The slot a page holds its committed version in once the commit writing {@code moving} is done. */
    private int slotAfter(int page, BitSet moving) {
        int now = latestSlot[page];
        return moving.get(page) ? (now == 0 ? 1 : 0) : now;
    }

    /** Writes page images to their slots, every copy at once, and waits for all of them. */
    private void writePages(int[] pages, int[] slots, byte[][] images) throws IOException {
        if (pages.length == 0) {
            return;
        }
        int batch = Math.min(pages.length, 64);
        DmaBuffer buffer = buffer(buffers, batch * Layout.PAGE);
        try {
            int copies = layout.mirrored() ? 2 : 1;
            for (int start = 0; start < pages.length; start += batch) {
                int n = Math.min(batch, pages.length - start);
                PageWrites writes = new PageWrites(n * copies);
                for (int i = 0; i < n; i++) {
                    buffer.bytes().put(i * Layout.PAGE, images[start + i]);
                }
                for (int i = 0; i < n; i++) {
                    int p = pages[start + i];
                    long[] offsets = layout.mirrored()
                            ? new long[] {layout.pageOffset(p, slots[start + i]), layout.mirrorPageOffset(p, slots[start + i])}
                            : new long[] {layout.pageOffset(p, slots[start + i])};
                    for (long offset : offsets) {
                        device.write(buffer, i * Layout.PAGE, offset / device.blockSize(), Layout.PAGE / device.blockSize(),
                                PageWrites.DONE, writes);
                    }
                }
                checked(writes.await(), "write of " + n + " metadata page(s)");
            }
        } finally {
            buffer.release();
        }
    }

    /** Counts a batch of page writes down; the first failure is the batch's. */
    private static final class PageWrites {
        static final IoCompletion<PageWrites> DONE = (status, w) -> w.done(status);
        private final AtomicInteger remaining;
        private final CompletableFuture<IoStatus> result = new CompletableFuture<>();
        private volatile IoStatus failure;

        PageWrites(int count) {
            remaining = new AtomicInteger(count);
        }

        void done(IoStatus status) {
            if (status != IoStatus.SUCCESS && failure == null) {
                failure = status;
            }
            if (remaining.decrementAndGet() == 0) {
                result.complete(failure == null ? IoStatus.SUCCESS : failure);
            }
        }

        IoStatus await() {
            try {
                return result.get(IO_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                return IoStatus.TIMED_OUT;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return IoStatus.ABORTED;
            } catch (ExecutionException e) {
                return IoStatus.FAILED;
            }
        }
    }

    private void writeSuperblock(Superblock superblock, int copy, long offset) throws IOException {
        DmaBuffer page = page(buffers);
        try {
            ByteBuffer image = page.bytes().duplicate();
            superblock.encode(image.slice(0, Layout.PAGE), copy);
            writePage(page, offset);
        } finally {
            page.release();
        }
    }

    private void freeDrained() {
        for (Iterator<PendingFree> it = pendingFree.iterator(); it.hasNext(); ) {
            PendingFree p = it.next();
            if (p.committedBy <= committedSeq && p.drained()) {
                usedClusters.clear(p.cluster);
                it.remove();
            } else if (p.replica.epochGeneration == p.generation) {
                p.replica.tryFlipEpoch();
            }
        }
    }

    private void fault(String why) {
        if (state != PoolState.FAULTED) {
            state = PoolState.FAULTED;
            reason = why;
            LOG.log(Level.ERROR, "pool {0} is faulted: {1}", name, why);
        }
    }

    private byte[] encodePage(int page, long seq, BitSet moving) {
        ByteBuffer image = ByteBuffer.allocate(Layout.PAGE).order(ByteOrder.LITTLE_ENDIAN);
        Replica replica = pageReplica[page];
        if (pageMapIndex[page] < 0) {
            int[] maps = replica.mapPageNumbers.clone();
            byte[] mapSlots = new byte[maps.length];
            for (int i = 0; i < maps.length; i++) {
                mapSlots[i] = maps[i] < 0 ? -1 : (byte) slotAfter(maps[i], moving);
            }
            new ReplicaRecord(replica.uuid(), replica.replicaName, replica.sizeBytes, replica.thin, replica.destroying,
                    replica.createdMillis, replica.properties, maps, mapSlots)
                    .encode(image, seq, page, uuid, layout);
        } else {
            ClusterMapPage.encode(image, seq, page, uuid, replica.uuid(), replica.mapEntries(pageMapIndex[page]));
        }
        return image.array();
    }

    private Superblock superblock(long seq, BitSet moving) {
        int count = replicas.size() + damaged.size();
        int[] pages = new int[count];
        byte[] slots = new byte[count];
        int i = 0;
        for (Replica r : replicas.values()) {
            slots[i] = (byte) slotAfter(r.descriptorPage, moving);
            pages[i++] = r.descriptorPage;
        }
        for (int page : damaged.keySet()) {
            slots[i] = latestSlot[page]; // unknown (-1) in version 1; never rewritten
            pages[i++] = page;
        }
        BitSet listed = (BitSet) reserved.clone();
        listed.or(reserving);
        int[] reservedList = listed.stream().limit(Superblock.MAX_RESERVED).toArray();
        return new Superblock(seq, uuid, name, layout, createdMillis, pages, slots, reservedList);
    }

    // ------------------------------------------------------------------ device I/O helpers

    private static DmaBuffer page(BufferPool buffers) {
        return buffer(buffers, Layout.PAGE);
    }

    private static DmaBuffer buffer(BufferPool buffers, int size) {
        for (int attempt = 0; attempt < 1000; attempt++) {
            DmaBuffer page = buffers.allocate(size);
            if (page != null) {
                return page;
            }
            try {
                Thread.sleep(1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        throw MayastorException.resourceExhausted("no I/O buffer is free for pool metadata");
    }

    private static void readPage(BlockDevice device, DmaBuffer page, long offset) throws IOException {
        checked(BlockingIo.read(device, page, 0, offset / device.blockSize(), Layout.PAGE / device.blockSize(),
                IO_TIMEOUT), "read of metadata at byte " + offset);
    }

    private void writePage(DmaBuffer page, long offset) throws IOException {
        checked(BlockingIo.write(device, page, 0, offset / device.blockSize(), Layout.PAGE / device.blockSize(),
                IO_TIMEOUT), "write of metadata at byte " + offset);
    }

    private static void checked(IoStatus status, String what) throws IOException {
        if (status != IoStatus.SUCCESS) {
            throw new IOException(what + " failed: " + status);
        }
    }

    /** Makes a byte range read as zeros: write-zeroes, or zero pages where the device has none. */
    private void zero(long offset, long length) throws IOException {
        long lba = offset / device.blockSize();
        long blocks = length / device.blockSize();
        IoStatus status = BlockingIo.writeZeroes(device, lba, blocks, Duration.ofMinutes(10));
        if (status != IoStatus.UNSUPPORTED) {
            checked(status, "zeroing " + Sizes.human(length));
            return;
        }
        DmaBuffer zeros = buffers.allocate(ZERO_CHUNK);
        if (zeros == null) {
            throw new IOException("no buffer for zeroing");
        }
        try {
            zeros.bytes().put(0, new byte[ZERO_CHUNK]);
            int chunkBlocks = ZERO_CHUNK / device.blockSize();
            for (long done = 0; done < blocks; done += chunkBlocks) {
                int n = (int) Math.min(chunkBlocks, blocks - done);
                checked(BlockingIo.write(device, zeros, 0, lba + done, n, IO_TIMEOUT), "zeroing");
            }
        } finally {
            zeros.release();
        }
    }

    /** Zeroes clusters, merging neighbours into one request. */
    private void zeroClusters(List<Integer> clusters) throws IOException {
        List<Integer> sorted = new ArrayList<>(clusters);
        sorted.sort(null);
        int i = 0;
        while (i < sorted.size()) {
            int start = sorted.get(i);
            int end = start;
            while (i + 1 < sorted.size() && sorted.get(i + 1) == end + 1) {
                end = sorted.get(++i);
            }
            i++;
            zero(layout.clusterOffset(start), (long) (end - start + 1) * layout.clusterSize());
        }
    }

    // ------------------------------------------------------------------ export, destroy, views

    /** Commits what is pending and stops; the replicas are closed. The pool stays on the device. */
    void export() {
        List<Replica> open;
        synchronized (lock) {
            open = new ArrayList<>(replicas.values());
        }
        for (Replica r : open) {
            r.close(); // drains I/O, so nothing changes the metadata below
        }
        try {
            call(() -> {
                commitNow();
                return null;
            });
        } catch (MayastorException e) {
            LOG.log(Level.WARNING, "pool {0}: the last commit failed: {1}", name, e.getMessage());
        }
        synchronized (lock) {
            closed = true;
        }
        thread.shutdown();
        try {
            thread.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Exports the pool and erases its superblock: the device no longer holds a pool. */
    void destroy() {
        export();
        DmaBuffer page = page(buffers);
        try {
            page.bytes().put(0, new byte[Layout.PAGE]);
            writePage(page, Layout.superblockOffset(0));
            writePage(page, Layout.superblockOffset(1));
            if (layout.mirrored()) {
                writePage(page, layout.mirrorSuperblockOffset(0));
                writePage(page, layout.mirrorSuperblockOffset(1));
            }
            checked(BlockingIo.flush(device, IO_TIMEOUT), "flush");
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
            return usedPages.cardinality();
        }
    }

    /** For tests: the slot that holds a page's committed version (-1 for none yet). */
    int committedSlot(int page) {
        synchronized (lock) {
            return latestSlot[page];
        }
    }

    long committedSequence() {
        synchronized (lock) {
            return committedSeq;
        }
    }
}
