package io.mayastorj.core.internal.grpc;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.mayastorj.api.v1.Bdev;
import io.mayastorj.api.v1.BdevRpcGrpc;
import io.mayastorj.api.v1.CreateBdevRequest;
import io.mayastorj.api.v1.DestroyBdevRequest;
import io.mayastorj.api.v1.ListBdevOptions;
import io.mayastorj.api.v1.ReadBdevRequest;
import io.mayastorj.api.v1.WriteBdevRequest;
import io.mayastorj.core.grpc.ErrorMapping;
import io.mayastorj.core.internal.bdev.AioBdevFactory;
import io.mayastorj.core.internal.bdev.BdevRegistryImpl;
import io.mayastorj.core.internal.bdev.MallocBdevFactory;
import io.mayastorj.core.internal.buffer.DmaBufferPool;
import io.mayastorj.core.internal.buffer.HugepageMode;
import io.mayastorj.core.internal.share.ShareManagerImpl;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/** BdevRpc over a real gRPC server on loopback: each error path gives its status code and message. */
class BdevServiceTest {

    private final BdevRegistryImpl registry = new BdevRegistryImpl();
    private final DmaBufferPool pool = new DmaBufferPool(16 << 20, HugepageMode.OFF);
    private final ShareManagerImpl shares = new ShareManagerImpl(registry);
    private Server server;
    private ManagedChannel channel;
    private BdevRpcGrpc.BdevRpcBlockingStub bdevs;

    @TempDir
    Path dir;

    @BeforeEach
    void start() throws IOException {
        registry.addFactory(new MallocBdevFactory());
        registry.addFactory(new AioBdevFactory());
        server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .addService(ServerInterceptors.intercept(new BdevService(registry, pool, shares), new ErrorMapping()))
                .build().start();
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
        bdevs = BdevRpcGrpc.newBlockingStub(channel);
    }

