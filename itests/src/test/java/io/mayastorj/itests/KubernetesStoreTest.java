package io.mayastorj.itests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The control plane keeping its resources in Kubernetes: fabric8's mock API server in CRUD mode
 * plays the API server (the real REST protocol and watches, over HTTP on loopback), the CRDs from
 * {@code deploy/crds} applied to it; {@code mayastor control --kubeconfig} and a storage node
 * process. This test plays kubectl: it writes MayastorPool and MayastorVolume manifests and reads
 * status back the way any client of the API server would.
 */
class KubernetesStoreTest {

    private static final String NAMESPACE = "mayastor";
    private static final ResourceDefinitionContext MSP = context("mayastorpools", "MayastorPool");
    private static final ResourceDefinitionContext MSV = context("mayastorvolumes", "MayastorVolume");
    private static final ResourceDefinitionContext MSN = context("mayastornodes", "MayastorNode");

    private KubernetesMockServer server;
    private KubernetesClient kube;
    private ControlCluster cluster;

    private static ResourceDefinitionContext context(String plural, String kind) {
        return new ResourceDefinitionContext.Builder().withGroup("openebs.io").withVersion("v1alpha1")
                .withPlural(plural).withKind(kind).withNamespaced(true).build();
    }

    private static void log(String what) {
        System.out.println("KubernetesStoreTest: " + what);
    }

