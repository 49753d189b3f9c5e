package io.mayastorj.control.internal.operator;

import io.grpc.StatusRuntimeException;
import io.mayastorj.api.v1.CreatePoolRequest;
import io.mayastorj.api.v1.DestroyPoolRequest;
import io.mayastorj.api.v1.ListPoolOptions;
import io.mayastorj.api.v1.Pool;
import io.mayastorj.control.internal.model.Condition;
import io.mayastorj.control.internal.model.Kinds;
import io.mayastorj.control.internal.model.MayastorNode;
import io.mayastorj.control.internal.model.MayastorPool;
import io.mayastorj.control.internal.nodes.NodeClients;
import io.mayastorj.control.internal.registry.NodeRegistry;
import io.mayastorj.control.internal.store.ResourceStore;
import io.mayastorj.core.error.ErrorKind;
import io.mayastorj.core.error.MayastorException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * Makes each MayastorPool exist on its node (CreatePool, which imports a pool the disk holds
 * already) and reports the node's view of it; a pool being deleted is destroyed on its node once it
 * holds no replicas, and only then let go. A bad spec, an unknown node or a disk another pool
 * claims leaves the nodes untouched, with the reason in the status.
 */
public final class PoolOperator {

    private static final Logger LOG = System.getLogger("mayastor.control");

    private final ResourceStore store;
    private final NodeRegistry registry;
    private final NodeClients clients;
    /** How long a deleted pool waits for its node before it is let go (the node keeps its name: swept on return). */
    private final Duration grace;
    /**
     * A change of {@code used} alone is written at most this often per pool: each status write comes
     * back as a watch event and a pass, and a thin pool being filled changes {@code used} at every
     * pass — written each time, the operator went round that loop as fast as the API server answered.
     * The periodic resync writes what was held back.
     */
    static final long USED_REFRESH_NANOS = TimeUnit.SECONDS.toNanos(5);
    private final Map<String, Long> statusWrittenAt = new ConcurrentHashMap<>();
    private static final String MAKING = "being made on node ";
    LongSupplier clock = System::nanoTime;
    /** Monotonic; reset when this control plane starts leading (silences are counted from there). */
    private volatile long startedNanos = System.nanoTime();

    /** This control plane acts from now on (it took the lease): a node's silence counts from here at most. */
    public void startedActing() {
        startedNanos = System.nanoTime();
    }

    public PoolOperator(ResourceStore store, NodeRegistry registry, NodeClients clients, Duration grace) {
        this.store = store;
        this.registry = registry;
        this.clients = clients;
        this.grace = grace;
    }

    /** Why the pool cannot be made, before any node is asked; or null. */
    String invalid(MayastorPool msp) {
        MayastorPool.Spec spec = msp.getSpec();
        if (spec == null || spec.getNode() == null || spec.getNode().isBlank()) {
            return "spec.node is empty";
        }
        if (spec.getDisks() == null || spec.getDisks().size() != 1 || spec.getDisks().get(0).isBlank()) {
            return "a pool takes exactly one disk, spec.disks lists " + (spec.getDisks() == null ? 0 : spec.getDisks().size());
        }
        Optional<NodeRegistry.NodeState> node = registry.node(spec.getNode());
        if (node.isEmpty()) {
            return "node " + spec.getNode() + " is not registered";
        }
        if (!node.get().storage()) {
            return "node " + spec.getNode() + " holds no storage: it only attaches volumes (mayastor csi-node)";
        }
        // a second pool on the same disk of the same node: the one made on the node has it, else the
        // older (creation times have whole seconds: one made a moment before another may tie with it)
        Optional<MayastorPool> first = store.list(MayastorPool.class).stream()
                .filter(p -> p.getSpec() != null && spec.getNode().equals(p.getSpec().getNode())
                        && p.getSpec().getDisks() != null && p.getSpec().getDisks().equals(spec.getDisks()))
                .min(Comparator.comparing((MayastorPool p) -> !p.getMetadata().getFinalizers().contains(Kinds.FINALIZER))
                        .thenComparing(p -> p.getMetadata().getCreationTimestamp())
                        .thenComparing(p -> p.getMetadata().getName()));
        if (first.isPresent() && !first.get().getMetadata().getName().equals(msp.getMetadata().getName())) {
            return "disk " + spec.getDisks().get(0) + " of node " + spec.getNode() + " belongs to pool "
                    + first.get().getMetadata().getName();
        }
        return null;
    }

