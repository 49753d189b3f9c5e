package io.mayastorj.core.internal.bdev;

import static io.mayastorj.core.bdev.BlockingIo.flush;
import static io.mayastorj.core.bdev.BlockingIo.read;
import static io.mayastorj.core.bdev.BlockingIo.unmap;
import static io.mayastorj.core.bdev.BlockingIo.write;
import static io.mayastorj.core.bdev.BlockingIo.writeZeroes;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.mayastorj.core.bdev.BdevStats;
import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.error.ErrorKind;
import io.mayastorj.core.error.MayastorException;
import java.time.Duration;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class MallocBdevTest {

    private static final Duration T = Duration.ofSeconds(5);
    private final MallocBdevFactory factory = new MallocBdevFactory();
    private final TestPool buffers = new TestPool();

    @AfterEach
    void closePool() {
        buffers.close();
    }

    private BlockDevice create(String uri) {
        return factory.create(BdevUri.parse(uri));
    }

    private MayastorException refused(String uri) {
        return assertThrows(MayastorException.class, () -> create(uri));
    }

    @Test
    void sizeInMegabytesGivesBlocksOfTheDefault512Bytes() {
        BlockDevice d = create("malloc:///m0?size_mb=8");
        assertEquals("m0", d.name());
        assertEquals("Malloc disk", d.productName());
        assertEquals(512, d.blockSize());
        assertEquals(16384, d.blockCount());
        d.close();
    }

    @Test
    void numBlocksAnd4kBlocksAndUuidAreHonoured() {
        UUID uuid = UUID.randomUUID();
        BlockDevice d = create("malloc:///m1?num_blocks=100&blk_size=4096&uuid=" + uuid);
        assertEquals(4096, d.blockSize());
        assertEquals(100, d.blockCount());
        assertEquals(uuid, d.uuid());
        d.close();
    }

    @Test
    void sizeAndBlockCountTogetherAreRefused() {
        MayastorException e = refused("malloc:///m0?size_mb=8&num_blocks=10");
        assertEquals(ErrorKind.INVALID_ARGUMENT, e.kind());
        assertEquals("'malloc:///m0?size_mb=8&num_blocks=10': give size_mb or num_blocks, not both", e.getMessage());
    }

    @Test
    void missingSizeIsRefused() {
        assertEquals("'malloc:///m0': the size is missing: add size_mb=N or num_blocks=N",
                refused("malloc:///m0").getMessage());
    }

    @Test
    void zeroAndNegativeSizesAreRefused() {
        assertEquals("'malloc:///m0?size_mb=0': size_mb must be greater than zero",
                refused("malloc:///m0?size_mb=0").getMessage());
        assertEquals("'malloc:///m0?num_blocks=-5': num_blocks must be greater than zero",
                refused("malloc:///m0?num_blocks=-5").getMessage());
    }

    @Test
    void absurdSizeIsRefusedBeforeAnythingIsMapped() {
        MayastorException e = refused("malloc:///m0?size_mb=999999999999");
        assertEquals(ErrorKind.INVALID_ARGUMENT, e.kind());
        assertEquals("'malloc:///m0?size_mb=999999999999': size_mb=999999999999 is beyond the 1 PiB limit", e.getMessage());
    }

    @Test
    void sizeBeyondTheNodesMemoryIsResourceExhausted() {
        long available = MallocBdevFactory.availableMemory();
        long mb = (available >> 20) + 1024;
        MayastorException e = refused("malloc:///big?size_mb=" + mb);
        assertEquals(ErrorKind.RESOURCE_EXHAUSTED, e.kind());
        assertTrue(e.getMessage().startsWith("'malloc:///big?size_mb=" + mb + "' needs "), e.getMessage());
        assertTrue(e.getMessage().contains("of memory but the node has"), e.getMessage());
    }

    @Test
    void badBlockSizeIsRefused() {
        assertEquals("'malloc:///m0?size_mb=1&blk_size=1000': blk_size must be 512 or 4096, not 1000",
                refused("malloc:///m0?size_mb=1&blk_size=1000").getMessage());
    }

    @Test
    void unknownParameterIsRefused() {
        assertEquals("'malloc:///m0?size_mb=1&size=2': unknown parameter 'size' for malloc "
                + "(allowed: blk_size, num_blocks, size_mb, uuid)", refused("malloc:///m0?size_mb=1&size=2").getMessage());
    }

    @Test
    void nameIsRequiredAndChecked() {
        assertEquals("'malloc:///?size_mb=1': the URI needs a name: malloc:///NAME?size_mb=N",
                refused("malloc:///?size_mb=1").getMessage());
        assertEquals("'malloc:///a/b?size_mb=1': bdev name 'a/b' may hold only letters, digits, '.', '_', ':' and '-'",
                refused("malloc:///a/b?size_mb=1").getMessage());
    }

    @Test
    void writeThenReadReturnsTheData() {
        BlockDevice d = create("malloc:///m0?size_mb=4");
        DmaBuffer out = buffers.allocate(64 << 10);
        DmaBuffer in = buffers.allocate(64 << 10);
        TestPool.fill(out, 64 << 10, 7);
        assertEquals(IoStatus.SUCCESS, write(d, out, 0, 100, 128, T));
        assertEquals(IoStatus.SUCCESS, read(d, in, 0, 100, 128, T));
        assertArrayEquals(TestPool.bytes(out, 0, 64 << 10), TestPool.bytes(in, 0, 64 << 10));
        assertEquals(IoStatus.SUCCESS, flush(d, T));
        BdevStats stats = d.stats();
        assertEquals(1, stats.readOps());
        assertEquals(64 << 10, stats.bytesRead());
        assertEquals(1, stats.writeOps());
        assertEquals(64 << 10, stats.bytesWritten());
        assertEquals(1, stats.flushOps());
        assertEquals(0, stats.errors());
        d.close();
    }

    @Test
    void neverWrittenBlocksReadAsZeros() {
        BlockDevice d = create("malloc:///m0?size_mb=4");
        DmaBuffer in = buffers.allocate(4096);
        TestPool.fill(in, 4096, 1);
        assertEquals(IoStatus.SUCCESS, read(d, in, 0, 8000, 8, T));
        assertArrayEquals(new byte[4096], TestPool.bytes(in, 0, 4096));
        d.close();
    }

    @Test
    void ioAtTheBufferOffsetUsesThatPartOfTheBuffer() {
        BlockDevice d = create("malloc:///m0?size_mb=1");
        DmaBuffer out = buffers.allocate(8192);
        TestPool.fill(out, 8192, 3);
        assertEquals(IoStatus.SUCCESS, write(d, out, 4096, 0, 8, T));
        DmaBuffer in = buffers.allocate(4096);
        assertEquals(IoStatus.SUCCESS, read(d, in, 0, 0, 8, T));
        assertArrayEquals(TestPool.bytes(out, 4096, 4096), TestPool.bytes(in, 0, 4096));
        d.close();
    }

    @Test
    void ioBeyondTheEndFailsWithLbaOutOfRange() {
        BlockDevice d = create("malloc:///m0?num_blocks=64");
        DmaBuffer b = buffers.allocate(4096);
        assertEquals(IoStatus.LBA_OUT_OF_RANGE, read(d, b, 0, 64, 1, T));
        assertEquals(IoStatus.LBA_OUT_OF_RANGE, write(d, b, 0, 60, 8, T));
        assertEquals(IoStatus.LBA_OUT_OF_RANGE, read(d, b, 0, -1, 1, T));
        assertEquals(IoStatus.LBA_OUT_OF_RANGE, read(d, b, 0, Long.MAX_VALUE, 1, T));
        assertEquals(IoStatus.LBA_OUT_OF_RANGE, unmap(d, 63, 2, T));
        assertEquals(IoStatus.LBA_OUT_OF_RANGE, writeZeroes(d, 64, 1, T));
        assertEquals(IoStatus.SUCCESS, read(d, b, 0, 56, 8, T)); // the last 8 blocks are fine
        assertEquals(6, d.stats().errors());
        d.close();
    }

    @Test
    void zeroLengthIoFailsWithInvalidLength() {
        BlockDevice d = create("malloc:///m0?num_blocks=64");
        DmaBuffer b = buffers.allocate(4096);
        assertEquals(IoStatus.INVALID_LENGTH, read(d, b, 0, 0, 0, T));
        assertEquals(IoStatus.INVALID_LENGTH, write(d, b, 0, 0, -1, T));
        assertEquals(IoStatus.INVALID_LENGTH, unmap(d, 0, 0, T));
        d.close();
    }

    @Test
    void transferLargerThanTheBufferFailsWithBufferTooSmall() {
        BlockDevice d = create("malloc:///m0?num_blocks=64");
        DmaBuffer b = buffers.allocate(4096);
        assertEquals(IoStatus.BUFFER_TOO_SMALL, read(d, b, 0, 0, 9, T));
        assertEquals(IoStatus.BUFFER_TOO_SMALL, write(d, b, 512, 0, 8, T));
        assertEquals(IoStatus.BUFFER_TOO_SMALL, write(d, b, -512, 0, 1, T));
        d.close();
    }

    @Test
    void unmapAndWriteZeroesMakeTheRangeReadAsZeros() {
        BlockDevice d = create("malloc:///m0?size_mb=4");
        int length = 1 << 20;
        DmaBuffer out = buffers.allocate(length);
        TestPool.fill(out, length, 11);
        assertEquals(IoStatus.SUCCESS, write(d, out, 0, 0, length / 512, T));
        // a ragged range: parts of pages at both ends, whole pages between
        assertEquals(IoStatus.SUCCESS, unmap(d, 3, 1000, T));
        assertEquals(IoStatus.SUCCESS, writeZeroes(d, 1500, 17, T));
        DmaBuffer in = buffers.allocate(length);
        assertEquals(IoStatus.SUCCESS, read(d, in, 0, 0, length / 512, T));
        byte[] expected = TestPool.bytes(out, 0, length);
        java.util.Arrays.fill(expected, 3 * 512, 1003 * 512, (byte) 0);
        java.util.Arrays.fill(expected, 1500 * 512, 1517 * 512, (byte) 0);
        assertArrayEquals(expected, TestPool.bytes(in, 0, length));
        assertEquals(1, d.stats().unmapOps());
        assertEquals(1000 * 512, d.stats().bytesUnmapped());
        assertEquals(1, d.stats().writeZeroesOps());
        d.close();
    }

    @Test
    void ioAfterCloseFailsWithDeviceClosed() {
        BlockDevice d = create("malloc:///m0?size_mb=1");
        d.close();
        DmaBuffer b = buffers.allocate(4096);
        assertEquals(IoStatus.DEVICE_CLOSED, read(d, b, 0, 0, 8, T));
        assertEquals(IoStatus.DEVICE_CLOSED, flush(d, T));
        d.close(); // closing twice is harmless
    }
}