    @BeforeEach
    void start() throws Exception {
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(), new KubernetesCrudDispatcher(), false);
        server.init(InetAddress.getByName("127.0.0.1"), 0);
        kube = server.createClient();
        for (String plural : List.of("mayastornodes", "mayastorpools", "mayastorvolumes")) {
            CustomResourceDefinition crd = kube.getKubernetesSerialization().unmarshal(
                    Files.readString(Path.of("..", "deploy", "crds", plural + ".yaml")), CustomResourceDefinition.class);
            kube.apiextensions().v1().customResourceDefinitions().resource(crd).create();
        }
        cluster = new ControlCluster("mayastor-kube");
        Path kubeconfig = cluster.work.resolve("kubeconfig");
        Files.writeString(kubeconfig, """
                apiVersion: v1
                kind: Config
                clusters:
                - name: mock
                  cluster:
                    server: http://127.0.0.1:%d
                users:
                - name: mayastor
                  user:
                    token: not-checked-by-the-mock
                contexts:
                - name: mock
                  context:
                    cluster: mock
                    user: mayastor
                    namespace: mayastor
                current-context: mock
                """.formatted(server.getPort()));
        Mayastor.NodeProcess control = cluster.startControl("--kubeconfig", kubeconfig.toString(),
                "--registration-interval-seconds", "1", "--sync-period-seconds", "1");
        assertNotNull(control.await(l -> l.contains("Kubernetes at http://127.0.0.1:" + server.getPort()), 5), control.output());
    }

    @AfterEach
    void stop() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
        if (kube != null) {
            kube.close();
        }
        if (server != null) {
            server.destroy();
        }
    }

    private GenericKubernetesResource get(ResourceDefinitionContext kind, String name) {
        return kube.genericKubernetesResources(kind).inNamespace(NAMESPACE).withName(name).get();
    }

    @SuppressWarnings("unchecked")
    private static Object at(GenericKubernetesResource r, String... path) {
        Object o = r == null ? null : r.getAdditionalProperties();
        for (String p : path) {
            if (!(o instanceof Map)) {
                return null;
            }
            o = ((Map<String, Object>) o).get(p);
        }
        return o;
    }

    private GenericKubernetesResource await(ResourceDefinitionContext kind, String name,
                                            Predicate<GenericKubernetesResource> condition, int seconds, String what)
            throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (true) {
            GenericKubernetesResource r = get(kind, name);
            if (condition.test(r)) {
                return r;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what + ": "
                        + (r == null ? "gone" : kube.getKubernetesSerialization().asYaml(r)));
            }
            Thread.sleep(100);
        }
    }

    private void apply(String yaml) {
        kube.resource(yaml).inNamespace(NAMESPACE).create();
    }

    /**
     * Review finding: a Deployment of one replica runs two control planes for a while (a node cut off
     * from the API server: its pod is replaced while the process lives on), and both acted on the
     * nodes. Only the holder of the Lease mayastor-control acts; the other stands by — not ready, no
     * reconciling, its volume calls refused — and takes over once the lease is free (here the holder
     * is killed: it gives nothing back, and the lease runs out in 15 s).
     */
    @Test
    void aSecondControlPlaneStandsByUntilTheLeaseIsFree() throws Exception {
        Mayastor.NodeProcess first = cluster.controlProcess();
        assertNotNull(first.await(l -> l.contains("holds the lease mayastor/mayastor-control: it leads"), 20), first.output());
        String grpc = "127.0.0.1:" + DistributionTest.freePort("127.0.0.1");
        String http = "127.0.0.1:" + DistributionTest.freePort("127.0.0.1");
        try (Mayastor.NodeProcess second = Mayastor.control("--control-id", "control-b", "--grpc-endpoint", grpc,
                "--http-endpoint", http, "--state-dir", cluster.work.resolve("control-b").toString(),
                "--csi-endpoint", "unix://" + cluster.work.resolve("control-b.sock"),
                "--kubeconfig", cluster.work.resolve("kubeconfig").toString(),
                "--registration-interval-seconds", "1", "--sync-period-seconds", "1")) {
            assertNotNull(second.await(l -> l.contains("control plane control-b@") && l.contains(" stands by: control@"), 20),
                    second.output());
            java.net.http.HttpClient web = java.net.http.HttpClient.newHttpClient();
            java.net.http.HttpResponse<String> ready = web.send(java.net.http.HttpRequest.newBuilder(
                    java.net.URI.create("http://" + http + "/readyz")).build(), java.net.http.HttpResponse.BodyHandlers.ofString());
            assertEquals(503, ready.statusCode(), ready.body());
            assertTrue(ready.body().contains("leadership: control plane control-b@") && ready.body().contains(" stands by; control@"),
                    ready.body());
            io.grpc.ManagedChannel channel = cluster.channel(grpc); // closed with the cluster
            {
                var volumes = io.mayastorj.api.v1.VolumeRpcGrpc.newBlockingStub(channel).withDeadlineAfter(20, TimeUnit.SECONDS);
                var create = io.mayastorj.api.v1.CreateVolumeRequest.newBuilder().setName("standby").setSize(32L << 20)
                        .setReplicaCount(1).setThin(true).build();
                io.grpc.StatusRuntimeException refused = org.junit.jupiter.api.Assertions.assertThrows(
                        io.grpc.StatusRuntimeException.class, () -> volumes.createVolume(create));
                assertEquals(io.grpc.Status.Code.UNAVAILABLE, refused.getStatus().getCode());
                assertTrue(refused.getStatus().getDescription().contains("stands by"), refused.getStatus().toString());
                assertEquals(null, get(MSV, "standby"), "nothing written by the standby");

                cluster.killControl();
                assertNotNull(second.await(l -> l.contains("control plane control-b@") && l.contains(": it leads"), 40),
                        second.output());
                long readyBy = System.nanoTime() + TimeUnit.SECONDS.toNanos(10); // once its reconciler has started
                do {
                    Thread.sleep(100);
                    ready = web.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://" + http + "/readyz")).build(),
                            java.net.http.HttpResponse.BodyHandlers.ofString());
                } while (ready.statusCode() != 200 && System.nanoTime() < readyBy);
                assertEquals(200, ready.statusCode(), "ready once it leads, its CSI controller too: " + ready.body());
                // it reconciles now: the volume it takes gets its status (pending: the cluster has no pool)
                try {
                    log("create on the new leader: " + volumes.withDeadlineAfter(20, TimeUnit.SECONDS).createVolume(create).getState());
                } catch (io.grpc.StatusRuntimeException e) {
                    log("create on the new leader, no pool anywhere: " + e.getStatus());
                }
                await(MSV, "standby", r -> "pending".equals(at(r, "status", "state")), 20, "its status from the new leader");
            }
        }
    }

    @Test
    void poolsAndVolumesAppliedToKubernetesAreMadeOnTheNodesAndCleanedUpBeforeTheyGo() throws Exception {
        cluster.node("k1", "127.0.0.21");
        GenericKubernetesResource msn = await(MSN, "k1", r -> "online".equals(at(r, "status")), 20,
                "the node's MayastorNode, online");
        assertEquals(cluster.endpoints.get("k1"), at(msn, "spec", "grpcEndpoint"));

        apply(cluster.poolManifest("k1"));
        GenericKubernetesResource msp = await(MSP, "pool-k1", r -> "online".equals(at(r, "status", "state")), 30,
                "the pool online");
        log("msp status: " + at(msp, "status"));
        assertTrue(((Number) at(msp, "status", "capacity")).longValue() > 200L << 20, "capacity " + at(msp, "status", "capacity"));
        assertEquals(List.of("openebs.io/mayastor-cleanup"), msp.getMetadata().getFinalizers());
        assertEquals(List.of("k1: pool pool-k1"), cluster.onNodes(true));

        apply("""
                apiVersion: openebs.io/v1alpha1
                kind: MayastorVolume
                metadata:
                  name: db
                spec:
                  replicaCount: 1
                  requiredBytes: 33554432
                  protocol: nvmf
                  thin: true
                """);
        GenericKubernetesResource msv = await(MSV, "db", r -> "healthy".equals(at(r, "status", "state")), 30, "the volume healthy");
        String uid = msv.getMetadata().getUid();
        assertEquals(List.of("k1: pool pool-k1", "k1: replica vol-" + uid), cluster.onNodes(true));
        assertEquals(33554432L, ((Number) at(msv, "status", "size")).longValue());
        List<?> replicas = (List<?>) at(msv, "status", "replicas");
        assertEquals(1, replicas.size());
        assertEquals("k1", ((Map<?, ?>) replicas.get(0)).get("node"));
        assertEquals("pool-k1", ((Map<?, ?>) replicas.get(0)).get("pool"));

        // what kubectl describe and kubectl get events show: the states each resource entered
        List<String> events = kube.v1().events().inNamespace(NAMESPACE).list().getItems().stream()
                .map(e -> e.getType() + " " + e.getReason() + " " + e.getInvolvedObject().getKind() + "/" + e.getInvolvedObject().getName()
                        + ": " + e.getMessage())
                .toList();
        log("events: " + events);
        assertTrue(events.contains("Normal Online MayastorNode/k1: node k1 is online at " + cluster.endpoints.get("k1")), events.toString());
        assertTrue(events.contains("Normal Online MayastorPool/pool-k1: pool pool-k1 is online"), events.toString());
        assertTrue(events.contains("Normal Healthy MayastorVolume/db: volume db is healthy"), events.toString());
        assertTrue(kube.v1().events().inNamespace(NAMESPACE).list().getItems().stream()
                .filter(e -> "db".equals(e.getInvolvedObject().getName()))
                .allMatch(e -> uid.equals(e.getInvolvedObject().getUid()) && "mayastor-control".equals(e.getSource().getComponent())));

        // the pool is deleted while it holds the volume's replica: the finalizer holds it, the reason says why
        kube.genericKubernetesResources(MSP).inNamespace(NAMESPACE).withName("pool-k1").delete();
        msp = await(MSP, "pool-k1", r -> String.valueOf(at(r, "status", "reason")).startsWith("being deleted"), 20,
                "the deletion held");
        assertNotNull(msp.getMetadata().getDeletionTimestamp());
        assertEquals("being deleted: it holds 1 replica(s); destroy their volumes first", at(msp, "status", "reason"));
        Thread.sleep(2500); // two more sync periods: still held, nothing destroyed
        assertNotNull(get(MSP, "pool-k1"));
        List<String> blocked = kube.v1().events().inNamespace(NAMESPACE).list().getItems().stream()
                .filter(e -> "DeletionBlocked".equals(e.getReason())).map(e -> e.getType() + " " + e.getMessage()).toList();
        assertEquals(List.of("Warning pool pool-k1 being deleted: it holds 1 replica(s); destroy their volumes first"), blocked,
                "kubectl describe msp says why its deletion waits, once");
        assertEquals(List.of("k1: pool pool-k1", "k1: replica vol-" + uid), cluster.onNodes(true));

        // the volume goes first (its replica with it), then the pool
        kube.genericKubernetesResources(MSV).inNamespace(NAMESPACE).withName("db").delete();
        await(MSV, "db", r -> r == null, 30, "the volume gone");
        await(MSP, "pool-k1", r -> r == null, 30, "the pool gone");
        assertEquals(List.of(), cluster.onNodes(true), "nothing left on the node");

        // the same through the control plane's own API (ctl, and the CSI controller's path): it writes the resources
        cluster.resources().apply(io.mayastorj.api.v1.ApplyRequest.newBuilder().setManifest(cluster.poolManifest("k1")).build());
        await(MSP, "pool-k1", r -> "online".equals(at(r, "status", "state")), 30, "the pool online again");
        cluster.volumes().createVolume(io.mayastorj.api.v1.CreateVolumeRequest.newBuilder().setName("db2").setSize(32L << 20)
                .setReplicaCount(1).setProtocol("nvmf").setThin(true).build());
        cluster.volumes().publishVolume(io.mayastorj.api.v1.PublishVolumeRequest.newBuilder().setName("db2").setNode("k1").build());
        io.grpc.StatusRuntimeException inUse = org.junit.jupiter.api.Assertions.assertThrows(io.grpc.StatusRuntimeException.class,
                () -> cluster.volumes().destroyVolume(io.mayastorj.api.v1.DestroyVolumeRequest.newBuilder().setName("db2").build()));
        assertEquals(io.grpc.Status.Code.FAILED_PRECONDITION, inUse.getStatus().getCode(), inUse.getMessage());
        assertEquals("volume db2 is published to node k1: unpublish it first", inUse.getStatus().getDescription());
        cluster.volumes().unpublishVolume(io.mayastorj.api.v1.UnpublishVolumeRequest.newBuilder().setName("db2").build());
        cluster.volumes().destroyVolume(io.mayastorj.api.v1.DestroyVolumeRequest.newBuilder().setName("db2").build());
        await(MSV, "db2", r -> r == null, 30, "the volume gone");
        cluster.resources().delete(io.mayastorj.api.v1.DeleteRequest.newBuilder().setKind("msp").setName("pool-k1").build());
        await(MSP, "pool-k1", r -> r == null, 30, "the pool gone");
        rbacAllowsEveryCallTheControlPlaneMadeAndNoMore();
    }

    /**
     * deploy/moac-rbac.yaml against what the control plane did above: every API call it made (its
     * requests carry its token; the test's own client has none) is allowed by the ClusterRole, and
     * the role's rules for openebs.io grant nothing it did not use. A rule taken away is caught.
     */
    private void rbacAllowsEveryCallTheControlPlaneMadeAndNoMore() throws Exception {
        List<RbacCheck.Call> calls = new java.util.ArrayList<>();
        io.fabric8.mockwebserver.http.RecordedRequest r;
        while ((r = server.takeRequest(100, TimeUnit.MILLISECONDS)) != null) {
            if ("Bearer not-checked-by-the-mock".equals(r.getHeader("Authorization"))) {
                RbacCheck.Call call = RbacCheck.of(r);
                if (call != null) {
                    calls.add(call);
                }
            }
        }
        java.util.SortedSet<String> used = new java.util.TreeSet<>(calls.stream().map(RbacCheck.Call::key).toList());
        log("the control plane's API calls (" + calls.size() + "): " + used);
        assertTrue(used.contains("update openebs.io/mayastorvolumes/status"), used.toString());
        List<io.fabric8.kubernetes.api.model.HasMetadata> rbac = kube.load(Files.newInputStream(Path.of("..", "deploy",
                "moac-rbac.yaml"))).items();
        io.fabric8.kubernetes.api.model.rbac.ClusterRole clusterRole = rbac.stream()
                .filter(i -> i instanceof io.fabric8.kubernetes.api.model.rbac.ClusterRole)
                .map(i -> (io.fabric8.kubernetes.api.model.rbac.ClusterRole) i).findFirst().orElseThrow();
        io.fabric8.kubernetes.api.model.rbac.Role role = rbac.stream().filter(i -> i instanceof io.fabric8.kubernetes.api.model.rbac.Role)
                .map(i -> (io.fabric8.kubernetes.api.model.rbac.Role) i).findFirst().orElseThrow();
        RbacCheck.Rights rights = new RbacCheck.Rights(clusterRole.getRules(), role.getRules(), role.getMetadata().getNamespace());
        assertEquals(List.of(), RbacCheck.denied(rights, calls), "calls moac-rbac.yaml does not allow");
        assertTrue(clusterRole.getRules().stream().noneMatch(rule -> rule.getApiGroups().contains("openebs.io")
                || rule.getApiGroups().contains("coordination.k8s.io")), "the control plane's own objects: in its namespace only");
        java.util.SortedSet<String> granted = new java.util.TreeSet<>();
        for (var rule : role.getRules()) {
            if (rule.getApiGroups().contains("openebs.io")) {
                for (String resource : rule.getResources()) {
                    for (String verb : rule.getVerbs()) {
                        granted.add(verb + " openebs.io/" + resource);
                    }
                }
            }
        }
        java.util.SortedSet<String> usedHere = new java.util.TreeSet<>(used.stream().filter(k -> k.contains(" openebs.io/")).toList());
        // granted for paths this scenario does not take: a node registering at a new endpoint (its
        // MayastorNode's spec follows), and `ctl delete msn` of a node that is gone for good
        usedHere.addAll(List.of("update openebs.io/mayastornodes", "delete openebs.io/mayastornodes"));
        assertEquals(usedHere, granted, "the control plane's rules are what it uses: no more, no less");

        // the check bites: without the rule for the volumes' status, those calls are refused; and the Role's rules
        // count only in its namespace
        List<String> refused = RbacCheck.denied(rights.without(rule -> rule.getResources().contains("mayastorvolumes/status")), calls);
        assertTrue(RbacCheck.denied(new RbacCheck.Rights(clusterRole.getRules(), role.getRules(), "kube-system"), calls).size()
                > refused.size(), "the Role grants nothing outside its namespace");
        assertTrue(!refused.isEmpty() && refused.stream().allMatch(l -> l.contains("openebs.io/mayastorvolumes/status: ")), refused.toString());
    }
}
