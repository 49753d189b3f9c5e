package io.mayastorj.core.internal.grpc;

import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.net.InetSocketAddress;
import java.net.SocketAddress;

/** Refuses calls that do not come from this machine: for services as strong as a shell. */
final class LoopbackOnly implements ServerInterceptor {

    /** Service property that asks the server for this guard. */
    static final String PROPERTY = "mayastor.grpc.loopback-only";

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                     ServerCallHandler<Q, R> next) {
        SocketAddress remote = call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR);
        if (remote instanceof InetSocketAddress inet && inet.getAddress() != null
                && inet.getAddress().isLoopbackAddress()) {
            return next.startCall(call, headers);
        }
        call.close(Status.PERMISSION_DENIED.withDescription(
                "the shell is served only to clients on the node's own machine (loopback); you connected from "
                        + remote), new Metadata());
        return new ServerCall.Listener<>() {
        };
    }
}
