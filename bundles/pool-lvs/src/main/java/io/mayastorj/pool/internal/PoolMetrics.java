package io.mayastorj.pool.internal;

import io.mayastorj.core.metrics.MetricsSink;
import io.mayastorj.core.metrics.MetricsSource;
import io.mayastorj.core.node.Node;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/**
 * The pools, under the names Mayastor 2.x's pool exporter uses ({@code disk_pool_*}, labels node
 * and name), so existing dashboards work; live at each scrape rather than every five minutes.
 */
@Component(service = MetricsSource.class)
public final class PoolMetrics implements MetricsSource {

    private final PoolManager pools;
    private final Node node;

    @Activate
    public PoolMetrics(@Reference PoolManager pools, @Reference Node node) {
        this.pools = pools;
        this.node = node;
    }

    /** Mayastor's status numbers: 0 unknown, 1 online, 2 degraded, 3 faulted. */
    static int status(PoolState state) {
        return switch (state) {
            case ONLINE -> 1;
            case DEGRADED -> 2;
            case FAULTED -> 3;
        };
    }

    @Override
    public void collect(MetricsSink sink) {
        for (PoolManager.Entry pool : pools.pools()) {
            String[] labels = {"node", node.id(), "name", pool.name()};
            sink.gauge("disk_pool_status", "Pool state: 0 unknown, 1 online, 2 degraded, 3 faulted", status(pool.state()), labels);
            pool.store().ifPresentOrElse(store -> {
                sink.gauge("disk_pool_total_size_bytes", "Pool capacity", store.capacity(), labels);
                sink.gauge("disk_pool_used_size_bytes", "Bytes allocated to replicas", store.usedBytes(), labels);
                sink.gauge("disk_pool_committed_size_bytes", "Bytes promised to replicas (thin ones at their full size)",
                        store.committedBytes(), labels);
                sink.gauge("mayastor_pool_replicas", "Replicas in the pool", store.replicas().size(), labels);
            }, () -> sink.gauge("disk_pool_total_size_bytes", "Pool capacity", pool.diskCapacity(), labels));
        }
    }
}
