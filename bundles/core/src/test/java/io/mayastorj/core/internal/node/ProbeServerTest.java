package io.mayastorj.core.internal.node;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class ProbeServerTest {

    private static HttpRequest get(int port, String path, int seconds) {
        return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofSeconds(seconds)).build();
    }

    /**
     * Review finding: the JDK's server reads a request's headers on its executor's one thread with no
     * deadline: a client that sent half a request (slowloris) held every probe behind it, and kubelet
     * restarted a healthy node. Probes are answered meanwhile, and the half request is cut off.
     */
    @Test
    void aHalfSentRequestHoldsNoProbe() throws Exception {
        ProbeServer server = new ProbeServer(new InetSocketAddress("127.0.0.1", 0), List::of, List::of, "text/plain",
                out -> out.write("m 1\n".getBytes()));
        HttpClient client = HttpClient.newHttpClient();
        try (java.net.Socket slow = new java.net.Socket("127.0.0.1", server.port())) {
            slow.getOutputStream().write("GET /healthz HTTP/1.1\r\nHost: x\r\n".getBytes()); // and never the rest
            slow.getOutputStream().flush();
            Thread.sleep(300);
            HttpResponse<String> r = client.send(get(server.port(), "/healthz", 2), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode());
            slow.setSoTimeout(15_000);
            assertEquals(-1, slow.getInputStream().read(), "the half request is cut off");
        } finally {
            server.close();
        }
    }

    /**
     * Review finding: one thread answered probes and metrics in turn, so a scrape waiting for a
     * metrics source (a pool's lock, held through the zeroing of a large pool's create) held every
     * probe behind it past kubelet's one-second timeout: the node was restarted mid-I/O.
     */
    @Test
    void aMetricsPageThatWaitsHoldsNoProbe() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch writing = new CountDownLatch(1);
        ProbeServer server = new ProbeServer(new InetSocketAddress("127.0.0.1", 0), List::of, List::of, "text/plain", out -> {
            writing.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            out.write("m 1\n".getBytes());
        });
        HttpClient client = HttpClient.newHttpClient();
        try {
            CompletableFuture<HttpResponse<String>> scrape = client.sendAsync(get(server.port(), "/metrics", 30),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(true, writing.await(5, TimeUnit.SECONDS), "the page is being written");
            for (String probe : List.of("/healthz", "/readyz")) {
                HttpResponse<String> r = client.send(get(server.port(), probe, 1), HttpResponse.BodyHandlers.ofString());
                assertEquals(200, r.statusCode(), probe);
                assertEquals("ok\n", r.body(), probe);
            }
            release.countDown();
            HttpResponse<String> page = scrape.get(10, TimeUnit.SECONDS);
            assertEquals(200, page.statusCode());
            assertEquals("m 1\n", page.body());
        } finally {
            release.countDown();
            server.close();
        }
    }

    /**
     * Review finding: two sources reporting the same series (a plugin's, say) made Prometheus' model
     * refuse the whole page, and the server closed the connection with nothing in any log: every metric
     * was lost. The duplicate is dropped; a page that fails all the same is a 500 that says why.
     */
    @Test
    void aDuplicateSeriesIsDroppedAndAFailedPageSaysWhy() throws Exception {
        io.mayastorj.core.metrics.MetricsSource bdev = sink -> sink.gauge("m_bytes", "bytes", 1, "bdev", "a");
        io.mayastorj.core.metrics.MetricsSource plugin = sink -> {
            sink.gauge("m_bytes", "bytes", 2, "bdev", "a"); // the same series again
            sink.gauge("m_bytes", "bytes", 3, "bdev", "b");
        };
        java.io.ByteArrayOutputStream page = new java.io.ByteArrayOutputStream();
        new MetricsPage().write(List.of(bdev, plugin), page);
        String text = page.toString();
        assertEquals(true, text.contains("m_bytes{bdev=\"a\"} 1.0"), text);
        assertEquals(false, text.contains("m_bytes{bdev=\"a\"} 2.0"), text);
        assertEquals(true, text.contains("m_bytes{bdev=\"b\"} 3.0"), text);

        ProbeServer server = new ProbeServer(new InetSocketAddress("127.0.0.1", 0), List::of, List::of, "text/plain", out -> {
            throw new IllegalStateException("a source's bug");
        });
        try {
            HttpResponse<String> r = HttpClient.newHttpClient().send(get(server.port(), "/metrics", 5),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(500, r.statusCode());
            assertEquals("the metrics page failed: java.lang.IllegalStateException: a source's bug\n", r.body());
        } finally {
            server.close();
        }
    }
}
