package io.mayastorj.itests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The README's first command, as a newcomer runs it: {@code mayastor demo} ends with exit 0 and
 * shows what it promises — data verified after kill -9, over NVMe/TCP, the iSCSI target seen by
 * libiscsi's tools when they are installed, and a 3-replica volume that loses a node under a
 * verifying load without an error and rebuilds it, and a control plane with four nodes that
 * replaces a dead node's replica on the fourth under a load.
 */
class DemoTest {

    @Test
    void theDemoRunsToTheEnd() throws Exception {
        Process demo = new ProcessBuilder(Mayastor.BIN.toString(), "demo").redirectErrorStream(true).start();
        demo.getOutputStream().close();
        StringBuilder output = new StringBuilder();
        Thread pump = new Thread(() -> {
            try (BufferedReader lines = new BufferedReader(new InputStreamReader(demo.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = lines.readLine()) != null) {
                    synchronized (output) {
                        output.append(line).append('\n');
                    }
                }
            } catch (java.io.IOException ignored) {
                // the process went away
            }
        });
        pump.start();
        boolean ended = demo.waitFor(300, TimeUnit.SECONDS);
        if (!ended) {
            demo.toHandle().descendants().forEach(ProcessHandle::destroyForcibly);
            demo.destroyForcibly();
        }
        pump.join(10_000);
        String out;
        synchronized (output) {
            out = output.toString();
        }
        Files.writeString(Path.of("target/demo-output.txt"), out);
        assertTrue(ended, "the demo did not finish in 300 s:\n" + out);
        assertEquals(0, demo.exitValue(), out);
        assertTrue(out.contains("== demo done: every byte written came back"), out);
        assertTrue(out.lines().filter(l -> l.startsWith("   verified: 1 MiB read back")).count() >= 6, out);
        assertTrue(out.contains("node exited with 137 (killed)"), out);
        assertTrue(out.contains("nexus volume (d3e0c0de-0000-4000-8000-0000000000f0): degraded"), "degraded after a node died:\n" + out);
        assertTrue(out.contains("completed 100% partial"), "the rebuild:\n" + out);
        assertTrue(out.contains(" 0 errors; then all 65,536 blocks read back: every one holds its last acknowledged write"), out);
        // the control plane's act: pools applied, a volume made, repaired on the fourth node, the stale replica gone
        assertTrue(out.contains("mayastorpool.openebs.io/pool-node-4 created"), out);
        assertEquals(4, out.lines().filter(l -> l.matches("node-[1-4]\\s+online\\s+\\d+s")).count(), "four nodes online:\n" + out);
        assertTrue(out.lines().anyMatch(l -> l.startsWith("state     degraded: node node-")), "degraded after its node died:\n" + out);
        assertTrue(out.contains(" 0 errors; then all 16,384 blocks read back: every one holds its last acknowledged write"), out);
        assertTrue(out.contains("replica   node-4/pool-node-4"), "the replica replaced on the fourth node:\n" + out);
        int back = out.indexOf("comes back: its replica was replaced, so the control plane destroys it");
        assertTrue(back > 0 && out.indexOf("\nno replicas\n", back) > 0, "the stale replica destroyed:\n" + out);
        if (onPath("iscsi-inq")) {
            assertTrue(out.contains("   Product:Mayastor-J"), "iscsi-inq's answer:\n" + out);
            assertTrue(out.contains("   Lun:0    Type:DIRECT_ACCESS"), "iscsi-ls's answer:\n" + out);
            assertTrue(out.contains("iops average"), "iscsi-perf ran:\n" + out);
        }
    }

    /**
     * Review finding: a SIGTERM (or Ctrl-C) to the demo ran none of its clean-up: its nodes were left
     * running (holding their ports) and its work directory, with hundreds of MiB of pool images, stayed.
     */
    @Test
    void aDemoStoppedBySigtermStopsItsNodesAndRemovesItsWorkDirectory() throws Exception {
        Process demo = new ProcessBuilder(Mayastor.BIN.toString(), "demo").redirectErrorStream(true).start();
        demo.getOutputStream().close();
        Path work = null;
        java.util.List<ProcessHandle> started = java.util.List.of();
        try (BufferedReader lines = new BufferedReader(new InputStreamReader(demo.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while ((line = lines.readLine()) != null && System.nanoTime() < deadline) {
                java.util.regex.Matcher m = java.util.regex.Pattern.compile("\\(work directory (\\S+)\\)").matcher(line);
                if (m.find()) {
                    work = Path.of(m.group(1));
                }
                if (line.contains("mayastor node demo ready")) {
                    break;
                }
            }
            assertTrue(work != null && Files.isDirectory(work), "the demo made its work directory: " + work);
            Thread drain = new Thread(() -> lines.lines().forEach(l -> { })); // a full pipe would hold the demo up
            drain.setDaemon(true);
            drain.start();
            started = demo.toHandle().descendants().toList();
            assertTrue(!started.isEmpty(), "the demo started its node");
            demo.destroy(); // SIGTERM, to the demo alone
            assertTrue(demo.waitFor(60, TimeUnit.SECONDS), "the demo ended");
            for (ProcessHandle p : started) { // they had their SIGTERM before the demo ended
                try {
                    p.onExit().get(30, TimeUnit.SECONDS);
                } catch (java.util.concurrent.TimeoutException e) {
                    org.junit.jupiter.api.Assertions.fail("a process the demo started is left running: " + p.pid() + " "
                            + p.info().commandLine().orElse(""));
                }
            }
        } finally {
            started.forEach(ProcessHandle::destroyForcibly); // what a failed run left
            demo.destroyForcibly();
        }
        assertTrue(!Files.exists(work), "the work directory is left: " + work);
    }

    private static boolean onPath(String command) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
            if (Files.isExecutable(Path.of(dir, command))) {
                return true;
            }
        }
        return false;
    }
}
