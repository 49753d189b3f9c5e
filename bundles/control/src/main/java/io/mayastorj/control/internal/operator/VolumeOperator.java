package io.mayastorj.control.internal.operator;

import io.grpc.StatusRuntimeException;
import io.mayastorj.api.v1.AddChildNexusRequest;
import io.mayastorj.api.v1.Child;
import io.mayastorj.api.v1.ChildState;
import io.mayastorj.api.v1.CreateNexusRequest;
import io.mayastorj.api.v1.CreateReplicaRequest;
import io.mayastorj.api.v1.DestroyNexusRequest;
import io.mayastorj.api.v1.DestroyReplicaRequest;
import io.mayastorj.api.v1.ListNexusOptions;
import io.mayastorj.api.v1.ListPoolOptions;
import io.mayastorj.api.v1.ListReplicaOptions;
import io.mayastorj.api.v1.ListNexusResponse;
import io.mayastorj.api.v1.ListPoolsResponse;
import io.mayastorj.api.v1.ListReplicasResponse;
import io.mayastorj.api.v1.Nexus;
import io.mayastorj.api.v1.NvmeAnaState;
import io.mayastorj.api.v1.Pool;
import io.mayastorj.api.v1.PoolState;
import io.mayastorj.api.v1.PublishNexusRequest;
import io.mayastorj.api.v1.RemoveChildNexusRequest;
import io.mayastorj.api.v1.ResizeNexusRequest;
import io.mayastorj.api.v1.ResizeReplicaRequest;
import io.mayastorj.api.v1.SetNexusAnaStateRequest;
import io.mayastorj.api.v1.Replica;
import io.mayastorj.api.v1.ReplicaState;
import io.mayastorj.api.v1.ShareProtocol;
import io.mayastorj.api.v1.ShareReplicaRequest;
import io.mayastorj.api.v1.UnpublishNexusRequest;
import io.mayastorj.api.v1.UnshareReplicaRequest;
import io.mayastorj.control.internal.model.Condition;
import io.mayastorj.control.internal.model.Kinds;
import io.mayastorj.control.internal.model.MayastorNode;
import io.mayastorj.control.internal.model.MayastorPool;
import io.mayastorj.control.internal.model.MayastorVolume;
import io.mayastorj.control.internal.nodes.NexusRecords;
import io.mayastorj.control.internal.nodes.NodeClients;
import io.mayastorj.control.internal.registry.NodeRegistry;
import io.mayastorj.control.internal.store.ResourceStore;
import io.mayastorj.core.error.ErrorKind;
import io.mayastorj.core.error.MayastorException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Makes each MayastorVolume what its spec says, one step per pass, from what the nodes report now:
 * replicaCount replicas on distinct nodes (named {@code vol-<volume uid>} in their pools, so they
 * can be found again after any crash of the control plane), a nexus on the target node while the
 * volume is published, shared over the volume's protocol, and repair: a child whose node returns is
 * added back (partial rebuild), one whose node stays away longer than the grace period is replaced
 * by a new replica elsewhere, and the lost replica is destroyed when its node returns.
 *
 * <p>What must survive a crash of the control plane is on the nodes (replicas, nexuses and their
 * records) or in the volume's status (which replicas are known to be behind, and since when a node
 * has been away); each step reads both afresh. A replica the status does not know yet counts as
 * behind unless the volume has never had one, so a crash between making a replica and recording it
 * never lets an empty replica pass for a copy of the data.
 *
 * <p>Why one class of ~900 lines: a pass is one decision over one snapshot ({@code World}) of the
 * nodes and the volume's status, taken in a fixed order (deletion and validity, the replicas with
 * their repair, growth, the nexus — moved when its node is lost — and last the status), and each
 * step returns after a single change; the steps share the snapshot, the status edits and the node
 * calls, so they read best in that order in one place. Placement and the wire calls are apart
 * ({@link Placement}, {@code NodeClients}).
 */
public final class VolumeOperator {

    private static final Logger LOG = System.getLogger("mayastor.control");
    public static final String REPLICA_PREFIX = "vol-";
    /** How the status's reason starts while the spec cannot be served: nothing is done until it is fixed. */
    public static final String INVALID_SPEC = "invalid spec: ";
    private static final Set<String> PROTOCOLS = Set.of("nvmf", "iscsi", "none");

    private final ResourceStore store;
    private final NodeRegistry registry;
    private final NodeClients clients;
    private final Duration grace;

    /** How long passes may share a view of the nodes that nothing of ours has changed since. */
    private static final long WORLD_MAX_AGE_NANOS = TimeUnit.SECONDS.toNanos(1);
    /**
     * A node whose listing outlasted the whole call deadline is asked with this one for a while after:
     * one whose gRPC port is cut off while its heartbeats still come (a firewall, a wedged server) made
     * every pass — every volume's, the sweep's, a placement's under its lock — wait out the full deadline.
     */
    private static final long QUICK_ASK_MILLIS = 2000;
    /** ... for this long: then the whole deadline once more (a node thawed or unloaded answers in it again). */
    private static final long QUICK_ASK_FOR_NANOS = TimeUnit.SECONDS.toNanos(30);
    /** Nodes asked with {@link #QUICK_ASK_MILLIS}, and since when (their last listing that outlasted the whole deadline). */
    private final Map<String, Long> quickAsk = new java.util.concurrent.ConcurrentHashMap<>();
    private volatile World shared;
    /** Held while replicas are placed and made (see where). */
    private final Object placing = new Object();
    /** The sweep said once that it destroys nothing for a store without volumes (until the store has some). */
    private volatile boolean emptyStoreWarned;
    /** Volumes whose extra replicas were all kept (none in sync), said once each. */
    private final Set<String> keptAll = java.util.concurrent.ConcurrentHashMap.newKeySet();
    /** Monotonic, as every grace period here (see {@link NodeRegistry#silentMillis}); reset when it starts leading. */
    private volatile long startedNanos = System.nanoTime();
    /** "volume/replica uuid" of recorded replicas a reachable node lists no more, since when (System.nanoTime). */
    private final Map<String, Long> missingSince = new java.util.concurrent.ConcurrentHashMap<>();
    /** By volume uid: the highest incarnation its nexus was seen to take, for the status (see {@link #knownIncarnation}). */
    private final Map<String, Integer> incarnations = new java.util.concurrent.ConcurrentHashMap<>();
    /** "uid/incarnation" of records found below the incarnation seen, said once each. */
    private final Set<String> staleRecords = java.util.concurrent.ConcurrentHashMap.newKeySet();

    // switch-over: a published volume whose nexus's node is lost gets a nexus on another node
    private NexusRecords records;
    private Duration switchoverGrace = Duration.ofSeconds(10);
    private java.util.function.BiConsumer<String, Duration> later = (name, delay) -> { };
    /** Volumes whose nexus waits for its application's node to register before it is shared (said once each). */
    private final Set<String> awaitingAppNode = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /** This control plane acts from now on (it took the lease): silences are counted from here, not from its start. */
    public void startedActing() {
        startedNanos = System.nanoTime();
        orphanSince.clear(); // another leader acted meanwhile: what it claimed or destroyed is counted anew, with a warning
        deletionNoted.clear();
    }

    public VolumeOperator(ResourceStore store, NodeRegistry registry, NodeClients clients, Duration grace) {
        this.store = store;
        this.registry = registry;
        this.clients = clients;
        this.grace = grace;
        registry.addListener(n -> shared = null); // a node came or went
    }

    /**
     * The nodes as they are: the shared view when it is under a second old and no call that may
     * change a node has started or ended since it was taken, else a new one. Without this, each of
     * a hundred volumes' passes would ask every node for everything.
     */
    World world() {
        World w = shared;
        if (w != null && w.changes == clients.changes() && System.nanoTime() - w.takenNanos < WORLD_MAX_AGE_NANOS
                && w.noneHeardSinceUnreachable()) {
            return w;
        }
        w = new World();
        shared = w;
        return w;
    }

    /**
     * Switch-over on: {@code records} are the nexus records in NATS (null: none, and a volume waits
     * for its nexus's node), {@code grace} how long that node may be silent before it is taken for
     * lost, {@code later} how a volume is looked at again when the grace ends.
     */
    public void switchOver(NexusRecords records, Duration grace, java.util.function.BiConsumer<String, Duration> later) {
        this.records = records;
        this.switchoverGrace = grace;
        this.later = later;
    }

    /**
     * How long a nexus serves after its last look at its record: the nexus bundle's
     * {@code Nexus.OWNERSHIP_STALE_NANOS}, a contract between the two (an I/O that finds the last
     * look older waits for a new one, and a nexus whose record was taken over then fails it).
     */
    static final Duration NEXUS_TRUSTS_ITS_LAST_LOOK = Duration.ofSeconds(3);

    /**
     * The grace a switch-over really waits: at least a heartbeat interval, the time a nexus trusts
     * its last look, and a second for a slow beat, after the node's last heartbeat. A node frozen
     * (a pause, SIGSTOP) right after a beat has then, by the time another nexus serves, gone longer
     * than that without a look, so when it thaws its first I/O looks again and finds itself
     * superseded; with a shorter grace it would serve that I/O from its own, now stale, replica.
     */
    public static Duration switchoverGrace(Duration configured, Duration heartbeat) {
        Duration least = heartbeat.plus(NEXUS_TRUSTS_ITS_LAST_LOOK).plusSeconds(1);
        if (configured.compareTo(least) >= 0) {
            return configured;
        }
        LOG.log(Level.WARNING, "switchover.grace.seconds {0} is raised to {1}: a node must be silent for a heartbeat interval "
                + "({2} s) and the {3} s a nexus trusts its last look at its record, and a second more, before its volumes "
                + "are served elsewhere", configured.toSeconds(), least.toSeconds(), heartbeat.toSeconds(),
                NEXUS_TRUSTS_ITS_LAST_LOOK.toSeconds());
        return least;
    }

    /** A replica of the volume that a node reports now. */
    record Live(String node, String pool, String uuid, String shareUri, List<String> allowedHosts, long sizeBytes) {
    }

    /**
     * What a pass knows about the nodes: every online node's replicas, pools and nexuses, asked of
     * all nodes at once. Passes share one while it is young and no call may have changed a node
     * since it was taken (see {@link #world()}).
     */
    final class World {
        final Map<String, NodeRegistry.NodeState> nodes = new LinkedHashMap<>();
        final Map<String, List<Replica>> replicas = new LinkedHashMap<>();
        final Map<String, List<Pool>> pools = new LinkedHashMap<>();
        final Map<String, List<Nexus>> nexuses = new LinkedHashMap<>();
        final List<String> unreachable = new ArrayList<>();
        /** Pools whose MayastorPool is being deleted: no new replica goes there (the user is draining it). */
        final Set<String> draining = new HashSet<>();
        /** "node/pool" of pools deleted while their node was away, to be destroyed there: no replica goes there either. */
        final Set<String> lettingGo = new HashSet<>();
        final long changes = clients.changes();
        final long takenNanos = System.nanoTime();

