package io.mayastorj.pool.internal;

import io.mayastorj.core.bdev.BdevClaim;
import io.mayastorj.core.bdev.BdevInfo;
import io.mayastorj.core.bdev.BdevRegistry;
import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.buffer.BufferPool;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.core.node.Node;
import io.mayastorj.core.text.Sizes;
import io.mayastorj.core.transport.ShareManager;
import io.mayastorj.core.transport.ShareOptions;
import io.mayastorj.pool.internal.format.Layout;
import io.mayastorj.pool.internal.format.ReplicaRecord;
import io.mayastorj.pool.internal.format.Superblock;
import java.io.IOException;
import java.nio.file.Path;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.metatype.annotations.Designate;

/**
 * The node's pools and their replicas: create, import, export and destroy pools, remember which
 * ones the node has (they are imported again when it starts), and keep replicas registered as bdevs.
 * Pool operations are serialized here; replica I/O never passes through this class.
 *
 * <p>Why one class of some 640 lines: it is the one DS component the gRPC services, the shell and
 * the metrics bind to, and its monitor is what serializes pool operations against each other and
 * against the node's list. Its parts — the pool table with the list, the restore at start (with the
 * search for a moved pool), the device claims, the replica operations — all work on the same
 * {@link Entry} records, bdev registrations and shares under that monitor; the pool's own work is in
 * {@link LvStore}, the list's format in {@link PoolList}, device patterns in {@link DevicePatterns}.
 * Splitting the replica operations into a component of their own would change the service surface
 * its users bind to, for no change in what either half does.
 */
@Component(service = PoolManager.class, immediate = true, configurationPid = PoolConfig.PID,
        configurationPolicy = ConfigurationPolicy.OPTIONAL)
@Designate(ocd = PoolConfig.class)
public final class PoolManager {

    private static final Logger LOG = System.getLogger("mayastor.pool");

    private final BdevRegistry registry;
    private final BufferPool buffers;
    private final ShareManager shares;
    private final PoolList list;
    private final DevicePatterns devices;
    private final Node node;
    private final Map<String, Entry> pools = new TreeMap<>();
    /** Pools whose create writes their disk, outside the lock (guarded by this). */
    private final java.util.Set<String> creatingPools = new java.util.HashSet<>();
    /** The UUIDs asked for by the creates in progress: two at once must not take one. */
    private final java.util.Set<UUID> creatingUuids = new java.util.HashSet<>();
    private boolean stopped; // guarded by this
    /** The stop has stopped waiting for the calls in progress: one that ends later must not register what it made. */
    private boolean stopWaitOver; // guarded by this
    /** Replicas being made on disk outside the lock, with what was asked (pool, name, size, thin). */
    private final java.util.Map<UUID, List<Object>> creatingReplicas = new java.util.HashMap<>();
    /** Disks an import holds while it opens their pool outside the lock, with the pool's name asked for ("" for any). */
    private final java.util.Map<String, String> importing = new java.util.HashMap<>();

    /** A pool the node knows: open, or faulted with the reason it could not be imported. */
    public static final class Entry {
        final String name;
        final String disk;
        /** The pool's uuid once known (from the node's list, or an import); null before. */
        UUID uuid;
        LvStore store;
        BdevClaim claim;
        boolean ownsBdev;
        String error;
        /** The store of a destroy that failed after its export: a destroy again erases it. */
        LvStore erasing;

        Entry(String name, String disk) {
            this.name = name;
            this.disk = disk;
        }

        public String name() {
            return name;
        }

        public String disk() {
            return disk;
        }

        public Optional<LvStore> store() {
            return Optional.ofNullable(store);
        }

        public PoolState state() {
            return store == null ? PoolState.FAULTED : store.state();
        }

        public String reason() {
            return store == null ? error : store.reason();
        }

        public long diskCapacity() {
            BdevClaim c = claim; // read once: an export nulls it under the manager's lock, and ListPools reads without it
            return c == null ? 0 : c.device().sizeBytes();
        }
    }

    @Activate
    public PoolManager(@Reference BdevRegistry registry, @Reference BufferPool buffers, @Reference ShareManager shares,
                       @Reference Node node, PoolConfig config) {
        this(registry, buffers, shares, node, DevicePatterns.parse(config.pool_devices()));
    }

    public PoolManager(BdevRegistry registry, BufferPool buffers, ShareManager shares, Node node) {
        this(registry, buffers, shares, node, DevicePatterns.parse(""));
    }

    /**
     * @param devices where to look for a remembered pool, by its uuid, when it is no longer on the
     *                device it was imported from
     */
    public PoolManager(BdevRegistry registry, BufferPool buffers, ShareManager shares, Node node,
                       DevicePatterns devices) {
        this.registry = registry;
        this.buffers = buffers;
        this.shares = shares;
        this.devices = devices;
        this.node = node;
        this.list = new PoolList(node.stateDir());
        List<PoolList.Known> known;
        try {
            known = list.read();
        } catch (IOException e) {
            LOG.log(Level.ERROR, "cannot read the list of pools: {0}", e.getMessage());
            known = List.of();
        }
        for (PoolList.Known pool : known) {
            if (isVolatile(pool.disk())) {
                LOG.log(Level.INFO, "pool {0} was on {1}, a device in memory, and is gone with the last run", pool.name(),
                        pool.disk());
                continue;
            }
            Entry entry = new Entry(pool.name(), pool.disk());
            entry.uuid = pool.uuid();
            try {
                open(entry, false);
            } catch (MayastorException e) {
                // looked for elsewhere only when its disk does not hold it: one that does but failed to open (its
                // lock still held by the process killed before, an I/O error) would have a stale copy — a backup,
                // a restored image — imported in its place, its replicas rolled back under the same uuids
                Entry moved = notOnItsDisk(entry) ? findMoved(entry, e.getMessage()) : null;
                if (moved != null) {
                    entry = moved;
                } else {
                    entry.error = e.getMessage();
                    LOG.log(Level.ERROR, "pool {0} on {1} could not be imported: {2}", entry.name, entry.disk,
                            e.getMessage());
                }
            }
            synchronized (this) {
                pools.put(entry.name, entry);
            }
        }
        if (known.stream().anyMatch(k -> !pools.containsKey(k.name()) || !pools.get(k.name()).disk.equals(k.disk()))) {
            synchronized (this) {
                persist(); // pools found elsewhere, or gone with a device in memory
            }
        }
    }

