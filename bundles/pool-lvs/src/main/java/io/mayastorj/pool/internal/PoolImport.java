package io.mayastorj.pool.internal;

import io.mayastorj.core.bdev.BlockDevice;
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
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * One import of a pool from its device: takes the superblock the probe chose (or, by a person's
 * request, the newest readable one), reads every descriptor and cluster map it names
 * ({@link MetadataReader}), decides whether the pool can be served — refused, degraded with damaged
 * replicas listed, or online — and only then writes: erases what a dead version-1 commit left,
 * zeroes clusters a crash left reserved but unmapped (on a forced rollback: every unreferenced
 * one), finishes interrupted destroys, and rewrites
 * blocks that failed their checks in one copy. Its state (what it found to repair) lives only as
 * long as the import; the pool it fills is an {@link LvStore}.
 */
final class PoolImport {

    private static final Logger LOG = System.getLogger("mayastor.pool");

    private final LvStore pool;
    private final Layout layout;
    private final MetadataPageTable pages;
    private final ClusterAllocator allocator;
    private final MetadataReader reader;
    /** Pages read from their second copy at import, to write afresh; and what was found. */
    private final List<Integer> repairPages = new ArrayList<>();
    private final List<String> repairs = new ArrayList<>();
    private boolean superRepair;
    /** Bad superblock copies whose slot's other copy is its only valid block: rewritten before the first commit. */
    private List<io.mayastorj.pool.internal.format.SuperblockChoice.Heal> heals = List.of();

    private PoolImport(LvStore pool) {
        this.pool = pool;
        this.layout = pool.layout;
        this.pages = pool.pages;
        this.allocator = pool.allocator;
        this.reader = new MetadataReader(pool.deviceIo, pool.layout, pool.uuid);
    }

