package io.mayastorj.benchmarks;

import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.buffer.BufferPool;
import io.mayastorj.core.buffer.DmaBuffer;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Keeps a queue depth of I/O in flight on a bdev without allocating: the benchmark thread submits
 * while fewer than {@code depth} are in flight, completions count down. Random offsets come from a
 * xorshift generator; sequential ones wrap around the device.
 */
final class Load {

    final BlockDevice device;
    final int depth;
    private final DmaBuffer[] buffers;
    private final long blocksPerIo;
    private final long slots;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicInteger errors = new AtomicInteger();
    private long random = 0x9E3779B97F4A7C15L;
    private long sequential;
    private int next;
    private final IoCompletion<Object> done = (status, ctx) -> {
        if (status != IoStatus.SUCCESS) {
            errors.incrementAndGet();
        }
        inFlight.decrementAndGet();
    };

    Load(BlockDevice device, BufferPool pool, int ioSize, int depth, long regionBytes) {
        this.device = device;
        this.depth = depth;
        this.buffers = new DmaBuffer[depth];
        for (int i = 0; i < depth; i++) {
            buffers[i] = pool.allocate(ioSize);
            buffers[i].bytes().put(0, new byte[ioSize]);
            buffers[i].bytes().putLong(0, 0x6d61796173746f72L); // not all zeros
        }
        this.blocksPerIo = ioSize / device.blockSize();
        this.slots = Math.min(regionBytes, device.sizeBytes()) / ioSize;
    }

    private long randomLba() {
        long x = random;
        x ^= x << 13;
        x ^= x >>> 7;
        x ^= x << 17;
        random = x;
        return Long.remainderUnsigned(x, slots) * blocksPerIo;
    }

    private long sequentialLba() {
        long lba = sequential * blocksPerIo;
        sequential = (sequential + 1) % slots;
        return lba;
    }

    /** Submits one I/O once a slot is free. */
    void submit(boolean write, boolean randomOffset) {
        while (inFlight.get() >= depth) {
            Thread.onSpinWait();
        }
        inFlight.incrementAndGet();
        DmaBuffer buffer = buffers[next];
        next = next + 1 == depth ? 0 : next + 1;
        long lba = randomOffset ? randomLba() : sequentialLba();
        if (write) {
            device.write(buffer, 0, lba, (int) blocksPerIo, done, null);
        } else {
            device.read(buffer, 0, lba, (int) blocksPerIo, done, null);
        }
    }

    /** Writes every slot of the region once, in order (to give reads data to find). */
    void fill() {
        for (long i = 0; i < slots; i++) {
            submit(true, false);
        }
        drain();
    }

    void drain() {
        while (inFlight.get() > 0) {
            Thread.onSpinWait();
        }
    }

    void close() {
        drain();
        for (DmaBuffer b : buffers) {
            b.release();
        }
        if (errors.get() > 0) {
            throw new IllegalStateException(errors.get() + " I/Os failed on " + device.name());
        }
    }
}
