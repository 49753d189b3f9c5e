package io.mayastorj.core.buffer;

import java.util.List;

/**
 * A snapshot of the buffer pool.
 *
 * @param hugepages          true when the pool lies on 2 MiB hugepages
 * @param hugepagesInUse     hugepages the pool has mapped
 * @param totalBytes         the pool's size
 * @param usedBytes          bytes in buffers handed out now
 * @param allocationFailures requests refused because no buffer was free
 * @param classes            one entry per size class
 */
public record BufferPoolStats(boolean hugepages, int hugepagesInUse, long totalBytes, long usedBytes,
                              long allocationFailures, List<SizeClassStats> classes) {

    /**
     * @param bufferSize the size of each buffer in the class
     * @param buffers    buffers carved for the class so far
     * @param inUse      buffers handed out now
     */
    public record SizeClassStats(int bufferSize, int buffers, int inUse) {
    }
}
