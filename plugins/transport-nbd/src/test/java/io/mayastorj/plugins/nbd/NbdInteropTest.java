package io.mayastorj.plugins.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.internal.bdev.MallocBdevFactory;
import io.mayastorj.core.internal.buffer.DmaBufferPool;
import io.mayastorj.core.internal.buffer.HugepageMode;
import io.mayastorj.core.transport.ShareOptions;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real NBD clients against the server: libnbd's nbdinfo and nbdcopy, QEMU's qemu-io and qemu-img,
 * and fio's nbd engine; data written by one tool is checked by another.
 */
class NbdInteropTest {

    @TempDir
    Path dir;
    private final DmaBufferPool buffers = new DmaBufferPool(64L << 20, HugepageMode.OFF);
    private BlockDevice disk;
    private NbdTransport nbd;
    private String uri;

    @BeforeEach
    void start() throws Exception {
        disk = new MallocBdevFactory().create(BdevUri.parse("malloc:///vol1?size_mb=32"));
        nbd = new NbdTransport(buffers, new InetSocketAddress("127.0.0.1", 0));
        uri = nbd.share(disk, ShareOptions.DEFAULT);
    }

    @AfterEach
    void stop() {
        nbd.close();
        disk.close();
        buffers.close();
    }

    private static boolean have(String tool) {
        for (String d : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
            if (Files.isExecutable(Path.of(d, tool))) {
                return true;
            }
        }
        return false;
    }

    private record Result(int exit, String output) {
    }

    private static Result run(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", command) + " did not finish:\n" + out);
        }
        return new Result(p.exitValue(), out);
    }

    private static Result ok(String... command) throws IOException, InterruptedException {
        Result r = run(command);
        assertEquals(0, r.exit(), String.join(" ", command) + ":\n" + r.output());
        return r;
    }

    @Test
    void nbdinfoSeesTheExport() throws Exception {
        assumeTrue(have("nbdinfo"), "libnbd-bin is not installed");
        String out = ok("nbdinfo", uri).output();
        assertTrue(out.contains("export-size: 33554432"), out);
        assertTrue(out.contains("block_size_minimum: 512"), out);
        assertTrue(out.contains("can_flush: true"), out);
        assertTrue(out.contains("can_trim: true"), out);
        String list = ok("nbdinfo", "--list", "nbd://127.0.0.1:" + nbd.address().getPort()).output();
        assertTrue(list.contains("export=\"vol1\"") || list.contains("vol1"), list);
    }

    @Test
    void qemuWritesAndNbdcopyReadsBack() throws Exception {
        assumeTrue(have("qemu-io") && have("nbdcopy") && have("qemu-img"), "qemu-utils or libnbd-bin is not installed");
        ok("qemu-io", "-f", "raw", "-c", "write -P 0xab 1M 2M", "-c", "write -P 0x5c 20M 64k", "-c", "flush", uri);
        Path copy = dir.resolve("copy.img");
        ok("nbdcopy", uri, copy.toString());
        byte[] all = Files.readAllBytes(copy);
        assertEquals(32 << 20, all.length);
        for (int i = 1 << 20; i < 3 << 20; i += 4093) {
            assertEquals((byte) 0xab, all[i], "byte " + i);
        }
        assertEquals((byte) 0x5c, all[(20 << 20) + 100]);
        assertEquals(0, all[(3 << 20) + 5]);
        // and back the other way: a file of random data copied in by qemu-img, compared by qemu-img
        byte[] random = new byte[32 << 20];
        new Random(3).nextBytes(random);
        Path source = dir.resolve("random.img");
        Files.write(source, random);
        ok("qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", source.toString(), uri);
        ok("qemu-img", "compare", "-f", "raw", "-F", "raw", source.toString(), uri);
        ok("nbdcopy", uri, copy.toString());
        assertArrayEquals(random, Files.readAllBytes(copy));
        Result zeros = run("qemu-io", "-f", "raw", "-c", "read -P 0 4M 4k", uri);
        assertTrue(zeros.output().contains("Pattern verification failed"), "qemu-io checks what it reads: " + zeros.output());
    }

    @Test
    void fioVerifiesWhatItWroteThroughTheNbdEngine() throws Exception {
        assumeTrue(have("fio"), "fio is not installed");
        List<String> fio = new ArrayList<>(List.of("fio", "--name=nbd-verify", "--ioengine=nbd", "--uri=" + uri, "--rw=randwrite",
                "--bs=4k", "--iodepth=16", "--size=16M", "--verify=crc32c", "--do_verify=1", "--verify_fatal=1", "--verify_state_save=0",
                "--output-format=terse", "--terse-version=3"));
        Result r = run(fio.toArray(String[]::new));
        assumeTrue(!r.output().contains("engine nbd not loadable"), "this fio has no nbd engine");
        assertEquals(0, r.exit(), r.output());
    }

    /**
     * Nothing is allocated per request: the connection thread's own allocation (the JVM's exact
     * per-thread counter) over two seconds of fio's mixed random 4 KiB load, per request the bdev
     * saw meanwhile.
     */
    @Test
    void requestsAllocateNothing() throws Exception {
        assumeTrue(have("fio"), "fio is not installed");
        Process fio = new ProcessBuilder("fio", "--name=nbd-load", "--ioengine=nbd", "--uri=" + uri, "--rw=randrw", "--bs=4k",
                "--iodepth=32", "--size=16M", "--time_based", "--runtime=5").redirectErrorStream(true)
                .redirectOutput(dir.resolve("fio.out").toFile()).start();
        try {
            Thread connection = null;
            for (int i = 0; i < 100 && connection == null; i++) {
                Thread.sleep(50);
                connection = Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith("nbd-") && !t.getName().equals("nbd-accept")).findFirst().orElse(null);
            }
            assumeTrue(connection != null, "fio did not connect (no nbd engine?): " + Files.readString(dir.resolve("fio.out")));
            com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
            Thread.sleep(1000); // warm: JIT, buffer pool classes
            long bytes = threads.getThreadAllocatedBytes(connection.threadId());
            long ops = disk.stats().readOps() + disk.stats().writeOps();
            Thread.sleep(2000);
            bytes = threads.getThreadAllocatedBytes(connection.threadId()) - bytes;
            ops = disk.stats().readOps() + disk.stats().writeOps() - ops;
            System.out.printf("nbd: %d requests, %d bytes allocated by the connection's thread, %.2f per request%n",
                    ops, bytes, (double) bytes / ops);
            assertTrue(ops > 10_000, ops + " requests");
            assertTrue(bytes >= 0 && bytes < ops, bytes + " bytes allocated for " + ops + " requests");
        } finally {
            fio.destroy();
            fio.waitFor(10, TimeUnit.SECONDS);
        }
    }
}
