package io.mayastorj.itests;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The built distribution as a user runs it: a node process on its own loopback address, driven by
 * the CLI in other processes; bdevs created, written and read back; then SIGTERM.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DistributionTest {

    private static Mayastor.NodeProcess node;
    private static String endpoint;
    private static Path work;

    @BeforeAll
    static void startNode() throws Exception {
        work = Scratch.dir("mayastor-dist-test");
        endpoint = "127.0.0.2:" + freePort("127.0.0.2");
        node = new Mayastor.NodeProcess("--node-id", "dist-test", "--grpc-endpoint", endpoint,
                "--state-dir", work.resolve("state").toString(), "--buffers-mb", "32");
        String ready = node.await(l -> l.startsWith("mayastor node dist-test ready"), 60);
        assertNotNull(ready, "the node did not start:\n" + node.output());
        Matcher m = Pattern.compile("started in ([0-9.]+) s").matcher(ready);
        assertTrue(m.find(), ready);
        System.out.println("node start-up: " + m.group(1) + " s (" + ready + ")");
    }

    @AfterAll
    static void stopNode() throws Exception {
        if (node == null) {
            return;
        }
        long start = System.nanoTime();
        node.process.toHandle().destroy(); // SIGTERM, keeping the output pipe open to read the goodbye
        assertTrue(node.process.waitFor(15, TimeUnit.SECONDS), "the node stops within 15 s of SIGTERM");
        System.out.println("node exit value after SIGTERM: " + node.process.exitValue());
        double seconds = (System.nanoTime() - start) / 1e9;
        assertNotNull(node.await(l -> l.startsWith("mayastor node dist-test stopped in"), 1),
                "the node says it stopped:\n" + node.output());
        System.out.printf("node stop after SIGTERM: %.2f s%n", seconds);
    }

    /**
     * A port free on {@code ip} now, never one handed out before in this JVM: the kernel may give
     * a port it has just given again once it is closed, before the node it was for has bound it
     * (CI saw a node's gRPC and iSCSI ports come out the same).
     */
    static int freePort(String ip) throws IOException {
        while (true) {
            int port;
            try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName(ip))) {
                port = s.getLocalPort();
            }
            if (PORTS_GIVEN.add(port)) {
                return port;
            }
        }
    }

    private static final java.util.Set<Integer> PORTS_GIVEN = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private static Mayastor.Result ctl(String... words) throws Exception {
        String[] args = new String[words.length + 3];
        args[0] = "ctl";
        args[1] = "--node";
        args[2] = endpoint;
        System.arraycopy(words, 0, args, 3, words.length);
        return Mayastor.run(args);
    }

    private static Mayastor.Result ok(Mayastor.Result r) {
        assertEquals(0, r.exit(), "exit code; stderr: " + r.err() + "\nstdout: " + r.out());
        return r;
    }

    @Test
    @Order(1)
    void mallocAndAioBdevsCreatedWithTheCliHoldWhatIsWritten() throws Exception {
        Path disk = work.resolve("disk.img");
        try (RandomAccessFile f = new RandomAccessFile(disk.toFile(), "rw")) {
            f.setLength(64 << 20);
        }
        assertTrue(ok(ctl("bdev", "create", "malloc:///m0?size_mb=64")).out().contains("Malloc disk"));
        assertTrue(ok(ctl("bdev", "create", "aio://" + disk)).out().contains("AIO disk"));
        String list = ok(ctl("bdev", "list")).out();
        assertTrue(list.startsWith("NAME"), list);
        assertTrue(list.contains("m0") && list.contains(disk.toString()), list);

        byte[] pattern = new byte[512 << 10];
        new Random(99).nextBytes(pattern);
        Path in = work.resolve("pattern.bin");
        Files.write(in, pattern);
        for (String bdev : new String[] {"m0", disk.toString()}) {
            Path out = work.resolve("back.bin");
            ok(ctl("bdev", "write", bdev, "--offset", "4096", "--input", in.toString(), "--flush"));
            ok(ctl("bdev", "read", bdev, "--offset", "4096", "--length", String.valueOf(pattern.length),
                    "--output", out.toString()));
            assertArrayEquals(pattern, Files.readAllBytes(out), "data read back from " + bdev);
        }
        // review finding: with --json a read into a file printed its text line
        Path into = work.resolve("into \"q\".bin");
        assertEquals("{\"name\": \"m0\", \"offset\": 4096, \"bytes\": 512, \"output\": \""
                + into.toString().replace("\"", "\\\"") + "\"}\n",
                ok(ctl("--json", "bdev", "read", "m0", "--offset", "4096", "--length", "512", "--output", into.toString())).out());
        assertArrayEquals(java.util.Arrays.copyOf(pattern, 512), Files.readAllBytes(into));
        String json = ok(ctl("--json", "bdev", "list", "m0")).out();
        assertTrue(json.contains("\"numWriteOps\": \"1\""), json);
    }

    @Test
    @Order(2)
    void theShellShowsTheBdevsAndOnlyActiveBundles() throws Exception {
        String bdevs = ok(Mayastor.run("shell", "--node", endpoint, "mayastor:bdevs")).out();
        assertTrue(bdevs.contains("m0") && bdevs.contains("Malloc disk"), bdevs);
        String stats = ok(Mayastor.run("shell", "--node", endpoint, "mayastor:stats")).out();
        assertTrue(stats.lines().anyMatch(l -> l.startsWith("m0") && l.contains("512 KiB")), stats);
        String lb = ok(Mayastor.run("shell", "--node", endpoint, "lb")).out();
        long bundles = lb.lines().filter(l -> l.matches("\\s*[0-9]+\\|.*")).count();
        long active = lb.lines().filter(l -> l.matches("\\s*[0-9]+\\|Active .*")).count();
        assertTrue(bundles >= 15, lb);
        assertEquals(bundles, active, lb);
        String inspect = ok(Mayastor.run("shell", "--node", endpoint, "inspect capability service io.mayastorj.core")).out();
        assertTrue(inspect.contains("io.mayastorj.core.bdev.BdevRegistry"), inspect);
        String headers = ok(Mayastor.run("shell", "--node", endpoint, "headers 0")).out();
        assertTrue(headers.contains("System Bundle"), headers);
        Mayastor.Result unknown = Mayastor.run("shell", "--node", endpoint, "mayastor:nosuch");
        assertEquals(1, unknown.exit());
        assertEquals("error: Command not found: mayastor:nosuch\n", unknown.err());
        // review finding: from standard input only the last line's status counted; a script's failure passed
        Mayastor.Result script = Mayastor.runWithInput("mayastor:nosuch\nmayastor:node\n", "shell", "--node", endpoint);
        assertEquals(1, script.exit(), "a failed line fails the script: " + script);
        assertTrue(!script.out().isBlank(), "the later line still ran: " + script);
    }

    @Test
    @Order(3)
    void refusedRequestsExitNonZeroWithTheNodesMessage() throws Exception {
        Mayastor.Result duplicate = ctl("bdev", "create", "malloc:///m0?size_mb=1");
        assertEquals(1, duplicate.exit());
        assertEquals("error: ALREADY_EXISTS: bdev m0 exists already\n", duplicate.err());
        Mayastor.Result missing = ctl("bdev", "destroy", "nope");
        assertEquals(1, missing.exit());
        assertEquals("error: NOT_FOUND: bdev nope not found\n", missing.err());
        Mayastor.Result badUri = ctl("bdev", "create", "malloc:///m9?size_mb=1&colour=red");
        assertEquals(1, badUri.exit());
        assertEquals("error: INVALID_ARGUMENT: 'malloc:///m9?size_mb=1&colour=red': unknown parameter 'colour' "
                + "for malloc (allowed: blk_size, num_blocks, size_mb, uuid)\n", badUri.err());
        Mayastor.Result usage = ctl("bdev", "frobnicate");
        assertEquals(2, usage.exit());
        assertEquals("error: unknown command 'bdev frobnicate'; see mayastor ctl --help\n", usage.err());
        ok(ctl("node", "info")); // the node still serves
    }

    @Test
    @Order(4)
    void bdevsAreDestroyed() throws Exception {
        ok(ctl("bdev", "destroy", "m0"));
        ok(ctl("bdev", "destroy", work.resolve("disk.img").toString()));
        assertEquals("no bdevs\n", ok(ctl("bdev", "list")).out());
    }

    @Test
    void anUnreachableNodeExitsWithThree() throws Exception {
        int port = freePort("127.0.0.1");
        Mayastor.Result r = Mayastor.run("ctl", "--node", "127.0.0.1:" + port, "node", "info");
        assertEquals(3, r.exit());
        assertEquals("error: cannot reach 127.0.0.1:" + port + ": nothing listens there (is the node running? mayastor node "
                + "starts one; --node or $MAYASTOR_NODE points elsewhere)\n", r.err());
        // review finding: the control plane's address was blamed on --node
        r = Mayastor.run("ctl", "--control", "127.0.0.1:" + port, "volume", "list");
        assertEquals(3, r.exit());
        assertEquals("error: cannot reach 127.0.0.1:" + port + ": nothing listens there (is the control plane running? mayastor "
                + "control starts one; --control or $MAYASTOR_CONTROL points elsewhere)\n", r.err());
    }

    /**
     * What the command line says when a request cannot be done as asked: each message names what
     * is in the way and the command that clears it; sharing and unsharing are both idempotent.
     */
    @Test
    @Order(5)
    void refusalsSayWhatToDoAndSharingIsIdempotentBothWays() throws Exception {
        ok(ctl("bdev", "create", "malloc:///hint0?size_mb=32"));
        ok(ctl("pool", "create", "hintpool", "malloc:///hint0"));
        Mayastor.Result poolDisk = ctl("bdev", "destroy", "hint0");
        assertEquals(1, poolDisk.exit());
        assertEquals("error: FAILED_PRECONDITION: bdev hint0 is in use by pool hintpool; destroy the pool first "
                + "(mayastor ctl pool destroy hintpool)\n", poolDisk.err());
        String uuid = "3e6b6a5c-0000-4000-8000-00000000c11a";
        ok(ctl("replica", "create", "hintpool", "4MiB", "--uuid", uuid));
        Mayastor.Result replica = ctl("bdev", "destroy", uuid);
        assertEquals(1, replica.exit());
        assertEquals("error: FAILED_PRECONDITION: bdev " + uuid + " is a Logical volume managed by its subsystem; destroy "
                + "the replica (mayastor ctl replica destroy " + uuid + ")\n", replica.err());

        String uri = ok(ctl("bdev", "share", uuid, "--protocol", "nvmf")).out();
        assertEquals(uri, ok(ctl("bdev", "share", uuid, "--protocol", "nvmf")).out(), "the same share twice: its URI");
        Mayastor.Result other = ctl("bdev", "share", uuid, "--protocol", "iscsi");
        assertEquals(1, other.exit());
        assertEquals("error: ALREADY_EXISTS: bdev " + uuid + " is shared already over nvmf, not iscsi; to change its share, "
                + "unshare it first (mayastor ctl bdev unshare " + uuid + ")\n", other.err());
        ok(ctl("bdev", "unshare", uuid));
        ok(ctl("bdev", "unshare", uuid)); // not shared: nothing to do, and no error
        Mayastor.Result property = ctl("bdev", "share", uuid, "--protocol", "nvmf", "--property", "colour=red");
        assertEquals(1, property.exit());
        assertEquals("error: INVALID_ARGUMENT: nvmf shares take the properties cntlid.min and cntlid.max only (given: "
                + "colour)\n", property.err(), "--property reaches the transport");
        ok(ctl("bdev", "share", uuid, "--protocol", "nvmf", "--property", "cntlid.min=10", "--property", "cntlid.max=20"));
        ok(ctl("bdev", "unshare", uuid));
        assertEquals("error: --property colour: expected KEY=VALUE\n",
                ctl("bdev", "share", uuid, "--protocol", "nvmf", "--property", "colour").err());
        Mayastor.Result typo = ctl("bdev", "share", uuid, "--protocl", "nvmf");
        assertEquals(2, typo.exit());
        assertEquals("error: unknown option --protocl; did you mean --protocol?\n", typo.err());

        String json = ok(ctl("--json", "bdev", "list", "hint0")).out();
        assertTrue(json.contains("\"malloc:///hint0?size_mb=32\""), "JSON as a script reads it, not HTML-escaped: " + json);
        ok(ctl("nexus", "create", "hintnx", "--child", "bdev:///" + uuid));
        ok(ctl("nexus", "publish", "hintnx", "--protocol", "nvmf"));
        Mayastor.Result published = ctl("nexus", "publish", "hintnx", "--protocol", "iscsi");
        assertEquals(1, published.exit());
        assertEquals("error: ALREADY_EXISTS: nexus hintnx is published already over nvmf, not iscsi; to publish it "
                + "differently, unpublish it first (mayastor ctl nexus unpublish hintnx)\n", published.err());
        ok(ctl("nexus", "destroy", "hintnx"));
        ok(ctl("replica", "destroy", uuid));
        ok(ctl("pool", "destroy", "hintpool"));
        ok(ctl("bdev", "destroy", "hint0"));
    }

    /** {@code --size} takes units, as every size on the command line does. */
    @Test
    @Order(6)
    void benchSizesTakeUnits() throws Exception {
        Mayastor.Result r = Mayastor.run("bench", "--uri", "malloc:///benchsize?size_mb=16", "--size", "8MiB", "--time", "1s",
                "--ramp", "0s", "--qd", "4", "--reactors", "1", "--buffers-mb", "16");
        assertEquals(0, r.exit(), r.err() + r.out());
        Mayastor.Result bad = Mayastor.run("bench", "--uri", "malloc:///benchsize?size_mb=16", "--size", "lots");
        assertEquals(2, bad.exit());
        assertEquals("error: --size 'lots' is not a size (e.g. 4194304, 64MiB, 64Mi, 1G)\n", bad.err());
    }

    /** {@code ./mayastor} at the checkout's root builds only when a source changed since the last build. */
    @Test
    void theCheckoutScriptDoesNotBuildWhenNothingChanged() throws Exception {
        Path script = Path.of("..", "mayastor").toAbsolutePath().normalize();
        for (int i = 0; i < 2; i++) {
            Process p = new ProcessBuilder(script.toString(), "version").start();
            String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            String err = new String(p.getErrorStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            assertTrue(p.waitFor(120, TimeUnit.SECONDS));
            assertEquals(0, p.exitValue(), err);
            assertTrue(out.startsWith("mayastor-j "), out);
            if (i == 1) {
                assertEquals("", err, "the second run builds nothing and says nothing");
            }
        }
    }

    /** On JDK 25 or newer the build leaves the command line's AOT cache, which the launcher then uses. */
    @Test
    void theBuildLeavesTheCommandLinesAotCache() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Runtime.version().feature() >= 25, "an AOT cache needs JDK 25");
        Path cache = Mayastor.DIST.resolve("lib/cli.aot");
        assertTrue(Files.size(cache) > 1 << 20, cache + ": " + Files.size(cache) + " bytes");
        Mayastor.Result version = Mayastor.run("version");
        assertEquals(0, version.exit());
        assertEquals("", version.err(), "the cache is taken without a word");
    }

    /** The bash completion, sourced in bash: resources after "ctl", and the verbs of one. */
    @Test
    void bashCompletesResourcesAndVerbs() throws Exception {
        Path completion = Mayastor.DIST.resolve("share/bash-completion/mayastor").toAbsolutePath();
        String bin = Mayastor.BIN.toAbsolutePath().toString();
        String script = "source " + completion + "\n"
                + "complete_words() { COMP_WORDS=(\"$@\"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _mayastor; echo \"${COMPREPLY[*]}\"; }\n"
                + "complete_words " + bin + " ctl re\n"
                + "complete_words " + bin + " ctl replica ''\n"
                + "complete_words " + bin + " ''\n"
                + "complete_words " + bin + " ctl replica share x --prot\n";
        Process p = new ProcessBuilder("bash", "-c", script).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        String[] lines = out.split("\n");
        assertEquals(4, lines.length, out);
        assertEquals("replica", lines[0]);
        assertEquals("create destroy list resize share unshare", lines[1]);
        assertTrue(lines[2].contains("ctl") && lines[2].contains("node") && lines[2].contains("bench"), lines[2]);
        assertEquals("--protocol", lines[3]);
    }

    /**
     * Review finding: the completion of a nexus's name offered the words of "nexus list"'s child table,
     * never the names, and asked the default node whatever --node the line gave.
     */
    @Test
    void bashCompletesTheNamesOfTheNodeTheLineNames() throws Exception {
        ok(ctl("bdev", "create", "malloc:///cmpl?size_mb=4"));
        try {
            ok(ctl("nexus", "create", "cnexus", "--child", "bdev:///cmpl"));
            Path completion = Mayastor.DIST.resolve("share/bash-completion/mayastor").toAbsolutePath();
            String bin = Mayastor.BIN.toAbsolutePath().toString();
            String script = "source " + completion + "\n"
                    + "complete_words() { COMP_WORDS=(\"$@\"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _mayastor; echo \"${COMPREPLY[*]}\"; }\n"
                    + "complete_words " + bin + " ctl --node " + endpoint + " nexus destroy ''\n"
                    // as bash calls it: COMP_WORDS broken at ':' (COMP_WORDBREAKS), the line whole in COMP_LINE
                    + "line='" + bin + " ctl --node " + endpoint + " nexus destroy '; COMP_LINE=$line; COMP_POINT=${#line}; "
                    + "COMP_WORDS=(" + bin + " ctl --node " + endpoint.replace(":", " : ") + " nexus destroy ''); "
                    + "COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _mayastor; echo \"${COMPREPLY[*]}\"\n";
            Process p = new ProcessBuilder("bash", "-c", script).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            assertTrue(p.waitFor(60, TimeUnit.SECONDS));
            assertEquals("cnexus\ncnexus", out.strip());
        } finally {
            ctl("nexus", "destroy", "cnexus");
            ctl("bdev", "destroy", "cmpl");
        }
    }

    /**
     * Review finding: the launcher found its home from $0, so through a symlink (/usr/local/bin/mayastor)
     * it looked for its scripts beside the link and failed; and "aot-training --help" deleted the cache
     * and started a training run.
     */
    @Test
    void theCommandRunsThroughASymlinkAndAotTrainingTakesNoArguments() throws Exception {
        Path link = work.resolve("link-bin/mayastor");
        Files.createDirectories(link.getParent());
        Files.deleteIfExists(link);
        Files.createSymbolicLink(link, Mayastor.BIN.toAbsolutePath());
        Process p = new ProcessBuilder(link.toString(), "version").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        Path cache = Mayastor.DIST.resolve("lib/cli.aot");
        boolean had = Files.exists(cache);
        Mayastor.Result help = Mayastor.run("aot-training", "--help");
        assertEquals(0, help.exit(), help.err());
        assertTrue(help.err().startsWith("usage: mayastor aot-training"), help.err());
        assertEquals(had, Files.exists(cache), "the cache is left as it was");
    }

    /**
     * Review finding: with the installation under a path with a space, the AOT cache's option was split
     * in two (JVM_OPTS is expanded as words) and every client command failed: "Could not find or load
     * main class". The command is run from such a path (its own scripts, the rest linked).
     */
    @Test
    void theCommandRunsFromAPathWithASpace() throws Exception {
        Path home = work.resolve("with space/mayastor");
        Files.createDirectories(home.resolve("bin"));
        try (var scripts = Files.list(Mayastor.BIN.getParent())) {
            for (Path script : scripts.toList()) {
                Files.copy(script, home.resolve("bin").resolve(script.getFileName().toString()),
                        java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.COPY_ATTRIBUTES);
            }
        }
        try (var entries = Files.list(Mayastor.DIST)) {
            for (Path entry : entries.toList()) {
                Path there = home.resolve(entry.getFileName().toString());
                if (!entry.getFileName().toString().equals("bin") && !Files.exists(there, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                    Files.createSymbolicLink(there, entry.toAbsolutePath());
                }
            }
        }
        Process p = new ProcessBuilder(home.resolve("bin/mayastor").toString(), "version").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.startsWith("mayastor-j "), out);
    }

    /**
     * Review finding (of the fix above): the launcher never set AOT_CACHE, so one in the environment was
     * passed to the JVM as -XX:AOTCache=..., also with MAYASTOR_AOT=0 and to the node (a JDK before 25 refuses
     * the option and the node never starts). It is the launcher's own now.
     */
    @Test
    void anAotCacheInTheEnvironmentIsNotTaken() throws Exception {
        ProcessBuilder pb = new ProcessBuilder(Mayastor.BIN.toString(), "version");
        pb.environment().put("AOT_CACHE", "/nonexistent/cli.aot");
        pb.environment().put("MAYASTOR_AOT", "0");
        pb.redirectErrorStream(true);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.startsWith("mayastor-j ") && !out.contains("AOT cache"), out);
    }

    /**
     * Review finding: csi-node got the serial collector beside MAYASTOR_NODE_OPTS, which the nodes'
     * users fill for all three runtimes: one naming G1 made two collectors, and the JVM refused to
     * start (a DaemonSet in a crash loop). A collector named there replaces the default.
     */
    @Test
    void aCollectorNamedInTheNodeOptionsReplacesTheDefault() throws Exception {
        for (String runtime : java.util.List.of("csi-node", "node")) {
            ProcessBuilder b = new ProcessBuilder(Mayastor.BIN.toString(), runtime, "--help").redirectErrorStream(true);
            b.environment().put("MAYASTOR_NODE_OPTS", runtime.equals("node") ? "-XX:+UseSerialGC" : "-Xmx64m -XX:+UseG1GC");
            Process p = b.start();
            String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            assertTrue(p.waitFor(60, TimeUnit.SECONDS));
            assertEquals(0, p.exitValue(), runtime + ": " + out);
            assertTrue(out.startsWith("usage: mayastor " + runtime), out);
        }
    }

    /**
     * Review finding: the launcher looked for a collector anywhere between "-XX:+Use" and "GC " in the
     * options, so -XX:+UseStringDeduplication ... -XX:+DisableExplicitGC named none and the node lost its
     * G1; and bench always added G1, so MAYASTOR_BENCH_OPTS naming another made the JVM refuse to start.
     */
    @Test
    void optionsThatNameNoCollectorKeepTheDefaultAndBenchTakesItsOwn() throws Exception {
        ProcessBuilder node = new ProcessBuilder(Mayastor.BIN.toString(), "node", "--help").redirectErrorStream(true);
        // one CPU: the JVM left to itself would pick the serial collector, so G1 in the flags is the launcher's
        node.environment().put("MAYASTOR_NODE_OPTS",
                "-XX:ActiveProcessorCount=1 -XX:+UseStringDeduplication -XX:+DisableExplicitGC -XX:+PrintCommandLineFlags");
        Process p = node.start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.lines().findFirst().orElse("").contains("-XX:+UseG1GC"), "the node's G1: " + out);

        ProcessBuilder bench = new ProcessBuilder(Mayastor.BIN.toString(), "bench", "--help").redirectErrorStream(true);
        bench.environment().put("MAYASTOR_BENCH_OPTS", "-XX:+UseSerialGC");
        p = bench.start();
        out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.startsWith("usage: mayastor bench"), out);
    }

    /** A bench stopped by SIGTERM (a script's kill, or Ctrl-C) still reports what it measured, as fio does. */
    @Test
    void aBenchEndedBySigtermReportsWhatItMeasured() throws Exception {
        Path disk = work.resolve("bench.img");
        try (RandomAccessFile f = new RandomAccessFile(disk.toFile(), "rw")) {
            f.setLength(16L << 20);
        }
        Process p = new ProcessBuilder(Mayastor.BIN.toString(), "bench", "--uri", "uring://" + disk, "--rw", "randwrite",
                "--bs", "4k", "--qd", "4", "--time", "120s", "--ramp", "0s", "--json").redirectErrorStream(false).start();
        p.getOutputStream().close();
        Thread.sleep(4000); // started (a JVM and a ring) and measuring
        long sent = System.nanoTime();
        p.toHandle().destroy(); // SIGTERM (Process.destroy() would also close our end of its output)
        assertTrue(p.waitFor(20, TimeUnit.SECONDS), "ended after SIGTERM");
        String out = new String(p.getInputStream().readAllBytes()).strip();
        Matcher seconds = Pattern.compile("\"seconds\":([0-9.]+)").matcher(out);
        Matcher ios = Pattern.compile("\"ios\":([0-9]+)").matcher(out);
        assertTrue(seconds.find() && ios.find(), "a report: " + out + " / " + new String(p.getErrorStream().readAllBytes()));
        assertTrue(Double.parseDouble(seconds.group(1)) < 20, "measured until the signal, not 120 s: " + out);
        assertTrue(Long.parseLong(ios.group(1)) > 0, out);
        assertTrue(System.nanoTime() - sent < TimeUnit.SECONDS.toNanos(20));
    }
}
