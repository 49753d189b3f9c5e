package io.mayastorj.core.metrics;

/**
 * Where a {@link MetricsSource} reports samples. Names follow Prometheus' conventions: snake_case
 * with the unit as a suffix ({@code _bytes}, {@code _seconds}); a counter's name is given without
 * {@code _total}, which the exposition adds. Labels come in name, value pairs. Samples of one name
 * from any number of calls make one metric; its help is the first one given.
 */
public interface MetricsSink {

    /** A value that goes up and down (a size, a state, a count of things now). */
    void gauge(String name, String help, double value, String... labels);

    /** A value that only goes up while the process runs (operations, bytes, errors). */
    void counter(String name, String help, double value, String... labels);
}
