package io.mayastorj.itests;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.mayastorj.api.v1.ApplyRequest;
import io.mayastorj.api.v1.BdevRpcGrpc;
import io.mayastorj.api.v1.CreateVolumeRequest;
import io.mayastorj.api.v1.ListNexusOptions;
import io.mayastorj.api.v1.ListReplicaOptions;
import io.mayastorj.api.v1.PublishVolumeRequest;
import io.mayastorj.api.v1.ReadBdevRequest;
import io.mayastorj.api.v1.RegisterRequest;
import io.mayastorj.api.v1.RegistrationGrpc;
import io.mayastorj.api.v1.Replica;
import io.mayastorj.api.v1.Volume;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.BlockingIo;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.internal.bdev.BdevRegistryImpl;
import io.mayastorj.core.internal.buffer.DmaBufferPool;
import io.mayastorj.core.internal.buffer.HugepageMode;
import io.mayastorj.core.internal.reactor.ReactorGroupImpl;
import io.mayastorj.nvmf.internal.host.NvmfBdevFactory;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Fencing a nexus whose node comes back after its volume moved (issue 17). The nexus's node is
 * frozen (SIGSTOP), not killed: its nexus, its connections and its memory survive, as after a
 * network partition or a long pause. The control plane, after the switch-over grace, makes the
 * volume's nexus on another node from the record in NATS; the application writes new data there.
 * Then the old node thaws (SIGCONT) and the application writes through the old path: refused — the
 * old nexus lost its replicas (their shares were taken from it) and its record (the new nexus
 * rewrote it), so it fences itself — and the new data is what every replica holds once the old
 * node's replica is rebuilt. The application host is this JVM's own NVMe/TCP host with the app
 * node's host NQN, one host per path (a node holds one bdev per uuid).
 */
class SwitchOverTest {

    private static final long SIZE = 64L << 20;
    private ControlCluster cluster;
    private String natsUrl;
    /** The NATS server of {@link #start}, or the cluster of {@link #startOnANatsCluster}, each server its own process. */
    private final java.util.List<io.mayastorj.nats.testing.NatsServerProcess> natsServers = new java.util.ArrayList<>();
    private ReactorGroupImpl reactors;
    private DmaBufferPool buffers;
    private final java.util.List<BdevRegistryImpl> hosts = new java.util.ArrayList<>();

    private static void log(String what) {
        System.out.println("SwitchOverTest: " + what);
    }

    @AfterEach
    void stop() throws Exception {
        for (BdevRegistryImpl h : hosts) {
            h.list().forEach(b -> h.destroy(b.device().name()));
        }
        if (cluster != null) {
            cluster.close(); // thaws a frozen node first
        }
        for (io.mayastorj.nats.testing.NatsServerProcess n : natsServers) {
            n.close();
        }
        if (reactors != null) {
            reactors.stop();
        }
    }

    /** The application's host, as node "app" (its host NQN), opening one path. */
    private BlockDevice open(String uri) {
        return open(uri, "app");
    }

    /** A host with node NODE's host NQN opening one path. */
    private BlockDevice open(String uri, String node) {
        BdevRegistryImpl registry = new BdevRegistryImpl();
        registry.addFactory(NvmfBdevFactory.of(reactors.reactors(), buffers, NvmfBdevFactory.hostNqn(node),
                TimeUnit.SECONDS.toNanos(5)));
        hosts.add(registry);
        return registry.create(uri);
    }

    private IoStatus write(BlockDevice d, byte fill) throws Exception {
        DmaBuffer b = buffers.allocate(4096);
        try {
            for (int i = 0; i < 4096; i++) {
                b.bytes().put(i, fill);
            }
            IoStatus s = BlockingIo.write(d, b, 0, 0, 4096 / d.blockSize(), Duration.ofSeconds(30));
            return s.isSuccess() ? BlockingIo.flush(d, Duration.ofSeconds(30)) : s;
        } finally {
            b.release();
        }
    }

    private byte[] read(BlockDevice d) throws Exception {
        DmaBuffer b = buffers.allocate(4096);
        try {
            assertEquals(IoStatus.SUCCESS, BlockingIo.read(d, b, 0, 0, 4096 / d.blockSize(), Duration.ofSeconds(30)));
            byte[] data = new byte[4096];
            b.bytes().get(0, data);
            return data;
        } finally {
            b.release();
        }
    }

    private static byte[] filled(byte fill) {
        byte[] data = new byte[4096];
        Arrays.fill(data, fill);
        return data;
    }

