package io.mayastorj.itests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.mayastorj.api.v1.ApplyRequest;
import io.mayastorj.api.v1.CreateVolumeRequest;
import io.mayastorj.api.v1.PublishVolumeRequest;
import io.mayastorj.api.v1.Volume;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * {@code /metrics} as Prometheus scrapes it, from a node and from the control plane: the pools
 * under Mayastor's exporter names, the bdevs' I/O counters moving under writes through a published
 * volume, the nexus and the control plane's view; every page checked by promtool (Debian's
 * prometheus package, unpacked by scripts/test) when it is there.
 */
class MetricsTest {

    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private static String scrape(String endpoint) throws Exception {
        HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create("http://" + endpoint + "/metrics"))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("text/plain; version=0.0.4"),
                r.headers().toString());
        promtool(r.body());
        return r.body();
    }

    /** promtool check metrics: the page parses and follows Prometheus' naming rules. */
    private static void promtool(String page) throws Exception {
        Path promtool = Path.of(System.getProperty("mayastor.promtool", "/nonexistent"));
        if (!Files.isExecutable(promtool)) {
            System.out.println("MetricsTest: no promtool at " + promtool + ": the page is not linted");
            return;
        }
        Process p = new ProcessBuilder(promtool.toString(), "check", "metrics").redirectErrorStream(true).start();
        p.getOutputStream().write(page.getBytes(StandardCharsets.UTF_8));
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), "promtool check metrics:\n" + out + "\n" + page);
        assertEquals("", out.strip(), "promtool check metrics");
    }

    /** The value of the sample NAME{LABELS…} (labels sorted by name, as the exposition writes them; a regex fragment). */
    private static double value(String page, String name, String labels) {
        String sample = labels.isEmpty() ? Pattern.quote(name) : Pattern.quote(name) + "\\{" + labels + "\\}";
        Matcher m = Pattern.compile("(?m)^" + sample + " (\\S+)$").matcher(page);
        assertTrue(m.find(), name + "{" + labels + "} in\n" + page);
        return Double.parseDouble(m.group(1));
    }

    private static String endpoint(String address) throws Exception {
        return address + ":" + DistributionTest.freePort(address);
    }

    @Test
    void aNodeAndTheControlPlaneServeMetricsThatMoveUnderLoad() throws Exception {
        try (ControlCluster cluster = new ControlCluster("mayastor-metrics")) {
            String controlHttp = endpoint(ControlCluster.CONTROL_ADDRESS);
            cluster.startControl("--registration-interval-seconds", "1", "--sync-period-seconds", "1", "--http-endpoint", controlHttp);
            String nodeHttp = endpoint("127.0.0.31");
            cluster.node("m1", "127.0.0.31", "--http-endpoint", nodeHttp);
            cluster.resources().apply(ApplyRequest.newBuilder().setManifest(cluster.poolManifest("m1")).build());
            cluster.awaitTable("msp", t -> ControlCluster.countLines(t, " online ") == 1, 30, "the pool online");
            cluster.volumes().createVolume(CreateVolumeRequest.newBuilder().setName("mv").setSize(32L << 20).setReplicaCount(1)
                    .setProtocol("nvmf").setThin(true).build());
            Volume v = cluster.volumes().publishVolume(PublishVolumeRequest.newBuilder().setName("mv").setNode("m1").build());
            String uuid = v.getUuid();

            String before = scrape(nodeHttp);
            assertEquals(1, value(before, "disk_pool_status", "name=\"pool-m1\",node=\"m1\""), 0);
            assertTrue(value(before, "disk_pool_total_size_bytes", "name=\"pool-m1\",node=\"m1\"") > 200L << 20);
            assertEquals(1, value(before, "mayastor_pool_replicas", "name=\"pool-m1\",node=\"m1\""), 0);
            assertEquals(1, value(before, "mayastor_nexus_state", "nexus=\"" + uuid + "\",state=\"online\""), 0);
            double writes = value(before, "mayastor_bdev_write_ops_total", "bdev=\"" + uuid + "\"");
            double used = value(before, "disk_pool_used_size_bytes", "name=\"pool-m1\",node=\"m1\"");

            // load: 8 MiB written through the published volume's nexus, 1 MiB a call
            for (int i = 0; i < 8; i++) {
                Mayastor.Result w = Mayastor.run("ctl", "--node", cluster.endpoints.get("m1"), "bdev", "write", uuid,
                        "--offset", String.valueOf((long) i << 20), "--pattern", "7", "--length", String.valueOf(1 << 20));
                assertEquals(0, w.exit(), w.out() + w.err());
            }
            String after = scrape(nodeHttp);
            assertTrue(value(after, "mayastor_bdev_write_ops_total", "bdev=\"" + uuid + "\"") >= writes + 8, after);
            assertTrue(value(after, "mayastor_bdev_write_bytes_total", "bdev=\"" + uuid + "\"") >= 8 << 20, after);
            assertTrue(value(after, "disk_pool_used_size_bytes", "name=\"pool-m1\",node=\"m1\"") >= used + (8 << 20),
                    "the thin replica took clusters: " + after);

            String control = scrape(controlHttp);
            assertEquals(1, value(control, "mayastor_control_nodes", "state=\"online\""), 0);
            assertEquals(1, value(control, "mayastor_control_volumes", "state=\"healthy\""), 0);
            assertEquals(1, value(control, "mayastor_control_pools", "state=\"online\""), 0);
            assertTrue(value(control, "mayastor_control_reconciles_total", "") > 0, control);
        }
    }
}