    /**
     * Whether a remembered pool's own disk is gone or holds something else (nothing, another pool):
     * false when it holds the pool, is damaged, or cannot be looked at (in use, an I/O error).
     */
    private boolean notOnItsDisk(Entry entry) {
        if (entry.uuid == null) {
            return false;
        }
        synchronized (this) {
            if (pools.values().stream().anyMatch(e -> sameDevice(e.disk, entry.disk) && e.uuid != null
                    && !e.uuid.equals(entry.uuid))) {
                return true; // another remembered pool was found there (two disks whose names swapped)
            }
        }
        Entry probe = new Entry(entry.name, entry.disk);
        try {
            BlockDevice device = claimDevice(probe);
            LvStore.Probe found = LvStore.probe(device, buffers);
            return found instanceof LvStore.Probe.Empty
                    || found instanceof LvStore.Probe.Valid valid && !valid.superblock().poolUuid().equals(entry.uuid);
        } catch (MayastorException e) {
            return e.kind() == io.mayastorj.core.error.ErrorKind.NOT_FOUND;
        } finally {
            releaseDevice(probe);
        }
    }

    /**
     * Whether two names of disks are one device: the list may name a disk by the kernel's name and the
     * patterns by a stable one (/dev/sdc, /dev/disk/by-id/ata-Y), so names are compared by what they
     * resolve to. Two disks whose kernel names swapped left one of their pools faulted: its own name
     * was open under the other pool's stable name, and "in use" is no sign that a pool has moved.
     */
    private static boolean sameDevice(String a, String b) {
        if (a.equals(b)) {
            return true;
        }
        Optional<Path> device = devicePath(a);
        return device.isPresent() && device.equals(devicePath(b));
    }

    private static Optional<Path> devicePath(String disk) {
        try {
            String path = disk.startsWith("/") ? disk : BdevUri.parse(disk).path();
            return path.isEmpty() ? Optional.empty() : Optional.of(Path.of(path).toRealPath());
        } catch (IOException | RuntimeException e) {
            return Optional.empty(); // not a path (malloc:///m0), or nothing there now
        }
    }

    /**
     * A remembered pool that is not on its device any more (a disk that came back under another
     * name after a reboot, a file renamed): looks for it, by its uuid, on the devices the node's
     * {@code pool.devices} patterns name, and imports it from there. Null when it is not found,
     * or found on more than one device (a copy: which is the pool is for a person to say).
     */
    private Entry findMoved(Entry entry, String why) {
        if (entry.uuid == null || devices.isEmpty()) {
            return null;
        }
        List<String> found = new ArrayList<>();
        for (String candidate : devices.expand()) {
            if (sameDevice(candidate, entry.disk) || pools.values().stream().anyMatch(e -> sameDevice(e.disk, candidate))) {
                continue;
            }
            Entry probe = new Entry(entry.name, candidate);
            try {
                BlockDevice device = claimDevice(probe);
                if (LvStore.probe(device, buffers) instanceof LvStore.Probe.Valid valid
                        && valid.superblock().poolUuid().equals(entry.uuid)) {
                    found.add(candidate);
                }
            } catch (MayastorException e) {
                LOG.log(Level.DEBUG, "pool {0}: {1} is not a candidate: {2}", entry.name, candidate, e.getMessage());
            } finally {
                releaseDevice(probe);
            }
        }
        if (found.size() != 1) {
            if (found.size() > 1) {
                LOG.log(Level.ERROR, "pool {0} (uuid {1}) is on more than one device: {2}; importing none of them",
                        entry.name, entry.uuid, String.join(", ", found));
            }
            return null;
        }
        Entry moved = new Entry(entry.name, found.get(0));
        moved.uuid = entry.uuid;
        try {
            open(moved, false);
        } catch (MayastorException e) {
            LOG.log(Level.ERROR, "pool {0}: found at {1} by its uuid, but it could not be imported from there: {2}",
                    entry.name, moved.disk, e.getMessage());
            return null;
        }
        LOG.log(Level.WARNING, "pool {0} is no longer on {1} ({2}); found by its uuid on {3} and imported from there",
                entry.name, entry.disk, why, moved.disk);
        return moved;
    }

    // ---------------------------------------------------------------- pools

