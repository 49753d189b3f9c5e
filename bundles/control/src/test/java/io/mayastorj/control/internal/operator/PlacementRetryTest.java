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
 * Where replicas go when the obvious place is wrong: a pool that keeps refusing, a node holding two
 * of a volume's replicas. The nodes are gRPC servers of the test's, with pools and replicas in memory.
 */
class PlacementRetryTest {

    @TempDir
    Path dir;

    private static Replica replica(CreateReplicaRequest r) {
        return Replica.newBuilder().setUuid(r.getUuid()).setName(r.getName()).setPool(r.getPool()).setSize(r.getSize())
                .setThin(r.getThin()).setUri("bdev:///" + r.getUuid() + "?uuid=" + r.getUuid())
                .setState(io.mayastorj.api.v1.ReplicaState.REPLICA_ONLINE).build();
    }

    /**
     * Review finding: placement knew a pool only by its capacity and use, and a pool that refused every
     * replica for what those do not show (its replica limit, its metadata room) had the most free space
     * of all — so it was chosen again at every pass, and the volume stayed Pending for good while other
     * pools had room. A pool that refused lately is chosen after the others: n1's pool has the most room
     * and refuses, n2's has less and takes the replica.
     */
    @Test
    void aPoolThatRefusedIsChosenAfterTheOthers() throws Exception {
        NodeRegistry registry = new NodeRegistry(Duration.ofSeconds(60), 3);
        NodeClients clients = new NodeClients(Duration.ofSeconds(5));
        FileStore store = new FileStore(dir);
        try (Node n1 = new Node(java.util.Map.of("p1", 10L << 30), true);
             Node n2 = new Node(java.util.Map.of("p2", 5L << 30))) {
            registry.register("n1", "127.0.0.1:" + n1.server.getPort(), "nqn.2019-05.io.openebs:n1");
            registry.register("n2", "127.0.0.1:" + n2.server.getPort(), "nqn.2019-05.io.openebs:n2");
            volume(store, 1);
            VolumeOperator operator = new VolumeOperator(store, registry, clients, Duration.ofMinutes(5));
            List<String> failures = new ArrayList<>();
            for (int pass = 0; pass < 3 && n2.created.isEmpty(); pass++) {
                try {
                    operator.reconcile("db");
                } catch (MayastorException e) {
                    failures.add(e.getMessage());
                }
            }
            assertEquals(List.of("p2"), n2.created, "the replica was made on n2 (failures: " + failures + ")");
            assertEquals(List.of(), n1.created, "n1 made none");
        } finally {
            clients.close();
            registry.close();
            store.close();
        }
    }

    /** Volume "db" of 1 GiB with {@code replicas} replicas, as a user makes it. */
    private static MayastorVolume volume(FileStore store, int replicas) {
        MayastorVolume v = new MayastorVolume();
        v.setMetadata(new ObjectMetaBuilder().withName("db").build());
        MayastorVolume.Spec spec = new MayastorVolume.Spec();
        spec.setReplicaCount(replicas);
        spec.setRequiredBytes(1L << 30);
        spec.setProtocol("nvmf");
        v.setSpec(spec);
        return store.create(v);
    }

    /**
     * A node with pools (name → free bytes) and the replicas made in them; CreateReplica and DestroyReplica
     * work, unless {@code refuse}: every CreateReplica is RESOURCE_EXHAUSTED (a pool at its replica limit).
     */
    private static final class Node implements AutoCloseable {
        final java.util.Map<String, Replica> replicas = new java.util.concurrent.ConcurrentHashMap<>();
        final List<String> created = new CopyOnWriteArrayList<>();
        final List<String> destroyed = new CopyOnWriteArrayList<>();
        final Server server;

        Node(java.util.Map<String, Long> pools) throws Exception {
            this(pools, false);
        }

