package io.mayastorj.core.metrics;

/**
 * A bundle's metrics, read at each scrape of {@code /metrics}: a source reports the values it has
 * now (counters it keeps anyway, states it knows), so nothing is kept twice and an idle node pays
 * nothing between scrapes. Register it as a service.
 */
public interface MetricsSource {

    /** Reports the source's samples. Called on the scraping thread; keep it quick and lock-free where you can. */
    void collect(MetricsSink sink);
}
