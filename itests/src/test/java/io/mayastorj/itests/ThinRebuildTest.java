package io.mayastorj.itests;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.mayastorj.api.v1.AddChildNexusRequest;
import io.mayastorj.api.v1.BdevRpcGrpc;
import io.mayastorj.api.v1.Child;
import io.mayastorj.api.v1.ChildState;
import io.mayastorj.api.v1.CreateNexusRequest;
import io.mayastorj.api.v1.CreatePoolRequest;
import io.mayastorj.api.v1.CreateReplicaRequest;
import io.mayastorj.api.v1.FaultNexusChildRequest;
import io.mayastorj.api.v1.ListNexusOptions;
import io.mayastorj.api.v1.ListReplicaOptions;
import io.mayastorj.api.v1.Nexus;
import io.mayastorj.api.v1.NexusRpcGrpc;
import io.mayastorj.api.v1.PoolRpcGrpc;
import io.mayastorj.api.v1.ReadBdevRequest;
import io.mayastorj.api.v1.RebuildStats;
import io.mayastorj.api.v1.RemoveChildNexusRequest;
import io.mayastorj.api.v1.Replica;
import io.mayastorj.api.v1.ReplicaRpcGrpc;
import io.mayastorj.api.v1.ShareProtocol;
import io.mayastorj.api.v1.WriteBdevRequest;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Thin replicas stay thin through rebuilds whatever the source, with two node processes: a 2 GiB
 * thin volume on 256 MiB pools (over-committed eight times) holding a few MiB, its only replica on
 * node 2 and used over NVMe/TCP by the nexus on node 1. A new thin replica on node 1 is rebuilt from
 * the remote one (full), faulted and rebuilt again (partial), then a new thin replica on node 2 is
 * rebuilt from node 1's (onto a remote child). Each time the new replica's allocation equals the
 * source's and the data compares equal, and no rebuild runs out of space. Also: the replica the
 * nexus uses over the network cannot be destroyed or unshared on its node without --force, and the
 * refusal names the host.
 */
class ThinRebuildTest {

    private static final long VOLUME = 2L << 30;
    private static final long CLUSTER = 4L << 20;
    private static final String R_REMOTE = "7f1a0000-0000-4000-8000-0000000000b2";
    private static final String R_LOCAL = "7f1a0000-0000-4000-8000-0000000000b1";
    private static final String R_REMOTE_NEW = "7f1a0000-0000-4000-8000-0000000000b3";
    private final List<Node> nodes = new ArrayList<>();
    private Path work;

    private final class Node {
        final String id;
        final String address;
        final int grpcPort;
        final int nvmfPort;
        Mayastor.NodeProcess process;
        ManagedChannel channel;

        Node(String id, String address) throws Exception {
            this.id = id;
            this.address = address;
            this.grpcPort = DistributionTest.freePort(address);
            this.nvmfPort = DistributionTest.freePort(address);
        }

        void start() throws Exception {
            process = new Mayastor.NodeProcess("--node-id", id, "--grpc-endpoint", address + ":" + grpcPort,
                    "--state-dir", work.resolve("state-" + id).toString(), "--buffers-mb", "64",
                    "--nvmf-address", address, "--nvmf-port", String.valueOf(nvmfPort),
                    "--nvmf-nexus-port", String.valueOf(DistributionTest.freePort(address)),
                    "--iscsi-address", address, "--iscsi-port", String.valueOf(DistributionTest.freePort(address)));
            assertNotNull(process.await(l -> l.startsWith("mayastor node " + id + " ready"), 60), process.output());
            channel = NettyChannelBuilder.forAddress(address, grpcPort).usePlaintext().build();
        }

        String endpoint() {
            return address + ":" + grpcPort;
        }

        String hostNqn() {
            return "nqn.2019-05.io.openebs:node-name:" + id;
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

        /** A thin 2 GiB replica in this node's 256 MiB pool, shared over nvmf to {@code host} when given. */
        String thinReplica(String uuid, String host) {
            CreateReplicaRequest.Builder r = CreateReplicaRequest.newBuilder().setPool("p-" + id).setUuid(uuid)
                    .setName("thin-" + uuid.substring(uuid.length() - 2)).setSize(VOLUME).setThin(true);
            if (host != null) {
                r.setShare(ShareProtocol.NVMF).addAllowedHosts(host);
            }
            return replica().createReplica(r.build()).getUri();
        }

        long allocated(String uuid) {
            Replica r = replica().listReplicas(ListReplicaOptions.newBuilder().setUuid(uuid).build()).getReplicas(0);
            return r.getUsage().getAllocated();
        }

        byte[] read(String bdev, long offset, int length) {
            return bdev().read(ReadBdevRequest.newBuilder().setName(bdev).setOffset(offset).setLength(length).build())
                    .getData().toByteArray();
        }
    }