        World() {
            record Asked(NodeRegistry.NodeState node, Future<ListReplicasResponse> replicas, Future<ListPoolsResponse> pools,
                         Future<ListNexusResponse> nexuses) {
            }
            List<Asked> asked = new ArrayList<>();
            for (MayastorPool msp : store.list(MayastorPool.class)) {
                if (msp.getMetadata().getDeletionTimestamp() != null) {
                    draining.add(msp.getMetadata().getName());
                }
            }
            // pools let go while their node was away (the node keeps their names until the sweep destroys them)
            for (MayastorNode msn : store.list(MayastorNode.class)) {
                for (String pool : PoolOperator.deletedPools(msn)) {
                    lettingGo.add(msn.getMetadata().getName() + "/" + pool);
                }
            }
            Set<String> quick = new HashSet<>();
            for (NodeRegistry.NodeState n : registry.nodes()) {
                nodes.put(n.id(), n);
                if (n.online() && n.storage()) {
                    Long since = quickAsk.get(n.id());
                    if (since != null && System.nanoTime() - since < QUICK_ASK_FOR_NANOS) {
                        quick.add(n.id());
                    }
                    long millis = quick.contains(n.id()) ? Math.min(QUICK_ASK_MILLIS, clients.deadline().toMillis())
                            : clients.deadline().toMillis();
                    asked.add(new Asked(n, clients.replicasAsync(n.endpoint()).withDeadlineAfter(millis, TimeUnit.MILLISECONDS)
                            .listReplicas(ListReplicaOptions.getDefaultInstance()),
                            clients.poolsAsync(n.endpoint()).withDeadlineAfter(millis, TimeUnit.MILLISECONDS)
                                    .listPools(ListPoolOptions.getDefaultInstance()),
                            clients.nexusAsync(n.endpoint()).withDeadlineAfter(millis, TimeUnit.MILLISECONDS)
                                    .listNexus(ListNexusOptions.getDefaultInstance())));
                }
            }
            for (Asked a : asked) {
                String id = a.node().id();
                try {
                    List<Replica> r = NodeClients.await(a.replicas()).getReplicasList();
                    List<Pool> p = NodeClients.await(a.pools()).getPoolsList();
                    List<Nexus> x = NodeClients.await(a.nexuses()).getNexusListList();
                    replicas.put(id, r);
                    pools.put(id, p);
                    nexuses.put(id, x);
                    quickAsk.remove(id);
                } catch (StatusRuntimeException e) {
                    unreachable.add(id); // counts as offline for this pass
                    boolean timedOut = e.getStatus().getCode() == io.grpc.Status.Code.DEADLINE_EXCEEDED;
                    if (timedOut && !quick.contains(id)) {
                        quickAsk.put(id, System.nanoTime()); // the whole deadline again once this while is over
                    }
                    LOG.log(Level.INFO, "node {0} did not answer a listing{1}: {2}", id,
                            quick.contains(id) ? " (asked with " + QUICK_ASK_MILLIS + " ms: its last listing timed out)" : "",
                            e.getStatus());
                }
            }
            if (LOG.isLoggable(Level.DEBUG)) {
                LOG.log(Level.DEBUG, "asked {0} nodes for their replicas, pools and nexuses in {1} ms", asked.size(),
                        String.format("%.1f", (System.nanoTime() - takenNanos) / 1e6));
            }
        }

        boolean reachable(String node) {
            return replicas.containsKey(node);
        }

        /**
         * No node this view could not reach has beaten since: a node that just came back (its
         * channel still reconnecting when it was asked) is asked again rather than taken for
         * offline by every pass for a second — a volume created then would be refused for it.
         */
        boolean noneHeardSinceUnreachable() {
            for (String id : unreachable) {
                NodeRegistry.NodeState now = registry.node(id).orElse(null);
                if (now != null && now.lastSeenMillis() != nodes.get(id).lastSeenMillis()) {
                    return false;
                }
            }
            // a node that registered, or came back online, since this view was taken was not asked at
            // all: seen by CsiGuestTest as "s2 is offline" for a CreateVolume right after the restarted
            // s2 was listed online (the view was under a second old)
            for (NodeRegistry.NodeState now : registry.nodes()) {
                NodeRegistry.NodeState then = nodes.get(now.id());
                if (then == null || then.online() != now.online()) {
                    return false;
                }
            }
            return true;
        }

        String endpoint(String node) {
            return nodes.get(node).endpoint();
        }

        /** Whether {@code node} lists pool {@code pool} online. */
        boolean poolOnline(String node, String pool) {
            return pools.getOrDefault(node, List.of()).stream()
                    .anyMatch(p -> p.getName().equals(pool) && p.getState() == PoolState.POOL_ONLINE);
        }

        /**
         * The volume's copies: replicas of that name the pools serve. One listed faulted (its metadata
         * failed the pool's checks: no size, no URI, nothing readable) is no copy — counted, it kept its
         * replacement from being made, could be kept by a scale-down in place of the copy with the data,
         * and made the volume unpublishable (a nexus of 0 bytes).
         */
        List<Live> replicasOf(String replicaName) {
            return replicasOf(replicaName, false);
        }

        /** With {@code damaged}, the faulted ones too: what a deleted volume leaves to destroy. */
        List<Live> replicasOf(String replicaName, boolean damaged) {
            List<Live> live = new ArrayList<>();
            replicas.forEach((node, list) -> {
                for (Replica r : list) {
                    if (r.getName().equals(replicaName) && (damaged || r.getState() == ReplicaState.REPLICA_ONLINE)) {
                        live.add(new Live(node, r.getPool(), r.getUuid(), r.getUri().startsWith("bdev:") ? null : r.getUri(),
                                r.getAllowedHostsList(), r.getSize()));
                    }
                }
            });
            return live;
        }

        Optional<Nexus> nexus(String node, String uuid) {
            return nexuses.getOrDefault(node, List.of()).stream().filter(n -> n.getUuid().equals(uuid)).findFirst();
        }

        /** A nexus as a call of this pass left it: what the rest of the pass sees of it. */
        void changed(String node, Nexus now) {
            List<Nexus> listed = new ArrayList<>(nexuses.getOrDefault(node, List.of()));
            listed.replaceAll(n -> n.getUuid().equals(now.getUuid()) ? now : n);
            nexuses.put(node, listed); // a value replaced, not a key added: loops over the map go on
        }
    }

    /** Why the spec cannot be served, or null. Also what VolumeRpc refuses at once. */
    public String invalid(MayastorVolume.Spec spec) {
        if (spec == null) {
            return "the volume has no spec";
        }
        if (spec.getReplicaCount() == null || spec.getReplicaCount() < 1) {
            return "spec.replicaCount must be at least 1, not " + spec.getReplicaCount();
        }
        if (spec.getReplicaCount() > 8) {
            return "spec.replicaCount " + spec.getReplicaCount() + " is more than a nexus holds (8)";
        }
        if (spec.getRequiredBytes() == null || spec.getRequiredBytes() < 1) {
            return "spec.requiredBytes must be at least 1 byte, not " + spec.getRequiredBytes();
        }
        if (spec.getRequiredBytes() % 512 != 0) {
            return "spec.requiredBytes " + spec.getRequiredBytes() + " is not a multiple of 512";
        }
        if (spec.getLimitBytes() != null && spec.getLimitBytes() > 0 && spec.getLimitBytes() < spec.getRequiredBytes()) {
            return "spec.limitBytes " + spec.getLimitBytes() + " is less than spec.requiredBytes " + spec.getRequiredBytes();
        }
        if (spec.getProtocol() != null && !PROTOCOLS.contains(spec.getProtocol())) {
            return "spec.protocol '" + spec.getProtocol() + "' is not nvmf, iscsi or none";
        }
        return null;
    }

    /** A node the spec names that has never registered, or null: the volume waits for it. */
    public String unknownNode(MayastorVolume.Spec spec) {
        for (String node : nonNull(spec.getRequiredNodes())) {
            if (registry.node(node).isEmpty()) {
                return "spec.requiredNodes names node " + node + ", which the control plane does not know";
            }
        }
        if (spec.getTargetNode() != null && registry.node(spec.getTargetNode()).isEmpty()) {
            return "spec.targetNode names node " + spec.getTargetNode() + ", which the control plane does not know";
        }
        return null;
    }

    private static <T> List<T> nonNull(List<T> list) {
        return list == null ? List.of() : list;
    }

    private static boolean yes(Boolean b) {
        return b != null && b;
    }

    public void reconcile(String name) {
        Optional<MayastorVolume> found = store.get(MayastorVolume.class, name);
        if (found.isEmpty()) {
            return;
        }
        MayastorVolume msv = found.get();
        String uuid = msv.getMetadata().getUid();
        String replicaName = REPLICA_PREFIX + uuid;
        if (msv.getMetadata().getDeletionTimestamp() != null) {
            if (msv.getSpec().getTargetNode() == null) {
                deletionNoted.remove(uuid);
                tearDown(msv, uuid, replicaName);
                return;
            }
            // published: a host mounts it, and taken down now its file system would lose its device under the
            // application (kubectl delete msv is not CSI's DeleteVolume, which refuses). It waits for its unpublish,
            // as a PVC in use does, and is served as before meanwhile (switched over, repaired)
            if (deletionNoted.add(uuid)) {
                String why = "volume " + msv.getMetadata().getName() + DELETION_BLOCKED
                        + Optional.ofNullable(msv.getSpec().getAppNode()).orElse(msv.getSpec().getTargetNode())
                        + ": its deletion waits for the unpublish (the pod's end, or mayastor ctl volume unpublish "
                        + msv.getMetadata().getName() + ")";
                LOG.log(Level.WARNING, why);
                store.event(msv, "Warning", "DeletionBlocked", why);
            }
        }
        String invalid = invalid(msv.getSpec());
        if (invalid != null) {
            // nothing is made or changed on any node for a spec that cannot be served. A volume that has
            // replicas keeps its record (which replicas are out of sync, its size) until the spec is fixed:
            // without it the next pass would take every replica it finds for one in sync
            MayastorVolume.Status was = msv.getStatus();
            if (was == null || was.getReplicas() == null || was.getReplicas().isEmpty()) {
                writeStatus(msv, MayastorVolume.FAULTED, INVALID_SPEC + invalid, null, List.of(), null);
            } else {
                writeStatus(msv, was.getState(), INVALID_SPEC + invalid + "; the volume is left as it is until the spec "
                        + "is fixed", was.getNexus(), was.getReplicas(), was.getSize(), "invalidSpec");
            }
            return;
        }
        String unknown = unknownNode(msv.getSpec());
        if (unknown != null && (msv.getStatus() == null || msv.getStatus().getReplicas() == null
                || msv.getStatus().getReplicas().isEmpty())) {
            writeStatus(msv, MayastorVolume.PENDING, unknown, null, List.of(), null); // until that node registers
            return;
        }
        if (!msv.getMetadata().getFinalizers().contains(Kinds.FINALIZER)) {
            msv.getMetadata().getFinalizers().add(Kinds.FINALIZER);
            msv = store.update(msv); // before anything exists on a node
        }
        MayastorVolume.Spec spec = msv.getSpec();
        World world = world();
        if (System.nanoTime() - world.takenNanos > TimeUnit.MILLISECONDS.toNanos(100) && nexusChanges(world, uuid, spec.getTargetNode())) {
            // a nexus made or destroyed on what its children's states were: asked now, not up to a second
            // ago (a child faults without any call of ours)
            world = new World();
            shared = world;
        }
        MayastorVolume.Status old = msv.getStatus() == null ? new MayastorVolume.Status() : msv.getStatus();
        List<MayastorVolume.Replica> recorded = old.getReplicas() == null ? List.of() : old.getReplicas();
        // a volume never shrinks: its file system may fill what it has. A spec asking for less (a user's
        // edit, or a refused grow's rollback that crossed this operator's growth) is served at the size
        // the volume has — new replicas and a republished nexus too — and the reason says so
        long has = old.getSize() == null ? 0 : old.getSize();
        long bytes = msv.servedBytes();
        String shrink = bytes > spec.getRequiredBytes() ? "spec.requiredBytes " + spec.getRequiredBytes()
                + " is less than the volume's " + has + " bytes: a volume does not shrink" : null;
        List<Live> live = world.replicasOf(replicaName);
        live.forEach(r -> missingSince.remove(uuid + "/" + r.uuid().toLowerCase(Locale.ROOT)));
        Set<String> behind = new TreeSet<>();
        boolean fresh = recorded.isEmpty();
        for (Live r : live) {
            // by its uuid, not its node: a replica given up and replaced on the same node (another pool)
            // that comes back is not the replacement the status calls in sync
            Optional<MayastorVolume.Replica> rec = recorded.stream().filter(x -> holds(x, r.uuid())).findFirst();
            if (rec.isEmpty() ? !fresh : yes(rec.get().getOutOfSync())) {
                behind.add(r.uuid());
            }
        }
        // what the nexus that served last says now, whatever the status said: a child it faulted since
        // the status was written is behind. That nexus may be destroyed below (the volume left its node)
        // without being asked again, and the node that makes the next one may have no record of its
        // writes; the marks are written first (a pass that fails later must not forget them). Only that
        // nexus: one on a node the volume left before (fenced, or back from a switch-over) was not the
        // last writer, and its children's states say nothing. Never every live copy: a nexus with no
        // child in sync leaves the status as it is (its record decides what a new nexus trusts)
        String lastWriter = old.getNexus() == null ? null : old.getNexus().getNode();
        Set<String> faulted = new TreeSet<>();
        List<MayastorVolume.Replica> faultedAway = new ArrayList<>(); // recorded, on a node away: marked in place
        List<Child> lastChildren = lastWriter == null ? List.of() : world.nexus(lastWriter, uuid).map(Nexus::getChildrenList)
                .orElse(List.of());
        for (Child c : lastChildren) {
            String replica = replicaOf(c.getUri());
            if (c.getState() == ChildState.CHILD_ONLINE) {
                continue;
            }
            if (live.stream().anyMatch(r -> r.uuid().equals(replica))) {
                if (!behind.contains(replica)) {
                    faulted.add(replica);
                }
            } else {
                // its node is away: once that nexus is gone (an unpublish), nothing else would say it missed writes
                recorded.stream().filter(x -> x.getUri() != null && replicaOf(x.getUri()).equals(replica) && !yes(x.getOutOfSync()))
                        .forEach(faultedAway::add);
            }
        }
        if ((!faulted.isEmpty() || !faultedAway.isEmpty()) && faultMarksHold(lastChildren, live, behind, faulted)) {
            behind.addAll(faulted);
            faultedAway.forEach(x -> x.setOutOfSync(Boolean.TRUE));
            msv = recordBehind(msv, live, behind);
        }

        // replicas on nodes that are away: kept (and waited for) for the grace period, then given up —
        // but only while a replica in sync is live to rebuild their replacement from: one that may hold
        // the only copy of the data is waited for however long it takes, also when its node answers
        // without it (a pool not imported yet), and never replaced by an empty one
        Set<String> liveNodes = new HashSet<>();
        live.forEach(r -> liveNodes.add(r.node()));
        // the marks are current only when the last writer was seen this pass: with its node unreachable, a child
        // it faulted since the status was written passes for in sync. Then the record decides; without one,
        // nothing is given up or dropped (a stale copy counted as the source, and the good one went)
        // (with NATS, a node that answers without the nexus counts as unseen too: it restarted without it, and what
        // it faulted before is in the record only)
        boolean marksCurrent = lastWriter == null || world.reachable(lastWriter)
                && (records == null || !lastChildren.isEmpty());
        // the record of the last nexus, unread (NATS away a moment) while its node answers without it: that node
        // stays the last writer in the status, and no nexus is made, until the record is read — cleared, a child
        // the nexus faulted at its shutdown stayed in sync for good
        java.io.IOException recordUnread = null;
        if (!marksCurrent && records != null) {
            try {
                Optional<NexusRecords.Record> record = record(msv);
                if (record.isPresent()) {
                    // the marks go into the status with the pass's own write (written here, the store's copy would
                    // replace msv, and the marks a switch-over puts on the old status's objects would miss it)
                    applyRecord(record.get().inSync(), live, behind);
                    // a record that names no live replica leaves none known to hold every write: the ones away wait
                    Set<String> inSync = record.get().inSync();
                    marksCurrent = live.stream().anyMatch(r -> inSync.contains(r.uuid().toLowerCase(Locale.ROOT)));
                }
            } catch (java.io.IOException e) {
                if (e instanceof NexusRecords.Damaged) {
                    // read, and not understood: no later read says more; the status's marks stand (as with none)
                    LOG.log(Level.WARNING, "volume {0}: {1}", name, e.getMessage());
                } else {
                    LOG.log(Level.DEBUG, "volume {0}: the nexus record cannot be read: {1}", name, e.getMessage());
                    if (world.reachable(lastWriter)) {
                        recordUnread = e;
                    }
                }
            }
        }
        boolean source = marksCurrent && live.stream().anyMatch(r -> !behind.contains(r.uuid()));
        List<MayastorVolume.Replica> away = new ArrayList<>();
        for (MayastorVolume.Replica rec : recorded) {
            if (live.stream().anyMatch(r -> holds(rec, r.uuid()))) {
                continue; // (by uuid: another replica of the volume on its node, in another pool, is not this one)
            }
            if (!source) {
                // no live copy in sync: each recorded one may be the best copy left — one out of sync
                // too, when the in-sync one's node never returns. Given up, the record could empty, and
                // the volume would be taken for new: an empty replica in sync, the real one surplus
                away.add(rec);
                continue;
            }
            if (world.reachable(rec.getNode())) {
                long missing = missingMillis(uuid, rec);
                if (world.poolOnline(rec.getNode(), rec.getPool()) || missing >= grace.toMillis()) {
                    missingSince.remove(missingKey(uuid, rec));
                    continue; // its node is up and no longer has it: given up
                }
                // its pool is not online there (importing, its disk moved, metadata damaged): waited for as a
                // node away is, not replaced with a full rebuild the moment it is back
                away.add(rec);
                continue;
            }
            // from when this control plane started acting at most: a node that registered only with the
            // leader before it is unknown here (never heard of: silent for ever) until it beats again
            long awayMillis = Math.min(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startedNanos),
                    registry.silentMillis(rec.getNode()));
            if (awayMillis < grace.toMillis()) {
                away.add(rec);
            } else {
                LOG.log(Level.WARNING, "volume {0}: node {1} has been away {2} s, longer than the grace period: its "
                        + "replica is replaced", name, rec.getNode(), awayMillis / 1000);
            }
        }

