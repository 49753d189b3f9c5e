package io.mayastorj.csi.internal;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.mayastorj.api.v1.ListVolumesRequest;
import io.mayastorj.api.v1.Volume;
import io.mayastorj.api.v1.VolumeRpcGrpc;
import io.mayastorj.csi.internal.node.NodeService;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The node half of a switch-over: asks the control plane, every {@code period}, where each volume
 * staged here is served, and lets the Node service follow one whose nexus moved to another node
 * (a new path under the same NQN, then the old ones dropped). Asking from here, rather than being
 * told, works through NAT and needs no port on the application's node; a volume nobody moved costs
 * one small call per look.
 */
final class PathFollower implements AutoCloseable {

    private static final Logger LOG = System.getLogger("mayastor.csi");
    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(3);

    private final ManagedChannel channel;
    private final VolumeRpcGrpc.VolumeRpcBlockingStub volumes;
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "csi-path-follower");
        t.setDaemon(true);
        return t;
    });

    PathFollower(String controlEndpoint, NodeService node, Duration period) {
        this.channel = NettyChannelBuilder.forTarget(controlEndpoint).usePlaintext().build();
        this.volumes = VolumeRpcGrpc.newBlockingStub(channel);
        node.servedBy(this::servedAt); // a stage asks too: its publish context may be older than a switch-over
        timer.scheduleWithFixedDelay(() -> {
            try {
                node.followMoves(this::servedAt);
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "following moved volumes: {0}", e.getMessage());
            }
        }, period.toMillis(), period.toMillis(), TimeUnit.MILLISECONDS);
        LOG.log(Level.INFO, "volumes staged here follow their nexus: the control plane at {0} is asked every {1} ms",
                controlEndpoint, period.toMillis());
    }

    /** Where the control plane serves volume {@code name} now; empty when it is not published (or unknown). */
    private Optional<String> servedAt(String name) {
        try {
            Volume v = volumes.withDeadlineAfter(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
                    .listVolumes(ListVolumesRequest.newBuilder().setName(name).build()).getVolumes(0);
            return v.getDeviceUri().isEmpty() ? Optional.empty() : Optional.of(v.getDeviceUri());
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() == Status.Code.NOT_FOUND) {
                return Optional.empty();
            }
            throw e;
        }
    }

    @Override
    public void close() {
        timer.shutdownNow();
        channel.shutdownNow();
    }
}