    public void reconcile(String name) {
        Optional<MayastorPool> found = store.get(MayastorPool.class, name);
        if (found.isEmpty()) {
            statusWrittenAt.remove(name);
            return;
        }
        MayastorPool msp = found.get();
        boolean deleting = msp.getMetadata().getDeletionTimestamp() != null;
        boolean ours = msp.getMetadata().getFinalizers().contains(Kinds.FINALIZER); // we may have made it on the node
        String invalid = invalid(msp);
        if (invalid != null && deleting && ours && msp.getSpec() != null && msp.getSpec().getNode() != null
                && registry.node(msp.getSpec().getNode()).filter(NodeRegistry.NodeState::storage).isPresent()) {
            // made on its node, whatever its spec says now (edited disks, a newer claim on the disk):
            // destroyed there by name like any other, never let go with the pool left behind
            invalid = null;
        }
        if (invalid != null) {
            if (deleting) {
                release(msp, ours ? invalid + "; a pool of that name left on a node is not destroyed"
                        : "nothing was made for it");
            } else {
                writeStatus(msp, MayastorPool.PENDING, invalid, null);
            }
            return;
        }
        NodeRegistry.NodeState node = registry.node(msp.getSpec().getNode()).orElseThrow();
        if (!node.online()) {
            if (deleting && ours) {
                // a node that never returns must not hold the deletion for ever: after the grace the pool is let
                // go, and the node keeps its name, so that the pool is destroyed when (if) it is back
                long silent = Math.min(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startedNanos),
                        registry.silentMillis(node.id()));
                if (silent >= grace.toMillis()) {
                    MayastorNode msn = store.change(MayastorNode.class, node.id(), n -> n != null
                            && editDeleted(n, names -> names.add(name)));
                    if (msn == null && store.get(MayastorNode.class, node.id()).isEmpty()) {
                        LOG.log(Level.WARNING, "pool {0} let go while node {1} is away: it has no MayastorNode to remember it by; "
                                + "destroy it there with 'mayastor ctl pool destroy' if it returns", name, node.id());
                    }
                    release(msp, "node " + node.id() + " has been away " + silent / 1000 + " s: the pool is destroyed "
                            + "on it when it is back");
                    return;
                }
                // no countdown in it: a reason that changes at every pass was a status write and an event each time
                writeStatus(msp, MayastorPool.OFFLINE, "node " + node.id() + " is offline: the pool is destroyed when it "
                        + "returns, or let go once the node has been away " + grace.toSeconds() + " s", null);
                return;
            }
            writeStatus(msp, MayastorPool.OFFLINE, "node " + node.id() + " is offline", null);
            return;
        }
        Optional<Pool> pool;
        try {
            pool = clients.pools(node.endpoint()).listPools(ListPoolOptions.getDefaultInstance()).getPoolsList().stream()
                    .filter(p -> p.getName().equals(name)).findFirst();
        } catch (StatusRuntimeException e) {
            writeStatus(msp, MayastorPool.OFFLINE, NodeClients.translate(node.id(), e).getMessage(), null);
            return;
        }
        // a pool this resource did not make (no finalizer yet), on other disks than it names: another one of the
        // name (one let go while its node was away, the name asked for again elsewhere) is never taken for it.
        // One it made is its pool whatever the path says now (found again by uuid under a disk's new name)
        List<String> disks = msp.getSpec().getDisks();
        String elsewhere = ours || disks == null ? null : pool.map(p -> otherDisks(node.id(), p, disks)).orElse(null);
        if (deleting) {
            if (ours) {
                if (pool.isPresent() && pool.get().getReplicas() > 0) {
                    String why = "being deleted: it holds " + pool.get().getReplicas() + " replica(s); destroy their volumes first";
                    boolean news = msp.getStatus() == null || !why.equals(msp.getStatus().getReason());
                    writeStatus(msp, stateOf(pool.get()), why, pool.get());
                    if (news) { // kubectl delete msp waits: the event says why, once (the state is unchanged)
                        store.event(msp, "Warning", "DeletionBlocked", "pool " + name + " " + why);
                    }
                    return;
                }
                // asked by name even when the list left it out: a pool whose create is still writing its disk
                // is not listed, and let go now it would be made after all, with nothing left to destroy it
                try {
                    clients.pools(node.endpoint()).destroyPool(DestroyPoolRequest.newBuilder().setName(name).build());
                    LOG.log(Level.INFO, "pool {0} destroyed on node {1}", name, node.id());
                } catch (StatusRuntimeException e) {
                    MayastorException me = NodeClients.translate(node.id(), e);
                    if (me.kind() != ErrorKind.NOT_FOUND) {
                        writeStatus(msp, pool.map(PoolOperator::stateOf).orElse(MayastorPool.PENDING), "being deleted: "
                                + me.getMessage(), pool.orElse(null));
                        return;
                    }
                }
            }
            release(msp, "destroyed on " + node.id());
            return;
        }
        if (elsewhere != null) {
            // never taken for this resource's: it would show Ready over disks it does not name
            writeStatus(msp, MayastorPool.PENDING, elsewhere + ": export or destroy it there, or give this pool another name",
                    null);
            return;
        }
        if (!ours) {
            msp.getMetadata().getFinalizers().add(Kinds.FINALIZER);
            msp = store.update(msp); // before the pool exists on the node
        }
        if (pool.isEmpty()) {
            try {
                pool = Optional.of(clients.pools(node.endpoint()).createPool(CreatePoolRequest.newBuilder().setName(name)
                        .addAllDisks(msp.getSpec().getDisks()).build()));
                LOG.log(Level.INFO, "pool {0} made on node {1} ({2})", name, node.id(), msp.getSpec().getDisks().get(0));
            } catch (StatusRuntimeException e) {
                MayastorException me = NodeClients.translate(node.id(), e);
                boolean timedOut = e.getStatus().getCode() == io.grpc.Status.Code.DEADLINE_EXCEEDED;
                if (timedOut || me.kind() == ErrorKind.UNAVAILABLE && me.getMessage().contains(" is being created")) {
                    // the node answered the list a moment ago: it is writing the new pool's disk (zeroing a large
                    // one without a fast write-zeroes outlasts the call; the create goes on), not away. Offline,
                    // the pool looked down for the whole format; the next passes find it listed once it is made.
                    // A create still running is "being created" at once: another call that outlasts its deadline
                    // began a new one, so the one before ended without a pool. Since when says a hung disk
                    // (since when is the status's own word: it outlives a change of leader, and a status written
                    // since for anything else says the create it saw is over)
                    String said = msp.getStatus() == null ? null : msp.getStatus().getReason();
                    String making = MAKING + node.id() + " since ";
                    String since = said != null && said.startsWith(making) ? said.substring(making.length()).split("[ ;]", 2)[0] : null;
                    String reason = said;
                    if (since == null || timedOut) {
                        reason = making + java.time.Instant.now().truncatedTo(java.time.temporal.ChronoUnit.SECONDS)
                                + (since == null ? "" : "; the create begun " + since + " ended without a pool (the node's log says why)");
                    }
                    writeStatus(msp, MayastorPool.PENDING, reason, null);
                    return;
                }
                writeStatus(msp, me.kind() == ErrorKind.UNAVAILABLE ? MayastorPool.OFFLINE : MayastorPool.PENDING,
                        "cannot make the pool: " + me.getMessage(), null);
                return;
            }
        }
        Pool p = pool.get();
        writeStatus(msp, stateOf(p), p.getReason().isEmpty() ? null : p.getReason(), p);
    }

    /**
     * Why the node's pool of the resource's name is not the one its spec asks for (on other disks),
     * or null. Disks compared by path: {@code aio:///dev/sdb} is {@code /dev/sdb}.
     */
    static String otherDisks(String node, Pool p, List<String> wanted) {
        List<String> have = p.getDisksList().stream().map(PoolOperator::diskPath).toList();
        if (have.equals(wanted.stream().map(PoolOperator::diskPath).toList())) {
            return null;
        }
        return "node " + node + " has a pool named " + p.getName() + " on " + String.join(", ", p.getDisksList()) + ", not on "
                + String.join(", ", wanted);
    }

    private static String diskPath(String disk) {
        int scheme = disk.indexOf("://");
        String path = scheme < 0 ? disk : disk.substring(scheme + 3);
        int query = path.indexOf('?');
        return query < 0 ? path : path.substring(0, query);
    }

    private static String stateOf(Pool p) {
        return switch (p.getState()) {
            case POOL_ONLINE -> MayastorPool.ONLINE;
            case POOL_DEGRADED -> MayastorPool.DEGRADED;
            case POOL_FAULTED -> MayastorPool.FAULTED;
            default -> p.getState().name().replace("POOL_", "").toLowerCase(Locale.ROOT);
        };
    }

    /**
     * Pools deleted while their node was away ({@link Kinds#DELETED_POOLS}): destroyed once the node
     * is back, unless a pool of that name was asked for again meanwhile; one that holds replicas stays
     * (their volumes decide) and is tried again. A name is forgotten once its node has no such pool.
     */
    public void sweep() {
        for (MayastorNode msn : store.list(MayastorNode.class)) {
            String id = msn.getMetadata().getName();
            Set<String> names = deleted(msn);
            Optional<NodeRegistry.NodeState> node = registry.node(id);
            if (names.isEmpty() || node.isEmpty() || !node.get().online()) {
                continue;
            }
            List<Pool> pools;
            try {
                pools = clients.pools(node.get().endpoint()).listPools(ListPoolOptions.getDefaultInstance()).getPoolsList();
            } catch (StatusRuntimeException e) {
                continue; // the next sweep
            }
            Set<String> done = new TreeSet<>();
            for (String name : names) {
                Optional<Pool> pool = pools.stream().filter(p -> p.getName().equals(name)).findFirst();
                // asked for again: a MayastorPool of that name on this node, not being deleted, decides
                boolean again = store.get(MayastorPool.class, name).filter(m -> m.getMetadata().getDeletionTimestamp() == null
                        && m.getSpec() != null && id.equals(m.getSpec().getNode())).isPresent();
                if (pool.isEmpty() || again) {
                    done.add(name);
                    continue;
                }
                if (pool.get().getReplicas() > 0) {
                    LOG.log(Level.WARNING, "pool {0} on {1} was deleted while the node was away but holds {2} replica(s): "
                            + "kept until they are gone", name, id, pool.get().getReplicas());
                    continue;
                }
                try {
                    clients.pools(node.get().endpoint()).destroyPool(DestroyPoolRequest.newBuilder().setName(name).build());
                    LOG.log(Level.INFO, "pool {0} on {1} was deleted while the node was away: destroyed", name, id);
                    done.add(name);
                } catch (StatusRuntimeException e) {
                    LOG.log(Level.WARNING, "pool {0} on {1}: {2}", name, id, NodeClients.translate(id, e).getMessage());
                }
            }
            if (!done.isEmpty()) {
                store.change(MayastorNode.class, id, n -> n != null && editDeleted(n, list -> list.removeAll(done)));
            }
        }
    }

    /** The pools a node keeps the names of ({@link Kinds#DELETED_POOLS}): let go, to be destroyed on it. */
    private static final NodeNameList DELETED = new NodeNameList(Kinds.DELETED_POOLS, n -> true);

    static Set<String> deletedPools(MayastorNode msn) {
        return DELETED.read(msn);
    }

    private static Set<String> deleted(MayastorNode msn) {
        return DELETED.read(msn);
    }

    private static boolean editDeleted(MayastorNode msn, java.util.function.Consumer<Set<String>> edit) {
        return DELETED.edit(msn, edit);
    }

    private static boolean onlyUsedDiffers(MayastorPool.Status old, MayastorPool.Status s) {
        Long used = s.getUsed();
        s.setUsed(old.getUsed());
        try {
            return Statuses.same(old, s);
        } finally {
            s.setUsed(used);
        }
    }

    private void release(MayastorPool msp, String why) {
        statusWrittenAt.remove(msp.getMetadata().getName());
        if (msp.getMetadata().getFinalizers().remove(Kinds.FINALIZER)) {
            store.update(msp);
            LOG.log(Level.INFO, "pool {0} deleted ({1})", msp.getMetadata().getName(), why);
        }
    }

    void writeStatus(MayastorPool msp, String state, String reason, Pool pool) {
        MayastorPool.Status s = new MayastorPool.Status();
        s.setState(state);
        s.setReason(reason);
        if (pool != null) {
            s.setDisks(pool.getDisksList());
            s.setCapacity(pool.getCapacity());
            s.setUsed(pool.getUsed());
        }
        MayastorPool.Status old = msp.getStatus();
        s.setObservedGeneration(msp.getMetadata().getGeneration()); // the spec this pass worked from
        s.setConditions(MayastorPool.OFFLINE.equals(state) // its node cannot be reached: what the pool is now is not known
                ? Condition.readyUnknown(old == null ? null : old.getConditions(), state, reason, s.getObservedGeneration())
                : Condition.ready(old == null ? null : old.getConditions(), MayastorPool.ONLINE.equals(state), state, reason,
                s.getObservedGeneration()));
        if (Statuses.same(old, s)) {
            return;
        }
        String name = msp.getMetadata().getName();
        long now = clock.getAsLong();
        Long writtenAt = statusWrittenAt.get(name);
        if (writtenAt != null && old != null && now - writtenAt < USED_REFRESH_NANOS && onlyUsedDiffers(old, s)) {
            return;
        }
        boolean changed = old == null || !Objects.equals(old.getState(), state) || !Objects.equals(old.getReason(), reason);
        // an event for a change of state: a reason that varies (a node's error text) made one at every pass
        boolean moved = old == null || !Objects.equals(old.getState(), state);

        if (changed) {
            LOG.log(Level.INFO, "pool {0} is {1}{2}", msp.getMetadata().getName(), state, reason == null ? "" : ": " + reason);
        }
        msp.setStatus(s);
        msp = store.updateStatus(msp);
        statusWrittenAt.put(name, now);
        if (moved) {
            store.event(msp, MayastorPool.ONLINE.equals(state) ? "Normal" : "Warning", Events.reason(state),
                    "pool " + msp.getMetadata().getName() + " is " + state + (reason == null ? "" : ": " + reason));
        }
    }
}
