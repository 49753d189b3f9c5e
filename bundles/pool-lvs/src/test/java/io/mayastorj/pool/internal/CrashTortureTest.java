package io.mayastorj.pool.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.BlockingIo;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.internal.bdev.AioBdevFactory;
import io.mayastorj.core.internal.buffer.DmaBufferPool;
import io.mayastorj.core.internal.buffer.HugepageMode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * Crash torture: a child JVM changes a pool at random ({@link TortureWorker}) and is killed with
 * SIGKILL at a random moment, again and again; after every kill the pool is imported here and
 * checked against what the child had been told: the pool imports, no cluster is owned twice, every
 * replica whose creation was acknowledged exists, and every acknowledged write reads back exactly,
 * flushed or not (a kill, unlike a power cut, loses nothing the kernel was given: a thin replica's
 * first write to a cluster is acknowledged once its mapping is committed) — a later write to the block
 * may have landed too; nothing else may. Only an unmap acknowledged and not flushed may be undone (the
 * block reads as before it). {@code -Dtorture.cycles=N} runs a longer soak.
 */
class CrashTortureTest {

    private static final int CYCLES = Integer.getInteger("torture.cycles", 150);
    private int acknowledgedFlushes;
    private int verifiedImports;
    private static final long SEED = Long.getLong("torture.seed", System.nanoTime());
    private static final int BLOCK = TortureWorker.BLOCK;
    private static final long NONE = Long.MIN_VALUE;

    @TempDir
    Path dir;

    /** What may be in one block. */
    private static final class BlockModel {
        final TreeMap<Long, Boolean> issued = new TreeMap<>(); // seq → zero write
        long lastAcked = NONE;
        /** The last acknowledged write of data (not zeros): it survives a kill, flushed or not. */
        long lastAckedData = NONE;
        long durable = NONE;
    }

    private static final class ReplicaModel {
        long size;
        final Map<Long, BlockModel> blocks = new HashMap<>();

        ReplicaModel(long size) {
            this.size = size;
        }
    }

    private final Map<UUID, ReplicaModel> replicas = new HashMap<>();
    private final Set<UUID> uncertain = new HashSet<>(); // a create or destroy was issued, not acknowledged
    private long nextSeq = 1;

