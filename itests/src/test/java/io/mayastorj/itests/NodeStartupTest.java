package io.mayastorj.itests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** How a node that cannot start says so: exit codes and messages. */
class NodeStartupTest {

    @Test
    void aTakenPortStopsTheNodeWithTheReason() throws Exception {
        Path state = Scratch.dir("mayastor-startup");
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.3"))) {
            String endpoint = "127.0.0.3:" + taken.getLocalPort();
            try (Mayastor.NodeProcess node = new Mayastor.NodeProcess("--node-id", "clash", "--grpc-endpoint", endpoint,
                    "--state-dir", state.toString(), "--buffers-mb", "8")) {
                String error = node.await(l -> l.startsWith("error:"), 60);
                assertNotNull(error, node.output());
                assertEquals("error: node clash did not start: cannot listen on " + endpoint
                        + ": Address already in use", error);
                assertTrue(node.process.waitFor(20, TimeUnit.SECONDS), "the process ends");
                assertEquals(1, node.process.exitValue());
            }
        }
    }

    /**
     * A transport whose port is taken: the node stops with one line that says so, last, and no
     * stack trace anywhere (Felix SCR's own messages are one log line each; their traces go to the
     * log at debug) — it was some 500 lines of traces around the one that mattered.
     */
    @Test
    void aTakenTransportPortIsOneLineNotAStackTrace() throws Exception {
        Path state = Scratch.dir("mayastor-startup-nvmf");
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.3"))) {
            String endpoint = "127.0.0.3:" + DistributionTest.freePort("127.0.0.3");
            try (Mayastor.NodeProcess node = new Mayastor.NodeProcess("--node-id", "clash2", "--grpc-endpoint", endpoint,
                    "--nvmf-address", "127.0.0.3", "--nvmf-port", String.valueOf(taken.getLocalPort()),
                    "--nvmf-nexus-port", String.valueOf(DistributionTest.freePort("127.0.0.3")),
                    "--state-dir", state.toString(), "--buffers-mb", "8")) {
                assertTrue(node.process.waitFor(60, TimeUnit.SECONDS), () -> "the process ends:\n" + node.output()
                        + "\nits threads:\n" + node.threads());
                assertEquals(1, node.process.exitValue());
                String output = node.output();
                String expected = "error: node clash2 did not start: the nvmf target cannot listen on 127.0.0.3:"
                        + taken.getLocalPort() + ": Address already in use";
                assertTrue(output.contains(expected), output);
                assertFalse(output.lines().anyMatch(l -> l.startsWith("\tat ") || l.startsWith("Caused by")),
                        "no stack trace:\n" + output);
                assertTrue(output.lines().anyMatch(l -> l.contains(" ERROR [scr] bundle io.mayastorj.transport.nvmf")), output);
                assertTrue(output.lines().count() < 40, output.lines().count() + " lines:\n" + output);
            }
        }
    }

    /** Node ID with its state in STATE, serving gRPC on ENDPOINT and its transports on free ports of 127.0.0.3. */
    private static Mayastor.NodeProcess on127003(String id, Path state, String endpoint, String... extra) throws Exception {
        java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("--node-id", id, "--grpc-endpoint", endpoint,
                "--nvmf-address", "127.0.0.3", "--nvmf-port", String.valueOf(DistributionTest.freePort("127.0.0.3")),
                "--nvmf-nexus-port", String.valueOf(DistributionTest.freePort("127.0.0.3")),
                "--iscsi-address", "127.0.0.3", "--iscsi-port", String.valueOf(DistributionTest.freePort("127.0.0.3")),
                "--state-dir", state.toString(), "--buffers-mb", "8"));
        args.addAll(java.util.List.of(extra));
        return new Mayastor.NodeProcess(args.toArray(String[]::new));
    }

    /** {@code exit} at the console stops the node, as Ctrl-D does (Gogo's own exit wanted a status). */
    /**
     * Review finding: on SIGTERM the framework stopped the bundles in reverse order of installation, so
     * the node went on beating while its targets were torn down, and said goodbye last: the control
     * plane's switch-over grace started only then. The registration stops first now.
     */
    @Test
    void aStoppedNodeDeregistersBeforeItsTargetsStop() throws Exception {
        Mayastor.NodeProcess node = on127003("goodbye", Scratch.dir("mayastor-goodbye"),
                "127.0.0.3:" + DistributionTest.freePort("127.0.0.3"),
                "--control-endpoint", "127.0.0.3:" + DistributionTest.freePort("127.0.0.3")); // nobody there: it tries
        try (node) {
            assertNotNull(node.await(l -> l.startsWith("mayastor node goodbye ready"), 60), node.output());
        }
        String out = node.output();
        int goodbye = Math.max(out.indexOf("node goodbye deregistered"), out.indexOf("node goodbye could not deregister"));
        int targetStopped = out.indexOf("nvmf target on 127.0.0.3");
        assertTrue(goodbye > 0, "it said goodbye:\n" + out);
        assertTrue(targetStopped > 0, "its nvmf target stopped:\n" + out);
        assertTrue(goodbye < targetStopped, "goodbye before its nvmf target stopped:\n" + out);
    }

    @Test
    void exitAtTheConsoleStopsTheNode() throws Exception {
        try (Mayastor.NodeProcess node = on127003("console", Scratch.dir("mayastor-console"),
                "127.0.0.3:" + DistributionTest.freePort("127.0.0.3"), "--console")) {
            assertNotNull(node.await(l -> l.startsWith("mayastor node console ready"), 60), node.output());
            node.process.getOutputStream().write("exit\n".getBytes(java.nio.charset.StandardCharsets.UTF_8));
            node.process.getOutputStream().flush();
            assertTrue(node.process.waitFor(30, TimeUnit.SECONDS), "exit stops the node:\n" + node.output());
            assertEquals(0, node.process.exitValue(), node.output());
            assertNotNull(node.await(l -> l.contains("mayastor node console stopped"), 5), node.output());
            assertFalse(node.output().contains("Exception"), node.output());
        }
    }

    /**
     * Review findings: a second node on the same state directory wiped the running one's bundle
     * cache before it failed on a port; a plugins directory that could not be made was found only
     * after the node had said it was ready (registered, probes passing), and it then exited.
     */
    @Test
    void aStateDirectoryInUseAndAPluginsDirectoryThatCannotBeMadeStopTheNodeBeforeReady() throws Exception {
        Path state = Scratch.dir("mayastor-state-lock");
        String endpoint = "127.0.0.3:" + DistributionTest.freePort("127.0.0.3");
        try (Mayastor.NodeProcess first = on127003("first", state, endpoint)) {
            assertNotNull(first.await(l -> l.startsWith("mayastor node first ready"), 60), first.output());
            long cached;
            try (var files = Files.walk(state.resolve("felix-cache"))) {
                cached = files.count();
            }
            // on the first one's endpoint: had it started, it would have stopped there (once it had wiped the cache)
            Mayastor.Result second = Mayastor.run("node", "--node-id", "second", "--grpc-endpoint", endpoint,
                    "--state-dir", state.toString(), "--buffers-mb", "8");
            assertEquals(1, second.exit(), second.out() + second.err());
            assertTrue(second.err().contains("the state directory " + state + " is in use by another mayastor process"),
                    second.err());
            assertFalse(second.out().contains(" ready"), second.out());
            try (var files = Files.walk(state.resolve("felix-cache"))) {
                assertEquals(cached, files.count(), "the running node's bundle cache is untouched");
            }
        }
        Path notADirectory = Files.writeString(Scratch.dir("mayastor-plugins-file").resolve("plugins"), "a file");
        Mayastor.Result plugins = Mayastor.run("node", "--node-id", "plugged", "--grpc-endpoint",
                "127.0.0.3:" + DistributionTest.freePort("127.0.0.3"), "--state-dir", Scratch.dir("mayastor-plugged").toString(),
                "--buffers-mb", "8", "--plugins-dir", notADirectory.toString());
        assertEquals(1, plugins.exit(), plugins.out() + plugins.err());
        assertTrue(plugins.err().contains("the plugins directory " + notADirectory + " cannot be made"), plugins.err());
        assertFalse(plugins.out().contains(" ready"), "said before it is ready: " + plugins.out());
    }

    @Test
    void badSettingsAreUsageErrors() throws Exception {
        Mayastor.Result noId = Mayastor.run("node");
        assertEquals(2, noId.exit());
        assertEquals("error: the node needs a name: --node-id NAME (or node.id in the config file)\n", noId.err());
        Mayastor.Result badFlag = Mayastor.run("node", "--node-id", "n", "--reactor", "2");
        assertEquals(2, badFlag.exit());
        assertEquals("error: unknown option --reactor; did you mean --reactors?\n", badFlag.err());
        Mayastor.Result help = Mayastor.run("node", "--help");
        assertEquals(0, help.exit());
        assertTrue(help.out().contains("--grpc-endpoint"), help.out());
    }

    @Test
    void hugepagesOnWithoutHugepagesFailsClearly() throws Exception {
        long free = 0;
        for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
            if (line.startsWith("HugePages_Free:")) {
                free = Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        Path state = Scratch.dir("mayastor-startup");
        int port = DistributionTest.freePort("127.0.0.1");
        // a pool bigger than the free hugepages: refused whatever this machine has reserved
        long mb = (free + 8) * 2;
        try (Mayastor.NodeProcess node = new Mayastor.NodeProcess("--node-id", "huge", "--grpc-endpoint",
                "127.0.0.1:" + port, "--state-dir", state.toString(), "--hugepages", "on", "--buffers-mb",
                String.valueOf(mb))) {
            String error = node.await(l -> l.contains("hugepages=on but the buffer pool"), 60);
            assertNotNull(error, node.output());
            assertNotNull(node.await(l -> l.startsWith("error: node huge did not start"), 40), node.output());
            assertTrue(node.process.waitFor(20, TimeUnit.SECONDS));
            assertEquals(1, node.process.exitValue());
        }
    }
}