    @AfterEach
    void stop() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        registry.closeAll();
        pool.close();
    }

    private Bdev create(String uri) {
        return bdevs.create(CreateBdevRequest.newBuilder().setUri(uri).build()).getBdev();
    }

    private static void assertStatus(Status.Code code, String message, Executable call) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call);
        assertEquals(code, e.getStatus().getCode(), e.getStatus().getDescription());
        assertEquals(message, e.getStatus().getDescription());
    }

    @Test
    void createListAndDestroy() {
        Bdev created = create("malloc:///m0?size_mb=2");
        assertEquals("m0", created.getName());
        assertEquals(4096, created.getNumBlocks());
        assertEquals(512, created.getBlkSize());
        assertEquals("Malloc disk", created.getProductName());
        assertEquals("malloc:///m0?size_mb=2", created.getUri());
        assertEquals(1, bdevs.list(ListBdevOptions.getDefaultInstance()).getBdevsCount());
        assertEquals("m0", bdevs.list(ListBdevOptions.newBuilder().setName("m0").build()).getBdevs(0).getName());
        bdevs.destroy(DestroyBdevRequest.newBuilder().setName("m0").build());
        assertEquals(0, bdevs.list(ListBdevOptions.getDefaultInstance()).getBdevsCount());
    }

    /** An nvmf transport that serves nothing: it keeps what it shares in {@code shared}, and says {@code connected} are. */
    private static io.mayastorj.core.transport.Transport nvmf(java.util.List<String> shared, java.util.List<String> connected) {
        return new io.mayastorj.core.transport.Transport() {
            @Override
            public String protocol() {
                return "nvmf";
            }

            @Override
            public String share(io.mayastorj.core.bdev.BlockDevice device, io.mayastorj.core.transport.ShareOptions options) {
                shared.add(device.name());
                return "nvmf://127.0.0.1:8420/nqn.x:" + device.name();
            }

            @Override
            public void unshare(io.mayastorj.core.bdev.BlockDevice device) {
                shared.remove(device.name());
            }

            @Override
            public java.util.List<String> connectedHosts(io.mayastorj.core.bdev.BlockDevice device) {
                return java.util.List.copyOf(connected);
            }
        };
    }

    /** A forced destroy of a bdev a subsystem manages (a replica's) is refused before its share is cut. */
    @Test
    void aForcedDestroyOfAManagedBdevKeepsItsShare() {
        java.util.List<String> shared = new java.util.ArrayList<>();
        shares.addTransport(nvmf(shared, java.util.List.of()));
        var replica = new MallocBdevFactory().create(io.mayastorj.core.bdev.BdevUri.parse("malloc:///r0?size_mb=2"));
        registry.register(replica); // as a pool registers a replica: no URI, no factory
        shares.share("r0", "nvmf", io.mayastorj.core.transport.ShareOptions.DEFAULT);
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> bdevs.destroy(DestroyBdevRequest.newBuilder().setName("r0").setForce(true).build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode(), e.getStatus().getDescription());
        assertEquals(java.util.List.of("r0"), shared, "still shared: its hosts keep the volume");
        assertTrue(shares.status("r0").isPresent());
        shares.unshare("r0");
        registry.unregister(replica);
        replica.close();
    }

    @Test
    void badUrisAreInvalidArgument() {
        assertStatus(Status.Code.INVALID_ARGUMENT, "'malloc:///m 0' is not a valid device URI: Illegal character in path",
                () -> create("malloc:///m 0"));
        assertStatus(Status.Code.INVALID_ARGUMENT, "'foo:///x': unknown bdev scheme 'foo' (this node knows: aio, malloc)",
                () -> create("foo:///x"));
        assertStatus(Status.Code.INVALID_ARGUMENT, "'malloc:///m0?size_mb=0': size_mb must be greater than zero",
                () -> create("malloc:///m0?size_mb=0"));
        assertStatus(Status.Code.INVALID_ARGUMENT, "'aio:///tmp/a%00b': a path cannot hold a NUL character",
                () -> create("aio:///tmp/a%00b"));
    }

    @Test
    void duplicatesAreAlreadyExists() {
        create("malloc:///m0?size_mb=1");
        assertStatus(Status.Code.ALREADY_EXISTS, "bdev m0 exists already", () -> create("malloc:///m0?size_mb=1"));
    }

    @Test
    void missingThingsAreNotFound() {
        assertStatus(Status.Code.NOT_FOUND, "bdev m0 not found",
                () -> bdevs.destroy(DestroyBdevRequest.newBuilder().setName("m0").build()));
        // forced, a name that is no URI: NOT_FOUND too (it was INVALID_ARGUMENT, which an idempotent cleanup does not expect)
        assertStatus(Status.Code.NOT_FOUND, "bdev m0 not found",
                () -> bdevs.destroy(DestroyBdevRequest.newBuilder().setName("m0").setForce(true).build()));
        assertStatus(Status.Code.NOT_FOUND, "bdev m0 not found",
                () -> bdevs.list(ListBdevOptions.newBuilder().setName("m0").build()));
        Path missing = dir.resolve("missing.img");
        assertStatus(Status.Code.NOT_FOUND, "'aio://" + missing + "': no such file or device " + missing,
                () -> create("aio://" + missing));
    }

    @Test
    void moreMemoryThanTheNodeHasIsResourceExhausted() {
        long mb = (MallocBdevFactory.availableMemory() >> 20) + 4096;
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> create("malloc:///big?size_mb=" + mb));
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode());
    }

    @Test
    void aClaimedBdevIsFailedPrecondition() {
        create("malloc:///m0?size_mb=1");
        registry.claim("m0", "pool p0");
        assertStatus(Status.Code.FAILED_PRECONDITION, "bdev m0 is in use by pool p0; destroy the pool first (mayastor ctl pool destroy p0)",
                () -> bdevs.destroy(DestroyBdevRequest.newBuilder().setName("m0").build()));
        Bdev listed = bdevs.list(ListBdevOptions.getDefaultInstance()).getBdevs(0);
        assertEquals(true, listed.getClaimed());
        assertEquals("pool p0", listed.getClaimedBy());
    }

    @Test
    void writeThenReadReturnsTheData() {
        create("malloc:///m0?size_mb=4");
        byte[] data = new byte[256 << 10];
        new Random(3).nextBytes(data);
        assertEquals(data.length, bdevs.write(WriteBdevRequest.newBuilder().setName("m0").setOffset(1 << 20)
                .setData(ByteString.copyFrom(data)).setFlush(true).build()).getBytesWritten());
        byte[] back = bdevs.read(ReadBdevRequest.newBuilder().setName("m0").setOffset(1 << 20)
                .setLength(data.length).build()).getData().toByteArray();
        assertArrayEquals(data, back);
        Bdev listed = bdevs.list(ListBdevOptions.getDefaultInstance()).getBdevs(0);
        assertEquals(1, listed.getStats().getNumWriteOps());
        assertEquals(1, listed.getStats().getNumFlushOps());
        assertEquals(data.length, listed.getStats().getBytesRead());
    }

    /**
     * Review finding: the diagnostics write reached any bdev, a pool's disk (its metadata) or a
     * nexus's child (which the nexus then still counted in sync) included. A bdev its owner holds
     * is written through the owner; a share's claim is no owner of the data.
     */
    @Test
    void aWriteToABdevAPoolOrNexusHoldsIsRefused() {
        create("malloc:///m0?size_mb=1");
        WriteBdevRequest write = WriteBdevRequest.newBuilder().setName("m0").setData(ByteString.copyFrom(new byte[512])).build();
        try (var held = registry.claim("m0", "pool p0")) {
            assertStatus(Status.Code.FAILED_PRECONDITION, "bdev m0 is in use by pool p0: write through it, not to the bdev",
                    () -> bdevs.write(write));
        }
        try (var shared = registry.claim("m0", "share nvmf")) {
            assertEquals(512, bdevs.write(write).getBytesWritten(), "a shared bdev nobody uses is written as its host would");
        }
        assertEquals(512, bdevs.write(write).getBytesWritten());
    }

    /**
     * Review finding: a replica shared to a nexus on another node is claimed here only by its share,
     * so a write to it was taken: the nexus's other children never got it, and it still counted them
     * in sync. A shared bdev with a host connected is refused (a nexus is written through).
     */
    @Test
    void aWriteToASharedBdevAHostUsesIsRefused() {
        java.util.List<String> connected = new java.util.ArrayList<>();
        shares.addTransport(nvmf(new java.util.ArrayList<>(), connected));
        create("malloc:///m0?size_mb=1");
        shares.share("m0", "nvmf", io.mayastorj.core.transport.ShareOptions.DEFAULT);
        WriteBdevRequest write = WriteBdevRequest.newBuilder().setName("m0").setData(ByteString.copyFrom(new byte[512])).build();
        assertEquals(512, bdevs.write(write).getBytesWritten(), "shared, nobody connected: seeding a replica is allowed");
        connected.add("nqn.2019-05.io.openebs:node-name:n1");
        assertStatus(Status.Code.FAILED_PRECONDITION, "bdev m0 is shared and in use by nqn.2019-05.io.openebs:node-name:n1: "
                + "write through what uses it, not to the bdev", () -> bdevs.write(write));
        shares.unshare("m0");
    }

    /** Review finding: an Error in a call (a native library that cannot bind) reached the caller as UNKNOWN, unexplained. */
    @Test
    void anErrorInACallIsInternalAndSaysWhat() {
        registry.addFactory(new io.mayastorj.core.bdev.BdevFactory() {
            @Override
            public java.util.Set<String> schemes() {
                return java.util.Set.of("broken");
            }

            @Override
            public String nameOf(io.mayastorj.core.bdev.BdevUri uri) {
                return uri.path();
            }

            @Override
            public io.mayastorj.core.bdev.BlockDevice create(io.mayastorj.core.bdev.BdevUri uri) {
                throw new UnsatisfiedLinkError("libbroken.so: cannot open shared object file (expected by the test)");
            }
        });
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> create("broken:///b0"));
        assertEquals(Status.Code.INTERNAL, e.getStatus().getCode(), e.getStatus().getDescription());
        assertTrue(e.getStatus().getDescription().contains("libbroken.so: cannot open shared object file"),
                e.getStatus().getDescription());
    }

    @Test
    void badTransfersAreInvalidArgumentAndTheNodeKeepsServing() {
        create("malloc:///m0?size_mb=1");
        assertStatus(Status.Code.INVALID_ARGUMENT, "offset 100 and length 512 must be multiples of bdev m0's block size (512)",
                () -> bdevs.read(ReadBdevRequest.newBuilder().setName("m0").setOffset(100).setLength(512).build()));
        assertStatus(Status.Code.INVALID_ARGUMENT, "offset 1048064 + length 1024 lies beyond the end of bdev m0 (1048576 bytes)",
                () -> bdevs.read(ReadBdevRequest.newBuilder().setName("m0").setOffset(1048064).setLength(1024).build()));
        assertStatus(Status.Code.INVALID_ARGUMENT, "length 2097152: a transfer takes 1 byte to 1 MiB",
                () -> bdevs.read(ReadBdevRequest.newBuilder().setName("m0").setLength(2 << 20).build()));
        assertStatus(Status.Code.INVALID_ARGUMENT, "length 0: a transfer takes 1 byte to 1 MiB",
                () -> bdevs.write(WriteBdevRequest.newBuilder().setName("m0").build()));
        assertStatus(Status.Code.NOT_FOUND, "bdev m9 not found",
                () -> bdevs.read(ReadBdevRequest.newBuilder().setName("m9").setLength(512).build()));
        assertEquals(1, bdevs.list(ListBdevOptions.getDefaultInstance()).getBdevsCount());
    }

    /**
     * Review finding: a device out of reach (an nvmf bdev reconnecting) or an I/O cancelled was
     * INTERNAL, which callers take for a failure not worth trying again; a timeout was UNAVAILABLE.
     */
    @Test
    void howAFailedIoIsToldToTheCaller() {
        java.util.Map<io.mayastorj.core.bdev.IoStatus, io.mayastorj.core.error.ErrorKind> expected = java.util.Map.of(
                io.mayastorj.core.bdev.IoStatus.UNAVAILABLE, io.mayastorj.core.error.ErrorKind.UNAVAILABLE,
                io.mayastorj.core.bdev.IoStatus.DEVICE_CLOSED, io.mayastorj.core.error.ErrorKind.UNAVAILABLE,
                io.mayastorj.core.bdev.IoStatus.ABORTED, io.mayastorj.core.error.ErrorKind.ABORTED,
                io.mayastorj.core.bdev.IoStatus.TIMED_OUT, io.mayastorj.core.error.ErrorKind.DEADLINE_EXCEEDED,
                io.mayastorj.core.bdev.IoStatus.NO_SPACE, io.mayastorj.core.error.ErrorKind.RESOURCE_EXHAUSTED,
                io.mayastorj.core.bdev.IoStatus.MEDIA_ERROR, io.mayastorj.core.error.ErrorKind.INTERNAL);
        expected.forEach((status, kind) -> assertEquals(kind, BdevService.failure(status, "read", "n1", 0, 512).kind(),
                status.name()));
        assertEquals("read on bdev n1: the device cannot be reached now; try again",
                BdevService.failure(io.mayastorj.core.bdev.IoStatus.UNAVAILABLE, "read", "n1", 0, 512).getMessage());
    }
}
