package io.mayastorj.itests;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.mayastorj.api.v1.AddChildNexusRequest;
import io.mayastorj.api.v1.BdevRpcGrpc;
import io.mayastorj.api.v1.ChildState;
import io.mayastorj.api.v1.CreateNexusRequest;
import io.mayastorj.api.v1.CreatePoolRequest;
import io.mayastorj.api.v1.CreateReplicaRequest;
import io.mayastorj.api.v1.ListNexusOptions;
import io.mayastorj.api.v1.Nexus;
import io.mayastorj.api.v1.NexusRpcGrpc;
import io.mayastorj.api.v1.NexusState;
import io.mayastorj.api.v1.PoolRpcGrpc;
import io.mayastorj.api.v1.PublishNexusRequest;
import io.mayastorj.api.v1.ReadBdevRequest;
import io.mayastorj.api.v1.Replica;
import io.mayastorj.api.v1.ReplicaRpcGrpc;
import io.mayastorj.api.v1.ShareProtocol;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.internal.bdev.BdevRegistryImpl;
import io.mayastorj.core.internal.buffer.DmaBufferPool;
import io.mayastorj.core.internal.buffer.HugepageMode;
import io.mayastorj.core.internal.reactor.ReactorGroupImpl;
import io.mayastorj.load.VerifyingLoad;
import io.mayastorj.nvmf.internal.host.NvmfBdevFactory;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A 3-replica volume under a verifying load (every 4 KiB block stamped with its number and a
 * sequence number, every read checked against the last acknowledged write), while its nodes fail
 * for real: three node processes, the third in a network namespace of its own.
 * <ol>
 * <li>(a) a replica's node is killed with SIGKILL: the load sees no error;
 * <li>(b) that node restarts, its replica is added back and rebuilt under load; the three replicas
 * are then compared block by block;
 * <li>(c) the third node's network link goes down: its I/O times out, the child is faulted, the
 * load sees no error;
 * <li>(d) the nexus's own node is killed with SIGKILL, restarted, and the nexus re-created from its
 * record: the child cut off in (c) is stale and must not serve; every acknowledged write is there.
 * </ol>
 */
class NexusFaultTest {

    private static final String NS = "msjt3";
    private static final String HOST_LINK = "msjt3h";
    private static final String NODE_LINK = "msjt3n";
    private static final String NS_HOST_IP = "10.213.3.1";
    private static final String NS_NODE_IP = "10.213.3.2";
    private static final String VOLUME = "5e5e5e5e-0000-4000-8000-000000000001";
    private static final String[] REPLICA = {"5e5e5e5e-0000-4000-8000-0000000000a1", "5e5e5e5e-0000-4000-8000-0000000000a2",
        "5e5e5e5e-0000-4000-8000-0000000000a3"};
    private static final long REPLICA_BYTES = 32L << 20;

    private final List<Node> nodes = new ArrayList<>();
    private Path work;
    private boolean namespace;
    private ReactorGroupImpl reactors;
    private DmaBufferPool buffers;
    private BdevRegistryImpl registry;

    /** One node process and how to start it again. */
    private final class Node {
        final String id;
        final String address;
        final int grpcPort;
        final int nvmfPort;
        final int iscsiPort;
        final List<String> prefix;
        Mayastor.NodeProcess process;
        ManagedChannel channel;

        Node(String id, String address, List<String> prefix) throws IOException {
            this.id = id;
            this.address = address;
            this.prefix = prefix;
            this.grpcPort = freePort();
            this.nvmfPort = freePort();
            this.iscsiPort = freePort();
        }

        void start() throws Exception {
            process = new Mayastor.NodeProcess(prefix, "--node-id", id, "--grpc-endpoint", address + ":" + grpcPort,
                    "--state-dir", work.resolve("state-" + id).toString(), "--buffers-mb", "64",
                    "--nvmf-address", address, "--nvmf-port", String.valueOf(nvmfPort), "--nvmf-io-timeout", "5",
                    "--nvmf-nexus-port", String.valueOf(freePort()),
                    "--iscsi-address", address, "--iscsi-port", String.valueOf(iscsiPort));
            assertNotNull(process.await(l -> l.startsWith("mayastor node " + id + " ready"), 60), process.output());
            if (channel == null) {
                channel = NettyChannelBuilder.forAddress(address, grpcPort).usePlaintext().build();
            }
        }

