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
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.error.ErrorKind;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.core.internal.reactor.ReactorGroupImpl;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The aio and uring bdevs on a real block device: a loop device over a file (needs root and losetup). */
class AioBlockDeviceTest {

    private static final Duration T = Duration.ofSeconds(10);
    private static Path backing;
    private static String loop;

    @BeforeAll
    static void attachLoopDevice() throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")) && Files.isExecutable(Path.of("/usr/sbin/losetup")),
                "loop devices need root and losetup");
        backing = Files.createTempFile("aio-loop", ".img");
        try (RandomAccessFile f = new RandomAccessFile(backing.toFile(), "rw")) {
            f.setLength(32 << 20);
        }
        Process p = new ProcessBuilder("/usr/sbin/losetup", "-f", "--show", backing.toString()).start();
        assumeTrue(p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0, "losetup could not attach a loop device");
        loop = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    }

    @AfterAll
    static void detach() throws Exception {
        if (loop != null) {
            new ProcessBuilder("/usr/sbin/losetup", "-d", loop).start().waitFor(10, TimeUnit.SECONDS);
        }
        if (backing != null) {
            Files.deleteIfExists(backing);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"aio", "uring"})
    void blockDeviceGeometryComesFromTheKernel(String scheme) throws IOException {
        ReactorGroupImpl reactors = new ReactorGroupImpl(1);
        FileBdevFactory factory = scheme.equals("aio") ? new AioBdevFactory() : new UringBdevFactory(reactors);
        FileBdev d = (FileBdev) factory.create(BdevUri.parse(scheme + "://" + loop));
        try (TestPool pool = new TestPool()) {
            assertEquals(loop, d.name());
            assertEquals(512, d.blockSize());
            assertEquals((32 << 20) / 512, d.blockCount());
            assertTrue(d.direct());

            MayastorException busy = assertThrows(MayastorException.class,
                    () -> factory.create(BdevUri.parse(scheme + "://" + loop)));
            assertEquals(ErrorKind.FAILED_PRECONDITION, busy.kind());
            assertEquals("'" + scheme + "://" + loop + "': " + loop
                    + " is in use (mounted, or opened exclusively by another process)", busy.getMessage());

            int length = 128 << 10;
            DmaBuffer out = pool.allocate(length);
            TestPool.fill(out, length, 77);
            assertEquals(IoStatus.SUCCESS, write(d, out, 0, 2048, length / 512, T));
            assertEquals(IoStatus.SUCCESS, flush(d, T));
            assertEquals(IoStatus.SUCCESS, unmap(d, 2048, 8, T));
            assertEquals(IoStatus.SUCCESS, writeZeroes(d, 2056, 8, T));
            DmaBuffer in = pool.allocate(length);
            assertEquals(IoStatus.SUCCESS, read(d, in, 0, 2048, length / 512, T));
            byte[] expected = TestPool.bytes(out, 0, length);
            Arrays.fill(expected, 0, 16 * 512, (byte) 0);
            assertArrayEquals(expected, TestPool.bytes(in, 0, length));
        } finally {
            d.close();
            reactors.stop();
        }
    }
    private static String run(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assumeTrue(p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0, String.join(" ", command) + ": " + out);
        return out;
    }

    /**
     * Review finding: the alignment of a file's direct I/O was probed with a 512-byte read at offset 0,
     * which a hole answers without the alignment check: a sparse file on a 4 KiB-sector device (a 4Kn
     * disk, LUKS2) got 512-byte blocks — its writes failed, and once block 0 was written the next open
     * saw 4096 and refused the pool. The backing device's logical block size counts too.
     */
    @ParameterizedTest
    @ValueSource(strings = {"aio", "uring"})
    void aSparseFileOnA4kSectorDeviceGets4kBlocks(String scheme) throws Exception {
        Path image = Files.createTempFile("aio-4k", ".img");
        Path mountpoint = Files.createTempDirectory("aio-4k-mnt");
        String device = null;
        boolean mounted = false;
        ReactorGroupImpl reactors = new ReactorGroupImpl(1);
        try {
            try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
                f.setLength(64 << 20);
            }
            device = run("/usr/sbin/losetup", "--sector-size", "4096", "-f", "--show", image.toString());
            run("/usr/sbin/mkfs.ext4", "-q", "-F", device);
            run("/usr/bin/mount", device, mountpoint.toString());
            mounted = true;
            Path sparse = mountpoint.resolve("replica.img");
            try (RandomAccessFile f = new RandomAccessFile(sparse.toFile(), "rw")) {
                f.setLength(16 << 20); // a hole: as `truncate -s` makes it
            }
            FileBdevFactory factory = scheme.equals("aio") ? new AioBdevFactory() : new UringBdevFactory(reactors);
            FileBdev d = (FileBdev) factory.create(BdevUri.parse(scheme + "://" + sparse));
            try (TestPool pool = new TestPool()) {
                assertTrue(d.direct());
                assertEquals(4096, d.blockSize(), "the device's sectors, not what a read of a hole allowed");
                DmaBuffer out = pool.allocate(4096);
                TestPool.fill(out, 4096, 5);
                assertEquals(IoStatus.SUCCESS, write(d, out, 0, 1, 1, T), "a write at block 1");
            } finally {
                d.close();
            }
        } finally {
            reactors.stop();
            if (mounted) {
                new ProcessBuilder("/usr/bin/umount", mountpoint.toString()).start().waitFor(30, TimeUnit.SECONDS);
            }
            if (device != null) {
                new ProcessBuilder("/usr/sbin/losetup", "-d", device).start().waitFor(10, TimeUnit.SECONDS);
            }
            Files.deleteIfExists(image);
            Files.deleteIfExists(mountpoint);
        }
    }
}
