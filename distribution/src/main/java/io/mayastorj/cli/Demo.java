package io.mayastorj.cli;

import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.internal.buffer.DmaBufferPool;
import io.mayastorj.core.internal.buffer.HugepageMode;
import io.mayastorj.core.internal.reactor.ReactorGroupImpl;
import io.mayastorj.load.VerifyingLoad;
import io.mayastorj.nvmf.internal.host.NvmfBdevFactory;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Predicate;

/**
 * {@code mayastor demo}: the node end to end. Starts a real node process; creates a malloc and an
 * aio bdev, writes random data to each and reads it back; makes a pool on a file with a thin and a
 * thick replica and writes to them; kills the node with SIGKILL, starts it again and shows the pool
 * imported by itself with every byte; shares the thick replica over NVMe/TCP to a second node that
 * reads and writes it remotely, then over iSCSI to libiscsi's tools; then runs three nodes with a
 * 3-replica nexus under a verifying load, kills one, and rebuilds it; then the control plane with
 * four nodes repairs a volume whose node was killed ({@link ControlPlaneAct}); cleans up and stops
 * the nodes with SIGTERM.
 */
final class Demo {

    static final String USAGE = """
            usage: mayastor demo [--keep]

            Starts a node on 127.0.0.1 (port 10124, or a free one); creates bdevs, a pool and
            replicas; writes and verifies data; kills the node (kill -9), starts it again and
            verifies that the pool came back with its data; shares a replica over NVMe/TCP to a
            second node, which reads and writes it through its nvmf host; shares it over iSCSI and
            shows it with libiscsi's iscsi-ls, iscsi-inq and iscsi-perf; then starts nodes on
            127.0.0.2 and .3, makes a volume mirrored over a replica on each of the three, puts a
            verifying load on it, kills one node (the volume goes on, degraded), brings it back
            and rebuilds its replica under the load with progress; then runs a control plane
            (mayastor control) with four nodes on 127.0.0.1-.4, applies a pool manifest per node,
            creates and publishes a 3-replica volume through it, puts a verifying load on it,
            kills one of its nodes and watches the control plane replace that replica on the
            fourth node (degraded, rebuilt, healthy) and destroy the stale one when the node
            returns; stops them all. Everything lives in a temporary directory that is removed
            afterwards (--keep leaves it).
            """;

    private static final int PATTERN_BYTES = 1 << 20;
    private static final String HOST_ID = "demo-host";

    private final PrintStream out;
    private final PrintStream err;
    private int nvmfPort;
    private int iscsiPort;

    Demo(PrintStream out, PrintStream err) {
        this.out = out;
        this.err = err;
    }

    int run(List<String> argv) throws IOException, InterruptedException {
        Args args = Args.parse(argv, Set.of("help", "keep"), Set.of()).atMost(0, "mayastor demo [--keep]");
        if (args.flag("help")) {
            out.print(USAGE);
            return 0;
        }
        Path work = Files.createTempDirectory("mayastor-demo-");
        String endpoint = "127.0.0.1:" + freePort(10124);
        nvmfPort = freePort(8420);
        iscsiPort = freePort(3260);
        out.println("== starting a node on " + endpoint + " (work directory " + work + ")");
        // Ctrl-C or a SIGTERM to the demo runs no finally: the hook stops what it started and removes
        // the work directory (pool images, hundreds of MiB), as a normal end does
        boolean keep = args.flag("keep");
        Thread cleanup = new Thread(() -> {
            stopChildren();
            if (!keep) {
                deleteQuietly(work);
            }
        }, "demo-cleanup");
        Runtime.getRuntime().addShutdownHook(cleanup);
        Process[] node = {null};
        int result;
        try {
            node[0] = startNode(work, endpoint);
            result = steps(work, endpoint, node);
        } finally {
            if (node[0] != null) {
                out.println("== stopping the node (SIGTERM)");
                long start = System.nanoTime();
                node[0].toHandle().destroy(); // SIGTERM; Process.destroy() would also cut off the node's last words
                if (!node[0].waitFor(30, TimeUnit.SECONDS)) {
                    err.println("error: the node did not stop within 30 s; killing it");
                    node[0].destroyForcibly().waitFor();
                }
                out.printf(Locale.ROOT, "== node stopped in %.2f s%n", (System.nanoTime() - start) / 1e9);
            }
            try {
                Runtime.getRuntime().removeShutdownHook(cleanup);
                if (!keep) {
                    deleteTree(work);
                }
            } catch (IllegalStateException shuttingDown) {
                // a signal came: the hook cleans up
            }
        }
        out.println(result == 0 ? "== demo done: every byte written came back: after kill -9, over NVMe/TCP, over iSCSI, through a 3-replica volume that "
                + "lost a node and rebuilt it, and through a volume the control plane repaired on another node"
                : "== demo FAILED");
        return result;
    }

