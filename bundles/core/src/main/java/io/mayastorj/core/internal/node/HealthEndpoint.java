package io.mayastorj.core.internal.node;

import io.mayastorj.core.metrics.MetricsSource;
import io.mayastorj.core.node.HealthCheck;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;
import org.osgi.framework.BundleContext;
import org.osgi.framework.InvalidSyntaxException;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.osgi.service.metatype.annotations.AttributeDefinition;

/**
 * The runtime's probes and metrics over HTTP, for Kubernetes and Prometheus: {@code /metrics} has
 * every {@link MetricsSource}'s samples; {@code /healthz} answers 200 while every
 * {@link HealthCheck} says the runtime is live (its reactors turn), {@code /readyz} 200 once the
 * runtime has started (the startup monitor said so) and every check says it is ready, 503 with the
 * reasons otherwise. Off unless the runtime's {@code http.endpoint} is set; a port that is taken
 * stops the runtime at start-up, as the gRPC port does.
 */
@Component(immediate = true, configurationPid = "io.mayastorj.node", configurationPolicy = ConfigurationPolicy.REQUIRE)
public final class HealthEndpoint {

    private static final Logger LOG = System.getLogger("mayastor.node");

    @interface Config {
        @AttributeDefinition(description = "ip:port of the HTTP endpoint (probes), none when empty")
        String http_endpoint() default "";
    }

    private final List<HealthCheck> checks = new CopyOnWriteArrayList<>();
    private final List<MetricsSource> sources = new CopyOnWriteArrayList<>();
    private final BundleContext context;
    private ProbeServer server;

    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC)
    void addCheck(HealthCheck check) {
        checks.add(check);
    }

    void removeCheck(HealthCheck check) {
        checks.remove(check);
    }

    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC)
    void addSource(MetricsSource source) {
        sources.add(source);
    }

    void removeSource(MetricsSource source) {
        sources.remove(source);
    }

    @Activate
    public HealthEndpoint(BundleContext context, Config config) throws IOException {
        this.context = context;
        String text = config.http_endpoint() == null ? "" : config.http_endpoint().strip();
        if (text.isEmpty()) {
            return;
        }
        Endpoint endpoint = Endpoint.parse(text);
        // the JDK's HTTP server is touched only here, so a framework without it runs without probes
        MetricsPage metrics = new MetricsPage();
        // not ready while not live either: a stuck reactor takes no work (the liveness probe restarts it in time)
        server = new ProbeServer(endpoint.socketAddress(), this::notLive, this::notReady, MetricsPage.CONTENT_TYPE, out -> metrics.write(List.copyOf(sources), out));
        LOG.log(Level.INFO, "probes on http://{0}/healthz and /readyz, metrics on /metrics", endpoint);
    }

    /** Why {@code /healthz} fails: empty while the runtime is live. */
    List<String> notLive() {
        return problems(HealthCheck::notLive, false);
    }

    /** Why {@code /readyz} fails: empty once started, while every check says ready and live, and until it stops. */
    List<String> notReady() {
        return problems(c -> c.notReady() != null ? c.notReady() : c.notLive(), true);
    }

    /** The reasons the runtime is not live (or not ready); empty when it is. */
    List<String> problems(Function<HealthCheck, String> ask, boolean startup) {
        List<String> problems = new ArrayList<>();
        if (startup && stopping()) {
            problems.add("stopping"); // SIGTERM: its nexuses drain and it says goodbye; Services send it nothing new
        } else if (startup) {
            String state = startupState();
            if (!"ready".equals(state)) {
                problems.add(state == null ? "starting" : "start-up " + state);
            }
        }
        for (HealthCheck check : checks) {
            String why;
            try {
                why = ask.apply(check);
            } catch (RuntimeException e) {
                why = "its check failed: " + e;
            }
            if (why != null) {
                problems.add(check.name() + ": " + why);
            }
        }
        return problems;
    }

    /** The launcher's mark, registered when the runtime begins to stop (SIGTERM). */
    public static final String STOPPING = "mayastor.node.stopping";

    private boolean stopping() {
        try {
            var refs = context.getServiceReferences((String) null, "(" + STOPPING + "=true)");
            return refs != null && refs.length > 0;
        } catch (InvalidSyntaxException | IllegalStateException e) {
            return true; // the framework is going
        }
    }

    /** What the startup monitor announced: ready, failed, or null while it has not decided. */
    private String startupState() {
        try {
            var refs = context.getServiceReferences(Object.class.getName(), "(mayastor.node.state=*)");
            return refs == null || refs.length == 0 ? null : String.valueOf(refs[0].getProperty("mayastor.node.state"));
        } catch (InvalidSyntaxException | IllegalStateException e) {
            return null;
        }
    }


    @Deactivate
    public void stop() {
        if (server != null) {
            server.close();
        }
    }
}
