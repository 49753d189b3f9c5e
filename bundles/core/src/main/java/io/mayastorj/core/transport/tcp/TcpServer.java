package io.mayastorj.core.transport.tcp;

import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.core.reactor.Listener;
import io.mayastorj.core.transport.ShareOptions;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.net.UnknownHostException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * The part of a TCP transport that is not its protocol: the listening socket (bound at once, so a
 * taken port fails the transport's activation with a message naming it), a thread per client, the
 * exports (shared bdevs by name, with the client addresses allowed to use them), disconnecting a
 * bdev's clients when it is unshared, and draining every connection when the transport stops.
 *
 * <p>A transport built on it keeps one server from activation to deactivation:
 * <pre>{@code
 * server = TcpServer.open("mine", address, MyConnection::new);   // in the constructor
 * return server.export(device, options);                         // share: the URI, mine://host:port/name
 * server.unexport(device);                                        // unshare: its clients are disconnected
 * server.close();                                                 // deactivate: stop and drain
 * }</pre>
 *
 * <p>Clients are known by their IP address only (a TCP peer has no other identity), so a share's
 * allowed hosts must be IP addresses; {@link #export} refuses anything else rather than resolve names.
 *
 * @param <C> the transport's connection class
 */
public final class TcpServer<C extends TcpConnection> implements AutoCloseable {

    /** Makes the connection object for a client that just connected. */
    @FunctionalInterface
    public interface ConnectionFactory<C extends TcpConnection> {
        C connected(TcpServer<C> server, SocketChannel channel) throws IOException;
    }

    /**
     * A shared bdev as the transport serves it.
     *
     * @param allowedHosts client IP addresses that may use it; empty: any client
     * @param properties   the share's protocol properties (already checked against the names the transport takes)
     */
    public record Export(BlockDevice device, Set<String> allowedHosts, Map<String, String> properties) {
        public Export {
            // in the form a client's address is compared in: "::1" arrives as 0:0:0:0:0:0:0:1 and
            // "::ffff:10.0.0.1" as 10.0.0.1 (literals only, checked by share: nothing asks DNS)
            allowedHosts = allowedHosts.stream().map(Export::canonical).collect(java.util.stream.Collectors.toUnmodifiableSet());
            properties = Map.copyOf(properties);
        }

        public boolean allows(InetAddress client) {
            return allowedHosts.isEmpty() || allowedHosts.contains(client.getHostAddress());
        }

        private static String canonical(String host) {
            if (!isAddress(host)) {
                return host; // never matches a client: no name is resolved
            }
            try {
                return InetAddress.getByName(host).getHostAddress();
            } catch (UnknownHostException e) {
                return host;
            }
        }
    }

    /**
     * How long an unshare or a stop waits for connections to end before it goes on without them:
     * longer than a connection waits for its bdev I/O in flight (30 s, NBD's), or a stop returned —
     * and a bundle update went on — while completions would still run the old revision's code.
     */
    private static final long DRAIN_NANOS = TimeUnit.SECONDS.toNanos(35);
    /**
     * How long an unshare or a stop lets a connection answer what it has in flight ({@link
     * TcpConnection#stop}) before it cuts the connection: long enough for a disk's slow write, and
     * with a connection's own wait for its I/O after the cut (NBD: 30 s) still within {@link
     * #DRAIN_NANOS} — a stuck connection (its reader blocked on a full slot table, not in a read)
     * ends only at the cut.
     */
    private static final long GRACE_NANOS = TimeUnit.SECONDS.toNanos(4);
    private static final Logger LOG = System.getLogger("mayastor.transport");

    private final String protocol;
    private final ServerSocketChannel listener;
    private final InetSocketAddress bound;
    private final ConnectionFactory<C> factory;
    private final Map<String, Export> exports = new ConcurrentHashMap<>();
    private final Set<C> connections = ConcurrentHashMap.newKeySet();
    /**
     * Connections served at once, at most: each is a thread and its buffers, made before the client
     * says who it is, and a client opening them without end ran the node out of threads and direct memory.
     */
    static final int MAX_CONNECTIONS = 512;
    /** ... and from one address at most: one client holding the whole cap locked every other out. */
    static final int MAX_CONNECTIONS_PER_CLIENT = 64;
    private boolean fullSaid; // on the acceptor thread
    private final Thread acceptor;
    private volatile boolean closing;

    private TcpServer(String protocol, ServerSocketChannel listener, ConnectionFactory<C> factory) throws IOException {
        this.protocol = protocol;
        this.listener = listener;
        this.bound = (InetSocketAddress) listener.getLocalAddress();
        this.factory = factory;
        this.acceptor = new Thread(this::accept, protocol + "-accept");
        acceptor.setDaemon(true);
    }

    /**
     * Binds {@code address} (port 0: any free port) and starts accepting.
     *
     * @param protocol the transport's protocol name: the URI scheme, and the prefix of log lines and threads
     * @throws IOException "the PROTOCOL server cannot listen on HOST:PORT: REASON" when the address cannot be bound
     */
    public static <C extends TcpConnection> TcpServer<C> open(String protocol, InetSocketAddress address, ConnectionFactory<C> factory)
            throws IOException {
        ServerSocketChannel channel = ServerSocketChannel.open();
        try {
            channel.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            channel.bind(address, 64);
        } catch (IOException | RuntimeException e) {
            // (an address whose name did not resolve, or of a kind the channel cannot take, is no IOException)
            channel.close();
            throw new IOException("the " + protocol + " server cannot listen on " + Listener.hostPort(address) + ": "
                    + (e instanceof java.nio.channels.UnresolvedAddressException ? "the name does not resolve"
                    : e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName()), e);
        }
        TcpServer<C> server = new TcpServer<>(protocol, channel, factory);
        server.acceptor.start();
        LOG.log(Level.INFO, "{0} server listening on {1}:{2,number,#}", protocol, server.bound.getHostString(), server.bound.getPort());
        return server;
    }

    private void accept() {
        while (!closing) {
            try {
                SocketChannel channel = listener.accept();
                InetAddress from = remoteAddress(channel);
                if (connections.size() >= MAX_CONNECTIONS
                        || connections.stream().filter(c -> c.clientAddress().equals(from)).count() >= MAX_CONNECTIONS_PER_CLIENT) {
                    if (!fullSaid) {
                        fullSaid = true;
                        LOG.log(Level.WARNING, "{0}: {1} connections are served already ({2} from one address at most): new "
                                + "ones are closed until they are fewer", protocol, MAX_CONNECTIONS, MAX_CONNECTIONS_PER_CLIENT);
                    }
                    channel.close();
                    continue;
                }
                fullSaid = false;
                C c = null;
                try {
                    channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
                    c = factory.connected(this, channel);
                    connections.add(c);
                    if (closing) {
                        // close() walked the connections before this one was among them: it would be served after
                        connections.remove(c);
                        channel.close();
                        return;
                    }
                    Thread t = new Thread(c, protocol + "-" + c.peer());
                    t.setDaemon(true);
                    t.start();
                } catch (IOException | RuntimeException | OutOfMemoryError e) {
                    // OutOfMemoryError: a connection's direct buffers, or its thread, when clients open
                    // connections faster than they end; thrown on, it would end this thread and with it
                    // every later client of the transport
                    if (c != null) {
                        connections.remove(c);
                    }
                    channel.close();
                    LOG.log(Level.WARNING, "{0}: a new client could not be served: {1}", protocol, e.toString());
                }
            } catch (IOException e) {
                if (!closing) {
                    LOG.log(Level.WARNING, "{0}: accepting failed: {1}", protocol, e.getMessage());
                    LockSupport.parkNanos(10_000_000); // not a busy loop if the failure persists (EMFILE)
                }
            }
        }
    }

    private static InetAddress remoteAddress(SocketChannel channel) {
        try {
            return channel.getRemoteAddress() instanceof InetSocketAddress a ? a.getAddress() : null;
        } catch (IOException e) {
            return null; // gone already: it fails at once when served
        }
    }

    public String protocol() {
        return protocol;
    }

    /** The address bound (the port the system chose, when 0 was asked for). */
    public InetSocketAddress address() {
        return bound;
    }

    /**
     * {@code PROTOCOL://HOST:PORT/NAME}: how a share is named to users; an IPv6 host in brackets, and
     * loopback for a wildcard bind, as the node's own transports give theirs out.
     */
    public String uri(String name) {
        InetAddress host = bound.getAddress().isAnyLocalAddress() ? InetAddress.getLoopbackAddress() : bound.getAddress();
        return protocol + "://" + Listener.hostPort(new InetSocketAddress(host, bound.getPort())) + "/" + name;
    }

    // ------------------------------------------------------------------ exports

    /**
     * Serves {@code device} under its name (again, with new options, if it is served already).
     *
     * @param properties the share properties this transport takes; any other is refused
     * @return the URI clients use
     * @throws MayastorException UNAVAILABLE while the server stops; INVALID_ARGUMENT for an allowed
     *                           host that is not an IP address or a property the transport does not take
     */
    public String export(BlockDevice device, ShareOptions options, String... properties) {
        if (closing) {
            throw MayastorException.unavailable("the %s server is stopping", protocol);
        }
        for (String host : options.allowedHosts()) {
            if (!isAddress(host)) {
                throw MayastorException.invalidArgument("%s: allowed host '%s' is not an IP address (its clients are known by address only)",
                        protocol, host);
            }
        }
        Set<String> unknown = new TreeSet<>(options.properties().keySet());
        unknown.removeAll(List.of(properties));
        if (!unknown.isEmpty()) {
            throw MayastorException.invalidArgument("%s shares take %s; not %s", protocol,
                    properties.length == 0 ? "no properties" : "the properties " + String.join(", ", properties) + " only",
                    String.join(", ", unknown));
        }
        exports.put(device.name(), new Export(device, Set.copyOf(options.allowedHosts()), options.properties()));
        LOG.log(Level.INFO, "{0} export {1} ({2} bytes)", protocol, device.name(), device.sizeBytes());
        return uri(device.name());
    }

    /**
     * Stops serving {@code device} and disconnects its clients, waiting (up to 35 s) until none is
     * left — again and again, since a client finishing its handshake may have picked it just now.
     */
    public void unexport(BlockDevice device) {
        if (exports.remove(device.name()) == null) {
            return;
        }
        long start = System.nanoTime();
        long deadline = start + DRAIN_NANOS;
        boolean any = true;
        while (any && System.nanoTime() < deadline) {
            any = false;
            boolean graceOver = System.nanoTime() - start > GRACE_NANOS;
            for (C c : connections) {
                if (c.serves(device)) {
                    any = true;
                    // the replies of what is in flight go out first; a connection still there after the grace is cut
                    String why = "the export " + device.name() + " is no longer shared";
                    if (graceOver) {
                        c.close(why);
                    } else {
                        c.stop(why);
                    }
                }
            }
            if (any) {
                LockSupport.parkNanos(1_000_000);
            }
        }
        LOG.log(Level.INFO, "{0} export {1} removed", protocol, device.name());
    }

    /** The export by that name, or null. */
    public Export export(String name) {
        return exports.get(name);
    }

    /** The export by that name if {@code client} may use it, else null (for a client, the two are the same). */
    public Export export(String name, InetAddress client) {
        Export e = exports.get(name);
        return e != null && e.allows(client) ? e : null;
    }

    /** The exports {@code client} may use, by name. */
    public List<Export> exports(InetAddress client) {
        return new TreeMap<>(exports).values().stream().filter(e -> e.allows(client)).toList();
    }

    // ------------------------------------------------------------------ connections

    /** The connections now open. */
    public Set<C> connections() {
        return Set.copyOf(connections);
    }

    /** Who uses {@code device}, for the share manager: "a PROTOCOL client from ADDRESS:PORT" each, sorted. */
    public List<String> connectedHosts(BlockDevice device) {
        List<String> hosts = new ArrayList<>();
        for (C c : connections) {
            if (c.serves(device)) {
                hosts.add("a " + protocol + " client from " + c.peer());
            }
        }
        hosts.sort(null);
        return hosts;
    }

    void closed(TcpConnection c) {
        connections.remove(c);
    }

    /** Stops accepting, disconnects every client and waits (up to 35 s) for their threads to end. Idempotent. */
    @Override
    public void close() {
        if (closing) {
            return;
        }
        closing = true;
        try {
            listener.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        long start = System.nanoTime();
        long deadline = start + DRAIN_NANOS;
        boolean cut = false;
        for (C c : connections) {
            c.stop("the " + protocol + " server is stopping"); // what is in flight is answered first
        }
        while (!connections.isEmpty() && System.nanoTime() < deadline) {
            if (!cut && System.nanoTime() - start > GRACE_NANOS) {
                cut = true;
                for (C c : connections) {
                    c.close("the " + protocol + " server is stopping");
                }
            }
            LockSupport.parkNanos(1_000_000);
        }
        if (!connections.isEmpty()) {
            LOG.log(Level.WARNING, "{0}: {1} connections still ending after 35 s", protocol, connections.size());
        }
        exports.clear();
        LOG.log(Level.INFO, "{0} server on {1}:{2,number,#} stopped", protocol, bound.getHostString(), bound.getPort());
    }

    /** An IP address literal (never a name: resolving one would ask DNS). */
    static boolean isAddress(String host) {
        if (!host.matches("[0-9.]+") && !host.matches("[0-9a-fA-F:.]+")) {
            return false;
        }
        try {
            return InetAddress.getByName(host).getHostAddress().equals(host) || host.contains(":");
        } catch (UnknownHostException e) {
            return false;
        }
    }
}
