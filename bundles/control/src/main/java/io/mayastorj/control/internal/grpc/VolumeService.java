package io.mayastorj.control.internal.grpc;

import io.grpc.Context;
import io.grpc.stub.StreamObserver;
import io.mayastorj.api.v1.CreateVolumeRequest;
import io.mayastorj.api.v1.DestroyVolumeRequest;
import io.mayastorj.api.v1.ListVolumesRequest;
import io.mayastorj.api.v1.ListVolumesResponse;
import io.mayastorj.api.v1.PublishVolumeRequest;
import io.mayastorj.api.v1.UnpublishVolumeRequest;
import io.mayastorj.api.v1.Volume;
import io.mayastorj.api.v1.VolumeChild;
import io.mayastorj.api.v1.VolumeReplica;
import io.mayastorj.api.v1.VolumeRpcGrpc;
import io.mayastorj.control.internal.model.MayastorVolume;
import io.mayastorj.control.internal.operator.VolumeOperator;
import io.mayastorj.control.internal.registry.NodeRegistry;
import io.mayastorj.control.internal.store.ResourceStore;
import io.mayastorj.core.error.MayastorException;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * VolumeRpc: volumes as MayastorVolume resources. Create records the resource (the operator makes
 * the replicas); publish and unpublish set the volume's target node and wait, within the call's
 * deadline, for the operator to have made or taken down the nexus.
 */
public final class VolumeService extends VolumeRpcGrpc.VolumeRpcImplBase {

    private static final long WAIT_MILLIS = 60_000;

    private final ResourceStore store;
    private final VolumeOperator operator;
    private final NodeRegistry registry;

    /** Bumped on every change of a volume: callers waiting for one look again. */
    private long volumeChanges;

    public VolumeService(ResourceStore store, VolumeOperator operator, NodeRegistry registry) {
        this.store = store;
        this.operator = operator;
        this.registry = registry;
        store.addListener((kind, name) -> {
            if (kind == MayastorVolume.class) {
                synchronized (this) {
                    volumeChanges++;
                    notifyAll();
                }
            }
        });
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
        String invalid = operator.invalid(spec);
        if (invalid == null) {
            invalid = operator.unknownNode(spec);
        }
        if (invalid != null) {
            throw MayastorException.invalidArgument("volume %s: %s", request.getName(), invalid);
        }
        Optional<MayastorVolume> existing = store.get(MayastorVolume.class, request.getName());
        if (existing.isPresent()) {
            if (existing.get().getMetadata().getDeletionTimestamp() != null) {
                throw MayastorException.failedPrecondition("volume %s is being deleted; create it again once it is gone",
                        request.getName());
            }
            MayastorVolume.Spec have = existing.get().getSpec();
            if (!Objects.equals(have.getRequiredBytes(), spec.getRequiredBytes())
                    || !Objects.equals(have.getReplicaCount(), spec.getReplicaCount())) {
                throw MayastorException.alreadyExists("volume %s exists already with %d bytes and %d replicas",
                        request.getName(), have.getRequiredBytes(), have.getReplicaCount());
            }
            reply(response, toProto(existing.get()));
            return;
        }
        MayastorVolume msv = new MayastorVolume();
        msv.getMetadata().setName(request.getName());
        msv.setSpec(spec);
        store.create(msv);
        // returns once the replicas are made, or with the reason they cannot be (pending)
        reply(response, toProto(await(request.getName(), v -> v.getStatus() != null && v.getStatus().getState() != null,
                "made")));
    }

    @Override
    public void destroyVolume(DestroyVolumeRequest request, StreamObserver<Volume> response) {
        MayastorVolume msv = find(request.getName());
        store.delete(MayastorVolume.class, request.getName());
        reply(response, toProto(store.get(MayastorVolume.class, request.getName()).orElse(msv)));
    }

    @Override
    public void listVolumes(ListVolumesRequest request, StreamObserver<ListVolumesResponse> response) {
        ListVolumesResponse.Builder reply = ListVolumesResponse.newBuilder();
        if (request.getName().isEmpty()) {
            store.list(MayastorVolume.class).forEach(v -> reply.addVolumes(toProto(v)));
        } else {
            reply.addVolumes(toProto(find(request.getName())));
        }
        reply(response, reply.build());
    }

