package io.mayastorj.nexus.internal.grpc;

import io.grpc.BindableService;
import io.grpc.stub.StreamObserver;
import io.mayastorj.api.v1.AddChildNexusRequest;
import io.mayastorj.api.v1.Child;
import io.mayastorj.api.v1.ChildState;
import io.mayastorj.api.v1.ChildStateReason;
import io.mayastorj.api.v1.CreateNexusRequest;
import io.mayastorj.api.v1.DestroyNexusRequest;
import io.mayastorj.api.v1.DestroyNexusResponse;
import io.mayastorj.api.v1.FaultNexusChildRequest;
import io.mayastorj.api.v1.ListNexusOptions;
import io.mayastorj.api.v1.ListNexusResponse;
import io.mayastorj.api.v1.Nexus;
import io.mayastorj.api.v1.NexusRpcGrpc;
import io.mayastorj.api.v1.NexusState;
import io.mayastorj.api.v1.NvmeAnaState;
import io.mayastorj.api.v1.PublishNexusRequest;
import io.mayastorj.api.v1.RebuildRequest;
import io.mayastorj.api.v1.RebuildStats;
import io.mayastorj.api.v1.RemoveChildNexusRequest;
import io.mayastorj.api.v1.ResizeNexusRequest;
import io.mayastorj.api.v1.SetNexusAnaStateRequest;
import io.mayastorj.api.v1.UnpublishNexusRequest;
import io.mayastorj.core.bdev.AccessState;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.core.text.Uuids;
import io.mayastorj.nexus.internal.NexusManager;
import io.mayastorj.nexus.internal.NexusView;
import java.util.UUID;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/** NexusRpc: a thin adapter over the nexus manager; refusals map to gRPC codes in core's server. */
@Component(service = BindableService.class)
public final class NexusService extends NexusRpcGrpc.NexusRpcImplBase {

    private final NexusManager nexuses;

    @Activate
    public NexusService(@Reference NexusManager nexuses) {
        this.nexuses = nexuses;
    }

    private static <T> void reply(StreamObserver<T> response, T value) {
        response.onNext(value);
        response.onCompleted();
    }

    @Override
    public void createNexus(CreateNexusRequest request, StreamObserver<Nexus> response) {
        UUID uuid = Uuids.parse(request.getUuid());
        String name = request.getName().isEmpty() ? uuid.toString() : request.getName();
        reply(response, toProto(nexuses.create(name, uuid, request.getSize(), request.getChildrenList(),
                request.getKnownIncarnation())));
    }

    @Override
    public void destroyNexus(DestroyNexusRequest request, StreamObserver<DestroyNexusResponse> response) {
        nexuses.destroy(request.getNexus(), request.getRefuseIfConnected());
        reply(response, DestroyNexusResponse.getDefaultInstance());
    }

    @Override
    public void listNexus(ListNexusOptions request, StreamObserver<ListNexusResponse> response) {
        ListNexusResponse.Builder list = ListNexusResponse.newBuilder();
        if (request.getName().isEmpty()) {
            nexuses.list().forEach(n -> list.addNexusList(toProto(n)));
        } else {
            list.addNexusList(toProto(nexuses.get(request.getName())));
        }
        reply(response, list.build());
    }

    @Override
    public void addChildNexus(AddChildNexusRequest request, StreamObserver<Nexus> response) {
        reply(response, toProto(nexuses.addChild(request.getNexus(), request.getUri())));
    }

    @Override
    public void removeChildNexus(RemoveChildNexusRequest request, StreamObserver<Nexus> response) {
        reply(response, toProto(nexuses.removeChild(request.getNexus(), request.getUri())));
    }

    @Override
    public void faultNexusChild(FaultNexusChildRequest request, StreamObserver<Nexus> response) {
        reply(response, toProto(nexuses.faultChild(request.getNexus(), request.getUri())));
    }

    @Override
    public void publishNexus(PublishNexusRequest request, StreamObserver<Nexus> response) {
        String protocol = switch (request.getShare()) {
            case NVMF -> "nvmf";
            case ISCSI -> "iscsi";
            default -> throw MayastorException.invalidArgument("share protocol %s: publish over NVMF or ISCSI", request.getShare());
        };
        reply(response, toProto(nexuses.publish(request.getNexus(), protocol, request.getAllowedHostsList())));
    }

    @Override
    public void resizeNexus(ResizeNexusRequest request, StreamObserver<Nexus> response) {
        reply(response, toProto(nexuses.resize(request.getNexus(), request.getRequestedSize())));
    }

