package io.mayastorj.cli;

import com.google.protobuf.Empty;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.mayastorj.api.v1.Bdev;
import io.mayastorj.api.v1.BdevRpcGrpc;
import io.mayastorj.api.v1.BufferPoolInfo;
import io.mayastorj.api.v1.HostRpcGrpc;
import io.mayastorj.api.v1.ListBdevOptions;
import io.mayastorj.api.v1.ListBdevResponse;
import io.mayastorj.api.v1.NodeInfo;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.util.List;

/**
 * The training run for the command line's ahead-of-time cache ({@code bin/mayastor aot-training},
 * run by the build with {@code -XX:AOTCacheOutput}): a few {@code ctl} commands, as a user runs
 * them, against a stand-in node in this process that answers two calls — so the cache holds the
 * classes a real call loads and links (channel, HTTP/2, protobuf, the tables), made without a node.
 */
public final class AotTraining {

    private AotTraining() {
    }

    public static void main(String[] args) throws Exception {
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .addService(new HostRpcGrpc.HostRpcImplBase() {
                    @Override
                    public void getNodeInfo(Empty request, StreamObserver<NodeInfo> response) {
                        response.onNext(NodeInfo.newBuilder().setNodeId("training").setVersion("0").setGrpcEndpoint("127.0.0.1:0")
                                .setReactors(2).setBuffers(BufferPoolInfo.getDefaultInstance()).setUptimeMs(1000)
                                .setJavaVersion(Runtime.version().toString()).setPid(ProcessHandle.current().pid()).build());
                        response.onCompleted();
                    }
                })
                .addService(new BdevRpcGrpc.BdevRpcImplBase() {
                    @Override
                    public void list(ListBdevOptions request, StreamObserver<ListBdevResponse> response) {
                        response.onNext(ListBdevResponse.newBuilder().addBdevs(Bdev.newBuilder().setName("m0")
                                .setUri("malloc:///m0?size_mb=64").setBlkSize(512).setNumBlocks(131072).build()).build());
                        response.onCompleted();
                    }
                })
                .build().start();
        try {
            String node = "127.0.0.1:" + server.getPort();
            PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
            for (List<String> command : List.of(
                    List.of("ctl", "--node", node, "node", "info"),
                    List.of("ctl", "--node", node, "--json", "node", "info"),
                    List.of("ctl", "--node", node, "bdev", "list"),
                    List.of("ctl", "--node", node, "pool", "frobnicate"),
                    List.of("ctl", "--help"))) {
                Main.run(command, quiet, quiet);
            }
        } finally {
            server.shutdownNow().awaitTermination(5, java.util.concurrent.TimeUnit.SECONDS);
        }
    }
}
