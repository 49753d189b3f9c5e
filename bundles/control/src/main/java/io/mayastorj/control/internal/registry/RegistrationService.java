package io.mayastorj.control.internal.registry;

import com.google.protobuf.Empty;
import io.grpc.stub.StreamObserver;
import io.mayastorj.api.v1.DeregisterRequest;
import io.mayastorj.api.v1.RegisterRequest;
import io.mayastorj.api.v1.RegistrationGrpc;

/** The embedded default registry: nodes' heartbeats as gRPC calls (Mayastor's Registration service). */
public final class RegistrationService extends RegistrationGrpc.RegistrationImplBase {

    private final NodeRegistry registry;

    public RegistrationService(NodeRegistry registry) {
        this.registry = registry;
    }

    @Override
    public void register(RegisterRequest request, StreamObserver<Empty> response) {
        registry.register(request.getId(), request.getGrpcEndpoint(), request.getHostNqn(), !request.getApplicationOnly(),
                request.getHeartbeatSeconds());
        response.onNext(Empty.getDefaultInstance());
        response.onCompleted();
    }

    @Override
    public void deregister(DeregisterRequest request, StreamObserver<Empty> response) {
        registry.deregister(request.getId(), !request.getApplicationOnly(), request.getGrpcEndpoint());
        response.onNext(Empty.getDefaultInstance());
        response.onCompleted();
    }
}
