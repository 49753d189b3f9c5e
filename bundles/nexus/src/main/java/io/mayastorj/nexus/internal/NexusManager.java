package io.mayastorj.nexus.internal;

import io.mayastorj.core.bdev.BdevClaim;
import io.mayastorj.core.bdev.BdevRegistry;
import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.buffer.BufferPool;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.core.node.Heartbeat;
import io.mayastorj.core.node.Node;
import io.mayastorj.core.reactor.ReactorGroup;
import io.mayastorj.core.transport.ShareManager;
import io.mayastorj.core.transport.ShareOptions;
import io.mayastorj.core.transport.ShareStatus;
import io.mayastorj.nexus.internal.store.FileNexusStore;
import io.mayastorj.nexus.internal.store.NatsNexusStore;
import io.mayastorj.nexus.internal.store.NexusRecord;
import io.mayastorj.nexus.internal.store.NexusStore;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.osgi.service.component.annotations.ReferencePolicyOption;
import org.osgi.service.metatype.annotations.Designate;

/**
 * The node's nexuses: create (from children URIs, or again after a crash from the record of which
 * children were in sync), destroy, add/remove/fault children, rebuild control, publish. Each nexus
 * is a bdev in the registry. Changes run on one control thread for all nexuses of the node.
 */
@Component(service = NexusManager.class, immediate = true, configurationPid = NexusConfig.PID,
        configurationPolicy = ConfigurationPolicy.OPTIONAL)
@Designate(ocd = NexusConfig.class)
public final class NexusManager {

    private static final Logger LOG = System.getLogger("io.mayastorj.nexus");

    private final BdevRegistry registry;
    private final BufferPool buffers;
    private final ShareManager shares;
    private final NexusStore store;
    private final NexusSettings settings;
    private final ScheduledExecutorService control;
    private final ExecutorService background;
    private final PauseClock pauses = new PauseClock();
    /** Where rebuild copies take their steps: the node's reactors (none in unit tests: the background pool). */
    private volatile List<? extends Executor> rebuildHomes = List.of();
    /** Each nexus's copies start on the next reactor, so that several rebuilds spread over all of them. */
    private final AtomicInteger nextHome = new AtomicInteger();
    private final Map<UUID, Nexus> nexuses = new LinkedHashMap<>(); // control thread
    /** How long adding a child waits for the old bdev under its URI to be let go. */
    private static final long CLOSING_WAIT_SECONDS = 30;
    /** Nexuses whose create is opening their children (control thread). */
    private final java.util.Map<UUID, String> creating = new java.util.HashMap<>();
    /** The host a published nexus's URI names, when not the target's listen address (NAT, pods, a VM's gateway). */
    private volatile String publishAddress = "";

    @Activate
    public NexusManager(@Reference BdevRegistry registry, @Reference BufferPool buffers, @Reference ShareManager shares,
                        @Reference Node node, @Reference ReactorGroup reactors, NexusConfig config) throws IOException {
        this(registry, buffers, shares, store(config, node), settings(config));
        this.rebuildHomes = reactors.reactors();
        this.publishAddress = config.nexus_publish_address().strip();
    }

    private static NexusSettings settings(NexusConfig config) {
        return new NexusSettings(config.nexus_rebuild_segment_kib() * 1024, config.nexus_rebuild_tasks(),
                Duration.ofSeconds(config.nexus_partial_rebuild_window_seconds()));
    }

    /** The record store; the settings checked first, or a bad one left a NATS connection behind at each activation. */
    private static NexusStore store(NexusConfig config, Node node) throws IOException {
        settings(config);
        return config.nexus_nats_url().isBlank() ? new FileNexusStore(node.stateDir().resolve("nexus"))
                : new NatsNexusStore(config.nexus_nats_url(), config.nexus_nats_replicas());
    }

