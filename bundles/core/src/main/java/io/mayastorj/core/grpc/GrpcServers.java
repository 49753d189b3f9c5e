package io.mayastorj.core.grpc;

/**
 * A {@code BindableService} registered in OSGi is served by the node's gRPC server (its API
 * endpoint) unless it names another server with the property {@link #SERVER}: the CSI driver's
 * services, for one, are served only on the CSI endpoint.
 */
public final class GrpcServers {

    /** Service property: which server serves it. Absent: the node's API endpoint. */
    public static final String SERVER = "mayastor.grpc.server";

    /** The CSI endpoint's server. */
    public static final String CSI = "csi";

    private GrpcServers() {
    }
}
