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
}
