package io.mayastorj.core.buffer;

/**
 * The node's pool of native I/O buffers in power-of-two size classes from 4 KiB to 2 MiB, carved
 * from one region mapped at start-up (2 MiB hugepages when the node has them). Allocation and
 * release take no lock and allocate nothing on the heap once a size class is warm.
 */
public interface BufferPool {

    int MIN_BUFFER_SIZE = 4096;
    int MAX_BUFFER_SIZE = 2 * 1024 * 1024;

    /**
     * A buffer of at least {@code bytes} (rounded up to a size class), or null when the pool has
     * none free: the caller waits for a release (backpressure) rather than the pool growing.
     *
     * @throws IllegalArgumentException when {@code bytes} is not in 1..{@link #MAX_BUFFER_SIZE}
     */
    DmaBuffer allocate(int bytes);

    BufferPoolStats stats();
}