    @AfterEach
    void stop() throws Exception {
        for (Node n : nodes) {
            if (n.channel != null) {
                n.channel.shutdownNow();
            }
            if (n.process != null) {
                n.process.close();
            }
        }
    }

    private static void log(String what) {
        System.out.println("ThinRebuildTest: " + what);
    }

    private static Nexus volume(Node n) {
        return n.nexus().listNexus(ListNexusOptions.newBuilder().setName("vol").build()).getNexusList(0);
    }

    private static Child child(Nexus v, String uri) {
        return v.getChildrenList().stream().filter(c -> c.getUri().equals(uri)).findFirst().orElseThrow();
    }

    private static Nexus awaitOnline(Node n, String uri) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        Nexus v = volume(n);
        while (child(v, uri).getState() != ChildState.CHILD_ONLINE) {
            assertTrue(System.nanoTime() < deadline, "rebuild of " + uri + " did not end: " + v);
            assertTrue(child(v, uri).getState() != ChildState.CHILD_FAULTED, "the rebuild failed: " + child(v, uri));
            Thread.sleep(50);
            v = volume(n);
        }
        return v;
    }

    private static String describe(RebuildStats r) {
        return String.format(Locale.ROOT, "%s rebuild: %d segments, %.1f MiB copied, %d zeroed, %d skipped",
                r.getPartial() ? "partial" : "full", r.getSegmentsDone(), r.getBytesCopied() / 1048576.0,
                r.getSegmentsZeroed(), r.getSegmentsSkipped());
    }

    /** Writes {@code length} random bytes at {@code offset} of a bdev, flushed. */
    private static byte[] write(Node n, String bdev, long offset, int length, Random random) {
        byte[] data = new byte[length];
        random.nextBytes(data);
        n.bdev().write(WriteBdevRequest.newBuilder().setName(bdev).setOffset(offset).setData(ByteString.copyFrom(data))
                .setFlush(true).build());
        return data;
    }

    /** The new replica holds what the source holds, within one cluster per range written. */
    private static void assertSameAllocation(long source, long copy, int ranges, String what) {
        log(what + ": source " + source / 1048576 + " MiB allocated, copy " + copy / 1048576 + " MiB");
        assertTrue(copy <= source && copy >= source - ranges * CLUSTER,
                what + ": the copy has " + copy + " bytes allocated, the source " + source);
    }

