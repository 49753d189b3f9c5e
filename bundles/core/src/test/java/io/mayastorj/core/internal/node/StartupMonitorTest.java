package io.mayastorj.core.internal.node;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class StartupMonitorTest {

    @Test
    void theReasonIsOurMessageNotTheWrapperNorTheLibraryUnderIt() {
        String trace = """
                java.lang.reflect.InvocationTargetException
                \tat java.base/jdk.internal.reflect.DirectConstructorHandleAccessor.newInstance(Unknown Source)
                Caused by: java.io.IOException: cannot listen on 127.0.0.1:10124: Address already in use
                \tat io.mayastorj.core.internal.grpc.GrpcServer.start(GrpcServer.java:90)
                Caused by: io.grpc.netty.shaded.io.netty.channel.unix.Errors$NativeIoException: bind(..) failed with error(-98): Address already in use
                \t... 12 more
                """;
        assertEquals("cannot listen on 127.0.0.1:10124: Address already in use", StartupMonitor.reason(trace));
    }

    @Test
    void ourExceptionsLoseTheirKindPrefix() {
        assertEquals("hugepages=on but the pool cannot be put on hugepages",
                StartupMonitor.reason("RESOURCE_EXHAUSTED: hugepages=on but the pool cannot be put on hugepages\n\tat x"));
        assertEquals("a component failed to activate", StartupMonitor.reason(null));
    }
}
