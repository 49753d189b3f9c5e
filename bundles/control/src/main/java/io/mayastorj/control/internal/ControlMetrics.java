package io.mayastorj.control.internal;

import io.mayastorj.control.internal.model.MayastorPool;
import io.mayastorj.control.internal.model.MayastorVolume;
import io.mayastorj.control.internal.operator.Reconciler;
import io.mayastorj.control.internal.registry.NodeRegistry;
import io.mayastorj.control.internal.store.ResourceStore;
import io.mayastorj.core.metrics.MetricsSink;
import io.mayastorj.core.metrics.MetricsSource;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** The control plane's view: nodes online, pools and volumes by state, and the reconciler's work. */
final class ControlMetrics implements MetricsSource {

    private static final List<String> VOLUME_STATES = List.of(MayastorVolume.PENDING, MayastorVolume.HEALTHY, "degraded", "faulted",
            "offline");
    private static final List<String> POOL_STATES = List.of("online", "degraded", "faulted", "pending");

    private final NodeRegistry registry;
    private final ResourceStore store;
    private final Reconciler reconciler;

    ControlMetrics(NodeRegistry registry, ResourceStore store, Reconciler reconciler) {
        this.registry = registry;
        this.store = store;
        this.reconciler = reconciler;
    }

    @Override
    public void collect(MetricsSink sink) {
        long online = 0;
        long offline = 0;
        long applications = 0;
        for (NodeRegistry.NodeState n : registry.nodes()) {
            if (!n.storage()) {
                applications += n.online() ? 1 : 0;
            } else if (n.online()) {
                online++;
            } else {
                offline++;
            }
        }
        sink.gauge("mayastor_control_nodes", "Storage nodes by state", online, "state", "online");
        sink.gauge("mayastor_control_nodes", "Storage nodes by state", offline, "state", "offline");
        sink.gauge("mayastor_control_application_nodes", "Nodes that attach volumes only, online", applications);
        Map<String, Long> pools = new TreeMap<>();
        POOL_STATES.forEach(s -> pools.put(s, 0L));
        for (MayastorPool p : store.list(MayastorPool.class)) {
            String state = p.getStatus() == null || p.getStatus().getState() == null ? "pending" : p.getStatus().getState();
            pools.merge(state, 1L, Long::sum);
        }
        pools.forEach((state, n) -> sink.gauge("mayastor_control_pools", "MayastorPools by state", n, "state", state));
        Map<String, Long> volumes = new TreeMap<>();
        VOLUME_STATES.forEach(s -> volumes.put(s, 0L));
        for (MayastorVolume v : store.list(MayastorVolume.class)) {
            String state = v.getStatus() == null || v.getStatus().getState() == null ? MayastorVolume.PENDING : v.getStatus().getState();
            volumes.merge(state, 1L, Long::sum);
        }
        volumes.forEach((state, n) -> sink.gauge("mayastor_control_volumes", "MayastorVolumes by state", n, "state", state));
        sink.counter("mayastor_control_reconciles", "Reconcile steps run", reconciler.passes());
        sink.counter("mayastor_control_reconcile_failures", "Reconcile steps that failed (retried)", reconciler.failures());
        sink.counter("mayastor_control_reconcile_seconds", "Time spent reconciling, all workers", reconciler.busySeconds());
    }
}