    /**
     * A control plane over NATS (the nexus records) with storage nodes {@code ids} on 127.0.0.FIRST and
     * up, a pool each, the application's node "app" registered, and {@code settings} after the common
     * ones (a 1 s heartbeat, 2 s node calls, a 3 s switch-over grace).
     */
    private void start(String name, int first, String[] ids, String... settings) throws Exception {
        assumeTrue(io.mayastorj.nats.testing.NatsServerProcess.installed(), "nats-server is not installed");
        cluster = new ControlCluster(name);
        io.mayastorj.nats.testing.NatsServerProcess nats = new io.mayastorj.nats.testing.NatsServerProcess(cluster.work);
        natsServers.add(nats);
        startOn(nats.start().url(), first, ids, new String[0], settings);
    }

    /** As {@link #start}, on a cluster of three NATS servers that keep the nexus records on all three (the deployment's). */
    private void startOnANatsCluster(String name, int first, String[] ids, String... settings) throws Exception {
        assumeTrue(io.mayastorj.nats.testing.NatsServerProcess.installed(), "nats-server is not installed");
        cluster = new ControlCluster(name);
        natsServers.addAll(io.mayastorj.nats.testing.NatsServerProcess.cluster(cluster.work.resolve("nats"), 3));
        for (io.mayastorj.nats.testing.NatsServerProcess n : natsServers) {
            n.start();
        }
        startOn(String.join(",", natsServers.stream().map(io.mayastorj.nats.testing.NatsServerProcess::url).toList()), first,
                ids, new String[] {"--nats-replicas", "3"}, settings);
    }

