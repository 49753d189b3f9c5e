package io.mayastorj.registration.internal;

import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.mayastorj.api.v1.DeregisterRequest;
import io.mayastorj.api.v1.RegisterRequest;
import io.mayastorj.api.v1.RegistrationGrpc;
import io.mayastorj.core.node.HealthCheck;
import io.mayastorj.core.node.Heartbeat;
import io.mayastorj.core.node.Node;
import io.nats.client.Connection;
import io.nats.client.Nats;
import io.nats.client.Options;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.osgi.framework.BundleContext;
import org.osgi.framework.InvalidSyntaxException;
import org.osgi.framework.ServiceReference;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.metatype.annotations.Designate;

/**
 * Announces the node to the control plane every few seconds (the heartbeat the control plane uses
 * to tell online from offline), over NATS, gRPC, or both, and says goodbye when the node stops
 * cleanly. A control plane or NATS server that is away is tried again at the next beat; the first
 * failure of an outage and the recovery are logged, not every beat.
 */
@Component(service = Heartbeat.class, immediate = true, configurationPid = RegistrationConfig.PID,
        configurationPolicy = ConfigurationPolicy.OPTIONAL)
@Designate(ocd = RegistrationConfig.class)
public final class RegistrationAgent implements Heartbeat {

    private static final Logger LOG = System.getLogger("mayastor.registration");
    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(3);

    /** One way of announcing the node. */
    interface Announcer extends AutoCloseable {
        /** Announces the node; true when the beat is known to have arrived (see {@link #heard}). */
        boolean announce() throws Exception;

        void withdraw() throws Exception;

        String describe();

        @Override
        void close();
    }

    private final Node node;
    /** Its interval, said with each beat: the control plane waits that many of them, not its own, before calling it offline. */
    private final long heartbeatSeconds;
    private final BooleanSupplier ready;
    private final java.util.function.Supplier<String> notLive;
    private boolean silenced; // registration thread
    private int stuckLooks; // registration thread
    private final boolean applicationOnly;
    private final List<Announcer> announcers = new ArrayList<>();
    private final boolean[] failing;
    private final ScheduledExecutorService timer;

    /** Announces the node only once it is ready (its API serves): the control plane calls it at once. */
    @Activate
    public RegistrationAgent(@Reference Node node, RegistrationConfig config, BundleContext context) {
        this(node, config.application_only() ? "" : config.nats_url(), config.control_endpoint(),
                Duration.ofSeconds(config.registration_interval_seconds()), () -> isReady(context), config.application_only(),
                () -> dataPlaneNotLive(context));
    }

    public RegistrationAgent(Node node, String natsUrl, String controlEndpoint, Duration interval) {
        this(node, natsUrl, controlEndpoint, interval, () -> true, false);
    }

    RegistrationAgent(Node node, String natsUrl, String controlEndpoint, Duration interval, BooleanSupplier ready,
                      boolean applicationOnly) {
        this(node, natsUrl, controlEndpoint, interval, ready, applicationOnly, () -> null);
    }

