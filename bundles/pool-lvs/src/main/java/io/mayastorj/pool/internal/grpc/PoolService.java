package io.mayastorj.pool.internal.grpc;

import com.google.protobuf.Empty;
import io.grpc.BindableService;
import io.grpc.stub.StreamObserver;
import io.mayastorj.api.v1.CreatePoolRequest;
import io.mayastorj.api.v1.DestroyPoolRequest;
import io.mayastorj.api.v1.ExportPoolRequest;
import io.mayastorj.api.v1.ImportPoolRequest;
import io.mayastorj.api.v1.ListPoolOptions;
import io.mayastorj.api.v1.ListPoolsResponse;
import io.mayastorj.api.v1.Pool;
import io.mayastorj.api.v1.PoolRpcGrpc;
import io.mayastorj.api.v1.PoolState;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.core.text.Uuids;
import io.mayastorj.pool.internal.LvStore;
import io.mayastorj.pool.internal.PoolManager;
import java.util.List;
import java.util.UUID;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/** PoolRpc: a thin adapter over the pool manager. */
@Component(service = BindableService.class)
public final class PoolService extends PoolRpcGrpc.PoolRpcImplBase {

    private final PoolManager pools;

    @Activate
    public PoolService(@Reference PoolManager pools) {
        this.pools = pools;
    }

    @Override
    public void createPool(CreatePoolRequest request, StreamObserver<Pool> response) {
        String disk = oneDisk(request.getDisksList());
        UUID uuid = request.getUuid().isEmpty() ? null : Uuids.parse(request.getUuid());
        reply(response, toProto(pools.create(request.getName(), uuid, disk, request.getClusterSize())));
    }

    @Override
    public void importPool(ImportPoolRequest request, StreamObserver<Pool> response) {
        String disk = oneDisk(request.getDisksList());
        UUID uuid = request.getUuid().isEmpty() ? null : Uuids.parse(request.getUuid());
        reply(response, toProto(pools.importPool(request.getName(), uuid, disk, request.getForceRollback())));
    }

    @Override
    public void destroyPool(DestroyPoolRequest request, StreamObserver<Empty> response) {
        pools.destroy(request.getName(), request.getForce());
        reply(response, Empty.getDefaultInstance());
    }

    @Override
    public void exportPool(ExportPoolRequest request, StreamObserver<Empty> response) {
        pools.export(request.getName());
        reply(response, Empty.getDefaultInstance());
    }

    @Override
    public void listPools(ListPoolOptions request, StreamObserver<ListPoolsResponse> response) {
        ListPoolsResponse.Builder reply = ListPoolsResponse.newBuilder();
        List<PoolManager.Entry> entries = request.getName().isEmpty() ? pools.pools() : List.of(pools.find(request.getName()));
        entries.forEach(e -> reply.addPools(toProto(e)));
        reply(response, reply.build());
    }

    private static String oneDisk(List<String> disks) {
        if (disks.size() != 1 || disks.get(0).isBlank()) {
            throw MayastorException.invalidArgument("a pool takes exactly one disk, got %d", disks.size());
        }
        return disks.get(0);
    }

    static <T> void reply(StreamObserver<T> response, T value) {
        response.onNext(value);
        response.onCompleted();
    }

    static Pool toProto(PoolManager.Entry entry) {
        Pool.Builder pool = Pool.newBuilder()
                .setName(entry.name())
                .addDisks(entry.disk())
                .setState(switch (entry.state()) {
                    case ONLINE -> PoolState.POOL_ONLINE;
                    case DEGRADED -> PoolState.POOL_DEGRADED;
                    case FAULTED -> PoolState.POOL_FAULTED;
                })
                .setDiskCapacity(entry.diskCapacity());
        if (entry.reason() != null) {
            pool.setReason(entry.reason());
        }
        entry.store().ifPresent(store -> fill(pool, store));
        return pool.build();
    }

    private static void fill(Pool.Builder pool, LvStore store) {
        pool.setUuid(store.uuid().toString())
                .setCapacity(store.capacity())
                .setUsed(store.usedBytes())
                .setCommitted(store.committedBytes())
                .setClusterSize(store.clusterSize())
                .setReplicas(store.replicas().size() + store.damagedReplicas().size())
                .setMetadataPagesUsed(store.metadataPagesUsed())
                .setMetadataPagesTotal(store.metadataPagesTotal());
    }
}
