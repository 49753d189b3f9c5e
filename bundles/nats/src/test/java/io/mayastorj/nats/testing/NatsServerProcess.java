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
    private Process server;

    public NatsServerProcess(Path dir) throws IOException {
        this.dir = dir;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            this.port = s.getLocalPort();
        }
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
        server = new ProcessBuilder("nats-server", "-js", "-a", "127.0.0.1", "-p", String.valueOf(port),
                "-sd", dir.resolve("jetstream").toString()).redirectErrorStream(true)
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
