package io.mayastorj.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.BlockingIo;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.internal.bdev.MallocBdevFactory;
import io.mayastorj.core.internal.buffer.DmaBufferPool;
import io.mayastorj.core.internal.buffer.HugepageMode;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The load's checks themselves: what it must catch, and what it must not call wrong. */
class VerifyingLoadTest {

    private static final Duration T = Duration.ofSeconds(30);
    private final DmaBufferPool buffers = new DmaBufferPool(16L << 20, HugepageMode.OFF);
    private final BlockDevice disk = new MallocBdevFactory().create(BdevUri.parse("malloc:///verify?size_mb=1"));

    @AfterEach
    void close() {
        disk.close();
        buffers.close();
    }

    private VerifyingLoad ran() throws Exception {
        VerifyingLoad load = new VerifyingLoad(disk, buffers, 4, 1);
        load.start();
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (load.blocksWritten() < 200) {
            assertTrue(System.nanoTime() < deadline, "the load wrote " + load.blocksWritten() + " blocks");
            Thread.sleep(10);
        }
        load.stop();
        assertEquals(0, load.verifyAll(T), load.mismatches().toString());
        return load;
    }

    /** Changes one byte of the device at {@code offset}. */
    private void flip(long offset) {
        DmaBuffer b = buffers.allocate(512);
        try {
            assertEquals(IoStatus.SUCCESS, BlockingIo.read(disk, b, 0, offset / 512, 1, T));
            int at = (int) (offset % 512);
            b.bytes().put(at, (byte) (b.bytes().get(at) ^ 0x40));
            assertEquals(IoStatus.SUCCESS, BlockingIo.write(disk, b, 0, offset / 512, 1, T));
        } finally {
            b.release();
        }
    }

    /** Review finding: only the first 24 bytes of each sector were checked. */
    @Test
    void aByteChangedAnywhereInASectorIsFound() throws Exception {
        try (VerifyingLoad load = ran()) {
            int block = firstWritten(load);
            flip(block * 4096L + 3 * 512 + 300);
            assertEquals(1, load.verifyAll(T));
            assertTrue(load.mismatches().get(0).startsWith("block " + block + " sector 3: write "), load.mismatches().toString());
        }
    }

    @Test
    void twoSectorsOfABlockSwappedAreFound() throws Exception {
        try (VerifyingLoad load = ran()) {
            int block = firstWritten(load);
            DmaBuffer b = buffers.allocate(4096);
            try {
                assertEquals(IoStatus.SUCCESS, BlockingIo.read(disk, b, 0, block * 8L, 8, T));
                byte[] first = new byte[512];
                b.bytes().get(0, first);
                b.bytes().put(0, b.bytes(), 512, 512);
                b.bytes().put(512, first);
                assertEquals(IoStatus.SUCCESS, BlockingIo.write(disk, b, 0, block * 8L, 8, T));
            } finally {
                b.release();
            }
            assertEquals(1, load.verifyAll(T), load.mismatches().toString());
        }
    }

    private int firstWritten(VerifyingLoad load) {
        DmaBuffer b = buffers.allocate(512);
        try {
            for (int block = 0; ; block++) {
                assertEquals(IoStatus.SUCCESS, BlockingIo.read(disk, b, 0, block * 8L, 1, T));
                if (b.bytes().getLong(0) != 0) {
                    return block;
                }
            }
        } finally {
            b.release();
        }
    }
}
