package io.mayastorj.itests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.mayastorj.api.v1.ApplyRequest;
import io.mayastorj.csi.CsiEndpoint;
import io.mayastorj.csi.v1.CapacityRange;
import io.mayastorj.csi.v1.ControllerExpandVolumeRequest;
import io.mayastorj.csi.v1.ControllerExpandVolumeResponse;
import io.mayastorj.csi.v1.ControllerGrpc;
import io.mayastorj.csi.v1.ControllerPublishVolumeRequest;
import io.mayastorj.csi.v1.ControllerUnpublishVolumeRequest;
import io.mayastorj.csi.v1.CreateVolumeRequest;
import io.mayastorj.csi.v1.DeleteVolumeRequest;
import io.mayastorj.csi.v1.IdentityGrpc;
import io.mayastorj.csi.v1.NodeExpandVolumeRequest;
import io.mayastorj.csi.v1.NodeGetVolumeStatsRequest;
import io.mayastorj.csi.v1.NodeGetVolumeStatsResponse;
import io.mayastorj.csi.v1.NodeGrpc;
import io.mayastorj.csi.v1.NodePublishVolumeRequest;
import io.mayastorj.csi.v1.NodeStageVolumeRequest;
import io.mayastorj.csi.v1.NodeUnpublishVolumeRequest;
import io.mayastorj.csi.v1.NodeUnstageVolumeRequest;
import io.mayastorj.csi.v1.ProbeRequest;
import io.mayastorj.csi.v1.VolumeCapability;
import io.mayastorj.csi.v1.VolumeUsage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.api.parallel.ResourceLock;

