package io.mayastorj.control.internal.operator;

import io.grpc.StatusRuntimeException;
import io.mayastorj.api.v1.CreatePoolRequest;
import io.mayastorj.api.v1.DestroyPoolRequest;
import io.mayastorj.api.v1.ListPoolOptions;
import io.mayastorj.api.v1.Pool;
import io.mayastorj.control.internal.model.Condition;
import io.mayastorj.control.internal.model.Kinds;
import io.mayastorj.control.internal.model.MayastorPool;
import io.mayastorj.control.internal.nodes.NodeClients;
import io.mayastorj.control.internal.registry.NodeRegistry;
import io.mayastorj.control.internal.store.ResourceStore;
import io.mayastorj.core.error.ErrorKind;
import io.mayastorj.core.error.MayastorException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;

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

    public PoolOperator(ResourceStore store, NodeRegistry registry, NodeClients clients) {
        this.store = store;
        this.registry = registry;
        this.clients = clients;
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
            writeStatus(msp, MayastorPool.OFFLINE, "node " + node.id() + " is offline"
                    + (deleting && ours ? ": the pool is destroyed when it returns" : ""), null);
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
        if (deleting) {
            if (pool.isPresent() && ours) {
                if (pool.get().getReplicas() > 0) {
                    writeStatus(msp, stateOf(pool.get()), "being deleted: it holds " + pool.get().getReplicas()
                            + " replica(s); destroy their volumes first", pool.get());
                    return;
                }
                try {
                    clients.pools(node.endpoint()).destroyPool(DestroyPoolRequest.newBuilder().setName(name).build());
                } catch (StatusRuntimeException e) {
                    writeStatus(msp, stateOf(pool.get()), "being deleted: " + NodeClients.translate(node.id(), e).getMessage(),
                            pool.get());
                    return;
                }
                LOG.log(Level.INFO, "pool {0} destroyed on node {1}", name, node.id());
            }
            release(msp, "destroyed on " + node.id());
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
                writeStatus(msp, me.kind() == ErrorKind.UNAVAILABLE ? MayastorPool.OFFLINE : MayastorPool.PENDING,
                        "cannot make the pool: " + me.getMessage(), null);
                return;
            }
        }
        Pool p = pool.get();
        writeStatus(msp, stateOf(p), p.getReason().isEmpty() ? null : p.getReason(), p);
    }

    private static String stateOf(Pool p) {
        return switch (p.getState()) {
            case POOL_ONLINE -> MayastorPool.ONLINE;
            case POOL_DEGRADED -> MayastorPool.DEGRADED;
            case POOL_FAULTED -> MayastorPool.FAULTED;
            default -> p.getState().name().replace("POOL_", "").toLowerCase(Locale.ROOT);
        };
    }

    private void release(MayastorPool msp, String why) {
        if (msp.getMetadata().getFinalizers().remove(Kinds.FINALIZER)) {
            store.update(msp);
            LOG.log(Level.INFO, "pool {0} deleted ({1})", msp.getMetadata().getName(), why);
        }
    }

    private void writeStatus(MayastorPool msp, String state, String reason, Pool pool) {
        MayastorPool.Status s = new MayastorPool.Status();
        s.setState(state);
        s.setReason(reason);
        if (pool != null) {
            s.setDisks(pool.getDisksList());
            s.setCapacity(pool.getCapacity());
            s.setUsed(pool.getUsed());
        }
        MayastorPool.Status old = msp.getStatus();
        s.setConditions(Condition.ready(old == null ? null : old.getConditions(), MayastorPool.ONLINE.equals(state), state, reason));
        if (Statuses.same(old, s)) {
            return;
        }
        boolean changed = old == null || !Objects.equals(old.getState(), state) || !Objects.equals(old.getReason(), reason);

        if (changed) {
            LOG.log(Level.INFO, "pool {0} is {1}{2}", msp.getMetadata().getName(), state, reason == null ? "" : ": " + reason);
        }
        msp.setStatus(s);
        msp = store.updateStatus(msp);
        if (changed) {
            store.event(msp, MayastorPool.ONLINE.equals(state) ? "Normal" : "Warning", Events.reason(state),
                    "pool " + msp.getMetadata().getName() + " is " + state + (reason == null ? "" : ": " + reason));
        }
    }
}
