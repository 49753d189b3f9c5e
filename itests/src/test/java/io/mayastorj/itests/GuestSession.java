package io.mayastorj.itests;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A QEMU guest that stays up for a whole test class (a JVM under emulation takes minutes to start):
 * it runs {@code src/test/resources/vm/SCRIPT} with this machine's userspace on its own kernel
 * (VM_HOSTROOT=1), and {@link #exec} runs bash there through the script's agent, over the shared
 * directory.
 */
final class GuestSession implements AutoCloseable {

    /** What a command in the guest did. */
    record Result(int status, String output) {
    }

    final Path share;
    private final Process vm;
    private final StringBuilder console = new StringBuilder();
    private int next;

    GuestSession(String script, Map<String, String> env) throws IOException {
        this(script, env, Scratch.dir("mayastor-guest"));
    }

    /** With a shared directory made beforehand (files the guest needs from its first moment). */
    GuestSession(String script, Map<String, String> env, Path share) throws IOException {
        this.share = share;
        ProcessBuilder b = new ProcessBuilder(KernelGuest.command(script)).redirectErrorStream(true);
        b.environment().put("VM_NO_APT", "1");
        b.environment().put("VM_HOSTROOT", "1");
        b.environment().put("VM_MEM", "2048");
        b.environment().put("VM_TIMEOUT", "3000");
        b.environment().put("VM_SHARE", share.toString());
        b.environment().putAll(env);
        vm = b.start();
        Thread pump = new Thread(() -> {
            try (var in = vm.getInputStream()) {
                byte[] buf = new byte[8192];
                int n;
                while ((n = in.read(buf)) > 0) {
                    synchronized (console) {
                        console.append(new String(buf, 0, n, StandardCharsets.UTF_8));
                    }
                }
            } catch (IOException ignored) {
                // the VM ended
            }
        }, "guest-console");
        pump.setDaemon(true);
        pump.start();
    }

    String console() {
        synchronized (console) {
            return console.toString();
        }
    }

    /** Waits for a file the guest writes into the shared directory. */
    void awaitFile(String name, int seconds) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (!Files.exists(share.resolve(name))) {
            if (!vm.isAlive()) {
                throw new AssertionError("the guest ended:\n" + console());
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the guest wrote no " + name + " in " + seconds + " s:\n" + console());
            }
            Thread.sleep(200);
        }
    }

    /**
     * How long csi-node may take to be ready in the guest. Its JVM starts under emulation on one vCPU:
     * 70-90 s with the guest alone, 240 s here and over 180 s on CI with the other stream of test
     * classes beside it. The wait ends at the ready line, so a generous bound costs a green run nothing.
     */
    private static final int NODE_START_SECONDS = 600;

    /** Waits for csi-node's ready line in its log after {@code from} (a length of the log); seconds waited. */
    double awaitNodeReady(String nodeId, int from) throws IOException, InterruptedException {
        long start = System.nanoTime();
        long deadline = start + TimeUnit.SECONDS.toNanos(NODE_START_SECONDS);
        String ready = "mayastor CSI node " + nodeId + " ready";
        while (true) {
            String log = file("csi-node.log").substring(from);
            if (log.contains(ready)) {
                return (System.nanoTime() - start) / 1e9;
            }
            if (!vm.isAlive()) {
                throw new AssertionError("the guest ended:\n" + console());
            }
            if (log.contains(" did not start: ")) {
                throw new AssertionError("csi-node did not start in the guest:\n" + log);
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("csi-node was not ready in the guest after " + NODE_START_SECONDS + " s:\n" + log);
            }
            Thread.sleep(500);
        }
    }

    /** Runs a bash script in the guest (this machine's userspace, the guest's kernel); its status and output. */
    Result exec(String bash, int seconds) throws IOException, InterruptedException {
        int n = next++;
        Path cmd = share.resolve("cmd-" + n + ".sh");
        Path tmp = share.resolve("cmd-" + n + ".tmp");
        Files.writeString(tmp, "set -u\n" + bash + "\n");
        long start = System.nanoTime();
        Files.move(tmp, cmd);
        awaitFile("rc-" + n, seconds);
        double took = (System.nanoTime() - start) / 1e9;
        String out = Files.readString(share.resolve("out-" + n));
        int rc = Integer.parseInt(Files.readString(share.resolve("rc-" + n)).strip());
        System.out.println("guest$ " + bash.lines().findFirst().orElse("") + (bash.lines().count() > 1 ? " ..." : "")
                + "\n" + out.indent(2) + String.format("  (exit %d, %.1f s)", rc, took));
        return new Result(rc, out);
    }

    /** Runs a bash script in the guest that must succeed; its output. */
    String ok(String bash, int seconds) throws IOException, InterruptedException {
        Result r = exec(bash, seconds);
        if (r.status() != 0) {
            throw new AssertionError("in the guest, exit " + r.status() + ": " + bash + "\n" + r.output());
        }
        return r.output();
    }

    String file(String name) throws IOException {
        Path f = share.resolve(name);
        return Files.exists(f) ? Files.readString(f) : "";
    }

    @Override
    public void close() throws Exception {
        Files.writeString(share.resolve("stop"), "");
        if (!vm.waitFor(60, TimeUnit.SECONDS)) {
            vm.destroy();
            vm.waitFor(10, TimeUnit.SECONDS);
        }
        List<String> kept = new ArrayList<>();
        try (var files = Files.list(share)) {
            files.forEach(f -> kept.add(f.getFileName().toString()));
        }
        System.out.println("---- guest console ----\n" + console() + "---- end (shared files: " + kept + ") ----");
    }
}
