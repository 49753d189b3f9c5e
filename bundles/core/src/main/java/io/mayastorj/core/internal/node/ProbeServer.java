package io.mayastorj.core.internal.node;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * The JDK's HTTP server answering {@code /healthz} and {@code /readyz} (200 "ok", or 503 with the
 * reasons) and {@code /metrics} (Prometheus' text format).
 */
final class ProbeServer implements AutoCloseable {

    /** Writes a page's body. */
    interface Page {
        void write(OutputStream out) throws IOException;
    }

    static {
        // the JDK's server reads a request's line and headers on an executor thread, with no deadline by
        // default: one client that sent half a request held that thread, and kubelet's probes behind it
        // failed until the node was restarted. Seconds; set before the server's classes read it.
        if (System.getProperty("sun.net.httpserver.maxReqTime") == null) {
            System.setProperty("sun.net.httpserver.maxReqTime", "5");
        }
    }

    /** Threads answering probes: a few slow clients (each cut off after 5 s) do not hold them all. */
    private static final int PROBE_THREADS = 4;

    private final HttpServer server;
    private final ExecutorService executor;
    /**
     * Pages are written on a thread of their own: a metrics source that waits (a pool's lock held
     * through a long create) must not hold a probe past kubelet's timeout, or it restarts a healthy node.
     */
    private final ThreadPoolExecutor pages;

    ProbeServer(InetSocketAddress address, Supplier<List<String>> live, Supplier<List<String>> ready, String metricsType,
                Page metrics) throws IOException {
        try {
            server = HttpServer.create(address, 16);
        } catch (IOException e) {
            throw new IOException("cannot serve HTTP on " + address.getHostString() + ":" + address.getPort() + ": "
                    + e.getMessage(), e);
        }
        executor = Executors.newFixedThreadPool(PROBE_THREADS, r -> {
            Thread t = new Thread(r, "http-probes");
            t.setDaemon(true);
            return t;
        });
        server.setExecutor(executor); // probes are rare and quick
        pages = new ThreadPoolExecutor(1, 1, 0, TimeUnit.SECONDS, new ArrayBlockingQueue<>(4), r -> {
            Thread t = new Thread(r, "http-metrics");
            t.setDaemon(true);
            return t;
        });
        server.createContext("/healthz", exchange -> answer(exchange, live.get()));
        server.createContext("/readyz", exchange -> answer(exchange, ready.get()));
        server.createContext("/metrics", exchange -> {
            try {
                pages.execute(() -> {
                    try {
                        page(exchange, metricsType, metrics);
                    } catch (IOException | RuntimeException e) {
                        exchange.close(); // the scraper went away, or a source failed: it asks again
                    }
                });
            } catch (RejectedExecutionException e) {
                busy(exchange); // scrapes pile up behind one that waits: refused rather than queued for ever
            }
        });
        server.start();
    }

    /** The port it listens on (the one the system chose for port 0). */
    int port() {
        return server.getAddress().getPort();
    }

    private static void busy(HttpExchange exchange) throws IOException {
        try (exchange) {
            exchange.sendResponseHeaders(503, -1);
        }
    }

    private static void answer(HttpExchange exchange, List<String> problems) throws IOException {
        try (exchange) {
            String method = exchange.getRequestMethod();
            if (!"GET".equals(method) && !"HEAD".equals(method)) {
                exchange.sendResponseHeaders(405, -1);
                return;
            }
            byte[] body = ((problems.isEmpty() ? "ok" : String.join("\n", problems)) + "\n").getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
            boolean head = "HEAD".equals(method);
            exchange.sendResponseHeaders(problems.isEmpty() ? 200 : 503, head ? -1 : body.length);
            if (!head) {
                try (OutputStream out = exchange.getResponseBody()) {
                    out.write(body);
                }
            }
        }
    }

    private static void page(HttpExchange exchange, String type, Page page) throws IOException {
        try (exchange) {
            if (!"GET".equals(exchange.getRequestMethod())) {
                exchange.sendResponseHeaders(405, -1);
                return;
            }
            ByteArrayOutputStream body = new ByteArrayOutputStream(16 << 10);
            try {
                page.write(body);
            } catch (RuntimeException e) {
                // said, not a dropped connection with nothing in any log: the scraper shows the target down with this
                System.getLogger("mayastor.metrics").log(System.Logger.Level.WARNING, "the metrics page failed: {0}", e.toString());
                byte[] why = ("the metrics page failed: " + e + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8);
                exchange.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
                exchange.sendResponseHeaders(500, why.length);
                try (OutputStream out = exchange.getResponseBody()) {
                    out.write(why);
                }
                return;
            }
            exchange.getResponseHeaders().set("Content-Type", type);
            exchange.sendResponseHeaders(200, body.size());
            try (OutputStream out = exchange.getResponseBody()) {
                body.writeTo(out);
            }
        }
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
        pages.shutdownNow();
    }
}