    /**
     * Creates a pool, or returns the one of that name when it is the same (Mayastor's create is
     * idempotent): on the same disk, with the cluster size and uuid asked for (when asked). A device
     * that holds the pool of that name already is imported, on the same condition.
     */
    public Entry create(String name, UUID uuid, String disk, int clusterSize) {
        Entry entry;
        BlockDevice device;
        synchronized (this) {
            if (stopped) { // one that came while a stop waits for the creates in progress (it lets calls in meanwhile)
                throw MayastorException.unavailable("the node is stopping; pool %s is not made", name);
            }
            Entry existing = pools.get(name);
            if (existing != null) {
                if (!existing.disk.equals(disk)) {
                    throw MayastorException.alreadyExists("pool %s exists already (on %s, not %s)", name, existing.disk, disk);
                }
                if (existing.store == null) {
                    throw MayastorException.alreadyExists("pool %s exists already on %s and is faulted (%s): import it, or "
                            + "export it to forget it", name, disk, existing.error);
                }
                sameAsAsked(existing.store, disk, uuid, clusterSize);
                persist(); // again: the first call may have made the pool and failed to save the list (a retry answered OK unsaved)
                return existing;
            }
            if (creatingPools.contains(name)) {
                throw MayastorException.unavailable("pool %s is being created by another call; ask again once it is", name);
            }
            for (Entry other : pools.values()) {
                if (uuid != null && uuid.equals(other.uuid)) {
                    // two pools with one UUID: a damaged replica's ID, made of the pool's UUID, would name either
                    throw MayastorException.alreadyExists("pool %s cannot take uuid %s: it is pool %s's", name, uuid, other.name);
                }
            }
            if (uuid != null && creatingUuids.contains(uuid)) {
                throw MayastorException.alreadyExists("pool %s cannot take uuid %s: a pool being created has it", name, uuid);
            }
            entry = new Entry(name, disk);
            device = claimDevice(entry); // the disk is ours from here: no other pool or import takes it meanwhile
            creatingPools.add(name);
            if (uuid != null) {
                creatingUuids.add(uuid);
            }
        }
        // outside the lock: a new pool zeroes its data area, which on a disk without a fast write-zeroes
        // takes as long as writing it; held, every pool and replica call of the node waited that long
        // (ListPools too, and the control plane called the node's pools offline)
        try {
            LvStore.Probe probe = LvStore.probe(device, buffers);
            if (probe instanceof LvStore.Probe.Valid valid && valid.superblock().name().equals(name)) {
                LOG.log(Level.INFO, "{0} holds pool {1} already: importing it", disk, name);
                LvStore store = LvStore.open(device, buffers);
                try {
                    sameAsAsked(store, disk, uuid, clusterSize);
                } catch (MayastorException e) {
                    store.export();
                    throw e;
                }
                attach(entry, store);
            } else {
                entry.store = LvStore.create(name, uuid == null ? UUID.randomUUID() : uuid, device,
                        clusterSize == 0 ? Layout.defaultClusterSize(device.sizeBytes()) : clusterSize, buffers);
                entry.uuid = entry.store.uuid();
            }
        } catch (RuntimeException | Error e) {
            synchronized (this) {
                creatingPools.remove(name);
                notifyAll(); // a stop waits for the creates and imports in progress
                if (uuid != null) {
                    creatingUuids.remove(uuid);
                }
                releaseDevice(entry);
            }
            throw e;
        }
        synchronized (this) {
            creatingPools.remove(name);
            notifyAll();
            if (uuid != null) {
                creatingUuids.remove(uuid);
            }
            if (pools.containsKey(name)) { // an import of another disk's pool of that name came first (it refuses while this runs)
                close(entry, false);
                throw MayastorException.alreadyExists("pool %s exists already on %s", name, pools.get(name).disk);
            }
            pools.put(name, entry);
            persist();
            if (stopped) { // the node stopped meanwhile: the pool is on its disk and listed, imported at the next start
                pools.remove(name);
                close(entry, false);
                throw MayastorException.unavailable("the node stopped while pool %s was made; it is imported at its next start",
                        name);
            }
        }
        return entry;
    }

    public Entry importPool(String name, UUID uuid, String disk) {
        return importPool(name, uuid, disk, false);
    }

    /** ALREADY_EXISTS naming each difference when an existing pool is not what a create asked for. */
    private static void sameAsAsked(LvStore store, String disk, UUID uuid, int clusterSize) {
        List<String> differences = new ArrayList<>();
        if (clusterSize != 0 && clusterSize != store.clusterSize()) {
            differences.add("cluster size " + Sizes.human(store.clusterSize()) + ", not " + Sizes.human(clusterSize));
        }
        if (uuid != null && !uuid.equals(store.uuid())) {
            differences.add("uuid " + store.uuid() + ", not " + uuid);
        }
        if (!differences.isEmpty()) {
            throw MayastorException.alreadyExists("pool %s exists already on %s with %s", store.name(), disk,
                    String.join(" and ", differences));
        }
    }

    /**
     * Imports the pool a device holds. A faulted entry of the same pool (same disk, or same uuid: the
     * disk moved) is replaced by it. {@code forceRollback}: see {@link LvStore#open(BlockDevice, BufferPool, boolean)}.
     */
    public Entry importPool(String name, UUID uuid, String disk, boolean forceRollback) {
        Entry entry = new Entry(name, disk);
        BlockDevice device;
        synchronized (this) {
            if (stopped) { // a call that waited for the lock while the node stopped: its pool would hold the disk past the stop
                throw MayastorException.unavailable("the node is stopping; pool %s is not imported", name);
            }
            for (Entry e : pools.values()) {
                if (e.disk.equals(disk) && e.store != null) {
                    throw MayastorException.alreadyExists("%s holds pool %s, which is imported already", disk, e.name);
                }
            }
            if (importing.containsKey(disk)) {
                throw MayastorException.unavailable("%s is being imported by another call; ask again once it is", disk);
            }
            device = claimDevice(entry); // the disk is ours from here: no other pool or import takes it meanwhile
            importing.put(disk, name == null ? "" : name);
        }
        try {
            return importClaimed(entry, device, name, uuid, disk, forceRollback);
        } finally {
            synchronized (this) {
                importing.remove(disk);
                notifyAll();
            }
        }
    }

