package io.mayastorj.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.internal.bdev.BdevRegistryImpl;
import io.mayastorj.core.internal.bdev.MallocBdevFactory;
import io.mayastorj.core.internal.buffer.DmaBufferPool;
import io.mayastorj.core.internal.buffer.HugepageMode;
import io.mayastorj.core.internal.reactor.ReactorGroupImpl;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** {@code mayastor bench}: its argument checks, its help, and a stop before anything was measured. */
class BenchTest {

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final Bench bench = new Bench(new PrintStream(out, true), new PrintStream(new ByteArrayOutputStream(), true));

    /** Review finding: 4M passed the check ("at most 16MiB") and then failed inside the buffer pool. */
    @Test
    void anIoSizeLargerThanTheLargestBufferIsAUsageError() {
        UsageException e = assertThrows(UsageException.class,
                () -> bench.run(List.of("--uri", "malloc:///m0?size_mb=16", "--bs", "4M", "--time", "100ms", "--ramp", "0s")));
        assertTrue(e.getMessage().contains("2MiB"), e.getMessage());
        assertThrows(UsageException.class, () -> bench.run(List.of("--uri", "malloc:///m0?size_mb=16", "--bs", "0")));
    }

    /** Review finding: an empty --target-pid named /proc/stat, read as a process's, and the run failed on a number format. */
    @Test
    void aTargetPidThatIsNoNumberIsAUsageError() {
        for (String pid : List.of("", "self", "-1")) {
            UsageException e = assertThrows(UsageException.class, () -> bench.run(List.of("--uri", "malloc:///m0?size_mb=16",
                    "--time", "100ms", "--ramp", "0s", "--target-pid", pid)));
            assertEquals("--target-pid '" + pid + "': not a process id", e.getMessage());
        }
    }

    /** Review finding: a --size below --bs was reported as the device being too small. */
    @Test
    void aSizeBelowOneIoSaysSo() {
        UsageException e = assertThrows(UsageException.class, () -> bench.run(List.of("--uri", "malloc:///m0?size_mb=64",
                "--bs", "64k", "--size", "4k", "--time", "100ms", "--ramp", "0s")));
        assertEquals("--size 4096 is smaller than one I/O (--bs 65536)", e.getMessage());
    }

    /** Review finding: --io-timeout was taken and not in the help. Every option parsed is in it now. */
    @Test
    void everyOptionTakenIsInTheHelp() throws Exception {
        String source = Files.readString(Path.of("src/main/java/io/mayastorj/cli/Bench.java"));
        Matcher parse = Pattern.compile("Args\\.parse\\(argv, Set\\.of\\(([^)]*)\\),\\s*Set\\.of\\(([^)]*)\\)\\)").matcher(source);
        assertTrue(parse.find(), "the options Bench parses");
        int seen = 0;
        for (String group : List.of(parse.group(1), parse.group(2))) {
            for (String option : group.replace("\"", "").split(",\\s*")) {
                if (option.equals("help")) {
                    continue; // the help itself
                }
                assertTrue(Bench.USAGE.contains("--" + option), "--" + option + " is not in the help");
                seen++;
            }
        }
        assertEquals(14, seen);
    }

    /**
     * Review finding: a Ctrl-C during the ramp reported the figures of a window of microseconds and
     * exited 0. Now the run says it stopped before measuring, and bench prints no figures for it.
     */
    @Test
    void aStopDuringTheRampMeasuresNothing() throws Exception {
        ReactorGroupImpl reactors = new ReactorGroupImpl(1);
        DmaBufferPool buffers = new DmaBufferPool(16 << 20, HugepageMode.OFF);
        BdevRegistryImpl registry = new BdevRegistryImpl();
        registry.addFactory(new MallocBdevFactory());
        try {
            BlockDevice device = registry.create("malloc:///ramp0?size_mb=16");
            Bench.Run run = new Bench.Run(device, new Bench.Workload("randread"), 4096, (16 << 20) / 4096, 4, buffers, false);
            CountDownLatch stopped = new CountDownLatch(1);
            stopped.countDown(); // the signal came during the ramp
            long start = System.nanoTime();
            Bench.Result r = run.execute(reactors.reactors(), TimeUnit.SECONDS.toNanos(5), TimeUnit.SECONDS.toNanos(5),
                    TimeUnit.SECONDS.toNanos(5), null, stopped);
            assertTrue(r.beforeMeasuring, "the run knows it measured nothing");
            assertEquals(0, r.stuck);
            assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(4), "it stopped at once");
        } finally {
            registry.closeAll();
            reactors.stop();
            buffers.close();
        }
    }

    /**
     * Review finding: a write benchmark overwrote a device or file holding a pool (a stopped node's
     * disk, a running node's file-backed pool) with nothing said. Refused unless --force.
     */
    @Test
    void aWriteBenchmarkOnAPoolsDeviceIsRefusedWithoutForce(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Path disk = dir.resolve("pool.img");
        byte[] image = new byte[1 << 20];
        System.arraycopy("MJ-POOL1".getBytes(java.nio.charset.StandardCharsets.US_ASCII), 0, image, 4096, 8); // slot 1's superblock
        Files.write(disk, image);
        String uri = "aio://" + disk;
        UsageException e = assertThrows(UsageException.class, () -> bench.run(List.of("--uri", uri, "--rw", "write",
                "--time", "100ms", "--ramp", "0s", "--buffers-mb", "16")));
        assertEquals(uri + " holds a Mayastor pool (its superblock at byte 4096): a write benchmark would destroy it "
                + "(--force to overwrite it all the same)", e.getMessage());
        assertTrue(java.util.Arrays.equals(image, Files.readAllBytes(disk)), "nothing written");
        assertEquals(0, bench.run(List.of("--uri", uri, "--rw", "read", "--time", "100ms", "--ramp", "0s", "--buffers-mb", "16")),
                "reads are harmless");
        assertEquals(0, bench.run(List.of("--uri", uri, "--rw", "write", "--time", "100ms", "--ramp", "0s", "--buffers-mb", "16",
                "--force")));
    }
}