    @Override
    public void unpublishNexus(UnpublishNexusRequest request, StreamObserver<Nexus> response) {
        reply(response, toProto(nexuses.unpublish(request.getNexus(), request.getRefuseIfConnected())));
    }

    @Override
    public void pauseRebuild(RebuildRequest request, StreamObserver<Nexus> response) {
        reply(response, toProto(nexuses.rebuild(request.getNexus(), request.getUri(), NexusManager.RebuildAction.PAUSE)));
    }

    @Override
    public void resumeRebuild(RebuildRequest request, StreamObserver<Nexus> response) {
        reply(response, toProto(nexuses.rebuild(request.getNexus(), request.getUri(), NexusManager.RebuildAction.RESUME)));
    }

    @Override
    public void stopRebuild(RebuildRequest request, StreamObserver<Nexus> response) {
        reply(response, toProto(nexuses.rebuild(request.getNexus(), request.getUri(), NexusManager.RebuildAction.CANCEL)));
    }

    @Override
    public void setNexusAnaState(SetNexusAnaStateRequest request, StreamObserver<Nexus> response) {
        AccessState state = switch (request.getAnaState()) {
            case NVME_ANA_OPTIMIZED_STATE -> AccessState.OPTIMIZED;
            case NVME_ANA_NON_OPTIMIZED_STATE -> AccessState.NON_OPTIMIZED;
            case NVME_ANA_INACCESSIBLE_STATE -> AccessState.INACCESSIBLE;
            case NVME_ANA_PERSISTENT_LOSS_STATE -> AccessState.PERSISTENT_LOSS;
            case NVME_ANA_CHANGE_STATE -> AccessState.CHANGE;
            default -> throw MayastorException.invalidArgument("ana_state %s is not a state a path can be in", request.getAnaState());
        };
        reply(response, toProto(nexuses.accessState(request.getNexus(), state)));
    }

    static NvmeAnaState ana(AccessState state) {
        return switch (state) {
            case OPTIMIZED -> NvmeAnaState.NVME_ANA_OPTIMIZED_STATE;
            case NON_OPTIMIZED -> NvmeAnaState.NVME_ANA_NON_OPTIMIZED_STATE;
            case INACCESSIBLE -> NvmeAnaState.NVME_ANA_INACCESSIBLE_STATE;
            case PERSISTENT_LOSS -> NvmeAnaState.NVME_ANA_PERSISTENT_LOSS_STATE;
            case CHANGE -> NvmeAnaState.NVME_ANA_CHANGE_STATE;
        };
    }

    static Nexus toProto(NexusView v) {
        Nexus.Builder n = Nexus.newBuilder().setName(v.name()).setUuid(v.uuid().toString()).setSize(v.sizeBytes())
                .setDeviceUri(v.deviceUri()).setAnaState(ana(v.access())).setIncarnation(v.incarnation())
                .setState(switch (v.state()) {
                    case "online" -> NexusState.NEXUS_ONLINE;
                    case "degraded" -> NexusState.NEXUS_DEGRADED;
                    case "faulted" -> NexusState.NEXUS_FAULTED;
                    case "shutdown" -> NexusState.NEXUS_SHUTDOWN;
                    default -> NexusState.NEXUS_UNKNOWN;
                });
        for (NexusView.ChildView c : v.children()) {
            Child.Builder child = Child.newBuilder().setUri(c.uri()).setCause(c.cause()).setSinceMs(c.sinceMillis())
                    .setState(switch (c.state()) {
                        case "online" -> ChildState.CHILD_ONLINE;
                        case "rebuilding" -> ChildState.CHILD_DEGRADED;
                        default -> ChildState.CHILD_FAULTED;
                    })
                    .setReason(c.state().equals("rebuilding") ? ChildStateReason.REASON_OUT_OF_SYNC
                            : ChildStateReason.valueOf("REASON_" + c.reason()));
            NexusView.RebuildView r = c.rebuild();
            if (r != null) {
                child.setRebuild(RebuildStats.newBuilder().setState(r.state()).setPartial(r.partial())
                        .setSegmentBytes(r.segmentBytes()).setSegmentsTotal(r.total()).setSegmentsDone(r.done())
                        .setBytesCopied(r.bytesCopied()).setSegmentsZeroed(r.zeroed()).setSegmentsSkipped(r.skipped()).setProgress(r.progress() * 100)
                        .setBytesPerSecond(r.rate()).setEtaSeconds(r.etaSeconds()).setStartTimeMs(r.startMillis())
                        .setError(r.error()));
            }
            n.addChildren(child);
        }
        return n.build();
    }
}