    @Test
    void aThinVolumeStaysThinThroughFullAndPartialRebuildsFromAndOntoRemoteReplicas() throws Exception {
        work = Scratch.dir("mayastor-thin-rebuild");
        Node n1 = new Node("thin1", "127.0.0.5");
        Node n2 = new Node("thin2", "127.0.0.6");
        nodes.add(n1);
        nodes.add(n2);
        for (Node n : nodes) {
            Path disk = work.resolve("pool-" + n.id + ".img");
            try (RandomAccessFile f = new RandomAccessFile(disk.toFile(), "rw")) {
                f.setLength(256L << 20);
            }
            n.start();
            n.pool().createPool(CreatePoolRequest.newBuilder().setName("p-" + n.id).addDisks(disk.toString()).build());
        }
        Random random = new Random(7);
        List<long[]> ranges = new ArrayList<>();
        List<byte[]> contents = new ArrayList<>();

        // data written on node 2 before any nexus sees the replica: node 1 learns of it from the target's report
        String remoteUri = n2.thinReplica(R_REMOTE, n1.hostNqn());
        for (long offset : new long[] {3L << 20, 700L << 20, 1900L << 20}) {
            contents.add(write(n2, R_REMOTE, offset, 256 << 10, random));
            ranges.add(new long[] {offset, 256 << 10});
        }
        n1.nexus().createNexus(CreateNexusRequest.newBuilder().setName("vol").setUuid("7f1a0000-0000-4000-8000-0000000000f0")
                .setSize(VOLUME).addChildren(remoteUri).build());
        // and data written through the nexus: the nvmf:// bdev marks what it wrote
        for (long offset : new long[] {100L << 20, 1024L << 20, (2047L << 20) + (512 << 10)}) {
            contents.add(write(n1, "vol", offset, 512 << 10, random));
            ranges.add(new long[] {offset, 512 << 10});
        }
        long sourceAllocated = n2.allocated(R_REMOTE);
        assertEquals(6 * CLUSTER, sourceAllocated, "six ranges, six clusters");

        // the replica in use over the network cannot be pulled from under the nexus
        Mayastor.Result refused = PoolDurabilityTest.ctl(n2.endpoint(), "replica", "destroy", R_REMOTE);
        assertEquals(1, refused.exit(), refused.out());
        String hostPrefix = "error: FAILED_PRECONDITION: replica " + R_REMOTE + " is in use over nvmf by " + n1.hostNqn()
                + " from 127.0.0.";
        assertTrue(refused.err().startsWith(hostPrefix) && refused.err().endsWith("; disconnect it first, or destroy it "
                + "with force\n"), refused.err());
        refused = PoolDurabilityTest.ctl(n2.endpoint(), "replica", "unshare", R_REMOTE);
        assertEquals(1, refused.exit());
        assertTrue(refused.err().endsWith("; disconnect it first, or unshare it with force\n"), refused.err());
        refused = PoolDurabilityTest.ctl(n2.endpoint(), "bdev", "unshare", R_REMOTE);
        assertEquals(1, refused.exit());
        assertTrue(refused.err().startsWith("error: FAILED_PRECONDITION: bdev " + R_REMOTE + " is in use over nvmf by "
                + n1.hostNqn()), refused.err());

        // (1) full rebuild of a new local thin replica from the remote one
        n1.thinReplica(R_LOCAL, null);
        String localUri = "bdev:///" + R_LOCAL;
        n1.nexus().addChildNexus(AddChildNexusRequest.newBuilder().setNexus("vol").setUri(localUri).build());
        RebuildStats full = child(awaitOnline(n1, localUri), localUri).getRebuild();
        log(describe(full));
        assertEquals(3L * (256 << 10) + 3L * (512 << 10), full.getBytesCopied(),
                "only the written segments were copied: " + describe(full));
        assertSameAllocation(sourceAllocated, n1.allocated(R_LOCAL), 6, "full rebuild from the remote source");
        assertData(n1, R_LOCAL, ranges, contents, random);

        // (2) the local replica faults, more is written, it comes back: a partial rebuild from the remote source
        n1.nexus().faultNexusChild(FaultNexusChildRequest.newBuilder().setNexus("vol").setUri(localUri).build());
        for (long offset : new long[] {(100L << 20) + (64 << 10), 1500L << 20}) {
            contents.add(write(n1, "vol", offset, 128 << 10, random));
            ranges.add(new long[] {offset, 128 << 10});
        }
        n1.nexus().addChildNexus(AddChildNexusRequest.newBuilder().setNexus("vol").setUri(localUri).build());
        RebuildStats partial = child(awaitOnline(n1, localUri), localUri).getRebuild();
        log(describe(partial));
        assertTrue(partial.getPartial(), describe(partial));
        assertTrue(partial.getBytesCopied() >= 2L * (128 << 10) && partial.getSegmentsDone() < 64, describe(partial));
        sourceAllocated = n2.allocated(R_REMOTE);
        assertEquals(7 * CLUSTER, sourceAllocated);
        assertSameAllocation(sourceAllocated, n1.allocated(R_LOCAL), 8, "partial rebuild from the remote source");
        assertData(n1, R_LOCAL, ranges, contents, random);

        // (3) a new thin replica on node 2, rebuilt from node 1's: the child is the remote one now
        n1.nexus().removeChildNexus(RemoveChildNexusRequest.newBuilder().setNexus("vol").setUri(remoteUri).build());
        String newRemoteUri = n2.thinReplica(R_REMOTE_NEW, n1.hostNqn());
        n1.nexus().addChildNexus(AddChildNexusRequest.newBuilder().setNexus("vol").setUri(newRemoteUri).build());
        RebuildStats onto = child(awaitOnline(n1, newRemoteUri), newRemoteUri).getRebuild();
        log(describe(onto));
        assertSameAllocation(n1.allocated(R_LOCAL), n2.allocated(R_REMOTE_NEW), 8, "full rebuild onto a remote child");
        assertData(n2, R_REMOTE_NEW, ranges, contents, random);

        // any bdev with a host connected to its share: unshare refused, destroy refused (its share holds it),
        // destroy --force unshares and destroys
        PoolDurabilityTest.ok(PoolDurabilityTest.ctl(n2.endpoint(), "bdev", "create", "malloc:///m9?size_mb=8"));
        String shared = PoolDurabilityTest.ok(PoolDurabilityTest.ctl(n2.endpoint(), "bdev", "share", "m9", "--protocol",
                "nvmf")).out().strip();
        PoolDurabilityTest.ok(PoolDurabilityTest.ctl(n1.endpoint(), "bdev", "create", shared));
        Mayastor.Result unshare = PoolDurabilityTest.ctl(n2.endpoint(), "bdev", "unshare", "m9");
        assertEquals(1, unshare.exit());
        assertTrue(unshare.err().startsWith("error: FAILED_PRECONDITION: bdev m9 is in use over nvmf by " + n1.hostNqn()
                + " from 127.0.0.") && unshare.err().endsWith("; disconnect it first, or unshare it with force\n"),
                unshare.err());
        Mayastor.Result destroy = PoolDurabilityTest.ctl(n2.endpoint(), "bdev", "destroy", "m9");
        assertEquals("error: FAILED_PRECONDITION: bdev m9 is in use by share nvmf; unshare it first (mayastor ctl bdev "
                + "unshare m9), or destroy it with --force\n", destroy.err());
        PoolDurabilityTest.ok(PoolDurabilityTest.ctl(n2.endpoint(), "bdev", "destroy", "m9", "--force"));

        // review finding: ctl nexus unpublish and destroy dropped a connected host without a word, where the
        // same for a bdev or replica is refused; from the command line they are now refused too, unless --force
        PoolDurabilityTest.ok(PoolDurabilityTest.ctl(n2.endpoint(), "bdev", "create", "malloc:///m10?size_mb=8"));
        PoolDurabilityTest.ok(PoolDurabilityTest.ctl(n2.endpoint(), "nexus", "create", "nx10", "--child", "bdev:///m10"));
        String published = PoolDurabilityTest.ok(PoolDurabilityTest.ctl(n2.endpoint(), "nexus", "publish", "nx10", "--protocol",
                "nvmf")).out().strip();
        String nexusUri = published.substring(published.indexOf("nvmf://")).strip();
        PoolDurabilityTest.ok(PoolDurabilityTest.ctl(n1.endpoint(), "bdev", "create", nexusUri));
        for (String verb : List.of("unpublish", "destroy")) {
            Mayastor.Result inUse = PoolDurabilityTest.ctl(n2.endpoint(), "nexus", verb, "nx10");
            assertEquals(1, inUse.exit(), inUse.out());
            assertTrue(inUse.err().startsWith("error: FAILED_PRECONDITION: nexus nx10 is in use over nvmf by " + n1.hostNqn())
                    && inUse.err().endsWith("; disconnect it first, or " + verb + " it with force\n"), inUse.err());
        }
        PoolDurabilityTest.ok(PoolDurabilityTest.ctl(n2.endpoint(), "nexus", "destroy", "nx10", "--force"));

        // the replica no nexus uses any more goes without --force; the one in use only with it
        PoolDurabilityTest.ok(PoolDurabilityTest.ctl(n2.endpoint(), "replica", "destroy", R_REMOTE));
        PoolDurabilityTest.ok(PoolDurabilityTest.ctl(n2.endpoint(), "replica", "destroy", R_REMOTE_NEW, "--force"));
        assertNotNull(n2.process.await(l -> l.contains("destroy by request (force) although " + n1.hostNqn()), 5),
                n2.process.output());
    }