    /**
     * The import's work on a disk it holds. Outside the lock: the open writes (a dead commit's pages
     * erased, a destroy finished, a forced rollback's zeroing of every free cluster), which held it kept
     * every pool and replica call of the node waiting, as a create's zeroing did.
     */
    private Entry importClaimed(Entry entry, BlockDevice device, String name, UUID uuid, String disk, boolean forceRollback) {
        LvStore store;
        try {
            // which pool the disk holds is looked at before the import, which writes (it erases a dead
            // commit's pages, zeroes clusters, finishes destroys; a forced rollback zeroes every free one)
            LvStore.Probe probe = LvStore.probe(device, buffers);
            Superblock found = probe instanceof LvStore.Probe.Valid v ? v.superblock()
                    : probe instanceof LvStore.Probe.Damaged d ? d.fallback() : null;
            if (found != null && name != null && !name.isEmpty() && !found.name().equals(name)) {
                throw MayastorException.failedPrecondition("%s holds pool %s, not %s; nothing was written", disk,
                        found.name(), name);
            }
            if (found != null && uuid != null && !found.poolUuid().equals(uuid)) {
                throw MayastorException.failedPrecondition("%s holds pool %s with uuid %s, not %s; nothing was written",
                        disk, found.name(), found.poolUuid(), uuid);
            }
            if (found != null) {
                synchronized (this) {
                    importing.put(disk, found.name()); // a destroy or export of it meanwhile: UNAVAILABLE (asked by disk only too)
                    uuidFree(found.name(), found.poolUuid()); // before the open writes (a rollback's zeroing, a destroy finished)
                }
            }
            store = LvStore.open(device, buffers, forceRollback);
            if (name != null && !name.isEmpty() && !store.name().equals(name)) {
                store.export();
                throw MayastorException.failedPrecondition("%s holds pool %s, not %s", disk, store.name(), name);
            }
            if (uuid != null && !store.uuid().equals(uuid)) {
                store.export();
                throw MayastorException.failedPrecondition("%s holds pool %s with uuid %s, not %s", disk, store.name(),
                        store.uuid(), uuid);
            }
        } catch (RuntimeException | Error e) {
            synchronized (this) {
                releaseDevice(entry);
            }
            throw e;
        }
        synchronized (this) {
            return register(entry, store, disk);
        }
    }

    /**
     * Refuses pool {@code name}'s import when another pool here has its uuid, or a create takes it:
     * two pools with one uuid, and a damaged replica's ID (made of the pool's uuid) would name either.
     */
    private void uuidFree(String name, UUID uuid) {
        if (creatingUuids.contains(uuid)) {
            throw MayastorException.unavailable("pool %s has uuid %s, which a pool being created takes; ask again once it is",
                    name, uuid);
        }
        for (Entry other : pools.values()) {
            if (!other.name.equals(name) && uuid.equals(other.uuid)) {
                throw MayastorException.alreadyExists("pool %s has uuid %s, which is pool %s's already", name, uuid, other.name);
            }
        }
    }

    /** An opened pool into the map (its faulted entry replaced), unless the node stopped or the name is taken meanwhile. */
    private Entry register(Entry entry, LvStore store, String disk) {
        Entry replaced = null;
        try {
            if (stopped) { // the node stopped during the open: the pool stays on its disk, imported at the next start if listed
                store.export();
                throw MayastorException.unavailable("the node stopped while pool %s was imported; it is not", store.name());
            }
            if (creatingPools.contains(store.name())) {
                store.export();
                throw MayastorException.unavailable("a pool named %s is being created; ask again once it is", store.name());
            }
            try {
                uuidFree(store.name(), store.uuid()); // again: a create may have begun with it during the open
            } catch (MayastorException e) {
                store.export();
                throw e;
            }
            Entry clash = pools.get(store.name());
            if (clash != null) {
                if (clash.store == null && (clash.disk.equals(disk) || store.uuid().equals(clash.uuid))) {
                    replaced = clash;
                } else {
                    store.export();
                    throw MayastorException.alreadyExists("a pool named %s exists already (on %s)", store.name(), clash.disk);
                }
            }
        } catch (RuntimeException e) {
            releaseDevice(entry);
            throw e;
        }
        if (replaced != null) {
            pools.remove(replaced.name);
            LOG.log(Level.INFO, "pool {0}: imported from {1} in place of its faulted entry on {2} ({3})", store.name(),
                    disk, replaced.disk, replaced.error);
        }
        Entry named = new Entry(store.name(), disk);
        named.claim = entry.claim;
        named.ownsBdev = entry.ownsBdev;
        try {
            attach(named, store);
        } catch (RuntimeException | Error e) {
            releaseDevice(entry);
            if (replaced != null) {
                pools.put(replaced.name, replaced); // the faulted entry stays, as before the import
            }
            throw e;
        }
        pools.put(named.name, named);
        persist();
        return named;
    }

