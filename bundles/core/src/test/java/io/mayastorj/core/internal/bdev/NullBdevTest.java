package io.mayastorj.core.internal.bdev;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.BlockingIo;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.error.MayastorException;
import java.time.Duration;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class NullBdevTest {

    @Test
    void discardsWritesAndReadsZeros() {
        NullBdevFactory factory = new NullBdevFactory();
        BlockDevice d = factory.create(BdevUri.parse("null:///n0?size_mb=1024&blk_size=4096"));
        assertEquals("Null disk", d.productName());
        assertEquals(262144, d.blockCount());
        try (TestPool pool = new TestPool()) {
            DmaBuffer b = pool.allocate(8192);
            TestPool.fill(b, 8192, 5);
            byte[] before = TestPool.bytes(b, 0, 8192);
            assertEquals(IoStatus.SUCCESS, BlockingIo.write(d, b, 0, 0, 2, Duration.ofSeconds(1)));
            // one block read into the buffer's second half: that half is zeros, the first kept
            assertEquals(IoStatus.SUCCESS, BlockingIo.read(d, b, 4096, 10, 1, Duration.ofSeconds(1)));
            assertArrayEquals(Arrays.copyOf(before, 4096), TestPool.bytes(b, 0, 4096));
            assertArrayEquals(new byte[4096], TestPool.bytes(b, 4096, 4096));
            assertEquals(IoStatus.LBA_OUT_OF_RANGE, BlockingIo.read(d, b, 0, 262143, 2, Duration.ofSeconds(1)));
        }
        d.close();
    }

    @Test
    void needsASize() {
        MayastorException e = assertThrows(MayastorException.class,
                () -> new NullBdevFactory().create(BdevUri.parse("null:///n0")));
        assertEquals("'null:///n0': the size is missing: add size_mb=N or num_blocks=N", e.getMessage());
    }
}
