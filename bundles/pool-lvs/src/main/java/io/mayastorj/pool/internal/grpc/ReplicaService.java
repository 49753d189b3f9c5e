package io.mayastorj.pool.internal.grpc;

import io.grpc.BindableService;
import io.grpc.stub.StreamObserver;
import io.mayastorj.api.v1.CreateReplicaRequest;
import io.mayastorj.api.v1.DestroyReplicaRequest;
import io.mayastorj.api.v1.DestroyReplicaResponse;
import io.mayastorj.api.v1.ListReplicaOptions;
import io.mayastorj.api.v1.ListReplicasResponse;
import io.mayastorj.api.v1.Replica;
import io.mayastorj.api.v1.ReplicaRpcGrpc;
import io.mayastorj.api.v1.ReplicaState;
import io.mayastorj.api.v1.ReplicaUsage;
import io.mayastorj.api.v1.ResizeReplicaRequest;
import io.mayastorj.api.v1.ShareProtocol;
import io.mayastorj.api.v1.ShareReplicaRequest;
import io.mayastorj.api.v1.UnshareReplicaRequest;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.core.text.Uuids;
import io.mayastorj.pool.internal.PoolManager;
import io.mayastorj.pool.internal.ReplicaView;
import java.util.Locale;
import java.util.UUID;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/** ReplicaRpc: a thin adapter over the pool manager. */
@Component(service = BindableService.class)
public final class ReplicaService extends ReplicaRpcGrpc.ReplicaRpcImplBase {

    private final PoolManager pools;

    @Activate
    public ReplicaService(@Reference PoolManager pools) {
        this.pools = pools;
    }

    @Override
    public void createReplica(CreateReplicaRequest request, StreamObserver<Replica> response) {
        UUID uuid = Uuids.parse(request.getUuid());
        if (request.getSize() <= 0) {
            throw MayastorException.invalidArgument("replica %s: the size must be greater than zero", uuid);
        }
        String name = request.getName().isEmpty() ? uuid.toString() : request.getName();
        // a share the node cannot make is refused before the replica is: made first, a thick one was given all its
        // clusters and then zeroed whole on this thread to undo it, past the caller's deadline
        String protocol = request.getShare() == ShareProtocol.NONE ? null : protocol(request.getShare());
        if (protocol != null) {
            pools.checkTransport(protocol);
        }
        PoolManager.Made made = pools.makeReplica(request.getPool(), uuid, name, request.getSize(), request.getThin());
        if (protocol != null) {
            try {
                pools.shareReplica(uuid, protocol, request.getAllowedHostsList());
            } catch (MayastorException e) {
                if (made.made()) {
                    pools.destroyReplica(uuid, true); // all or nothing
                } // a retry found the replica made before, with its data: it stays, whatever the share says
                throw e;
            }
        }
        PoolService.reply(response, view(uuid));
    }

    @Override
    public void destroyReplica(DestroyReplicaRequest request, StreamObserver<DestroyReplicaResponse> response) {
        pools.destroyReplica(Uuids.parse(request.getUuid()), request.getForce());
        PoolService.reply(response, DestroyReplicaResponse.getDefaultInstance());
    }

    @Override
    public void listReplicas(ListReplicaOptions request, StreamObserver<ListReplicasResponse> response) {
        ListReplicasResponse.Builder reply = ListReplicasResponse.newBuilder();
        UUID wanted = request.getUuid().isEmpty() ? null : Uuids.parse(request.getUuid()); // a typo is not "no such replica"
        for (ReplicaView r : ReplicaView.all(pools, request.getPool())) {
            if (wanted == null || wanted.equals(r.uuid())) {
                reply.addReplicas(toProto(r));
            }
        }
        if (!request.getUuid().isEmpty() && reply.getReplicasCount() == 0) {
            throw MayastorException.notFound("replica %s not found", request.getUuid());
        }
        PoolService.reply(response, reply.build());
    }

    @Override
    public void shareReplica(ShareReplicaRequest request, StreamObserver<Replica> response) {
        UUID uuid = Uuids.parse(request.getUuid());
        if (!request.getProtocolName().isEmpty()) { // a plugin's transport: recorded with the replica, as nvmf and iscsi are
            pools.shareReplica(uuid, request.getProtocolName(), request.getAllowedHostsList());
        } else if (request.getShare() == ShareProtocol.NONE) {
            pools.unshareReplica(uuid, false);
        } else {
            pools.shareReplica(uuid, protocol(request.getShare()), request.getAllowedHostsList());
        }
        PoolService.reply(response, view(uuid));
    }

    @Override
    public void unshareReplica(UnshareReplicaRequest request, StreamObserver<Replica> response) {
        UUID uuid = Uuids.parse(request.getUuid());
        pools.unshareReplica(uuid, request.getForce());
        PoolService.reply(response, view(uuid));
    }

    @Override
    public void resizeReplica(ResizeReplicaRequest request, StreamObserver<Replica> response) {
        UUID uuid = Uuids.parse(request.getUuid());
        pools.resizeReplica(uuid, request.getRequestedSize());
        PoolService.reply(response, view(uuid));
    }

    private Replica view(UUID uuid) {
        return toProto(ReplicaView.of(pools, pools.replica(uuid)));
    }

    static String protocol(ShareProtocol share) {
        return switch (share) {
            case NVMF -> "nvmf";
            case ISCSI -> "iscsi";
            default -> throw MayastorException.invalidArgument("share protocol %s is not supported", share);
        };
    }

    /**
     * The API's name of a replica's recorded share; an unknown one (written by another version or tool)
     * is shown as none, rather than failing the listing of every replica of the node.
     */
    static ShareProtocol shareOf(String recorded) {
        return switch (recorded.toLowerCase(Locale.ROOT)) {
            case "nvmf" -> ShareProtocol.NVMF;
            case "iscsi" -> ShareProtocol.ISCSI;
            default -> ShareProtocol.NONE;
        };
    }

    static Replica toProto(ReplicaView r) {
        Replica.Builder replica = Replica.newBuilder()
                .setPool(r.pool())
                .setPoolUuid(r.poolUuid().toString())
                .setState(r.damaged() ? ReplicaState.REPLICA_FAULTED : ReplicaState.REPLICA_ONLINE);
        if (r.uuid() != null) {
            replica.setUuid(r.uuid().toString());
        }
        if (r.name() != null) {
            replica.setName(r.name());
        }
        if (r.reason() != null) {
            replica.setReason(r.reason());
        }
        if (!r.damaged()) {
            replica.setSize(r.size())
                    .setThin(r.thin())
                    .setUri(r.shareUri() != null ? r.shareUri() : "bdev:///" + r.uuid() + "?uuid=" + r.uuid())
                    .setUsage(ReplicaUsage.newBuilder()
                            .setCapacity(r.size())
                            .setAllocated(r.allocatedBytes())
                            .setClusterSize(r.clusterSize())
                            .setClustersAllocated(r.clustersAllocated()))
                    .addAllAllowedHosts(r.allowedHosts());
            if (r.shareProtocol() != null) {
                replica.setShare(shareOf(r.shareProtocol()));
            }
        }
        return replica.build();
    }
}