    @Override
    public void publishVolume(PublishVolumeRequest request, StreamObserver<Volume> response) {
        MayastorVolume msv = find(request.getName());
        if (request.getNode().isEmpty() || registry.node(request.getNode()).isEmpty()) {
            throw MayastorException.invalidArgument("volume %s: node '%s' is not registered", request.getName(), request.getNode());
        }
        String state = msv.getStatus() == null ? null : msv.getStatus().getState();
        if (state == null || MayastorVolume.PENDING.equals(state) || msv.getStatus().getReplicas() == null) {
            throw MayastorException.failedPrecondition("volume %s is %s%s: it has no replicas to publish yet", request.getName(),
                    state == null ? "new" : state, msv.getStatus() == null || msv.getStatus().getReason() == null ? ""
                            : " (" + msv.getStatus().getReason() + ")");
        }
        String target = targetFor(msv, request.getNode());
        String current = msv.getSpec().getTargetNode();
        if (current != null && !current.equals(target)) {
            throw MayastorException.failedPrecondition("volume %s is published on %s already; unpublish it first",
                    request.getName(), current);
        }
        if (current == null) {
            msv.getSpec().setTargetNode(target);
            store.update(msv);
        }
        reply(response, toProto(await(request.getName(), v -> v.getStatus() != null && v.getStatus().getNexus() != null
                && v.getStatus().getNexus().getDeviceUri() != null && target.equals(v.getStatus().getNexus().getNode()),
                "published on " + target)));
    }

    /** Where the nexus goes: the application's node for a local volume, else a node that holds a replica. */
    private static String targetFor(MayastorVolume msv, String applicationNode) {
        if (Boolean.TRUE.equals(msv.getSpec().getLocal())) {
            return applicationNode;
        }
        List<MayastorVolume.Replica> replicas = msv.getStatus().getReplicas();
        for (MayastorVolume.Replica r : replicas) {
            if (r.getNode().equals(applicationNode) && !Boolean.TRUE.equals(r.getOffline())) {
                return applicationNode; // a local replica: the nexus reads it without the network
            }
        }
        return replicas.stream().filter(r -> !Boolean.TRUE.equals(r.getOffline()) && !Boolean.TRUE.equals(r.getOutOfSync()))
                .map(MayastorVolume.Replica::getNode).findFirst().orElse(replicas.get(0).getNode());
    }

    @Override
    public void unpublishVolume(UnpublishVolumeRequest request, StreamObserver<Volume> response) {
        MayastorVolume msv = find(request.getName());
        if (msv.getSpec().getTargetNode() != null) {
            msv.getSpec().setTargetNode(null);
            store.update(msv);
        }
        reply(response, toProto(await(request.getName(), v -> v.getStatus() == null || v.getStatus().getNexus() == null,
                "unpublished")));
    }

    private MayastorVolume find(String name) {
        return store.get(MayastorVolume.class, name).orElseThrow(() -> MayastorException.notFound("volume %s not found", name));
    }

    /**
     * Waits until the volume is as wanted, or the call's deadline (at most a minute) is near: it looks
     * again on each change of a volume (and each second, for a store that says nothing).
     */
    private MayastorVolume await(String name, Predicate<MayastorVolume> done, String what) {
        long budget = WAIT_MILLIS;
        if (Context.current().getDeadline() != null) {
            budget = Math.min(budget, Context.current().getDeadline().timeRemaining(TimeUnit.MILLISECONDS) - 500);
        }
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(Math.max(0, budget));
        while (true) {
            long seen;
            synchronized (this) {
                seen = volumeChanges;
            }
            MayastorVolume v = find(name);
            if (done.test(v)) {
                return v;
            }
            if (System.nanoTime() > deadline) {
                throw MayastorException.unavailable("volume %s is not %s yet (%s%s); it is being worked on", name, what,
                        v.getStatus() == null ? "new" : v.getStatus().getState(),
                        v.getStatus() == null || v.getStatus().getReason() == null ? "" : ": " + v.getStatus().getReason());
            }
            try {
                synchronized (this) {
                    if (volumeChanges == seen) {
                        wait(Math.max(1, Math.min(1000, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()))));
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw MayastorException.unavailable("interrupted");
            }
        }
    }

    static Volume toProto(MayastorVolume v) {
        MayastorVolume.Spec spec = v.getSpec();
        MayastorVolume.Status status = v.getStatus();
        Volume.Builder b = Volume.newBuilder().setName(v.getMetadata().getName())
                .setUuid(Objects.toString(v.getMetadata().getUid(), ""))
                .setSize(spec.getRequiredBytes() == null ? 0 : spec.getRequiredBytes())
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
            if (status.getNexus() != null) {
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