    /**
     * {@code notLive} says why the data plane cannot serve (a reactor stuck), or null: no beat then,
     * so that the control plane takes the node for lost and moves its volumes, instead of hearing a
     * node whose I/O has stopped say it is fine (its API, on other threads, still answers).
     */
    RegistrationAgent(Node node, String natsUrl, String controlEndpoint, Duration interval, BooleanSupplier ready,
                      boolean applicationOnly, java.util.function.Supplier<String> notLive) {
        this.node = node;
        this.ready = ready;
        this.notLive = notLive;
        this.heartbeatSeconds = interval.toSeconds(); // 0 below a second (tests): not said, nothing waits longer for it
        this.heardWithinNanos = Math.max(100, interval.toMillis()) * 1_000_000L + HEARD_MARGIN_NANOS;
        this.applicationOnly = applicationOnly;
        NatsAnnouncer nats = null;
        if (natsUrl != null && !natsUrl.isBlank()) {
            nats = new NatsAnnouncer(natsUrl.strip(), interval);
            announcers.add(nats);
        }
        if (controlEndpoint != null && !controlEndpoint.isBlank()) {
            announcers.add(new GrpcAnnouncer(controlEndpoint.strip()));
        }
        if (nats != null) {
            // a publish goes into the client's buffer: it says the beat arrived only when NATS is all there is, and then
            // after a flush the server answered (on a connection cut without a reset, publishes "succeed" for 15 s)
            nats.confirms = announcers.size() == 1;
        }
        this.failing = new boolean[announcers.size()];
        if (announcers.isEmpty()) {
            timer = null;
            LOG.log(Level.DEBUG, "no nats.url or control.endpoint: the node registers nowhere");
            return;
        }
        timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "registration");
            t.setDaemon(true);
            return t;
        });
        timer.scheduleWithFixedDelay(this::beatSurviving, 0, Math.max(100, interval.toMillis()), TimeUnit.MILLISECONDS);
        LOG.log(Level.INFO, "node {0} registers every {1} s {2}", node.id(), interval.toSeconds(),
                String.join(" and ", announcers.stream().map(Announcer::describe).toList()));
    }

    /** Why the reactors do not run (their liveness check, core's), or null. */
    private static String dataPlaneNotLive(BundleContext context) {
        try {
            for (ServiceReference<HealthCheck> ref : context.getServiceReferences(HealthCheck.class, null)) {
                HealthCheck check = context.getService(ref);
                if (check == null) {
                    continue;
                }
                try {
                    if (check.name().equals("reactors")) {
                        String why = check.notLive();
                        return why == null ? null : "the data plane is stuck (" + why + ")";
                    }
                } finally {
                    context.ungetService(ref);
                }
            }
        } catch (InvalidSyntaxException | IllegalStateException e) {
            return null; // the framework is stopping or refreshing: the beat decides as before
        }
        return null;
    }

    private static boolean isReady(BundleContext context) {
        try {
            ServiceReference<?>[] marker = context.getServiceReferences((String) null, "(mayastor.node.state=ready)");
            return marker != null && marker.length > 0;
        } catch (InvalidSyntaxException | IllegalStateException e) {
            return false;
        }
    }

    /**
     * One beat, whatever it throws: a scheduled task that throws is never run again, and the node
     * went offline for good, silently (an Error from a connect, a ready check that failed).
     */
    private void beatSurviving() {
        try {
            beat();
            beatFailing = false;
        } catch (Throwable t) { // the heartbeat must go on
            if (!beatFailing) {
                beatFailing = true;
                LOG.log(Level.ERROR, "node {0}: a heartbeat failed ({1}); trying again every beat", node.id(), t.toString());
            }
        }
    }

    /**
     * Past the beat interval, how long a beat may be late before the node counts itself unheard: less
     * than the control plane allows past the interval before it moves the node's volumes (4 s at
     * least), so that a nexus here that cannot read its record stops serving before another may start.
     */
    static final long HEARD_MARGIN_NANOS = TimeUnit.SECONDS.toNanos(2);
    private final long heardWithinNanos;
    /** When a beat last reached the control plane; from the start, when none was due yet. */
    private volatile long lastHeard = System.nanoTime();

    private volatile long heardBeats; // written by the registration thread only

    /** Tests: the beats known to have arrived. */
    long heardBeats() {
        return heardBeats;
    }

    @Override
    public boolean heard() {
        return timer == null || System.nanoTime() - lastHeard < heardWithinNanos;
    }

    private volatile boolean beatFailing;
    /** The agent stops: no new beat begins; the one under way ends before the goodbye. */
    private volatile boolean stopping;

    private void beat() {
        if (!ready.getAsBoolean()) {
            return; // the node's API does not serve yet
        }
        String stuck = notLive.get();
        if (Thread.currentThread().isInterrupted()) {
            return; // stopping: the look was cut short, it says nothing
        }
        // two looks in a row, a beat apart: one long pause (GC, a slow task) must not cost the node its volumes
        stuckLooks = stuck == null ? 0 : stuckLooks + 1;
        if (stuckLooks >= 2) {
            if (!silenced) {
                silenced = true;
                LOG.log(Level.ERROR, "node {0}: {1}: no heartbeat until it serves again, so that the control plane "
                        + "moves its volumes", node.id(), stuck);
            }
            return;
        }
        if (silenced && stuck == null) {
            silenced = false;
            LOG.log(Level.INFO, "node {0}: its data plane serves again: heartbeats resume", node.id());
        }
        for (int i = 0; i < announcers.size(); i++) {
            if (stopping) {
                return; // the goodbye follows: no beat after it begins
            }
            Announcer a = announcers.get(i);
            try {
                long sent = System.nanoTime(); // heard as of the sending: the answer may come late (up to 3 s)
                if (a.announce()) {
                    lastHeard = sent;
                    heardBeats++;
                }
                if (failing[i]) {
                    failing[i] = false;
                    LOG.log(Level.INFO, "node {0} is registered {1} again", node.id(), a.describe());
                }
            } catch (Exception e) {
                if (e instanceof InterruptedException) {
                    Thread.currentThread().interrupt(); // the stop's: its wait ends, and so does this beat
                }
                if (!failing[i]) {
                    failing[i] = true;
                    LOG.log(Level.WARNING, "node {0} cannot register {1}: {2}; trying again every beat", node.id(),
                            a.describe(), message(e));
                }
            }
        }
    }

    private static String message(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        // jnats names the servers it could not reach by their URLs, credentials included
        return io.mayastorj.core.text.Redaction.withoutCredentials(root.getMessage() == null ? root.toString() : root.getMessage());
    }

    /** A clean stop: the control plane hears that the node goes, instead of waiting for missed beats. */
    @Deactivate
    public void stop() {
        if (timer == null) {
            return;
        }
        // the beat under way ends first, answered: interrupted, its call was cancelled on this side only, and
        // the control plane could take it after the goodbye and call the node online again after it left
        stopping = true;
        timer.shutdown();
        try {
            if (!timer.awaitTermination(CALL_TIMEOUT.toMillis() * 2 + 1000, TimeUnit.MILLISECONDS)) {
                timer.shutdownNow();
                timer.awaitTermination(1, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            timer.shutdownNow();
            Thread.currentThread().interrupt();
        }
        for (Announcer a : announcers) {
            try {
                a.withdraw();
                LOG.log(Level.INFO, "node {0} deregistered {1}", node.id(), a.describe());
            } catch (Exception e) {
                LOG.log(Level.WARNING, "node {0} could not deregister {1}: {2}", node.id(), a.describe(), message(e));
            } finally {
                a.close();
            }
        }
    }

    /** MOAC's registry: JSON on NATS subject v0/registry. */
    private final class NatsAnnouncer implements Announcer {
        private final String url;
        /** {@link #url} as logged: without its credentials. */
        private final String shown;
        private final Duration ping;
        private volatile Connection connection;
        /**
         * Set by {@link #close}: a beat still inside a connect when the stop's wait for it ended (a slow
         * DNS, a server that does not answer) must not keep the connection it then gets — reconnecting for
         * ever from a stopped bundle — nor announce the node after its goodbye.
         */
        private volatile boolean closed;

        NatsAnnouncer(String url, Duration interval) {
            this.url = url;
            this.shown = io.mayastorj.core.text.Redaction.withoutCredentials(url);
            // a server gone without a reset (power lost, a partition) is noticed after two unanswered pings,
            // within the beats the control plane allows, not the client's default of minutes: until then
            // each beat goes into a dead socket and the node is offline to the control plane
            this.ping = interval.compareTo(Duration.ofSeconds(1)) < 0 ? Duration.ofSeconds(1) : interval;
        }

        /** The connect under way, on its own thread. */
        private volatile java.util.concurrent.CompletableFuture<Connection> connecting;

        /**
         * The connection, once made. The connect runs on its own thread and the beat that begins it waits
         * for it half a second at most: made on the beat's thread, a server that did not answer (or a slow DNS) held
         * every beat for the connect's timeout, the gRPC one after it too, which the deployment runs so
         * that beats go on while NATS moves; past the control plane's grace, the node went offline.
         */
        private Connection connection() throws Exception {
            if (connection != null && connection.getStatus() == Connection.Status.CLOSED) {
                connection = null; // the client gave up on it (an authentication refused twice): a new one
            }
            if (connection == null) {
                boolean begun = connecting == null;
                if (begun) {
                    connecting = new java.util.concurrent.CompletableFuture<>();
                    java.util.concurrent.CompletableFuture<Connection> made = connecting;
                    Thread t = new Thread(() -> {
                        try {
                            // once connected, the client reconnects by itself for ever
                            made.complete(Nats.connect(new Options.Builder().server(url)
                                    .connectionName("mayastor-node-" + node.id()).connectionTimeout(CALL_TIMEOUT)
                                    .maxReconnects(-1).reconnectWait(Duration.ofSeconds(1)).pingInterval(ping).maxPingsOut(2)
                                    .build()));
                        } catch (Throwable e) {
                            made.completeExceptionally(e);
                        }
                    }, "registration-nats-connect");
                    t.setDaemon(true);
                    t.start();
                }
                Connection c;
                try {
                    // half a second for the connect this beat began (a reachable server answers in far less:
                    // its first beat is not a failure); the beats after it only look
                    c = begun ? connecting.get(500, TimeUnit.MILLISECONDS)
                            : connecting.isDone() ? connecting.get() : null;
                    if (c == null) {
                        throw new java.util.concurrent.TimeoutException();
                    }
                } catch (java.util.concurrent.TimeoutException e) {
                    throw new IllegalStateException("still connecting to " + shown);
                } catch (java.util.concurrent.ExecutionException e) {
                    connecting = null; // the next beat tries again
                    throw e.getCause() instanceof Exception cause ? cause : e;
                }
                connecting = null;
                connection = c; // first, then the look: a close in between closes it, or this does (twice is harmless)
                if (closed) {
                    c.close();
                    throw new IllegalStateException("the node's registration has stopped");
                }
            }
            return connection;
        }

        /** Whether a beat here says the control plane heard the node: only when NATS is its only way (then flushed). */
        volatile boolean confirms;

        @Override
        public boolean announce() throws Exception {
            Connection c = connection();
            if (c.getStatus() != Connection.Status.CONNECTED) {
                throw new IllegalStateException("the connection to " + shown + " is " + c.getStatus().name().toLowerCase(java.util.Locale.ROOT));
            }
            if (closed) {
                return false; // stopped meanwhile: no beat after the goodbye
            }
            c.publish(RegistryMessage.SUBJECT, RegistryMessage.register(node.id(), node.grpcEndpoint(), heartbeatSeconds));
            if (confirms) {
                c.flush(CALL_TIMEOUT); // the server has it: it reached NATS, which the control plane listens to
            }
            return confirms;
        }

        @Override
        public void withdraw() throws Exception {
            closed = true; // first: a beat still running does not announce the node after this
            Connection c = connection;
            if (c == null || c.getStatus() != Connection.Status.CONNECTED) {
                // said, not logged as done: the control plane sees the node go only by its missed beats
                throw new IllegalStateException("not connected to NATS: the control plane hears of it by the missed beats");
            }
            c.publish(RegistryMessage.SUBJECT, RegistryMessage.deregister(node.id(), node.grpcEndpoint()));
            c.flush(CALL_TIMEOUT);
        }

        @Override
        public String describe() {
            return "over NATS at " + shown;
        }

        @Override
        public void close() {
            closed = true;
            java.util.concurrent.CompletableFuture<Connection> pending = connecting;
            if (pending != null) { // a connect that ends after the stop: its connection would reconnect for ever
                pending.thenAccept(late -> {
                    try {
                        late.close();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                });
            }
            Connection c = connection;
            if (c != null) {
                try {
                    c.close();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }

    /** The embedded default: the control plane's Registration service. */
    private final class GrpcAnnouncer implements Announcer {
        private final String endpoint;
        private final ManagedChannel channel;
        private final RegistrationGrpc.RegistrationBlockingStub stub;

        GrpcAnnouncer(String endpoint) {
            this.endpoint = endpoint;
            this.channel = NettyChannelBuilder.forTarget(endpoint).usePlaintext().build();
            this.stub = RegistrationGrpc.newBlockingStub(channel);
        }

        @Override
        public boolean announce() {
            try {
                stub.withDeadlineAfter(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).register(RegisterRequest.newBuilder()
                        .setId(node.id()).setGrpcEndpoint(node.grpcEndpoint()).setApplicationOnly(applicationOnly)
                        .setHostNqn("nqn.2019-05.io.openebs:node-name:" + node.id()).setHeartbeatSeconds((int) heartbeatSeconds)
                        .build());
                return true; // the control plane answered: it heard the node
            } catch (io.grpc.StatusRuntimeException e) {
                // the heartbeat is the retry: the next one tries the connection at once, rather than after
                // grpc's growing backoff (up to 2 min), which kept a node offline that long after an outage
                channel.resetConnectBackoff();
                if (e.getStatus().getCode() == io.grpc.Status.Code.DEADLINE_EXCEEDED) {
                    // no answer on a connection that looks open (a control plane gone without a reset): the
                    // next beat connects anew instead of waiting for TCP to give up (a quarter of an hour)
                    channel.enterIdle();
                }
                throw e;
            }
        }

        @Override
        public void withdraw() {
            stub.withDeadlineAfter(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
                    .deregister(DeregisterRequest.newBuilder().setId(node.id()).setApplicationOnly(applicationOnly)
                            .setGrpcEndpoint(node.grpcEndpoint()).build());
        }

        @Override
        public String describe() {
            return "with the control plane at " + endpoint;
        }

        @Override
        public void close() {
            channel.shutdownNow();
        }
    }
}
