package io.mayastorj.nexus.internal;

import io.mayastorj.core.metrics.MetricsSink;
import io.mayastorj.core.metrics.MetricsSource;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/**
 * The nexuses: state, children by state, and each rebuild's progress (its I/O counts are the
 * nexus bdev's, reported with every bdev's).
 */
@Component(service = MetricsSource.class)
public final class NexusMetrics implements MetricsSource {

    /** Every state a nexus reports: one destroyed while listed (shutdown) had none of the three at 1. */
    private static final String[] STATES = {"online", "degraded", "faulted", "shutdown"};
    private final NexusManager nexuses;

    @Activate
    public NexusMetrics(@Reference NexusManager nexuses) {
        this.nexuses = nexuses;
    }

    @Override
    public void collect(MetricsSink sink) {
        for (NexusView n : nexuses.list()) {
            String uuid = n.uuid().toString();
            for (String state : STATES) {
                sink.gauge("mayastor_nexus_state", "1 for the nexus's state (online, degraded, faulted, shutdown), 0 for the others",
                        state.equalsIgnoreCase(n.state()) ? 1 : 0, "nexus", uuid, "state", state);
            }
            sink.gauge("mayastor_nexus_size_bytes", "Size of the nexus", n.sizeBytes(), "nexus", uuid);
            for (NexusView.ChildView c : n.children()) {
                sink.gauge("mayastor_nexus_child_healthy", "1 when the child is online and in sync", "online".equalsIgnoreCase(c.state())
                        ? 1 : 0, "nexus", uuid, "child", c.uri());
                NexusView.RebuildView r = c.rebuild();
                if (r != null && ("running".equals(r.state()) || "paused".equals(r.state()) || "waiting".equals(r.state()))) {
                    sink.gauge("mayastor_nexus_rebuild_progress_ratio", "Share of a running rebuild done, 0 to 1", r.progress(),
                            "nexus", uuid, "child", c.uri());
                    sink.gauge("mayastor_nexus_rebuild_bytes_per_second", "Rate of a running rebuild", r.rate(),
                            "nexus", uuid, "child", c.uri());
                }
            }
        }
    }
}
