package io.mayastorj.plugins.nbd;

import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.buffer.BufferPool;
import io.mayastorj.core.node.Node;
import io.mayastorj.core.transport.ShareOptions;
import io.mayastorj.core.transport.Transport;
import io.mayastorj.core.transport.tcp.TcpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
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
 * SPI only, the way a third party would build a transport: core's {@link TcpServer} listens, keeps
 * the exports and the connections, and disconnects and drains them; {@link NbdConnection} is the
 * protocol.
 */
@Component(service = Transport.class, immediate = true, property = Transport.PROTOCOL + "=nbd", configurationPid = NbdTransport.PID,
        configurationPolicy = ConfigurationPolicy.OPTIONAL)
@Designate(ocd = NbdTransport.Config.class)
public final class NbdTransport implements Transport {

    static final String PID = "io.mayastorj.nbd";

    @ObjectClassDefinition(id = PID, name = "Mayastor-J NBD transport", description = "Where the NBD server listens")
    public @interface Config {
        @AttributeDefinition(name = "nbd.address", description = "Address to listen on; empty: the node's address")
        String nbd_address() default "";

        @AttributeDefinition(name = "nbd.port", description = "TCP port (10809, NBD's own)")
        int nbd_port() default 10809;
    }

    private final TcpServer<NbdConnection> server;
    /**
     * Ends connections that hold a thread for nothing: a handshake that does not finish, a client
     * that reads no replies (a reply may be written on a bdev's completion thread, which it would
     * otherwise block for good).
     */
    private final ScheduledExecutorService watchdog;

    @Activate
    public NbdTransport(@Reference BufferPool buffers, @Reference Node node, Config config) throws IOException {
        this(buffers, new InetSocketAddress(config.nbd_address().isBlank()
                ? node.grpcEndpoint().substring(0, node.grpcEndpoint().lastIndexOf(':')) : config.nbd_address(), config.nbd_port()));
    }

    public NbdTransport(BufferPool buffers, InetSocketAddress address) throws IOException {
        this(buffers, address, Duration.ofSeconds(10));
    }

    /** {@code patience}: how long a handshake may take, and a reply may wait for a client that reads none. */
    NbdTransport(BufferPool buffers, InetSocketAddress address, Duration patience) throws IOException {
        server = TcpServer.open("nbd", address, (s, channel) -> new NbdConnection(s, channel, buffers, patience.toNanos()));
        watchdog = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "nbd-watchdog");
            t.setDaemon(true);
            return t;
        });
        long period = Math.max(100, patience.toMillis() / 10);
        watchdog.scheduleWithFixedDelay(() -> {
            long now = System.nanoTime();
            server.connections().forEach(c -> c.watch(now));
        }, period, period, TimeUnit.MILLISECONDS);
    }

    @Override
    public String protocol() {
        return "nbd";
    }

    /** NBD has no host identity: a share's allowed hosts are client IP addresses. */
    @Override
    public String share(BlockDevice device, ShareOptions options) {
        return server.export(device, options);
    }

    @Override
    public void unshare(BlockDevice device) {
        server.unexport(device);
    }

    @Override
    public List<String> connectedHosts(BlockDevice device) {
        return server.connectedHosts(device);
    }

    public InetSocketAddress address() {
        return server.address();
    }

    public int connections() {
        return server.connections().size();
    }

    @Deactivate
    public void close() {
        watchdog.shutdownNow();
        server.close();
    }
}
