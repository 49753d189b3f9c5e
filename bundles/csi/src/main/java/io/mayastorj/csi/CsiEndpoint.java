package io.mayastorj.csi;

import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.MultiThreadIoEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollIoHandler;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import io.grpc.netty.shaded.io.netty.util.concurrent.DefaultThreadFactory;
import io.mayastorj.core.error.MayastorException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Where the CSI driver listens, as Kubernetes writes it: {@code unix:///path/csi.sock} (or a bare
 * absolute path), the kubelet's and the sidecars' way, or {@code tcp://host:port} (or {@code
 * host:port}), for a controller reached over the network. Builds the server and, for tests and the
 * CLI, a client channel.
 */
public record CsiEndpoint(Path socket, String host, int port) {

    public static CsiEndpoint parse(String text) {
        String t = text == null ? "" : text.strip();
        if (t.startsWith("unix://")) {
            t = t.substring("unix://".length());
            return unix(t);
        }
        if (t.startsWith("unix:")) {
            return unix(t.substring("unix:".length()));
        }
        if (t.startsWith("/")) {
            return unix(t);
        }
        if (t.toLowerCase(Locale.ROOT).startsWith("tcp://")) {
            t = t.substring("tcp://".length());
        }
        int colon = t.lastIndexOf(':');
        if (colon <= 0 || colon == t.length() - 1) {
            throw MayastorException.invalidArgument("CSI endpoint '%s': unix:///path/to/csi.sock or tcp://host:port", text);
        }
        String host = t.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        int port;
        try {
            port = Integer.parseInt(t.substring(colon + 1));
        } catch (NumberFormatException e) {
            port = -1;
        }
        if (port < 1 || port > 65535) {
            throw MayastorException.invalidArgument("CSI endpoint '%s': port %s is not 1-65535", text, t.substring(colon + 1));
        }
        return new CsiEndpoint(null, host, port);
    }

    private static CsiEndpoint unix(String path) {
        if (!path.startsWith("/")) {
            throw MayastorException.invalidArgument("CSI endpoint unix://%s: the socket's path must be absolute", path);
        }
        return new CsiEndpoint(Path.of(path), null, 0);
    }

    public boolean isUnix() {
        return socket != null;
    }

    /**
     * A server on this endpoint. A Unix socket left by a process that died is removed first (the
     * kubelet restarts drivers on the same path); its directory is made when missing.
     */
    public NettyServerBuilder serverBuilder(EventLoopGroup[] groups) throws IOException {
        if (!isUnix()) {
            return NettyServerBuilder.forAddress(new InetSocketAddress(host, port));
        }
        Files.createDirectories(socket.getParent());
        Files.deleteIfExists(socket);
        EventLoopGroup boss = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        EventLoopGroup workers = new MultiThreadIoEventLoopGroup(2, EpollIoHandler.newFactory());
        groups[0] = boss;
        groups[1] = workers;
        return NettyServerBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .channelType(EpollServerDomainSocketChannel.class)
                .bossEventLoopGroup(boss).workerEventLoopGroup(workers);
    }

    /** A client of this endpoint (plaintext; Unix sockets share one daemon event loop). */
    public ManagedChannel channel() {
        if (!isUnix()) {
            return NettyChannelBuilder.forAddress(host, port).usePlaintext().build();
        }
        return NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .channelType(EpollDomainSocketChannel.class).eventLoopGroup(ClientLoop.GROUP)
                .usePlaintext().build();
    }

    /** Made on first use: a server-only runtime never starts it. */
    private static final class ClientLoop {
        static final EventLoopGroup GROUP = new MultiThreadIoEventLoopGroup(1,
                new DefaultThreadFactory("csi-client", true), EpollIoHandler.newFactory());
    }

    /** Removes a Unix socket's file when the server stops. */
    public void cleanUp() {
        if (isUnix()) {
            try {
                Files.deleteIfExists(socket);
            } catch (IOException ignored) {
                // a socket file that stays is removed at the next start
            }
        }
    }

    @Override
    public String toString() {
        return isUnix() ? "unix://" + socket : "tcp://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
    }
}
