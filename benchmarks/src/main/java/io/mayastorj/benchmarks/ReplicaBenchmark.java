package io.mayastorj.benchmarks;

import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.internal.bdev.AioBdevFactory;
import io.mayastorj.core.internal.bdev.BdevRegistryImpl;
import io.mayastorj.core.internal.buffer.DmaBufferPool;
import io.mayastorj.core.internal.buffer.HugepageMode;
import io.mayastorj.core.internal.node.NodeImpl;
import io.mayastorj.core.internal.share.ShareManagerImpl;
import io.mayastorj.pool.internal.PoolManager;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collection;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
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
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;

/**
 * A replica against the raw device under it: the same backing file, in the same state, driven
 * through the aio bdev directly ({@code raw}) or through a thick or thin replica of a pool on it.
 * Each trial starts from a file filled with data and then zeroed as a pool's creation zeroes it,
 * so all three targets see the same file-system state; reads run after the region was written.
 *
 * <pre>java --enable-native-access=ALL-UNNAMED -Dbench.dir=/dev/shm -cp benchmarks/target/benchmarks.jar \
 *     io.mayastorj.benchmarks.ReplicaBenchmark</pre>
 * prints the table of replica/raw ratios after the JMH run. {@code bench.dir} is where the backing
 * file lives: /dev/shm (tmpfs, O_DIRECT) isolates the replica layer from a virtual disk's noise;
 * /var/tmp (the default) measures on the machine's disk.
 */
@State(Scope.Thread)
// Many short forks, and the median of them: on a 2-vCPU VM a run is bimodal (it depends on where the
// scheduler puts the submitting and the completing thread), so one fork can be 30 % off the next.
@Fork(value = 5, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED", "-Xms512m", "-Xmx512m"})
@Warmup(iterations = 1, time = 1)
@Measurement(iterations = 3, time = 1)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
public class ReplicaBenchmark {

    static final long FILE_BYTES = 768L << 20;
    static final long REGION_BYTES = 512L << 20;

    @Param({"raw", "thick", "thin"})
    public String target;

    @Param({"randread4k", "randwrite4k", "seqwrite128k"})
    public String workload;

    @Param({"1", "32"})
    public int qd;

    private Path dir;
    private Path file;
    private DmaBufferPool buffers;
    private BdevRegistryImpl registry;
    private ShareManagerImpl shares;
    private PoolManager pools;
    private BlockDevice raw;
    private Load load;
    private boolean write;
    private boolean random;

    @Setup(Level.Trial)
    public void prepare() throws IOException {
        dir = Files.createTempDirectory(Path.of(System.getProperty("bench.dir", "/var/tmp")), "replica-bench");
        file = dir.resolve("backing.img");
        fill(file);
        buffers = new DmaBufferPool(128L << 20, HugepageMode.AUTO);
        registry = new BdevRegistryImpl();
        registry.addFactory(new AioBdevFactory());
        shares = new ShareManagerImpl(registry);
        BlockDevice device;
        if (target.equals("raw")) {
            raw = registry.create("aio://" + file);
            // the state a pool's creation leaves the file in
            io.mayastorj.core.bdev.BlockingIo.writeZeroes(raw, 0, raw.blockCount(), java.time.Duration.ofMinutes(5));
            device = raw;
        } else {
            pools = new PoolManager(registry, buffers, shares, new NodeImpl("bench", "127.0.0.1:1", dir.resolve("state").toString(), "1"));
            pools.create("bench", null, file.toString(), 0);
            device = pools.createReplica("bench", UUID.randomUUID(), "r", REGION_BYTES, target.equals("thin"));
        }
        int size = workload.equals("seqwrite128k") ? 128 << 10 : 4096;
        load = new Load(device, buffers, size, qd, REGION_BYTES);
        write = !workload.startsWith("randread");
        random = !workload.startsWith("seq");
        if (!write) {
            load.fill(); // reads find data, on every target alike
        }
    }

    /** A file of data, as a used disk holds. */
    private static void fill(Path file) throws IOException {
        ByteBuffer chunk = ByteBuffer.allocateDirect(4 << 20);
        while (chunk.hasRemaining()) {
            chunk.putLong(chunk.position() * 0x9E3779B97F4A7C15L);
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            for (long pos = 0; pos < FILE_BYTES; pos += chunk.capacity()) {
                chunk.clear();
                ch.write(chunk, pos);
            }
            ch.force(true);
        }
    }

    @Benchmark
    public void io() {
        load.submit(write, random);
    }

    @TearDown(Level.Trial)
    public void close() throws IOException {
        load.close();
        if (pools != null) {
            pools.stop();
        }
        shares.stop();
        registry.closeAll();
        buffers.close();
        try (var paths = Files.walk(dir)) {
            for (Path p : paths.sorted((a, b) -> b.getNameCount() - a.getNameCount()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    /** Runs the benchmark and prints IOPS and the replica/raw ratio of each workload and queue depth. */
    public static void main(String[] args) throws RunnerException {
        Options options = new OptionsBuilder().include(ReplicaBenchmark.class.getSimpleName())
                .jvmArgsAppend("-Dbench.dir=" + System.getProperty("bench.dir", "/var/tmp")).build();
        Collection<RunResult> results = new Runner(options).run();
        Map<String, Double> iops = new TreeMap<>();
        for (RunResult r : results) {
            var params = r.getParams();
            double[] forks = r.getBenchmarkResults().stream().mapToDouble(b -> b.getPrimaryResult().getScore()).sorted().toArray();
            iops.put(params.getParam("workload") + " qd" + params.getParam("qd") + " " + params.getParam("target"),
                    forks[forks.length / 2]);
        }
        System.out.println();
        System.out.println("median of " + results.iterator().next().getBenchmarkResults().size() + " forks, IOPS");
        System.out.println("workload       qd      raw IOPS    thick IOPS  thick/raw     thin IOPS  thin/raw");
        for (String workload : new String[] {"randread4k", "randwrite4k", "seqwrite128k"}) {
            for (String qd : new String[] {"1", "32"}) {
                String key = workload + " qd" + qd + " ";
                Double raw = iops.get(key + "raw");
                Double thick = iops.get(key + "thick");
                Double thin = iops.get(key + "thin");
                if (raw == null || thick == null || thin == null) {
                    continue;
                }
                System.out.printf(Locale.ROOT, "%-14s %2s %12.0f %13.0f %10.2f %13.0f %9.2f%n", workload, qd, raw, thick,
                        thick / raw, thin, thin / raw);
            }
        }
    }
}
