package io.mayastorj.nexus.internal;

import java.time.Duration;

/**
 * How a nexus rebuilds: copy segments of {@code segmentBytes} with {@code rebuildTasks} copies in
 * flight (Mayastor: 64 KiB × 16), and how long a faulted child's write log is kept so that its
 * return costs only what was written meanwhile (Mayastor's control plane waits 10 minutes).
 */
public record NexusSettings(int segmentBytes, int rebuildTasks, Duration partialRebuildWindow) {

    public static final NexusSettings DEFAULT = new NexusSettings(64 * 1024, 16, Duration.ofMinutes(10));

    public NexusSettings {
        if (segmentBytes < 4096 || Integer.bitCount(segmentBytes) != 1 || segmentBytes > 1 << 20) {
            throw new IllegalArgumentException("rebuild segment must be a power of two from 4 KiB to 1 MiB: " + segmentBytes);
        }
        if (rebuildTasks < 1 || rebuildTasks > 256) {
            throw new IllegalArgumentException("rebuild tasks must be 1..256: " + rebuildTasks);
        }
        if (partialRebuildWindow.isNegative()) {
            throw new IllegalArgumentException("the partial rebuild window cannot be negative");
        }
    }
}
