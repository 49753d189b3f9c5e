package io.mayastorj.cli;

import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.BlockingIo;
import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.buffer.BufferPool;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.core.internal.bdev.AioBdevFactory;
import io.mayastorj.core.internal.bdev.UringBdevFactory;
import io.mayastorj.core.internal.bdev.BdevRegistryImpl;
import io.mayastorj.core.internal.bdev.MallocBdevFactory;
import io.mayastorj.core.internal.bdev.NullBdevFactory;
import io.mayastorj.core.internal.buffer.DmaBufferPool;
import io.mayastorj.core.internal.buffer.HugepageMode;
import io.mayastorj.core.internal.reactor.ReactorGroupImpl;
import io.mayastorj.core.reactor.Reactor;
import io.mayastorj.nvmf.internal.host.NvmfBdevFactory;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code mayastor bench}: a load generator for any bdev URI, in this process, on the node's own
 * I/O path (reactors, DMA buffers, the bdev factories: malloc, null, aio, nvmf). A fixed number of
 * I/O slots keeps the queue depth: each slot has its buffer, its random generator and its latency
 * histogram, and resubmits from its own completion, so the load allocates nothing per I/O and no two
 * threads share a counter on the hot path.
 */
final class Bench {

    static final String USAGE = """
            usage: mayastor bench --uri URI [--rw randread|randwrite|read|write] [--bs 4k] [--qd 32]
                                  [--time 10s] [--ramp 2s] [--size SIZE] [--reactors 2]
                                  [--buffers-mb 256] [--io-timeout 30s] [--target-pid PID] [--hop] [--json] [--force]

            Drives I/O at a fixed queue depth against the bdev a URI names and prints IOPS,
            bandwidth and latency percentiles, like fio. The bdev is opened in this process:
              malloc:///m0?size_mb=1024      RAM
              null:///n0?size_mb=1024        no data at all (the cost of the path itself)
              uring:///path/to/file-or-dev   a file or device through io_uring, O_DIRECT where it can
              aio:///path/to/file-or-device  the same through Linux native AIO
              nvmf://127.0.0.1:8420/NQN      a remote namespace over NVMe/TCP (see 'ctl bdev share')

            options:
              --rw           randread (default), randwrite, read or write (sequential)
              --bs           I/O size (4k, 128k, ...), a multiple of the block size, at most 2MiB
              --qd           I/Os in flight (default 32)
              --time         measured duration (10s, 500ms, 1m); --ramp runs before it, unmeasured;
                             SIGTERM or Ctrl-C ends it early and still reports what was measured
              --size         how much of the device to use from offset 0, e.g. 256MiB (default: all of it)
              --reactors     reactor threads that start the I/O (nvmf queues are per reactor)
              --buffers-mb   DMA buffer pool to allocate, in MiB (default 256, more when qd x bs needs it)
              --io-timeout   how long an nvmf:// I/O may take before it fails (default 30s)
              --target-pid   also report the CPU time per I/O of that process (e.g. the target node)
              --json         one JSON object instead of the text report
              --hop          resubmit on the slot's reactor, not on the thread that completed the I/O:
                             the thread hop a target makes for every I/O, measured on its own
            Writes overwrite what the device holds; a device that holds a pool is refused unless
            --force is given. Exit code 1 when any I/O failed.
            """;

    private static final Pattern DURATION = Pattern.compile("([0-9]+(?:\\.[0-9]+)?)(ms|s|m)?");

    private final PrintStream out;
    private final PrintStream err;

    Bench(PrintStream out, PrintStream err) {
        this.out = out;
        this.err = err;
    }

