/**
 * Metrics a bundle contributes to the runtime's {@code /metrics} (Prometheus text format): register
 * a {@link io.mayastorj.core.metrics.MetricsSource}; each scrape asks every source for its samples.
 */
@Export
@Version("1.0.0")
package io.mayastorj.core.metrics;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
