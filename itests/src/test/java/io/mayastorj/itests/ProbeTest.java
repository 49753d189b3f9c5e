package io.mayastorj.itests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The probes Kubernetes calls (deploy/: the daemonsets' and the control plane's readiness and
 * liveness): {@code /healthz} and {@code /readyz} of each runtime, as the kubelet gets them.
 */
class ProbeTest {

    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private static HttpResponse<String> get(String endpoint, String path) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://" + endpoint + path)).timeout(Duration.ofSeconds(10)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private static String endpoint(String address) throws Exception {
        return address + ":" + DistributionTest.freePort(address);
    }

    @Test
    void eachRuntimeIsLiveAndReadyOnceItHasStarted() throws Exception {
        Path state = Scratch.dir("mayastor-probes");
        String http = endpoint("127.0.0.1");
        try (Mayastor.NodeProcess node = new Mayastor.NodeProcess("--node-id", "probed", "--grpc-endpoint", endpoint("127.0.0.1"),
                "--http-endpoint", http, "--state-dir", state.resolve("node").toString(), "--buffers-mb", "8",
                "--nvmf-port", String.valueOf(DistributionTest.freePort("127.0.0.1")),
                "--nvmf-nexus-port", String.valueOf(DistributionTest.freePort("127.0.0.1")),
                "--iscsi-port", String.valueOf(DistributionTest.freePort("127.0.0.1")))) {
            assertNotNull(node.await(l -> l.startsWith("mayastor node probed ready"), 60), node.output());
            HttpResponse<String> live = get(http, "/healthz");
            assertEquals(200, live.statusCode(), live.body());
            assertEquals("ok\n", live.body());
            HttpResponse<String> ready = get(http, "/readyz");
            assertEquals(200, ready.statusCode(), ready.body());
            assertEquals("ok\n", ready.body());
            assertEquals(404, get(http, "/nothing").statusCode());
        }
        // the control plane serving CSI: ready with its Controller; csi-node with its Node service
        String control = endpoint("127.0.0.1");
        String controlHttp = endpoint("127.0.0.1");
        try (Mayastor.NodeProcess cp = Mayastor.control("--grpc-endpoint", control, "--http-endpoint", controlHttp,
                "--state-dir", state.resolve("control").toString(), "--csi-endpoint", "unix://" + state.resolve("c.sock"))) {
            assertEquals(200, get(controlHttp, "/readyz").statusCode());
            assertEquals(200, get(controlHttp, "/healthz").statusCode());
            String csiHttp = endpoint("127.0.0.1");
            try (Mayastor.NodeProcess csi = new Mayastor.NodeProcess(List.of(), List.of("csi-node"), "--node-id", "app9",
                    "--csi-endpoint", "unix://" + state.resolve("n.sock"), "--control-endpoint", control,
                    "--grpc-endpoint", endpoint("127.0.0.1"), "--http-endpoint", csiHttp,
                    "--state-dir", state.resolve("csi").toString())) {
                assertNotNull(csi.await(l -> l.startsWith("mayastor CSI node app9 ready"), 60), csi.output());
                HttpResponse<String> ready = get(csiHttp, "/readyz");
                assertEquals(200, ready.statusCode(), ready.body());
            }
        }
    }

    @Test
    void aTakenProbePortStopsTheNodeWithTheReason() throws Exception {
        Path state = Scratch.dir("mayastor-probes");
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            String http = "127.0.0.1:" + taken.getLocalPort();
            try (Mayastor.NodeProcess node = new Mayastor.NodeProcess("--node-id", "clash", "--grpc-endpoint", endpoint("127.0.0.1"),
                    "--http-endpoint", http, "--state-dir", state.toString(), "--buffers-mb", "8",
                    "--nvmf-port", String.valueOf(DistributionTest.freePort("127.0.0.1")),
                    "--nvmf-nexus-port", String.valueOf(DistributionTest.freePort("127.0.0.1")),
                    "--iscsi-port", String.valueOf(DistributionTest.freePort("127.0.0.1")))) {
                String error = node.await(l -> l.startsWith("error:"), 60);
                assertNotNull(error, node.output());
                assertEquals("error: node clash did not start: cannot serve HTTP on " + http + ": Address already in use", error);
                assertTrue(node.process.waitFor(20, TimeUnit.SECONDS), "the process ends");
            }
        }
        Mayastor.Result bad = Mayastor.run("node", "--node-id", "n", "--http-endpoint", "9502");
        assertEquals(2, bad.exit());
        assertEquals("error: http endpoint '9502' is not ip:port (e.g. 127.0.0.1:10124)\n", bad.err());
    }
}
