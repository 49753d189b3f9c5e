package io.mayastorj.cli;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.channel.nio.NioEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.socket.nio.NioSocketChannel;
import io.mayastorj.api.v1.BdevRpcGrpc;
import io.mayastorj.api.v1.HostRpcGrpc;
import io.mayastorj.api.v1.NexusRpcGrpc;
import io.mayastorj.api.v1.PoolRpcGrpc;
import io.mayastorj.api.v1.ReplicaRpcGrpc;
import io.mayastorj.api.v1.ResourceRpcGrpc;
import io.mayastorj.api.v1.ShellRpcGrpc;
import io.mayastorj.api.v1.VolumeRpcGrpc;
import java.net.ConnectException;
import java.util.concurrent.TimeUnit;

/** A gRPC connection to one node, with a deadline on every call. */
final class NodeClient implements AutoCloseable {

    static final String DEFAULT_NODE = "127.0.0.1:10124";
    static final String DEFAULT_CONTROL = "127.0.0.1:50051";

    private final String address;
    private final ManagedChannel channel;
    /** One event-loop thread of its own (a daemon), so that close can end it: see {@link #close}. */
    private final NioEventLoopGroup loop = new NioEventLoopGroup(1, runnable -> {
        Thread t = new Thread(runnable, "ctl-grpc");
        t.setDaemon(true);
        return t;
    });
    private final long timeoutSeconds;
    /** Which flag names the address: what an error tells the user to look at. */
    private final String flag;

    NodeClient(String address, long timeoutSeconds) {
        this(address, "--node", 10124, timeoutSeconds);
    }

