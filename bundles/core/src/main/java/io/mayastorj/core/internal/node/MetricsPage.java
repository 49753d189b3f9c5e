package io.mayastorj.core.internal.node;

import io.mayastorj.core.metrics.MetricsSink;
import io.mayastorj.core.metrics.MetricsSource;
import io.prometheus.metrics.config.EscapingScheme;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code /metrics}: every {@link MetricsSource}'s samples, grouped by name into Prometheus
 * snapshots and written by Prometheus' own text-format writer.
 */
final class MetricsPage {

    private static final Logger LOG = System.getLogger("mayastor.node");
    static final String CONTENT_TYPE = PrometheusTextFormatWriter.CONTENT_TYPE;

    private final PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();

    /** One metric's samples as they are reported. */
    private static final class Family {
        final boolean counter;
        final String help;
        final List<Object> points = new ArrayList<>();
        /** The label sets reported: Prometheus' model refuses a second point with the same, and the whole page with it. */
        final java.util.Set<Labels> labelSets = new java.util.HashSet<>();

        Family(boolean counter, String help) {
            this.counter = counter;
            this.help = help;
        }
    }

    void write(List<MetricsSource> sources, OutputStream out) throws IOException {
        Map<String, Family> families = new LinkedHashMap<>();
        MetricsSink sink = new MetricsSink() {
            @Override
            public void gauge(String name, String help, double value, String... labels) {
                add(families, name, help, false, value, labels);
            }

            @Override
            public void counter(String name, String help, double value, String... labels) {
                add(families, name, help, true, value, labels);
            }
        };
        for (MetricsSource source : sources) {
            try {
                source.collect(sink);
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "a metrics source failed: {0}", e.toString());
            }
        }
        List<MetricSnapshot> snapshots = new ArrayList<>();
        families.forEach((name, f) -> {
            if (f.counter) {
                CounterSnapshot.Builder b = CounterSnapshot.builder().name(name).help(f.help);
                f.points.forEach(p -> b.dataPoint((CounterSnapshot.CounterDataPointSnapshot) p));
                snapshots.add(b.build());
            } else {
                GaugeSnapshot.Builder b = GaugeSnapshot.builder().name(name).help(f.help);
                f.points.forEach(p -> b.dataPoint((GaugeSnapshot.GaugeDataPointSnapshot) p));
                snapshots.add(b.build());
            }
        });
        writer.write(out, new MetricSnapshots(snapshots), EscapingScheme.UNDERSCORE_ESCAPING);
    }

    private static void add(Map<String, Family> families, String name, String help, boolean counter, double value,
                            String... labels) {
        Family f = families.computeIfAbsent(name, n -> new Family(counter, help));
        if (f.counter != counter) {
            LOG.log(Level.WARNING, "metric {0} reported as a gauge and a counter: the first kind kept", name);
            return;
        }
        Labels l = Labels.of(labels);
        if (!f.labelSets.add(l)) {
            LOG.log(Level.WARNING, "metric {0} reported twice for {1}: the first kept", name, l);
            return;
        }
        f.points.add(counter ? CounterSnapshot.CounterDataPointSnapshot.builder().value(value).labels(l).build()
                : GaugeSnapshot.GaugeDataPointSnapshot.builder().value(value).labels(l).build());
    }
}
