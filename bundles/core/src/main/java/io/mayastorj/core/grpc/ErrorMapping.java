package io.mayastorj.core.grpc;

import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.mayastorj.core.error.MayastorException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;

/**
 * Turns what a service throws into a gRPC status: a {@link MayastorException} becomes the code of
 * its kind with its message, a {@link io.grpc.StatusRuntimeException} keeps its status; anything
 * else is a bug, logged with its stack and reported as INTERNAL. Services stay thin: they throw and never build statuses themselves.
 */
public final class ErrorMapping implements ServerInterceptor {

    private static final Logger LOG = System.getLogger("mayastor.grpc");

    public static Status statusOf(Throwable error) {
        if (error instanceof MayastorException e) {
            return Status.fromCode(Status.Code.valueOf(e.kind().name())).withDescription(e.getMessage());
        }
        if (error instanceof io.grpc.StatusRuntimeException e) {
            return e.getStatus(); // a status already (a call of another service's, or the caller gone): its code stands
        }
        return Status.INTERNAL.withDescription("internal error: " + error);
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                     ServerCallHandler<Q, R> next) {
        ServerCall.Listener<Q> delegate = next.startCall(call, headers);
        return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(delegate) {
            @Override
            public void onMessage(Q message) {
                try {
                    super.onMessage(message);
                } catch (RuntimeException | Error e) {
                    fail(call, e);
                }
            }

            @Override
            public void onHalfClose() {
                try {
                    super.onHalfClose();
                } catch (RuntimeException | Error e) {
                    fail(call, e);
                }
            }
        };
    }

    /**
     * An Error too (a native library that cannot bind: UnsatisfiedLinkError): uncaught, gRPC closed the call
     * UNKNOWN "Application error processing RPC", and what failed was said nowhere the caller could see.
     */
    private static void fail(ServerCall<?, ?> call, Throwable e) {
        String method = call.getMethodDescriptor().getFullMethodName();
        if (e instanceof MayastorException || e instanceof io.grpc.StatusRuntimeException || call.isCancelled()) {
            LOG.log(Level.DEBUG, "{0}: {1}", method, e); // not a bug: a refusal, a status passed on, or a caller gone
        } else {
            LOG.log(Level.ERROR, method + " failed", e);
        }
        call.close(statusOf(e), new Metadata());
        if (e instanceof VirtualMachineError vm) {
            throw vm; // out of memory, a stack overflow: the caller is told, and the JVM still learns of it
        }
    }
}