    /** On uring:// (a pool's disk by default) and on aio://, with half the kills. */
    @ParameterizedTest
    @ValueSource(strings = {"uring", "aio"})
    void killedAtRandomThePoolAlwaysImportsWithEveryAcknowledgedWrite(String scheme) throws Exception {
        int cycles = scheme.equals("uring") ? CYCLES : CYCLES / 2;
        Path file = dir.resolve("torture.img");
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(32L << 20);
        }
        Random random = new Random(SEED);
        String classPath = workerClassPath();
        Path archive = warmUp(classPath, scheme);
        int killedBeforeReady = 0;
        long operations = 0;
        for (int cycle = 0; cycle < cycles; cycle++) {
            long seed = random.nextLong();
            String context = "cycle " + cycle + " (torture.seed=" + SEED + ", worker seed " + seed + ")";
            Process worker = new ProcessBuilder(worker(classPath, "-XX:SharedArchiveFile=" + archive, file.toString(),
                    String.valueOf(seed), String.valueOf(nextSeq), scheme)).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            List<String> log = new ArrayList<>();
            Thread reader = new Thread(() -> {
                try (BufferedReader lines = new BufferedReader(new InputStreamReader(worker.getInputStream(), StandardCharsets.UTF_8))) {
                    String line;
                    while ((line = lines.readLine()) != null) {
                        synchronized (log) {
                            log.add(line);
                            log.notifyAll();
                        }
                    }
                } catch (IOException ignored) {
                    // the worker was killed
                }
            });
            reader.start();
            boolean early = random.nextInt(10) == 0;
            if (!early) {
                waitForReady(log, worker, context);
            }
            Thread.sleep(early ? random.nextInt(800) : 20 + random.nextInt(300));
            boolean ready;
            synchronized (log) {
                ready = log.stream().anyMatch(l -> l.startsWith("READY"));
            }
            if (!ready) {
                killedBeforeReady++;
            }
            // a worker that stopped by itself (an exception) tortures nothing: that is a failure too
            assertTrue(worker.isAlive(), () -> context + ": the worker exited by itself with " + worker.exitValue());
            // SIGKILL through the handle: Process.destroyForcibly() would also close our end of its
            // output, losing the lines still in the pipe (the last, most interesting ones)
            worker.toHandle().destroyForcibly();
            assertTrue(worker.waitFor(30, TimeUnit.SECONDS), context + ": the worker did not die");
            reader.join(10_000);
            List<String> lines;
            synchronized (log) {
                lines = new ArrayList<>(log);
            }
            for (String line : lines) {
                if (line.startsWith("FAIL")) {
                    fail(context + ": the worker saw " + line);
                }
                if (line.startsWith("READY") && !line.endsWith("on " + (scheme.equals("uring") ? "io_uring disk" : "AIO disk"))) {
                    fail(context + ": the worker's pool is not on " + scheme + ": " + line);
                }
            }
            operations += lines.size();
            try {
                apply(lines, context);
                verify(file, context);
            } catch (AssertionError | RuntimeException e) {
                Path saved = Path.of("target", "torture-failure.log");
                Files.write(saved, lines);
                throw new AssertionError(e.getMessage() + " (the worker's log of this cycle: " + saved.toAbsolutePath() + ")", e);
            }
        }
        System.out.printf("crash torture on %s: %d kills (%d before the pool was imported), %d logged operations, "
                + "%d flushes acknowledged, %d pools imported and checked, seed %d%n", scheme, cycles, killedBeforeReady,
                operations, acknowledgedFlushes, verifiedImports, SEED);
        // review finding: nothing said the torture tortured; a worker that regressed to doing little (no flush
        // acknowledged, killed before its pool was ready) skipped every durability check and passed
        assertTrue(cycles == 0 || 2 * killedBeforeReady < cycles, "most kills land on a pool in use");
        assertTrue(cycles == 0 || 2 * verifiedImports > cycles, "most kills leave a pool that is imported and checked");
        assertTrue(acknowledgedFlushes >= cycles, "flushes acknowledged before the kills: " + acknowledgedFlushes);
    }

    /** The command of a worker JVM: one JVM option, then the worker's arguments. */
    private static List<String> worker(String classPath, String option, String... args) {
        List<String> command = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
                "--enable-native-access=ALL-UNNAMED", "--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED", "-XX:TieredStopAtLevel=1",
                "-XX:+UseSerialGC", option,
                // the JVM's own log lines (a class-data archive it cannot use) must not reach the worker's protocol on stdout
                "-Xlog:disable", "-Xlog:all=error:stderr", "-cp", classPath, TortureWorker.class.getName()));
        command.addAll(List.of(args));
        return command;
    }

    /**
     * One worker run on a scratch pool that stops by itself after a few hundred operations and
     * records the classes it loaded in a class-data archive at exit: the killed workers start from
     * it, about a third faster, so the test spends its time killing rather than starting JVMs.
     */
    private Path warmUp(String classPath, String scheme) throws Exception {
        Path archive = dir.resolve("worker-" + scheme + ".jsa");
        Path scratch = dir.resolve("warm-up.img");
        try (RandomAccessFile f = new RandomAccessFile(scratch.toFile(), "rw")) {
            f.setLength(32L << 20);
        }
        Process warmUp = new ProcessBuilder(worker(classPath, "-XX:ArchiveClassesAtExit=" + archive, scratch.toString(), "1", "1", scheme, "300"))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        assertTrue(warmUp.waitFor(60, TimeUnit.SECONDS), "the warm-up worker did not stop by itself");
        assertEquals(0, warmUp.exitValue(), "the warm-up worker failed");
        Files.delete(scratch);
        return archive;
    }

    /**
     * This JVM's class path with its directories (target/classes, target/test-classes) packed into
     * one jar: a class-data archive covers only classes loaded from jars.
     */
    private String workerClassPath() throws IOException {
        Path jar = dir.resolve("worker-classes.jar");
        List<String> entries = new ArrayList<>(List.of(jar.toString()));
        Set<String> packed = new HashSet<>();
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar))) {
            for (String entry : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
                Path path = Path.of(entry);
                if (!Files.isDirectory(path)) {
                    entries.add(entry);
                    continue;
                }
                try (var files = Files.walk(path)) {
                    for (Path f : (Iterable<Path>) files.filter(Files::isRegularFile)::iterator) {
                        String name = path.relativize(f).toString().replace(java.io.File.separatorChar, '/');
                        if (packed.add(name)) {
                            out.putNextEntry(new JarEntry(name));
                            Files.copy(f, out);
                            out.closeEntry();
                        }
                    }
                }
            }
        }
        return String.join(java.io.File.pathSeparator, entries);
    }

    private static void waitForReady(List<String> log, Process worker, String context) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        synchronized (log) {
            while (log.stream().noneMatch(l -> l.startsWith("READY"))) {
                if (!worker.isAlive()) {
                    fail(context + ": the worker died before it was ready: " + log);
                }
                if (System.nanoTime() > deadline) {
                    fail(context + ": the worker was not ready within 60 s");
                }
                log.wait(100);
            }
        }
    }

    /** Replays the worker's log into the model of what must, and what may, be on disk. */
    private void apply(List<String> lines, String context) {
        Map<Long, Object[]> pendingWrites = new HashMap<>();
        Map<UUID, Map<Long, Long>> pendingFlush = new HashMap<>();
        for (String line : lines) {
            String[] f = line.split(" ");
            switch (f[0]) {
                case "C?", "D?" -> uncertain.add(UUID.fromString(f[1]));
                case "C!" -> {
                    UUID uuid = UUID.fromString(f[1]);
                    replicas.put(uuid, new ReplicaModel(Long.parseLong(f[2])));
                    uncertain.remove(uuid);
                }
                case "D!" -> {
                    UUID uuid = UUID.fromString(f[1]);
                    replicas.remove(uuid);
                    uncertain.remove(uuid);
                }
                case "R!" -> replicas.get(UUID.fromString(f[1])).size = Long.parseLong(f[2]);
                case "W?" -> {
                    UUID uuid = UUID.fromString(f[1]);
                    long lba = Long.parseLong(f[2]);
                    int n = Integer.parseInt(f[3]);
                    long seq = Long.parseLong(f[4]);
                    boolean zero = f.length > 5;
                    ReplicaModel r = replicas.get(uuid);
                    for (int i = 0; i < n; i++) {
                        r.blocks.computeIfAbsent(lba + i, k -> new BlockModel()).issued.put(seq, zero);
                    }
                    pendingWrites.put(seq, new Object[] {uuid, lba, n, zero});
                    nextSeq = Math.max(nextSeq, seq + 1);
                }
                case "W!" -> {
                    Object[] w = pendingWrites.remove(Long.parseLong(f[1]));
                    ReplicaModel r = replicas.get((UUID) w[0]);
                    for (int i = 0; i < (int) w[2]; i++) {
                        BlockModel b = r.blocks.get((long) w[1] + i);
                        b.lastAcked = Math.max(b.lastAcked, Long.parseLong(f[1]));
                        if (!(boolean) w[3]) {
                            b.lastAckedData = Math.max(b.lastAckedData, Long.parseLong(f[1]));
                        }
                    }
                }
                case "F?" -> {
                    UUID uuid = UUID.fromString(f[1]);
                    Map<Long, Long> snapshot = new HashMap<>();
                    replicas.get(uuid).blocks.forEach((lba, b) -> {
                        if (b.lastAcked != NONE) {
                            snapshot.put(lba, b.lastAcked);
                        }
                    });
                    pendingFlush.put(uuid, snapshot);
                }
                case "F!" -> {
                    acknowledgedFlushes++;
                    UUID uuid = UUID.fromString(f[1]);
                    ReplicaModel r = replicas.get(uuid);
                    pendingFlush.remove(uuid).forEach((lba, seq) -> {
                        BlockModel b = r.blocks.get(lba);
                        b.durable = Math.max(b.durable, seq);
                    });
                }
                case "HAVE", "READY", "R?" -> {
                }
                default -> fail(context + ": unexpected worker output: " + line);
            }
        }
    }

    /** Imports the pool and checks it against the model; then what is on disk becomes the model. */
    private void verify(Path file, String context) {
        DmaBufferPool buffers = new DmaBufferPool(8L << 20, HugepageMode.OFF);
        BlockDevice device = new AioBdevFactory().create(BdevUri.parse("aio://" + file));
        try {
            if (!(LvStore.probe(device, buffers) instanceof LvStore.Probe.Valid)) {
                assertTrue(replicas.isEmpty(), context + ": the pool is gone but replicas were acknowledged");
                return; // killed while the very first pool was being created
            }
            LvStore pool = LvStore.open(device, buffers);
            verifiedImports++;
            try {
                assertEquals(PoolState.ONLINE, pool.state(), context + ": " + pool.reason());
                assertEquals(List.of(), pool.damagedReplicas(), context);
                Map<UUID, Replica> found = new HashMap<>();
                pool.replicas().forEach(r -> found.put(r.uuid(), r));
                for (Map.Entry<UUID, ReplicaModel> e : replicas.entrySet()) {
                    if (!uncertain.contains(e.getKey())) {
                        Replica r = found.get(e.getKey());
                        assertTrue(r != null, context + ": acknowledged replica " + e.getKey() + " is missing");
                        assertTrue(r.sizeBytes() >= e.getValue().size, context + ": replica " + e.getKey()
                                + " is " + r.sizeBytes() + " bytes, less than the acknowledged " + e.getValue().size);
                    }
                }
                Map<UUID, ReplicaModel> next = new HashMap<>();
                for (Replica r : found.values()) {
                    boolean known = replicas.containsKey(r.uuid()) || uncertain.contains(r.uuid());
                    assertTrue(known, context + ": replica " + r.uuid() + " was never created");
                    ReplicaModel model = replicas.getOrDefault(r.uuid(), new ReplicaModel(r.sizeBytes()));
                    next.put(r.uuid(), check(r, model, buffers, context));
                }
                replicas.clear();
                replicas.putAll(next);
                uncertain.clear();
            } finally {
                pool.export();
            }
        } finally {
            device.close();
            buffers.close();
        }
    }

    /** Reads a whole replica and checks every block; returns what it holds as the new model. */
    private static ReplicaModel check(Replica replica, ReplicaModel model, DmaBufferPool buffers, String context) {
        ReplicaModel now = new ReplicaModel(replica.sizeBytes());
        long tag = TortureWorker.tag(replica.uuid());
        int chunk = 1 << 20;
        DmaBuffer buffer = buffers.allocate(chunk);
        try {
            long blocks = replica.blockCount();
            for (long start = 0; start < blocks; start += chunk / BLOCK) {
                int n = (int) Math.min(chunk / BLOCK, blocks - start);
                IoStatus status = BlockingIo.read(replica, buffer, 0, start, n, Duration.ofSeconds(30));
                assertEquals(IoStatus.SUCCESS, status, context);
                for (int i = 0; i < n; i++) {
                    long lba = start + i;
                    long content = stampOf(buffer.bytes(), i * BLOCK, tag, lba, context + ", replica " + replica.uuid());
                    BlockModel expected = model.blocks.get(lba);
                    String where = context + ": replica " + replica.uuid() + " block " + lba;
                    if (expected == null) {
                        assertEquals(-1, content, where + " was never written but holds data");
                        continue;
                    }
                    long durable = Math.max(expected.durable, expected.lastAckedData); // flushed, or data acknowledged
                    if (content == -1) {
                        boolean zeroAllowed = durable == NONE || expected.issued.get(durable)
                                || expected.issued.tailMap(durable, false).containsValue(true);
                        assertTrue(zeroAllowed, where + " reads zeros but write " + durable + " was acknowledged"
                                + (durable == expected.durable ? " and flushed" : ""));
                    } else {
                        assertTrue(Boolean.FALSE.equals(expected.issued.get(content)),
                                where + " holds write " + content + ", which was never issued to it");
                        assertTrue(durable == NONE || content >= durable, where + " holds write " + content
                                + " but the acknowledged write " + durable + " is lost");
                    }
                    BlockModel b = new BlockModel();
                    long seq = content == -1 ? 0 : content;
                    b.issued.put(seq, content == -1);
                    b.lastAcked = seq;
                    b.durable = seq;
                    now.blocks.put(lba, b);
                }
            }
        } finally {
            buffer.release();
        }
        return now;
    }

    /** The write sequence stamped in a block, -1 for zeros; fails on a torn or foreign block. */
    private static long stampOf(ByteBuffer bytes, int offset, long tag, long lba, String where) {
        boolean zero = true;
        for (int i = 0; i < BLOCK; i += 8) {
            if (bytes.getLong(offset + i) != 0) {
                zero = false;
                break;
            }
        }
        if (zero) {
            return -1;
        }
        long seq = bytes.getLong(offset + 16);
        for (int i = 0; i + 24 <= BLOCK; i += 24) {
            if (bytes.getLong(offset + i) != tag || bytes.getLong(offset + i + 8) != lba
                    || bytes.getLong(offset + i + 16) != seq) {
                fail(where + " block " + lba + " is torn or belongs elsewhere");
            }
        }
        return seq;
    }
}