        int wanted = spec.getReplicaCount();
        String shortfall = null;
        // nodes, not replicas: two on one node (a pool given up and replaced on its node's other pool, then back)
        // are one node's loss from going together, and the volume counted itself whole for good
        Set<String> haveNodes = new HashSet<>(liveNodes);
        away.forEach(a -> haveNodes.add(a.getNode()));
        int have = haveNodes.size();
        if (have < wanted) {
            // one placement at a time: two volumes placed from the same view would both count on
            // the same free space, and the one that loses on some node would be left short
            List<String> madeEvents = new ArrayList<>(); // recorded once out of the lock: an event is an API call
            synchronized (placing) {
                world = fresher(world);
                Set<String> excluded = new TreeSet<>(liveNodes);
                away.forEach(a -> excluded.add(a.getNode()));
                recorded.forEach(r -> excluded.add(r.getNode())); // a node whose replica was given up gets no new one
                // nor one holding a damaged replica of the volume: its pool refuses the name, and is degraded anyway
                world.replicasOf(replicaName, true).forEach(r -> excluded.add(r.node()));
                Placement.Request request = new Placement.Request(wanted, bytes, yes(spec.getThin()),
                        nonNull(spec.getRequiredNodes()), nonNull(spec.getPreferredNodes()));
                Placement.Result placed = Placement.place(request, wanted - have, candidates(world, refusedLately()), excluded);
                // a node the registry has online that this view did not reach (it just came back: not asked,
                // or its channel still reconnecting) is asked again, a few times, before a new volume is refused
                // — seen in CsiGuestTest as "s2 is offline" for a CreateVolume right after s2 was listed online
                for (int attempt = 0; attempt < 3 && !placed.satisfied() && live.isEmpty() && away.isEmpty()
                        && onlineButUnreached(world); attempt++) {
                    if (attempt > 0) {
                        try {
                            Thread.sleep(300);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                            break;
                        }
                    }
                    world = new World();
                    shared = world;
                    placed = Placement.place(request, wanted - have, candidates(world, refusedLately()), excluded);
                }
                if (!placed.satisfied() && live.isEmpty() && away.isEmpty()) {
                    // all or nothing for a new volume: never a half-made one on the nodes
                    writeStatus(msv, MayastorVolume.PENDING, placed.shortfall(), null, List.of(), null);
                    return;
                }
                shortfall = placed.satisfied() ? null : placed.shortfall();
                List<Placement.Candidate> chosen = placed.satisfied() ? placed.chosen()
                        : partial(world, spec, bytes, wanted - have, excluded);
                List<Replica> made;
                try {
                    made = createReplicas(world, chosen, replicaName, spec, bytes, live.isEmpty() && away.isEmpty());
                } catch (MayastorException e) {
                    if (live.isEmpty() && away.isEmpty()) {
                        // a new volume, none of it made: pending with the reason, which its creator waits for
                        writeStatus(msv, MayastorVolume.PENDING, "a replica could not be made: " + e.getMessage(), null,
                                List.of(), null);
                    }
                    throw e;
                }
                for (int i = 0; i < chosen.size(); i++) {
                    Placement.Candidate c = chosen.get(i);
                    live.add(new Live(c.node(), c.pool(), made.get(i).getUuid(), null, List.of(), made.get(i).getSize()));
                    liveNodes.add(c.node());
                    if (!fresh) {
                        behind.add(made.get(i).getUuid()); // empty, beside replicas that may hold data
                        madeEvents.add("volume " + name + ": a replica made on " + c.node() + " (pool " + c.pool() + "), to be "
                                + "rebuilt");
                    }
                }
            }
            for (String made : madeEvents) {
                store.event(msv, "Normal", "ReplicaCreated", made);
            }
        } else if (live.size() > wanted && marksCurrent
                && (spec.getTargetNode() == null || world.nexus(spec.getTargetNode(), uuid).isPresent())) {
            // published, only once its nexus was seen this pass: a child it faulted since the status was
            // written is known behind then, and not kept in place of the copy in sync
            live = dropExcess(world, live, wanted, behind, recorded, name, spec.getTargetNode());
            Set<String> kept = new HashSet<>();
            live.forEach(r -> kept.add(r.uuid()));
            behind.retainAll(kept);
        }

        // growth (CSI ControllerExpandVolume): each replica to the spec's size, then the nexus (below)
        String growProblem = null;
        MayastorException growLater = null;
        boolean growNow = true;
        if (has > 0 && bytes > has && !away.isEmpty()) {
            // a replica away cannot grow now, and may come back to a pool without room for it: grown from
            // the live ones alone, the volume would count it (healthy) and then not fit on it (no nexus)
            growProblem = "cannot grow to " + bytes + " bytes while the replica on " + away.stream()
                    .map(MayastorVolume.Replica::getNode).sorted().toList() + " is away; ask again once it is back or replaced";
            growNow = false;
        }
        for (int i = 0; growNow && i < live.size(); i++) {
            Live r = live.get(i);
            if (r.sizeBytes() < bytes) {
                try {
                    Replica grown = clients.replicas(world.endpoint(r.node())).resizeReplica(ResizeReplicaRequest.newBuilder()
                            .setUuid(r.uuid()).setRequestedSize(bytes).build());
                    live.set(i, new Live(r.node(), r.pool(), r.uuid(), r.shareUri(), r.allowedHosts(), grown.getSize()));
                    LOG.log(Level.INFO, "volume {0}: replica {1} on {2} grown to {3} bytes", name, r.uuid(), r.node(), bytes);
                } catch (StatusRuntimeException e) {
                    MayastorException why = NodeClients.translate(r.node(), e);
                    if (why.kind() == ErrorKind.UNAVAILABLE) {
                        // the node is away or busy: not a refusal; the pass is tried again after a backoff
                        growLater = MayastorException.unavailable("%s", why.getMessage());
                    } else if (why.kind() == ErrorKind.RESOURCE_EXHAUSTED || why.kind() == ErrorKind.INVALID_ARGUMENT
                            || why.kind() == ErrorKind.OUT_OF_RANGE || why.kind() == ErrorKind.UNIMPLEMENTED) {
                        // no room, or a size the pool cannot map (beyond what its map holds, not a whole number of
                        // blocks): no retry makes it, the CO's infeasible. It decides over another replica's passing trouble
                        growProblem = "cannot grow to " + bytes + " bytes: " + why.getMessage();
                    } else if (growProblem == null) {
                        // another failure (a pool degraded, a replica being rebuilt): not the size's fault, tried again
                        growProblem = "cannot grow to " + bytes + " bytes" + GROW_FAILED_FOR_NOW + why.getMessage();
                    }
                }
            }
        }
        long smallest = live.stream().mapToLong(Live::sizeBytes).min().orElse(0);

