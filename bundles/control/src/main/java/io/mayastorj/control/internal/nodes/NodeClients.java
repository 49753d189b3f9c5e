package io.mayastorj.control.internal.nodes;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ConnectivityState;
import io.grpc.ForwardingClientCall;
import io.grpc.ForwardingClientCallListener;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
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
import java.util.concurrent.atomic.AtomicLong;

/**
 * gRPC channels to the storage nodes' APIs, one per endpoint, made on first use and kept; every
 * call has a deadline, and a node's refusal comes back as a MayastorException of the same kind with
 * the node's own message. Every call that may change a node (any but List*) is counted as it starts
 * and as it ends, so a view of the nodes can tell whether it may be out of date ({@link #changes()}).
 */
public final class NodeClients implements AutoCloseable {

    private final Duration deadline;
    private final Map<String, ManagedChannel> channels = new HashMap<>();
    private final AtomicLong changes = new AtomicLong();
    private volatile java.util.function.BooleanSupplier acting = () -> true;
    private final ClientInterceptor counter = new ClientInterceptor() {
        @Override
        public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
            String name = method.getBareMethodName();
            if (name != null && name.startsWith("List")) {
                return next.newCall(method, options);
            }
            if (!acting.getAsBoolean()) {
                return new Refused<>(name);
            }
            ClientCall<Q, R> call = next.newCall(method, options);
            return new ForwardingClientCall.SimpleForwardingClientCall<>(call) {
                @Override
                public void start(Listener<R> listener, Metadata headers) {
                    changes.incrementAndGet();
                    super.start(new ForwardingClientCallListener.SimpleForwardingClientCallListener<>(listener) {
                        @Override
                        public void onClose(Status status, Metadata trailers) {
                            changes.incrementAndGet();
                            super.onClose(status, trailers);
                        }
                    }, headers);
                }
            };
        }
    };

    public NodeClients(Duration deadline) {
        this.deadline = deadline;
    }

    /** Every call's deadline, unless a caller gives its stub another. */
    public Duration deadline() {
        return deadline;
    }

    /**
     * From now on a call that may change a node starts only while {@code acting} says so: a leader
     * paused past its lease, or reconciling past its leadership, would otherwise make, share or
     * destroy beside the new leader.
     */
    public void actingWhile(java.util.function.BooleanSupplier acting) {
        this.acting = acting;
    }

    /** A call this control plane may not make: it fails as it starts, UNAVAILABLE, and nothing is sent. */
    private static final class Refused<Q, R> extends ClientCall<Q, R> {
        private final String method;

        Refused(String method) {
            this.method = method;
        }

        @Override
        public void start(Listener<R> listener, Metadata headers) {
            listener.onClose(Status.UNAVAILABLE.withDescription("this control plane no longer leads: " + method
                    + " not sent"), new Metadata());
        }

        @Override
        public void request(int messages) {
        }

        @Override
        public void cancel(String message, Throwable cause) {
        }

        @Override
        public void halfClose() {
        }

        @Override
        public void sendMessage(Q message) {
        }
    }

    private synchronized ManagedChannel channel(String endpoint) {
        return channels.computeIfAbsent(endpoint, e -> NettyChannelBuilder.forTarget(e).usePlaintext()
                .keepAliveTime(30, TimeUnit.SECONDS).intercept(counter).build());
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

    /**
     * A node was heard from: a channel to it that is failing (a node restarted faster than it was
     * found missing) tries again now instead of after its backoff.
     */
    public synchronized void heard(String endpoint) {
        ManagedChannel channel = channels.get(endpoint);
        if (channel != null && channel.getState(false) == ConnectivityState.TRANSIENT_FAILURE) {
            channel.resetConnectBackoff();
        }
    }

    /** Calls that may have changed a node, started or ended, so far. */
    public long changes() {
        return changes.get();
    }

    public PoolRpcGrpc.PoolRpcFutureStub poolsAsync(String endpoint) {
        return PoolRpcGrpc.newFutureStub(channel(endpoint)).withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS);
    }

    public ReplicaRpcGrpc.ReplicaRpcFutureStub replicasAsync(String endpoint) {
        return ReplicaRpcGrpc.newFutureStub(channel(endpoint)).withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS);
    }

    public NexusRpcGrpc.NexusRpcFutureStub nexusAsync(String endpoint) {
        return NexusRpcGrpc.newFutureStub(channel(endpoint)).withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** The result of an async call, or its failure as the blocking stub would throw it. */
    public static <T> T await(java.util.concurrent.Future<T> call) {
        try {
            return call.get();
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof StatusRuntimeException s) {
                throw s;
            }
            throw Status.fromThrowable(e.getCause()).asRuntimeException();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw Status.CANCELLED.withDescription("interrupted").asRuntimeException();
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
        if (e.getStatus().getCode() == io.grpc.Status.Code.DEADLINE_EXCEEDED) {
            kind = ErrorKind.UNAVAILABLE; // a node that does not answer in time is as good as away
        } else if (e.getStatus().getCode() == io.grpc.Status.Code.ABORTED) {
            // the node is busy with another call on the object ("ask again"): tried again after a backoff.
            // In the control plane ABORTED is kept for a write that lost a race in the resource store, which
            // the reconciler reruns at once
            kind = ErrorKind.UNAVAILABLE;
        } else {
            try {
                kind = ErrorKind.valueOf(e.getStatus().getCode().name());
            } catch (IllegalArgumentException unknown) {
                kind = ErrorKind.INTERNAL;
            }
        }
        String message = e.getStatus().getDescription();
        if (e.getStatus().getCode() == io.grpc.Status.Code.DEADLINE_EXCEEDED) {
            // gRPC's text names the time waited to the nanosecond and the remote address: a reason
            // written to a status that differed on every pass was a new status and event each time
            message = "did not answer in time";
        } else if (message == null || message.isBlank()) {
            message = e.getStatus().getCode().name().toLowerCase(java.util.Locale.ROOT).replace('_', ' ');
        }
        return new MayastorException(kind, "node " + node + ": " + message, e);
    }

    @Override
    public synchronized void close() {
        channels.values().forEach(ManagedChannel::shutdownNow);
        channels.clear();
    }
}