/**
 * The CSI driver on a real Linux node: the control plane and three storage nodes run here (on
 * 127.0.0.1, their published volumes advertised as 10.0.2.2, which is this machine seen from the
 * guest), `mayastor csi-node` runs in the QEMU guest with this machine's userspace on the guest's
 * kernel, where NodeStage really connects over NVMe/TCP or iSCSI, formats and mounts. This test
 * plays the external-provisioner and attacher (Controller calls over TCP) and the kubelet (Node
 * calls, through a port forwarded into the guest), and looks at the guest's files, mounts and
 * devices through a small agent. csi-sanity, the suite every CSI driver runs, runs in the guest
 * against the node plugin's Unix socket and the controller here.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Execution(ExecutionMode.CONCURRENT) // beside the classes that need no guest: see junit-platform.properties
@ResourceLock(KernelGuest.LOCK)
class CsiGuestTest {

    private static final int GUEST_CSI_PORT = 10200;
    private static final long MIB = 1L << 20;
    /** How long csi-node waits for a device (csi-guest.sh): a real one appears within seconds. */
    private static final int DEVICE_TIMEOUT_SECONDS = 20;
    private ControlCluster cluster;

    /** A failed test shows the end of every node's output (it lives only in this JVM's memory). */
    @org.junit.jupiter.api.extension.RegisterExtension
    final org.junit.jupiter.api.extension.TestWatcher nodeOutputOnFailure = new org.junit.jupiter.api.extension.TestWatcher() {
        @Override
        public void testFailed(org.junit.jupiter.api.extension.ExtensionContext context, Throwable cause) {
            if (cluster != null) {
                System.out.println("CsiGuestTest: " + context.getDisplayName() + " failed; the nodes:" + cluster.nodeTails());
            }
        }
    };
    private GuestSession guest;
    private int csiPort;
    private ManagedChannel controllerChannel;
    private ManagedChannel nodeChannel;
    private ControllerGrpc.ControllerBlockingStub controller;
    private NodeGrpc.NodeBlockingStub node;
    private final List<String> nodes = List.of("s1", "s2", "s3");

    private static void log(String what) {
        System.out.println("CsiGuestTest: " + what);
    }

    @BeforeAll
    void start() throws Exception {
        KernelGuest.assumeAvailable();
        cluster = new ControlCluster("mayastor-csi", "127.0.0.1");
        csiPort = DistributionTest.freePort("127.0.0.1");
        cluster.startControl("--registration-interval-seconds", "1", "--sync-period-seconds", "2",
                "--csi-endpoint", "tcp://127.0.0.1:" + csiPort);
        // the guest boots (and its JVM starts, under emulation, on one vCPU) while the storage nodes start here
        int forwarded = DistributionTest.freePort("127.0.0.1");
        long started = System.nanoTime();
        Path share = Scratch.dir("mayastor-guest");
        guest = new GuestSession("csi-guest.sh", Map.of(
                "VM_HOSTFWD", "tcp:127.0.0.1:" + forwarded + "-:" + GUEST_CSI_PORT,
                "GUEST_MAYASTOR", guestVisible(Mayastor.DIST, share).resolve("bin/mayastor").toString(),
                "GUEST_NODE_ID", "guest",
                "GUEST_CSI_PORT", String.valueOf(GUEST_CSI_PORT),
                "GUEST_DEVICE_TIMEOUT", String.valueOf(DEVICE_TIMEOUT_SECONDS),
                "GUEST_CONTROL", "10.0.2.2:" + cluster.control.substring(cluster.control.indexOf(':') + 1)), share);
        StringBuilder pools = new StringBuilder();
        for (String id : nodes) {
            cluster.node(id, "127.0.0.1", "--publish-address", "10.0.2.2");
            cluster.disk(id, 4L << 30);
            pools.append(cluster.poolManifest(id)).append("---\n");
        }
        cluster.resources().apply(ApplyRequest.newBuilder().setManifest(pools.toString()).build());
        cluster.awaitTable("msp", t -> ControlCluster.countLines(t, " online ") == 3, 60, "three pools online");
        guest.awaitFile("agent", 120);
        guest.awaitNodeReady("guest", 0);
        log(String.format("guest up and csi-node ready in %.1f s", (System.nanoTime() - started) / 1e9));
        controllerChannel = CsiEndpoint.parse("tcp://127.0.0.1:" + csiPort).channel();
        nodeChannel = CsiEndpoint.parse("tcp://127.0.0.1:" + forwarded).channel();
        controller = ControllerGrpc.newBlockingStub(controllerChannel);
        node = NodeGrpc.newBlockingStub(nodeChannel);
        assertTrue(IdentityGrpc.newBlockingStub(nodeChannel).withDeadlineAfter(30, TimeUnit.SECONDS)
                .probe(ProbeRequest.getDefaultInstance()).getReady().getValue());
        cluster.awaitTable("msn", t -> ControlCluster.countLines(t, " online ") == 3, 10, "three storage nodes");
    }

    /**
     * The distribution's path as the guest's hostrun sees it. The guest has RAM of its own over this
     * machine's /tmp, /run and /var/tmp, so a build there (a clone in /tmp) is copied into the
     * shared directory, which hostrun sees at /mnt.
     */
    static Path guestVisible(Path dist, Path share) throws IOException {
        Path real = dist.toRealPath();
        for (String hidden : List.of("/tmp/", "/run/", "/var/tmp/")) {
            if (real.toString().startsWith(hidden)) {
                try (var files = Files.walk(real)) {
                    for (Path f : files.toList()) {
                        Path to = share.resolve("mayastor").resolve(real.relativize(f).toString());
                        if (Files.isDirectory(f)) {
                            Files.createDirectories(to);
                        } else {
                            Files.copy(f, to, java.nio.file.StandardCopyOption.COPY_ATTRIBUTES);
                        }
                    }
                }
                return Path.of("/mnt/mayastor");
            }
        }
        return real;
    }

    @AfterAll
    void stop() throws Exception {
        if (guest != null) {
            log("csi-node's log:\n" + guest.file("csi-node.log"));
            guest.close();
        }
        if (controllerChannel != null) {
            controllerChannel.shutdownNow();
            nodeChannel.shutdownNow();
        }
        if (cluster != null) {
            cluster.close();
        }
    }

    private ControllerGrpc.ControllerBlockingStub controller() {
        return controller.withDeadlineAfter(120, TimeUnit.SECONDS);
    }

    private NodeGrpc.NodeBlockingStub node() {
        return node.withDeadlineAfter(180, TimeUnit.SECONDS);
    }

    private static VolumeCapability mount(String fs) {
        return VolumeCapability.newBuilder().setMount(VolumeCapability.MountVolume.newBuilder().setFsType(fs))
                .setAccessMode(VolumeCapability.AccessMode.newBuilder().setMode(VolumeCapability.AccessMode.Mode.SINGLE_NODE_WRITER))
                .build();
    }

    private static VolumeCapability block() {
        return VolumeCapability.newBuilder().setBlock(VolumeCapability.BlockVolume.getDefaultInstance())
                .setAccessMode(VolumeCapability.AccessMode.newBuilder().setMode(VolumeCapability.AccessMode.Mode.SINGLE_NODE_WRITER))
                .build();
    }

    /** CreateVolume and ControllerPublishVolume to the guest, as the provisioner and the attacher do: the uri. */
    private String createAndPublish(String name, String protocol, long bytes, VolumeCapability capability) {
        String id = controller().createVolume(CreateVolumeRequest.newBuilder().setName(name).addVolumeCapabilities(capability)
                .setCapacityRange(CapacityRange.newBuilder().setRequiredBytes(bytes))
                .putAllParameters(Map.of("repl", "3", "protocol", protocol, "thin", "true", "ioTimeout", "30")).build())
                .getVolume().getVolumeId();
        assertEquals(name, id);
        String uri = controller().controllerPublishVolume(ControllerPublishVolumeRequest.newBuilder().setVolumeId(id)
                .setNodeId("guest").setVolumeCapability(capability).build()).getPublishContextMap().get("uri");
        log(name + " published to the guest at " + uri);
        assertTrue(uri.startsWith(protocol + "://10.0.2.2:"), uri);
        return uri;
    }

    private void stage(String id, String uri, String staging, VolumeCapability capability) {
        node().nodeStageVolume(NodeStageVolumeRequest.newBuilder().setVolumeId(id).setStagingTargetPath(staging)
                .putPublishContext("uri", uri).setVolumeCapability(capability).build());
    }

    private void publish(String id, String staging, String target, VolumeCapability capability) {
        node().nodePublishVolume(NodePublishVolumeRequest.newBuilder().setVolumeId(id).setStagingTargetPath(staging)
                .setTargetPath(target).setVolumeCapability(capability).build());
    }

    private void unpublishAndUnstage(String id, String staging, String target) {
        node().nodeUnpublishVolume(NodeUnpublishVolumeRequest.newBuilder().setVolumeId(id).setTargetPath(target).build());
        node().nodeUnstageVolume(NodeUnstageVolumeRequest.newBuilder().setVolumeId(id).setStagingTargetPath(staging).build());
    }

    private void delete(String id) {
        controller().controllerUnpublishVolume(ControllerUnpublishVolumeRequest.newBuilder().setVolumeId(id)
                .setNodeId("guest").build());
        controller().deleteVolume(DeleteVolumeRequest.newBuilder().setVolumeId(id).build());
    }

    /** The guest's NVMe controllers and iSCSI sessions: what is attached. */
    private String attached() throws Exception {
        return guest.ok("cat /sys/class/nvme/*/subsysnqn 2>/dev/null; cat /sys/class/iscsi_session/*/targetname 2>/dev/null; true", 30);
    }

    @Test
    @Order(1)
    void csiSanityPassesAgainstTheNodePluginInTheGuestAndTheControllerHere() throws Exception {
        // scripts/test builds it (../shared/tools/csi-sanity/build.sh) and says where
        Path sanity = Path.of(System.getProperty("mayastor.csi-sanity", System.getProperty("user.home") + "/.cache/csi-sanity/csi-sanity"));
        assumeTrue(Files.isExecutable(sanity), "no csi-sanity at " + sanity + " (../shared/tools/csi-sanity/build.sh)");
        Files.writeString(guest.share.resolve("params.yaml"), "repl: \"3\"\nprotocol: nvmf\nthin: \"true\"\n");
        long start = System.nanoTime();
        // the whole report goes to the shared directory; the test reads its summary
        GuestSession.Result r = guest.exec("rm -rf /tmp/sanity && mkdir -p /tmp/sanity && " + sanity
                + " --csi.endpoint unix:///tmp/csi/csi.sock --csi.controllerendpoint 10.0.2.2:" + csiPort
                + " --csi.stagingdir /tmp/sanity/staging --csi.mountdir /tmp/sanity/target"
                + " --csi.testvolumeparameters /mnt/params.yaml --csi.testvolumesize " + (64 * MIB)
                + " --csi.junitfile /mnt/sanity.xml --ginkgo.v --ginkgo.no-color >/mnt/sanity.log 2>&1; rc=$?;"
                + " grep -E '^ *\\[FAIL\\]|^Ran |Passed \\|' /mnt/sanity.log | awk '!seen[$0]++';"
                + " echo 'skipped, by reason:'; grep -E '^ *\\[SKIPPED\\] ' /mnt/sanity.log | grep -v '] in \\[' | sort | uniq -c; exit $rc", 1800);
        log(String.format("csi-sanity ran in %.0f s", (System.nanoTime() - start) / 1e9));
        Matcher m = Pattern.compile("Ran (\\d+) of (\\d+) Specs.*\\n.*?(\\d+) Passed \\| (\\d+) Failed \\| (\\d+) Pending \\| (\\d+) Skipped")
                .matcher(r.output());
        assertTrue(m.find(), "no summary from csi-sanity:\n" + r.output() + "\n" + guest.file("sanity.log"));
        log(r.output().substring(r.output().indexOf("skipped, by reason:")).stripTrailing());
        log("csi-sanity: ran " + m.group(1) + " of " + m.group(2) + " specs: " + m.group(3) + " passed, " + m.group(4)
                + " failed, " + m.group(5) + " pending, " + m.group(6) + " skipped");
        assertEquals("0", m.group(4), r.output());
        assertEquals(0, r.status(), r.output());
        assertEquals("", attached().strip(), "csi-sanity left nothing attached in the guest");
    }

    @Test
    @Order(2)
    void anNvmfVolumeKeepsItsFilesThroughUnstagingAndStagingAgain() throws Exception {
        VolumeCapability ext4 = mount("ext4");
        String uri = createAndPublish("pvc-nvmf-ext4", "nvmf", 128 * MIB, ext4);
        String staging = "/tmp/kubelet/staging/pvc-nvmf-ext4";
        String target = "/tmp/kubelet/pods/p1/volumes/data";
        stage("pvc-nvmf-ext4", uri, staging, ext4);
        publish("pvc-nvmf-ext4", staging, target, ext4);
        // the kubelet retries: the same calls again change nothing
        stage("pvc-nvmf-ext4", uri, staging, ext4);
        publish("pvc-nvmf-ext4", staging, target, ext4);
        assertEquals("1\n1\n", guest.ok("grep -c ' " + staging + " ' /proc/self/mountinfo; grep -c ' " + target + " ' /proc/self/mountinfo", 30));
        assertEquals("ext4\n", guest.ok("findmnt -n -o FSTYPE " + target, 30));

        guest.ok("cd " + target + " && for i in 1 2 3 4; do dd if=/dev/urandom of=f$i bs=1M count=4 status=none; done"
                + " && sha256sum f1 f2 f3 f4 > /tmp/sums && sync", 120);
        NodeGetVolumeStatsResponse stats = node().nodeGetVolumeStats(NodeGetVolumeStatsRequest.newBuilder()
                .setVolumeId("pvc-nvmf-ext4").setVolumePath(target).build());
        String[] df = guest.ok("df -B1 --output=size,used,avail " + target + " | tail -1", 30).strip().split("\\s+");
        VolumeUsage bytes = stats.getUsage(0);
        assertEquals(VolumeUsage.Unit.BYTES, bytes.getUnit());
        assertEquals(Long.parseLong(df[0]), bytes.getTotal(), "total bytes as df says");
        assertEquals(Long.parseLong(df[1]), bytes.getUsed(), "used bytes as df says");
        assertEquals(Long.parseLong(df[2]), bytes.getAvailable(), "available bytes as df says");
        assertFalse(stats.getVolumeCondition().getAbnormal(), stats.getVolumeCondition().getMessage());

        unpublishAndUnstage("pvc-nvmf-ext4", staging, target);
        assertFalse(attached().contains("nqn.2019-05.io.openebs:"), "disconnected after unstage");
        assertEquals("gone\n", guest.ok("[ -e " + target + " ] && echo there || echo gone", 30));
        stage("pvc-nvmf-ext4", uri, staging, ext4);
        publish("pvc-nvmf-ext4", staging, target, ext4);
        guest.ok("cd " + target + " && sha256sum -c /tmp/sums", 60);
        unpublishAndUnstage("pvc-nvmf-ext4", staging, target);
        delete("pvc-nvmf-ext4");
    }

    @Test
    @Order(3)
    void anIscsiVolumeWithXfsDoesTheSame() throws Exception {
        VolumeCapability xfs = mount("xfs");
        String uri = createAndPublish("pvc-iscsi-xfs", "iscsi", 320 * MIB, xfs);
        String staging = "/tmp/kubelet/staging/pvc-iscsi-xfs";
        String target = "/tmp/kubelet/pods/p2/volumes/data";
        stage("pvc-iscsi-xfs", uri, staging, xfs);
        publish("pvc-iscsi-xfs", staging, target, xfs);
        stage("pvc-iscsi-xfs", uri, staging, xfs);
        publish("pvc-iscsi-xfs", staging, target, xfs);
        assertEquals("xfs\n", guest.ok("findmnt -n -o FSTYPE " + target, 30));
        // review finding: an iSCSI nexus admitted any initiator. It is shared to the guest's node name
        // only (the CSI node logs in through an interface that says it); the guest's own initiator
        // name, as any other host would log in, gets an authorization failure (iscsiadm's exit 24)
        String[] parts = uri.substring("iscsi://".length()).split("/");
        String as = "-T " + parts[1] + " -p " + parts[0] + " -I default";
        GuestSession.Result stranger = guest.exec("iscsiadm -m node -o new " + as + " >/dev/null; iscsiadm -m node " + as
                + " --login; rc=$?; iscsiadm -m node " + as + " -o delete; exit $rc", 60);
        assertEquals(24, stranger.status(), stranger.output());
        guest.ok("cd " + target + " && dd if=/dev/urandom of=data bs=1M count=16 status=none && sha256sum data > /tmp/xsums && sync", 120);
        unpublishAndUnstage("pvc-iscsi-xfs", staging, target);
        assertFalse(attached().contains("iqn."), "logged out after unstage");
        stage("pvc-iscsi-xfs", uri, staging, xfs);
        publish("pvc-iscsi-xfs", staging, target, xfs);
        guest.ok("cd " + target + " && sha256sum -c /tmp/xsums", 60);

        // it grows online: the target tells the kernel with a unit attention, NodeExpandVolume rescans, xfs grows
        String heard = "dmesg | grep -c 'Capacity data has changed' || true";
        long before = Long.parseLong(guest.ok(heard, 30).strip());
        assertEquals(480 * MIB, controller().controllerExpandVolume(ControllerExpandVolumeRequest.newBuilder()
                .setVolumeId("pvc-iscsi-xfs").setCapacityRange(CapacityRange.newBuilder().setRequiredBytes(480 * MIB))
                .setVolumeCapability(xfs).build()).getCapacityBytes());
        guest.ok("cd " + target + " && sha256sum -c /tmp/xsums", 60); // reads after the growth: the attention comes
        assertEquals(480 * MIB, node().nodeExpandVolume(NodeExpandVolumeRequest.newBuilder().setVolumeId("pvc-iscsi-xfs")
                .setVolumePath(target).setStagingTargetPath(staging).setCapacityRange(CapacityRange.newBuilder()
                        .setRequiredBytes(480 * MIB)).setVolumeCapability(xfs).build()).getCapacityBytes());
        assertTrue(Long.parseLong(guest.ok(heard, 30).strip()) > before, "the kernel logged the unit attention:\n"
                + guest.exec("dmesg | tail -20", 30).output());
        long size = Long.parseLong(guest.ok("df -B1 --output=size " + target + " | tail -1", 30).strip());
        assertTrue(size > 400 * MIB, "xfs grew: " + size);
        unpublishAndUnstage("pvc-iscsi-xfs", staging, target);
        delete("pvc-iscsi-xfs");
    }

    @Test
    @Order(4)
    void aRawBlockVolumeIsWrittenAndReadWithODirect() throws Exception {
        VolumeCapability raw = block();
        String uri = createAndPublish("pvc-block", "nvmf", 64 * MIB, raw);
        String staging = "/tmp/kubelet/staging/pvc-block";
        String target = "/tmp/kubelet/pods/p3/volumeDevices/dev";
        stage("pvc-block", uri, staging, raw);
        publish("pvc-block", staging, target, raw);
        guest.ok("head -c 8388608 /dev/urandom > /tmp/pattern && dd if=/tmp/pattern of=" + target
                + " bs=1M oflag=direct status=none && dd if=" + target + " of=/tmp/back bs=1M count=8 iflag=direct status=none"
                + " && cmp /tmp/pattern /tmp/back && echo same", 120);
        unpublishAndUnstage("pvc-block", staging, target);
        delete("pvc-block");
    }

    @Test
    @Order(5)
    void aVolumeGrowsOnlineAndDfShowsIt() throws Exception {
        VolumeCapability ext4 = mount("ext4");
        String uri = createAndPublish("pvc-grow", "nvmf", 64 * MIB, ext4);
        String staging = "/tmp/kubelet/staging/pvc-grow";
        String target = "/tmp/kubelet/pods/p4/volumes/data";
        stage("pvc-grow", uri, staging, ext4);
        publish("pvc-grow", staging, target, ext4);
        long before = Long.parseLong(guest.ok("df -B1 --output=size " + target + " | tail -1", 30).strip());
        ControllerExpandVolumeResponse grown = controller().controllerExpandVolume(ControllerExpandVolumeRequest.newBuilder()
                .setVolumeId("pvc-grow").setCapacityRange(CapacityRange.newBuilder().setRequiredBytes(160 * MIB))
                .setVolumeCapability(ext4).build());
        assertEquals(160 * MIB, grown.getCapacityBytes());
        assertTrue(grown.getNodeExpansionRequired());
        // the target noticed the change to the kernel host (a namespace attribute notice): its disk grew before
        // NodeExpandVolume asked it to rescan
        String disk = guest.ok("findmnt -n -o SOURCE " + staging, 30).strip();
        String sectors = "cat /sys/class/block/" + disk.substring(disk.lastIndexOf('/') + 1) + "/size";
        long noticed = System.nanoTime();
        while (Long.parseLong(guest.ok(sectors, 30).strip()) * 512 < 160 * MIB && System.nanoTime() - noticed < 20_000_000_000L) {
            Thread.sleep(200);
        }
        assertEquals(160 * MIB, Long.parseLong(guest.ok(sectors, 30).strip()) * 512, disk + " grew without a rescan");
        log(String.format("pvc-grow: the guest's %s grew %.1f s after the expand answered", disk, (System.nanoTime() - noticed) / 1e9));
        long size = node().nodeExpandVolume(NodeExpandVolumeRequest.newBuilder().setVolumeId("pvc-grow").setVolumePath(target)
                .setStagingTargetPath(staging).setCapacityRange(CapacityRange.newBuilder().setRequiredBytes(160 * MIB))
                .setVolumeCapability(ext4).build()).getCapacityBytes();
        assertEquals(160 * MIB, size);
        long after = Long.parseLong(guest.ok("df -B1 --output=size " + target + " | tail -1", 30).strip());
        log("pvc-grow: df says " + before + " bytes before, " + after + " after");
        assertTrue(after > before + 80 * MIB, before + " -> " + after);
        guest.ok("dd if=/dev/zero of=" + target + "/big bs=1M count=100 conv=fsync status=none", 120);
        unpublishAndUnstage("pvc-grow", staging, target);
        delete("pvc-grow");
    }

    @Test
    @Order(6)
    void badRequestsFailWithTheirReasonAndLeaveNothingAttached() throws Exception {
        VolumeCapability ext4 = mount("ext4");
        String staging = "/tmp/kubelet/staging/bad";
        // a volume nobody published: the connect is refused, nothing stays connected
        StatusRuntimeException unknown = assertThrows(StatusRuntimeException.class, () -> stage("pvc-nope",
                "nvmf://10.0.2.2:" + 1 + "/nqn.2019-05.io.openebs:00000000-0000-4000-8000-000000000000", staging, ext4));
        assertEquals(Status.Code.UNAVAILABLE, unknown.getStatus().getCode());
        assertTrue(unknown.getStatus().getDescription().startsWith("cannot connect to nvmf://10.0.2.2:1/"),
                unknown.getStatus().getDescription());
        node().nodeUnstageVolume(NodeUnstageVolumeRequest.newBuilder().setVolumeId("pvc-nope").setStagingTargetPath(staging).build());
        assertEquals("", attached().strip());

        String uri = createAndPublish("pvc-bad", "nvmf", 64 * MIB, ext4);
        // a device that never appears: the subsystem is there, but its namespace is not the volume the URI names
        String other = uri.replaceFirst("\\?uuid=.*$", "") + "?uuid=00000000-0000-4000-8000-0000000000ff";
        long waited = System.nanoTime();
        StatusRuntimeException never = assertThrows(StatusRuntimeException.class, () -> stage("pvc-bad", other, staging, ext4));
        log(String.format("a device that never appears: %s after %.0f s", never.getStatus().getCode(),
                (System.nanoTime() - waited) / 1e9));
        assertEquals(Status.Code.DEADLINE_EXCEEDED, never.getStatus().getCode());
        assertEquals("connected to " + other + ", but no block device of subsystem " + other.substring(other.lastIndexOf('/') + 1, other.indexOf('?')) + " appeared in "
                + DEVICE_TIMEOUT_SECONDS + " s", never.getStatus().getDescription());
        assertEquals("", attached().strip(), "the connection made for it is undone");
        StatusRuntimeException fs = assertThrows(StatusRuntimeException.class, () -> stage("pvc-bad", uri, staging, mount("ntfs")));
        assertEquals(Status.Code.INVALID_ARGUMENT, fs.getStatus().getCode());
        assertEquals("fsType 'ntfs' is not supported: ext4, xfs", fs.getStatus().getDescription());
        guest.ok("mkdir -p /tmp/kubelet/staging && echo x > /tmp/kubelet/staging/afile", 30);
        StatusRuntimeException file = assertThrows(StatusRuntimeException.class,
                () -> stage("pvc-bad", uri, "/tmp/kubelet/staging/afile", ext4));
        assertEquals(Status.Code.FAILED_PRECONDITION, file.getStatus().getCode());
        assertEquals("staging path /tmp/kubelet/staging/afile is not a directory", file.getStatus().getDescription());
        guest.ok("mkdir -p /tmp/kubelet/staging/busy && mount -t tmpfs other /tmp/kubelet/staging/busy", 30);
        StatusRuntimeException busy = assertThrows(StatusRuntimeException.class,
                () -> stage("pvc-bad", uri, "/tmp/kubelet/staging/busy", ext4));
        assertEquals(Status.Code.ALREADY_EXISTS, busy.getStatus().getCode());
        assertEquals("staging path /tmp/kubelet/staging/busy is in use: other is mounted there", busy.getStatus().getDescription());
        assertEquals("", attached().strip(), "no half-attached device");
        guest.ok("umount /tmp/kubelet/staging/busy", 30);
        delete("pvc-bad");
    }

    @Test
    @Order(7)
    void aStorageNodeKilledDuringWritesLeavesTheMountWorking() throws Exception {
        VolumeCapability ext4 = mount("ext4");
        String uri = createAndPublish("pvc-kill", "nvmf", 128 * MIB, ext4);
        String staging = "/tmp/kubelet/staging/pvc-kill";
        String target = "/tmp/kubelet/pods/p5/volumes/data";
        stage("pvc-kill", uri, staging, ext4);
        publish("pvc-kill", staging, target, ext4);
        String nexusNode = cluster.volumes().listVolumes(io.mayastorj.api.v1.ListVolumesRequest.newBuilder()
                .setName("pvc-kill").build()).getVolumes(0).getTargetNode();
        String victim = nodes.stream().filter(n -> !n.equals(nexusNode)).findFirst().orElseThrow();
        // a writer in the guest: 40 files of 1 MiB, each written, synced and checksummed
        guest.ok("cd " + target + " && (set -e; for i in $(seq 40); do dd if=/dev/urandom of=w$i bs=256k count=4 conv=fsync "
                + "status=none; sha256sum w$i >> /tmp/wsums; done; echo finished) > /mnt/writer.log 2>&1 &", 30);
        Thread.sleep(3000);
        log("kill -9 " + victim + " (the nexus is on " + nexusNode + ") while the guest writes");
        cluster.killNode(victim);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(300);
        while (!guest.file("writer.log").contains("finished")) {
            assertTrue(System.nanoTime() < deadline, "the writer did not finish: " + guest.file("writer.log"));
            assertTrue(guest.file("writer.log").isBlank(), "the writer failed: " + guest.file("writer.log"));
            Thread.sleep(1000);
        }
        guest.ok("cd " + target + " && sha256sum -c --quiet /tmp/wsums", 60);
        assertEquals("0\n", guest.ok("dmesg | grep -ci 'i/o error' || true", 30), "no I/O error in the guest");
        log("volume: " + cluster.volumes().listVolumes(io.mayastorj.api.v1.ListVolumesRequest.newBuilder()
                .setName("pvc-kill").build()).getVolumes(0).getState());
        unpublishAndUnstage("pvc-kill", staging, target);
        // Seen offline first: else "three online" below may still be the dead incarnation, not the new one
        // (a restarted node can take a moment longer: its pool's file is held until the dead one's I/O ends).
        cluster.awaitTable("msn", t -> ControlCluster.countLines(t, " online ") == 2, 60, victim + " seen offline");
        cluster.node(victim, null);
        delete("pvc-kill");
        // the cluster whole again for what follows
        cluster.awaitTable("msn", t -> ControlCluster.countLines(t, " online ") == 3, 30, "three storage nodes");
        cluster.awaitTable("msp", t -> ControlCluster.countLines(t, " online ") == 3, 60, "three pools online");
    }

    @Test
    @Order(8)
    void csiNodeKilledInTheMiddleOfNodeStageFinishesItWhenTheKubeletCallsAgain() throws Exception {
        VolumeCapability ext4 = mount("ext4");
        String uri = createAndPublish("pvc-stage-crash", "nvmf", 64 * MIB, ext4);
        String nqn = uri.substring(uri.lastIndexOf('/') + 1, uri.indexOf('?'));
        String staging = "/tmp/kubelet/staging/pvc-stage-crash";
        String target = "/tmp/kubelet/pods/p6/volumes/data";
        int logged = guest.file("csi-node.log").length();
        CompletableFuture<Object> first = CompletableFuture.supplyAsync(() -> {
            stage("pvc-stage-crash", uri, staging, ext4);
            return "staged";
        });
        // SIGKILL as soon as it has connected: between the connect and the mount (blkid, mkfs)
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!guest.file("csi-node.log").substring(logged).contains("connected to " + nqn)) {
            assertTrue(System.nanoTime() < deadline, "csi-node never connected:\n" + guest.file("csi-node.log").substring(logged));
            Thread.sleep(20);
        }
        Files.writeString(guest.share.resolve("kill-node"), "");
        Object outcome = first.handle((r, e) -> e != null ? e.getCause() : r).get(120, TimeUnit.SECONDS);
        // almost always the call dies with the process; should the kill land after the reply, what follows still holds
        log("NodeStage with csi-node killed: " + outcome + "; staging path mounted: "
                + guest.exec("findmnt -n " + staging, 30).output().contains(staging));
        assertTrue(outcome instanceof StatusRuntimeException || "staged".equals(outcome), String.valueOf(outcome));
        assertTrue(guest.file("csi-node.log").contains("csi-node killed"));
        assertEquals(nqn + "\n", attached(), "the connection the killed call made is still there");

        Files.writeString(guest.share.resolve("start-node"), "");
        log(String.format("csi-node started again in %.1f s", guest.awaitNodeReady("guest", logged)));
        // the kubelet calls again (and again, with a backoff, while the plugin cannot be reached: QEMU's
        // port forward accepts a connection before the guest's socket does): staged on the connection there
        deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (true) {
            try {
                node.withWaitForReady().withDeadlineAfter(180, TimeUnit.SECONDS).nodeStageVolume(NodeStageVolumeRequest.newBuilder()
                        .setVolumeId("pvc-stage-crash").setStagingTargetPath(staging).putPublishContext("uri", uri)
                        .setVolumeCapability(ext4).build());
                break;
            } catch (StatusRuntimeException e) {
                if (e.getStatus().getCode() != Status.Code.UNAVAILABLE || System.nanoTime() > deadline) {
                    throw e;
                }
                log("NodeStage again after " + e.getStatus());
                Thread.sleep(1000);
            }
        }
        assertEquals(nqn + "\n", attached(), "one connection, not two");
        assertEquals("ext4\n", guest.ok("findmnt -n -o FSTYPE " + staging, 30));
        publish("pvc-stage-crash", staging, target, ext4);
        guest.ok("echo survived > " + target + "/f && sync && cat " + target + "/f", 30);
        unpublishAndUnstage("pvc-stage-crash", staging, target);
        assertEquals("", attached().strip());
        delete("pvc-stage-crash");
    }
}