        // the nexus, while published; when its node is lost, on another node that holds an in-sync replica
        MayastorVolume.Nexus nexusStatus = null;
        long[] nexusSize = {-1};
        String target = spec.getTargetNode();
        String switchWait = null;
        if (target != null && !world.reachable(target) && !yes(spec.getLocal()) && !"none".equals(spec.getProtocol())) {
            Switch s = switchOverTarget(msv, world, live, away, behind);
            if (s.node() != null) {
                msv = recordBehind(msv, live, behind);
                msv.getSpec().setTargetNode(s.node());
                msv = store.update(msv); // before the nexus is made there: a restarted control plane makes it there too
                target = s.node();
                LOG.log(Level.WARNING, "volume {0}: {1}", name, s.why());
                store.event(msv, "Warning", "SwitchOver", "volume " + name + ": " + s.why());
            } else {
                switchWait = s.why();
            }
        }
        boolean destroyedOne = false;
        for (Map.Entry<String, List<Nexus>> e : world.nexuses.entrySet()) {
            if (!e.getKey().equals(target) && world.nexus(e.getKey(), uuid).isPresent()) {
                seen(msv, world.nexus(e.getKey(), uuid).get());
                destroyNexus(world, e.getKey(), uuid, name); // a nexus where the volume is no longer published
                destroyedOne = true;
            }
        }
        if (destroyedOne) { // (its record unread: as above)
            try {
                msv = markWhatTheRecordLeftOut(msv, live, behind);
            } catch (NexusRecords.Damaged e) {
                LOG.log(Level.WARNING, "volume {0}: {1}", name, e.getMessage());
            } catch (java.io.IOException e) {
                recordUnread = e;
            }
        }
        String targetProblem = null;
        MayastorException nexusFailed = null;
        boolean fenced = false;
        if (target != null) {
            Switch lastAway = oldNexusAway(msv, old, world, live, behind, target);
            if (!world.reachable(target)) {
                targetProblem = "its target node " + target + " is offline" + (switchWait != null ? "; " + switchWait : "");
            } else if (live.isEmpty()) {
                targetProblem = "no replica is reachable";
                // a nexus that serves on children this pass cannot list stays in the status: cleared, its node
                // was no longer the last writer, and a publish elsewhere skipped the wait for it and its record
                String node = target;
                nexusStatus = world.nexus(node, uuid).map(n -> describe(n, node, uuid)).orElse(null);
            } else if (lastAway != null && lastAway.node() == null) {
                targetProblem = lastAway.why();
                fenced = true;
            } else if (recordUnread != null && world.nexus(target, uuid).isEmpty()) {
                // (one serving there already — a status write lost — is kept up as it is)
                targetProblem = "the record of its last nexus, on " + lastWriter + ", cannot be read (" + recordUnread.getMessage()
                        + "): a nexus is made once it can";
                fenced = true;
            } else {
                if (lastAway != null) {
                    msv = recordBehind(msv, live, behind); // the record's marks, before a nexus is made on them
                    LOG.log(Level.INFO, "volume {0}: {1}", name, lastAway.why());
                }
                try {
                    nexusStatus = ensureNexus(world, msv, uuid, target, live, away, behind, smallest, nexusSize);
                } catch (MayastorException e) {
                    // written before it is thrown (and retried after a backoff): a status still saying healthy,
                    // with the URI of a nexus that is not there, answered a publish retry and ControllerGetVolume.
                    // A nexus that serves (a child could not be added or removed) is degraded, not offline
                    Optional<Nexus> serving = world.nexus(target, uuid).filter(n -> !n.getDeviceUri().isEmpty()
                            || "none".equals(spec.getProtocol()));
                    targetProblem = (serving.isPresent() ? "its nexus on " + target + " could not be made what the volume "
                            + "needs: " : "its nexus on " + target + " cannot be served: ") + e.getMessage();
                    nexusStatus = serving.isPresent() ? describe(serving.get(), target, uuid) : null;
                    nexusFailed = e;
                }
            }
        }

