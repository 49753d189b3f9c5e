package io.mayastorj.core.internal.bdev;

import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.internal.buffer.DmaBufferPool;
import io.mayastorj.core.internal.buffer.HugepageMode;
import java.nio.ByteBuffer;
import java.util.Random;

/** A small buffer pool on ordinary memory and helpers to fill and compare buffers. */
final class TestPool implements AutoCloseable {

    final DmaBufferPool pool = new DmaBufferPool(16L << 20, HugepageMode.OFF);

    DmaBuffer allocate(int bytes) {
        return pool.allocate(bytes);
    }

    static void fill(DmaBuffer buffer, int length, long seed) {
        byte[] data = new byte[length];
        new Random(seed).nextBytes(data);
        buffer.bytes().put(0, data);
    }

    static byte[] bytes(DmaBuffer buffer, int offset, int length) {
        byte[] data = new byte[length];
        ByteBuffer view = buffer.bytes();
        view.get(offset, data);
        return data;
    }

    @Override
    public void close() {
        pool.close();
    }
}