    private void startOn(String natsUrl, int first, String[] ids, String[] nodeSettings, String... settings) throws Exception {
        this.natsUrl = natsUrl;
        java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("--nats", natsUrl,
                "--registration-interval-seconds", "1",
                // a 3 s grace is raised to 5 s (1 s heartbeat, the 3 s a nexus trusts its last look, 1 s): see
                // VolumeOperator.switchoverGrace; shorter, the thawed nexus could serve a read before it looks again
                "--node-call-timeout-seconds", "2", "--switchover-grace-seconds", "3"));
        args.addAll(java.util.List.of(settings));
        cluster.startControl(args.toArray(String[]::new));
        cluster.registerOverNats(natsUrl);
        StringBuilder pools = new StringBuilder();
        for (int i = 0; i < ids.length; i++) {
            cluster.node(ids[i], "127.0.0." + (first + i), nodeSettings);
            pools.append(cluster.poolManifest(ids[i])).append("---\n");
        }
        cluster.resources().apply(ApplyRequest.newBuilder().setManifest(pools.toString()).build());
        cluster.awaitTable("msp", t -> ControlCluster.countLines(t, " online ") == ids.length, 30, ids.length + " pools online");
        // the application's node, as the CSI node registers it
        RegistrationGrpc.newBlockingStub(cluster.channel(cluster.control)).withDeadlineAfter(30, TimeUnit.SECONDS)
                .register(RegisterRequest.newBuilder().setId("app").setGrpcEndpoint("127.0.0.49:10124").setApplicationOnly(true)
                        .build());
        reactors = new ReactorGroupImpl(1);
        buffers = new DmaBufferPool(16L << 20, HugepageMode.OFF);
    }

    /**
     * Review finding: a nexus destroyed while idle faults, in its last record, a child whose device
     * reconnected since it was opened (its node restarted and lost what it had not flushed) — but no
     * child state the control plane read showed it, so the status kept that replica in sync: a later
     * placement could keep it as the source and give up the replica with the data. The record the
     * destroyed nexus left is read, and what it leaves out is marked behind.
     */
    @Test
    void aReplicaTheLastRecordLeavesOutIsMarkedBehindAfterAnUnpublish() throws Exception {
        String[] ids = {"u1", "u2"};
        start("mayastor-switchover-unpublish", 45, ids, "--sync-period-seconds", "600");
        cluster.volumes().createVolume(CreateVolumeRequest.newBuilder().setName("ru").setSize(SIZE).setReplicaCount(2)
                .setThin(true).build());
        cluster.awaitVolume("ru", x -> x.getState().equals("healthy"), 30, "two replicas");
        Volume v = cluster.volumes().publishVolume(PublishVolumeRequest.newBuilder().setName("ru").setNode("app").build());
        String other = v.getTargetNode().equals("u1") ? "u2" : "u1";
        BlockDevice path = open(v.getDeviceUri());
        assertEquals(IoStatus.SUCCESS, write(path, (byte) 'A'));
        // the other node restarts while the nexus is idle: its child's device reconnects by itself
        cluster.killNode(other);
        cluster.node(other, null);
        Thread.sleep(3000);
        cluster.volumes().unpublishVolume(io.mayastorj.api.v1.UnpublishVolumeRequest.newBuilder().setName("ru").build());
        String status = cluster.resources().get(io.mayastorj.api.v1.GetRequest.newBuilder().setKind("msv").setName("ru")
                .setOutput("yaml").build()).getText();
        String otherItem = java.util.Arrays.stream(status.split("\n\\s*- ")).filter(i -> i.matches("(?s).*\\bnode: \"?" + other
                + "\"?\n.*")).findFirst().orElse("");
        assertTrue(otherItem.contains("outOfSync: true"), other + "'s replica, left out of the last record, marked behind:\n"
                + status);

        try (io.nats.client.Connection c = io.nats.client.Nats.connect(natsUrl)) {
            io.nats.client.KeyValue bucket = c.keyValue("mayastor-nexus");
            // review finding: a record NATS lost (one server on an emptyDir, rescheduled with a node that held a
            // nexus) was taken for a new volume's: after a crash, children that differed both served. The control
            // plane sends the incarnation it has seen; the node takes "no record" for a lost one, not a new volume
            Volume again = cluster.volumes().publishVolume(PublishVolumeRequest.newBuilder().setName("ru").setNode("app").build());
            int seen = cluster.nexuses(again.getTargetNode()).listNexus(io.mayastorj.api.v1.ListNexusOptions.getDefaultInstance())
                    .getNexusList(0).getIncarnation();
            assertTrue(seen >= 2, "published twice: " + seen);
            cluster.volumes().unpublishVolume(io.mayastorj.api.v1.UnpublishVolumeRequest.newBuilder().setName("ru").build());
            bucket.purge(v.getUuid());
            Volume third = cluster.volumes().publishVolume(PublishVolumeRequest.newBuilder().setName("ru").setNode("app").build());
            assertEquals(seen + 1, cluster.nexuses(third.getTargetNode()).listNexus(io.mayastorj.api.v1.ListNexusOptions
                    .getDefaultInstance()).getNexusList(0).getIncarnation(), "above the incarnation seen, not 1 as for a new volume");
            assertTrue(cluster.nodeTails().contains("but incarnation " + seen + " of it was seen: the record was lost"),
                    cluster.nodeTails());
            cluster.volumes().unpublishVolume(io.mayastorj.api.v1.UnpublishVolumeRequest.newBuilder().setName("ru").build());

            // review finding: a deleted volume's record stayed in the bucket for good (one key per volume ever published)
            assertTrue(bucket.get(v.getUuid()) != null, "the unpublished volume's record stays: a later nexus reads it");
            cluster.volumes().destroyVolume(io.mayastorj.api.v1.DestroyVolumeRequest.newBuilder().setName("ru").build());
            for (int i = 0; i < 300 && cluster.volumes().listVolumes(io.mayastorj.api.v1.ListVolumesRequest.getDefaultInstance())
                    .getVolumesCount() > 0; i++) {
                Thread.sleep(100);
            }
            assertEquals(0, cluster.volumes().listVolumes(io.mayastorj.api.v1.ListVolumesRequest.getDefaultInstance())
                    .getVolumesCount(), "ru deleted");
            assertEquals(null, bucket.get(v.getUuid()), "the deleted volume's record is gone");
        }
    }

    @Test
    void aFrozenNexusNodeThatThawsAfterTheSwitchOverIsFencedAndItsReplicaRebuilt() throws Exception {
        String[] ids = {"s1", "s2", "s3"};
        start("mayastor-switchover", 41, ids, "--sync-period-seconds", "2");
        cluster.volumes().createVolume(CreateVolumeRequest.newBuilder().setName("db").setSize(SIZE).setReplicaCount(3)
                .setThin(true).build());
        cluster.awaitVolume("db", x -> x.getState().equals("healthy"), 30, "three replicas");
        Volume v = cluster.volumes().publishVolume(PublishVolumeRequest.newBuilder().setName("db").setNode("app").build());
        String oldUri = v.getDeviceUri();
        String frozen = v.getTargetNode();
        BlockDevice oldPath = open(oldUri);
        assertEquals(IoStatus.SUCCESS, write(oldPath, (byte) 'A'));
        log("volume db published on " + frozen + " at " + oldUri + "; A written");

        cluster.freeze(frozen);
        long stopped = System.nanoTime();
        Volume moved = cluster.awaitVolume("db", x -> !x.getTargetNode().equals(frozen) && !x.getDeviceUri().isEmpty()
                && !x.getDeviceUri().equals(oldUri), 60,
                "the nexus made again on another node");
        log(String.format("%s frozen; %.1f s later the nexus is on %s: %s", frozen, (System.nanoTime() - stopped) / 1e9,
                moved.getTargetNode(), moved.getDeviceUri()));
        BlockDevice newPath = open(moved.getDeviceUri());
        assertArrayEquals(filled((byte) 'A'), read(newPath), "what was acknowledged before the freeze is there");
        assertEquals(IoStatus.SUCCESS, write(newPath, (byte) 'B'));

        cluster.thaw(frozen);
        DmaBuffer b = buffers.allocate(4096);
        IoStatus oldRead = BlockingIo.read(oldPath, b, 0, 0, 4096 / oldPath.blockSize(), Duration.ofSeconds(30));
        byte first = b.bytes().get(0);
        b.release();
        log("a read through the old path after the thaw: " + oldRead + (oldRead.isSuccess() ? " '" + (char) first + "'" : ""));
        assertNotEquals(IoStatus.SUCCESS, oldRead, "the thawed nexus serves no read: its own replica is stale");
        IoStatus throughOld = write(oldPath, (byte) 'C');
        log("through the old path after the thaw: " + throughOld);
        assertNotEquals(IoStatus.SUCCESS, throughOld, "the old nexus acknowledges nothing");
        assertArrayEquals(filled((byte) 'B'), read(newPath), "the new data, not the old path's");

        Volume healthy = cluster.awaitVolume("db", x -> x.getState().equals("healthy")
                && x.getChildrenList().stream().allMatch(c -> c.getState().equals("online")) && x.getChildrenCount() == 3, 120,
                "the volume repaired: " + frozen + "'s replica rebuilt into the new nexus");
        assertEquals(moved.getTargetNode(), healthy.getTargetNode());
        assertTrue(cluster.nexuses(frozen).listNexus(ListNexusOptions.getDefaultInstance()).getNexusListList().isEmpty(),
                "the old nexus is gone from " + frozen);
        String oldLog = cluster.nodes.get(frozen).output();
        assertTrue(oldLog.contains("this one is fenced") || oldLog.contains("nexus " + v.getUuid() + ") destroyed"),
                "the old nexus fenced itself or was destroyed:\n" + oldLog);
        for (String id : ids) {
            for (Replica r : cluster.replicas(id).listReplicas(ListReplicaOptions.getDefaultInstance()).getReplicasList()) {
                byte[] data = BdevRpcGrpc.newBlockingStub(cluster.channel(cluster.endpoints.get(id)))
                        .withDeadlineAfter(30, TimeUnit.SECONDS).read(ReadBdevRequest.newBuilder().setName(r.getUuid())
                                .setOffset(0).setLength(4096).build()).getData().toByteArray();
                assertArrayEquals(filled((byte) 'B'), data, "replica " + r.getUuid() + " on " + id);
            }
        }
        log("every replica holds B; the old node said: " + oldLog.lines().filter(l -> l.contains("fenced") || l.contains("destroyed"))
                .findFirst().orElse("?"));
    }

    /**
     * Review finding: a control plane that had just started (or taken over) knew the application's node
     * only from its next heartbeat — an application-only node has no msn to recall it by — and a nexus
     * it made again meanwhile was shared to no host in particular, which NVMe-oF takes for any host: a
     * second writer could connect. It is shared once the application's node registers, to it only.
     */
    @Test
    void aNexusMadeAgainBeforeTheApplicationsNodeRegistersIsSharedToItOnly() throws Exception {
        String[] ids = {"r1", "r2"};
        start("mayastor-switchover-unknown-app", 56, ids, "--sync-period-seconds", "2");
        cluster.volumes().createVolume(CreateVolumeRequest.newBuilder().setName("dbu").setSize(SIZE).setReplicaCount(2)
                .setThin(true).build());
        cluster.awaitVolume("dbu", x -> x.getState().equals("healthy"), 30, "two replicas");
        Volume v = cluster.volumes().publishVolume(PublishVolumeRequest.newBuilder().setName("dbu").setNode("app").build());
        String dead = v.getTargetNode();
        assertEquals(IoStatus.SUCCESS, write(open(v.getDeviceUri()), (byte) 'A'));

        cluster.killControl();
        cluster.killNode(dead);
        cluster.restartControl(); // it has not heard from "app": the test plays its CSI node, and holds its heartbeat back
        assertNotNull(cluster.controlProcess().await(l -> l.contains("volume dbu: the nexus on ")
                && l.contains(" is shared once node app, where it is published, registers"), 60), cluster.controlProcess().output());
        // (the status is written after the line: awaited, not read once)
        cluster.awaitVolume("dbu", x -> !x.getTargetNode().equals(dead) && x.getDeviceUri().startsWith("bdev:///"), 10,
                "the nexus made on the other node, not shared while the application's node is unknown");

        RegistrationGrpc.newBlockingStub(cluster.channel(cluster.control)).withDeadlineAfter(30, TimeUnit.SECONDS)
                .register(RegisterRequest.newBuilder().setId("app").setGrpcEndpoint("127.0.0.49:10124").setApplicationOnly(true)
                        .build());
        // the CO's retried publish, right after the registration: an address a host connects to, not the waiting bdev:///
        Volume published = cluster.volumes().publishVolume(PublishVolumeRequest.newBuilder().setName("dbu").setNode("app").build());
        assertTrue(published.getDeviceUri().startsWith("nvmf://"), "published: " + published);
        Volume moved = cluster.awaitVolume("dbu", x -> !x.getTargetNode().equals(dead) && x.getDeviceUri().startsWith("nvmf://"), 30,
                "shared once the application's node registered");
        assertThrows(RuntimeException.class, () -> open(moved.getDeviceUri(), "intruder"), "another host is refused");
        assertArrayEquals(filled((byte) 'A'), read(open(moved.getDeviceUri())), "the application's host reads what it wrote");
    }

    /**
     * Review finding (deploy/): NATS ran as one server on an emptyDir, on one of the storage nodes
     * where the cluster has no other, and a node that died with it took every nexus record along: a
     * volume whose nexus died there too could not move ("no nexus record says which replicas are in
     * sync"). The deployment now runs three NATS servers and the nodes keep the records on all three.
     * Here the nexus's node and the NATS server leading the records' bucket are killed (-9) together,
     * and the volume moves all the same, its data with it.
     */
    @Test
    void aNexusNodeThatDiesWithTheNatsServerLeadingTheRecordsStillMoves() throws Exception {
        String[] ids = {"c1", "c2", "c3"};
        startOnANatsCluster("mayastor-switchover-nats", 51, ids, "--sync-period-seconds", "2");
        cluster.volumes().createVolume(CreateVolumeRequest.newBuilder().setName("dbn").setSize(SIZE).setReplicaCount(3)
                .setThin(true).build());
        cluster.awaitVolume("dbn", x -> x.getState().equals("healthy"), 30, "three replicas");
        Volume v = cluster.volumes().publishVolume(PublishVolumeRequest.newBuilder().setName("dbn").setNode("app").build());
        String dead = v.getTargetNode();
        assertEquals(IoStatus.SUCCESS, write(open(v.getDeviceUri()), (byte) 'A'));

        String leader = null;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        try (io.nats.client.Connection c = io.nats.client.Nats.connect(natsUrl)) {
            while (leader == null) {
                String seen;
                try {
                    io.nats.client.api.ClusterInfo info = c.jetStreamManagement().getStreamInfo("KV_mayastor-nexus")
                            .getClusterInfo();
                    seen = String.valueOf(info);
                    if (info.getReplicas() != null && info.getReplicas().size() == 2
                            && info.getReplicas().stream().allMatch(p -> p.isCurrent() && !p.isOffline())) {
                        leader = info.getLeader();
                    }
                } catch (java.io.IOException | io.nats.client.JetStreamApiException notYet) { // a leader being elected
                    seen = notYet.getMessage();
                }
                assertTrue(leader != null || System.nanoTime() < deadline, "the records on three servers: " + seen);
                Thread.sleep(200);
            }
        }
        io.mayastorj.nats.testing.NatsServerProcess natsLeader = natsServers.get(Integer.parseInt(leader.substring("nats-".length())));
        natsLeader.kill();
        cluster.killNode(dead);
        long killed = System.nanoTime();
        log("killed " + dead + " (the nexus) and " + leader + " (leading the nexus records)");

        // the new URI too: the target node changes first, and the old nexus's URI stays until the new one is shared
        Volume moved = cluster.awaitVolume("dbn", x -> !x.getTargetNode().equals(dead) && !x.getDeviceUri().isEmpty()
                        && !x.getDeviceUri().equals(v.getDeviceUri()), 60,
                "the nexus made again on another node from the records the other two NATS servers keep");
        log(String.format("%.1f s later the nexus is on %s", (System.nanoTime() - killed) / 1e9, moved.getTargetNode()));
        BlockDevice newPath = open(moved.getDeviceUri());
        assertArrayEquals(filled((byte) 'A'), read(newPath), "what was acknowledged before the deaths is there");
        assertEquals(IoStatus.SUCCESS, write(newPath, (byte) 'B'), "and the new nexus writes its record through the two left");
    }
}
