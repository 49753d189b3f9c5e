package io.mayastorj.nats.testing;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * A real {@code nats-server} (Debian's) on a free loopback port, with JetStream in a directory of
 * the test's, for the tests of every bundle that speaks NATS. It can be stopped and started again
 * on the same port and store, as a restarted server would be.
 */
public final class NatsServerProcess implements AutoCloseable {

    private final Path dir;
    private final int port;
    private final java.util.List<String> clusterArgs = new java.util.ArrayList<>();
    private Process server;

    public NatsServerProcess(Path dir) throws IOException {
        this.dir = dir;
        this.port = freePort();
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /**
     * {@code n} servers routed to each other as one cluster with clustered JetStream (each its own
     * store under {@code dir}), not started: as the deployment's three, on loopback.
     */
    public static java.util.List<NatsServerProcess> cluster(Path dir, int n) throws IOException {
        java.util.List<NatsServerProcess> servers = new java.util.ArrayList<>();
        java.util.List<Integer> routes = new java.util.ArrayList<>();
        for (int i = 0; i < n; i++) {
            servers.add(new NatsServerProcess(Files.createDirectories(dir.resolve("nats-" + i))));
            routes.add(freePort());
        }
        String all = String.join(",", routes.stream().map(p -> "nats://127.0.0.1:" + p).toList());
        for (int i = 0; i < n; i++) {
            servers.get(i).clusterArgs.addAll(java.util.List.of("-n", "nats-" + i, "--cluster_name", "mayastor",
                    "--cluster", "nats://127.0.0.1:" + routes.get(i), "--routes", all));
        }
        return servers;
    }

    /** True when nats-server is on the PATH (CI installs it; tests assume it). */
    public static boolean installed() {
        for (String d : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
            if (Files.isExecutable(Path.of(d, "nats-server"))) {
                return true;
            }
        }
        return false;
    }

    public String url() {
        return "nats://127.0.0.1:" + port;
    }

    public int port() {
        return port;
    }

    /** Starts it and waits until it accepts connections. */
    public NatsServerProcess start() throws IOException, InterruptedException {
        Path log = dir.resolve("nats.log");
        java.util.List<String> command = new java.util.ArrayList<>(java.util.List.of("nats-server", "-js", "-a", "127.0.0.1",
                "-p", String.valueOf(port), "-sd", dir.resolve("jetstream").toString()));
        command.addAll(clusterArgs);
        server = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (true) {
            try (Socket s = new Socket("127.0.0.1", port)) {
                return this;
            } catch (IOException notYet) {
                if (System.nanoTime() > deadline || !server.isAlive()) {
                    throw new IllegalStateException("nats-server did not start: " + Files.readString(log));
                }
                Thread.sleep(50);
            }
        }
    }

    /** Kills it (SIGKILL), as the death of its node would. */
    public void kill() throws InterruptedException {
        if (server != null) {
            server.destroyForcibly();
            server.waitFor(20, TimeUnit.SECONDS);
            server = null;
        }
    }

    /** Stops it (SIGTERM), as an operator or a crash of its host would take it away. */
    public void stop() throws InterruptedException {
        if (server != null) {
            server.destroy();
            server.waitFor(20, TimeUnit.SECONDS);
            server = null;
        }
    }

    @Override
    public void close() throws InterruptedException {
        stop();
    }
}
