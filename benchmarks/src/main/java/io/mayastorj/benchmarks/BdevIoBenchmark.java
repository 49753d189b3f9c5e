package io.mayastorj.benchmarks;

import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.internal.bdev.AioBdevFactory;
import io.mayastorj.core.internal.bdev.MallocBdevFactory;
import io.mayastorj.core.internal.buffer.DmaBufferPool;
import io.mayastorj.core.internal.buffer.HugepageMode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Submit-to-complete cost of bdev I/O through the SPI, on the malloc (RAM) and aio (O_DIRECT file)
 * backends, at 4 KiB and 128 KiB: latency with one I/O in flight, and throughput with 32 in flight.
 * Run with {@code -prof gc} to see the allocation per I/O (gc.alloc.rate.norm), which should be ~0.
 *
 * <pre>java -jar benchmarks/target/benchmarks.jar BdevIoBenchmark -prof gc</pre>
 */
@State(Scope.Thread)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED", "-Xms1g", "-Xmx1g"})
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 3)
public class BdevIoBenchmark {

    static final int QUEUE_DEPTH = 32;
    static final long DEVICE_BYTES = 256L << 20;

    @Param({"malloc", "aio"})
    public String device;

    @Param({"4096", "131072"})
    public int size;

    @Param({"read", "write"})
    public String op;

    private DmaBufferPool pool;
    private BlockDevice bdev;
    private Path file;
    private Load latency;
    private Load throughput;
    private boolean write;

    @Setup(Level.Trial)
    public void open() throws IOException {
        pool = new DmaBufferPool(64L << 20, HugepageMode.AUTO);
        if (device.equals("malloc")) {
            bdev = new MallocBdevFactory().create(BdevUri.parse("malloc:///bench?size_mb=" + (DEVICE_BYTES >> 20)));
        } else {
            file = Files.createTempFile(Path.of(System.getProperty("bench.dir", "/var/tmp")), "bdev-bench", ".img");
            fill(file);
            bdev = new AioBdevFactory().create(BdevUri.parse("aio://" + file));
        }
        latency = new Load(bdev, pool, size, 1, DEVICE_BYTES);
        throughput = new Load(bdev, pool, size, QUEUE_DEPTH, DEVICE_BYTES);
        write = op.equals("write");
    }

    /** Writes the whole file, so that reads are served by the device, not by holes. */
    private static void fill(Path file) throws IOException {
        ByteBuffer chunk = ByteBuffer.allocateDirect(1 << 20);
        while (chunk.hasRemaining()) {
            chunk.put((byte) 0x5a);
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            for (long pos = 0; pos < DEVICE_BYTES; pos += chunk.capacity()) {
                chunk.clear();
                ch.write(chunk, pos);
            }
            ch.force(true);
        }
    }

    @TearDown(Level.Trial)
    public void close() throws IOException {
        latency.close();
        throughput.close();
        bdev.close();
        pool.close();
        if (file != null) {
            Files.deleteIfExists(file);
        }
    }

    /** One I/O at a time: the time from submission to completion. */
    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.MICROSECONDS)
    public void latencyQd1() {
        latency.submit(write, true);
        latency.drain();
    }

    /** 32 I/Os kept in flight; each invocation submits one as soon as a slot is free. */
    @Benchmark
    @BenchmarkMode(Mode.Throughput)
    @OutputTimeUnit(TimeUnit.SECONDS)
    public void throughputQd32() {
        throughput.submit(write, true);
    }
}