        // the record: which replicas there are, which are behind
        List<MayastorVolume.Replica> replicas = new ArrayList<>();
        for (Live r : live) {
            MayastorVolume.Replica rec = new MayastorVolume.Replica(r.node(), r.pool(), r.shareUri() != null ? r.shareUri()
                    : "bdev:///" + r.uuid(), false);
            rec.setOutOfSync(behind.contains(r.uuid()) ? Boolean.TRUE : null);
            replicas.add(rec);
        }
        for (MayastorVolume.Replica a : away) {
            MayastorVolume.Replica rec = new MayastorVolume.Replica(a.getNode(), a.getPool(), a.getUri(), true);
            // a nexus serving without it (its child faulted, or gone) writes what it will not have
            boolean missed = nexusStatus != null && nexusStatus.getChildren().stream().noneMatch(c -> "online".equals(c.getState())
                    && replicaOf(c.getUri()).equals(replicaOf(a.getUri())));
            rec.setOutOfSync(missed || yes(a.getOutOfSync()) ? Boolean.TRUE : null);
            replicas.add(rec);
        }
        String state;
        String reason;
        if (targetProblem != null && target != null && (fenced || !world.reachable(target) || nexusFailed != null && nexusStatus == null)) {
            state = MayastorVolume.OFFLINE;
            reason = targetProblem;
        } else if (nexusFailed != null) {
            state = MayastorVolume.DEGRADED;
            reason = targetProblem;
        } else if (nexusStatus != null && "faulted".equals(nexusStatus.getState())) {
            state = MayastorVolume.FAULTED;
            reason = "its nexus is faulted";
        } else if (live.isEmpty()) {
            state = MayastorVolume.FAULTED;
            World seen = world;
            reason = away.isEmpty() ? "no replica is left" : "no replica is reachable: waiting for "
                    + String.join(", ", away.stream().map(a -> a.getNode() + (seen.reachable(a.getNode())
                    ? " (online, without the replica: its pool?)" : " (away)")).toList());
        } else if (live.size() < wanted || !behind.isEmpty() || (nexusStatus != null && !"online".equals(nexusStatus.getState()))) {
            state = MayastorVolume.DEGRADED;
            reason = degradedReason(live, away, wanted, behind, nexusStatus, shortfall);
            reason = growProblem == null ? reason : reason + "; " + growProblem; // the caller's grow waits for either
        } else {
            state = MayastorVolume.HEALTHY;
            reason = growProblem;
        }
        if (shrink != null) {
            reason = reason == null ? shrink : reason + "; " + shrink;
        }
        // unpublished: what every replica holds, and never less than the volume had — a replica that is
        // away, or back smaller (its grow refused), must not lower the floor a republished nexus keeps
        long size = nexusSize[0] >= 0 ? nexusSize[0] : Math.max(has, live.isEmpty() ? 0 : Math.min(smallest, growNow ? bytes : has));
        // the nexus the volume had, on a node this pass cannot list: kept, as "unknown" and without its
        // URI. Cleared, the last writer was forgotten: the pass that reached the node again (after an
        // unpublish meanwhile) destroyed its nexus unread, and a child it had faulted stayed recorded in
        // sync — a copy that missed writes, later taken for a source, the one with them dropped
        MayastorVolume.Nexus shown = nexusStatus;
        MayastorVolume.Nexus had = old.getNexus();
        if (shown == null && had != null && had.getNode() != null && (!world.reachable(had.getNode()) || recordUnread != null)
                && world.nodes.containsKey(had.getNode())) {
            shown = new MayastorVolume.Nexus();
            shown.setNode(had.getNode());
            shown.setState(MayastorVolume.NEXUS_UNKNOWN);
            shown.setChildren(had.getChildren());
        }
        writeStatus(msv, state, reason, shown, replicas, size);
        if (nexusFailed != null) {
            throw nexusFailed;
        }
        if (recordUnread != null) {
            // tried again after a backoff, until the record is read
            throw MayastorException.unavailable("volume %s: the record of its last nexus, on %s, cannot be read: %s",
                    name, lastWriter, recordUnread.getMessage());
        }
        if (growLater != null) {
            throw growLater;
        }
    }

    /**
     * A switch-over's out-of-sync marks (replicas the nexus record does not call in sync, and those
     * away, which the new nexus writes without), written before the new target: a control plane that
     * dies between the two must not find the new target beside a record that calls every replica in
     * sync. Marks on a switch that then loses its race are only pessimistic: a rebuild too many.
     */
    /**
     * Whether the last writer's faulted children are marked behind: when it still has a child in sync.
     * Its word alone, whether or not that child's node answers now: counted among the live replicas
     * only, a child in sync on a node gone quiet threw the marks away, the faulted child passed for in
     * sync, and once the quiet node's replica was given up that stale copy was the volume's source.
     * A nexus with no child in sync leaves the status as it is (its record decides what a new nexus trusts).
     */
    static boolean faultMarksHold(List<Child> lastChildren, List<Live> live, Set<String> behind, Set<String> faulted) {
        return lastChildren.stream().anyMatch(c -> c.getState() == ChildState.CHILD_ONLINE)
                || live.stream().anyMatch(r -> !behind.contains(r.uuid()) && !faulted.contains(r.uuid()));
    }

    private MayastorVolume recordBehind(MayastorVolume msv, List<Live> live, Set<String> behind) {
        MayastorVolume.Status status = msv.getStatus();
        if (status == null || status.getReplicas() == null) {
            return msv;
        }
        for (Live r : live) {
            // marked, or cleared (a switch-over's record calls it in sync: see switchOverTarget)
            Boolean mark = behind.contains(r.uuid()) ? Boolean.TRUE : null;
            status.getReplicas().stream().filter(x -> holds(x, r.uuid())).forEach(x -> x.setOutOfSync(mark));
        }
        return store.updateStatus(msv); // the away entries were marked in place by switchOverTarget
    }

    /**
     * After a nexus was destroyed: the replicas its last record leaves out are behind. At shutdown a
     * nexus faults a child whose device reconnected while it was idle (it lacks writes it had not
     * flushed), which no child state this pass read could show; in sync in the status, a later
     * placement could keep it as the source and give up the replica that has the data. Never every
     * live copy (the record decides what a new nexus trusts), and nothing without NATS records.
     */
    private MayastorVolume markWhatTheRecordLeftOut(MayastorVolume msv, List<Live> live, Set<String> behind)
            throws java.io.IOException {
        if (records == null) {
            return msv;
        }
        Optional<NexusRecords.Record> record = record(msv);
        if (record.isEmpty()) {
            return msv;
        }
        Set<String> before = new TreeSet<>(behind);
        if (!applyRecord(record.get().inSync(), live, behind)) {
            return msv;
        }
        LOG.log(Level.WARNING, "volume {0}: its nexus''s last record calls {1} in sync, not what the status said ({2} behind): "
                + "marked as the record says", msv.getMetadata().getName(), record.get().inSync(), before);
        return recordBehind(msv, live, behind);
    }

    /**
     * The marks of {@code live} replicas made to agree with a nexus record's in-sync set: those it
     * leaves out are behind. When none the status calls in sync is in it but a live one it names is, the
     * record's word is taken whole (the status's marks lag it: a rebuild ended, a child faulted at
     * shutdown): a nexus made from the status alone was refused by its node for ever. When it names no
     * live replica, nothing changes: the record decides what a new nexus trusts. Whether it changed.
     */
    static boolean applyRecord(Set<String> recordInSync, List<Live> live, Set<String> behind) {
        boolean kept = false;
        boolean named = false;
        Set<String> left = new TreeSet<>();
        for (Live r : live) {
            boolean inRecord = recordInSync.contains(r.uuid().toLowerCase(Locale.ROOT));
            named |= inRecord;
            if (behind.contains(r.uuid())) {
                continue;
            }
            if (inRecord) {
                kept = true;
            } else {
                left.add(r.uuid());
            }
        }
        if (kept) {
            return behind.addAll(left);
        }
        if (!named) {
            return false;
        }
        boolean changed = false;
        for (Live r : live) {
            changed |= recordInSync.contains(r.uuid().toLowerCase(Locale.ROOT)) ? behind.remove(r.uuid()) : behind.add(r.uuid());
        }
        return changed;
    }

    /** Where a lost target's nexus goes ({@code node}) and why, or why it stays ({@code why} alone). */
    private record Switch(String node, String why) {
    }

    /**
     * Where the volume's nexus goes now that its node ({@code spec.targetNode}) cannot be reached,
     * or why it stays. The node must have been silent for the switch-over grace. The nexus record
     * in NATS — written before any write that depended on it was acknowledged — names the replicas
     * that hold every acknowledged write; the new nexus goes to a reachable node holding one of
     * them (the application's node when it holds one). Replicas the record does not call in sync
     * are marked behind; so are those on nodes away, which the new nexus writes without.
     */
    private Switch switchOverTarget(MayastorVolume msv, World world, List<Live> live, List<MayastorVolume.Replica> away,
                                    Set<String> behind) {
        String name = msv.getMetadata().getName();
        String lost = msv.getSpec().getTargetNode();
        // a node this control plane has not heard from since it started is silent since then, no longer
        long silent = Math.min(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startedNanos), registry.silentMillis(lost));
        if (records == null) {
            return new Switch(null, "the volume waits for it (switch-over needs the nexus records in NATS: nats.url)");
        }
        long grace = graceFor(lost);
        if (silent < grace) {
            return graceLeft(name, silent, grace, s -> "the nexus moves to another node in " + s + " s unless it returns");
        }
        Optional<NexusRecords.Record> record;
        try {
            record = record(msv);
        } catch (java.io.IOException e) {
            return unreadable(name, e);
        }
        if (record.isEmpty()) {
            return new Switch(null, "no nexus record says which replicas are in sync; the volume waits for the node");
        }
        Set<String> inSync = record.get().inSync();
        Live chosen = null;
        // the record decides, not the status's marks: it is written before any write that depends on it is
        // acknowledged, and a child the nexus faulted leaves it first; a mark is only as new as the last pass,
        // and a rebuild that ended after it (the nexus then died) left the one live copy marked, the volume
        // waiting for the dead node for ever
        for (Live r : live) {
            if (inSync.contains(r.uuid().toLowerCase(Locale.ROOT))
                    && (chosen == null || r.node().equals(msv.getSpec().getAppNode()))) {
                chosen = r;
            }
        }
        if (chosen == null) {
            return new Switch(null, "no reachable replica is in sync by the nexus record (in sync: " + inSync + "); the volume "
                    + "waits for the node");
        }
        for (Live r : live) {
            if (!inSync.contains(r.uuid().toLowerCase(Locale.ROOT))) {
                behind.add(r.uuid());
            } else {
                behind.remove(r.uuid());
            }
        }
        for (MayastorVolume.Replica a : away) {
            a.setOutOfSync(Boolean.TRUE); // the new nexus writes without it: rebuilt when its node returns
        }
        String why = "node " + lost + " silent for " + silent / 1000 + " s: the nexus moves to " + chosen.node()
                + " (in sync by the record: " + inSync + ")";
        return new Switch(chosen.node(), why); // told once the new target is written: a lost race tells nothing
    }

    /**
     * The volume's last nexus, on a node other than {@code target} that cannot be reached (unpublished while
     * away: kept in the status as unknown), may still serve a host cut off from us, and its node's record
     * may be the only word on which replicas missed writes. A nexus made on {@code target} at once was a
     * second writer beside it, over children chosen from status marks up to a pass old: the switch-over's
     * safeguards apply — silent for the switch-over grace, and the nexus record read, whose in-sync set
     * marks the others behind. Null when there is no such nexus; else {@code node} is {@code target} when
     * a nexus may be made there, null (and {@code why}) when the volume waits.
     */
    private Switch oldNexusAway(MayastorVolume msv, MayastorVolume.Status old, World world, List<Live> live, Set<String> behind,
                                String target) {
        MayastorVolume.Nexus last = old.getNexus();
        if (last == null || last.getNode() == null || last.getNode().equals(target) || world.reachable(last.getNode())
                || !world.nodes.containsKey(last.getNode()) || world.nexus(target, msv.getMetadata().getUid()).isPresent()) {
            // (one made on target already — by a pass whose status write was lost — is kept up as it is)
            return null; // none, here, answering (destroyed this pass), or its node said goodbye (a clean stop)
        }
        String name = msv.getMetadata().getName();
        String lost = last.getNode();
        long silent = Math.min(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startedNanos), registry.silentMillis(lost));
        if (records == null) {
            return new Switch(null, "its last nexus, on " + lost + ", cannot be reached and may still serve: a nexus is made on "
                    + target + " once " + lost + " answers (without the nexus records in NATS, nats.url, nothing says which "
                    + "replicas it left behind)");
        }
        long grace = graceFor(lost);
        if (silent < grace) {
            return graceLeft(name, silent, grace, s -> "its last nexus, on " + lost + ", cannot be reached: a nexus is made on "
                    + target + " in " + s + " s unless " + lost + " returns");
        }
        Optional<NexusRecords.Record> record;
        try {
            record = record(msv);
        } catch (java.io.IOException e) {
            return unreadable(name, e);
        }
        if (record.isEmpty()) {
            return new Switch(null, "its last nexus, on " + lost + ", cannot be reached, and no nexus record says which "
                    + "replicas are in sync; the volume waits for " + lost);
        }
        Set<String> inSync = record.get().inSync();
        if (live.stream().noneMatch(r -> inSync.contains(r.uuid().toLowerCase(Locale.ROOT)))) {
            return new Switch(null, "no reachable replica is in sync by the nexus record (in sync: " + inSync + "); the volume "
                    + "waits for " + lost);
        }
        for (Live r : live) {
            if (!inSync.contains(r.uuid().toLowerCase(Locale.ROOT))) {
                behind.add(r.uuid());
            } else {
                behind.remove(r.uuid()); // the record decides, as for a switch-over: a mark may predate a rebuild's end
            }
        }
        return new Switch(target, "its last nexus, on " + lost + ", silent for " + silent / 1000 + " s: a nexus is made on "
                + target + " (in sync by the record: " + inSync + ")");
    }

    /**
     * The volume's nexus record, read from NATS; none when it is below the incarnation its nexus was
     * seen to take. Such a record was written again by a nexus since superseded, after NATS lost the
     * newer one (a server back without its data): its in-sync set predates every write of the nexus
     * that took over, and taken, the replica that has them was rebuilt from one that has not.
     */
    private Optional<NexusRecords.Record> record(MayastorVolume msv) throws java.io.IOException {
        String uid = msv.getMetadata().getUid();
        Optional<NexusRecords.Record> record = records.get(uid);
        int known = knownIncarnation(msv);
        if (record.isPresent() && record.get().incarnation() < known) {
            if (staleRecords.add(uid + "/" + record.get().incarnation())) { // once: a volume may wait on it for long
                LOG.log(Level.WARNING, "volume {0}: its nexus record is incarnation {1}, below the {2} seen: not taken (NATS "
                        + "lost the newer one)", msv.getMetadata().getName(), record.get().incarnation(), known);
            }
            return Optional.empty();
        }
        // seen in the record too: a volume unpublished when this control plane started has no nexus to list
        record.ifPresent(r -> incarnations.merge(uid, r.incarnation(), Math::max));
        return record;
    }

    /** The highest incarnation the volume's nexus was seen to take: by this control plane, or as its status says. */
    private int knownIncarnation(MayastorVolume msv) {
        Integer recorded = msv.getStatus() == null ? null : msv.getStatus().getNexusIncarnation();
        return Math.max(recorded == null ? 0 : recorded, incarnations.getOrDefault(msv.getMetadata().getUid(), 0));
    }

    /** Notes the incarnation of a nexus of the volume, listed or just made (the status keeps it at its next write). */
    private void seen(MayastorVolume msv, Nexus nexus) {
        incarnations.merge(msv.getMetadata().getUid(), nexus.getIncarnation(), Math::max);
    }

    /**
     * The switch-over grace for a nexus on {@code node}: the configured one, or longer for a node that
     * beats less often than this control plane expects (silent between its beats, it is not lost).
     */
    private long graceFor(String node) {
        long least = registry.heartbeatMillis(node) + NEXUS_TRUSTS_ITS_LAST_LOOK.toMillis() + 1000;
        return Math.max(switchoverGrace.toMillis(), least);
    }

    /** The volume waits out the rest of the switch-over grace (looked at again when it ends); {@code why} of the seconds left. */
    private Switch graceLeft(String name, long silent, long grace, java.util.function.LongFunction<String> why) {
        long left = grace - silent;
        later.accept(name, Duration.ofMillis(left + 50));
        return new Switch(null, why.apply((left + 999) / 1000));
    }

    /** The volume waits: the nexus records cannot be read now (looked at again in a second). */
    private Switch unreadable(String name, java.io.IOException e) {
        later.accept(name, Duration.ofSeconds(1));
        return new Switch(null, "the nexus records cannot be read (" + e.getMessage() + "); the volume waits");
    }

    private static String degradedReason(List<Live> live, List<MayastorVolume.Replica> away, int wanted, Set<String> behind,
                                         MayastorVolume.Nexus nexus, String shortfall) {
        List<String> why = new ArrayList<>();
        for (MayastorVolume.Replica a : away) {
            why.add("node " + a.getNode() + " is away");
        }
        if (nexus != null) {
            for (MayastorVolume.Child c : nexus.getChildren()) {
                if ("degraded".equals(c.getState())) {
                    why.add(String.format(Locale.ROOT, "rebuilding %s (%.0f%%)", c.getUri(),
                            c.getRebuildProgress() == null ? 0.0 : c.getRebuildProgress()));
                } else if ("faulted".equals(c.getState())) {
                    why.add(c.getUri() + " is faulted");
                }
            }
        } else if (!behind.isEmpty()) {
            why.add(behind.size() + " replica(s) to be rebuilt when the volume is published");
        }
        if (live.size() + away.size() < wanted) {
            why.add((live.size() + away.size()) + " of " + wanted + " replicas" + (shortfall == null ? "" : "; " + shortfall));
        }
        return String.join("; ", why);
    }

    /** Some storage node the registry has online was not reached by {@code world}. */
    private boolean onlineButUnreached(World world) {
        for (NodeRegistry.NodeState n : registry.nodes()) {
            if (n.online() && n.storage() && !world.reachable(n.id())) {
                return true;
            }
        }
        return false;
    }

    /** How long a pool that refused a replica is chosen last. */
    private static final long REFUSED_NANOS = TimeUnit.MINUTES.toNanos(2);
    /** node/pool → when it last refused a replica's create. */
    private final Map<String, Long> refusedAt = new java.util.concurrent.ConcurrentHashMap<>();

    /** The pools that refused a replica within {@link #REFUSED_NANOS}, as node/pool. */
    private Set<String> refusedLately() {
        long now = System.nanoTime();
        refusedAt.values().removeIf(at -> now - at > REFUSED_NANOS);
        return Set.copyOf(refusedAt.keySet());
    }

    /** Pools of every reachable node, as placement sees them. */
    private static List<Placement.Candidate> candidates(World world, Set<String> refusedLately) {
        List<Placement.Candidate> list = new ArrayList<>();
        world.nodes.forEach((id, n) -> {
            if (!n.storage()) {
                return; // it attaches volumes, it holds none
            }
            List<Pool> pools = world.pools.get(id);
            if (pools == null) {
                list.add(new Placement.Candidate(id, "-", false, false, 0, 0));
                return;
            }
            for (Pool p : pools) {
                list.add(new Placement.Candidate(id, p.getName(), true,
                        p.getState() == PoolState.POOL_ONLINE && !world.draining.contains(p.getName())
                                && !world.lettingGo.contains(id + "/" + p.getName()), p.getCapacity(), p.getUsed(),
                        refusedLately.contains(id + "/" + p.getName())));
            }
        });
        return list;
    }

    /** As many pools as there are for a volume that is short of nodes (it runs degraded meanwhile). */
    private List<Placement.Candidate> partial(World world, MayastorVolume.Spec spec, long bytes, int missing,
                                                     Set<String> excluded) {
        for (int n = missing - 1; n > 0; n--) {
            Placement.Result r = Placement.place(new Placement.Request(spec.getReplicaCount(), bytes,
                    yes(spec.getThin()), nonNull(spec.getRequiredNodes()), nonNull(spec.getPreferredNodes())), n,
                    candidates(world, refusedLately()), excluded);
            if (r.satisfied()) {
                return r.chosen();
            }
        }
        return List.of();
    }

    /** This pass may destroy a nexus of the volume (it left that node) or make one on {@code target}. */
    private static boolean nexusChanges(World world, String uuid, String target) {
        for (String node : world.nexuses.keySet()) {
            if (!node.equals(target) && world.nexus(node, uuid).isPresent()) {
                return true;
            }
        }
        return target != null && world.reachable(target) && world.nexus(target, uuid).isEmpty();
    }

    /** {@code w}, or a newer view when a call that may change a node started or ended since it was taken. */
    private World fresher(World w) {
        return w.changes == clients.changes() ? w : world();
    }

    /**
     * Makes a replica on each chosen pool, all at once; the first failure is thrown. When one
     * fails, the others stand (the next pass finds them by name) — but for a new volume
     * ({@code allOrNothing}) they are destroyed again: a new volume is made whole or not at all,
     * and the next pass places it afresh.
     */
    private List<Replica> createReplicas(World world, List<Placement.Candidate> chosen, String replicaName,
                                         MayastorVolume.Spec spec, long bytes, boolean allOrNothing) {
        List<Future<Replica>> calls = new ArrayList<>();
        List<String> uuids = new ArrayList<>();
        for (Placement.Candidate c : chosen) {
            String replicaUuid = UUID.randomUUID().toString();
            uuids.add(replicaUuid);
            calls.add(clients.replicasAsync(world.endpoint(c.node())).createReplica(CreateReplicaRequest.newBuilder()
                    .setPool(c.pool()).setUuid(replicaUuid).setName(replicaName).setSize(bytes)
                    .setThin(yes(spec.getThin())).build()));
        }
        List<Replica> made = new ArrayList<>();
        List<String> madeOn = new ArrayList<>();
        MayastorException failure = null;
        for (int i = 0; i < chosen.size(); i++) {
            Placement.Candidate c = chosen.get(i);
            try {
                made.add(NodeClients.await(calls.get(i)));
                madeOn.add(c.node());
                LOG.log(Level.INFO, "{0}: replica {1} made on {2}/{3}", replicaName, uuids.get(i), c.node(), c.pool());
            } catch (StatusRuntimeException e) {
                MayastorException translated = NodeClients.translate(c.node(), e);
                if (failure == null) {
                    failure = translated;
                }
                if (translated.kind() == io.mayastorj.core.error.ErrorKind.RESOURCE_EXHAUSTED
                        || translated.kind() == io.mayastorj.core.error.ErrorKind.FAILED_PRECONDITION) {
                    // the pool's refusal (full, its replica limit, not online there), not its node's silence or a
                    // request of this volume's: the next placement tries the others first
                    refusedAt.put(c.node() + "/" + c.pool(), System.nanoTime());
                    LOG.log(Level.INFO, "{0}: pool {1}/{2} refused a replica ({3}): chosen after the others for {4} min",
                            replicaName, c.node(), c.pool(), translated.getMessage(), TimeUnit.NANOSECONDS.toMinutes(REFUSED_NANOS));
                }
            }
        }
        if (failure != null) {
            if (allOrNothing) {
                for (int i = 0; i < made.size(); i++) {
                    String uuid = made.get(i).getUuid();
                    try {
                        destroyReplica(world, madeOn.get(i), uuid);
                        LOG.log(Level.INFO, "{0}: replica {1} on {2} destroyed again: the volume is new and not every "
                                + "replica could be made ({3})", replicaName, uuid, madeOn.get(i), failure.getMessage());
                    } catch (MayastorException e) {
                        LOG.log(Level.WARNING, "{0}: replica {1} on {2} stays (it could not be destroyed: {3}); the volume "
                                + "keeps it", replicaName, uuid, madeOn.get(i), e.getMessage());
                    }
                }
            }
            throw failure;
        }
        return made;
    }

    /**
     * Keeps {@code wanted} replicas, one per node first: then drops those behind first, then those the
     * status does not record, then those last in the list. Drops none unless a replica in sync is kept,
     * and no second copy in sync on a node while a kept one is behind (it is a copy more until that one
     * is rebuilt). A dropped one leaves the nexus on {@code target} first; a nexus on another node is
     * destroyed later in the pass.
     */
    private List<Live> dropExcess(World world, List<Live> live, int wanted, Set<String> behind,
                                  List<MayastorVolume.Replica> recorded, String volume, String target) {
        List<Live> ordered = new ArrayList<>(live);
        ordered.sort(Comparator.comparing((Live r) -> behind.contains(r.uuid()))
                .thenComparing(r -> recorded.stream().noneMatch(x -> holds(x, r.uuid()))));
        // one per node first (a second on a node goes before one behind on a node of its own: that one was made to
        // spread the volume), then in that order
        List<Live> keep = new ArrayList<>();
        Set<String> keptNodes = new HashSet<>();
        for (Live r : ordered) {
            if (keep.size() < wanted && keptNodes.add(r.node())) {
                keep.add(r);
            }
        }
        for (Live r : ordered) {
            if (keep.size() < wanted && !keep.contains(r)) {
                keep.add(r);
            }
        }
        ordered.removeAll(keep);
        if (keep.stream().anyMatch(r -> behind.contains(r.uuid()))) {
            // a second copy in sync on a node goes only once the replica made to spread the volume is rebuilt: until
            // then it is what survives the loss of its node's other disk
            List<Live> later = ordered.stream().filter(r -> !behind.contains(r.uuid()) && keptNodes.contains(r.node())).toList();
            if (!later.isEmpty()) {
                ordered.removeAll(later);
                keep.addAll(later);
            }
        }
        ordered.addAll(0, keep); // the kept first: what follows them is dropped
        if (keep.stream().allMatch(r -> behind.contains(r.uuid()))) {
            if (keptAll.add(volume)) {
                LOG.log(Level.WARNING, "volume {0}: {1} replicas for {2}, none known to be in sync: none is destroyed",
                        volume, live.size(), wanted);
            }
            return live;
        }
        keptAll.remove(volume);
        for (Live extra : ordered.subList(keep.size(), ordered.size())) {
            for (Map.Entry<String, List<Nexus>> e : world.nexuses.entrySet()) {
                if (target != null && !e.getKey().equals(target)) {
                    // a stale nexus where the volume was (partitioned, taken over): the dropped replica may be its
                    // last child in sync, which its node refuses to remove, and the pass failed so for ever
                    continue;
                }
                for (Nexus n : e.getValue()) {
                    for (Child ch : n.getChildrenList()) {
                        if (ch.getUri().contains(extra.uuid())) {
                            removeChild(world, e.getKey(), n.getName(), ch.getUri());
                        }
                    }
                }
            }
            destroyReplica(world, extra.node(), extra.uuid());
            LOG.log(Level.INFO, "volume {0}: one replica too many: destroyed {1} on {2}", volume, extra.uuid(), extra.node());
        }
        return keep;
    }

    private void destroyReplica(World world, String node, String replicaUuid) {
        try {
            clients.replicas(world.endpoint(node)).destroyReplica(DestroyReplicaRequest.newBuilder().setUuid(replicaUuid)
                    .setForce(true).build());
        } catch (StatusRuntimeException e) {
            MayastorException me = NodeClients.translate(node, e);
            if (me.kind() != io.mayastorj.core.error.ErrorKind.NOT_FOUND) {
                throw me;
            }
        }
    }

    private void destroyNexus(World world, String node, String uuid, String volume) {
        try {
            // hosts hear that the path is changing (their I/O waits instead of failing) while the nexus
            // moves; a fenced one refuses, as it is inaccessible already
            clients.nexus(world.endpoint(node)).setNexusAnaState(SetNexusAnaStateRequest.newBuilder().setNexus(uuid)
                    .setAnaState(NvmeAnaState.NVME_ANA_CHANGE_STATE).build());
        } catch (StatusRuntimeException e) {
            LOG.log(Level.DEBUG, "volume {0}: nexus on {1} not set to ANA change: {2}", volume, node, e.getStatus());
        }
        try {
            clients.nexus(world.endpoint(node)).destroyNexus(DestroyNexusRequest.newBuilder().setNexus(uuid).build());
            LOG.log(Level.INFO, "volume {0}: nexus on {1} destroyed", volume, node);
        } catch (StatusRuntimeException e) {
            MayastorException me = NodeClients.translate(node, e);
            if (me.kind() != io.mayastorj.core.error.ErrorKind.NOT_FOUND) {
                throw me;
            }
        }
    }

    private void removeChild(World world, String node, String nexus, String uri) {
        try {
            // the pass goes on with the nexus as it is now: ensureNexus would otherwise remove the child again,
            // get NOT_FOUND, and report the volume degraded for a pass
            world.changed(node, clients.nexus(world.endpoint(node)).removeChildNexus(RemoveChildNexusRequest.newBuilder()
                    .setNexus(nexus).setUri(uri).build()));
        } catch (StatusRuntimeException e) {
            throw NodeClients.translate(node, e);
        }
    }

    /** The URI the nexus on {@code target} opens a replica by: local, or shared over nvmf to the target only. */
    private String childUri(World world, Live r, String target) {
        if (r.node().equals(target)) {
            if (r.shareUri() != null) {
                // shared to the nexus that served before (switch-over): that one must not reach it any more
                try {
                    clients.replicas(world.endpoint(r.node())).unshareReplica(UnshareReplicaRequest.newBuilder().setUuid(r.uuid())
                            .setForce(true).build());
                } catch (StatusRuntimeException e) {
                    throw NodeClients.translate(r.node(), e);
                }
            }
            return "bdev:///" + r.uuid();
        }
        String hostNqn = world.nodes.get(target).hostNqn();
        if (r.shareUri() != null && r.allowedHosts().equals(List.of(hostNqn))) {
            return r.shareUri();
        }
        var replicas = clients.replicas(world.endpoint(r.node()));
        try {
            if (r.shareUri() != null) {
                replicas.unshareReplica(UnshareReplicaRequest.newBuilder().setUuid(r.uuid()).setForce(true).build());
            }
            return replicas.shareReplica(ShareReplicaRequest.newBuilder().setUuid(r.uuid()).setShare(ShareProtocol.NVMF)
                    .addAllowedHosts(hostNqn).build()).getUri();
        } catch (StatusRuntimeException e) {
            throw NodeClients.translate(r.node(), e);
        }
    }

    /** Replica uuid of a child URI: bdev:///U or nvmf://…:U?uuid=U. */
    private static String replicaOf(String childUri) {
        return NexusRecords.replicaOf(childUri);
    }

    /** How long the recorded replica has been missing from its reachable node, as this control plane saw it. */
    private long missingMillis(String volume, MayastorVolume.Replica rec) {
        long since = missingSince.computeIfAbsent(missingKey(volume, rec), k -> System.nanoTime());
        if (missingSince.size() > 10_000) {
            missingSince.clear(); // (entries of deleted volumes are not tracked one by one)
        }
        // from when this control plane started acting at most: an entry of an earlier term says nothing of now
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - Math.max(since, startedNanos));
    }

    private static String missingKey(String volume, MayastorVolume.Replica rec) {
        return volume + "/" + (rec.getUri() == null ? rec.getNode() : replicaOf(rec.getUri()));
    }

    /** Whether the status entry {@code recorded} is of replica {@code uuid} (its URI names the uuid). */
    private static boolean holds(MayastorVolume.Replica recorded, String uuid) {
        return recorded.getUri() != null && replicaOf(recorded.getUri()).equalsIgnoreCase(uuid);
    }

    /**
     * Makes the nexus what the volume needs on {@code target}; grows it to {@code replicaBytes} once
     * every replica holds that much. Its size goes to {@code size[0]}.
     */
    private MayastorVolume.Nexus ensureNexus(World world, MayastorVolume msv, String uuid, String target, List<Live> live,
                                             List<MayastorVolume.Replica> away, Set<String> behind, long replicaBytes,
                                             long[] size) {
        MayastorVolume.Spec spec = msv.getSpec();
        long bytes = msv.servedBytes();
        long has = msv.getStatus() == null || msv.getStatus().getSize() == null ? 0 : msv.getStatus().getSize();
        String endpoint = world.endpoint(target);
        var nexusApi = clients.nexus(endpoint);
        Map<String, String> wantedUris = new LinkedHashMap<>(); // replica uuid -> child URI
        // replicas that cannot be made children this pass (their node refused the share): tried again shortly,
        // and not taken out of a nexus that has them. One copy that cannot be reached must not keep a nexus
        // with others in sync from being served (a switch-over's new nexus, say, beside a stale copy behind a
        // broken storage network)
        Map<String, MayastorException> notNow = new LinkedHashMap<>();
        for (Live r : live) {
            try {
                wantedUris.put(r.uuid(), childUri(world, r, target));
            } catch (MayastorException e) {
                if (e.kind() != io.mayastorj.core.error.ErrorKind.UNAVAILABLE) {
                    throw e; // a refusal, not a passing trouble: the pass fails and says why
                }
                notNow.put(r.uuid(), e);
            }
        }
        Optional<Nexus> existing = world.nexus(target, uuid);
        if (existing.isPresent() && superseded(existing.get())) {
            // fenced: another nexus took the volume over while this one's node was away (a move back there came
            // before a pass destroyed it). Kept, it failed every I/O, hosts were sent to it, and its children's
            // states (as they were when it stopped serving) cleared the marks of stale replicas: made anew
            LOG.log(Level.WARNING, "volume {0}: the nexus on {1} was superseded by a takeover: destroyed, and made again",
                    msv.getMetadata().getName(), target);
            destroyNexus(world, target, uuid, msv.getMetadata().getName());
            existing = Optional.empty();
        }
        Nexus nexus;
        try {
            if (existing.isEmpty()) {
                if (records != null) {
                    // the node builds the nexus on what the record trusts and refuses one made from the status
                    // alone when the two have no replica in common: made from the record's word, not refused for ever
                    try {
                        Optional<NexusRecords.Record> record = record(msv);
                        if (record.isPresent() && applyRecord(record.get().inSync(), live, behind)) {
                            LOG.log(Level.WARNING, "volume {0}: its nexus record calls {1} in sync: the status''s marks "
                                    + "follow it", msv.getMetadata().getName(), record.get().inSync());
                        }
                    } catch (java.io.IOException e) {
                        LOG.log(Level.DEBUG, "volume {0}: the nexus record cannot be read: {1}", msv.getMetadata().getName(),
                                e.getMessage());
                    }
                }
                List<String> inSync = new ArrayList<>();
                wantedUris.forEach((replica, uri) -> {
                    if (!behind.contains(replica)) {
                        inSync.add(uri);
                    }
                });
                Optional<String> inSyncNotNow = notNow.keySet().stream().filter(r -> !behind.contains(r)).findFirst();
                if (inSync.isEmpty() && inSyncNotNow.isPresent()) {
                    throw notNow.get(inSyncNotNow.get()); // the copies in sync are the ones that could not be had
                }
                if (inSync.isEmpty()) {
                    throw MayastorException.failedPrecondition("volume %s: no replica is known to be in sync; it is not "
                            + "published until one is", msv.getMetadata().getName());
                }
                if (replicaBytes < has) {
                    throw MayastorException.failedPrecondition("volume %s: a replica holds %d bytes, less than the volume's "
                            + "%d; it is not published on a smaller device", msv.getMetadata().getName(), replicaBytes, has);
                }
                // with the incarnation seen, a record NATS lost is not taken for a new volume's (every child in
                // sync). Without NATS each node keeps its own records: none on a node is no news there
                nexus = nexusApi.createNexus(CreateNexusRequest.newBuilder().setName(uuid).setUuid(uuid)
                        .setSize(Math.min(replicaBytes, bytes)).addAllChildren(inSync)
                        .setKnownIncarnation(records == null ? 0 : knownIncarnation(msv)).build());
                LOG.log(Level.INFO, "volume {0}: nexus made on {1} over {2}", msv.getMetadata().getName(), target, inSync);
            } else {
                nexus = existing.get();
                if (nexus.getAnaState() == NvmeAnaState.NVME_ANA_CHANGE_STATE) {
                    // set by a move's destroy that then failed (see destroyNexus), and the volume is back here:
                    // kept so, every I/O was answered "path changing" for good
                    nexus = nexusApi.setNexusAnaState(SetNexusAnaStateRequest.newBuilder().setNexus(uuid)
                            .setAnaState(NvmeAnaState.NVME_ANA_OPTIMIZED_STATE).build());
                    LOG.log(Level.WARNING, "volume {0}: its nexus on {1} was left changing paths by a destroy that failed: "
                            + "it serves again", msv.getMetadata().getName(), target);
                }
            }
            seen(msv, nexus);
            Set<String> present = new HashSet<>();
            for (Child c : nexus.getChildrenList()) {
                present.add(c.getUri());
            }
            for (Map.Entry<String, String> w : wantedUris.entrySet()) {
                if (!present.contains(w.getValue())) {
                    try {
                        nexus = nexusApi.addChildNexus(AddChildNexusRequest.newBuilder().setNexus(uuid).setUri(w.getValue())
                                .build());
                    } catch (StatusRuntimeException e) {
                        MayastorException why = NodeClients.translate(target, e);
                        if (why.kind() != io.mayastorj.core.error.ErrorKind.UNAVAILABLE) {
                            throw e;
                        }
                        // the nexus cannot open it now (the target cannot reach the replica's node): the rest goes on,
                        // the nexus is served without it, and it is tried again shortly
                        notNow.put(w.getKey(), why);
                    }
                }
            }
            notNow.forEach((replica, why) -> LOG.log(Level.WARNING, "volume {0}: replica {1} cannot be a child of its nexus on "
                    + "{2} now (tried again shortly): {3}", msv.getMetadata().getName(), replica, target, why.getMessage()));
            if (!notNow.isEmpty()) {
                later.accept(msv.getMetadata().getName(), Duration.ofSeconds(5));
            }
            for (Child c : nexus.getChildrenList()) {
                String replica = replicaOf(c.getUri());
                if (notNow.containsKey(replica)) {
                    continue; // kept as it is (faulted, most likely) until it can be had again
                }
                if (!wantedUris.containsKey(replica)) {
                    if (away.stream().noneMatch(a -> a.getUri() != null && replicaOf(a.getUri()).equals(replica))) {
                        // given up (replaced) or gone: out of the nexus (never the last in-sync child: the node
                        // refuses). One that is waited for (away within the grace, or maybe the only copy) stays
                        nexus = nexusApi.removeChildNexus(RemoveChildNexusRequest.newBuilder().setNexus(uuid)
                                .setUri(c.getUri()).build());
                    }
                } else if (c.getState() == ChildState.CHILD_FAULTED) {
                    // its replica is reachable again: back into the nexus (a partial rebuild within the window)
                    try {
                        nexus = nexusApi.addChildNexus(AddChildNexusRequest.newBuilder().setNexus(uuid).setUri(c.getUri()).build());
                    } catch (StatusRuntimeException e) {
                        if (e.getStatus().getCode() != io.grpc.Status.Code.UNAVAILABLE) {
                            throw e;
                        }
                        // not yet (its target fenced while writes of the lost connection may land, its node busy):
                        // the rest of the pass goes on, and this child is tried again shortly
                        LOG.log(Level.INFO, "volume {0}: child {1} cannot be added back yet: {2}", msv.getMetadata().getName(),
                                c.getUri(), e.getStatus().getDescription());
                        later.accept(msv.getMetadata().getName(), Duration.ofSeconds(5));
                    }
                }
            }
            String protocol = spec.getProtocol() == null ? "nvmf" : spec.getProtocol();
            NodeRegistry.NodeState app = spec.getAppNode() == null ? null : world.nodes.get(spec.getAppNode());
            // the host the share is for: an iSCSI initiator's name follows from its node's name alone
            String host = app != null ? (protocol.equals("iscsi") ? app.hostIqn() : app.hostNqn())
                    : spec.getAppNode() != null && protocol.equals("iscsi") ? NodeRegistry.hostIqn(spec.getAppNode()) : null;
            String volume = msv.getMetadata().getName();
            boolean awaitsAppNode = !protocol.equals("none") && nexus.getDeviceUri().isEmpty() && spec.getAppNode() != null
                    && host == null;
            if (!awaitsAppNode) {
                awaitingAppNode.remove(volume);
            }
            if (awaitsAppNode) {
                // the application's node has not registered with this control plane yet (it started or took
                // over since, and an application-only node has no msn to recall it by): a share without its
                // host NQN would take any host, a second writer. Shared once the node's first heartbeat names it
                LOG.log(awaitingAppNode.add(volume) ? Level.INFO : Level.DEBUG,
                        "volume {0}: the nexus on {1} is shared once node {2}, where it is published, registers", volume,
                        target, spec.getAppNode());
                later.accept(volume, Duration.ofSeconds(5));
            } else if (!protocol.equals("none") && nexus.getDeviceUri().isEmpty()) {
                PublishNexusRequest.Builder publish = PublishNexusRequest.newBuilder().setNexus(uuid)
                        .setShare(protocol.equals("iscsi") ? ShareProtocol.ISCSI : ShareProtocol.NVMF);
                if (host != null) { // the application's node only
                    publish.addAllowedHosts(host);
                }
                nexus = nexusApi.publishNexus(publish.build());
                LOG.log(Level.INFO, "volume {0}: published on {1}: {2}", msv.getMetadata().getName(), target,
                        nexus.getDeviceUri());
            }
            long grownTo = Math.min(replicaBytes, bytes);
            if (nexus.getSize() < grownTo) {
                try {
                    nexus = nexusApi.resizeNexus(ResizeNexusRequest.newBuilder().setNexus(uuid).setRequestedSize(grownTo).build());
                    LOG.log(Level.INFO, "volume {0}: nexus grown to {1} bytes", msv.getMetadata().getName(), grownTo);
                } catch (StatusRuntimeException e) {
                    // a child rebuilding or faulted: the nexus grows at a later pass, once every child is online
                    LOG.log(Level.INFO, "volume {0}: the nexus grows later: {1}", msv.getMetadata().getName(),
                            NodeClients.translate(target, e).getMessage());
                }
            }
        } catch (StatusRuntimeException e) {
            throw NodeClients.translate(target, e);
        }
        size[0] = nexus.getSize();
        MayastorVolume.Nexus status = describe(nexus, target, uuid);
        for (Child c : nexus.getChildrenList()) {
            if (c.getState() == ChildState.CHILD_ONLINE) {
                behind.remove(replicaOf(c.getUri())); // rebuilt: in sync from now on
            } else if (wantedUris.containsKey(replicaOf(c.getUri()))) {
                // faulted (the nexus writes without it) or being rebuilt: not a copy to trust, also for a
                // nexus made elsewhere later, whose node has no record of this one's
                behind.add(replicaOf(c.getUri()));
            }
        }
        for (String replica : notNow.keySet()) {
            if (nexus.getChildrenList().stream().noneMatch(c -> c.getState() == ChildState.CHILD_ONLINE
                    && replicaOf(c.getUri()).equals(replica))) {
                behind.add(replica); // the nexus is written without it
            }
        }
        return status;
    }

    /**
     * A nexus fenced by a takeover: it serves nothing (faulted) and its path is inaccessible. (One whose
     * children all faulted keeps an accessible path; one the control plane set inaccessible for a move
     * still has children it reads from.)
     */
    static boolean superseded(Nexus n) {
        return n.getState() == io.mayastorj.api.v1.NexusState.NEXUS_FAULTED
                && n.getAnaState() == NvmeAnaState.NVME_ANA_INACCESSIBLE_STATE;
    }

    /** The nexus as the volume's status shows it. */
    static MayastorVolume.Nexus describe(Nexus nexus, String target, String uuid) {
        MayastorVolume.Nexus status = new MayastorVolume.Nexus();
        status.setNode(target);
        status.setDeviceUri(nexus.getDeviceUri().isEmpty() ? "bdev:///" + uuid : nexus.getDeviceUri());
        status.setState(nexus.getState().name().replace("NEXUS_", "").toLowerCase(Locale.ROOT));
        for (Child c : nexus.getChildrenList()) {
            String state = c.getState().name().replace("CHILD_", "").toLowerCase(Locale.ROOT);
            // whole percents: the status is written again whenever it changes, and a finer figure made a
            // write per pass (about one a second) for each volume whose rebuild moves
            Double progress = c.hasRebuild() ? Math.floor(c.getRebuild().getProgress()) : null;
            status.getChildren().add(new MayastorVolume.Child(c.getUri(), state,
                    c.getState() == ChildState.CHILD_DEGRADED ? progress : null));
        }
        return status;
    }

    private boolean markersDropped;
    private long markersDroppedNanos;

    /** At most once an hour, the markers the deleted volumes' record purges left in the NATS bucket go. */
    private void dropPurgeMarkers() {
        if (records == null || markersDropped && System.nanoTime() - markersDroppedNanos < TimeUnit.HOURS.toNanos(1)) {
            return;
        }
        markersDropped = true; // tried once an hour, failed or not: a JetStream timing out must not slow every sweep
        markersDroppedNanos = System.nanoTime();
        try {
            records.dropPurgeMarkers();
        } catch (java.io.IOException e) {
            LOG.log(Level.DEBUG, "the nexus records' purge markers stay for another hour: {0}", e.getMessage());
        }
    }

    /** Replicas (node/uuid) of no volume in the store, and since when the sweeps have seen them so. */
    private final Map<String, Long> orphanSince = new java.util.concurrent.ConcurrentHashMap<>();
    private volatile long orphanGraceNanos = TimeUnit.HOURS.toNanos(1);

    /** How long a replica of no volume in the store is kept before the sweep destroys it (0: at once). */
    public void orphanGrace(Duration grace) {
        orphanGraceNanos = grace.toNanos();
    }

    /** In a grow's reason: it failed for another cause than room, which a later attempt may not meet. */
    public static final String GROW_FAILED_FOR_NOW = " for now: ";

    /** Why a volume deleted while published waits for its unpublish (its event's message). */
    static final String DELETION_BLOCKED = " is published to node ";
    /** Volumes (uids) whose deletion waits for their unpublish, its event given. */
    private final Set<String> deletionNoted = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /** Deleting: the nexus and every reachable replica go; replicas on nodes away are swept when they return. */
    private void tearDown(MayastorVolume msv, String uuid, String replicaName) {
        String name = msv.getMetadata().getName();
        World world = new World();
        String target = msv.getStatus() != null && msv.getStatus().getNexus() != null ? msv.getStatus().getNexus().getNode() : null;
        if (target != null && msv.getSpec().getTargetNode() == null
                && MayastorVolume.NEXUS_UNKNOWN.equals(msv.getStatus().getNexus().getState())) {
            target = null; // unpublished: kept only to be read when its node is back, not waited for
        }
        boolean nexusAway = target != null && !world.reachable(target) && world.nodes.containsKey(target);
        if (nexusAway) {
            // its nexus may still serve a host cut off from us: its replicas go once the node has been
            // silent for the grace period, and its nexus when it is back (the sweep), so that a node
            // that never returns does not hold the deletion for ever
            long silent = Math.min(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startedNanos), registry.silentMillis(target));
            if (silent < grace.toMillis()) {
                writeStatus(msv, MayastorVolume.OFFLINE, "being deleted: waiting up to " + ((grace.toMillis() - silent + 999) / 1000)
                                + " s for node " + target + " to take its nexus down", msv.getStatus().getNexus(),
                        msv.getStatus().getReplicas(), msv.getSpec().getRequiredBytes());
                later.accept(name, Duration.ofMillis(grace.toMillis() - silent + 50));
                return;
            }
        }
        for (String node : world.nexuses.keySet()) {
            if (world.nexus(node, uuid).isPresent()) {
                destroyNexus(world, node, uuid, name);
            }
        }
        for (Live r : world.replicasOf(replicaName, true)) {
            destroyReplica(world, r.node(), r.uuid());
            LOG.log(Level.INFO, "volume {0} deleted: replica {1} on {2} destroyed", name, r.uuid(), r.node());
        }
        // a storage node away may hold one too (recorded or not: a pass may have died before its record):
        // its node keeps the name until it is back, written before the volume can go
        for (NodeRegistry.NodeState n : world.nodes.values()) {
            if ((n.storage() || n.id().equals(target)) && !world.reachable(n.id())) {
                MayastorNode msn = store.change(MayastorNode.class, n.id(), node -> node != null
                        && editDeleted(node, names -> names.add(replicaName)));
                LOG.log(msn == null ? Level.WARNING : Level.INFO, "volume {0} deleted while node {1} is away: {2}", name, n.id(),
                        msn == null ? "it has no MayastorNode to remember the replica by; remove it there with 'mayastor ctl "
                                + "replica destroy' if it holds one" : n.id().equals(target)
                                ? "its nexus, and its replica if it holds one, are destroyed when it is back"
                                : "its replica, if it holds one, is destroyed when it is back");
            }
        }
        if (records != null) {
            // each volume published once left its record in the bucket for good; one a nexus on a node
            // away writes again later stays (harmless: no volume has that uid)
            try {
                records.delete(msv.getMetadata().getUid());
            } catch (java.io.IOException e) {
                LOG.log(Level.WARNING, "volume {0} deleted: its nexus record in NATS stays ({1})", name, e.getMessage());
            }
        }
        incarnations.remove(msv.getMetadata().getUid());
        staleRecords.removeIf(k -> k.startsWith(msv.getMetadata().getUid() + "/"));
        msv.getMetadata().getFinalizers().remove(Kinds.FINALIZER);
        store.update(msv);
        LOG.log(Level.INFO, "volume {0} is gone", name);
    }

    /**
     * Replicas of volumes that no longer exist, on nodes that were away when their volume was
     * deleted (or left by a crash): destroyed. Only names this operator gives are touched.
     */
    /** Every pool the node lists is online, and so is every pool a MayastorPool made there and keeps. */
    private boolean everyPoolOnline(World world, String node) {
        return world.pools.getOrDefault(node, List.of()).stream().allMatch(p -> p.getState() == PoolState.POOL_ONLINE)
                && store.list(MayastorPool.class).stream().filter(p -> p.getSpec() != null && node.equals(p.getSpec().getNode())
                        && p.getMetadata().getFinalizers().contains(Kinds.FINALIZER) // made there (not a spec that never was)
                        && p.getMetadata().getDeletionTimestamp() == null)
                .allMatch(p -> world.poolOnline(node, p.getMetadata().getName()));
    }

    public void sweep() {
        dropPurgeMarkers();
        // the nodes first, then the volumes: a replica seen on a node was made for a volume that was in
        // the store before it, so it is in the list below unless that volume is gone
        World world = world();
        Set<String> volumes = new HashSet<>();
        Set<String> volumeNames = new HashSet<>();
        for (MayastorVolume v : store.list(MayastorVolume.class)) {
            volumes.add(REPLICA_PREFIX + v.getMetadata().getUid());
            volumeNames.add(v.getMetadata().getName());
        }
        awaitingAppNode.retainAll(volumeNames); // (deleted while their nexus waited)
        // replicas a deleted volume left on nodes that were away: this store named them, so they go even
        // when it has no volume left; each name is forgotten once its node is seen without the replica
        Set<String> gone = new HashSet<>();
        for (MayastorNode msn : store.list(MayastorNode.class)) {
            String node = msn.getMetadata().getName();
            Set<String> deleted = deleted(msn);
            if (deleted.isEmpty() || !world.reachable(node)) {
                continue;
            }
            // each on its own: one that cannot go now (its pool degraded) must not stop the others, nor the
            // pools' sweep after this one; its name stays for the next sweep
            Set<String> kept = new HashSet<>();
            for (Nexus nexus : world.nexuses.getOrDefault(node, List.of())) {
                // the operator names a nexus by its volume's uid, its replicas by that uid with the prefix
                if (deleted.contains(REPLICA_PREFIX + nexus.getUuid()) && nexus.getName().equals(nexus.getUuid())) {
                    try {
                        destroyNexus(world, node, nexus.getUuid(), REPLICA_PREFIX + nexus.getUuid());
                        LOG.log(Level.INFO, "nexus {0} on {1} belonged to a volume deleted while the node was away: destroyed",
                                nexus.getUuid(), node);
                    } catch (RuntimeException e) {
                        kept.add(REPLICA_PREFIX + nexus.getUuid());
                        LOG.log(Level.WARNING, "nexus {0} on {1} of a deleted volume could not be destroyed: {2}",
                                nexus.getUuid(), node, e.getMessage());
                    }
                }
            }
            Set<String> destroyed = new HashSet<>();
            for (Replica r : world.replicas.get(node)) {
                if (deleted.contains(r.getName())) {
                    try {
                        destroyReplica(world, node, r.getUuid());
                        gone.add(r.getUuid());
                        destroyed.add(r.getName());
                        LOG.log(Level.INFO, "replica {0} on {1} belonged to a volume deleted while the node was away ({2}): "
                                + "destroyed", r.getUuid(), node, r.getName());
                    } catch (RuntimeException e) {
                        kept.add(r.getName());
                        LOG.log(Level.WARNING, "replica {0} on {1} of a deleted volume could not be destroyed: {2}",
                                r.getUuid(), node, e.getMessage());
                    }
                }
            }
            Set<String> forget = new HashSet<>(deleted);
            forget.removeAll(kept);
            if (!everyPoolOnline(world, node)) {
                // a replica in a pool the node does not serve online (importing, its disk moved or damaged) is
                // not listed: not seen is not gone. Forgotten, it outlived its volume once the pool was back
                forget.retainAll(destroyed);
            }
            store.change(MayastorNode.class, node, n -> n != null && editDeleted(n, names -> names.removeAll(forget)));
        }
        if (volumes.isEmpty()) {
            orphanSince.clear(); // nothing is counted on such a store's word either
            // a store with no volume at all beside nodes holding volumes' replicas is more likely a new or
            // wrong store (another state directory, namespace or cluster) than every volume deleted while
            // their nodes were away: nothing is destroyed on its word
            long held = world.replicas.values().stream().flatMap(List::stream).filter(r -> r.getName().startsWith(REPLICA_PREFIX)
                    && !gone.contains(r.getUuid())).count();
            if (held > 0 && !emptyStoreWarned) {
                LOG.log(Level.WARNING, "the store has no volumes, yet the nodes hold {0} volume replicas: none is destroyed "
                        + "(a new or wrong store?); remove them with 'mayastor ctl replica destroy' if they are not wanted", held);
                emptyStoreWarned = true;
            }
            return;
        }
        emptyStoreWarned = false;
        long now = System.nanoTime();
        Set<String> orphans = new HashSet<>();
        world.replicas.forEach((node, list) -> {
            for (Replica r : list) {
                if (r.getName().startsWith(REPLICA_PREFIX) && !volumes.contains(r.getName()) && !gone.contains(r.getUuid())) {
                    // kept a while first: a store that holds volumes, but not this one's (a wrong namespace or state
                    // directory, a restored resource under a new uid), would have every other volume's data destroyed
                    // at its first sweep; a crash's leftover costs only its space meanwhile
                    String key = node + "/" + r.getUuid();
                    orphans.add(key);
                    Long since = orphanSince.putIfAbsent(key, now);
                    if (since == null && orphanGraceNanos > 0) {
                        LOG.log(Level.WARNING, "replica {0} on {1} ({2}) is of no volume in the store: destroyed in {3} s unless "
                                + "a volume claims it (orphan.grace.seconds; a wrong store?)", r.getUuid(), node, r.getName(),
                                String.valueOf(TimeUnit.NANOSECONDS.toSeconds(orphanGraceNanos)));
                    }
                    if (since == null ? orphanGraceNanos > 0 : now - since < orphanGraceNanos) {
                        continue;
                    }
                    try {
                        destroyReplica(world, node, r.getUuid());
                        LOG.log(Level.INFO, "replica {0} on {1} belonged to a volume that is gone ({2}): destroyed", r.getUuid(),
                                node, r.getName());
                    } catch (RuntimeException e) {
                        LOG.log(Level.WARNING, "replica {0} on {1} of a volume that is gone could not be destroyed (the next "
                                + "sweep tries again): {2}", r.getUuid(), node, e.getMessage());
                    }
                }
            }
        });
        orphanSince.keySet().retainAll(orphans); // claimed again, destroyed, or its node away: counted anew when seen
    }

    /** The replica names a node keeps of volumes deleted while it was away: only names this operator gives. */
    private static final NodeNameList DELETED = new NodeNameList(Kinds.DELETED_REPLICAS, n -> n.startsWith(REPLICA_PREFIX));

    private static Set<String> deleted(MayastorNode msn) {
        return DELETED.read(msn);
    }

    private static boolean editDeleted(MayastorNode msn, java.util.function.Consumer<Set<String>> edit) {
        return DELETED.edit(msn, edit);
    }

    private void writeStatus(MayastorVolume msv, String state, String reason, MayastorVolume.Nexus nexus,
                             List<MayastorVolume.Replica> replicas, Long size) {
        writeStatus(msv, state, reason, nexus, replicas, size, null);
    }

    /** With {@code notReady}: the Ready condition is False for that reason, whatever the state. */
    private void writeStatus(MayastorVolume msv, String state, String reason, MayastorVolume.Nexus nexus,
                             List<MayastorVolume.Replica> replicas, Long size, String notReady) {
        MayastorVolume.Status s = new MayastorVolume.Status();
        s.setState(state);
        s.setReason(reason);
        s.setObservedGeneration(msv.getMetadata().getGeneration()); // the spec this pass worked from
        s.setSize(replicas.isEmpty() ? null : size);
        s.setNexus(nexus);
        // a nexus kept while its node cannot be reached serves nothing this control plane knows of
        s.setTargetNodes(nexus == null || MayastorVolume.NEXUS_UNKNOWN.equals(nexus.getState()) ? null : List.of(nexus.getNode()));
        s.setReplicas(replicas.isEmpty() ? null : replicas);
        // with NATS only: without it each node counts its own (a cluster that turns NATS on later starts afresh)
        int incarnation = records == null ? 0 : knownIncarnation(msv);
        s.setNexusIncarnation(incarnation == 0 ? null : incarnation);
        MayastorVolume.Status old = msv.getStatus();
        boolean available = MayastorVolume.HEALTHY.equals(state) || MayastorVolume.DEGRADED.equals(state);
        s.setConditions(notReady != null ? Condition.readyAndAvailable(old == null ? null : old.getConditions(), false, available,
                notReady, reason, s.getObservedGeneration()) : Condition.readyAndAvailable(old == null ? null : old.getConditions(),
                MayastorVolume.HEALTHY.equals(state), available, state, reason, s.getObservedGeneration()));
        if (Statuses.same(old, s)) {
            return;
        }
        boolean changed = old == null || !Objects.equals(old.getState(), state);
        if (changed) {
            LOG.log(Level.INFO, "volume {0} is {1}{2}", msv.getMetadata().getName(), state, reason == null ? "" : ": " + reason);
        }
        msv.setStatus(s);
        msv = store.updateStatus(msv);
        if (changed) {
            store.event(msv, MayastorVolume.HEALTHY.equals(state) ? "Normal" : "Warning", Events.reason(state),
                    "volume " + msv.getMetadata().getName() + " is " + state + (reason == null ? "" : ": " + reason));
        }
    }

}