    /** Every range written reads back from {@code replica}, and a sample of the rest reads as zeros. */
    private void assertData(Node n, String replica, List<long[]> ranges, List<byte[]> contents, Random random) {
        for (int i = 0; i < ranges.size(); i++) {
            long offset = ranges.get(i)[0];
            int length = (int) ranges.get(i)[1];
            byte[] want = latest(ranges, contents, offset, length);
            assertArrayEquals(want, n.read(replica, offset, length), "range " + i + " at " + offset + " of " + replica);
        }
        for (int i = 0; i < 16; i++) {
            long offset = ((long) random.nextInt((int) (VOLUME >>> 20))) << 20;
            int length = 1 << 20;
            assertArrayEquals(latest(ranges, contents, offset, length), n.read(replica, offset, length),
                    "MiB at " + offset + " of " + replica);
        }
    }

    /** What the volume holds at {@code [offset, offset + length)}: zeros, overwritten by each range in order. */
    private static byte[] latest(List<long[]> ranges, List<byte[]> contents, long offset, int length) {
        byte[] out = new byte[length];
        for (int i = 0; i < ranges.size(); i++) {
            long from = Math.max(offset, ranges.get(i)[0]);
            long to = Math.min(offset + length, ranges.get(i)[0] + ranges.get(i)[1]);
            if (from < to) {
                System.arraycopy(contents.get(i), (int) (from - ranges.get(i)[0]), out, (int) (from - offset), (int) (to - from));
            }
        }
        return out;
    }
}
