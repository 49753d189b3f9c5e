package io.mayastorj.control.internal.operator;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.mayastorj.api.v1.CreateReplicaRequest;
import io.mayastorj.api.v1.ListNexusOptions;
import io.mayastorj.api.v1.ListNexusResponse;
import io.mayastorj.api.v1.ListPoolOptions;
import io.mayastorj.api.v1.ListPoolsResponse;
import io.mayastorj.api.v1.ListReplicaOptions;
import io.mayastorj.api.v1.ListReplicasResponse;
import io.mayastorj.api.v1.NexusRpcGrpc;
import io.mayastorj.api.v1.Pool;
import io.mayastorj.api.v1.PoolRpcGrpc;
import io.mayastorj.api.v1.PoolState;
import io.mayastorj.api.v1.Replica;
import io.mayastorj.api.v1.ReplicaRpcGrpc;
import io.mayastorj.control.internal.model.MayastorVolume;
import io.mayastorj.control.internal.nodes.NodeClients;
import io.mayastorj.control.internal.registry.NodeRegistry;
import io.mayastorj.control.internal.store.FileStore;
import io.mayastorj.core.error.MayastorException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Review finding: placement knew a pool only by its capacity and use, and a pool that refused every
 * replica for what those do not show (its replica limit, its metadata room) had the most free space
 * of all — so it was chosen again at every pass, and the volume stayed Pending for good while other
 * pools had room. A pool that refused lately is chosen after the others. The nodes are gRPC servers of
 * the test's: n1's pool has the most room and refuses, n2's has less and takes the replica.
 */
class PlacementRetryTest {

    @TempDir
    Path dir;

    /** A node with one pool; {@code refuse}: every CreateReplica is RESOURCE_EXHAUSTED. */
    private static Server node(String pool, long free, boolean refuse, List<CreateReplicaRequest> made) throws Exception {
        return ServerBuilder.forPort(0)
                .addService(new PoolRpcGrpc.PoolRpcImplBase() {
                    @Override
                    public void listPools(ListPoolOptions request, StreamObserver<ListPoolsResponse> response) {
                        response.onNext(ListPoolsResponse.newBuilder().addPools(Pool.newBuilder().setName(pool)
                                .setState(PoolState.POOL_ONLINE).setCapacity(free).setUsed(0).addDisks("/dev/sdb")).build());
                        response.onCompleted();
                    }
                })
                .addService(new ReplicaRpcGrpc.ReplicaRpcImplBase() {
                    @Override
                    public void listReplicas(ListReplicaOptions request, StreamObserver<ListReplicasResponse> response) {
                        ListReplicasResponse.Builder list = ListReplicasResponse.newBuilder();
                        made.forEach(r -> list.addReplicas(replica(r)));
                        response.onNext(list.build());
                        response.onCompleted();
                    }

                    @Override
                    public void createReplica(CreateReplicaRequest request, StreamObserver<Replica> response) {
                        if (refuse) {
                            response.onError(Status.RESOURCE_EXHAUSTED.withDescription("pool " + pool
                                    + " holds its maximum of 512 replicas").asRuntimeException());
                            return;
                        }
                        made.add(request);
                        response.onNext(replica(request));
                        response.onCompleted();
                    }
                })
                .addService(new NexusRpcGrpc.NexusRpcImplBase() {
                    @Override
                    public void listNexus(ListNexusOptions request, StreamObserver<ListNexusResponse> response) {
                        response.onNext(ListNexusResponse.getDefaultInstance());
                        response.onCompleted();
                    }
                }).build().start();
    }

    private static Replica replica(CreateReplicaRequest r) {
        return Replica.newBuilder().setUuid(r.getUuid()).setName(r.getName()).setPool(r.getPool()).setSize(r.getSize())
                .setThin(r.getThin()).setUri("bdev:///" + r.getUuid() + "?uuid=" + r.getUuid()).build();
    }

    @Test
    void aPoolThatRefusedIsChosenAfterTheOthers() throws Exception {
        List<CreateReplicaRequest> onN1 = new CopyOnWriteArrayList<>();
        List<CreateReplicaRequest> onN2 = new CopyOnWriteArrayList<>();
        Server n1 = node("p1", 10L << 30, true, onN1);
        Server n2 = node("p2", 5L << 30, false, onN2);
        NodeRegistry registry = new NodeRegistry(Duration.ofSeconds(60), 3);
        registry.register("n1", "127.0.0.1:" + n1.getPort(), "nqn.2019-05.io.openebs:n1");
        registry.register("n2", "127.0.0.1:" + n2.getPort(), "nqn.2019-05.io.openebs:n2");
        NodeClients clients = new NodeClients(Duration.ofSeconds(5));
        FileStore store = new FileStore(dir);
        try {
            MayastorVolume v = new MayastorVolume();
            v.setMetadata(new ObjectMetaBuilder().withName("db").withUid("7f1a0000-0000-4000-8000-0000000000d1").build());
            MayastorVolume.Spec spec = new MayastorVolume.Spec();
            spec.setReplicaCount(1);
            spec.setRequiredBytes(1L << 30);
            spec.setProtocol("nvmf");
            v.setSpec(spec);
            store.create(v);
            VolumeOperator operator = new VolumeOperator(store, registry, clients, Duration.ofMinutes(5));
            List<String> failures = new ArrayList<>();
            for (int pass = 0; pass < 3 && onN2.isEmpty(); pass++) {
                try {
                    operator.reconcile("db");
                } catch (MayastorException e) {
                    failures.add(e.getMessage());
                }
            }
            assertEquals(1, onN2.size(), "the replica was made on n2 (failures: " + failures + ")");
            assertEquals(List.of(), onN1, "n1 made none");
        } finally {
            n1.shutdownNow();
            n2.shutdownNow();
            clients.close();
            registry.close();
            store.close();
        }
    }
}