    /** Opens the pool of a remembered entry (node start). */
    private void open(Entry entry, boolean persist) {
        BlockDevice device = claimDevice(entry);
        try {
            // looked at before the open, which writes (as an import's): disk names swapped at a reboot must not have
            // this node repair and commit on a pool nobody asked for
            LvStore.Probe probe = LvStore.probe(device, buffers);
            Superblock found = probe instanceof LvStore.Probe.Valid v ? v.superblock()
                    : probe instanceof LvStore.Probe.Damaged d ? d.fallback() : null;
            if (found != null && (!found.name().equals(entry.name) || entry.uuid != null && !found.poolUuid().equals(entry.uuid))) {
                throw MayastorException.failedPrecondition("%s now holds pool %s (uuid %s), not %s%s; nothing was written",
                        entry.disk, found.name(), found.poolUuid(), entry.name, entry.uuid == null ? "" : " (uuid " + entry.uuid + ")");
            }
            // a destroy finished here zeroes its clusters, minutes on a slow device: the node's start is told it moves
            LvStore store = LvStore.open(device, buffers, false,
                    () -> node.startupProgress("pool " + entry.name + " is being imported (zeroing)"));
            if (!store.name().equals(entry.name) || (entry.uuid != null && !store.uuid().equals(entry.uuid))) {
                store.export();
                throw MayastorException.failedPrecondition("%s now holds pool %s (uuid %s), not %s%s", entry.disk,
                        store.name(), store.uuid(), entry.name, entry.uuid == null ? "" : " (uuid " + entry.uuid + ")");
            }
            attach(entry, store);
        } catch (RuntimeException e) {
            releaseDevice(entry);
            throw e;
        }
        if (persist) {
            persist();
        }
    }

    /**
     * Registers an imported pool's replicas as bdevs and restores their shares: all or nothing.
     * A replica whose name a bdev here has already (made while the pool was away) refuses the
     * import, and the store is exported again; half an import left replicas served from a pool no
     * call could list, export or import again until a restart.
     */
    private void attach(Entry entry, LvStore store) {
        for (Replica replica : store.replicas()) {
            if (registry.lookup(replica.name()).isPresent()) {
                store.export();
                throw MayastorException.alreadyExists("pool %s holds replica %s, and a bdev of that name exists on this node "
                        + "already (made while the pool was away?): destroy it, then import the pool again", store.name(),
                        replica.name());
            }
        }
        List<Replica> registered = new ArrayList<>();
        try {
            for (Replica replica : store.replicas()) {
                registry.register(replica);
                registered.add(replica);
                ReplicaShare share = ReplicaShare.parse(replica.properties);
                if (share.protocol() != null) {
                    try {
                        shares.restore(replica.name(), share.protocol(), new ShareOptions(share.allowedHosts(), Map.of()));
                    } catch (MayastorException e) {
                        LOG.log(Level.WARNING, "replica {0}: its {1} share could not be restored: {2}", replica.name(),
                                share.protocol(), e.getMessage());
                    }
                }
            }
        } catch (RuntimeException e) {
            try {
                for (Replica replica : registered) {
                    shares.unshareIfShared(replica.name());
                    registry.unregister(replica);
                }
            } catch (RuntimeException undo) {
                e.addSuppressed(undo);
            } finally {
                store.export();
            }
            throw e;
        }
        entry.store = store;
        entry.uuid = store.uuid();
    }

    public synchronized void export(String name) {
        Entry entry = find(name);
        close(entry, false);
        pools.remove(name);
        persist();
        LOG.log(Level.INFO, "exported pool {0}", name);
    }

    public synchronized void destroy(String name) {
        destroy(name, false);
    }

    /** Destroys a pool; one that holds replicas only with {@code force} (the replicas go with it). */
    public synchronized void destroy(String name, boolean force) {
        Entry entry = find(name);
        if (entry.store == null && entry.erasing != null) {
            // a destroy that failed after its export (its replicas gone from the node already): its erasure again
            try {
                entry.erasing.destroy();
            } catch (RuntimeException e) {
                entry.error = "its destroy failed after its export (destroy it again): " + e.getMessage();
                throw e;
            }
            entry.erasing = null;
            releaseDevice(entry);
            pools.remove(name);
            persist();
            return;
        }
        if (entry.store == null) {
            throw MayastorException.failedPrecondition(
                    "pool %s is faulted (%s): it cannot be destroyed until it imports; export it to forget it",
                    name, entry.error);
        }
        int held = entry.store.replicas().size() + entry.store.damagedReplicas().size();
        if (held > 0 && !force) {
            throw MayastorException.failedPrecondition(
                    "pool %s holds %d replica(s) (%s); destroy them first, or destroy the pool with force", name, held,
                    String.join(", ", entry.store.replicas().stream().map(r -> r.replicaName).limit(5).toList())
                            + (held > 5 ? ", ..." : ""));
        }
        try {
            close(entry, true);
        } catch (RuntimeException e) {
            if (entry.store.isClosed()) {
                // exported, its replicas gone from the node, and the erasure failed: listed as faulted, not as an
                // online pool with replicas no bdev serves; the disk stays claimed, and a destroy again erases it
                entry.error = "its destroy failed after its export (destroy it again): " + e.getMessage();
                entry.erasing = entry.store;
                entry.store = null;
            }
            throw e;
        }
        pools.remove(name);
        persist();
    }

