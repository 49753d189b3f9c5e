package io.mayastorj.itests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PersistentVolume;
import io.fabric8.kubernetes.api.model.PersistentVolumeBuilder;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.storage.StorageClass;
import io.fabric8.kubernetes.api.model.storage.VolumeAttachment;
import io.fabric8.kubernetes.api.model.storage.VolumeAttachmentBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.grpc.ManagedChannel;
import io.mayastorj.csi.CsiEndpoint;
import io.mayastorj.csi.v1.CapacityRange;
import io.mayastorj.csi.v1.ControllerGrpc;
import io.mayastorj.csi.v1.ControllerPublishVolumeRequest;
import io.mayastorj.csi.v1.ControllerUnpublishVolumeRequest;
import io.mayastorj.csi.v1.CreateVolumeRequest;
import io.mayastorj.csi.v1.NodeGrpc;
import io.mayastorj.csi.v1.NodePublishVolumeRequest;
import io.mayastorj.csi.v1.NodeStageVolumeRequest;
import io.mayastorj.csi.v1.NodeUnpublishVolumeRequest;
import io.mayastorj.csi.v1.NodeUnstageVolumeRequest;
import io.mayastorj.csi.v1.VolumeCapability;
import java.io.InputStream;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.api.parallel.ResourceLock;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The Mayastor guide end to end, for nvmf and for iscsi. deploy/ applied to fabric8's mock API
 * server (namespace, CRDs, CSIDriver, StorageClasses, the guide's pool.yaml per node), the control
 * plane in Kubernetes mode, three storage nodes registering over a real nats-server, the guide's PVC
 * provisioned, attached and mounted as the external-provisioner (CreateVolume with the class's
 * parameters, a PV bound to the claim), the attacher (a VolumeAttachment, ControllerPublish) and the
 * kubelet (NodeStage/NodePublish through the CSI node plugin in the QEMU guest) would do it — the
 * test plays those three, which cannot run here. Then the guide's MySQL for real: Debian's MariaDB
 * in the guest with its data on the volume, one transaction per row, a storage node SIGKILLed while
 * rows go in; after a clean shutdown, the volume detached and attached again (the killed node back),
 * every row whose commit the client saw is there, and the volume is repaired.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Execution(ExecutionMode.CONCURRENT) // beside the classes that need no guest: see junit-platform.properties
@ResourceLock(KernelGuest.LOCK)
class WalkthroughTest {

    private static final String NS = "mayastor";
    private static final ResourceDefinitionContext MSP = new ResourceDefinitionContext.Builder().withGroup("openebs.io")
            .withVersion("v1alpha1").withPlural("mayastorpools").withKind("MayastorPool").withNamespaced(true).build();
    private KubernetesMockServer api;
    private KubernetesClient kube;
    private Process nats;
    private ControlCluster cluster;
    private GuestSession guest;
    private ManagedChannel controllerChannel;
    private ManagedChannel nodeChannel;
    private final List<String> nodes = List.of("w1", "w2", "w3");

    private static void log(String what) {
        System.out.println("WalkthroughTest: " + what);
    }

    private void apply(String file) throws Exception {
        try (InputStream in = Files.newInputStream(Path.of("..", "deploy", file))) {
            for (HasMetadata o : kube.load(in).items()) {
                kube.resource(o).create();
            }
        }
    }

    @BeforeAll
    void start() throws Exception {
        KernelGuest.assumeAvailable();
        assumeTrue(Files.isExecutable(Path.of("/usr/sbin/mariadbd")), "MariaDB is not installed (scripts/test installs it)");
        api = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(), new KubernetesCrudDispatcher(), false);
        api.init(InetAddress.getByName("127.0.0.1"), 0);
        kube = api.createClient();
        for (String f : List.of("namespace.yaml", "crds/mayastornodes.yaml", "crds/mayastorpools.yaml", "crds/mayastorvolumes.yaml",
                "csi-driver.yaml", "storage-class.yaml")) {
            apply(f);
        }
        cluster = new ControlCluster("mayastor-walkthrough", "127.0.0.1");
        int natsPort = DistributionTest.freePort("127.0.0.1");
        nats = new ProcessBuilder("nats-server", "-js", "-a", "127.0.0.1", "-p", String.valueOf(natsPort),
                "-sd", cluster.work.resolve("nats").toString()).redirectErrorStream(true)
                .redirectOutput(cluster.work.resolve("nats.log").toFile()).start();
        String natsUrl = "nats://127.0.0.1:" + natsPort;
        Path kubeconfig = cluster.work.resolve("kubeconfig");
        Files.writeString(kubeconfig, """
                apiVersion: v1
                kind: Config
                clusters: [{name: mock, cluster: {server: "http://127.0.0.1:%d"}}]
                users: [{name: moac, user: {token: not-checked-by-the-mock}}]
                contexts: [{name: mock, context: {cluster: mock, user: moac, namespace: mayastor}}]
                current-context: mock
                """.formatted(api.getPort()));
        int csiPort = DistributionTest.freePort("127.0.0.1");
        cluster.startControl("--kubeconfig", kubeconfig.toString(), "--nats", natsUrl, "--csi-endpoint",
                "tcp://127.0.0.1:" + csiPort, "--registration-interval-seconds", "1", "--sync-period-seconds", "2");
        cluster.registerOverNats(natsUrl);
        // the CSI node plugin in the guest, as CsiGuestTest runs it: it boots while the storage nodes start here
        int forwarded = DistributionTest.freePort("127.0.0.1");
        Path share = Scratch.dir("mayastor-guest");
        guest = new GuestSession("csi-guest.sh", Map.of(
                "VM_HOSTFWD", "tcp:127.0.0.1:" + forwarded + "-:10200",
                "GUEST_MAYASTOR", CsiGuestTest.guestVisible(Mayastor.DIST, share).resolve("bin/mayastor").toString(),
                "GUEST_NODE_ID", "guest",
                "GUEST_CSI_PORT", "10200",
                "GUEST_DEVICE_TIMEOUT", "60",
                "GUEST_CONTROL", "10.0.2.2:" + cluster.control.substring(cluster.control.indexOf(':') + 1)), share);
        // the guide's pool.yaml: a MayastorPool for each of its three nodes
        String[] guidePools = Files.readString(Path.of("..", "deploy", "pool.yaml")).split("\n---\n");
        assertEquals(nodes.size(), guidePools.length, "one pool per storage node in the guide's pool.yaml");
        for (String id : nodes) {
            cluster.node(id, "127.0.0.1", "--publish-address", "10.0.2.2");
            Path disk = cluster.disk(id, 4L << 30);
            GenericKubernetesResource pool = kube.getKubernetesSerialization().unmarshal(guidePools[nodes.indexOf(id)],
                    GenericKubernetesResource.class);
            pool.getMetadata().setName("pool-on-" + id);
            pool.setAdditionalProperty("spec", Map.of("node", id, "disks", List.of(disk.toString())));
            kube.genericKubernetesResources(MSP).inNamespace(NS).resource(pool).create();
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (kube.genericKubernetesResources(MSP).inNamespace(NS).list().getItems().stream()
                .filter(p -> p.getAdditionalProperties().get("status") instanceof Map<?, ?> st && "online".equals(st.get("state"))).count() < 3) {
            assertTrue(System.nanoTime() < deadline, "three pools online (kubectl -n mayastor get msp)");
            Thread.sleep(200);
        }
        controllerChannel = CsiEndpoint.parse("tcp://127.0.0.1:" + csiPort).channel();
        guest.awaitFile("agent", 120);
        log(String.format("csi-node ready in the guest %.1f s after its boot", guest.awaitNodeReady("guest", 0)));
        nodeChannel = CsiEndpoint.parse("tcp://127.0.0.1:" + forwarded).channel();
    }

    private NodeGrpc.NodeBlockingStub node() {
        return NodeGrpc.newBlockingStub(nodeChannel).withWaitForReady().withDeadlineAfter(180, TimeUnit.SECONDS);
    }

    private static VolumeCapability mount(String fs) {
        return VolumeCapability.newBuilder().setMount(VolumeCapability.MountVolume.newBuilder().setFsType(fs))
                .setAccessMode(VolumeCapability.AccessMode.newBuilder().setMode(VolumeCapability.AccessMode.Mode.SINGLE_NODE_WRITER))
                .build();
    }

    /** The kubelet: stage the volume on the node, publish it into the pod. */
    private void mountInPod(String volumeId, String uri, String fs, String staging, String target) {
        node().nodeStageVolume(NodeStageVolumeRequest.newBuilder().setVolumeId(volumeId).setStagingTargetPath(staging)
                .putPublishContext("uri", uri).setVolumeCapability(mount(fs)).build());
        node().nodePublishVolume(NodePublishVolumeRequest.newBuilder().setVolumeId(volumeId).setStagingTargetPath(staging)
                .setTargetPath(target).setVolumeCapability(mount(fs)).build());
    }

    private void unmountFromPod(String volumeId, String staging, String target) {
        node().nodeUnpublishVolume(NodeUnpublishVolumeRequest.newBuilder().setVolumeId(volumeId).setTargetPath(target).build());
        node().nodeUnstageVolume(NodeUnstageVolumeRequest.newBuilder().setVolumeId(volumeId).setStagingTargetPath(staging).build());
    }

    private void awaitCommitted(int rows, String what) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
        while (guest.file("committed").lines().count() < rows) {
            assertTrue(System.nanoTime() < deadline, what + ": " + guest.file("committed").lines().count() + " of " + rows
                    + "; errors: " + guest.file("insert-errors"));
            assertEquals("", guest.file("insert-errors").strip(), "an insert failed");
            Thread.sleep(250);
        }
    }

    /** mariadbd in the guest (hostrun: this machine's MariaDB on the guest's kernel), data on the volume. */
    private void startMariadb(String datadir) throws Exception {
        guest.ok("(mariadbd --datadir=" + datadir + " --user=root --socket=/tmp/my.sock --skip-networking"
                + " --pid-file=/tmp/mdb.pid --log-error=/mnt/mariadb.err > /dev/null 2>&1 &);"
                + " for i in $(seq 120); do [ -S /tmp/my.sock ] && exit 0; sleep 0.5; done; cat /mnt/mariadb.err; exit 1", 120);
    }

    private String sql(String statements) throws Exception {
        return guest.ok("mariadb -S /tmp/my.sock -N -B -e \"" + statements + "\"", 60).strip();
    }

    @AfterAll
    void stop() throws Exception {
        if (guest != null) {
            guest.close();
        }
        if (controllerChannel != null) {
            controllerChannel.shutdownNow();
        }
        if (nodeChannel != null) {
            nodeChannel.shutdownNow();
        }
        if (cluster != null) {
            cluster.close();
        }
        if (nats != null) {
            nats.destroy();
        }
        if (kube != null) {
            kube.close();
        }
        if (api != null) {
            api.destroy();
        }
    }

    /** The external-provisioner: the claim's class and size become CreateVolume; a PV bound to the claim. */
    private PersistentVolume provision(PersistentVolumeClaim pvc) {
        StorageClass sc = kube.storage().v1().storageClasses().withName(pvc.getSpec().getStorageClassName()).get();
        assertNotNull(sc, "StorageClass " + pvc.getSpec().getStorageClassName());
        long bytes = pvc.getSpec().getResources().getRequests().get("storage").getNumericalAmount().longValue();
        String name = "pvc-" + pvc.getMetadata().getUid();
        var created = ControllerGrpc.newBlockingStub(controllerChannel).withDeadlineAfter(120, TimeUnit.SECONDS)
                .createVolume(CreateVolumeRequest.newBuilder().setName(name).putAllParameters(sc.getParameters())
                        .setCapacityRange(CapacityRange.newBuilder().setRequiredBytes(bytes))
                        .addVolumeCapabilities(VolumeCapability.newBuilder()
                                .setMount(VolumeCapability.MountVolume.newBuilder().setFsType(sc.getParameters().get("fsType")))
                                .setAccessMode(VolumeCapability.AccessMode.newBuilder()
                                        .setMode(VolumeCapability.AccessMode.Mode.SINGLE_NODE_WRITER))).build()).getVolume();
        PersistentVolume pv = new PersistentVolumeBuilder().withNewMetadata().withName(name).endMetadata().withNewSpec()
                .withCapacity(Map.of("storage", new Quantity(String.valueOf(created.getCapacityBytes()))))
                .withAccessModes("ReadWriteOnce").withStorageClassName(sc.getMetadata().getName())
                .withNewCsi().withDriver(sc.getProvisioner()).withVolumeHandle(created.getVolumeId())
                .withVolumeAttributes(created.getVolumeContextMap()).withFsType(sc.getParameters().get("fsType")).endCsi()
                .withNewClaimRef().withNamespace(pvc.getMetadata().getNamespace()).withName(pvc.getMetadata().getName())
                .withUid(pvc.getMetadata().getUid()).endClaimRef().endSpec().build();
        return kube.persistentVolumes().resource(pv).create();
    }

    /** The attacher: a VolumeAttachment for the guest's node becomes ControllerPublishVolume; its URI is the attachment's metadata. */
    private String attach(PersistentVolume pv) {
        VolumeAttachment va = kube.storage().v1().volumeAttachments().resource(new VolumeAttachmentBuilder().withNewMetadata()
                .withName("csi-" + pv.getMetadata().getName()).endMetadata().withNewSpec().withAttacher(pv.getSpec().getCsi().getDriver())
                .withNodeName("guest").withNewSource().withPersistentVolumeName(pv.getMetadata().getName()).endSource().endSpec()
                .build()).create();
        ControllerPublishVolumeRequest publish = ControllerPublishVolumeRequest.newBuilder()
                .setVolumeId(pv.getSpec().getCsi().getVolumeHandle()).setNodeId("guest")
                .setVolumeCapability(mount(pv.getSpec().getCsi().getFsType())).build();
        String uri;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (true) { // the attacher retries while the node is not registered yet
            try {
                uri = ControllerGrpc.newBlockingStub(controllerChannel).withDeadlineAfter(120, TimeUnit.SECONDS)
                        .controllerPublishVolume(publish).getPublishContextMap().get("uri");
                break;
            } catch (io.grpc.StatusRuntimeException e) {
                if (!String.valueOf(e.getStatus().getDescription()).contains("not registered") || System.nanoTime() > deadline) {
                    throw e;
                }
                try {
                    Thread.sleep(500);
                } catch (InterruptedException ie) {
                    throw new IllegalStateException(ie);
                }
            }
        }
        va.setStatus(new io.fabric8.kubernetes.api.model.storage.VolumeAttachmentStatusBuilder().withAttached(true)
                .withAttachmentMetadata(Map.of("uri", uri)).build());
        kube.storage().v1().volumeAttachments().resource(va).updateStatus();
        return uri;
    }

    @ParameterizedTest
    @ValueSource(strings = {"mayastor-nvmf", "mayastor-iscsi"})
    void theGuidesMysqlKeepsEveryCommittedRowThroughAStorageNodesDeath(String storageClass) throws Exception {
        String kind = storageClass.substring("mayastor-".length());
        PersistentVolumeClaim pvc;
        try (InputStream in = Files.newInputStream(Path.of("..", "deploy", "pvc.yaml"))) {
            pvc = (PersistentVolumeClaim) kube.load(in).items().get(0);
        }
        pvc.getMetadata().setName("ms-volume-claim-" + kind);
        pvc.getSpec().setStorageClassName(storageClass);
        pvc = kube.persistentVolumeClaims().inNamespace("default").resource(pvc).create();
        PersistentVolume pv = provision(pvc);
        String volumeId = pv.getSpec().getCsi().getVolumeHandle();
        String fs = pv.getSpec().getCsi().getFsType();
        String uri = attach(pv);
        log(storageClass + ": " + volumeId + " attached at " + uri);
        String staging = "/tmp/kubelet/staging/" + kind;
        String target = "/tmp/kubelet/pods/mysql-" + kind + "/volumes/data";
        mountInPod(volumeId, uri, fs, staging, target);

        // the guide's MySQL: MariaDB with its data on the volume, rows inserted one transaction each
        String datadir = target + "/mysql";
        guest.ok("rm -f /mnt/committed /mnt/insert-errors /mnt/stop-inserts /mnt/inserts-done; mariadb-install-db --datadir=" + datadir
                + " --user=root --auth-root-authentication-method=normal --skip-test-db > /mnt/mariadb-install.log 2>&1", 300);
        startMariadb(datadir);
        sql("create database guide; create table guide.t (id int primary key, payload varchar(200)) engine=InnoDB");
        guest.ok("(for i in $(seq 1 1000000); do [ -e /mnt/stop-inserts ] && break;"
                + " if mariadb -S /tmp/my.sock -e \"insert into guide.t values ($i, repeat('x', 200))\" 2>/tmp/insert.err;"
                + " then echo $i >> /mnt/committed; else echo \"failed $i (status $?): $(cat /tmp/insert.err)\" >> /mnt/insert-errors; fi; done;"
                + " echo done >> /mnt/inserts-done) > /dev/null 2>&1 &", 30);
        awaitCommitted(3, "rows before the kill");
        String nexusNode = cluster.volumes().listVolumes(io.mayastorj.api.v1.ListVolumesRequest.newBuilder().setName(volumeId)
                .build()).getVolumes(0).getTargetNode();
        String victim = nodes.stream().filter(n -> !n.equals(nexusNode)).findFirst().orElseThrow();
        long before = guest.file("committed").lines().count();
        log("kill -9 " + victim + " (the nexus is on " + nexusNode + ") after " + before + " committed rows");
        cluster.killNode(victim);
        awaitCommitted((int) before + 5, "rows after the kill");
        Files.writeString(guest.share.resolve("stop-inserts"), "");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (!guest.file("inserts-done").contains("done")) {
            assertTrue(System.nanoTime() < deadline, "the inserts did not stop");
            Thread.sleep(500);
        }
        List<String> committed = guest.file("committed").lines().toList();
        log(committed.size() + " rows committed, " + (committed.size() - before) + " after the kill");
        assertEquals("", guest.file("insert-errors").strip(), "no insert failed while the node was dead");
        assertTrue(committed.size() > before, "inserts went on after the kill");
        guest.ok("mariadb-admin -S /tmp/my.sock shutdown", 120);

        // detached and attached again, as when the pod moves: every committed row is there
        unmountFromPod(volumeId, staging, target);
        ControllerGrpc.newBlockingStub(controllerChannel).withDeadlineAfter(120, TimeUnit.SECONDS).controllerUnpublishVolume(
                ControllerUnpublishVolumeRequest.newBuilder().setVolumeId(volumeId).setNodeId("guest").build());
        kube.storage().v1().volumeAttachments().withName("csi-" + pv.getMetadata().getName()).delete();
        cluster.node(victim, null); // with its publish address, as it ran before
        uri = attach(pv);
        mountInPod(volumeId, uri, fs, staging, target);
        startMariadb(datadir);
        // every row whose commit the client saw is there (one more may have committed as the inserts stopped)
        int k = committed.size();
        assertEquals(String.valueOf(k), sql("select count(*) from guide.t where id <= " + k));
        assertTrue(Integer.parseInt(sql("select count(*) from guide.t")) <= k + 1);
        guest.ok("mariadb-admin -S /tmp/my.sock shutdown", 120);
        unmountFromPod(volumeId, staging, target);
        cluster.awaitVolume(volumeId, v -> v.getState().equals("healthy"), 120, "the volume repaired once its node is back");
    }

    /**
     * HA switch-over (issue 17): a file system on a 3-replica nvmf volume under a verifying write
     * load in the guest (each file written with O_SYNC semantics — dd conv=fsync — and its checksum
     * recorded only once that returned); the node of the volume's nexus SIGKILLed. The control plane
     * waits the switch-over grace (10 s, the default), makes the nexus again on a node that holds a
     * replica the nexus record in NATS calls in sync, under the same NQN; the CSI node in the guest
     * follows it (a second path to the kernel's multipath head, the dead one dropped). No write
     * fails, the load resumes; the old node, started again, serves nothing (a connect to it is
     * refused) and its replica is rebuilt. {@code -Dmayastor.ha.runs=N} repeats the kill N times
     * (the README's numbers); every acknowledged file is checked after each run (caches dropped) and
     * again after the volume is detached and attached afresh.
     */
    @org.junit.jupiter.api.Test
    void aVolumeOutlivesItsNexussNodeWithNoErrorReachingTheApplication() throws Exception {
        String multipath = guest.ok("cat /sys/module/nvme_core/parameters/multipath", 30).strip();
        assertEquals("Y", multipath, "the guest kernel's native NVMe multipath is on");
        PersistentVolumeClaim pvc;
        try (InputStream in = Files.newInputStream(Path.of("..", "deploy", "pvc.yaml"))) {
            pvc = (PersistentVolumeClaim) kube.load(in).items().get(0);
        }
        pvc.getMetadata().setName("ha-claim");
        pvc.getSpec().setStorageClassName("mayastor-nvmf");
        pvc = kube.persistentVolumeClaims().inNamespace("default").resource(pvc).create();
        PersistentVolume pv = provision(pvc);
        String volumeId = pv.getSpec().getCsi().getVolumeHandle();
        String fs = pv.getSpec().getCsi().getFsType();
        String uri = attach(pv);
        String staging = "/tmp/kubelet/staging/ha";
        String target = "/tmp/kubelet/pods/writer/volumes/data";
        mountInPod(volumeId, uri, fs, staging, target);
        String nqn = uri.substring(uri.lastIndexOf('/') + 1, uri.indexOf('?') < 0 ? uri.length() : uri.indexOf('?'));
        log("switch-over: " + volumeId + " at " + uri);

        // the application: files of 128 KiB, each acknowledged (checksum recorded) once dd's fsync returned
        guest.ok("rm -f /mnt/acked.sha /mnt/acked.times /mnt/write-errors /mnt/stop-writes /mnt/writes-done; touch /mnt/acked.sha "
                + "/mnt/acked.times /mnt/write-errors; (i=0; while [ ! -e /mnt/stop-writes ]; do i=$((i+1)); f=" + target + "/f$i;"
                // dd's errors go to the guest's RAM first: the 9p share is for the report, not on the write's path
                + " if dd if=/dev/urandom of=$f bs=64k count=2 conv=fsync status=none 2>/tmp/dd.err;"
                + " then date +%s.%N >> /mnt/acked.times; sha256sum $f >> /mnt/acked.sha;"
                + " else echo \"failed $i (status $?): $(cat /tmp/dd.err)\" >> /mnt/write-errors; fi;"
                + " done; echo done > /mnt/writes-done) > /dev/null 2>&1 &", 30);
        awaitAcked(10, "files before the first kill");
        int runs = Integer.getInteger("mayastor.ha.runs", 1);
        List<Double> resumed = new java.util.ArrayList<>();
        for (int run = 1; run <= runs; run++) {
            io.mayastorj.api.v1.Volume v = cluster.volumes().listVolumes(io.mayastorj.api.v1.ListVolumesRequest.newBuilder()
                    .setName(volumeId).build()).getVolumes(0);
            String victim = v.getTargetNode();
            String oldUri = v.getDeviceUri();
            long before = guest.file("acked.times").lines().count();
            log("run " + run + ": kill -9 " + victim + " (the nexus's node, serving " + oldUri + ") after " + before + " files");
            cluster.killNode(victim);
            io.mayastorj.api.v1.Volume moved = cluster.awaitVolume(volumeId, x -> !x.getTargetNode().equals(victim)
                    && !x.getDeviceUri().isEmpty() && !x.getDeviceUri().equals(oldUri), 120, "the nexus made again on another node");
            log("run " + run + ": the nexus is on " + moved.getTargetNode() + " now: " + moved.getDeviceUri());
            assertEquals(nqn, moved.getDeviceUri().substring(moved.getDeviceUri().lastIndexOf('/') + 1,
                    moved.getDeviceUri().indexOf('?') < 0 ? moved.getDeviceUri().length() : moved.getDeviceUri().indexOf('?')),
                    "the same NQN");
            awaitAcked((int) before + 10, "files after the kill");
            assertEquals("", guest.file("write-errors").strip(), "no write failed");
            double gap = longestGap(guest.file("acked.times"), (int) before);
            resumed.add(gap);
            log(String.format(java.util.Locale.ROOT, "run %d: writes stalled %.1f s (longest gap between two acknowledged files)",
                    run, gap));
            String condition = awaitOnlyPath(volumeId, target, moved.getDeviceUri()); // the dead path dropped
            log("run " + run + ": " + condition + "; " + guest.ok("nvme list-subsys 2>&1 | grep -A4 " + nqn + " | tr -s ' '", 30)
                    .replace('\n', ' '));

            // the old node returns: no nexus there, and the old path is refused
            cluster.node(victim, null); // with its publish address, as it ran before
            assertTrue(cluster.nexuses(victim).listNexus(io.mayastorj.api.v1.ListNexusOptions.getDefaultInstance())
                    .getNexusListList().stream().noneMatch(n -> n.getUuid().equals(moved.getUuid())), "no nexus of the volume on " + victim);
            String oldPort = oldUri.replaceFirst("^nvmf://[^:]+:(\\d+)/.*$", "$1");
            GuestSession.Result old = guest.exec("nvme connect -t tcp -a 10.0.2.2 -s " + oldPort + " -n " + nqn
                    + " --hostnqn nqn.2019-05.io.openebs:node-name:guest --ctrl-loss-tmo 1", 60);
            assertTrue(old.status() != 0, "a connect through the old path is refused: " + old.output());
            log("run " + run + ": through the old path: " + old.output().strip());
            guest.ok("sync; echo 3 > /proc/sys/vm/drop_caches; cd / && sha256sum --quiet -c /mnt/acked.sha", 600);
            cluster.awaitVolume(volumeId, x -> x.getState().equals("healthy"), 300, "the volume repaired: "
                    + victim + "'s replica rebuilt");
        }

        // a planned move (a node drained): the old nexus reports ANA change and shuts down cleanly,
        // the new one trusts every replica (nothing rebuilt), the guest follows
        io.mayastorj.api.v1.Volume here = cluster.volumes().listVolumes(io.mayastorj.api.v1.ListVolumesRequest.newBuilder()
                .setName(volumeId).build()).getVolumes(0);
        String from = here.getTargetNode();
        String to = nodes.stream().filter(n -> !n.equals(from)).findFirst().orElseThrow();
        long beforeMove = guest.file("acked.times").lines().count();
        io.mayastorj.api.v1.Volume there = cluster.volumes().moveVolume(io.mayastorj.api.v1.MoveVolumeRequest.newBuilder()
                .setName(volumeId).setTargetNode(to).build());
        assertEquals(to, there.getTargetNode());
        awaitAcked((int) beforeMove + 10, "files after the planned move");
        assertEquals("", guest.file("write-errors").strip(), "no write failed");
        log(String.format(java.util.Locale.ROOT, "planned move %s -> %s: writes stalled %.1f s", from, to,
                longestGap(guest.file("acked.times"), (int) beforeMove)));
        // where the stall went: the guest's clock around the gap, and the path follower's steps on it
        log("planned move, the longest gap (guest clock): " + gapAt(guest.file("acked.times"), (int) beforeMove)
                + "\n" + guest.file("csi-node.log").lines().filter(l -> l.contains(nqn) || l.contains(volumeId))
                        .filter(l -> l.contains("follow") || l.contains("path")).reduce((a, b) -> a + "\n" + b).orElse(""));
        assertTrue(cluster.nodes.get(from).output().contains("ANA state CHANGE"), "the old nexus reported the path changing");
        io.mayastorj.api.v1.Nexus moved = cluster.nexuses(to).listNexus(io.mayastorj.api.v1.ListNexusOptions.getDefaultInstance())
                .getNexusListList().stream().filter(n -> n.getUuid().equals(there.getUuid())).findFirst().orElseThrow();
        assertTrue(moved.getChildrenList().stream().allMatch(c -> c.getState() == io.mayastorj.api.v1.ChildState.CHILD_ONLINE
                && !c.hasRebuild()), "a clean handover: every replica in sync, none rebuilt: " + moved.getChildrenList());
        awaitOnlyPath(volumeId, target, there.getDeviceUri());

        Files.writeString(guest.share.resolve("stop-writes"), "");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (!guest.file("writes-done").contains("done")) {
            assertTrue(System.nanoTime() < deadline, "the writes did not stop");
            Thread.sleep(500);
        }
        assertEquals("", guest.file("write-errors").strip(), "no write failed");
        long files = guest.file("acked.sha").lines().count();
        java.util.Collections.sort(resumed);
        log(String.format(java.util.Locale.ROOT, "%d run(s): writes stalled p50 %.1f s, worst %.1f s; %d files acknowledged", runs,
                resumed.get((resumed.size() - 1) / 2), resumed.get(resumed.size() - 1), files));

        // detached and attached afresh: every acknowledged file, read from the replicas
        unmountFromPod(volumeId, staging, target);
        ControllerGrpc.newBlockingStub(controllerChannel).withDeadlineAfter(120, TimeUnit.SECONDS).controllerUnpublishVolume(
                ControllerUnpublishVolumeRequest.newBuilder().setVolumeId(volumeId).setNodeId("guest").build());
        kube.storage().v1().volumeAttachments().withName("csi-" + pv.getMetadata().getName()).delete();
        mountInPod(volumeId, attach(pv), fs, staging, target);
        guest.ok("cd / && sha256sum --quiet -c /mnt/acked.sha", 600);
        unmountFromPod(volumeId, staging, target);
    }

    /** NodeGetVolumeStats until the volume's one path is the address of {@code uri}, live and optimized; its message. */
    private String awaitOnlyPath(String volumeId, String volumePath, String uri) throws Exception {
        String port = uri.replaceFirst("^nvmf://[^:]+:(\\d+)/.*$", "$1");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            String condition = node().nodeGetVolumeStats(io.mayastorj.csi.v1.NodeGetVolumeStatsRequest.newBuilder()
                    .setVolumeId(volumeId).setVolumePath(volumePath).build()).getVolumeCondition().getMessage();
            if (condition.equals("paths: 10.0.2.2:" + port + " live optimized")) {
                return condition;
            }
            assertTrue(System.nanoTime() < deadline, "NodeGetVolumeStats: " + condition);
            Thread.sleep(500);
        }
    }

    private void awaitAcked(int files, String what) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
        while (guest.file("acked.times").lines().count() < files) {
            assertTrue(System.nanoTime() < deadline, what + ": " + guest.file("acked.times").lines().count() + " of " + files
                    + "; errors: " + guest.file("write-errors"));
            String errors = guest.file("write-errors").strip();
            if (!errors.isEmpty()) { // what the guest kernel and the CSI node saw, for the report
                List<String> csiNode = guest.file("csi-node.log").lines().toList();
                throw new AssertionError(what + ": a write failed: " + errors + "\n---- guest kernel ----\n"
                        + guest.exec("dmesg | tail -60", 60).output() + "---- csi-node ----\n"
                        + String.join("\n", csiNode.subList(Math.max(0, csiNode.size() - 40), csiNode.size())));
            }
            Thread.sleep(250);
        }
    }

    /** Where the longest gap from line {@code from} on lies: its two acknowledgements, in the guest's local time. */
    private static String gapAt(String times, int from) {
        List<Double> t = times.lines().map(Double::parseDouble).toList();
        int at = Math.max(1, from);
        for (int i = at; i < t.size(); i++) {
            at = t.get(i) - t.get(i - 1) > t.get(at) - t.get(at - 1) ? i : at;
        }
        java.time.format.DateTimeFormatter f = java.time.format.DateTimeFormatter.ofPattern("HH:mm:ss.SSS");
        java.util.function.DoubleFunction<String> local = x -> f.format(java.time.LocalDateTime.ofInstant(
                java.time.Instant.ofEpochMilli((long) (x * 1000)), java.time.ZoneOffset.UTC));
        return at < t.size() ? local.apply(t.get(at - 1)) + " .. " + local.apply(t.get(at)) : "none";
    }

    /** The longest time between two acknowledged files from line {@code from} on: the stall, and an upper bound of it. */
    private static double longestGap(String times, int from) {
        List<Double> t = times.lines().map(Double::parseDouble).toList();
        double gap = 0;
        for (int i = Math.max(1, from); i < t.size(); i++) {
            gap = Math.max(gap, t.get(i) - t.get(i - 1));
        }
        return gap;
    }
}
