package io.mayastorj.plugins.nbd;

import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.buffer.BufferPool;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.core.node.Node;
import io.mayastorj.core.transport.ShareOptions;
import io.mayastorj.core.transport.Transport;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/**
 * The {@code nbd} transport: a Network Block Device server (fixed newstyle handshake, structured
 * replies) whose exports are shared bdevs, named as the bdevs are. Built against core's exported
 * SPI only, the way a third party would build a transport. A connection has a thread that reads
 * requests in bulk and submits them to the bdev; replies go out in batches, so many requests are in
 * flight at once. NBD has no host identity: a share's allowed hosts are client IP addresses.
 */
@Component(service = Transport.class, immediate = true, property = Transport.PROTOCOL + "=nbd", configurationPid = NbdTransport.PID,
        configurationPolicy = ConfigurationPolicy.OPTIONAL)
@Designate(ocd = NbdTransport.Config.class)
public final class NbdTransport implements Transport {

    static final String PID = "io.mayastorj.nbd";
    private static final Logger LOG = System.getLogger("mayastor.nbd");

    @ObjectClassDefinition(id = PID, name = "Mayastor-J NBD transport", description = "Where the NBD server listens")
    public @interface Config {
        @AttributeDefinition(name = "nbd.address", description = "Address to listen on; empty: the node's address")
        String nbd_address() default "";

        @AttributeDefinition(name = "nbd.port", description = "TCP port (10809, NBD's own)")
        int nbd_port() default 10809;
    }

    /** A shared bdev and who may use it (client addresses; empty: anyone). */
    record Export(BlockDevice device, Set<String> allowed) {
        boolean allows(InetAddress client) {
            return allowed.isEmpty() || allowed.contains(client.getHostAddress());
        }
    }

    private final BufferPool buffers;
    private final ServerSocketChannel server;
    private final InetSocketAddress bound;
    private final Map<String, Export> exports = new ConcurrentHashMap<>();
    private final Set<NbdConnection> connections = ConcurrentHashMap.newKeySet();
    private final Thread acceptor;
    private volatile boolean closing;

    @Activate
    public NbdTransport(@Reference BufferPool buffers, @Reference Node node, Config config) throws IOException {
        this(buffers, new InetSocketAddress(config.nbd_address().isBlank()
                ? node.grpcEndpoint().substring(0, node.grpcEndpoint().lastIndexOf(':')) : config.nbd_address(), config.nbd_port()));
    }

    public NbdTransport(BufferPool buffers, InetSocketAddress address) throws IOException {
        this.buffers = buffers;
        server = ServerSocketChannel.open();
        try {
            server.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            server.bind(address, 64);
        } catch (IOException e) {
            server.close();
            throw new IOException("the NBD server cannot listen on " + address.getHostString() + ":" + address.getPort()
                    + ": " + e.getMessage(), e);
        }
        bound = (InetSocketAddress) server.getLocalAddress();
        acceptor = new Thread(this::accept, "nbd-accept");
        acceptor.setDaemon(true);
        acceptor.start();
        LOG.log(Level.INFO, "NBD server listening on {0}:{1,number,#}", bound.getHostString(), bound.getPort());
    }

    private void accept() {
        while (!closing) {
            try {
                SocketChannel channel = server.accept();
                channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
                NbdConnection c = new NbdConnection(this, channel, buffers);
                connections.add(c);
                Thread t = new Thread(c, "nbd-" + channel.getRemoteAddress());
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                if (!closing) {
                    LOG.log(Level.WARNING, "NBD accept failed: {0}", e.getMessage());
                }
            }
        }
    }

    @Override
    public String protocol() {
        return "nbd";
    }

    @Override
    public String share(BlockDevice device, ShareOptions options) {
        if (closing) {
            throw MayastorException.unavailable("the NBD server is stopping");
        }
        for (String host : options.allowedHosts()) {
            if (!isAddress(host)) {
                throw MayastorException.invalidArgument("nbd: allowed host '%s' is not an IP address (NBD clients have no other identity)", host);
            }
        }
        exports.put(device.name(), new Export(device, Set.copyOf(options.allowedHosts())));
        LOG.log(Level.INFO, "NBD export {0} ({1} bytes)", device.name(), device.sizeBytes());
        return "nbd://" + bound.getHostString() + ":" + bound.getPort() + "/" + device.name();
    }

    @Override
    public void unshare(BlockDevice device) {
        if (exports.remove(device.name()) == null) {
            return;
        }
        // again until none is left: a client finishing its handshake may have picked the export just now
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        boolean any = true;
        while (any && System.nanoTime() < deadline) {
            any = false;
            for (NbdConnection c : connections) {
                if (c.serves(device)) {
                    any = true;
                    c.close("the export " + device.name() + " is no longer shared");
                }
            }
            if (any) {
                java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);
            }
        }
        LOG.log(Level.INFO, "NBD export {0} removed", device.name());
    }

    /** An IP address literal (never a name: resolving one would ask DNS, and NBD clients are known by address only). */
    private static boolean isAddress(String host) {
        if (!host.matches("[0-9.]+") && !host.matches("[0-9a-fA-F:.]+")) {
            return false;
        }
        try {
            return InetAddress.getByName(host).getHostAddress().equals(host) || host.contains(":");
        } catch (java.net.UnknownHostException e) {
            return false;
        }
    }

    /** NBD clients have no name: each connected one by its address. */
    @Override
    public List<String> connectedHosts(BlockDevice device) {
        return connections.stream().filter(c -> c.serves(device)).map(c -> "an NBD client from " + c.peer()).sorted().toList();
    }

    Export export(String name) {
        return exports.get(name);
    }

    /** Export names a client may list, sorted. */
    List<String> exportNames(InetAddress client) {
        return new TreeMap<>(exports).values().stream().filter(e -> e.allows(client)).map(e -> e.device().name()).toList();
    }

    void closed(NbdConnection c) {
        connections.remove(c);
    }

    public InetSocketAddress address() {
        return bound;
    }

    public int connections() {
        return connections.size();
    }

    @Deactivate
    public void close() {
        closing = true;
        try {
            server.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        for (NbdConnection c : connections) {
            c.close("the NBD server is stopping");
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!connections.isEmpty() && System.nanoTime() < deadline) {
            java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);
        }
        exports.clear();
        LOG.log(Level.INFO, "NBD server on {0}:{1,number,#} stopped", bound.getHostString(), bound.getPort());
    }
}
