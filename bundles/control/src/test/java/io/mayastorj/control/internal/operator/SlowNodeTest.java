package io.mayastorj.control.internal.operator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Context;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.stub.StreamObserver;
import io.mayastorj.api.v1.ListNexusOptions;
import io.mayastorj.api.v1.ListNexusResponse;
import io.mayastorj.api.v1.ListPoolOptions;
import io.mayastorj.api.v1.ListPoolsResponse;
import io.mayastorj.api.v1.ListReplicaOptions;
import io.mayastorj.api.v1.ListReplicasResponse;
import io.mayastorj.api.v1.NexusRpcGrpc;
import io.mayastorj.api.v1.PoolRpcGrpc;
import io.mayastorj.api.v1.ReplicaRpcGrpc;
import io.mayastorj.control.internal.nodes.NodeClients;
import io.mayastorj.control.internal.registry.NodeRegistry;
import io.mayastorj.control.internal.store.FileStore;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Review finding: a storage node whose gRPC port was cut off while its heartbeats still came (a
 * firewall, a wedged server) had every pass — every volume's, the sweep's, a placement's under its
 * lock — wait out the whole call deadline for its listing. Once a listing has outlasted it, the node
 * is asked with a short deadline for a while. The node is played by a gRPC server of the test's that
 * never answers a listing, and says what deadline each listing came with.
 */
class SlowNodeTest {

    @TempDir
    Path dir;

    @Test
    void aNodeWhoseListingOutlastedTheDeadlineIsAskedQuicklyAfter() throws Exception {
        List<Long> deadlines = new CopyOnWriteArrayList<>();
        Server node = ServerBuilder.forPort(0)
                .addService(new ReplicaRpcGrpc.ReplicaRpcImplBase() {
                    @Override
                    public void listReplicas(ListReplicaOptions request, StreamObserver<ListReplicasResponse> response) {
                        deadlines.add(Context.current().getDeadline().timeRemaining(TimeUnit.MILLISECONDS));
                    }
                })
                .addService(new PoolRpcGrpc.PoolRpcImplBase() {
                    @Override
                    public void listPools(ListPoolOptions request, StreamObserver<ListPoolsResponse> response) {
                    }
                })
                .addService(new NexusRpcGrpc.NexusRpcImplBase() {
                    @Override
                    public void listNexus(ListNexusOptions request, StreamObserver<ListNexusResponse> response) {
                    }
                }).build().start();
        NodeRegistry registry = new NodeRegistry(Duration.ofSeconds(60), 3);
        registry.register("n1", "127.0.0.1:" + node.getPort(), "nqn.2019-05.io.openebs:n1");
        NodeClients clients = new NodeClients(Duration.ofSeconds(5)); // (the first listing's also pays the connect)
        FileStore store = new FileStore(dir);
        try {
            VolumeOperator operator = new VolumeOperator(store, registry, clients, Duration.ofMinutes(5));
            assertFalse(operator.world().reachable("n1"));
            assertFalse(operator.world().reachable("n1"));
            assertEquals(2, deadlines.size(), deadlines.toString());
            assertTrue(deadlines.get(0) > 2000, "the first listing has the whole deadline: " + deadlines);
            assertTrue(deadlines.get(1) <= 2000, "the next, a short one: " + deadlines);
        } finally {
            node.shutdownNow();
            clients.close();
            store.close();
        }
    }
}
