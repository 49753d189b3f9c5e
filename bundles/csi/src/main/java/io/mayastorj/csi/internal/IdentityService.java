package io.mayastorj.csi.internal;

import com.google.protobuf.BoolValue;
import io.grpc.stub.StreamObserver;
import io.mayastorj.csi.CsiReadiness;
import io.mayastorj.csi.v1.GetPluginCapabilitiesRequest;
import io.mayastorj.csi.v1.GetPluginCapabilitiesResponse;
import io.mayastorj.csi.v1.GetPluginInfoRequest;
import io.mayastorj.csi.v1.GetPluginInfoResponse;
import io.mayastorj.csi.v1.IdentityGrpc;
import io.mayastorj.csi.v1.PluginCapability;
import io.mayastorj.csi.v1.ProbeRequest;
import io.mayastorj.csi.v1.ProbeResponse;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * Identity: the driver's name and version, what it offers (a controller, volumes reachable from
 * some nodes only — local volumes —, online expansion), and Probe, which is ready only when every
 * part of the driver in this runtime says so.
 */
final class IdentityService extends IdentityGrpc.IdentityImplBase {

    private static final Logger LOG = System.getLogger("mayastor.csi");

    private final String version;
    private final Supplier<List<CsiReadiness>> parts;
    private volatile String lastReason;

    IdentityService(String version, Supplier<List<CsiReadiness>> parts) {
        this.version = version;
        this.parts = parts;
    }

    @Override
    public void getPluginInfo(GetPluginInfoRequest request, StreamObserver<GetPluginInfoResponse> response) {
        response.onNext(GetPluginInfoResponse.newBuilder().setName(CsiReadiness.DRIVER).setVendorVersion(version).build());
        response.onCompleted();
    }

    @Override
    public void getPluginCapabilities(GetPluginCapabilitiesRequest request,
                                      StreamObserver<GetPluginCapabilitiesResponse> response) {
        response.onNext(GetPluginCapabilitiesResponse.newBuilder()
                .addCapabilities(service(PluginCapability.Service.Type.CONTROLLER_SERVICE))
                .addCapabilities(service(PluginCapability.Service.Type.VOLUME_ACCESSIBILITY_CONSTRAINTS))
                .addCapabilities(PluginCapability.newBuilder().setVolumeExpansion(PluginCapability.VolumeExpansion.newBuilder()
                        .setType(PluginCapability.VolumeExpansion.Type.ONLINE)))
                .build());
        response.onCompleted();
    }

    private static PluginCapability service(PluginCapability.Service.Type type) {
        return PluginCapability.newBuilder().setService(PluginCapability.Service.newBuilder().setType(type)).build();
    }

    /** Ready when some part serves and none says it is not ready; the reason is logged once per change. */
    @Override
    public void probe(ProbeRequest request, StreamObserver<ProbeResponse> response) {
        String reason = notReady(parts.get());
        if (reason != null && !reason.equals(lastReason)) {
            LOG.log(Level.INFO, "CSI probe: not ready: {0}", reason);
        }
        lastReason = reason;
        response.onNext(ProbeResponse.newBuilder().setReady(BoolValue.of(reason == null)).build());
        response.onCompleted();
    }

    /** Why the driver is not ready (Probe, and the runtime's /readyz), or null. */
    static String notReady(List<CsiReadiness> all) {
        List<String> reasons = new ArrayList<>();
        if (all.isEmpty()) {
            reasons.add("neither the controller nor the node service is running in this process");
        }
        for (CsiReadiness part : all) {
            String reason = part.notReady();
            if (reason != null) {
                reasons.add(reason);
            }
        }
        return reasons.isEmpty() ? null : String.join("; ", reasons);
    }
}
