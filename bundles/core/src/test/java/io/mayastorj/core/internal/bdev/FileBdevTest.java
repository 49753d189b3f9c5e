package io.mayastorj.core.internal.bdev;

import static io.mayastorj.core.bdev.BlockingIo.flush;
import static io.mayastorj.core.bdev.BlockingIo.read;
import static io.mayastorj.core.bdev.BlockingIo.unmap;
import static io.mayastorj.core.bdev.BlockingIo.write;
import static io.mayastorj.core.bdev.BlockingIo.writeZeroes;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.error.ErrorKind;
import io.mayastorj.core.error.MayastorException;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The contract of the bdevs over a file, run for aio and for uring by the subclasses. */
abstract class FileBdevTest {

    private static final Duration T = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    final FileBdevFactory factory = factory();
    final String scheme = factory.schemes().iterator().next();
    final TestPool buffers = new TestPool();

    abstract FileBdevFactory factory();

    /** The product name the bdevs give. */
    abstract String product();

    /** How many requests the device takes at once before it queues them. */
    abstract int queueDepth();

    @AfterEach
    void closePool() {
        buffers.close();
    }

    Path file(String name, long size) throws IOException {
        Path path = dir.resolve(name);
        try (RandomAccessFile f = new RandomAccessFile(path.toFile(), "rw")) {
            f.setLength(size);
        }
        return path;
    }

    FileBdev open(Path path, String params) {
        return (FileBdev) factory.create(BdevUri.parse(scheme + "://" + path + params));
    }

    MayastorException refused(String uri) {
        return assertThrows(MayastorException.class, () -> factory.create(BdevUri.parse(uri)));
    }

