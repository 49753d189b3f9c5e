package com.example.mayastor.http;

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
 * The {@code http} transport: a shared bdev is read with HTTP GET (whole, or one byte range), at
 * {@code http://HOST:PORT/NAME}. Read-only, so any HTTP client (curl) can fetch an image.
 *
 * <p>A Declarative Services component: SCR creates it when the bundle starts and its references are
 * there, with its configuration (the {@code .cfg} file named after {@link #PID} in the node's
 * plugins directory, if any), and deactivates it when the bundle stops or the configuration changes.
 */
@Component(service = Transport.class, immediate = true, property = Transport.PROTOCOL + "=" + HttpTransport.PROTOCOL,
        configurationPid = HttpTransport.PID, configurationPolicy = ConfigurationPolicy.OPTIONAL)
@Designate(ocd = HttpTransport.Config.class)
public final class HttpTransport implements Transport {

    static final String PROTOCOL = "http";
    static final String PID = "com.example.mayastor.http";

    /**
     * The settings. A method's name is its key in the {@code .cfg} file: {@code _} becomes
     * {@code .}, so {@code http_port()} is {@code http.port}; the default applies when the key is absent.
     */
    @ObjectClassDefinition(id = PID, name = "Read-only HTTP transport")
    public @interface Config {
        @AttributeDefinition(description = "Address to listen on; empty: the node's address")
        String http_address() default "";

        @AttributeDefinition(description = "TCP port")
        int http_port() default 10880;
    }

    private final TcpServer<HttpConnection> server;
    /** Closes connections whose client stopped reading (see {@link HttpConnection#watch}); one thread per transport. */
    private final ScheduledExecutorService watchdog;
    /** How long a write may wait for the client to read before the connection ends. */
    static final Duration PATIENCE = Duration.ofSeconds(60);

    /** Throwing here (the port is taken) shows on this protocol's shares as FAILED, with the message. */
    @Activate
    public HttpTransport(@Reference BufferPool buffers, @Reference Node node, Config config) throws IOException {
        this(buffers, new InetSocketAddress(config.http_address().isBlank()
                ? node.grpcEndpoint().substring(0, node.grpcEndpoint().lastIndexOf(':')) : config.http_address(), config.http_port()));
    }

    /** Without OSGi, for tests. */
    HttpTransport(BufferPool buffers, InetSocketAddress address) throws IOException {
        this(buffers, address, PATIENCE);
    }

    HttpTransport(BufferPool buffers, InetSocketAddress address, Duration patience) throws IOException {
        server = TcpServer.open(PROTOCOL, address, (s, channel) -> new HttpConnection(s, channel, buffers));
        watchdog = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "http-watchdog");
            t.setDaemon(true);
            return t;
        });
        long patienceNanos = patience.toNanos();
        long every = Math.max(1, patience.toMillis() / 10);
        watchdog.scheduleWithFixedDelay(() -> {
            long now = System.nanoTime();
            for (HttpConnection c : server.connections()) {
                c.watch(now, patienceNanos);
            }
        }, every, every, TimeUnit.MILLISECONDS);
    }

    @Override
    public String protocol() {
        return PROTOCOL;
    }

    @Override
    public String share(BlockDevice device, ShareOptions options) {
        return server.export(device, options); // allowed hosts are client IP addresses; no share properties
    }

    @Override
    public void unshare(BlockDevice device) {
        server.unexport(device); // its clients are disconnected
    }

    @Override
    public List<String> connectedHosts(BlockDevice device) {
        return server.connectedHosts(device);
    }

    InetSocketAddress address() {
        return server.address();
    }

    /** Stops listening, disconnects every client and waits for their threads (and so their I/O) to end. */
    @Deactivate
    public void close() {
        server.close();
        watchdog.shutdownNow();
    }
}
