package io.mayastorj.control.internal.operator;

import io.mayastorj.control.internal.model.MayastorNode;
import io.mayastorj.control.internal.registry.NodeRegistry;
import io.mayastorj.control.internal.store.ResourceStore;
import io.mayastorj.core.error.ErrorKind;
import io.mayastorj.core.error.MayastorException;
import java.util.Objects;
import java.util.Optional;

/**
 * Keeps a MayastorNode per registered node: its endpoint in the spec, online or offline in the
 * status, as the registry has them. At start the registry learns the nodes the store remembers,
 * so a restarted control plane gives them one offline period to be heard from again.
 */
public final class NodeOperator {

    private final ResourceStore store;
    private final NodeRegistry registry;

    public NodeOperator(ResourceStore store, NodeRegistry registry) {
        this.store = store;
        this.registry = registry;
        remember();
    }

    /**
     * The registry learns the nodes recorded in the store (at start, and again when this control
     * plane starts leading: a node recorded by the leader before it, and silent since, would be
     * unknown here — never heard of, so away for ever, its replicas replaced on the first pass).
     */
    public void remember() {
        for (MayastorNode msn : store.list(MayastorNode.class)) {
            String endpoint = msn.getSpec() == null ? null : msn.getSpec().getGrpcEndpoint();
            if (endpoint != null) {
                registry.remember(msn.getMetadata().getName(), endpoint, null, MayastorNode.ONLINE.equals(msn.getStatus()));
            }
        }
    }

    public void reconcile(String name) {
        Optional<NodeRegistry.NodeState> node = registry.node(name);
        if (node.isEmpty() || !node.get().storage()) {
            return; // a node resource made by hand, or a node that only attaches volumes: no msn
        }
        NodeRegistry.NodeState n = node.get();
        MayastorNode msn = store.get(MayastorNode.class, name).orElse(null);
        if (msn == null) {
            msn = new MayastorNode();
            msn.getMetadata().setName(name);
            msn.getSpec().setGrpcEndpoint(n.endpoint());
            try {
                msn = store.create(msn);
            } catch (MayastorException e) {
                if (e.kind() != ErrorKind.ALREADY_EXISTS) {
                    throw e;
                }
                msn = store.get(MayastorNode.class, name).orElseThrow();
            }
        }
        if (!Objects.equals(msn.getSpec().getGrpcEndpoint(), n.endpoint())) {
            msn.getSpec().setGrpcEndpoint(n.endpoint());
            msn = store.update(msn);
        }
        String status = n.online() ? MayastorNode.ONLINE : MayastorNode.OFFLINE;
        if (!status.equals(msn.getStatus())) {
            msn.setStatus(status);
            msn = store.updateStatus(msn);
            store.event(msn, n.online() ? "Normal" : "Warning", Events.reason(status),
                    "node " + name + " is " + status + " at " + n.endpoint());
        }
    }
}
