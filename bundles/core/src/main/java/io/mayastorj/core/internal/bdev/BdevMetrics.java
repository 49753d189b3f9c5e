package io.mayastorj.core.internal.bdev;

import io.mayastorj.core.bdev.BdevInfo;
import io.mayastorj.core.bdev.BdevRegistry;
import io.mayastorj.core.bdev.BdevStats;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.metrics.MetricsSink;
import io.mayastorj.core.metrics.MetricsSource;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/**
 * Every bdev's I/O counters (the ones {@link BlockDevice#stats()} keeps on the I/O path anyway), by
 * bdev: a replica's, a nexus's and a pool disk's alike.
 */
@Component(service = MetricsSource.class)
public final class BdevMetrics implements MetricsSource {

    private final BdevRegistry registry;

    @Activate
    public BdevMetrics(@Reference BdevRegistry registry) {
        this.registry = registry;
    }

    @Override
    public void collect(MetricsSink sink) {
        for (BdevInfo info : registry.list()) {
            BlockDevice d = info.device();
            BdevStats s = d.stats();
            String name = d.name();
            sink.gauge("mayastor_bdev_size_bytes", "Size of the bdev", (double) d.blockCount() * d.blockSize(), "bdev", name);
            sink.counter("mayastor_bdev_read_ops", "Reads completed", s.readOps(), "bdev", name);
            sink.counter("mayastor_bdev_read_bytes", "Bytes read", s.bytesRead(), "bdev", name);
            sink.counter("mayastor_bdev_write_ops", "Writes completed", s.writeOps(), "bdev", name);
            sink.counter("mayastor_bdev_write_bytes", "Bytes written", s.bytesWritten(), "bdev", name);
            sink.counter("mayastor_bdev_unmap_ops", "Unmaps completed", s.unmapOps(), "bdev", name);
            sink.counter("mayastor_bdev_write_zeroes_ops", "Write-zeroes completed", s.writeZeroesOps(), "bdev", name);
            sink.counter("mayastor_bdev_flush_ops", "Flushes completed", s.flushOps(), "bdev", name);
            sink.counter("mayastor_bdev_errors", "I/Os that failed", s.errors(), "bdev", name);
            sink.gauge("mayastor_bdev_in_flight", "I/Os submitted and not completed", s.inFlight(), "bdev", name);
        }
    }
}
