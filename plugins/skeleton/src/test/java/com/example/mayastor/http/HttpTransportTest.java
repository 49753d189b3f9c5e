package com.example.mayastor.http;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.BlockingIo;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.internal.bdev.MallocBdevFactory;
import io.mayastorj.core.internal.buffer.DmaBufferPool;
import io.mayastorj.core.internal.buffer.HugepageMode;
import io.mayastorj.core.transport.ShareOptions;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The transport without a node: core's own buffer pool and malloc bdev (its internal classes are
 * on the test class path; a plugin's main code uses only the exported SPI), and the JDK's HTTP client.
 */
class HttpTransportTest {

    private final DmaBufferPool buffers = new DmaBufferPool(16L << 20, HugepageMode.OFF);
    private final byte[] data = new byte[1 << 20];
    private BlockDevice m0;
    private HttpTransport http;
    private final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @BeforeEach
    void start() throws Exception {
        m0 = new MallocBdevFactory().create(BdevUri.parse("malloc:///m0?size_mb=1"));
        new Random(42).nextBytes(data);
        DmaBuffer b = buffers.allocate(data.length);
        b.bytes().put(0, data);
        assertEquals(IoStatus.SUCCESS, BlockingIo.write(m0, b, 0, 0, data.length / m0.blockSize(), Duration.ofSeconds(5)));
        b.release();
        http = new HttpTransport(buffers, new InetSocketAddress("127.0.0.1", 0));
    }

    @AfterEach
    void stop() {
        http.close();
        m0.close();
        buffers.close();
    }

    private HttpResponse<byte[]> get(String path, String range) throws Exception {
        HttpRequest.Builder r = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + http.address().getPort() + path));
        if (range != null) {
            r.header("Range", range);
        }
        return client.send(r.build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    @Test
    void aSharedBdevReadsBackWholeAndByRange() throws Exception {
        String uri = http.share(m0, ShareOptions.DEFAULT);
        assertEquals("http://127.0.0.1:" + http.address().getPort() + "/m0", uri);
        HttpResponse<byte[]> whole = get("/m0", null);
        assertEquals(200, whole.statusCode());
        assertArrayEquals(data, whole.body());

        HttpResponse<byte[]> middle = get("/m0", "bytes=1000-300000"); // neither end on a block boundary
        assertEquals(206, middle.statusCode());
        assertEquals("bytes 1000-300000/1048576", middle.headers().firstValue("Content-Range").orElseThrow());
        assertArrayEquals(Arrays.copyOfRange(data, 1000, 300001), middle.body());

        assertArrayEquals(Arrays.copyOfRange(data, data.length - 10, data.length), get("/m0", "bytes=-10").body());
    }

    @Test
    void whatCannotBeServedGetsItsStatus() throws Exception {
        http.share(m0, ShareOptions.DEFAULT);
        assertEquals(404, get("/m9", null).statusCode());
        HttpResponse<byte[]> beyond = get("/m0", "bytes=2000000-");
        assertEquals(416, beyond.statusCode());
        assertEquals("bytes */1048576", beyond.headers().firstValue("Content-Range").orElseThrow());
        http.unshare(m0);
        assertEquals(404, get("/m0", null).statusCode(), "no longer shared");
    }

    /**
     * Review finding: a client that stopped reading held its connection's thread and a DMA buffer of
     * the node's pool for ever (a blocking write has no deadline); a few such clients could drain the
     * pool NVMe-oF and iSCSI share. A write the client has not taken within the patience ends it.
     */
    @Test
    void aClientThatReadsNothingIsEndedAndItsBufferGoesBack() throws Exception {
        http.close();
        http = new HttpTransport(buffers, new InetSocketAddress("127.0.0.1", 0), Duration.ofSeconds(1));
        BlockDevice big = new MallocBdevFactory().create(BdevUri.parse("malloc:///big?size_mb=64")); // more than the socket buffers
        http.share(big, ShareOptions.DEFAULT);
        try (java.net.Socket socket = new java.net.Socket()) {
            socket.setReceiveBufferSize(4096);
            socket.connect(new InetSocketAddress("127.0.0.1", http.address().getPort()));
            socket.getOutputStream().write("GET /big HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            long inUse = 0;
            for (int i = 0; i < 100 && (inUse = inUse()) == 0; i++) {
                Thread.sleep(10);
            }
            assertEquals(128 * 1024, inUse, "the body's buffer, while the client reads nothing");
            for (int i = 0; i < 500 && (inUse = inUse()) != 0; i++) {
                Thread.sleep(10);
            }
            assertEquals(0, inUse, "given back once the write outlasted the patience: the connection is closed");
        } finally {
            http.close();
            big.close();
        }
    }

    private long inUse() {
        return buffers.stats().classes().stream().mapToLong(c -> (long) c.inUse() * c.bufferSize()).sum();
    }
}