    int run(List<String> argv) throws Exception {
        Args args = Args.parse(argv, Set.of("help", "json", "hop", "force"),
                Set.of("uri", "rw", "bs", "qd", "time", "ramp", "size", "reactors", "buffers-mb", "target-pid", "io-timeout"))
                .atMost(0, "mayastor bench --uri URI ...");
        if (args.flag("help")) {
            out.print(USAGE);
            return 0;
        }
        String uri = args.option("uri", null);
        if (uri == null) {
            throw new UsageException("--uri is required\n" + USAGE);
        }
        Workload w = new Workload(args.option("rw", "randread"));
        long bs = SizeArg.parse(args.option("bs", "4k"), "--bs");
        long size = args.option("size", null) == null ? Long.MAX_VALUE : SizeArg.parse(args.option("size", null), "--size");
        long qd = args.longOption("qd", 32);
        long measureNanos = duration(args.option("time", "10s"), "--time");
        long rampNanos = duration(args.option("ramp", "2s"), "--ramp");
        long reactorCount = args.longOption("reactors", 2);
        long buffersMb = args.longOption("buffers-mb", 256);
        long ioTimeout = duration(args.option("io-timeout", "30s"), "--io-timeout");
        String targetPid = args.option("target-pid", null);
        if (qd < 1 || qd > 4096) {
            throw new UsageException("--qd must be between 1 and 4096, not " + qd);
        }
        if (bs < 1 || bs > BufferPool.MAX_BUFFER_SIZE) {
            throw new UsageException("--bs must be between 1 byte and 2MiB (the largest DMA buffer), not " + bs);
        }
        if (reactorCount < 1 || reactorCount > 64) {
            throw new UsageException("--reactors must be between 1 and 64");
        }
        if (measureNanos <= 0) {
            throw new UsageException("--time must be greater than zero");
        }
        if (ioTimeout < 1_000_000) {
            throw new UsageException("--io-timeout must be at least 1ms (every I/O would time out)");
        }
        if (buffersMb < 2 || buffersMb > (1L << 20)) {
            throw new UsageException("--buffers-mb must be between 2 and 1048576 (1 TiB), not " + buffersMb);
        }
        if (targetPid != null && !targetPid.matches("[1-9][0-9]{0,9}")) { // '' would name /proc/stat
            throw new UsageException("--target-pid '" + targetPid + "': not a process id");
        }
        if (targetPid != null && !Files.isReadable(Path.of("/proc", targetPid, "stat"))) {
            throw new UsageException("--target-pid " + targetPid + ": no such process");
        }
        try { // before the reactors and the buffers: a bad URI is said alone, not after their log lines
            String scheme = io.mayastorj.core.bdev.BdevUri.parse(uri).scheme();
            if (!Set.of("malloc", "null", "aio", "uring", "nvmf").contains(scheme)) {
                throw new UsageException("--uri " + uri + ": bench opens malloc://, null://, aio://, uring:// and nvmf://"
                        + " devices, not " + scheme + "://");
            }
        } catch (MayastorException e) {
            throw new UsageException("--uri: " + e.getMessage());
        }

        ReactorGroupImpl reactors = new ReactorGroupImpl((int) reactorCount);
        DmaBufferPool buffers = new DmaBufferPool(Math.max(buffersMb << 20, qd * bs * 2 + (8 << 20)), HugepageMode.AUTO);
        BdevRegistryImpl registry = new BdevRegistryImpl();
        NvmfBdevFactory nvmf = NvmfBdevFactory.of(reactors.reactors(), buffers, NvmfBdevFactory.hostNqn("bench"), ioTimeout);
        registry.addFactory(new MallocBdevFactory());
        registry.addFactory(new NullBdevFactory());
        registry.addFactory(new AioBdevFactory(reactors));
        registry.addFactory(new UringBdevFactory(reactors, buffers));
        registry.addFactory(nvmf);
        try {
            BlockDevice device;
            try {
                device = registry.create(uri);
            } catch (MayastorException e) {
                err.println("error: cannot open " + uri + ": " + e.getMessage());
                return 1;
            }
            if (w.write() && !args.flag("force")) {
                String holds = poolOn(device, buffers);
                if (holds != null) {
                    throw new UsageException(uri + " holds " + holds + ": a write benchmark would destroy it (--force to "
                            + "overwrite it all the same)");
                }
            }
            if (bs % device.blockSize() != 0) {
                throw new UsageException("--bs " + bs + " is not a multiple of the block size " + device.blockSize());
            }
            long region = Math.min(size, device.sizeBytes()) / bs;
            if (region < 1) {
                throw new UsageException(size < device.sizeBytes() ? "--size " + size + " is smaller than one I/O (--bs " + bs + ")"
                        : "the device (" + device.sizeBytes() + " bytes) is smaller than one I/O (--bs " + bs + ")");
            }
            Run run = new Run(device, w, (int) bs, region, (int) qd, buffers, args.flag("hop"));
            // SIGTERM or Ctrl-C ends the measurement early, and what was measured is still reported (as fio does)
            CountDownLatch stop = new CountDownLatch(1);
            CountDownLatch reported = new CountDownLatch(1);
            Thread hook = new Thread(() -> {
                stop.countDown();
                try {
                    reported.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, "bench-stop");
            Runtime.getRuntime().addShutdownHook(hook);
            Result result;
            try {
                result = run.execute(reactors.reactors(), rampNanos, measureNanos, ioTimeout, targetPid, stop);
                if (result.beforeMeasuring) {
                    // no report: its figures would be of a window of microseconds. Said before the hook
                    // is let go: the JVM ends as soon as it returns
                    err.println("error: stopped during the ramp, before the measurement began: nothing was measured");
                } else if (args.flag("json")) {
                    out.println(result.json(uri, w, bs, qd, buffers.onHugepages()));
                } else {
                    result.print(out, uri, device, w, bs, qd, reactorCount, buffers.onHugepages());
                }
                out.flush();
            } finally {
                reported.countDown();
                try {
                    Runtime.getRuntime().removeShutdownHook(hook);
                } catch (IllegalStateException shuttingDown) {
                    // stopped by a signal: the hook is running and lets the JVM end now
                }
            }
            if (result.beforeMeasuring) {
                return 1;
            }
            if (result.firstError != null) {
                err.println("error: " + result.errors + " I/Os failed (first: " + result.firstError + ")");
                return 1;
            }
            if (result.stuck > 0) {
                err.println("error: " + result.stuck + " I/Os did not complete");
                return 1;
            }
            return 0;
        } finally {
            registry.closeAll();
            nvmf.close();
            reactors.stop();
            buffers.close();
        }
    }

    static long duration(String text, String what) {
        Matcher m = DURATION.matcher(text.strip());
        if (!m.matches()) {
            throw new UsageException(what + " '" + text + "' is not a duration (e.g. 10s, 500ms, 1m)");
        }
        double value = Double.parseDouble(m.group(1));
        String unit = m.group(2) == null ? "s" : m.group(2);
        double nanos = switch (unit) {
            case "ms" -> value * 1e6;
            case "m" -> value * 60e9;
            default -> value * 1e9;
        };
        return (long) nanos;
    }

    /** What a pool's superblock blocks (the device's first two pages) say is there, or null for no pool. */
    static String poolOn(BlockDevice device, DmaBufferPool buffers) {
        if (device.sizeBytes() < 8192) {
            return null;
        }
        DmaBuffer page = buffers.allocate(8192);
        try {
            if (BlockingIo.read(device, page, 0, 0, 8192 / device.blockSize(), java.time.Duration.ofSeconds(30)) != IoStatus.SUCCESS) {
                return null; // the benchmark's own reads say what is wrong
            }
            for (int at : new int[] {0, 4096}) {
                byte[] magic = new byte[POOL_MAGIC.length];
                page.bytes().get(at, magic);
                if (java.util.Arrays.equals(magic, POOL_MAGIC)) {
                    return "a Mayastor pool (its superblock at byte " + at + ")";
                }
            }
            return null;
        } finally {
            page.release();
        }
    }

    /** The pools' superblock magic (FORMAT.md), read here without the pool bundle, which the CLI does not load. */
    private static final byte[] POOL_MAGIC = "MJ-POOL1".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

    record Workload(String name, boolean write, boolean random) {
        Workload(String name) {
            this(name, name.endsWith("write"), name.startsWith("rand"));
            if (!Set.of("randread", "randwrite", "read", "write").contains(name)) {
                throw new UsageException("--rw must be randread, randwrite, read or write, not '" + name + "'");
            }
        }
    }

    /**
     * Completions that arrive on the thread that is submitting (a malloc read completes inline)
     * would recurse; each thread has a trampoline that queues them and runs them once the
     * outermost submission returns.
     */
    private static final class Trampoline {
        private static final ThreadLocal<Trampoline> CURRENT = ThreadLocal.withInitial(Trampoline::new);
        private final ArrayDeque<Slot> pending = new ArrayDeque<>();
        private boolean active;

        static void submit(Slot slot) {
            Trampoline t = CURRENT.get();
            if (t.active) {
                t.pending.addLast(slot);
                return;
            }
            t.active = true;
            try {
                slot.issue();
                Slot next;
                while ((next = t.pending.pollFirst()) != null) {
                    next.issue();
                }
            } finally {
                t.active = false;
            }
        }
    }

    /** One I/O in flight at a time; touched by one thread at a time (the device orders the handoff). */
    private static final class Slot implements IoCompletion<Object> {
        final Run run;
        final DmaBuffer buffer;
        final LatencyHistogram latency = new LatencyHistogram();
        final Runnable resubmit = () -> Trampoline.submit(this);
        Reactor home;
        long random;
        long started;
        long errors;
        IoStatus firstError;

        Slot(Run run, DmaBuffer buffer, long seed) {
            this.run = run;
            this.buffer = buffer;
            this.random = seed;
        }

        void issue() {
            long lba = run.nextLba(this);
            started = System.nanoTime();
            if (run.workload.write()) {
                run.device.write(buffer, 0, lba, run.blocksPerIo, this, null);
            } else {
                run.device.read(buffer, 0, lba, run.blocksPerIo, this, null);
            }
        }

        @Override
        public void ioDone(IoStatus status, Object context) {
            long now = System.nanoTime();
            int phase = run.phase;
            if (phase == Run.MEASURE) {
                latency.record(now - started);
            }
            if (status != IoStatus.SUCCESS) {
                if (firstError == null) {
                    firstError = status;
                }
                errors++;
            }
            if (phase == Run.STOP || errors > 0) {
                run.live.decrementAndGet();
                return;
            }
            if (run.hop && !home.inReactor()) {
                home.execute(resubmit);
                return;
            }
            Trampoline.submit(this);
        }
    }

    static final class Run {
        static final int RAMP = 0;
        static final int MEASURE = 1;
        static final int STOP = 2;

        final BlockDevice device;
        final Workload workload;
        final int blocksPerIo;
        final long region;
        final Slot[] slots;
        final AtomicLong cursor = new AtomicLong();
        final AtomicInteger live = new AtomicInteger();
        final boolean hop;
        volatile int phase = RAMP;

        Run(BlockDevice device, Workload workload, int bs, long region, int qd, DmaBufferPool buffers, boolean hop) {
            this.device = device;
            this.hop = hop;
            this.workload = workload;
            this.blocksPerIo = bs / device.blockSize();
            this.region = region;
            this.slots = new Slot[qd];
            for (int i = 0; i < qd; i++) {
                DmaBuffer buffer = buffers.allocate(bs);
                for (int off = 0; off + 8 <= bs; off += 8) {
                    buffer.bytes().putLong(off, 0x6d61796173746f72L ^ ((long) i << 32) ^ off); // not zeros, not compressible
                }
                slots[i] = new Slot(this, buffer, 0x9E3779B97F4A7C15L * (i + 1));
            }
        }

        long nextLba(Slot slot) {
            if (!workload.random()) {
                return cursor.getAndIncrement() % region * blocksPerIo;
            }
            long x = slot.random;
            x ^= x << 13;
            x ^= x >>> 7;
            x ^= x << 17;
            slot.random = x;
            return Long.remainderUnsigned(x, region) * blocksPerIo;
        }

        Result execute(List<Reactor> reactors, long rampNanos, long measureNanos, long ioTimeout, String targetPid,
                       CountDownLatch stop) throws InterruptedException, IOException {
            live.set(slots.length);
            for (int i = 0; i < slots.length; i++) {
                Slot slot = slots[i];
                slot.home = reactors.get(i % reactors.size());
                reactors.get(i % reactors.size()).execute(() -> Trampoline.submit(slot));
            }
            boolean stoppedInRamp = stop.await(rampNanos, TimeUnit.NANOSECONDS); // (also with no ramp: stopped already)
            var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
            long cpu0 = os.getProcessCpuTime();
            long target0 = targetPid == null ? -1 : ProcessCpu.nanosIfAlive(targetPid);
            long t0 = System.nanoTime();
            if (!stoppedInRamp) {
                phase = MEASURE;
                stop.await(measureNanos, TimeUnit.NANOSECONDS);
            }
            phase = STOP;
            long elapsed = System.nanoTime() - t0;
            long cpu = os.getProcessCpuTime() - cpu0;
            long target1 = targetPid == null ? -1 : ProcessCpu.nanosIfAlive(targetPid);
            long target = target0 < 0 || target1 < 0 ? -1 : target1 - target0; // a target gone: the rest is still reported
            if (targetPid != null && target < 0) {
                System.err.println("bench: process " + targetPid + " ended during the run: its CPU is not reported");
            }
            long deadline = System.nanoTime() + ioTimeout + TimeUnit.SECONDS.toNanos(5);
            while (live.get() > 0 && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            Result r = new Result(elapsed, cpu, target, live.get());
            r.beforeMeasuring = stoppedInRamp;
            for (Slot s : slots) { // live's decrements publish each slot's counters
                r.latency.add(s.latency);
                r.errors += s.errors;
                if (r.firstError == null && s.firstError != null) {
                    r.firstError = s.firstError;
                }
            }
            if (r.stuck == 0) {
                for (Slot s : slots) {
                    s.buffer.release();
                }
            }
            return r;
        }

    }

    /** CPU time of another process from /proc/PID/stat (utime + stime, in clock ticks). */
    static final class ProcessCpu {
        private static final long TICK_NANOS = 1_000_000_000L / clockTicks();

        /** {@link #nanos}, or -1 once the process is gone. */
        static long nanosIfAlive(String pid) {
            try {
                return nanos(pid);
            } catch (IOException e) {
                return -1;
            }
        }

        static long nanos(String pid) throws IOException {
            String stat = Files.readString(Path.of("/proc", pid, "stat"));
            String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" "); // comm may hold spaces
            return (Long.parseLong(fields[11]) + Long.parseLong(fields[12])) * TICK_NANOS; // fields 14, 15
        }

        private static long clockTicks() {
            try {
                Process p = new ProcessBuilder("getconf", "CLK_TCK").redirectErrorStream(true).start();
                String text = new String(p.getInputStream().readAllBytes()).strip();
                return p.waitFor() == 0 ? Long.parseLong(text) : 100;
            } catch (IOException | InterruptedException | NumberFormatException e) {
                return 100; // Linux's USER_HZ everywhere that matters
            }
        }
    }

    static final class Result {
        final long elapsedNanos;
        final long cpuNanos;
        final long targetCpuNanos;
        final int stuck;
        final LatencyHistogram latency = new LatencyHistogram();
        long errors;
        IoStatus firstError;
        /** Stopped (a signal) before the measurement began: the numbers are of no window at all. */
        boolean beforeMeasuring;

        Result(long elapsedNanos, long cpuNanos, long targetCpuNanos, int stuck) {
            this.elapsedNanos = elapsedNanos;
            this.cpuNanos = cpuNanos;
            this.targetCpuNanos = targetCpuNanos;
            this.stuck = stuck;
        }

        double iops() {
            return latency.count() * 1e9 / elapsedNanos;
        }

        double bytesPerSecond(long bs) {
            return iops() * bs;
        }

        double cpuMicrosPerIo(long nanos) {
            return latency.count() == 0 ? 0 : nanos / 1e3 / latency.count();
        }

        void print(PrintStream out, String uri, BlockDevice device, Workload w, long bs, long qd, long reactors, boolean hugepages) {
            out.printf(Locale.ROOT, "%s: %s (%s, %s, %d-byte blocks)%n", w.name(), uri, device.productName(),
                    io.mayastorj.core.text.Sizes.human(device.sizeBytes()), device.blockSize());
            out.printf(Locale.ROOT, "  bs=%s qd=%d reactors=%d buffers=%s%n", io.mayastorj.core.text.Sizes.human(bs), qd, reactors,
                    hugepages ? "hugepages" : "direct memory");
            out.printf(Locale.ROOT, "  %s: IOPS=%s, BW=%.1fMiB/s (%.1fMB/s), %d I/Os in %.2f s, %d errors%n",
                    w.write() ? "write" : "read", kilo(iops()), bytesPerSecond(bs) / (1 << 20), bytesPerSecond(bs) / 1e6,
                    latency.count(), elapsedNanos / 1e9, errors);
            out.printf(Locale.ROOT, "    lat (usec): min=%.1f, avg=%.1f, max=%.1f%n",
                    latency.min() / 1e3, latency.mean() / 1e3, latency.max() / 1e3);
            out.printf(Locale.ROOT, "    lat percentiles (usec): p50=%.1f, p90=%.1f, p99=%.1f, p99.9=%.1f%n",
                    latency.percentile(0.50) / 1e3, latency.percentile(0.90) / 1e3,
                    latency.percentile(0.99) / 1e3, latency.percentile(0.999) / 1e3);
            out.printf(Locale.ROOT, "  cpu: bench %.2f us/IO (%.2f cores)", cpuMicrosPerIo(cpuNanos), (double) cpuNanos / elapsedNanos);
            if (targetCpuNanos >= 0) {
                out.printf(Locale.ROOT, ", target %.2f us/IO (%.2f cores)", cpuMicrosPerIo(targetCpuNanos),
                        (double) targetCpuNanos / elapsedNanos);
            }
            out.println();
        }

        String json(String uri, Workload w, long bs, long qd, boolean hugepages) {
            return String.format(Locale.ROOT, "{\"uri\":\"%s\",\"rw\":\"%s\",\"bs\":%d,\"qd\":%d,\"buffers\":\"%s\",\"ios\":%d,\"seconds\":%.3f,"
                            + "\"iops\":%.0f,\"bytes_per_second\":%.0f,\"errors\":%d,\"lat_usec\":{\"min\":%.1f,\"mean\":%.1f,"
                            + "\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p99_9\":%.1f,\"max\":%.1f},\"cpu_usec_per_io\":%.3f%s}",
                    uri.replace("\\", "\\\\").replace("\"", "\\\""), w.name(), bs, qd,
                    hugepages ? "hugepages" : "direct memory", latency.count(), elapsedNanos / 1e9,
                    iops(), bytesPerSecond(bs), errors, latency.min() / 1e3, latency.mean() / 1e3,
                    latency.percentile(0.5) / 1e3, latency.percentile(0.9) / 1e3, latency.percentile(0.99) / 1e3,
                    latency.percentile(0.999) / 1e3, latency.max() / 1e3, cpuMicrosPerIo(cpuNanos),
                    targetCpuNanos < 0 ? "" : String.format(Locale.ROOT, ",\"target_cpu_usec_per_io\":%.3f", cpuMicrosPerIo(targetCpuNanos)));
        }

        private static String kilo(double v) {
            if (v >= 10_000_000) {
                return String.format(Locale.ROOT, "%.2fM", v / 1e6);
            }
            return v >= 10_000 ? String.format(Locale.ROOT, "%.1fk", v / 1e3) : String.format(Locale.ROOT, "%.0f", v);
        }
    }
}
