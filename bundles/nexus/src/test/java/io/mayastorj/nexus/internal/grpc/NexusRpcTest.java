package io.mayastorj.nexus.internal.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.mayastorj.api.v1.AddChildNexusRequest;
import io.mayastorj.api.v1.ChildState;
import io.mayastorj.api.v1.ChildStateReason;
import io.mayastorj.api.v1.CreateNexusRequest;
import io.mayastorj.api.v1.DestroyNexusRequest;
import io.mayastorj.api.v1.FaultNexusChildRequest;
import io.mayastorj.api.v1.ListNexusOptions;
import io.mayastorj.api.v1.Nexus;
import io.mayastorj.api.v1.NexusRpcGrpc;
import io.mayastorj.api.v1.NexusState;
import io.mayastorj.api.v1.PublishNexusRequest;
import io.mayastorj.api.v1.RebuildRequest;
import io.mayastorj.api.v1.RemoveChildNexusRequest;
import io.mayastorj.api.v1.ShareProtocol;
import io.mayastorj.core.internal.bdev.BdevRegistryImpl;
import io.mayastorj.core.internal.bdev.MallocBdevFactory;
import io.mayastorj.core.internal.buffer.DmaBufferPool;
import io.mayastorj.core.internal.buffer.HugepageMode;
import io.mayastorj.core.grpc.ErrorMapping;
import io.mayastorj.core.internal.share.ShareManagerImpl;
import io.mayastorj.nexus.internal.NexusManager;
import io.mayastorj.nexus.internal.NexusSettings;
import io.mayastorj.nexus.internal.store.FileNexusStore;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/** NexusRpc over a real gRPC server: what a nexus looks like on the wire, and the code and message of each refusal. */
class NexusRpcTest {

    private static final String ID = "0e0e0e0e-0000-4000-8000-0000000000c1";

    @TempDir
    Path dir;
    private final DmaBufferPool buffers = new DmaBufferPool(32L << 20, HugepageMode.OFF);
    private final BdevRegistryImpl registry = new BdevRegistryImpl();
    private final ShareManagerImpl shares = new ShareManagerImpl(registry);
    private NexusManager nexuses;
    private Server server;
    private ManagedChannel channel;
    private NexusRpcGrpc.NexusRpcBlockingStub rpc;

    @BeforeEach
    void start() throws Exception {
        registry.addFactory(new MallocBdevFactory());
        registry.create("malloc:///a?size_mb=8");
        registry.create("malloc:///b?size_mb=8");
        nexuses = new NexusManager(registry, buffers, shares, new FileNexusStore(dir), NexusSettings.DEFAULT);
        server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .addService(ServerInterceptors.intercept(new NexusService(nexuses), new ErrorMapping())).build().start();
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
        rpc = NexusRpcGrpc.newBlockingStub(channel);
    }

    @AfterEach
    void stop() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        nexuses.close();
        shares.stop();
        registry.closeAll();
        buffers.close();
    }

    private static void assertStatus(Status.Code code, String message, Executable call) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call);
        assertEquals(code, e.getStatus().getCode(), e.getStatus().getDescription());
        assertEquals(message, e.getStatus().getDescription());
    }

    @Test
    void aNexusOnTheWire() {
        Nexus n = rpc.createNexus(CreateNexusRequest.newBuilder().setName("vol").setUuid(ID)
                .addChildren("bdev:///a").addChildren("bdev:///b").build());
        assertEquals(NexusState.NEXUS_ONLINE, n.getState());
        assertEquals(8L << 20, n.getSize());
        assertEquals(2, n.getChildrenCount());
        n = rpc.faultNexusChild(FaultNexusChildRequest.newBuilder().setNexus("vol").setUri("bdev:///b").build());
        assertEquals(NexusState.NEXUS_DEGRADED, n.getState());
        assertEquals(ChildState.CHILD_FAULTED, n.getChildren(1).getState());
        assertEquals(ChildStateReason.REASON_BY_CLIENT, n.getChildren(1).getReason());
        rpc.addChildNexus(AddChildNexusRequest.newBuilder().setNexus("vol").setUri("bdev:///b").build());
        Nexus back = rpc.listNexus(ListNexusOptions.newBuilder().setName(ID).build()).getNexusList(0);
        assertEquals("vol", back.getName());
        rpc.destroyNexus(DestroyNexusRequest.newBuilder().setNexus("vol").build());
        assertEquals(0, rpc.listNexus(ListNexusOptions.getDefaultInstance()).getNexusListCount());
    }

    @Test
    void refusalsCarryTheirCodeAndReason() {
        assertStatus(Status.Code.INVALID_ARGUMENT, "'nope' is not a UUID",
                () -> rpc.createNexus(CreateNexusRequest.newBuilder().setName("vol").setUuid("nope").addChildren("bdev:///a").build()));
        assertStatus(Status.Code.NOT_FOUND, "child bdev:///zz: no such bdev on this node",
                () -> rpc.createNexus(CreateNexusRequest.newBuilder().setName("vol").setUuid(ID).addChildren("bdev:///zz").build()));
        assertStatus(Status.Code.NOT_FOUND, "no nexus vol",
                () -> rpc.destroyNexus(DestroyNexusRequest.newBuilder().setNexus("vol").build()));
        rpc.createNexus(CreateNexusRequest.newBuilder().setName("vol").setUuid(ID).addChildren("bdev:///a").build());
        assertStatus(Status.Code.FAILED_PRECONDITION,
                "child bdev:///a is the last in-sync child of nexus vol; removing it would lose the volume",
                () -> rpc.removeChildNexus(RemoveChildNexusRequest.newBuilder().setNexus("vol").setUri("bdev:///a").build()));
        assertStatus(Status.Code.FAILED_PRECONDITION, "child bdev:///a of nexus vol is not rebuilding (online)",
                () -> rpc.pauseRebuild(RebuildRequest.newBuilder().setNexus("vol").setUri("bdev:///a").build()));
        assertStatus(Status.Code.INVALID_ARGUMENT, "share protocol NONE: publish over NVMF or ISCSI",
                () -> rpc.publishNexus(PublishNexusRequest.newBuilder().setNexus("vol").setShare(ShareProtocol.NONE).build()));
        assertStatus(Status.Code.NOT_FOUND, "bdev:///b is not a child of nexus vol",
                () -> rpc.faultNexusChild(FaultNexusChildRequest.newBuilder().setNexus("vol").setUri("bdev:///b").build()));
    }
}
