package io.mayastorj.core.reactor;

import java.io.IOException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.channels.SelectionKey;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.UnresolvedAddressException;
import java.nio.channels.SocketChannel;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A TCP listener for a transport: bound at once (so a port in use fails the transport's start with a
 * clear message), accepting on one reactor and handing each connection — non-blocking, with
 * TCP_NODELAY — to the next reactor in turn, on that reactor's thread.
 */
public final class Listener implements AutoCloseable {

    /** Called on {@code reactor}'s thread with a new connection that now belongs to it. */
    @FunctionalInterface
    public interface Acceptor {
        void accepted(SocketChannel connection, Reactor reactor);
    }

    private static final System.Logger LOG = System.getLogger("mayastor.reactor");

    private final String what;
    private final ServerSocketChannel server;
    private final Reactor acceptor;
    private final InetSocketAddress bound;
    private final AtomicLong accepted = new AtomicLong();
    /** The last accept failure, logged once until accepting works again; on the acceptor reactor. */
    private String acceptFailure;

    private Listener(String what, ServerSocketChannel server, Reactor acceptor) throws IOException {
        this.what = what;
        this.server = server;
        this.acceptor = acceptor;
        this.bound = (InetSocketAddress) server.getLocalAddress();
    }

    /**
     * Binds {@code address} (port 0: any free port) and starts accepting.
     *
     * @param what who listens, for messages: "the nvmf target"
     * @throws IOException naming the address when it cannot be bound
     */
    public static Listener open(ReactorGroup reactors, InetSocketAddress address, String what, Acceptor handler)
            throws IOException {
        ServerSocketChannel channel = ServerSocketChannel.open();
        try {
            channel.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            channel.bind(address, 128);
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw new IOException(what + " cannot listen on " + hostPort(address) + ": " + reason(e), e);
        }
        Listener listener = new Listener(what, channel, reactors.reactors().get(0));
        CompletableFuture<Void> registered = new CompletableFuture<>();
        listener.acceptor.execute(() -> {
            try {
                listener.acceptor.register(channel, SelectionKey.OP_ACCEPT, key -> listener.accept(key, reactors, handler));
                registered.complete(null);
            } catch (IOException | RuntimeException e) {
                registered.completeExceptionally(e);
            }
        });
        try {
            registered.get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            channel.close();
            throw new IOException(what + " could not start accepting on " + hostPort(listener.bound) + ": " + e, e);
        }
        return listener;
    }

    private void accept(SelectionKey key, ReactorGroup reactors, Acceptor handler) {
        while (true) {
            SocketChannel socket;
            try {
                socket = server.accept();
            } catch (IOException e) {
                // the connection stays pending (out of file descriptors): the key stays ready, and accepting
                // again at once would spin the reactor and flood the log; it pauses 10 ms, said once a streak
                if (!String.valueOf(e.getMessage()).equals(acceptFailure)) {
                    acceptFailure = String.valueOf(e.getMessage());
                    LOG.log(System.Logger.Level.WARNING, "{0}: accepting a connection failed: {1}; trying again every 10 ms",
                            what, e.getMessage());
                }
                key.interestOps(0);
                acceptor.schedule(10, TimeUnit.MILLISECONDS, () -> {
                    if (key.isValid()) {
                        key.interestOps(SelectionKey.OP_ACCEPT);
                    }
                });
                return;
            }
            if (socket == null) {
                return;
            }
            acceptFailure = null;
            accepted.incrementAndGet();
            Reactor reactor = reactors.next();
            reactor.execute(() -> {
                try {
                    socket.configureBlocking(false);
                    socket.setOption(StandardSocketOptions.TCP_NODELAY, true);
                } catch (IOException e) {
                    LOG.log(System.Logger.Level.WARNING, "{0}: cannot serve a connection: {1}", what, e.getMessage());
                    try {
                        socket.close();
                    } catch (IOException ignored) {
                        // it is gone either way
                    }
                    return;
                }
                handler.accepted(socket, reactor);
            });
        }
    }

    /** Where it listens (the real port when 0 was asked for). */
    public InetSocketAddress address() {
        return bound;
    }

    /** The address to give out in URIs: the bound one, or loopback for a wildcard bind. */
    public String advertisedHost() {
        InetAddress address = bound.getAddress();
        return address.isAnyLocalAddress() ? InetAddress.getLoopbackAddress().getHostAddress() : address.getHostAddress();
    }

    public long connectionsAccepted() {
        return accepted.get();
    }

    /** Why a bind failed, in words: an unresolved name and an unsupported address type carry no message. */
    private static String reason(Exception e) {
        if (e instanceof UnresolvedAddressException) {
            return "the name does not resolve";
        }
        return e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
    }

    /** {@code host:port}, with IPv6 addresses in brackets. */
    public static String hostPort(InetSocketAddress address) {
        if (address.isUnresolved()) {
            return address.getHostString() + ":" + address.getPort();
        }
        String host = address.getAddress() instanceof Inet6Address ? "[" + address.getAddress().getHostAddress() + "]"
                : address.getAddress().getHostAddress();
        return host + ":" + address.getPort();
    }

    /** Stops accepting; connections already handed out stay with their owners. */
    @Override
    public void close() {
        CompletableFuture<Void> closed = new CompletableFuture<>();
        acceptor.execute(() -> {
            try {
                server.close();
            } catch (IOException e) {
                LOG.log(System.Logger.Level.WARNING, "{0}: closing the listener: {1}", what, e.getMessage());
            }
            closed.complete(null);
        });
        try {
            closed.get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            LOG.log(System.Logger.Level.WARNING, "{0}: the listener did not close in 10 s: {1}", what, e.toString());
        }
    }
}