    private Process startNode(Path work, String endpoint) throws IOException, InterruptedException {
        return startNode(work, "demo", endpoint, nvmfPort, iscsiPort);
    }

    /** A node on {@code endpoint}'s address, with its output shown indented; {@code extra} settings after the usual. */
    Process startNode(Path work, String id, String endpoint, int nvmf, int iscsi, String... extra)
            throws IOException, InterruptedException {
        String address = endpoint.substring(0, endpoint.lastIndexOf(':'));
        List<String> command = new ArrayList<>(List.of(Main.home().resolve("bin/mayastor").toString(), "node",
                "--node-id", id, "--grpc-endpoint", endpoint,
                "--state-dir", work.resolve("state-" + id).toString(), "--buffers-mb", "64",
                "--nvmf-address", address, "--nvmf-port", String.valueOf(nvmf), "--iscsi-address", address,
                "--iscsi-port", String.valueOf(iscsi), "--nvmf-io-timeout", "5",
                "--nvmf-nexus-port", String.valueOf(freePortOn(address, 4421))));
        command.addAll(List.of(extra));
        return startProcess(id, command, line -> line.startsWith("mayastor node " + id + " ready"));
    }

    /** Starts a mayastor process, shows its output as "ID | line", and returns once it says it is ready. */
    Process startProcess(String id, List<String> command, Predicate<String> isReady) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        CountDownLatch ready = new CountDownLatch(1);
        AtomicReference<String> failure = new AtomicReference<>();
        Thread pump = new Thread(() -> {
            try (BufferedReader lines = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = lines.readLine()) != null) {
                    out.println("   " + id + " | " + line);
                    if (isReady.test(line)) {
                        ready.countDown();
                    } else if (line.startsWith("error:")) {
                        failure.set(line);
                        ready.countDown();
                    }
                }
            } catch (IOException e) {
                failure.set(e.toString());
            }
            ready.countDown();
        }, id + "-output");
        pump.setDaemon(true);
        pump.start();
        if (!ready.await(60, TimeUnit.SECONDS) || failure.get() != null || !process.isAlive()) {
            process.destroyForcibly();
            throw new IOException(id + " did not start" + (failure.get() == null ? "" : ": " + failure.get()));
        }
        return process;
    }

    /** SIGTERM, and SIGKILL when it has not stopped within 30 s. */
    static void stop(Process p) throws InterruptedException {
        p.toHandle().destroy(); // Process.destroy() would also cut off its last words
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor();
        }
    }

    private static final String THIN = "d3e0c0de-0000-4000-8000-000000000001";
    private static final String THICK = "d3e0c0de-0000-4000-8000-000000000002";

    private int steps(Path work, String endpoint, Process[] node) throws IOException, InterruptedException {
        Path disk = work.resolve("disk.img");
        sized(disk, 64L << 20);
        String malloc = "malloc:///m0?size_mb=64";
        String aio = "aio://" + disk;
        if (ctl(endpoint, "node", "info") != 0
                || ctl(endpoint, "bdev", "create", malloc) != 0
                || ctl(endpoint, "bdev", "create", aio) != 0
                || ctl(endpoint, "bdev", "list") != 0) {
            return 1;
        }
        byte[] pattern = new byte[PATTERN_BYTES];
        new Random(42).nextBytes(pattern);
        Path written = work.resolve("pattern.bin");
        Files.write(written, pattern);
        for (String bdev : List.of("m0", disk.toString())) {
            if (writeAndVerify(endpoint, work, written, pattern, bdev) != 0) {
                return 1;
            }
        }
        if (ctl(endpoint, "bdev", "destroy", "m0") != 0 || ctl(endpoint, "bdev", "destroy", disk.toString()) != 0) {
            return 1;
        }

        out.println();
        out.println("== a pool on a 256 MiB file, with a thin and a thick replica");
        Path poolDisk = work.resolve("pool.img");
        sized(poolDisk, 256L << 20);
        if (ctl(endpoint, "pool", "create", "p0", poolDisk.toString()) != 0
                || ctl(endpoint, "replica", "create", "p0", "64MiB", "--thin", "--uuid", THIN, "--name", "thin") != 0
                || ctl(endpoint, "replica", "create", "p0", "32MiB", "--uuid", THICK, "--name", "thick") != 0
                || ctl(endpoint, "bdev", "write", THIN, "--offset", "41943040", "--input", written.toString(), "--flush") != 0
                || ctl(endpoint, "bdev", "write", THICK, "--offset", "0", "--input", written.toString(), "--flush") != 0
                || ctl(endpoint, "replica", "list") != 0) {
            return 1;
        }

        out.println();
        out.println("== kill -9 the node, then start it again on the same state directory");
        node[0].toHandle().destroyForcibly();
        node[0].waitFor(30, TimeUnit.SECONDS);
        out.println("   node exited with " + node[0].exitValue() + " (killed)");
        node[0] = startNode(work, endpoint);
        if (ctl(endpoint, "pool", "list") != 0 || ctl(endpoint, "replica", "list") != 0) {
            return 1;
        }
        if (readAndVerify(endpoint, work, pattern, THIN, "41943040") != 0
                || readAndVerify(endpoint, work, pattern, THICK, "0") != 0) {
            return 1;
        }
        if (shell(endpoint, "mayastor:stats") != 0 || shell(endpoint, "mayastor:pools") != 0) {
            return 1;
        }
        if (overNvmf(work, endpoint, pattern) != 0 || overIscsi(endpoint) != 0) {
            return 1;
        }
        if (ctl(endpoint, "pool", "destroy", "p0", "--force") != 0) { // with its replicas
            return 1;
        }
        if (new ReplicatedVolume(work, endpoint).run() != 0) {
            return 1;
        }
        return new ControlPlaneAct(this, out, work).run();
    }

    /**
     * Three nodes on 127.0.0.1, .2 and .3, a replica on each, a nexus on the first mirroring them,
     * published over NVMe/TCP and driven by a verifying load from this process; one replica's node
     * is killed (the volume goes on, degraded), comes back, and its replica is rebuilt under load.
     */
    private final class ReplicatedVolume {
        private static final String VOLUME = "d3e0c0de-0000-4000-8000-0000000000f0";
        private final Path work;
        private final String endpoint;
        private final List<Process> others = new ArrayList<>();

        ReplicatedVolume(Path work, String endpoint) {
            this.work = work;
            this.endpoint = endpoint;
        }

        int run() throws IOException, InterruptedException {
            out.println();
            out.println("== a replicated volume: nodes on 127.0.0.2 and 127.0.0.3 join, each with a pool and a replica");
            String[] endpoints = {endpoint, "127.0.0.2:" + freePortOn("127.0.0.2", 10124), "127.0.0.3:" + freePortOn("127.0.0.3", 10124)};
            String[] ids = {"demo", "demo-2", "demo-3"};
            int[] nvmf = {nvmfPort, freePortOn("127.0.0.2", 8420), freePortOn("127.0.0.3", 8420)};
            List<String> children = new ArrayList<>();
            try {
                for (int i = 0; i < 3; i++) {
                    if (i > 0) {
                        out.println();
                        out.println("== starting node " + ids[i] + " on " + endpoints[i]);
                        others.add(startNode(work, ids[i], endpoints[i], nvmf[i], freePortOn(endpoints[i].split(":")[0], 3260)));
                    }
                    Path disk = work.resolve("pool-" + ids[i] + ".img");
                    sized(disk, 512L << 20);
                    String uuid = "d3e0c0de-0000-4000-8000-0000000000a" + i;
                    List<String> create = new ArrayList<>(List.of("replica", "create", "pool-" + i, "256MiB", "--thin", "--uuid", uuid,
                            "--name", "volume-replica-" + (i + 1)));
                    if (i > 0) {
                        create.addAll(List.of("--share", "nvmf", "--allowed-host", "nqn.2019-05.io.openebs:node-name:demo"));
                    }
                    if (ctl(endpoints[i], "pool", "create", "pool-" + i, disk.toString()) != 0
                            || ctl(endpoints[i], create.toArray(String[]::new)) != 0) {
                        return 1;
                    }
                    children.add(i == 0 ? "bdev:///" + uuid // local to the nexus
                            : "nvmf://" + endpoints[i].split(":")[0] + ":" + nvmf[i] + "/nqn.2019-05.io.openebs:" + uuid);
                }
                List<String> create = new ArrayList<>(List.of("nexus", "create", "volume", "--uuid", VOLUME));
                for (String c : children) {
                    create.addAll(List.of("--child", c));
                }
                StringBuilder published = new StringBuilder();
                if (ctl(endpoint, create.toArray(String[]::new)) != 0
                        || ctl(published, endpoint, "nexus", "publish", "volume", "--protocol", "nvmf") != 0) {
                    return 1;
                }
                return underLoad(endpoints, ids, nvmf, children, published.toString().strip());
            } finally {
                ctl(endpoint, "nexus", "destroy", "volume");
                for (int i = 0; i < others.size(); i++) {
                    out.println();
                    out.println("== stopping node " + ids[i + 1]);
                    stop(others.get(i));
                }
            }
        }

        private int underLoad(String[] endpoints, String[] ids, int[] nvmf, List<String> children, String published)
                throws IOException, InterruptedException {
            out.println();
            try (DemoLoad load = new DemoLoad(out, published, "demo-load")) {
                load.progress(3);
                out.println();
                out.println("== kill -9 node " + ids[1] + ": the volume must go on, degraded");
                Process victim = others.get(0);
                victim.toHandle().destroyForcibly();
                victim.waitFor(30, TimeUnit.SECONDS);
                load.progress(2);
                if (ctl(endpoint, "nexus", "list") != 0) {
                    return 1;
                }
                out.println();
                out.println("== node " + ids[1] + " comes back; its replica is added again and rebuilt while the load goes on");
                others.set(0, startNode(work, ids[1], endpoints[1], nvmf[1], freePortOn("127.0.0.2", 3260)));
                if (ctl(endpoint, "nexus", "add-child", "volume", children.get(1)) != 0
                        || ctl(endpoint, "nexus", "list", "volume", "--watch") != 0) {
                    return 1;
                }
                load.progress(1);
                int verdict = load.finish();
                if (shell(endpoint, "mayastor:nexus") != 0) {
                    return 1;
                }
                return verdict;
            }
        }

    }

    /** {@code preferred} on {@code address} when it is free, else any free port there. */
    static int freePortOn(String address, int preferred) throws IOException {
        InetAddress a = InetAddress.getByName(address);
        try (ServerSocket socket = new ServerSocket(preferred, 1, a)) {
            return socket.getLocalPort();
        } catch (IOException taken) {
            try (ServerSocket socket = new ServerSocket(0, 1, a)) {
                return socket.getLocalPort();
            }
        }
    }

    /**
     * The thick replica shared over NVMe/TCP to a second node, which opens it with its nvmf host:
     * reads what the first node wrote before the kill, writes new data that the first node then
     * finds in the replica.
     */
    private int overNvmf(Path work, String endpoint, byte[] pattern) throws IOException, InterruptedException {
        out.println();
        out.println("== NVMe-oF/TCP: share the thick replica with node " + HOST_ID + " only, and use it from there");
        String hostNqn = "nqn.2019-05.io.openebs:node-name:" + HOST_ID;
        StringBuilder uri = new StringBuilder();
        if (ctl(uri, endpoint, "replica", "share", THICK, "--protocol", "nvmf", "--allowed-host", hostNqn) != 0) {
            return 1;
        }
        String shared = uri.toString().strip();
        String hostEndpoint = "127.0.0.1:" + freePort(10125);
        out.println();
        out.println("== starting node " + HOST_ID + " on " + hostEndpoint);
        Process host = startNode(work, HOST_ID, hostEndpoint, freePort(8421), freePort(3261));
        try {
            String remote = shared.contains("?") ? shared.substring(0, shared.indexOf('?')) : shared; // its bdev name
            Path written = work.resolve("pattern2.bin");
            byte[] pattern2 = new byte[PATTERN_BYTES];
            new Random(7).nextBytes(pattern2);
            Files.write(written, pattern2);
            if (ctl(hostEndpoint, "bdev", "create", shared) != 0
                    || readAndVerify(hostEndpoint, work, pattern, remote, "0") != 0
                    || ctl(hostEndpoint, "bdev", "write", remote, "--offset", "2097152", "--input", written.toString(), "--flush") != 0
                    || readAndVerify(endpoint, work, pattern2, THICK, "2097152") != 0
                    || shell(endpoint, "mayastor:nvmf") != 0
                    || shell(hostEndpoint, "mayastor:nvmf") != 0) {
                return 1;
            }
            out.println();
            out.println("$ mayastor bench --uri '" + shared + "&hostnqn=" + hostNqn + "' --rw randread --qd 32 --time 2s");
            if (new Bench(out, err).run(List.of("--uri", shared + "&hostnqn=" + hostNqn, "--rw", "randread", "--qd", "32",
                    "--time", "2s", "--ramp", "1s", "--buffers-mb", "32")) != 0) {
                return 1;
            }
            if (ctl(hostEndpoint, "bdev", "destroy", remote) != 0) {
                return 1;
            }
        } catch (Exception e) {
            err.println("error: " + e.getMessage());
            return 1;
        } finally {
            out.println();
            out.println("== stopping node " + HOST_ID);
            stop(host);
        }
        return ctl(endpoint, "replica", "unshare", THICK);
    }

    /**
     * The thick replica as an iSCSI target, seen by libiscsi's command-line tools (Debian's
     * libiscsi-bin): discovery, INQUIRY, READ CAPACITY and two seconds of random reads.
     */
    private int overIscsi(String endpoint) throws IOException, InterruptedException {
        out.println();
        out.println("== iSCSI: share the thick replica as an iSCSI target and look at it with libiscsi's tools");
        StringBuilder uri = new StringBuilder();
        if (ctl(uri, endpoint, "replica", "share", THICK, "--protocol", "iscsi") != 0) {
            return 1;
        }
        String url = uri.toString().strip();
        if (!onPath("iscsi-inq")) {
            out.println("   (libiscsi-bin is not installed, so there is no initiator to show it with: apt-get install libiscsi-bin)");
        } else {
            String portal = url.substring(0, url.indexOf('/', "iscsi://".length()));
            if (tool("iscsi-ls", "-s", portal) != 0
                    || tool("iscsi-inq", url) != 0
                    || tool("iscsi-readcapacity16", url) != 0
                    || tool("iscsi-perf", "-r", "-m", "32", "-t", "2", url) != 0) {
                return 1;
            }
            if (shell(endpoint, "mayastor:iscsi") != 0) {
                return 1;
            }
        }
        return ctl(endpoint, "replica", "unshare", THICK);
    }

    private static boolean onPath(String command) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            if (Files.isExecutable(Path.of(dir, command))) {
                return true;
            }
        }
        return false;
    }

    /** Runs an outside tool as a user would, its output indented; a tool that hangs is stopped after 30 s. */
    private int tool(String... command) throws IOException, InterruptedException {
        out.println();
        out.println("$ " + String.join(" ", command));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        try (BufferedReader lines = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = lines.readLine()) != null) {
                for (String part : line.split("\r")) { // iscsi-perf redraws its progress line with CR
                    if (!part.isBlank()) {
                        out.println("   " + part.stripTrailing());
                    }
                }
            }
        }
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            err.println("error: " + command[0] + " did not finish");
            return 1;
        }
        if (p.exitValue() != 0) {
            err.println("error: " + command[0] + " exited with " + p.exitValue());
        }
        return p.exitValue();
    }

    private int writeAndVerify(String endpoint, Path work, Path written, byte[] pattern, String bdev) throws IOException {
        if (ctl(endpoint, "bdev", "write", bdev, "--offset", "1048576", "--input", written.toString(), "--flush") != 0) {
            return 1;
        }
        return readAndVerify(endpoint, work, pattern, bdev, "1048576");
    }

    private int readAndVerify(String endpoint, Path work, byte[] pattern, String bdev, String offset) throws IOException {
        Path back = work.resolve("back.bin");
        if (ctl(endpoint, "bdev", "read", bdev, "--offset", offset, "--length", String.valueOf(pattern.length),
                "--output", back.toString()) != 0) {
            return 1;
        }
        if (!Arrays.equals(pattern, Files.readAllBytes(back))) {
            err.println("error: the data read back from " + bdev + " differs from what was written");
            return 1;
        }
        out.println("   verified: 1 MiB read back from " + bdev + " is identical to what was written");
        return 0;
    }

    static void sized(Path file, long size) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(size);
        }
    }

    int ctl(String endpoint, String... words) {
        return ctl(null, endpoint, words);
    }

    private int ctl(StringBuilder output, String endpoint, String... words) {
        return ctlAt(output, "--node", endpoint, words);
    }

    /** Runs a ctl command against the control plane at {@code control}, as a user would type it. */
    int ctlControl(StringBuilder output, String control, String... words) {
        return ctlAt(output, "--control", control, words);
    }

    /** Runs a ctl command as a user would type it; its output also goes to {@code output}, when given. */
    private int ctlAt(StringBuilder output, String flag, String address, String... words) {
        out.println();
        out.println("$ mayastor ctl " + flag + " " + address + " " + String.join(" ", words));
        List<String> argv = new ArrayList<>(List.of(flag, address));
        argv.addAll(List.of(words));
        if (output == null) {
            return new Ctl(out, err).run(argv);
        }
        var captured = new java.io.ByteArrayOutputStream();
        int rc = new Ctl(new PrintStream(captured, true, StandardCharsets.UTF_8), err).run(argv);
        String text = captured.toString(StandardCharsets.UTF_8);
        out.print(text);
        output.append(text);
        return rc;
    }

    private int shell(String endpoint, String command) {
        out.println();
        out.println("$ mayastor shell --node " + endpoint + " '" + command + "'");
        return new ShellClient(System.in, out, err).run(List.of("--node", endpoint, command));
    }

    /** {@code preferred} when it is free, else any free port. */
    private static int freePort(int preferred) throws IOException {
        InetAddress loopback = InetAddress.getLoopbackAddress();
        try (ServerSocket socket = new ServerSocket(preferred, 1, loopback)) {
            return socket.getLocalPort();
        } catch (IOException taken) {
            try (ServerSocket socket = new ServerSocket(0, 1, loopback)) {
                return socket.getLocalPort();
            }
        }
    }

    /** Every process the demo started (nodes, the control plane, ctl) and theirs: SIGTERM, then SIGKILL after 30 s. */
    private static void stopChildren() {
        List<ProcessHandle> children = ProcessHandle.current().descendants().toList();
        children.forEach(ProcessHandle::destroy);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        for (ProcessHandle p : children) {
            try {
                p.onExit().get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (Exception notYet) {
                p.destroyForcibly();
            }
        }
    }

    private static void deleteQuietly(Path root) {
        try {
            deleteTree(root);
        } catch (IOException e) {
            System.err.println("error: could not remove " + root + ": " + e.getMessage());
        }
    }

    private static void deleteTree(Path root) throws IOException {
        try (var paths = Files.walk(root)) {
            for (Path p : paths.sorted((a, b) -> b.getNameCount() - a.getNameCount()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