    public NexusManager(BdevRegistry registry, BufferPool buffers, ShareManager shares, NexusStore store, NexusSettings settings) {
        this.registry = registry;
        this.buffers = buffers;
        this.shares = shares;
        this.store = store;
        this.settings = settings;
        this.control = Executors.newSingleThreadScheduledExecutor(r -> thread(r, "nexus-control"));
        this.background = Executors.newCachedThreadPool(r -> thread(r, "nexus-io"));
        pauses.hearing(() -> {
            Heartbeat beats = heartbeat.get();
            return beats == null || beats.heard();
        });
        LOG.log(Level.INFO, "nexus: rebuild in {0} KiB segments, {1} at once; faulted children rebuilt partially within {2} s; records in {3}",
                settings.segmentBytes() / 1024, settings.rebuildTasks(), settings.partialRebuildWindow().toSeconds(), store.describe());
    }

    /** The node's registration, when it runs here: whether the control plane hears the node. */
    private final java.util.concurrent.atomic.AtomicReference<Heartbeat> heartbeat = new java.util.concurrent.atomic.AtomicReference<>();

    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    void bindHeartbeat(Heartbeat beats) {
        heartbeat.set(beats);
    }

    void unbindHeartbeat(Heartbeat beats) {
        heartbeat.compareAndSet(beats, null); // a replacement bound before the old one goes is kept
    }

    /** Tests: the clock that tells whether the process stood still lately. */
    PauseClock pauses() {
        return pauses;
    }

    /** Tests: where the rebuilds of nexuses created from now on take their steps, as a node's reactors. */
    void rebuildOn(List<? extends Executor> homes) {
        this.rebuildHomes = List.copyOf(homes);
    }

    private static List<Executor> rotated(List<? extends Executor> homes, int by) {
        List<Executor> list = new ArrayList<>(homes);
        if (!list.isEmpty()) {
            Collections.rotate(list, -Math.floorMod(by, list.size()));
        }
        return list;
    }