    /** A node ({@code --node}, port 10124 when none is given) or the control plane ({@code --control}, 50051). */
    NodeClient(String address, String flag, int defaultPort, long timeoutSeconds) {
        this.address = address;
        this.flag = flag;
        this.timeoutSeconds = timeoutSeconds;
        int colon = address.lastIndexOf(':');
        if (colon >= 0 && address.startsWith("[") && address.substring(colon).contains("]")) {
            colon = -1; // [v6-address] without a port
        }
        String host = colon < 0 ? address : address.substring(0, colon);
        int port = defaultPort;
        if (colon >= 0) {
            try {
                port = Integer.parseInt(address.substring(colon + 1));
            } catch (NumberFormatException e) {
                throw new UsageException(flag + " " + address + ": expected HOST:PORT");
            }
            if (port < 1 || port > 65535) {
                throw new UsageException(flag + " " + address + ": port " + port + " is not 1-65535");
            }
        }
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        } else if (host.isEmpty() || host.contains(":") || host.contains("/") || host.chars().anyMatch(Character::isWhitespace)) {
            // http://10.0.0.5:10124 split into host "http://10.0.0.5"; fe80::1 into "fe80:" and port 1
            throw new UsageException(flag + " " + address + ": expected HOST:PORT (an IPv6 address as [ADDRESS]:PORT)");
        }
        try {
            this.channel = NettyChannelBuilder.forAddress(host, port).usePlaintext().maxInboundMessageSize(8 << 20)
                    .eventLoopGroup(loop).channelType(NioSocketChannel.class).build();
        } catch (IllegalArgumentException e) {
            throw new UsageException(flag + " " + address + ": " + e.getMessage());
        }
    }

    /** --node, else $MAYASTOR_NODE, else 127.0.0.1:10124. */
    static String addressFrom(Args args) {
        String env = System.getenv("MAYASTOR_NODE");
        return args.option("node", env == null || env.isBlank() ? DEFAULT_NODE : env);
    }

    /** --control, else $MAYASTOR_CONTROL, else 127.0.0.1:50051. */
    static String controlAddressFrom(Args args) {
        String env = System.getenv("MAYASTOR_CONTROL");
        return args.option("control", env == null || env.isBlank() ? DEFAULT_CONTROL : env);
    }

    String address() {
        return address;
    }

    BdevRpcGrpc.BdevRpcBlockingStub bdev() {
        return BdevRpcGrpc.newBlockingStub(channel).withDeadlineAfter(timeoutSeconds, TimeUnit.SECONDS);
    }

    HostRpcGrpc.HostRpcBlockingStub host() {
        return HostRpcGrpc.newBlockingStub(channel).withDeadlineAfter(timeoutSeconds, TimeUnit.SECONDS);
    }

    PoolRpcGrpc.PoolRpcBlockingStub pool() {
        return PoolRpcGrpc.newBlockingStub(channel).withDeadlineAfter(timeoutSeconds, TimeUnit.SECONDS);
    }

    ReplicaRpcGrpc.ReplicaRpcBlockingStub replica() {
        return ReplicaRpcGrpc.newBlockingStub(channel).withDeadlineAfter(timeoutSeconds, TimeUnit.SECONDS);
    }

    NexusRpcGrpc.NexusRpcBlockingStub nexus() {
        return NexusRpcGrpc.newBlockingStub(channel).withDeadlineAfter(timeoutSeconds, TimeUnit.SECONDS);
    }

    VolumeRpcGrpc.VolumeRpcBlockingStub volume() {
        return VolumeRpcGrpc.newBlockingStub(channel).withDeadlineAfter(timeoutSeconds, TimeUnit.SECONDS);
    }

    ResourceRpcGrpc.ResourceRpcBlockingStub resource() {
        return ResourceRpcGrpc.newBlockingStub(channel).withDeadlineAfter(timeoutSeconds, TimeUnit.SECONDS);
    }

    ShellRpcGrpc.ShellRpcBlockingStub shell() {
        return ShellRpcGrpc.newBlockingStub(channel).withDeadlineAfter(timeoutSeconds, TimeUnit.SECONDS);
    }

    /** True when the call failed because nothing answered at the address. */
    static boolean unreachable(StatusRuntimeException e) {
        if (connectTimedOut(e)) {
            return true; // an address that drops what is sent to it: nothing answered, as much as a refusal
        }
        if (e.getStatus().getCode() != Status.Code.UNAVAILABLE) {
            return false;
        }
        for (Throwable c = e.getCause(); c != null; c = c.getCause()) {
            if (c instanceof ConnectException) {
                return true;
            }
        }
        String description = e.getStatus().getDescription();
        return description != null && description.startsWith("io exception");
    }

    /**
     * True when something answered that speaks no gRPC at all (the metrics port's HTTP/1: an HTTP/2
     * protocol error): a wrong address, bad usage.
     */
    static boolean wrongServer(StatusRuntimeException e) {
        String description = e.getStatus().getDescription();
        return description != null && e.getStatus().getCode() == Status.Code.INTERNAL
                && description.toLowerCase(java.util.Locale.ROOT).contains("http2 exception");
    }

    /**
     * A gRPC server that has no such call: the other side's port (a node's given as the control
     * plane's, or the other way round), or a node whose bundle serving it is not started (being
     * updated, or failed) — which a retry may see end, so it is not called bad usage.
     */
    private static boolean methodNotFound(StatusRuntimeException e) {
        String description = e.getStatus().getDescription();
        return e.getStatus().getCode() == Status.Code.UNIMPLEMENTED && description != null
                && description.startsWith("Method not found");
    }

    /** A deadline that passed before a connection was made (gRPC says the call was still waiting for one). */
    private static boolean connectTimedOut(StatusRuntimeException e) {
        String description = e.getStatus().getDescription();
        return e.getStatus().getCode() == Status.Code.DEADLINE_EXCEEDED && description != null
                && (description.contains("waiting_for_connection") || description.contains("was_still_waiting"));
    }

    /** A call that reached the node and got no answer in time: it may still be done there. */
    static boolean answerTimedOut(StatusRuntimeException e) {
        // the client's deadline (gRPC's words), not a node's own DEADLINE_EXCEEDED ("read on bdev m0 timed out")
        String description = e.getStatus().getDescription();
        return e.getStatus().getCode() == Status.Code.DEADLINE_EXCEEDED && !connectTimedOut(e) && description != null
                && (description.startsWith("deadline exceeded after") || description.contains("CallOptions deadline"));
    }

    /** The line printed for a failed call. */
    String describe(StatusRuntimeException e) {
        if (connectTimedOut(e)) {
            return "cannot reach " + address + ": no answer within the timeout (--timeout; is the address right?)";
        }
        if (answerTimedOut(e)) {
            // not a refusal: a thick replica's zeroing, a pool's import, a slow disk can take longer than the deadline
            return "no answer from " + address + " within " + timeoutSeconds + " s (--timeout): it may still be done there; "
                    + "look (list) before asking again, or give it longer";
        }
        if (unreachable(e)) {
            Throwable root = e;
            while (root.getCause() != null) {
                root = root.getCause();
            }
            String why = root.getMessage() == null ? root.getClass().getSimpleName() : root.getMessage();
            if (why.contains("Connection refused")) {
                why = flag.equals("--control")
                        ? "nothing listens there (is the control plane running? mayastor control starts one; --control or "
                        + "$MAYASTOR_CONTROL points elsewhere)"
                        : "nothing listens there (is the node running? mayastor node starts one; --node or $MAYASTOR_NODE "
                        + "points elsewhere)";
            } else if (root instanceof java.net.UnknownHostException) {
                why = "unknown host";
            } else if (why.contains("No route to host") || why.contains("Network is unreachable")) {
                why = "no route to that address";
            } else if (why.contains("timed out")) {
                why = "no answer (timed out)";
            }
            return "cannot reach " + address + ": " + why;
        }
        if (wrongServer(e)) {
            return address + " is not " + (flag.equals("--control")
                    ? "a control plane's gRPC port (mayastor control listens on 50051; a node's is 10124)"
                    : "a node's gRPC port (mayastor node listens on 10124; the control plane's is 50051, given with --control)")
                    + ": it does not speak gRPC (" + e.getStatus().getDescription() + ")";
        }
        if (methodNotFound(e)) {
            return address + " does not serve this call: " + (flag.equals("--control")
                    ? "it is not a control plane's gRPC port (mayastor control listens on 50051; a node's is 10124)"
                    : "it is not a node's gRPC port (mayastor node listens on 10124; the control plane's is 50051, given with"
                    + " --control), or the node's bundle that serves it is not started (mayastor shell 'lb')")
                    + " (" + e.getStatus().getDescription() + ")";
        }
        Status status = e.getStatus();
        return status.getCode() + ": " + (status.getDescription() == null ? "(no message)" : status.getDescription());
    }

    /** host:port the calls go to. */
    String target() {
        return channel.authority();
    }

    /** Ends the channel and its one event-loop thread. */
    @Override
    public void close() {
        channel.shutdownNow();
        // the selector thread must be gone before the JVM exits: the VM waits up to 300 ms for a
        // thread that is in native code (epoll_wait) — 0.3 s of every ctl command
        loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(2, TimeUnit.SECONDS);
    }
}
