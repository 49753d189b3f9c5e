package io.mayastorj.itests;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;
import static org.ops4j.pax.exam.CoreOptions.bootDelegationPackage;
import static org.ops4j.pax.exam.CoreOptions.bundle;
import static org.ops4j.pax.exam.CoreOptions.cleanCaches;
import static org.ops4j.pax.exam.CoreOptions.frameworkProperty;
import static org.ops4j.pax.exam.CoreOptions.junitBundles;
import static org.ops4j.pax.exam.CoreOptions.systemPackages;
import static org.ops4j.pax.exam.CoreOptions.systemProperty;

import com.google.protobuf.ByteString;
import com.google.protobuf.Empty;
import io.grpc.BindableService;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ServerCalls;
import io.mayastorj.api.v1.Bdev;
import io.mayastorj.api.v1.BdevRpcGrpc;
import io.mayastorj.api.v1.CreateBdevRequest;
import io.mayastorj.api.v1.DestroyBdevRequest;
import io.mayastorj.api.v1.HostRpcGrpc;
import io.mayastorj.api.v1.ListBdevOptions;
import io.mayastorj.api.v1.NodeInfo;
import io.mayastorj.api.v1.ReadBdevRequest;
import io.mayastorj.api.v1.ShellRequest;
import io.mayastorj.api.v1.ShellResponse;
import io.mayastorj.api.v1.ShellRpcGrpc;
import io.mayastorj.api.v1.WriteBdevRequest;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Hashtable;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import javax.inject.Inject;
import org.apache.felix.service.command.CommandProcessor;
import org.apache.felix.service.command.CommandSession;
import org.apache.felix.service.command.Converter;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.ops4j.pax.exam.Configuration;
import org.ops4j.pax.exam.Option;
import org.ops4j.pax.exam.junit.PaxExam;
import org.ops4j.pax.exam.spi.reactors.ExamReactorStrategy;
import org.ops4j.pax.exam.spi.reactors.PerClass;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceRegistration;
import org.osgi.service.cm.ConfigurationAdmin;
import org.osgi.util.tracker.ServiceTracker;

/**
 * Felix with the distribution's real bundles (pax-exam): the node comes up from its Config Admin
 * configuration, serves the gRPC API, and the shell commands show what the API did.
 */
@RunWith(PaxExam.class)
@ExamReactorStrategy(PerClass.class)
public class NodeApiTest {

    private static String endpoint;
    private ManagedChannel channel;

    @Inject
    private BundleContext context;

    @Inject
    private ConfigurationAdmin configAdmin;

    @Inject
    private CommandProcessor shell;

    @Configuration
    public Option[] config() throws IOException {
        Path bundles = Path.of(System.getProperty("mayastor.dist"), "bundle");
        List<Option> options = new ArrayList<>();
        for (Path dir : List.of(bundles, bundles.resolve("node"))) { // a storage node's runtime
            try (Stream<Path> jars = Files.list(dir)) {
                jars.filter(p -> p.toString().endsWith(".jar")).sorted()
                        .forEach(jar -> options.add(bundle(jar.toUri().toString())));
            }
        }
        options.add(junitBundles());
        options.add(cleanCaches());
        options.add(systemPackages("sun.misc", "com.sun.net.httpserver"));
        // as the launcher says for a node without a CSI endpoint: the CSI driver is not part of this runtime
        options.add(frameworkProperty("mayastor.unused.pids").value("io.mayastorj.csi"));
        options.add(bootDelegationPackage("sun.*"));
        options.add(frameworkProperty("felix.log.level").value("1"));
        options.add(frameworkProperty("ds.loglevel").value("warn"));
        options.add(systemProperty("org.ops4j.pax.logging.DefaultServiceLog.level").value("WARN"));
        return options.toArray(new Option[0]);
    }

    /**
     * Configures the node once per framework and waits until its gRPC server listens. pax-exam runs
     * each test method on its own, so per-class set-up lives here, guarded.
     */
    @Before
    public void startNode() throws Exception {
        if (endpoint == null) {
            configureNode();
        }
        int port = Integer.parseInt(endpoint.substring(endpoint.lastIndexOf(':') + 1));
        channel = NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
    }

    private void configureNode() throws Exception {
        int port = DistributionTest.freePort("127.0.0.1");
        endpoint = "127.0.0.1:" + port;
        Hashtable<String, Object> node = new Hashtable<>();
        node.put("node.id", "itest");
        node.put("grpc.endpoint", endpoint);
        node.put("state.dir", Scratch.dir("mayastor-itest").toString());
        Hashtable<String, Object> dataPlane = new Hashtable<>();
        dataPlane.put("buffers.mb", 32);
        configAdmin.getConfiguration("io.mayastorj.dataplane", "?").update(dataPlane);
        configAdmin.getConfiguration("io.mayastorj.node", "?").update(node);
        ServiceTracker<Object, Object> decided = new ServiceTracker<>(context,
                context.createFilter("(mayastor.node.state=*)"), null);
        decided.open(true);
        assertNotNull("the node announced whether it started", decided.waitForService(60_000));
        assertEquals("the node started: " + decided.getServiceReference().getProperty("mayastor.node.error"), "ready",
                decided.getServiceReference().getProperty("mayastor.node.state"));
        decided.close();
    }

