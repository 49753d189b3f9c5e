package io.mayastorj.control.internal.registry;

import io.mayastorj.nats.NatsConnector;
import io.nats.client.Connection;
import io.nats.client.ConnectionListener;
import io.nats.client.Dispatcher;
import io.nats.client.Options;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The seed's registry: nodes' heartbeats on NATS subject {@value #SUBJECT},
 * {@code {"id":"v0/register","data":{"id":…,"grpcEndpoint":…}}} and {@code v0/deregister}, into the
 * node registry. Connects in the background and for ever, so a NATS server that starts later or
 * restarts is picked up without a restart of the control plane.
 */
public final class NatsRegistry implements AutoCloseable {

    private static final Logger LOG = System.getLogger("mayastor.control");
    public static final String SUBJECT = "v0/registry";

    private final JsonMapper json = JsonMapper.builder().build();
    private final NodeRegistry registry;
    private final String url;
    /** {@link #url} as logged: without its credentials. */
    private final String shown;
    private final Options options;
    private volatile Connection connection;
    private NatsConnector connector; // guarded by this
    private volatile boolean closed;
    /** Between connection attempts while no server answers. */
    static final Duration RETRY = Duration.ofSeconds(1);

    /** Returns at once: the connection is made on a thread of its own, for as long as it takes. */
    public NatsRegistry(String url, NodeRegistry registry) {
        this.registry = registry;
        this.url = url;
        this.shown = io.mayastorj.core.text.Redaction.withoutCredentials(url);
        this.options = new Options.Builder().server(url).connectionName("mayastor-control").maxReconnects(-1)
                .reconnectWait(Duration.ofSeconds(1)).connectionTimeout(Duration.ofSeconds(3))
                .pingInterval(Duration.ofSeconds(2)).maxPingsOut(2) // a server gone without a reset: left in 4-6 s,
                // well within the nodes' offline period (and the beats since the last one heard are forgiven)
                .connectionListener(this::event)
                .build();
        synchronized (this) {
            startConnector();
        }
    }

    /**
     * On a thread of its own: a connection made on the caller's held the control plane's start, and
     * its gRPC registration service, for as long as NATS was down.
     */
    private void startConnector() {
        connector = new NatsConnector("nats-connect mayastor-control", options, RETRY,
                e -> LOG.log(Level.WARNING, "cannot connect to NATS at {0} ({1}): trying again every {2} s", shown,
                        io.mayastorj.core.text.Redaction.withoutCredentials(e.getMessage()), RETRY.toSeconds()),
                this::connected);
    }

    /** The connector's connection: subscribed and kept, unless closed meanwhile. */
    private boolean connected(Connection c) {
        synchronized (this) {
            if (closed) {
                return false;
            }
            Dispatcher dispatcher = c.createDispatcher(message -> handle(new String(message.getData(), StandardCharsets.UTF_8)));
            dispatcher.subscribe(SUBJECT);
            connection = c;
            connector = null;
        }
        registry.beatsHeardAgain(); // a replaced connection: the time without one was not the nodes'
        LOG.log(Level.INFO, "listening for node registrations on NATS subject {0} at {1}", SUBJECT, shown);
        return true;
    }

    /**
     * jnats' connection events: while the connection is down the nodes' beats are not heard, and that
     * silence is not theirs; a connection jnats closed for good (the same authentication error twice
     * on reconnect) is replaced — kept, it heard no beat again until a restart of the control plane.
     */
    private void event(Connection c, ConnectionListener.Events event) {
        LOG.log(Level.INFO, "NATS at {0}: {1}", shown, event);
        switch (event) {
            case DISCONNECTED -> registry.beatsUnheard();
            case RECONNECTED -> registry.beatsHeardAgain();
            case CLOSED -> {
                synchronized (this) {
                    if (closed || c != connection) {
                        return;
                    }
                    registry.beatsUnheard();
                    connection = null;
                    LOG.log(Level.WARNING, "NATS at {0} closed the connection for good: connecting anew", shown);
                    startConnector();
                }
            }
            default -> { }
        }
    }

    /** The interval of a beat that does not say its own (MOAC's nodes, and ours at their default). */
    static final long MOAC_HEARTBEAT_SECONDS = 5;

    /** One message; a malformed one is logged and dropped. */
    void handle(String text) {
        try {
            JsonNode message = json.readTree(text);
            String id = message.path("id").asString("");
            JsonNode data = message.path("data");
            String node = data.path("id").asString("");
            switch (id) {
                case "v0/register" -> registry.registerOverNats(node, data.path("grpcEndpoint").asString(""),
                        data.path("heartbeatSeconds").asLong(MOAC_HEARTBEAT_SECONDS)); // MOAC's message: every 5 s
                case "v0/deregister" -> registry.deregister(node, true, data.path("grpcEndpoint").asString(""));
                default -> LOG.log(Level.DEBUG, "ignored registry message {0}", id);
            }
        } catch (io.mayastorj.core.error.MayastorException e) {
            if (e.kind() == io.mayastorj.core.error.ErrorKind.ALREADY_EXISTS) {
                LOG.log(Level.DEBUG, "a registration refused: {0}", e.getMessage()); // the registry said why, once
            } else {
                LOG.log(Level.WARNING, "a registry message refused ({0}): {1}", e.getMessage(),
                        text.length() > 200 ? text.substring(0, 200) + "…" : text);
            }
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "a registry message that is not understood ({0}): {1}", e.getMessage(),
                    text.length() > 200 ? text.substring(0, 200) + "…" : text);
        }
    }

    /** The connection, for the nexus records the nodes keep in JetStream on the same server; null until made. */
    public Connection connection() {
        return connection;
    }

    @Override
    public void close() {
        Connection c;
        NatsConnector t;
        synchronized (this) {
            closed = true;
            c = connection;
            t = connector;
        }
        if (t != null) {
            t.close();
        }
        if (c != null) {
            try {
                c.close();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
