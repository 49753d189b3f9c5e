package io.mayastorj.core.internal.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Attributes;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.Status;
import io.mayastorj.api.v1.ShellRpcGrpc;
import java.net.InetSocketAddress;
import org.junit.jupiter.api.Test;

class LoopbackOnlyTest {

    /** A call as the server sees it, from a given remote address; records how it was closed. */
    private static final class Call extends ServerCall<Object, Object> {
        final Attributes attributes;
        Status closedWith;

        Call(InetSocketAddress remote) {
            attributes = Attributes.newBuilder().set(Grpc.TRANSPORT_ATTR_REMOTE_ADDR, remote).build();
        }

        @Override public void request(int numMessages) { }
        @Override public void sendHeaders(Metadata headers) { }
        @Override public void sendMessage(Object message) { }
        @Override public void close(Status status, Metadata trailers) { closedWith = status; }
        @Override public boolean isCancelled() { return false; }
        @Override public Attributes getAttributes() { return attributes; }

        @Override
        @SuppressWarnings("unchecked")
        public MethodDescriptor<Object, Object> getMethodDescriptor() {
            return (MethodDescriptor<Object, Object>) (MethodDescriptor<?, ?>) ShellRpcGrpc.getExecuteMethod();
        }
    }

    private boolean started;

    private Status call(String ip) {
        started = false;
        Call call = new Call(new InetSocketAddress(ip, 40000));
        new LoopbackOnly().interceptCall(call, new Metadata(), (c, h) -> {
            started = true;
            return new ServerCall.Listener<>() { };
        });
        return call.closedWith;
    }

    @Test
    void loopbackClientsAreServed() {
        assertNull(call("127.0.0.1"));
        assertTrue(started);
        assertNull(call("127.0.0.3"));
        assertNull(call("::1"));
    }

    @Test
    void otherClientsArePermissionDenied() {
        Status status = call("192.0.2.7");
        assertEquals(Status.Code.PERMISSION_DENIED, status.getCode());
        assertEquals("the shell is served only to clients on the node's own machine (loopback); "
                + "you connected from /192.0.2.7:40000", status.getDescription());
        assertEquals(false, started);
    }
}