    private void close(Entry entry, boolean destroy) {
        if (entry.store != null) {
            List<Replica> open = entry.store.replicas();
            for (Replica replica : open) {
                String user = claimedBy(replica);
                if (user != null && !user.startsWith("share ")) {
                    throw MayastorException.failedPrecondition("pool %s: replica %s is in use by %s", entry.name,
                            replica.name(), user);
                }
                if (!destroy) {
                    // as UnshareReplica without force: an export cut a remote nexus's child off with no word (a
                    // destroy of a pool that holds replicas takes force already)
                    List<String> hosts = shares.connectedHosts(replica.name());
                    if (!hosts.isEmpty()) {
                        throw MayastorException.failedPrecondition("pool %s: replica %s is in use by %s over its share; "
                                + "disconnect %s, or unshare the replica with force, before the export", entry.name,
                                replica.uuid(), String.join(", ", hosts), hosts.size() == 1 ? "it" : "them");
                    }
                }
            }
            for (Replica replica : open) {
                shares.unshareIfShared(replica.name());
                registry.unregister(replica);
            }
            if (destroy) {
                entry.store.destroy();
            } else {
                entry.store.export();
            }
        }
        releaseDevice(entry);
    }

    private BlockDevice claimDevice(Entry entry) {
        Optional<BlockDevice> existing = registry.findByUri(entry.disk);
        BlockDevice device;
        if (existing.isPresent()) {
            device = existing.get();
            if (device instanceof Replica || "Nexus".equals(device.productName())) {
                // a volume's data: a pool made there would zero it (a typo of a disk's name)
                throw MayastorException.invalidArgument("%s is a %s, not a disk: a pool is made on a disk", entry.disk,
                        device instanceof Replica ? "replica" : "volume's nexus");
            }
        } else {
            device = registry.create(entry.disk);
            entry.ownsBdev = true;
        }
        try {
            entry.claim = registry.claim(device.name(), "pool " + entry.name);
        } catch (MayastorException e) {
            if (entry.ownsBdev) {
                registry.destroy(device.name());
                entry.ownsBdev = false;
            }
            throw e;
        }
        return device;
    }

    private void releaseDevice(Entry entry) {
        if (entry.claim != null) {
            String bdev = entry.claim.device().name();
            entry.claim.close();
            entry.claim = null;
            if (entry.ownsBdev) {
                try {
                    registry.destroy(bdev);
                } catch (MayastorException e) {
                    LOG.log(Level.WARNING, "the pool''s device {0} could not be closed: {1}", bdev, e.getMessage());
                }
                entry.ownsBdev = false;
            }
        }
    }

    /** A device in memory (malloc, null): a pool on it does not outlive the process, so it is not remembered. */
    static boolean isVolatile(String disk) {
        try {
            String scheme = BdevUri.parse(disk).scheme();
            return scheme.equals("malloc") || scheme.equals("null");
        } catch (RuntimeException e) {
            return false;
        }
    }

    private void persist() {
        List<PoolList.Known> known = new ArrayList<>();
        pools.values().stream().filter(e -> !isVolatile(e.disk))
                .forEach(e -> known.add(new PoolList.Known(e.name, e.disk, e.uuid)));
        try {
            list.write(known);
        } catch (IOException e) {
            throw MayastorException.internal("cannot save the list of pools: %s", e.getMessage());
        }
    }

    public synchronized List<Entry> pools() {
        return List.copyOf(pools.values());
    }

    public synchronized Entry find(String name) {
        Entry entry = pools.get(name);
        if (entry == null && creatingPools.contains(name)) {
            // not NOT_FOUND: a destroy taking that as "gone" left the pool the create then made
            throw MayastorException.unavailable("pool %s is being created; ask again once it is", name);
        }
        if (entry == null && importing.containsValue(name)) { // as for a create: the import registers it soon
            throw MayastorException.unavailable("pool %s is being imported; ask again once it is", name);
        }
        if (entry == null) {
            throw MayastorException.notFound("pool %s not found", name);
        }
        return entry;
    }

    private LvStore online(String poolName) {
        Entry entry = find(poolName);
        if (entry.store == null) {
            throw MayastorException.failedPrecondition("pool %s is faulted: %s", poolName, entry.error);
        }
        return entry.store;
    }

    // ---------------------------------------------------------------- replicas

    public Replica createReplica(String poolName, UUID uuid, String name, long size, boolean thin) {
        return makeReplica(poolName, uuid, name, size, thin).replica();
    }

    /** A replica, and whether this call made it (false: a retry found the one made before). */
    public record Made(Replica replica, boolean made) {
    }

    /** Refuses, UNAVAILABLE, a share over a protocol no transport of this node serves now. */
    public void checkTransport(String protocol) {
        List<String> now = shares.protocols();
        if (!now.contains(protocol)) {
            throw MayastorException.unavailable("no %s transport on this node (available: %s)", protocol,
                    now.isEmpty() ? "none" : String.join(", ", new java.util.TreeSet<>(now)));
        }
    }

