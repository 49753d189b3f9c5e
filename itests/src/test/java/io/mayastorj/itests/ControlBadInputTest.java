package io.mayastorj.itests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.mayastorj.api.v1.ApplyRequest;
import io.mayastorj.api.v1.CreateVolumeRequest;
import io.mayastorj.api.v1.DeleteRequest;
import io.mayastorj.api.v1.GetRequest;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * What the control plane does with pools and volumes it cannot make: each is refused (the API) or
 * kept with its state and a reason a person understands (a manifest applied, as Kubernetes would
 * hold it), and nothing is made for it on any node. One control plane and three nodes, each with a
 * pool, serve every case; the last shows a pending volume made once a fourth node brings room.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ControlBadInputTest {

    private static final List<String> GOOD_POOLS = List.of("b1: pool pool-b1", "b2: pool pool-b2", "b3: pool pool-b3");
    private static final KubernetesSerialization JSON = new KubernetesSerialization();
    private ControlCluster cluster;

    @BeforeAll
    void start() throws Exception {
        cluster = new ControlCluster("mayastor-bad-input");
        cluster.startControl("--registration-interval-seconds", "1", "--sync-period-seconds", "1");
        StringBuilder pools = new StringBuilder();
        for (int i = 1; i <= 3; i++) {
            cluster.node("b" + i, "127.0.0.3" + i);
            pools.append(cluster.poolManifest("b" + i)).append("---\n");
        }
        cluster.resources().apply(ApplyRequest.newBuilder().setManifest(pools.toString()).build());
        cluster.awaitTable("msp", t -> ControlCluster.countLines(t, " online ") == 3, 30, "three pools online");
        assertEquals(GOOD_POOLS, cluster.onNodes(true));
    }

    @AfterAll
    void stop() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    private void apply(String manifest) {
        cluster.resources().apply(ApplyRequest.newBuilder().setManifest(manifest).build());
    }

    private static String volume(String name, String spec) {
        return "apiVersion: openebs.io/v1alpha1\nkind: MayastorVolume\nmetadata:\n  name: " + name + "\nspec:\n" + spec;
    }

    /** "STATE REASON" of a resource, from ctl get -o json, once it has a reason. */
    private String stateAndReason(String kind, String name) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (true) {
            String json = cluster.resources().get(GetRequest.newBuilder().setKind(kind).setName(name).setOutput("json").build())
                    .getText();
            Map<?, ?> status = (Map<?, ?>) JSON.unmarshal(json, GenericKubernetesResource.class).getAdditionalProperties()
                    .get("status");
            if (status != null && status.get("reason") != null) {
                return status.get("state") + " " + status.get("reason");
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError(kind + " " + name + " got no reason:\n" + json);
            }
            Thread.sleep(100);
        }
    }

    /**
     * Two more sync periods after the control plane gave its reason (so it has been through the
     * resource at least once), the nodes hold what they held before: the three good pools.
     */
    private void nothingMade(List<String> expected) throws InterruptedException {
        Thread.sleep(2000);
        assertEquals(expected, cluster.onNodes(true));
    }

    private void delete(String kind, String name) {
        cluster.resources().delete(DeleteRequest.newBuilder().setKind(kind).setName(name).build());
    }

    private static StatusRuntimeException refused(Runnable call) {
        return assertThrows(StatusRuntimeException.class, call::run);
    }

    private CreateVolumeRequest.Builder create(String name) {
        return CreateVolumeRequest.newBuilder().setName(name).setSize(32L << 20).setReplicaCount(1).setProtocol("nvmf");
    }

    @Test
    @Order(1)
    void replicaCountZero() throws Exception {
        apply(volume("zero", "  replicaCount: 0\n  requiredBytes: 33554432\n"));
        assertEquals("faulted invalid spec: spec.replicaCount must be at least 1, not 0", stateAndReason("msv", "zero"));
        StatusRuntimeException e = refused(() -> cluster.volumes().createVolume(create("zero2").setReplicaCount(0).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertEquals("volume zero2: spec.replicaCount must be at least 1, not 0", e.getStatus().getDescription());
        nothingMade(GOOD_POOLS);
        delete("msv", "zero");
    }

    @Test
    @Order(2)
    void sizeZero() throws Exception {
        apply(volume("empty", "  replicaCount: 1\n  requiredBytes: 0\n"));
        assertEquals("faulted invalid spec: spec.requiredBytes must be at least 1 byte, not 0", stateAndReason("msv", "empty"));
        StatusRuntimeException e = refused(() -> cluster.volumes().createVolume(create("empty2").setSize(0).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertEquals("volume empty2: spec.requiredBytes must be at least 1 byte, not 0", e.getStatus().getDescription());
        nothingMade(GOOD_POOLS);
        delete("msv", "empty");
    }

    @Test
    @Order(3)
    void unknownProtocol() throws Exception {
        apply(volume("fibre", "  replicaCount: 1\n  requiredBytes: 33554432\n  protocol: fc\n"));
        assertEquals("faulted invalid spec: spec.protocol 'fc' is not nvmf, iscsi or none", stateAndReason("msv", "fibre"));
        StatusRuntimeException e = refused(() -> cluster.volumes().createVolume(create("fibre2").setProtocol("fc").build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertEquals("volume fibre2: spec.protocol 'fc' is not nvmf, iscsi or none", e.getStatus().getDescription());
        nothingMade(GOOD_POOLS);
        delete("msv", "fibre");
    }

    @Test
    @Order(4)
    void requiredNodeUnknown() throws Exception {
        apply(volume("pinned", "  replicaCount: 1\n  requiredBytes: 33554432\n  requiredNodes: [nowhere]\n"));
        assertEquals("pending spec.requiredNodes names node nowhere, which the control plane does not know",
                stateAndReason("msv", "pinned"));
        StatusRuntimeException e = refused(() -> cluster.volumes().createVolume(create("pinned2").addRequiredNodes("nowhere").build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertEquals("volume pinned2: spec.requiredNodes names node nowhere, which the control plane does not know",
                e.getStatus().getDescription());
        nothingMade(GOOD_POOLS);
        delete("msv", "pinned");
    }

    @Test
    @Order(5)
    void poolOnAnUnknownNode() throws Exception {
        apply("apiVersion: openebs.io/v1alpha1\nkind: MayastorPool\nmetadata:\n  name: pool-x\nspec:\n  node: nowhere\n"
                + "  disks: [\"/dev/sdx\"]\n");
        assertEquals("pending node nowhere is not registered", stateAndReason("msp", "pool-x"));
        nothingMade(GOOD_POOLS);
        delete("msp", "pool-x");
    }

    /**
     * Review finding: {@code ctl --json apply} with two files printed two JSON objects, and none of
     * the first file's results once the second failed. One object holds every file's results, also
     * when a later file is refused (what was applied stays applied).
     */
    @Test
    @Order(6)
    void theCommandLineAppliesFilesInOrderAndPrintsOneObject() throws Exception {
        java.nio.file.Path first = cluster.work.resolve("pool-cli.yaml");
        java.nio.file.Path bad = cluster.work.resolve("bad.yaml");
        java.nio.file.Files.writeString(first, "apiVersion: openebs.io/v1alpha1\nkind: MayastorPool\nmetadata:\n"
                + "  name: pool-cli\nspec:\n  node: nowhere\n  disks: [\"/dev/sdy\"]\n");
        java.nio.file.Path second = cluster.work.resolve("pool-cli2.yaml");
        java.nio.file.Files.writeString(second, java.nio.file.Files.readString(first).replace("pool-cli", "pool-cli2"));
        java.nio.file.Files.writeString(bad, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: not-ours\n");
        Mayastor.Result r = Mayastor.run("ctl", "--control", cluster.control, "--json", "apply", "-f", first.toString(),
                "-f", second.toString(), "-f", bad.toString());
        assertEquals(1, r.exit(), r.toString());
        assertEquals("{\n  \"results\": [\"mayastorpool.openebs.io/pool-cli created\", "
                + "\"mayastorpool.openebs.io/pool-cli2 created\"]\n}\n", r.out(), r.toString());
        assertEquals("pending node nowhere is not registered", stateAndReason("msp", "pool-cli"));
        delete("msp", "pool-cli");
        delete("msp", "pool-cli2");
    }

    @Test
    @Order(6)
    void poolOnAMissingDisk() throws Exception {
        String missing = cluster.work.resolve("no-such-disk.img").toString();
        apply("apiVersion: openebs.io/v1alpha1\nkind: MayastorPool\nmetadata:\n  name: pool-missing\nspec:\n  node: b1\n"
                + "  disks: [\"" + missing + "\"]\n");
        String reason = stateAndReason("msp", "pool-missing");
        assertEquals("pending cannot make the pool: node b1: '" + missing + "': no such file or device " + missing, reason);
        nothingMade(GOOD_POOLS);
        delete("msp", "pool-missing");
    }

    @Test
    @Order(7)
    void secondPoolOnTheSameDisk() throws Exception {
        String disk = cluster.work.resolve("disk-b2.img").toString();
        apply("apiVersion: openebs.io/v1alpha1\nkind: MayastorPool\nmetadata:\n  name: pool-again\nspec:\n  node: b2\n"
                + "  disks: [\"" + disk + "\"]\n");
        assertEquals("pending disk " + disk + " of node b2 belongs to pool pool-b2", stateAndReason("msp", "pool-again"));
        nothingMade(GOOD_POOLS);
        delete("msp", "pool-again");
        // the first pool is untouched by the second's deletion
        nothingMade(GOOD_POOLS);
        assertEquals(3, ControlCluster.countLines(cluster.resources().get(GetRequest.newBuilder().setKind("msp").build())
                .getText(), " online "));
    }

    @Test
    @Order(8)
    void moreReplicasThanNodesWaitsAndIsMadeWhenANodeBringsRoom() throws Exception {
        apply(volume("wide", "  replicaCount: 4\n  requiredBytes: 33554432\n  thin: true\n"));
        assertEquals("pending needs 4 pools on distinct nodes with room, found 3 (b1/pool-b1, b2/pool-b2, b3/pool-b3)",
                stateAndReason("msv", "wide"));
        StatusRuntimeException e = refused(() -> cluster.volumes().createVolume(create("wide2").setReplicaCount(9).build()));
        assertEquals("volume wide2: spec.replicaCount 9 is more than a nexus holds (8)", e.getStatus().getDescription());
        nothingMade(GOOD_POOLS);

        cluster.node("b4", "127.0.0.34");
        apply(cluster.poolManifest("b4"));
        cluster.awaitVolume("wide", v -> v.getState().equals("healthy") && v.getReplicasCount() == 4, 30,
                "four replicas once a fourth node has a pool");
        List<String> held = cluster.onNodes(false);
        assertEquals(4, held.size(), held.toString());
        List<String> nodes = new ArrayList<>();
        held.forEach(h -> nodes.add(h.substring(0, h.indexOf(':'))));
        assertEquals(List.of("b1", "b2", "b3", "b4"), nodes);
    }
}
