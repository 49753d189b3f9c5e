package io.mayastorj.itests;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/** Runs the built distribution's bin/mayastor as a separate process, the way a user would. */
final class Mayastor {

    static final Path DIST = Path.of(System.getProperty("mayastor.dist", "../distribution/target/mayastor"));
    static final Path BIN = DIST.resolve("bin/mayastor");

    record Result(int exit, String out, String err) {
    }

    private Mayastor() {
    }

    /** True when {@code tool} is an executable on the PATH (tests that need it assume it). */
    static boolean have(String tool) {
        for (String d : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
            if (java.nio.file.Files.isExecutable(Path.of(d, tool))) {
                return true;
            }
        }
        return false;
    }

    /** Runs a short command (ctl, shell) to the end. */
    static Result run(String... args) throws IOException, InterruptedException {
        return runWithInput("", args);
    }

    /** The same, with {@code input} on its standard input. */
    static Result runWithInput(String input, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(BIN.toString()));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).start();
        p.getOutputStream().write(input.getBytes(StandardCharsets.UTF_8));
        p.getOutputStream().close();
        var out = p.getInputStream().readAllBytes();
        var err = p.getErrorStream().readAllBytes();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException("mayastor " + String.join(" ", args) + " did not finish in 60 s");
        }
        return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8), new String(err, StandardCharsets.UTF_8));
    }

    /** The control plane as a process ({@code mayastor control ARGS}), once it says it is ready. */
    static NodeProcess control(String... args) throws IOException, InterruptedException {
        NodeProcess p = new NodeProcess(List.of(), List.of("control"), args);
        if (p.await(l -> l.startsWith("mayastor control plane") && l.contains(" ready: "), 60) == null) {
            p.close();
            throw new IllegalStateException("the control plane did not start:\n" + p.output());
        }
        return p;
    }

    /** A node process whose output is collected, line by line. */
    static final class NodeProcess implements AutoCloseable {
        final Process process;
        private final List<String> lines = new ArrayList<>();
        private boolean ended;

        NodeProcess(String... args) throws IOException {
            this(List.of(), args);
        }

        /** With a command in front, e.g. {@code ip netns exec NS} to run the node in a network namespace. */
        NodeProcess(List<String> prefix, String... args) throws IOException {
            this(prefix, List.of("node"), args);
        }

        /** {@code mayastor RUNTIME args}: a node, or the control plane. */
        NodeProcess(List<String> prefix, List<String> runtime, String... args) throws IOException {
            List<String> command = new ArrayList<>(prefix);
            command.add(BIN.toString());
            command.addAll(runtime);
            command.addAll(List.of(args));
            process = new ProcessBuilder(command).redirectErrorStream(true).start();
            Thread pump = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                    String line;
                    while ((line = r.readLine()) != null) {
                        synchronized (lines) {
                            lines.add(line);
                            lines.notifyAll();
                        }
                    }
                } catch (IOException ignored) {
                    // the process went away
                }
                synchronized (lines) {
                    ended = true;
                    lines.notifyAll();
                }
            }, "node-output");
            pump.setDaemon(true);
            pump.start();
        }

        /** Waits for a line that matches, or for the end of the output; returns the line or null. */
        String await(Predicate<String> match, long seconds) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
            synchronized (lines) {
                int seen = 0;
                while (true) {
                    for (; seen < lines.size(); seen++) {
                        if (match.test(lines.get(seen))) {
                            return lines.get(seen);
                        }
                    }
                    long left = deadline - System.nanoTime();
                    if (left <= 0 || (ended && seen == lines.size())) {
                        return null;
                    }
                    lines.wait(Math.min(100, Math.max(1, TimeUnit.NANOSECONDS.toMillis(left))));
                }
            }
        }

        String output() {
            synchronized (lines) {
                return String.join("\n", lines);
            }
        }

        /**
         * The threads of the node's JVM (jcmd Thread.print), for the message of a test that found the
         * node stuck: a hang seen once in CI is then explained by the run that saw it.
         */
        String threads() {
            StringBuilder dump = new StringBuilder();
            java.util.stream.Stream.concat(java.util.stream.Stream.of(process.toHandle()), process.toHandle().descendants())
                    .forEach(h -> {
                        String command = h.info().command().orElse("?");
                        if (!command.endsWith("/java")) {
                            dump.append("pid ").append(h.pid()).append(": ").append(command).append(" (not a JVM)\n");
                            return;
                        }
                        try {
                            Process jcmd = new ProcessBuilder(java.nio.file.Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
                                    String.valueOf(h.pid()), "Thread.print").redirectErrorStream(true).start();
                            dump.append(new String(jcmd.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
                            jcmd.waitFor(30, TimeUnit.SECONDS);
                        } catch (IOException e) {
                            dump.append("jcmd failed: ").append(e.getMessage());
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    });
            return dump.length() == 0 ? "(pid " + process.pid() + " has ended)" : dump.toString();
        }

        @Override
        public void close() throws InterruptedException {
            process.toHandle().destroy(); // SIGTERM; Process.destroy() would also close our end of its output
            if (!process.waitFor(20, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor();
            }
        }
    }
}
