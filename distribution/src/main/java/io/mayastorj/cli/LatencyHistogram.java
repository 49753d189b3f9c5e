package io.mayastorj.cli;

/**
 * Latencies in nanoseconds, in log-linear buckets (64 per power of two: within 1.6 %), so that
 * recording is an array increment and percentiles come out at the end. One per I/O slot; merged
 * after the run, so no recording thread ever shares one.
 */
final class LatencyHistogram {

    private static final int LINEAR = 128;
    private static final int SUB_BITS = 6;
    private static final int SUB = 1 << SUB_BITS;
    private static final int POWERS = 40;
    private final long[] counts = new long[LINEAR + POWERS * SUB];
    private long total;
    private long sum;
    private long min = Long.MAX_VALUE;
    private long max;

    void record(long nanos) {
        long v = Math.max(0, nanos);
        counts[index(v)]++;
        total++;
        sum += v;
        if (v < min) {
            min = v;
        }
        if (v > max) {
            max = v;
        }
    }

    private static int index(long v) {
        if (v < LINEAR) {
            return (int) v;
        }
        int exponent = 63 - Long.numberOfLeadingZeros(v); // >= 7
        int sub = (int) (v >>> (exponent - SUB_BITS)) & (SUB - 1);
        int i = LINEAR + (exponent - 7) * SUB + sub;
        return Math.min(i, LINEAR + POWERS * SUB - 1);
    }

    /** The smallest value a bucket holds. */
    private static long lowest(int index) {
        if (index < LINEAR) {
            return index;
        }
        int exponent = (index - LINEAR) / SUB + 7;
        int sub = (index - LINEAR) % SUB;
        return (1L << exponent) | ((long) sub << (exponent - SUB_BITS));
    }

    void add(LatencyHistogram other) {
        for (int i = 0; i < counts.length; i++) {
            counts[i] += other.counts[i];
        }
        total += other.total;
        sum += other.sum;
        min = Math.min(min, other.min);
        max = Math.max(max, other.max);
    }

    void reset() {
        java.util.Arrays.fill(counts, 0);
        total = 0;
        sum = 0;
        min = Long.MAX_VALUE;
        max = 0;
    }

    long count() {
        return total;
    }

    double mean() {
        return total == 0 ? 0 : (double) sum / total;
    }

    long min() {
        return total == 0 ? 0 : min;
    }

    long max() {
        return max;
    }

    /** The value below which {@code fraction} of the samples lie (the bucket's lower bound). */
    long percentile(double fraction) {
        if (total == 0) {
            return 0;
        }
        long rank = (long) Math.ceil(fraction * total);
        long seen = 0;
        for (int i = 0; i < counts.length; i++) {
            seen += counts[i];
            if (seen >= rank) {
                return Math.min(Math.max(lowest(i), min), max);
            }
        }
        return max;
    }
}