    /**
     * Review finding: a callback on the helper thread closed its device while another request waited
     * in the helper's queue behind it: the close waited 30 s for a request that could not run, then
     * kept the file (and its lock) for good.
     */
    @Test
    void aCallbackOnTheHelperClosesItsDeviceWithAnotherHelperRequestQueued() throws Exception {
        FileBdev d = open(file("disk.img", 8 << 20), "");
        CompletableFuture<Long> closeNanos = new CompletableFuture<>();
        CompletableFuture<IoStatus> second = new CompletableFuture<>();
        CountDownLatch queued = new CountDownLatch(1);
        d.writeZeroes(0, 8, (status, ctx) -> {
            try {
                queued.await(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            long start = System.nanoTime();
            d.close();
            closeNanos.complete(System.nanoTime() - start);
        }, null);
        d.writeZeroes(8, 8, (s, c) -> second.complete(s), null); // behind the first on the helper
        queued.countDown();
        assertTrue(closeNanos.get(20, TimeUnit.SECONDS) < TimeUnit.SECONDS.toNanos(5), "the close returned soon");
        assertEquals(IoStatus.SUCCESS, second.get(5, TimeUnit.SECONDS), "the queued request ran");
        reopened("disk.img");
    }

    /** The file can be opened again soon: the device that had it released it (and its lock). */
    void reopened(String name) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (true) {
            try {
                open(file(name, 8 << 20), "").close();
                return;
            } catch (RuntimeException inUse) {
                if (System.nanoTime() > deadline) {
                    throw inUse;
                }
                Thread.sleep(20);
            }
        }
    }

    @Test
    void opensAFileWithDirectIoAndItsPathAsName() throws IOException {
        Path path = file("disk.img", 8 << 20);
        FileBdev d = open(path, "");
        assertEquals(path.toString(), d.name());
        assertEquals(product(), d.productName());
        assertTrue(d.direct(), "O_DIRECT on the test file system");
        assertEquals(512, d.blockSize());
        assertEquals(16384, d.blockCount());
        assertEquals(512, d.bufferAlignment());
        d.close();
    }

    @Test
    void dataWrittenAndFlushedIsInTheFileAfterClose() throws IOException {
        Path path = file("disk.img", 8 << 20);
        FileBdev d = open(path, "?blk_size=4096");
        int length = 256 << 10;
        DmaBuffer out = buffers.allocate(length);
        TestPool.fill(out, length, 21);
        assertEquals(IoStatus.SUCCESS, write(d, out, 0, 10, length / 4096, T));
        assertEquals(IoStatus.SUCCESS, flush(d, T));
        DmaBuffer in = buffers.allocate(length);
        assertEquals(IoStatus.SUCCESS, read(d, in, 0, 10, length / 4096, T));
        assertArrayEquals(TestPool.bytes(out, 0, length), TestPool.bytes(in, 0, length));
        d.close();
        byte[] onDisk = Arrays.copyOfRange(Files.readAllBytes(path), 10 * 4096, 10 * 4096 + length);
        assertArrayEquals(TestPool.bytes(out, 0, length), onDisk);
    }

    /**
     * A write to a file whose file system fills part-way: NO_SPACE, as the kernel says on the next
     * call (a short write says nothing); it was MEDIA_ERROR, which a nexus takes as a dead disk.
     * Needs root, for a 1 MiB tmpfs.
     */
    @Test
    void aWriteThatFillsTheFileSystemIsNoSpace() throws Exception {
        Path small = Files.createDirectories(dir.resolve("small"));
        Process mount = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", small.toString())
                .redirectErrorStream(true).start();
        org.junit.jupiter.api.Assumptions.assumeTrue(mount.waitFor() == 0, "cannot mount a tmpfs (not root?)");
        try {
            Path path = small.resolve("disk.img");
            try (RandomAccessFile f = new RandomAccessFile(path.toFile(), "rw")) {
                f.setLength(4 << 20); // sparse: more than the file system holds
            }
            FileBdev d = open(path, "");
            DmaBuffer out = buffers.allocate(2 << 20);
            TestPool.fill(out, 2 << 20, 7);
            assertEquals(IoStatus.NO_SPACE, write(d, out, 0, 0, (2 << 20) / 512, T));
            d.close();
        } finally {
            new ProcessBuilder("umount", "-l", small.toString()).start().waitFor();
        }
    }

    /**
     * A file in memory (tmpfs) is read and written as a malloc bdev is: a copy, completed before
     * the call returns, on the caller's thread; a flush still reaches the file.
     */
    @Test
    void aFileInMemoryIsCopiedOnTheCallersThread() throws Exception {
        Path shm = Path.of("/dev/shm");
        org.junit.jupiter.api.Assumptions.assumeTrue("tmpfs".equals(Files.getFileStore(shm).type()), "/dev/shm is not tmpfs");
        Path path = Files.createTempFile(shm, "filebdev-", ".img");
        try {
            try (RandomAccessFile f = new RandomAccessFile(path.toFile(), "rw")) {
                f.setLength(1 << 20);
            }
            FileBdev d = open(path, "");
            assertTrue(d.inMemory, "tmpfs is memory");
            DmaBuffer out = buffers.allocate(8192);
            TestPool.fill(out, 8192, 5);
            Thread caller = Thread.currentThread();
            List<Object> seen = new ArrayList<>();
            IoCompletion<Object> record = (status, ctx) -> seen.add(status + " on " + (Thread.currentThread() == caller ? "caller" : "other"));
            d.write(out, 0, 4, 16, record, null);
            assertEquals(List.of("SUCCESS on caller"), seen, "completed before write() returned");
            DmaBuffer in = buffers.allocate(8192);
            d.read(in, 0, 4, 16, record, null);
            assertEquals(List.of("SUCCESS on caller", "SUCCESS on caller"), seen);
            assertArrayEquals(TestPool.bytes(out, 0, 8192), TestPool.bytes(in, 0, 8192));
            assertEquals(IoStatus.SUCCESS, flush(d, T));
            assertArrayEquals(TestPool.bytes(out, 0, 8192), Arrays.copyOfRange(Files.readAllBytes(path), 2048, 2048 + 8192));
            d.close();
        } finally {
            Files.deleteIfExists(path);
        }
    }

    @Test
    void misalignedBufferFailsWithMisalignedBuffer() throws IOException {
        FileBdev d = open(file("disk.img", 1 << 20), "");
        DmaBuffer b = buffers.allocate(8192);
        assertEquals(IoStatus.MISALIGNED_BUFFER, read(d, b, 100, 0, 1, T));
        assertEquals(IoStatus.MISALIGNED_BUFFER, write(d, b, 1, 0, 1, T));
        assertEquals(IoStatus.SUCCESS, read(d, b, 512, 0, 1, T));
        d.close();
    }

    @Test
    void ioBeyondTheEndFailsWithLbaOutOfRange() throws IOException {
        FileBdev d = open(file("disk.img", 1 << 20), "");
        DmaBuffer b = buffers.allocate(4096);
        assertEquals(IoStatus.LBA_OUT_OF_RANGE, read(d, b, 0, 2048, 1, T));
        assertEquals(IoStatus.LBA_OUT_OF_RANGE, write(d, b, 0, 2047, 2, T));
        d.close();
    }

    @Test
    void moreRequestsThanQueueSlotsAllComplete() throws Exception {
        FileBdev d = open(file("disk.img", 16 << 20), "");
        int requests = queueDepth() * 2;
        List<DmaBuffer> list = new ArrayList<>();
        CountDownLatch done = new CountDownLatch(requests);
        AtomicInteger failures = new AtomicInteger();
        IoCompletion<Object> completion = (status, ctx) -> {
            if (!status.isSuccess()) {
                failures.incrementAndGet();
            }
            done.countDown();
        };
        for (int i = 0; i < requests; i++) {
            DmaBuffer b = buffers.allocate(4096);
            TestPool.fill(b, 4096, i);
            list.add(b);
            d.write(b, 0, i * 8L, 8, completion, null);
        }
        assertTrue(done.await(30, TimeUnit.SECONDS), "all writes complete");
        assertEquals(0, failures.get());
        DmaBuffer in = buffers.allocate(4096);
        for (int i = 0; i < requests; i += 97) {
            assertEquals(IoStatus.SUCCESS, read(d, in, 0, i * 8L, 8, T));
            assertArrayEquals(TestPool.bytes(list.get(i), 0, 4096), TestPool.bytes(in, 0, 4096), "block " + i);
        }
        assertEquals(requests, d.stats().writeOps());
        d.close();
    }

    @Test
    void unmapAndWriteZeroesReadBackAsZeros() throws IOException {
        FileBdev d = open(file("disk.img", 4 << 20), "");
        int length = 1 << 20;
        DmaBuffer out = buffers.allocate(length);
        TestPool.fill(out, length, 5);
        assertEquals(IoStatus.SUCCESS, write(d, out, 0, 0, length / 512, T));
        assertEquals(IoStatus.SUCCESS, unmap(d, 8, 8, T));
        assertEquals(IoStatus.SUCCESS, writeZeroes(d, 100, 3, T));
        DmaBuffer in = buffers.allocate(length);
        assertEquals(IoStatus.SUCCESS, read(d, in, 0, 0, length / 512, T));
        byte[] expected = TestPool.bytes(out, 0, length);
        Arrays.fill(expected, 8 * 512, 16 * 512, (byte) 0);
        Arrays.fill(expected, 100 * 512, 103 * 512, (byte) 0);
        assertArrayEquals(expected, TestPool.bytes(in, 0, length));
        d.close();
    }

    @Test
    void withoutDirectIoWritesGoThroughThePageCache() throws IOException {
        factory.directIo = false;
        Path path = file("cached.img", 1 << 20);
        FileBdev d = open(path, "");
        assertFalse(d.direct());
        assertEquals(1, d.bufferAlignment());
        DmaBuffer out = buffers.allocate(4096);
        TestPool.fill(out, 4096, 9);
        assertEquals(IoStatus.SUCCESS, write(d, out, 1, 4, 2, T)); // any alignment will do
        assertEquals(IoStatus.SUCCESS, flush(d, T));
        DmaBuffer in = buffers.allocate(4096);
        assertEquals(IoStatus.SUCCESS, read(d, in, 0, 4, 2, T));
        assertArrayEquals(TestPool.bytes(out, 1, 1024), TestPool.bytes(in, 0, 1024));
        assertEquals(IoStatus.SUCCESS, writeZeroes(d, 4, 1, T));
        d.close();
    }

    @Test
    void missingFileIsNotFound() {
        MayastorException e = refused(scheme + "://" + dir.resolve("nope.img"));
        assertEquals(ErrorKind.NOT_FOUND, e.kind());
        assertEquals("'" + scheme + "://" + dir.resolve("nope.img") + "': no such file or device " + dir.resolve("nope.img"),
                e.getMessage());
    }

    @Test
    void directoryIsRefused() {
        MayastorException e = refused(scheme + "://" + dir);
        assertEquals(ErrorKind.INVALID_ARGUMENT, e.kind());
        assertEquals("'" + scheme + "://" + dir + "': " + dir + " is neither a regular file nor a block device", e.getMessage());
    }

    @Test
    void fileSmallerThanABlockIsRefused() throws IOException {
        Path path = file("tiny.img", 100);
        MayastorException e = refused(scheme + "://" + path);
        assertEquals(ErrorKind.INVALID_ARGUMENT, e.kind());
        assertEquals("'" + scheme + "://" + path + "': " + path + " holds 100 bytes, less than one 512-byte block; "
                + "give it a size first (truncate -s 1G " + path + ")", e.getMessage());
    }

    @Test
    void aSecondOpenOfTheSameFileIsRefused() throws IOException {
        Path path = file("disk.img", 1 << 20);
        FileBdev first = open(path, "");
        MayastorException e = refused(scheme + "://" + path + "?uuid=7f1e0c35-7a2e-4f55-9c41-0d1f8f8f0a01");
        assertEquals(ErrorKind.FAILED_PRECONDITION, e.kind());
        assertEquals("'" + scheme + "://" + path + "?uuid=7f1e0c35-7a2e-4f55-9c41-0d1f8f8f0a01': " + path
                + " is in use by another process (it holds a lock on the file)", e.getMessage());
        first.close();
        open(path, "").close(); // the lock went with the first bdev
    }

    @Test
    void relativePathAndHostAndUnknownParametersAreRefused() {
        String s = scheme;
        assertEquals("'" + s + "://host/x': " + s + " URIs name a local device and take no host (" + s + ":///...)",
                refused(s + "://host/x").getMessage());
        assertEquals("'" + s + ":///x?size_mb=1': unknown parameter 'size_mb' for " + s + " (allowed: blk_size, uuid)",
                refused(s + ":///x?size_mb=1").getMessage());
        assertEquals("'" + s + ":///': " + s + " needs an absolute path: " + s + ":///PATH",
                refused(s + ":///").getMessage());
    }

    @Test
    void ioAfterCloseFailsWithDeviceClosed() throws IOException {
        FileBdev d = open(file("disk.img", 1 << 20), "");
        d.close();
        DmaBuffer b = buffers.allocate(4096);
        assertEquals(IoStatus.DEVICE_CLOSED, write(d, b, 0, 0, 1, T));
    }

    @Test
    void theNameIsThePath() {
        assertEquals("/dev/sdb", factory.nameOf(BdevUri.parse(scheme + ":///dev/sdb")));
    }
}