    /** {@link #createReplica}, saying whether the replica is new: only a new one may be undone by its caller. */
    public Made makeReplica(String poolName, UUID uuid, String name, long size, boolean thin) {
        LvStore store;
        synchronized (this) {
            if (stopped) {
                throw MayastorException.unavailable("the node is stopping; replica %s is not made", uuid);
            }
            store = online(poolName);
            Optional<BlockDevice> there = registry.lookup(uuid.toString());
            if (there.isPresent()) {
                if (there.get() instanceof Replica r && r.pool == store && r.replicaName.equals(name) && r.sizeBytes == size
                        && r.thin == thin) {
                    return new Made(r, false); // Mayastor's create is idempotent: a retry after a timeout gets the replica it made
                }
                if (there.get() instanceof Replica r) { // what differs, so that the caller sees which of its calls is wrong
                    List<String> differs = new ArrayList<>();
                    if (r.pool != store) {
                        differs.add("in pool " + r.pool.name() + ", not " + poolName);
                    }
                    if (!r.replicaName.equals(name)) {
                        differs.add("named " + r.replicaName + ", not " + name);
                    }
                    if (r.sizeBytes != size) {
                        differs.add("of " + r.sizeBytes + " bytes, not " + size);
                    }
                    if (r.thin != thin) {
                        differs.add(r.thin ? "thin, not thick" : "thick, not thin");
                    }
                    throw MayastorException.alreadyExists("replica %s exists already, %s", uuid, String.join(", ", differs));
                }
                throw MayastorException.alreadyExists("a bdev named %s exists already", uuid);
            }
            List<Object> asked = List.of(store, name, size, thin);
            List<Object> underway = creatingReplicas.putIfAbsent(uuid, asked); // made on disk outside the lock: one at a time
            if (underway != null) {
                if (underway.equals(asked)) { // a retry after the caller's deadline: the answer is coming, not a conflict
                    throw MayastorException.unavailable("replica %s is being created by another call; ask again once it is",
                            uuid);
                }
                throw MayastorException.alreadyExists("replica %s is being created by another call, not as asked here", uuid);
            }
        }
        try {
            Replica replica = store.createReplica(uuid, name, size, thin, "");
            synchronized (this) {
                Entry entry = pools.get(poolName);
                if (stopWaitOver) { // the stop waited for this create no longer: its pool is exported, the replica on it
                    throw MayastorException.unavailable("the node stopped while replica %s was made; it is in pool %s, "
                            + "imported at the next start", uuid, poolName);
                }
                if (entry == null || entry.store != store) {
                    throw MayastorException.failedPrecondition("pool %s was exported or destroyed while replica %s was made "
                            + "in it (an import of the pool brings the replica back)", poolName, uuid);
                }
                registry.register(replica);
            }
            return new Made(replica, true);
        } finally {
            synchronized (this) {
                creatingReplicas.remove(uuid);
                notifyAll(); // a stop waits for the creates in progress
            }
        }
    }

    public void destroyReplica(UUID uuid) {
        destroyReplica(uuid, false);
    }

    /**
     * Destroys a replica (a damaged one too). Refused while a local user (a nexus) holds it and,
     * unless {@code force}, while a remote host is connected to its share: a volume's nexus must not
     * lose a child by a plain call on another node.
     */
    public void destroyReplica(UUID uuid, boolean force) {
        Object lock = shareLock(uuid);
        synchronized (lock) { // no share between its unshare and its end (it would serve a replica being destroyed)
            destroyLocked(uuid, force);
            shareLocks.remove(uuid, lock); // gone: a call waiting for the lock finds no replica; a refused destroy keeps it
        }
    }

    private void destroyLocked(UUID uuid, boolean force) {
        refuseWhileCreating(uuid); // before the pools' locks, which its create's commit holds
        for (Entry entry : pools()) {
            if (entry.store == null) {
                continue;
            }
            for (DamagedReplica d : entry.store.damagedReplicas()) {
                if (uuid.equals(d.id(entry.store.uuid()))) {
                    entry.store.destroyDamaged(d.page());
                    return;
                }
            }
            if (entry.store.beingDestroyed(uuid)) {
                entry.store.destroyReplica(uuid); // its destroy failed halfway: it goes on from there
                return;
            }
        }
        Replica replica = replica(uuid);
        refuseWhileCreating(uuid); // and once found: its create may have begun meanwhile
        checkNoHosts(replica, force, "destroy");
        // every refusal before the unshare: a refused destroy left the replica unshared, its metadata saying
        // shared, and its nexus's reconnects failed until the node restarted. A share's claim is no user
        String user = shares.status(replica.name()).isPresent() ? null : claimedBy(replica);
        if (user != null) {
            throw MayastorException.failedPrecondition("replica %s is in use by %s", uuid, user);
        }
        if (replica.pool.state() == PoolState.FAULTED) {
            throw MayastorException.failedPrecondition("pool %s is faulted: %s", replica.pool.name(), replica.pool.reason());
        }
        shares.unshareIfShared(replica.name());
        user = claimedBy(replica); // a user that came between
        if (user != null) {
            throw MayastorException.failedPrecondition("replica %s is in use by %s", uuid, user);
        }
        registry.unregister(replica);
        // its I/O drains here, not on the pool's thread, where the destroy runs: a flush waiting for a
        // group commit, or a thin write waiting for its clusters, is finished by that thread. A destroy
        // that fails after this leaves it closed, out of the registry until the pool is imported again
        replica.close();
        long stuck = replica.stats().inFlight();
        if (stuck > 0) {
            // a write the device still has would land in clusters the destroy zeroes and frees, maybe
            // another replica's by then: nothing is destroyed until the device is done with it
            throw MayastorException.unavailable("replica %s still has %d I/O at its pool's device: it is closed, and destroyed "
                    + "once they end (try again)", uuid, stuck);
        }
        replica.pool.destroyReplica(uuid);
    }

    /**
     * A replica is listed by its pool while its create commits, before it is registered: destroyed
     * then, the create registered the closed replica after it — a dead bdev under its uuid (its I/O
     * failed, retries NOT_FOUND) until a restart.
     */
    private synchronized void refuseWhileCreating(UUID uuid) {
        if (creatingReplicas.containsKey(uuid)) {
            throw MayastorException.unavailable("replica %s is being created: destroy it once its create has answered", uuid);
        }
    }