    /** {@link LvStore#open(BlockDevice, BufferPool, boolean)}: the checks before anything is read, then the load. */
    static LvStore open(BlockDevice device, BufferPool buffers, boolean forceRollback, Runnable progress) {
        LvStore.Probe probe = LvStore.probe(device, buffers);
        if (probe instanceof LvStore.Probe.Empty) {
            throw MayastorException.notFound("%s holds no pool", device.name());
        }
        Superblock sb;
        List<String> findings = List.of();
        List<io.mayastorj.pool.internal.format.SuperblockChoice.Heal> heals = List.of();
        boolean rolledBack = false;
        if (probe instanceof LvStore.Probe.Damaged damaged) {
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
            LvStore.Probe.Valid valid = (LvStore.Probe.Valid) probe;
            sb = valid.superblock();
            findings = valid.findings();
            heals = valid.heals();
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
        pool.deviceIo.progress(progress);
        try {
            pool.committer.takeBuffers(); // now, while the node has them: a commit under load must not need the shared pool
            PoolImport loader = new PoolImport(pool);
            loader.heals = heals;
            loader.load(sb, forceRollback, rolledBack, findings);
        } catch (IOException e) {
            pool.thread.shutdownNow();
            pool.committer.releaseBuffers();
            throw MayastorException.internal("importing pool %s failed: %s", sb.name(), e.getMessage());
        } catch (MayastorException e) {
            pool.thread.shutdownNow();
            pool.committer.releaseBuffers();
            throw e;
        } catch (RuntimeException e) {
            // a bug or a state the checks missed: this pool fails to import, the node's other pools do not
            pool.thread.shutdownNow();
            pool.committer.releaseBuffers();
            throw MayastorException.internal("importing pool %s failed: %s", sb.name(), e);
        } finally {
            pool.deviceIo.progress(() -> { }); // told of the import's steps only
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
        pool.committer.startAfter(layout.mirrored() ? sb.sequence() : sb.sequence() + 2);
        long importedSeq = sb.sequence();
        List<Replica> resumeDestroy = new ArrayList<>();
        Map<Integer, UUID> owners = new HashMap<>();
        for (int descriptor : sb.replicaPages()) {
            pages.markUsed(descriptor); // all of them first: a map page that is another's descriptor is claimed twice
        }
        DmaBuffer page = pool.deviceIo.page();
        try {
            for (int i = 0; i < sb.replicaPages().length; i++) {
                int descriptor = sb.replicaPages()[i];
                MetadataReader.PageRead loaded = reader.readCommitted(page, descriptor, sb.replicaSlots()[i],
                        MetaPage.KIND_REPLICA, null, importedSeq);
                pages.setCommittedSlot(descriptor, sb.replicaSlots()[i]); // kept as named while the replica is damaged
                if (loaded.view() == null) {
                    pool.damaged.put(descriptor, new DamagedReplica(descriptor, null, null,
                            "descriptor page " + descriptor + " " + loaded.problem()));
                    continue;
                }
                ReplicaRecord record;
                try {
                    record = ReplicaRecord.decode(loaded.view(), layout);
                    if (!record.uuid().equals(MetaPage.owner(loaded.view()))) {
                        throw new DamagedMetadataException("descriptor names another replica");
                    }
                } catch (DamagedMetadataException e) {
                    pool.damaged.put(descriptor, new DamagedReplica(descriptor, null, null,
                            "descriptor page " + descriptor + ": " + e.getMessage()));
                    continue;
                }
                if (pool.replicas.containsKey(record.uuid())) {
                    pool.damaged.put(descriptor, new DamagedReplica(descriptor, null, null, "descriptor page " + descriptor
                            + " names replica " + record.uuid() + ", which page " + pool.replicas.get(record.uuid()).descriptorPage
                            + " holds"));
                    continue;
                }
                pages.setCommittedSlot(descriptor, (byte) loaded.slot());
                Replica replica = new Replica(pool, record.uuid(), record.name(), record.sizeBytes(), record.thin(),
                        record.createdMillis(), record.properties());
                replica.descriptorPage = descriptor;
                replica.destroying = record.destroying();
                String problem = loadMaps(page, replica, record, owners, importedSeq);
                if (problem != null) {
                    pool.damaged.put(descriptor, new DamagedReplica(descriptor, record.uuid(), record.name(), problem));
                    continue;
                }
                if (loaded.problem() != null) {
                    repairs.add("descriptor page " + descriptor + " of replica " + record.uuid() + ": "
                            + loaded.problem());
                    repairPages.add(descriptor);
                }
                pages.assign(descriptor, replica, -1);
                pool.replicas.put(replica.uuid(), replica);
                if (replica.destroying) {
                    resumeDestroy.add(replica);
                }
            }
        } finally {
            page.release();
        }
        if (!pool.damaged.isEmpty()) {
            String first = pool.damaged.values().iterator().next().reason();
            if (layout.mirrored() && !force) {
                // Both copies of a block failed (or hold what no crash could have left): which state
                // was acknowledged cannot be known here. Refuse before anything is written.
                List<String> reasons = pool.damaged.values().stream().map(DamagedReplica::reason).toList();
                throw MayastorException.failedPrecondition("%s holds pool %s whose metadata cannot be read safely: %s; "
                                + "nothing was written (import with force-rollback to serve the other replicas and "
                                + "list %s as damaged)", pool.device.name(), pool.name, String.join("; ", reasons),
                        pool.damaged.size() == 1 ? "this one" : "these");
            }
            pool.state = PoolState.DEGRADED;
            pool.reason = pool.damaged.size() + " replica(s) with damaged metadata: " + first;
            LOG.log(Level.WARNING, "pool {0} is degraded: {1}", pool.name, pool.reason);
        }
        if (!superFindings.isEmpty()) {
            if (layout.mirrored()) {
                repairs.addAll(superFindings);
                superRepair = true;
            } else {
                LOG.log(Level.WARNING, "pool {0}: {1}; imported commit {2} from the other slot. A commit cut short by "
                                + "a crash is rolled back this way; had the slot been damaged after its commit completed, "
                                + "that commit is lost: format version 1 keeps one copy and cannot tell", pool.name,
                        String.join("; ", superFindings), String.valueOf(importedSeq));
            }
        }
        for (var heal : heals) {
            // before any commit (a destroy finished below commits): the next one to that slot writes its first copy
            // first, and over the slot's only valid block a crash tearing it would leave the slot with none — the
            // pool refused at every import. After one, the heal would write an older state over a completed commit
            pool.committer.heal(heal, importedSeq);
        }
        // A version-1 commit that died before its superblock left newer versions of some pages in
        // their spare slots. Left there, they would pass for committed as soon as the sequence grew
        // past theirs: erase them. (Version 2 reads only the slots the parents name.)
        List<long[]> orphans = reader.orphans();
        if (!orphans.isEmpty()) {
            DmaBuffer zero = pool.deviceIo.page();
            try {
                zero.bytes().put(0, new byte[Layout.PAGE]);
                for (long[] orphan : orphans) {
                    pool.deviceIo.writePage(zero, layout.pageOffset((int) orphan[0], (int) orphan[1]));
                }
                pool.deviceIo.flush();
            } finally {
                zero.release();
            }
            LOG.log(Level.INFO, "pool {0}: erased {1} page(s) of a commit that did not complete", pool.name,
                    String.valueOf(orphans.size()));
        }
        if (rolledBack) {
            // The lost commits may have reserved and written clusters that this state calls free: they
            // are zeroed before any commit (a destroy finished) writes this state over the slot a plain
            // import would otherwise roll back to, else a crash between left them free and unzeroed
            if (pool.state == PoolState.ONLINE) {
                pool.reclaimUnreferenced();
            }
            for (Replica replica : resumeDestroy) {
                pool.finishDestroy(replica);
            }
            repairs.add(0, "rolled back to commit " + importedSeq + " by request");
        } else {
            List<Integer> dirty = new ArrayList<>();
            for (int cluster : sb.reservedClusters()) {
                if (!allocator.isUsed(cluster)) {
                    dirty.add(cluster); // may hold data of writes whose mapping was never committed
                }
            }
            if (!dirty.isEmpty()) {
                pool.deviceIo.zeroClusters(layout, dirty);
                pages.markSuperblockDirty(); // the next commit records an empty (or fresh) reservation
            }
            for (Replica replica : resumeDestroy) {
                LOG.log(Level.INFO, "pool {0}: finishing the destroy of replica {1}", pool.name, replica.uuid());
                pool.finishDestroy(replica);
            }
        }
        if (pool.state == PoolState.ONLINE) {
            synchronized (pool.lock) {
                allocator.reserveClusters();
                for (int p : repairPages) {
                    if (pages.isUsed(p) && pages.owner(p) != null) {
                        pages.markDirty(p); // written afresh to the other slot, both copies
                    }
                }
            }
            pool.committer.commitNow();
            if (superRepair) {
                synchronized (pool.lock) {
                    pages.markSuperblockDirty();
                }
                pool.committer.commitNow(); // both slots, both copies
            }
            if (!repairs.isEmpty()) {
                pool.reason = "repaired at import: " + String.join("; ", repairs);
                LOG.log(Level.WARNING, "pool {0}: {1}", pool.name, pool.reason);
            }
        }
        LOG.log(Level.INFO, "imported pool {0} from {1}: {2} replicas, {3} of {4} used", pool.name, pool.device.name(),
                String.valueOf(pool.replicas.size()), Sizes.human(pool.usedBytes()), Sizes.human(layout.capacity()));
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
        int[] slots = new int[maps.length];
        List<Integer> repaired = new ArrayList<>();
        List<String> repairNotes = new ArrayList<>();
        for (int i = 0; i < maps.length; i++) {
            int mapPage = maps[i];
            if (mapPage < 0) {
                loaded.add(null);
                continue;
            }
            MetadataReader.PageRead map = reader.readCommitted(page, mapPage, record.mapSlots()[i],
                    MetaPage.KIND_CLUSTER_MAP, record.uuid(), importedSeq);
            if (map.view() == null) {
                return "cluster-map page " + mapPage + " " + map.problem();
            }
            int[] entries;
            try {
                entries = ClusterMapPage.decode(map.view(), layout.clusterCount());
            } catch (DamagedMetadataException e) {
                return "cluster-map page " + mapPage + ": " + e.getMessage();
            }
            for (int j = 0; j < entries.length; j++) {
                if (entries[j] != 0 && (long) i * Replica.ENTRIES + j >= clusters) {
                    return "cluster-map page " + mapPage + " maps clusters beyond the replica's size";
                }
            }
            if (map.problem() != null) {
                repaired.add(mapPage);
                repairNotes.add("cluster-map page " + mapPage + " of replica " + record.uuid() + ": " + map.problem());
            }
            slots[i] = map.slot(); // recorded once every claim is checked: a page another replica owns keeps its slot
            loaded.add(entries);
        }
        // every page and cluster checked against all claims (this replica's own among them) before
        // any is claimed: a cluster named twice in one page once passed, and a replica damaged by its
        // second page kept the clusters of its first
        BitSet mine = new BitSet();
        BitSet myPages = new BitSet();
        for (int i = 0; i < maps.length; i++) {
            int[] entries = loaded.get(i);
            if (entries == null) {
                continue;
            }
            if (pages.isUsed(maps[i]) || myPages.get(maps[i])) {
                return "cluster-map page " + maps[i] + " is claimed twice";
            }
            myPages.set(maps[i]);
            for (int entry : entries) {
                if (entry != 0 && (allocator.isUsed(entry - 1) || mine.get(entry - 1))) {
                    return "data cluster " + (entry - 1) + " is owned twice (also by "
                            + owners.getOrDefault(entry - 1, record.uuid()) + ")";
                }
                if (entry != 0) {
                    mine.set(entry - 1);
                }
            }
        }
        for (int i = 0; i < maps.length; i++) {
            if (loaded.get(i) != null) {
                // (set before the checks, a damaged replica naming another's page moved that page's committed slot,
                // and the owner's next commit of it wrote over its only committed copy)
                pages.setCommittedSlot(maps[i], (byte) slots[i]);
            }
        }
        int allocated = 0;
        for (int i = 0; i < maps.length; i++) {
            int[] entries = loaded.get(i);
            if (entries == null) {
                continue;
            }
            for (int entry : entries) {
                if (entry != 0) {
                    allocator.markUsed(entry - 1);
                    owners.put(entry - 1, record.uuid());
                    allocated++;
                }
            }
            pages.markUsed(maps[i]);
            pages.assign(maps[i], replica, i);
            replica.mapPageNumbers[i] = maps[i];
            replica.loadMapPage(i, entries);
        }
        replica.allocatedClusters = allocated;
        repairPages.addAll(repaired);
        repairs.addAll(repairNotes);
        return null;
    }
}
