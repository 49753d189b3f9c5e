package io.mayastorj.control.internal.grpc;

import io.grpc.stub.StreamObserver;
import io.mayastorj.api.v1.CreateVolumeRequest;
import io.mayastorj.api.v1.DestroyVolumeRequest;
import io.mayastorj.api.v1.ListVolumesRequest;
import io.mayastorj.api.v1.MoveVolumeRequest;
import io.mayastorj.api.v1.ListVolumesResponse;
import io.mayastorj.api.v1.PublishVolumeRequest;
import io.mayastorj.api.v1.UnpublishVolumeRequest;
import io.mayastorj.api.v1.Volume;
import io.mayastorj.api.v1.VolumeChild;
import io.mayastorj.api.v1.VolumeReplica;
import io.mayastorj.api.v1.VolumeRpcGrpc;
import io.mayastorj.control.internal.api.Volumes;
import io.mayastorj.control.internal.model.MayastorVolume;
import java.util.Objects;

/**
 * VolumeRpc: volumes as MayastorVolume resources, through {@link Volumes} (create waits for the
 * replicas; publish and unpublish wait, within the call's deadline, for the nexus).
 */
public final class VolumeService extends VolumeRpcGrpc.VolumeRpcImplBase {

    private final Volumes volumes;

    public VolumeService(Volumes volumes) {
        this.volumes = volumes;
    }

    private static <T> void reply(StreamObserver<T> response, T value) {
        response.onNext(value);
        response.onCompleted();
    }

    @Override
    public void createVolume(CreateVolumeRequest request, StreamObserver<Volume> response) {
        MayastorVolume.Spec spec = new MayastorVolume.Spec();
        spec.setReplicaCount(request.getReplicaCount());
        spec.setRequiredBytes(request.getSize());
        spec.setProtocol(request.getProtocol().isEmpty() ? "nvmf" : request.getProtocol());
        spec.setThin(request.getThin() ? Boolean.TRUE : null);
        spec.setLocal(request.getLocal() ? Boolean.TRUE : null);
        spec.setPreferredNodes(request.getPreferredNodesCount() == 0 ? null : request.getPreferredNodesList());
        spec.setRequiredNodes(request.getRequiredNodesCount() == 0 ? null : request.getRequiredNodesList());
        reply(response, toProto(volumes.create(request.getName(), spec)));
    }

    @Override
    public void destroyVolume(DestroyVolumeRequest request, StreamObserver<Volume> response) {
        reply(response, toProto(volumes.destroy(request.getName())));
    }

    @Override
    public void listVolumes(ListVolumesRequest request, StreamObserver<ListVolumesResponse> response) {
        ListVolumesResponse.Builder reply = ListVolumesResponse.newBuilder();
        if (request.getName().isEmpty()) {
            volumes.list().forEach(v -> reply.addVolumes(toProto(v)));
        } else {
            reply.addVolumes(toProto(volumes.find(request.getName())));
        }
        reply(response, reply.build());
    }

    @Override
    public void publishVolume(PublishVolumeRequest request, StreamObserver<Volume> response) {
        reply(response, toProto(volumes.publish(request.getName(), request.getNode())));
    }

    @Override
    public void unpublishVolume(UnpublishVolumeRequest request, StreamObserver<Volume> response) {
        reply(response, toProto(volumes.unpublish(request.getName(), null)));
    }

    @Override
    public void moveVolume(MoveVolumeRequest request, StreamObserver<Volume> response) {
        reply(response, toProto(volumes.move(request.getName(), request.getTargetNode())));
    }

    static Volume toProto(MayastorVolume v) {
        // one made with kubectl may have no spec: shown as such, not an INTERNAL error for the whole listing
        MayastorVolume.Spec spec = v.getSpec() == null ? new MayastorVolume.Spec() : v.getSpec();
        MayastorVolume.Status status = v.getStatus();
        Volume.Builder b = Volume.newBuilder().setName(v.getMetadata().getName())
                .setUuid(Objects.toString(v.getMetadata().getUid(), ""))
                .setSize(v.servedBytes())
                .setReplicaCount(spec.getReplicaCount() == null ? 0 : spec.getReplicaCount())
                .setProtocol(spec.getProtocol() == null ? "nvmf" : spec.getProtocol())
                .setThin(Boolean.TRUE.equals(spec.getThin())).setLocal(Boolean.TRUE.equals(spec.getLocal()))
                .setTargetNode(Objects.toString(spec.getTargetNode(), ""));
        if (v.getMetadata().getDeletionTimestamp() != null) {
            b.setState("deleting");
        }
        if (status != null) {
            if (v.getMetadata().getDeletionTimestamp() == null) {
                b.setState(Objects.toString(status.getState(), ""));
            }
            b.setReason(Objects.toString(status.getReason(), ""));
            // a nexus kept while its node cannot be reached: its children's last states say nothing of now
            if (status.getNexus() != null && !MayastorVolume.NEXUS_UNKNOWN.equals(status.getNexus().getState())) {
                b.setDeviceUri(Objects.toString(status.getNexus().getDeviceUri(), ""));
                for (MayastorVolume.Child c : status.getNexus().getChildren()) {
                    b.addChildren(VolumeChild.newBuilder().setUri(c.getUri()).setState(c.getState())
                            .setRebuildProgress(c.getRebuildProgress() == null ? 0 : c.getRebuildProgress()));
                }
            }
            if (status.getReplicas() != null) {
                for (MayastorVolume.Replica r : status.getReplicas()) {
                    b.addReplicas(VolumeReplica.newBuilder().setNode(r.getNode()).setPool(Objects.toString(r.getPool(), ""))
                            .setUri(Objects.toString(r.getUri(), "")).setOffline(Boolean.TRUE.equals(r.getOffline())));
                }
            }
        }
        return b.build();
    }
}