    private static Thread thread(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    /** Runs on the control thread and waits; a MayastorException comes back as itself. */
    private <T> T onControl(Supplier<T> work) {
        try {
            return CompletableFuture.supplyAsync(work, control).join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw e;
        }
    }

    // ------------------------------------------------------------------ create / destroy

    /**
     * Creates a nexus over {@code childUris}. Without a record for the UUID every child is taken as
     * in sync (a new volume). With one, only the children it calls healthy are trusted: after a clean
     * shutdown all of them are in sync; after a crash one of them is, and the others are rebuilt
     * from it (writes in flight at the crash may have reached some children and not others).
     * {@code sizeBytes} 0 means the smallest child's size.
     */
    public NexusView create(String name, UUID uuid, long sizeBytes, List<String> childUris) {
        return create(name, uuid, sizeBytes, childUris, 0);
    }

    /**
     * The same, by a caller that has seen this volume's nexus take {@code knownIncarnation} (0: none),
     * heard with a shared store (NATS) only. A record below it, or none, is one the store lost (a NATS
     * server that came back empty), or one a nexus since superseded wrote again: its word on which
     * children are in sync is not taken, nor is "no record" taken for a new volume. The nexus starts as after a crash with nothing recorded —
     * the first child serves, the others are rebuilt from it in full — and waits the lease, under an
     * incarnation above every one seen, so that a superseded nexus still running is fenced.
     */
    public NexusView create(String name, UUID uuid, long sizeBytes, List<String> childUris, int knownIncarnation) {
        if (name == null || name.isBlank() || name.contains("/") || name.contains(" ")) {
            throw MayastorException.invalidArgument("a nexus needs a name without spaces or slashes, not '%s'", name);
        }
        if (childUris.isEmpty()) {
            throw MayastorException.invalidArgument("nexus %s needs at least one child", name);
        }
        if (childUris.size() > Child.MAX) {
            throw MayastorException.invalidArgument("nexus %s: at most %d children, not %d", name, Child.MAX, childUris.size());
        }
        if (new HashSet<>(childUris).size() != childUris.size()) {
            throw MayastorException.invalidArgument("nexus %s: a child is listed twice: %s", name, childUris);
        }
        if (sizeBytes < 0) {
            throw MayastorException.invalidArgument("nexus %s: size %d is negative", name, sizeBytes);
        }
        for (String uri : childUris) {
            BdevUri.parse(uri); // INVALID_ARGUMENT with the reason, before anything is opened
        }
        Optional<NexusView> existing = onControl(() -> {
            Nexus n = nexuses.get(uuid);
            if (n == null && creating.putIfAbsent(uuid, name) != null) {
                // its children are being opened by another call: one create at a time, or both would
                // run and the loser's cleanup take the winner out of the map, leaving it registered
                throw MayastorException.aborted("nexus %s is being created by another call; ask again", uuid);
            }
            return Optional.ofNullable(n).map(x -> x.view(deviceUri(x)));
        });
        if (existing.isPresent()) {
            NexusView v = existing.get();
            List<String> have = v.children().stream().map(NexusView.ChildView::uri).toList();
            if (v.name().equals(name) && new HashSet<>(have).equals(new HashSet<>(childUris))
                    && (sizeBytes == 0 || sizeBytes == v.sizeBytes())) {
                return v; // Mayastor's create is idempotent
            }
            throw MayastorException.alreadyExists("nexus %s exists already (%s, %d bytes, children %s)", uuid, v.name(),
                    v.sizeBytes(), have);
        }
        try {
            return createReserved(name, uuid, sizeBytes, childUris, knownIncarnation);
        } finally {
            onControl(() -> creating.remove(uuid));
        }
    }

    private NexusView createReserved(String name, UUID uuid, long sizeBytes, List<String> childUris, int knownIncarnation) {
        if (registry.lookup(name).isPresent()) {
            throw MayastorException.alreadyExists("a bdev named %s exists already", name);
        }
        Optional<NexusStore.Stored> stored;
        try {
            stored = store.load(uuid);
        } catch (IOException e) {
            throw MayastorException.unavailable("nexus %s: cannot read its record: %s", name, e.getMessage());
        }
        Optional<NexusRecord> record = stored.map(NexusStore.Stored::record);
        // (a node keeping its own records in files has none of a nexus that ran elsewhere: no news there)
        boolean lost = store.shared() && knownIncarnation > 0 && record.map(r -> r.incarnation() < knownIncarnation).orElse(true);
        List<Child.State> states;
        if (lost) {
            LOG.log(Level.WARNING, "nexus {0}: {1}, but incarnation {2} of it was seen: the record was lost (or written "
                    + "again by a superseded nexus); {3} serves and the others are rebuilt from it in full", name,
                    record.map(r -> "its record is incarnation " + r.incarnation()).orElse("no record of it in " + store.describe()),
                    knownIncarnation, childUris.get(0));
            states = new ArrayList<>();
            for (int i = 0; i < childUris.size(); i++) {
                states.add(i == 0 ? Child.State.ONLINE : Child.State.REBUILDING);
            }
        } else {
            states = initialStates(name, childUris, record);
        }
        int incarnation = Math.max(record.map(NexusRecord::incarnation).orElse(0), lost ? knownIncarnation : 0) + 1;
        boolean takesOver = lost || record.isPresent() && !record.get().cleanShutdown();
        List<Child> opened = new ArrayList<>();
        Devices devices = new Devices(name);
        Nexus made;
        try {
            for (int i = 0; i < childUris.size(); i++) {
                Child c = new Child(childUris.get(i), i, states.get(i));
                devices.open(c);
                opened.add(c);
            }
            int blockSize = opened.get(0).device.blockSize();
            long smallest = Long.MAX_VALUE;
            for (Child c : opened) {
                if (c.device.blockSize() != blockSize) {
                    throw MayastorException.invalidArgument("nexus %s: children have different block sizes (%s: %d, %s: %d)",
                            name, opened.get(0).uri, blockSize, c.uri, c.device.blockSize());
                }
                smallest = Math.min(smallest, c.device.sizeBytes());
            }
            long size = sizeBytes == 0 ? smallest : sizeBytes;
            if (size > smallest) {
                throw MayastorException.invalidArgument("nexus %s: size %d is more than its smallest child holds (%d)", name, size, smallest);
            }
            if (size < blockSize) {
                throw MayastorException.invalidArgument("nexus %s: size %d is less than one block", name, size);
            }
            if (sizeBytes != 0 && sizeBytes % blockSize != 0) { // (the children's own size is cut to whole blocks)
                throw MayastorException.invalidArgument("nexus %s: size %d is not a whole number of %d-byte blocks", name,
                        sizeBytes, blockSize);
            }
            Nexus nexus = new Nexus(name, uuid, blockSize, size / blockSize, settings, control, background,
                    rotated(rebuildHomes, nextHome.getAndIncrement()), store, devices, buffers, pauses);
            onControl(() -> {
                nexus.start(opened, stored.map(NexusStore.Stored::revision).orElse(0L), incarnation, takesOver);
                nexuses.put(uuid, nexus);
                return null;
            });
            try {
                registry.register(nexus);
            } catch (RuntimeException e) {
                onControl(() -> {
                    nexuses.remove(uuid, nexus);
                    return nexus.shutdown(false); // (on the control thread, as it must be)
                }).join();
                throw e;
            }
            made = nexus;
        } catch (RuntimeException e) {
            for (Child c : opened) {
                devices.close(c);
            }
            throw e;
        }
        Nexus nexus = made;
        if (!onControl(() -> nexuses.get(uuid) == nexus)) {
            // a destroy took it before it was registered: left registered, its name would be taken until the
            // node restarts. Its children are the destroy's to close (its shutdown drains and flushes them first)
            registry.unregister(nexus);
            throw MayastorException.aborted("nexus %s (%s) was destroyed while it was being created", name, uuid);
        }
        LOG.log(Level.INFO, "nexus {0} ({1}) created: {2} bytes over {3}", name, uuid, nexus.sizeBytes(), childUris);
        return onControl(() -> nexus.view(deviceUri(nexus)));
    }

    private static List<Child.State> initialStates(String name, List<String> uris, Optional<NexusRecord> record) {
        List<Child.State> states = new ArrayList<>();
        if (record.isEmpty()) {
            uris.forEach(u -> states.add(Child.State.ONLINE));
            return states;
        }
        NexusRecord r = record.get();
        // children are matched by what they are (a replica's uuid), not by URI: a nexus re-created on
        // another node opens the same replicas by other URIs
        Set<String> healthy = new HashSet<>();
        List<String> healthyUris = new ArrayList<>();
        for (NexusRecord.ChildRecord c : r.children()) {
            if (c.healthy()) {
                healthy.add(c.replica());
                healthyUris.add(c.uri());
            }
        }
        if (uris.stream().map(NexusRecord::replicaOf).noneMatch(healthy::contains)) {
            throw MayastorException.failedPrecondition("nexus %s: none of %s is known to hold every acknowledged write "
                    + "(in sync when last recorded: %s); refusing to serve stale data", name, uris, healthyUris);
        }
        boolean trustedOne = false;
        for (String u : uris) {
            boolean in = healthy.contains(NexusRecord.replicaOf(u)) && (r.cleanShutdown() || !trustedOne);
            trustedOne |= in;
            states.add(in ? Child.State.ONLINE : Child.State.REBUILDING);
        }
        return states;
    }

    /** Destroys a nexus: unpublished, its children closed (not destroyed: they are replicas), its record marked clean. */
    public void destroy(String uuidOrName) {
        destroy(uuidOrName, false);
    }

    /** The same; with {@code refuseIfConnected}, FAILED_PRECONDITION while hosts are connected to its share. */
    public void destroy(String uuidOrName, boolean refuseIfConnected) {
        Nexus n = find(uuidOrName);
        if (refuseIfConnected) {
            refuseIfConnected(n, "destroy");
        }
        shares.unshareIfShared(n.name());
        onControl(() -> nexuses.remove(n.uuid(), n));
        // after it left the map: a create that registers it meanwhile finds it gone and unregisters it
        // itself, or has registered it before this
        registry.unregister(n);
        CompletableFuture<Void> closed = onControl(() -> n.shutdown(false));
        closed.join();
        LOG.log(Level.INFO, "nexus {0} ({1}) destroyed", n.name(), n.uuid());
    }

    private Nexus find(String uuidOrName) {
        return onControl(() -> {
            for (Nexus n : nexuses.values()) {
                if (n.uuid().toString().equals(uuidOrName) || n.name().equals(uuidOrName)) {
                    return n;
                }
            }
            for (var c : creating.entrySet()) {
                if (c.getKey().toString().equals(uuidOrName) || c.getValue().equals(uuidOrName)) {
                    // not NOT_FOUND: a destroy taking that as "gone" left the nexus the create then made
                    throw MayastorException.unavailable("nexus %s is being created; ask again once it is", uuidOrName);
                }
            }
            throw MayastorException.notFound("no nexus %s", uuidOrName);
        });
    }

    public List<NexusView> list() {
        return onControl(() -> nexuses.values().stream().map(n -> n.view(deviceUri(n))).toList());
    }

    public NexusView get(String uuidOrName) {
        Nexus n = find(uuidOrName);
        return onControl(() -> n.view(deviceUri(n)));
    }

    private String deviceUri(Nexus n) {
        String uri = shares.status(n.name()).map(ShareStatus::uri).orElse("");
        return uri.isEmpty() || publishAddress.isEmpty() ? uri : withHost(uri, publishAddress);
    }

    /** scheme://HOST:port/... with another HOST. */
    static String withHost(String uri, String host) {
        int start = uri.indexOf("://");
        if (start < 0) {
            return uri;
        }
        start += 3;
        int colon = uri.indexOf(':', uri.startsWith("[", start) ? uri.indexOf(']', start) : start);
        int slash = uri.indexOf('/', start);
        int end = colon > 0 && (slash < 0 || colon < slash) ? colon : slash < 0 ? uri.length() : slash;
        String h = host.contains(":") && !host.startsWith("[") ? "[" + host + "]" : host;
        return uri.substring(0, start) + h + uri.substring(end);
    }

    // ------------------------------------------------------------------ children

    /**
     * Adds a child and rebuilds it; a faulted child of the nexus given again comes back, rebuilt
     * only where it was written meanwhile when that was within the partial rebuild window.
     */
    public NexusView addChild(String uuidOrName, String uri) {
        BdevUri.parse(uri);
        Nexus n = find(uuidOrName);
        Devices devices = new Devices(n.name());
        Child[] lives = onControl(() -> {
            Child known = n.child(uri);
            if (known != null) {
                if (known.state != Child.State.FAULTED) {
                    throw MayastorException.alreadyExists("%s is a child of nexus %s already (%s)", uri, n.name(),
                            known.state.name().toLowerCase(java.util.Locale.ROOT));
                }
                // a new life in the same slot: I/O of the earlier one that ends late (a connection that died
                // with it in flight) finds the earlier object, faulted, and cannot fault this one
                Child next = new Child(uri, known.slot, Child.State.REBUILDING);
                next.closing = known.closing; // its old bdev is let go first
                return new Child[] {next, known};
            }
            Child fresh = new Child(uri, n.reserveSlot(), Child.State.REBUILDING);
            fresh.closing = n.leftUnder(uri); // the same bdev removed a moment ago is let go first
            return new Child[] {fresh, null};
        });
        Child c = lives[0];
        Child earlier = lives[1];
        boolean known = earlier != null;
        try {
            try { // a faulted or removed child's old bdev is let go first, once its rebuild's copies have ended
                c.closing.get(CLOSING_WAIT_SECONDS, TimeUnit.SECONDS);
            } catch (java.util.concurrent.TimeoutException e) {
                throw MayastorException.unavailable("child %s of nexus %s: its old bdev is still being let go (a copy "
                        + "of its last rebuild has not ended); ask again", uri, n.name());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw MayastorException.unavailable("interrupted while child %s was let go", uri);
            } catch (java.util.concurrent.ExecutionException e) {
                // its close failed: logged there; the open below says whether the bdev can be had
            }
            devices.open(c);
        } catch (RuntimeException e) {
            if (!known) {
                onControl(() -> {
                    n.releaseSlot(c.slot);
                    return null;
                });
            }
            throw e;
        }
        return onControl(() -> {
            n.join(c, earlier);
            return n.view(deviceUri(n));
        });
    }

    public NexusView removeChild(String uuidOrName, String uri) {
        Nexus n = find(uuidOrName);
        return onControl(() -> {
            n.remove(child(n, uri));
            return n.view(deviceUri(n));
        });
    }

    public NexusView faultChild(String uuidOrName, String uri) {
        Nexus n = find(uuidOrName);
        return onControl(() -> {
            n.faultByClient(child(n, uri));
            return n.view(deviceUri(n));
        });
    }

    public enum RebuildAction { PAUSE, RESUME, CANCEL }

    public NexusView rebuild(String uuidOrName, String uri, RebuildAction action) {
        Nexus n = find(uuidOrName);
        return onControl(() -> {
            Child c = child(n, uri);
            Rebuild r = c.rebuild;
            if (c.state != Child.State.REBUILDING || r == null) {
                throw MayastorException.failedPrecondition("child %s of nexus %s is not rebuilding (%s)", uri, n.name(),
                        c.state.name().toLowerCase(java.util.Locale.ROOT));
            }
            switch (action) {
                case PAUSE -> r.pause();
                case RESUME -> r.resume();
                case CANCEL -> r.cancel();
            }
            return n.view(deviceUri(n));
        });
    }

    private static Child child(Nexus n, String uri) {
        Child c = n.child(uri);
        if (c == null) {
            throw MayastorException.notFound("%s is not a child of nexus %s", uri, n.name());
        }
        return c;
    }

    // ------------------------------------------------------------------ size

    /**
     * Grows a nexus whose children have grown (replicas resized): each child is asked for its size
     * again — a remote one over the network, off the control thread — then the nexus grows; hosts
     * see the new size when they read it again (NVMe: a rescan; iSCSI: READ CAPACITY).
     */
    public NexusView resize(String uuidOrName, long sizeBytes) {
        Nexus n = find(uuidOrName);
        if (sizeBytes <= 0 || sizeBytes % n.blockSize() != 0) {
            throw MayastorException.invalidArgument("nexus %s: %d bytes is not a whole number of %d-byte blocks", n.name(),
                    sizeBytes, n.blockSize());
        }
        for (Child c : onControl(n::children)) {
            c.device.refreshSize();
        }
        return onControl(() -> {
            n.growTo(sizeBytes / n.blockSize());
            return n.view(deviceUri(n));
        });
    }

    // ------------------------------------------------------------------ publish

    public NexusView publish(String uuidOrName, String protocol, List<String> allowedHosts) {
        Nexus n = find(uuidOrName);
        shares.share(n.name(), protocol, new ShareOptions(allowedHosts, "nvmf".equals(protocol) ? controllerIds(n.incarnation())
                : Map.of()));
        return get(uuidOrName);
    }

    /**
     * The NVMe controller IDs a nexus hands out: a range of its own per incarnation (16 ranges,
     * in turn), so that the controllers a host keeps to the nexus that served before — dead, or
     * fenced and inaccessible — never share an ID with the new one's (Linux refuses a second
     * controller of a subsystem with an ID it has already).
     */
    static Map<String, String> controllerIds(int incarnation) {
        int range = 0xFEF;
        int min = 1 + Math.floorMod(incarnation, 16) * range;
        return Map.of("cntlid.min", Integer.toString(min), "cntlid.max", Integer.toString(min + range - 1));
    }

    /** How hosts should use the path to the nexus through this node (ANA). */
    public NexusView accessState(String uuidOrName, io.mayastorj.core.bdev.AccessState state) {
        Nexus n = find(uuidOrName);
        return onControl(() -> {
            n.accessState(state);
            return n.view(deviceUri(n));
        });
    }

    public NexusView unpublish(String uuidOrName) {
        return unpublish(uuidOrName, false);
    }

    public NexusView unpublish(String uuidOrName, boolean refuseIfConnected) {
        Nexus n = find(uuidOrName);
        if (refuseIfConnected) {
            refuseIfConnected(n, "unpublish");
        }
        shares.unshareIfShared(n.name());
        return get(uuidOrName);
    }

    /** As a bdev's or replica's unshare without force: a host's I/O is not cut off by a typing slip. */
    private void refuseIfConnected(Nexus n, String what) {
        List<String> hosts = shares.connectedHosts(n.name());
        if (!hosts.isEmpty()) {
            String protocol = shares.status(n.name()).map(io.mayastorj.core.transport.ShareStatus::protocol).orElse("its share");
            throw MayastorException.failedPrecondition("nexus %s is in use over %s by %s; disconnect %s first, or %s it with "
                    + "force", n.name(), protocol, String.join(", ", hosts), hosts.size() == 1 ? "it" : "them", what);
        }
    }

    @Deactivate
    public void close() {
        List<Nexus> all = onControl(() -> List.copyOf(nexuses.values()));
        for (Nexus n : all) {
            try {
                destroy(n.uuid().toString());
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "nexus {0}: {1}", n.name(), e.getMessage());
            }
        }
        control.shutdown();
        background.shutdown();
        pauses.close();
        if (store instanceof AutoCloseable c) {
            try {
                c.close();
            } catch (Exception e) {
                LOG.log(Level.WARNING, "closing {0}: {1}", store.describe(), e.getMessage());
            }
        }
        try {
            background.awaitTermination(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ------------------------------------------------------------------ children's bdevs

    /** Opens children through the registry: {@code bdev:///NAME} is used as it is, other URIs are created (and destroyed after). */
    private final class Devices implements ChildDevices {
        private final String owner;

        Devices(String nexusName) {
            this.owner = "nexus " + nexusName;
        }

        @Override
        public void open(Child c) {
            BdevUri u = BdevUri.parse(c.uri);
            Optional<BlockDevice> there = registry.findByUri(c.uri);
            BlockDevice d;
            boolean created = false;
            if (there.isPresent()) {
                d = there.get();
                if (d instanceof Nexus) { // itself, or another: a rebuild's copy would wait on its own range lock
                    throw MayastorException.invalidArgument("child %s is a nexus: a nexus's children are replicas or bdevs", c.uri);
                }
            } else if ("bdev".equals(u.scheme()) || "loopback".equals(u.scheme())) {
                throw MayastorException.notFound("child %s: no such bdev on this node", c.uri);
            } else {
                d = registry.create(c.uri);
                created = true;
            }
            BdevClaim claim;
            try {
                claim = registry.claim(d.name(), owner);
            } catch (RuntimeException e) {
                if (created) {
                    registry.destroy(d.name());
                }
                throw e;
            }
            c.attachedAs = d.reattachments();
            c.device = d;
            c.claim = claim;
            c.created = created;
        }

        @Override
        public void close(Child c) {
            BdevClaim claim = c.claim;
            c.claim = null;
            if (claim == null) {
                return;
            }
            try {
                claim.close();
                if (c.created) {
                    registry.destroy(claim.device().name());
                }
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "{0}: closing child {1}: {2}", owner, c.uri, e.getMessage());
            }
        }
    }
}