    @After
    public void closeChannel() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    private String run(String command) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream print = new PrintStream(out, true, StandardCharsets.UTF_8);
        try (CommandSession session = shell.createSession(InputStream.nullInputStream(), print, print)) {
            Object result = session.execute(command);
            if (result != null) {
                print.print(session.format(result, Converter.INSPECT));
            }
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    public void everyBundleIsActive() throws Exception {
        for (Bundle b : context.getBundles()) {
            assertEquals(b.getSymbolicName() + " is active", Bundle.ACTIVE, b.getState());
        }
        String lb = run("lb");
        assertTrue(lb, lb.contains("Mayastor-J core"));
        assertFalse(lb, lb.contains("Resolved") || lb.contains("Installed"));
    }

    @Test
    public void nodeInfoSaysWhoTheNodeIs() {
        NodeInfo info = HostRpcGrpc.newBlockingStub(channel).getNodeInfo(Empty.getDefaultInstance());
        assertEquals("itest", info.getNodeId());
        assertEquals(endpoint, info.getGrpcEndpoint());
        assertEquals(2, info.getReactors());
        assertEquals(32 << 20, info.getBuffers().getTotalBytes());
    }

    @Test
    public void bdevsMadeThroughTheApiShowInTheShell() throws Exception {
        BdevRpcGrpc.BdevRpcBlockingStub bdevs = BdevRpcGrpc.newBlockingStub(channel);
        Bdev m1 = bdevs.create(CreateBdevRequest.newBuilder().setUri("malloc:///pax-m1?size_mb=8&blk_size=4096").build())
                .getBdev();
        assertEquals(2048, m1.getNumBlocks());

        byte[] data = new byte[64 << 10];
        new Random(1).nextBytes(data);
        bdevs.write(WriteBdevRequest.newBuilder().setName("pax-m1").setOffset(8192).setData(ByteString.copyFrom(data))
                .setFlush(true).build());
        byte[] back = bdevs.read(ReadBdevRequest.newBuilder().setName("pax-m1").setOffset(8192).setLength(data.length)
                .build()).getData().toByteArray();
        assertArrayEquals(data, back);

        String listing = run("mayastor:bdevs");
        assertTrue(listing, listing.contains("pax-m1") && listing.contains("Malloc disk") && listing.contains("8 MiB"));
        String stats = run("mayastor:stats");
        assertTrue(stats, stats.lines().anyMatch(l -> l.startsWith("pax-m1") && l.contains("64 KiB")));
        String buffers = run("mayastor:buffers");
        assertTrue(buffers, buffers.contains("size:     32 MiB"));
        String reactors = run("mayastor:reactors");
        assertTrue(reactors, reactors.contains("reactor-0") && reactors.contains("reactor-1"));

        StatusRuntimeException duplicate = expectFailure(() -> bdevs.create(
                CreateBdevRequest.newBuilder().setUri("malloc:///pax-m1?size_mb=8").build()));
        assertEquals(Status.Code.ALREADY_EXISTS, duplicate.getStatus().getCode());
        assertEquals("bdev pax-m1 exists already", duplicate.getStatus().getDescription());

        bdevs.destroy(DestroyBdevRequest.newBuilder().setName("pax-m1").build());
        assertFalse(run("mayastor:bdevs").contains("pax-m1"));
        assertEquals(0, bdevs.list(ListBdevOptions.getDefaultInstance()).getBdevsList().stream()
                .filter(b -> b.getName().equals("pax-m1")).count());
    }

    @Test
    public void theShellIsServedOverGrpcToLoopbackClients() {
        ShellResponse reply = ShellRpcGrpc.newBlockingStub(channel)
                .execute(ShellRequest.newBuilder().setCommand("mayastor:node").build());
        assertFalse(reply.getError(), reply.getFailed());
        assertTrue(reply.getOutput(), reply.getOutput().contains("itest") && reply.getOutput().contains(endpoint));
        ShellResponse unknown = ShellRpcGrpc.newBlockingStub(channel)
                .execute(ShellRequest.newBuilder().setCommand("mayastor:nosuch").build());
        assertTrue(unknown.getFailed());
        assertEquals("Command not found: mayastor:nosuch", unknown.getError());
    }

    /** A bundle's gRPC service appears on the node's server when registered, and goes with it. */
    @Test
    public void grpcServicesComeAndGoWithTheirRegistration() throws Exception {
        MethodDescriptor<byte[], byte[]> echo = MethodDescriptor.<byte[], byte[]>newBuilder()
                .setType(MethodDescriptor.MethodType.UNARY)
                .setFullMethodName("itest.Echo/Echo")
                .setRequestMarshaller(new Bytes())
                .setResponseMarshaller(new Bytes())
                .build();
        BindableService service = () -> ServerServiceDefinition.builder("itest.Echo")
                .addMethod(echo, ServerCalls.asyncUnaryCall((request, reply) -> {
                    reply.onNext(request);
                    reply.onCompleted();
                }))
                .build();
        ServiceRegistration<BindableService> registration = context.registerService(BindableService.class, service, null);
        try {
            byte[] answer = ClientCalls.blockingUnaryCall(channel, echo, io.grpc.CallOptions.DEFAULT, "hi".getBytes());
            assertEquals("hi", new String(answer, StandardCharsets.UTF_8));
        } finally {
            registration.unregister();
        }
        StatusRuntimeException gone = expectFailure(
                () -> ClientCalls.blockingUnaryCall(channel, echo, io.grpc.CallOptions.DEFAULT, "hi".getBytes()));
        assertEquals(Status.Code.UNIMPLEMENTED, gone.getStatus().getCode());
    }

    private static final class Bytes implements MethodDescriptor.Marshaller<byte[]> {
        @Override
        public InputStream stream(byte[] value) {
            return new ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(InputStream stream) {
            try {
                return stream.readAllBytes();
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    private static StatusRuntimeException expectFailure(Runnable call) {
        try {
            call.run();
        } catch (StatusRuntimeException e) {
            return e;
        }
        fail("the call should have failed");
        return null;
    }
}
