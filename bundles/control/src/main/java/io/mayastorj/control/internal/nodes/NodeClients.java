package io.mayastorj.control.internal.nodes;

import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.mayastorj.api.v1.NexusRpcGrpc;
import io.mayastorj.api.v1.PoolRpcGrpc;
import io.mayastorj.api.v1.ReplicaRpcGrpc;
import io.mayastorj.core.error.ErrorKind;
import io.mayastorj.core.error.MayastorException;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * gRPC channels to the storage nodes' APIs, one per endpoint, made on first use and kept; every
 * call has a deadline, and a node's refusal comes back as a MayastorException of the same kind with
 * the node's own message.
 */
public final class NodeClients implements AutoCloseable {

    private final Duration deadline;
    private final Map<String, ManagedChannel> channels = new HashMap<>();

    public NodeClients(Duration deadline) {
        this.deadline = deadline;
    }

    private synchronized ManagedChannel channel(String endpoint) {
        return channels.computeIfAbsent(endpoint, e -> NettyChannelBuilder.forTarget(e).usePlaintext()
                .keepAliveTime(30, TimeUnit.SECONDS).build());
    }

    /**
     * A node is back: try its channel now. A channel to a node that was away backs off its
     * reconnects (up to two minutes) and fails calls at once meanwhile.
     */
    public synchronized void reconnect(String endpoint) {
        ManagedChannel channel = channels.get(endpoint);
        if (channel != null) {
            channel.resetConnectBackoff();
        }
    }

    public PoolRpcGrpc.PoolRpcBlockingStub pools(String endpoint) {
        return PoolRpcGrpc.newBlockingStub(channel(endpoint)).withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS);
    }

    public ReplicaRpcGrpc.ReplicaRpcBlockingStub replicas(String endpoint) {
        return ReplicaRpcGrpc.newBlockingStub(channel(endpoint)).withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS);
    }

    public NexusRpcGrpc.NexusRpcBlockingStub nexus(String endpoint) {
        return NexusRpcGrpc.newBlockingStub(channel(endpoint)).withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** A node's gRPC error as what it means: the code's kind and the node's message. */
    public static MayastorException translate(String node, StatusRuntimeException e) {
        ErrorKind kind;
        try {
            kind = ErrorKind.valueOf(e.getStatus().getCode().name());
        } catch (IllegalArgumentException unknown) {
            kind = e.getStatus().getCode() == io.grpc.Status.Code.DEADLINE_EXCEEDED ? ErrorKind.UNAVAILABLE : ErrorKind.INTERNAL;
        }
        String message = e.getStatus().getDescription();
        if (message == null || message.isBlank()) {
            message = e.getStatus().getCode().name().toLowerCase().replace('_', ' ');
        }
        return new MayastorException(kind, "node " + node + ": " + message, e);
    }

    @Override
    public synchronized void close() {
        channels.values().forEach(ManagedChannel::shutdownNow);
        channels.clear();
    }
}