        Node(java.util.Map<String, Long> pools, boolean refuse) throws Exception {
            server = ServerBuilder.forPort(0)
                    .addService(new PoolRpcGrpc.PoolRpcImplBase() {
                        @Override
                        public void listPools(ListPoolOptions request, StreamObserver<ListPoolsResponse> response) {
                            ListPoolsResponse.Builder list = ListPoolsResponse.newBuilder();
                            pools.forEach((name, free) -> list.addPools(Pool.newBuilder().setName(name).setState(PoolState.POOL_ONLINE)
                                    .setCapacity(free).setUsed(0).addDisks("/dev/" + name)));
                            response.onNext(list.build());
                            response.onCompleted();
                        }
                    })
                    .addService(new ReplicaRpcGrpc.ReplicaRpcImplBase() {
                        @Override
                        public void listReplicas(ListReplicaOptions request, StreamObserver<ListReplicasResponse> response) {
                            response.onNext(ListReplicasResponse.newBuilder().addAllReplicas(replicas.values()).build());
                            response.onCompleted();
                        }

                        @Override
                        public void createReplica(CreateReplicaRequest request, StreamObserver<Replica> response) {
                            if (refuse) {
                                response.onError(Status.RESOURCE_EXHAUSTED.withDescription("pool " + request.getPool()
                                        + " holds its maximum of 512 replicas").asRuntimeException());
                                return;
                            }
                            Replica r = replica(request);
                            replicas.put(r.getUuid(), r);
                            created.add(request.getPool());
                            response.onNext(r);
                            response.onCompleted();
                        }

                        @Override
                        public void destroyReplica(io.mayastorj.api.v1.DestroyReplicaRequest request,
                                                   StreamObserver<io.mayastorj.api.v1.DestroyReplicaResponse> response) {
                            Replica r = replicas.remove(request.getUuid());
                            destroyed.add(r == null ? "none" : r.getPool());
                            response.onNext(io.mayastorj.api.v1.DestroyReplicaResponse.getDefaultInstance());
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

        /** A replica of {@code volume} in {@code pool}, as if made earlier; recorded in sync in the volume's status. */
        MayastorVolume.Replica holds(String node, String pool, String replicaName) {
            String uuid = java.util.UUID.randomUUID().toString();
            replicas.put(uuid, replica(CreateReplicaRequest.newBuilder().setUuid(uuid).setName(replicaName).setPool(pool)
                    .setSize(1L << 30).build()));
            MayastorVolume.Replica rec = new MayastorVolume.Replica();
            rec.setNode(node);
            rec.setPool(pool);
            rec.setUri("bdev:///" + uuid + "?uuid=" + uuid);
            rec.setOffline(false);
            rec.setOutOfSync(false);
            return rec;
        }

        @Override
        public void close() {
            server.shutdownNow();
        }
    }

    /**
     * Review finding: the replica count was kept by number, not by node. A pool given up (away past the
     * grace) and replaced on its node's other pool, then back, left two of a volume's three replicas on
     * one node, and the volume called itself whole for good: that node's loss took two copies. A third
     * node now gets one, and one of the two on the same node goes.
     */
    @Test
    void twoReplicasOnOneNodeAreSpreadToANodeWithout() throws Exception {
        NodeRegistry registry = new NodeRegistry(Duration.ofSeconds(60), 3);
        NodeClients clients = new NodeClients(Duration.ofSeconds(5));
        FileStore store = new FileStore(dir);
        try (Node n1 = new Node(java.util.Map.of("p1", 10L << 30));
             Node n2 = new Node(java.util.Map.of("p2a", 10L << 30, "p2b", 10L << 30));
             Node n3 = new Node(java.util.Map.of("p3", 5L << 30))) {
            registry.register("n1", "127.0.0.1:" + n1.server.getPort(), "nqn.2019-05.io.openebs:n1");
            registry.register("n2", "127.0.0.1:" + n2.server.getPort(), "nqn.2019-05.io.openebs:n2");
            registry.register("n3", "127.0.0.1:" + n3.server.getPort(), "nqn.2019-05.io.openebs:n3");
            MayastorVolume made = volume(store, 3);
            String replicaName = VolumeOperator.REPLICA_PREFIX + made.getMetadata().getUid();
            MayastorVolume.Status status = new MayastorVolume.Status();
            status.setState(MayastorVolume.HEALTHY);
            status.setSize(1L << 30);
            status.setReplicas(new ArrayList<>(List.of(n1.holds("n1", "p1", replicaName), n2.holds("n2", "p2a", replicaName),
                    n2.holds("n2", "p2b", replicaName))));
            made.setStatus(status);
            store.updateStatus(made);
            VolumeOperator operator = new VolumeOperator(store, registry, clients, Duration.ofMinutes(5));
            operator.reconcile("db");
            assertEquals(List.of("p3"), n3.created, "n3, the node without one, gets a replica");
            operator.reconcile("db");
            assertEquals(List.of(), n2.destroyed, "n2's second copy in sync stays while n3's is not rebuilt");
            MayastorVolume rebuilt = store.get(MayastorVolume.class, "db").orElseThrow();
            rebuilt.getStatus().getReplicas().forEach(r -> r.setOutOfSync(false)); // as a nexus's rebuild leaves it
            store.updateStatus(rebuilt);
            operator.reconcile("db");
            assertEquals(1, n2.destroyed.size(), "one of n2's two goes: " + n2.destroyed);
            assertEquals(List.of(), n1.destroyed);
            assertEquals(List.of(), n3.destroyed, "not the new one, made to spread the volume");
            operator.reconcile("db");
            assertEquals(1, n3.created.size(), "nothing more: " + n3.created);
            assertEquals(1, n2.destroyed.size());
        } finally {
            clients.close();
            registry.close();
            store.close();
        }
    }
}
