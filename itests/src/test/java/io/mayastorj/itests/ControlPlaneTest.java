package io.mayastorj.itests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.mayastorj.api.v1.ApplyRequest;
import io.mayastorj.api.v1.CreateVolumeRequest;
import io.mayastorj.api.v1.DestroyVolumeRequest;
import io.mayastorj.api.v1.GetRequest;
import io.mayastorj.api.v1.ListReplicaOptions;
import io.mayastorj.api.v1.ListVolumesRequest;
import io.mayastorj.api.v1.PublishVolumeRequest;
import io.mayastorj.api.v1.Replica;
import io.mayastorj.api.v1.ReplicaRpcGrpc;
import io.mayastorj.api.v1.ResourceRpcGrpc;
import io.mayastorj.api.v1.Volume;
import io.mayastorj.api.v1.VolumeReplica;
import io.mayastorj.api.v1.VolumeRpcGrpc;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.internal.bdev.BdevRegistryImpl;
import io.mayastorj.core.internal.buffer.DmaBufferPool;
import io.mayastorj.core.internal.buffer.HugepageMode;
import io.mayastorj.core.internal.reactor.ReactorGroupImpl;
import io.mayastorj.load.VerifyingLoad;
import io.mayastorj.nvmf.internal.host.NvmfBdevFactory;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The control plane and four storage node processes, as a user runs them: nodes register over
 * gRPC, pools are applied as YAML, a 3-replica volume is created and published through the control
 * plane, and a verifying load runs against it from this process over NVMe/TCP. A replica's node is
 * killed with SIGKILL: the volume goes degraded without an error to the load, the control plane
 * replaces the replica on the fourth node after the grace period and the volume is healthy again;
 * the killed node returns and its stale replica is destroyed. Every acknowledged block reads back.
 */
class ControlPlaneTest {

    private static final long SIZE = 64L << 20;
    private final List<Mayastor.NodeProcess> processes = new ArrayList<>();
    private final List<ManagedChannel> channels = new ArrayList<>();
    private Path work;
    private ReactorGroupImpl reactors;
    private DmaBufferPool buffers;
    private BdevRegistryImpl registry;

    private static void log(String what) {
        System.out.println("ControlPlaneTest: " + what);
    }

    private ManagedChannel channel(String endpoint) {
        int colon = endpoint.lastIndexOf(':');
        ManagedChannel c = NettyChannelBuilder.forAddress(endpoint.substring(0, colon), Integer.parseInt(endpoint.substring(colon + 1)))
                .usePlaintext().build();
        channels.add(c);
        return c;
    }

    private final java.util.Map<String, Mayastor.NodeProcess> nodes = new java.util.HashMap<>();

    private Mayastor.NodeProcess node(String id, String endpoint, String control) throws Exception {
        Mayastor.NodeProcess p = new Mayastor.NodeProcess("--node-id", id, "--grpc-endpoint", endpoint,
                "--state-dir", work.resolve("state-" + id).toString(), "--buffers-mb", "64",
                "--nvmf-port", String.valueOf(DistributionTest.freePort(endpoint.substring(0, endpoint.indexOf(':')))),
                "--iscsi-port", String.valueOf(DistributionTest.freePort(endpoint.substring(0, endpoint.indexOf(':')))),
                "--control-endpoint", control, "--registration-interval-seconds", "1");
        assertNotNull(p.await(l -> l.startsWith("mayastor node " + id + " ready"), 60), p.output());
        processes.add(p);
        nodes.put(id, p);
        return p;
    }

