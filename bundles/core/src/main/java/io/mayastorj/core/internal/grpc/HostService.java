package io.mayastorj.core.internal.grpc;

import com.google.protobuf.Empty;
import io.grpc.BindableService;
import io.grpc.stub.StreamObserver;
import io.mayastorj.api.v1.BufferPoolInfo;
import io.mayastorj.api.v1.HostRpcGrpc;
import io.mayastorj.api.v1.NodeInfo;
import io.mayastorj.core.buffer.BufferPool;
import io.mayastorj.core.buffer.BufferPoolStats;
import io.mayastorj.core.node.Node;
import io.mayastorj.core.reactor.ReactorGroup;
import java.time.Duration;
import java.time.Instant;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/** HostRpc: what the node is and what it has. */
@Component(service = BindableService.class)
public final class HostService extends HostRpcGrpc.HostRpcImplBase {

    private final Node node;
    private final ReactorGroup reactors;
    private final BufferPool buffers;

    @Activate
    public HostService(@Reference Node node, @Reference ReactorGroup reactors, @Reference BufferPool buffers) {
        this.node = node;
        this.reactors = reactors;
        this.buffers = buffers;
    }

    @Override
    public void getNodeInfo(Empty request, StreamObserver<NodeInfo> response) {
        BufferPoolStats pool = buffers.stats();
        response.onNext(NodeInfo.newBuilder()
                .setNodeId(node.id())
                .setVersion(node.version())
                .setGrpcEndpoint(node.grpcEndpoint())
                .setReactors(reactors.reactors().size())
                .setBuffers(BufferPoolInfo.newBuilder()
                        .setHugepages(pool.hugepages())
                        .setHugepagesInUse(pool.hugepagesInUse())
                        .setTotalBytes(pool.totalBytes())
                        .setUsedBytes(pool.usedBytes())
                        .setAllocationFailures(pool.allocationFailures()))
                .setUptimeMs(Duration.between(node.startedAt(), Instant.now()).toMillis())
                .setJavaVersion(Runtime.version().toString())
                .setPid(ProcessHandle.current().pid())
                .build());
        response.onCompleted();
    }
}