    public Replica resizeReplica(UUID uuid, long size) {
        Replica replica = replica(uuid);
        replica.pool.resizeReplica(uuid, size);
        return replica;
    }

    /**
     * A share or unshare changes the live share and then records it; two at once on one replica,
     * interleaved, left one recorded and the other live — an unshare (a switch-over's fence) recorded
     * as shared came undone at the next import. Each holds its replica's lock through both steps (its own:
     * a fence must not wait behind a share of another replica whose pool is slow to commit).
     */
    private final java.util.concurrent.ConcurrentHashMap<UUID, Object> shareLocks = new java.util.concurrent.ConcurrentHashMap<>();

    private Object shareLock(UUID uuid) {
        return shareLocks.computeIfAbsent(uuid, u -> new Object());
    }

    public String shareReplica(UUID uuid, String protocol, List<String> allowedHosts) {
        replica(uuid); // NOT_FOUND before a lock is kept for it
        synchronized (shareLock(uuid)) {
            return shareLocked(uuid, protocol, allowedHosts);
        }
    }

    private String shareLocked(UUID uuid, String protocol, List<String> allowedHosts) {
        Replica replica = replica(uuid);
        String properties = new ReplicaShare(protocol, allowedHosts).format();
        LvStore.checkFits("the share settings of replica " + uuid + " (" + allowedHosts.size() + " allowed hosts)", properties,
                ReplicaRecord.MAX_PROPERTIES); // before the share: refused, nothing is shared
        boolean wasShared = shares.status(replica.name()).isPresent();
        String uri = shares.share(replica.name(), protocol, new ShareOptions(allowedHosts, Map.of()));
        try {
            replica.pool.setProperties(uuid, properties);
        } catch (RuntimeException e) {
            if (!wasShared) {
                shares.unshare(replica.name()); // refused: not shared now and not after a restart either
            }
            throw e;
        }
        return uri;
    }

    public void unshareReplica(UUID uuid) {
        unshareReplica(uuid, false);
    }

    /** Stops sharing a replica; refused while hosts are connected unless {@code force}. */
    public void unshareReplica(UUID uuid, boolean force) {
        replica(uuid); // NOT_FOUND before a lock is kept for it
        synchronized (shareLock(uuid)) {
            Replica replica = replica(uuid);
            checkNoHosts(replica, force, "unshare");
            shares.unshareIfShared(replica.name()); // first: a fence stops the host now, even if recording it fails
            replica.pool.setProperties(uuid, ReplicaShare.NONE.format());
        }
    }

    public Replica replica(UUID uuid) {
        for (Entry entry : pools()) {
            if (entry.store != null) {
                for (Replica r : entry.store.replicas()) {
                    if (r.uuid().equals(uuid)) {
                        return r;
                    }
                }
            }
        }
        throw MayastorException.notFound("replica %s not found", uuid);
    }

    private void checkNoHosts(Replica replica, boolean force, String action) {
        List<String> hosts = shares.connectedHosts(replica.name());
        if (hosts.isEmpty()) {
            return;
        }
        String protocol = shares.status(replica.name()).map(s -> s.protocol()).orElse("its share");
        if (!force) {
            throw MayastorException.failedPrecondition(
                    "replica %s is in use over %s by %s; disconnect %s first, or %s it with force", replica.uuid(),
                    protocol, String.join(", ", hosts), hosts.size() == 1 ? "it" : "them", action);
        }
        LOG.log(Level.WARNING, "replica {0}: {1} by request (force) although {2} is connected over {3}", replica.uuid(),
                action, String.join(", ", hosts), protocol);
    }

    public Optional<String> shareUri(Replica replica) {
        return shares.status(replica.name()).map(s -> s.uri());
    }

    private String claimedBy(Replica replica) {
        for (BdevInfo info : registry.list()) {
            if (info.device() == replica) {
                return info.claimedBy();
            }
        }
        return null;
    }

    @Deactivate
    public synchronized void stop() {
        stopped = true;
        // creates (of pools and replicas) and imports write their disk outside the lock: closed under them (the
        // registry goes next), a forced rollback's zeroing would stop half done, a replica registered after its pool's
        // export would be a dead bdev. Each ends soon after it sees the stop; waited for, bounded
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!(creatingPools.isEmpty() && importing.isEmpty() && creatingReplicas.isEmpty())
                && System.nanoTime() - deadline < 0) {
            try {
                wait(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        stopWaitOver = true;
        if (!(creatingPools.isEmpty() && importing.isEmpty() && creatingReplicas.isEmpty())) {
            LOG.log(Level.WARNING, "stopping with pools still being made ({0}) or imported ({1}), or replicas made ({2}): "
                    + "their disks are closed under them", String.join(", ", creatingPools),
                    String.join(", ", importing.keySet()), creatingReplicas.keySet());
        }
        for (Entry entry : pools.values()) {
            try {
                if (entry.store != null) {
                    for (Replica replica : entry.store.replicas()) {
                        // the share is kept in the replica's metadata and restored with the pool
                        shares.unshareIfShared(replica.name());
                        registry.unregister(replica);
                    }
                    entry.store.export();
                }
                releaseDevice(entry);
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "pool {0} did not close cleanly: {1}", entry.name, e.getMessage());
            }
        }
    }
}