    static Volume awaitVolume(VolumeRpcGrpc.VolumeRpcBlockingStub volumes, String name, Predicate<Volume> condition,
                              int seconds, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (true) {
            Volume v = volumes.withDeadlineAfter(30, TimeUnit.SECONDS)
                    .listVolumes(ListVolumesRequest.newBuilder().setName(name).build()).getVolumes(0);
            if (condition.test(v)) {
                return v;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what + ": " + v);
            }
            Thread.sleep(100);
        }
    }

    private static Set<String> nodesOf(Volume v) {
        Set<String> nodes = new TreeSet<>();
        for (VolumeReplica r : v.getReplicasList()) {
            if (!r.getOffline()) {
                nodes.add(r.getNode());
            }
        }
        return nodes;
    }

    @AfterEach
    void stop() throws Exception {
        if (registry != null) {
            registry.list().forEach(b -> registry.destroy(b.device().name()));
        }
        if (reactors != null) {
            reactors.stop();
        }
        if (buffers != null) {
            buffers.close();
        }
        channels.forEach(ManagedChannel::shutdownNow);
        for (int i = processes.size() - 1; i >= 0; i--) {
            processes.get(i).close();
        }
    }

    @Test
    void aVolumeMadeByTheControlPlaneIsRepairedOnAnotherNodeWhenAReplicasNodeDies() throws Exception {
        work = Files.createTempDirectory("mayastor-control");
        String control = "127.0.0.8:" + DistributionTest.freePort("127.0.0.8");
        processes.add(Mayastor.control("--grpc-endpoint", control, "--state-dir", work.resolve("control").toString(),
                "--registration-interval-seconds", "1", "--sync-period-seconds", "1", "--repair-grace-seconds", "5"));
        String[] ids = {"cp1", "cp2", "cp3", "cp4"};
        String[] endpoints = new String[4];
        StringBuilder pools = new StringBuilder();
        for (int i = 0; i < 4; i++) {
            String address = "127.0.0." + (11 + i);
            endpoints[i] = address + ":" + DistributionTest.freePort(address);
            node(ids[i], endpoints[i], control);
            Path disk = work.resolve("disk-" + ids[i] + ".img");
            try (RandomAccessFile f = new RandomAccessFile(disk.toFile(), "rw")) {
                f.setLength(256L << 20);
            }
            pools.append("apiVersion: openebs.io/v1alpha1\nkind: MayastorPool\nmetadata:\n  name: pool-").append(ids[i])
                    .append("\nspec:\n  node: ").append(ids[i]).append("\n  disks: [\"").append(disk).append("\"]\n---\n");
        }
        ManagedChannel controlChannel = channel(control);
        var resources = ResourceRpcGrpc.newBlockingStub(controlChannel);
        var volumes = VolumeRpcGrpc.newBlockingStub(controlChannel);
        assertEquals(List.of("mayastorpool.openebs.io/pool-cp1 created", "mayastorpool.openebs.io/pool-cp2 created",
                        "mayastorpool.openebs.io/pool-cp3 created", "mayastorpool.openebs.io/pool-cp4 created"),
                resources.apply(ApplyRequest.newBuilder().setManifest(pools.toString()).build()).getResultsList());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        String table;
        do {
            Thread.sleep(200);
            table = resources.get(GetRequest.newBuilder().setKind("msp").build()).getText();
        } while (table.lines().filter(l -> l.contains(" online ")).count() < 4 && System.nanoTime() < deadline);
        log("pools:\n" + table);
        assertEquals(4, table.lines().filter(l -> l.contains(" online ")).count(), table);
        String msn = resources.get(GetRequest.newBuilder().setKind("msn").build()).getText();
        assertEquals(4, msn.lines().filter(l -> l.contains(" online ")).count(), msn);

        volumes.createVolume(CreateVolumeRequest.newBuilder().setName("db").setSize(SIZE).setReplicaCount(3)
                .setProtocol("nvmf").setThin(true).build());
        Volume v = awaitVolume(volumes, "db", x -> x.getState().equals("healthy"), 30, "three replicas");
        Set<String> placed = nodesOf(v);
        assertEquals(3, placed.size(), "on three distinct nodes: " + v);
        String target = placed.iterator().next();
        v = volumes.withDeadlineAfter(60, TimeUnit.SECONDS).publishVolume(PublishVolumeRequest.newBuilder().setName("db")
                .setNode(target).build());
        String uri = v.getDeviceUri();
        log("volume db on " + placed + ", published on " + target + " at " + uri);
        assertTrue(uri.startsWith("nvmf://"), uri);

        reactors = new ReactorGroupImpl(1);
        buffers = new DmaBufferPool(64L << 20, HugepageMode.OFF);
        registry = new BdevRegistryImpl();
        registry.addFactory(new NvmfBdevFactory(reactors.reactors(), buffers, NvmfBdevFactory.hostNqn("itest-app"),
                TimeUnit.SECONDS.toNanos(30)));
        BlockDevice volume = registry.create(uri);
        VerifyingLoad load = new VerifyingLoad(volume, buffers, 16, 7);
        load.start();
        Thread.sleep(1500);

        String victim = placed.stream().filter(n -> !n.equals(target)).findFirst().orElseThrow();
        int victimIndex = List.of(ids).indexOf(victim);
        String spare = List.of(ids).stream().filter(n -> !placed.contains(n)).findFirst().orElseThrow();
        log("kill -9 " + victim + " (" + load.writesOk.get() + " writes acknowledged so far)");
        Mayastor.NodeProcess dying = nodes.get(victim);
        dying.process.toHandle().destroyForcibly();
        assertTrue(dying.process.waitFor(20, TimeUnit.SECONDS));
        v = awaitVolume(volumes, "db", x -> x.getState().equals("degraded"), 30, "degraded");
        log("degraded: " + v.getReason());
        v = awaitVolume(volumes, "db", x -> x.getState().equals("healthy") && nodesOf(x).contains(spare), 60,
                "the replica replaced on " + spare + " and rebuilt");
        log("healthy again on " + nodesOf(v) + " (" + load.writesOk.get() + " writes, " + load.readsOk.get()
                + " verified reads so far)");
        assertEquals(Set.of(target, spare, placed.stream().filter(n -> !n.equals(target) && !n.equals(victim))
                .findFirst().orElseThrow()), nodesOf(v));
        Thread.sleep(1000);
        load.stop();
        assertEquals(List.of(), load.mismatches(), "data that is not what was acknowledged");
        assertEquals(0, load.errors(), "the load saw errors " + load.errorMessages());
        assertEquals(0, load.verifyAll(Duration.ofSeconds(60)), "every acknowledged block reads back: " + load.mismatches());

        // the killed node returns: its stale replica goes
        node(victim, endpoints[victimIndex], control);
        var victimReplicas = ReplicaRpcGrpc.newBlockingStub(channel(endpoints[victimIndex]));
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        List<Replica> stale;
        do {
            Thread.sleep(200);
            stale = victimReplicas.listReplicas(ListReplicaOptions.getDefaultInstance()).getReplicasList();
        } while (!stale.isEmpty() && System.nanoTime() < until);
        assertEquals(List.of(), stale, "the stale replica on " + victim + " was destroyed");
        assertEquals("healthy", awaitVolume(volumes, "db", x -> true, 1, "").getState());

        // destroy: nexus and replicas leave every node
        registry.destroy(volume.name());
        volumes.destroyVolume(DestroyVolumeRequest.newBuilder().setName("db").build());
        until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        int left;
        do {
            Thread.sleep(200);
            left = 0;
            for (String e : endpoints) {
                left += ReplicaRpcGrpc.newBlockingStub(channel(e)).listReplicas(ListReplicaOptions.getDefaultInstance())
                        .getReplicasCount();
            }
        } while (left > 0 && System.nanoTime() < until);
        assertEquals(0, left, "no replica left on any node");
        assertEquals(0, volumes.listVolumes(ListVolumesRequest.getDefaultInstance()).getVolumesCount());
    }
}
