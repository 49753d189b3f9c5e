package io.mayastorj.nexus.internal;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * One bit per segment of a nexus (64 KiB by default): the segments written while a child was away
 * (its partial-rebuild log), or written since the last flush. Setting bits is lock-free and
 * allocation-free, from any thread; a 1 TiB volume needs 2 MiB.
 */
final class SegmentMap {

    private final AtomicLongArray words;
    private final long segments;
    private final int segmentBlocks;
    /** When tracked: the words that went from empty to marked, so that {@link #clear} costs what was marked. */
    private final AtomicIntegerArray touched;
    private final AtomicInteger touchedCount;

    SegmentMap(long blockCount, int segmentBlocks) {
        this(blockCount, segmentBlocks, false);
    }

    SegmentMap(long blockCount, int segmentBlocks, boolean tracked) {
        this.segmentBlocks = segmentBlocks;
        this.segments = (blockCount + segmentBlocks - 1) / segmentBlocks;
        if (segments > (long) Integer.MAX_VALUE * 64) {
            throw new IllegalArgumentException("too many segments: " + segments);
        }
        this.words = new AtomicLongArray((int) ((segments + 63) / 64));
        this.touched = tracked ? new AtomicIntegerArray(words.length()) : null;
        this.touchedCount = tracked ? new AtomicInteger() : null;
    }

    /**
     * Empties a tracked map, visiting only the words marked since the last clear. Marks made while
     * it runs may survive or not: callers that need them re-mark (see Nexus#markDirty).
     */
    void clear() {
        int n = Math.min(touchedCount.getAndSet(0), touched.length());
        for (int i = 0; i < n; i++) {
            words.set(touched.get(i), 0);
        }
    }

    long segments() {
        return segments;
    }

    int segmentBlocks() {
        return segmentBlocks;
    }

    /** Marks every segment that blocks {@code [lba, lba + blocks)} touch. */
    void mark(long lba, long blocks) {
        if (blocks <= 0) {
            return;
        }
        long first = lba / segmentBlocks;
        long last = Math.min((lba + blocks - 1) / segmentBlocks, segments - 1);
        for (long s = first; s <= last; s++) {
            int w = (int) (s >>> 6);
            long bit = 1L << (s & 63);
            long old = words.get(w);
            while ((old & bit) == 0) {
                if (words.compareAndSet(w, old, old | bit)) {
                    if (old == 0 && touched != null) {
                        int at = touchedCount.getAndIncrement();
                        if (at < touched.length()) {
                            touched.set(at, w);
                        }
                    }
                    break;
                }
                old = words.get(w);
            }
        }
    }

    void markAll() {
        mark(0, segments * segmentBlocks);
    }

    boolean isMarked(long segment) {
        return (words.get((int) (segment >>> 6)) & (1L << (segment & 63))) != 0;
    }

    /** Adds the other map's marks (same geometry) to this one. */
    void or(SegmentMap other) {
        for (int i = 0; i < words.length(); i++) {
            long add = other.words.get(i);
            if (add != 0) {
                long old = words.get(i);
                while (!words.compareAndSet(i, old, old | add)) {
                    old = words.get(i);
                }
            }
        }
    }

    /** The first marked segment at or after {@code from}, or -1. */
    long nextMarked(long from) {
        if (from >= segments) {
            return -1;
        }
        int w = (int) (from >>> 6);
        long word = words.get(w) & (-1L << (from & 63));
        while (true) {
            if (word != 0) {
                long s = ((long) w << 6) + Long.numberOfTrailingZeros(word);
                return s < segments ? s : -1;
            }
            if (++w >= words.length()) {
                return -1;
            }
            word = words.get(w);
        }
    }

    long count() {
        long n = 0;
        for (int i = 0; i < words.length(); i++) {
            n += Long.bitCount(words.get(i));
        }
        return n;
    }
}