        void kill() throws InterruptedException {
            process.process.destroyForcibly();
            assertTrue(process.process.waitFor(20, TimeUnit.SECONDS));
        }

        PoolRpcGrpc.PoolRpcBlockingStub pool() {
            return PoolRpcGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS);
        }

        ReplicaRpcGrpc.ReplicaRpcBlockingStub replica() {
            return ReplicaRpcGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS);
        }

        NexusRpcGrpc.NexusRpcBlockingStub nexus() {
            return NexusRpcGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS);
        }

        BdevRpcGrpc.BdevRpcBlockingStub bdev() {
            return BdevRpcGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS);
        }

        String nqn() {
            return "nqn.2019-05.io.openebs:node-name:" + id;
        }
    }

    private static int freePort() throws IOException {
        return DistributionTest.freePort("127.0.0.1");
    }

    private static int sh(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        return p.waitFor(30, TimeUnit.SECONDS) ? p.exitValue() : -1;
    }

    /** The third node's own network namespace, joined to ours by a veth pair; false when this machine cannot. */
    private boolean makeNamespace() throws Exception {
        sh("ip", "netns", "del", NS);
        sh("ip", "link", "del", HOST_LINK);
        return sh("ip", "netns", "add", NS) == 0
                && sh("ip", "link", "add", HOST_LINK, "type", "veth", "peer", "name", NODE_LINK) == 0
                && sh("ip", "link", "set", NODE_LINK, "netns", NS) == 0
                && sh("ip", "addr", "add", NS_HOST_IP + "/30", "dev", HOST_LINK) == 0
                && sh("ip", "link", "set", HOST_LINK, "up") == 0
                && sh("ip", "netns", "exec", NS, "ip", "addr", "add", NS_NODE_IP + "/30", "dev", NODE_LINK) == 0
                && sh("ip", "netns", "exec", NS, "ip", "link", "set", NODE_LINK, "up") == 0
                && sh("ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up") == 0;
    }

    @AfterEach
    void cleanUp() throws Exception {
        if (registry != null) {
            registry.list().forEach(b -> registry.destroy(b.device().name()));
        }
        if (reactors != null) {
            reactors.stop();
        }
        for (Node n : nodes) {
            if (n.channel != null) {
                n.channel.shutdownNow();
            }
            if (n.process != null) {
                n.process.close();
            }
        }
        if (namespace) {
            sh("ip", "link", "del", HOST_LINK);
            sh("ip", "netns", "del", NS);
        }
    }

    private static void log(String what) {
        System.out.println("NexusFaultTest: " + what);
    }

    private Nexus volume(Node n) {
        return n.nexus().listNexus(ListNexusOptions.newBuilder().setName("vol").build()).getNexusList(0);
    }

    private Nexus awaitVolume(Node n, Predicate<Nexus> condition, int seconds, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        Nexus v = volume(n);
        while (!condition.test(v)) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what + ": " + v);
            }
            Thread.sleep(100);
            v = volume(n);
        }
        return v;
    }

    private static ChildState childState(Nexus v, String uri) {
        return v.getChildrenList().stream().filter(c -> c.getUri().equals(uri)).findFirst().orElseThrow().getState();
    }

    /** The load's own NVMe/TCP host, in this process, connected to the published volume. */
    private BlockDevice openVolume(String uri) {
        return registry.create(uri);
    }

    private void assertLoadClean(VerifyingLoad load, String when) {
        assertEquals(List.of(), load.mismatches(), when + ": data that is not what was acknowledged");
        assertEquals(0, load.errors(), when + ": the load saw errors " + load.errorMessages());
    }

    /** Reads a replica whole through its node's diagnostic API. */
    private static byte[] replicaData(Node n, String uuid) {
        byte[] all = new byte[(int) REPLICA_BYTES];
        for (int off = 0; off < REPLICA_BYTES; off += 1 << 20) {
            byte[] part = n.bdev().read(ReadBdevRequest.newBuilder().setName(uuid).setOffset(off).setLength(1 << 20).build())
                    .getData().toByteArray();
            System.arraycopy(part, 0, all, off, part.length);
        }
        return all;
    }

    private void assertReplicasIdentical(String when) {
        byte[] first = replicaData(nodes.get(0), REPLICA[0]);
        for (int i = 1; i < 3; i++) {
            byte[] other = replicaData(nodes.get(i), REPLICA[i]);
            assertArrayEquals(first, other, when + ": replica " + (i + 1) + " differs from replica 1");
        }
        log(when + ": the three replicas are identical, block by block");
    }

    private static String rebuild(io.mayastorj.api.v1.RebuildStats r) {
        return String.format(java.util.Locale.ROOT, "%s %s rebuild, %d of %d segments (%.1f MiB copied, %d zeroed) at %.0f MiB/s",
                r.getState(), r.getPartial() ? "partial" : "full", r.getSegmentsDone(), r.getSegmentsTotal(),
                r.getBytesCopied() / 1048576.0, r.getSegmentsZeroed(), r.getBytesPerSecond() / 1048576.0);
    }

    @Test
    void aThreeReplicaVolumeSurvivesKilledNodesACutLinkAndTheCrashOfItsOwnNode() throws Exception {
        work = Scratch.dir("mayastor-nexus-faults");
        namespace = makeNamespace();
        log(namespace ? "node 3 runs in network namespace " + NS : "no network namespaces here: node 3 on 127.0.0.3, (c) left out");
        nodes.add(new Node("n1", "127.0.0.1", List.of()));
        nodes.add(new Node("n2", "127.0.0.2", List.of()));
        nodes.add(namespace ? new Node("n3", NS_NODE_IP, List.of("ip", "netns", "exec", NS)) : new Node("n3", "127.0.0.3", List.of()));
        Node n1 = nodes.get(0);
        Node n2 = nodes.get(1);
        Node n3 = nodes.get(2);
        List<String> children = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            Node n = nodes.get(i);
            n.start();
            Path disk = work.resolve("pool-" + n.id + ".img");
            try (RandomAccessFile f = new RandomAccessFile(disk.toFile(), "rw")) {
                f.setLength(128L << 20);
            }
            n.pool().createPool(CreatePoolRequest.newBuilder().setName("p" + (i + 1)).addDisks(disk.toString()).build());
            CreateReplicaRequest.Builder r = CreateReplicaRequest.newBuilder().setName("r" + (i + 1)).setUuid(REPLICA[i])
                    .setPool("p" + (i + 1)).setSize(REPLICA_BYTES).setThin(true);
            if (i > 0) {
                r.setShare(ShareProtocol.NVMF).addAllowedHosts(n1.nqn());
            }
            Replica replica = n.replica().createReplica(r.build());
            children.add(replica.getUri());
        }
        log("children " + children);
        Nexus v = n1.nexus().createNexus(CreateNexusRequest.newBuilder().setName("vol").setUuid(VOLUME).addAllChildren(children).build());
        assertEquals(NexusState.NEXUS_ONLINE, v.getState());
        String published = n1.nexus().publishNexus(PublishNexusRequest.newBuilder().setNexus("vol").setShare(ShareProtocol.NVMF).build())
                .getDeviceUri();
        log("published at " + published);

        reactors = new ReactorGroupImpl(1);
        buffers = new DmaBufferPool(64L << 20, HugepageMode.OFF);
        registry = new BdevRegistryImpl();
        registry.addFactory(NvmfBdevFactory.of(reactors.reactors(), buffers, NvmfBdevFactory.hostNqn("itest-load"),
                TimeUnit.SECONDS.toNanos(30)));
        BlockDevice volume = openVolume(published);
        VerifyingLoad load = new VerifyingLoad(volume, buffers, 16, 42);
        load.start();
        Thread.sleep(2000);

        // (a) a replica's node dies
        log("(a) kill -9 node n2 under load (" + load.writesOk.get() + " writes acknowledged so far)");
        n2.kill();
        v = awaitVolume(n1, x -> childState(x, children.get(1)) == ChildState.CHILD_FAULTED, 30, "n2's child faulted");
        assertEquals(NexusState.NEXUS_DEGRADED, v.getState());
        Thread.sleep(1000);
        assertLoadClean(load, "(a)");
        log("(a) degraded, serving: " + load.writesOk.get() + " writes, " + load.readsOk.get() + " verified reads, no error");

        // (b) it comes back and is rebuilt under load
        n2.start();
        n1.nexus().addChildNexus(AddChildNexusRequest.newBuilder().setNexus("vol").setUri(children.get(1)).build());
        v = awaitVolume(n1, x -> x.getState() == NexusState.NEXUS_ONLINE, 120, "n2's child rebuilt");
        log("(b) rebuilt under load: " + rebuild(v.getChildren(1).getRebuild()));
        Thread.sleep(500);
        load.stop();
        assertLoadClean(load, "(b)");
        assertReplicasIdentical("(b)");
        assertEquals(0, load.verifyAll(Duration.ofSeconds(30)), "(b) " + load.mismatches());
        load.start();

        // (c) the third node's link goes down: its I/O times out, it is faulted, the volume carries on
        if (namespace) {
            Thread.sleep(1000);
            log("(c) link to node n3 down");
            assertEquals(0, sh("ip", "link", "set", HOST_LINK, "down"));
            v = awaitVolume(n1, x -> childState(x, children.get(2)) == ChildState.CHILD_FAULTED, 60, "n3's child faulted");
            log("(c) " + v.getChildren(2).getReason() + ": " + v.getChildren(2).getCause());
            Thread.sleep(1000);
            assertLoadClean(load, "(c)");
            assertEquals(0, sh("ip", "link", "set", HOST_LINK, "up"));
            log("(c) link up again; n3's replica is left stale on purpose");
        } else {
            n1.nexus().faultNexusChild(io.mayastorj.api.v1.FaultNexusChildRequest.newBuilder().setNexus("vol")
                    .setUri(children.get(2)).build());
        }
        Thread.sleep(1000);

        // (d) the nexus's node dies under load, and the nexus is re-created from its record
        log("(d) kill -9 node n1, the nexus's node (" + load.writesOk.get() + " writes acknowledged so far)");
        n1.kill();
        Thread.sleep(1000);
        load.stop();
        log("(d) the load saw " + load.errors() + " errors after the nexus died; those writes may or may not have landed");
        registry.destroy(volume.name());
        n1.start();
        v = n1.nexus().createNexus(CreateNexusRequest.newBuilder().setName("vol").setUuid(VOLUME).addAllChildren(children).build());
        log("(d) re-created: " + v.getChildrenList().stream().map(c -> c.getUri().replaceAll("\\?.*", "") + " " + c.getState()).toList());
        assertEquals(ChildState.CHILD_ONLINE, childState(v, children.get(0)), "the first child recorded in sync serves");
        assertNotEquals(ChildState.CHILD_ONLINE, childState(v, children.get(2)), "n3's replica is stale: it must not serve");
        published = n1.nexus().publishNexus(PublishNexusRequest.newBuilder().setNexus("vol").setShare(ShareProtocol.NVMF).build())
                .getDeviceUri();
        volume = openVolume(published);
        VerifyingLoad after = load.reopen(volume);
        assertEquals(0, after.verifyAll(Duration.ofSeconds(30), true), "(d) flushed writes lost: " + after.mismatches());
        log("(d) every flushed write is there, and every block holds its last flushed write or one acknowledged since ("
                + after.blocksWritten() + " blocks written, " + load.flushesOk.get() + " flushes)");
        after.start();
        awaitVolume(n1, x -> x.getState() == NexusState.NEXUS_ONLINE, 120, "the stale children rebuilt");
        Thread.sleep(500);
        after.stop();
        assertEquals(List.of(), after.mismatches());
        assertEquals(0, after.errors(), after.errorMessages().toString());
        assertReplicasIdentical("(d)");
        assertEquals(0, after.verifyAll(Duration.ofSeconds(30)), "(d) " + after.mismatches());
        log("(d) rebuilt: " + volume(n1).getChildrenList().stream().filter(c -> c.hasRebuild()).map(c -> rebuild(c.getRebuild())).toList()
                + "; " + after.writesOk.get() + " more writes, all verified");
        after.close();
    }
}
