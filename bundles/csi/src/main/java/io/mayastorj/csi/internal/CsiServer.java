package io.mayastorj.csi.internal;

import io.grpc.BindableService;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.util.MutableHandlerRegistry;
import io.mayastorj.core.grpc.ErrorMapping;
import io.mayastorj.core.grpc.GrpcServers;
import io.mayastorj.core.node.HealthCheck;
import io.mayastorj.core.node.Node;
import io.mayastorj.csi.CsiEndpoint;
import io.mayastorj.csi.CsiReadiness;
import io.mayastorj.csi.internal.node.NodeService;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.osgi.service.component.annotations.ReferencePolicyOption;

/**
 * The CSI endpoint: a gRPC server on a Unix socket (or TCP) serving Identity, this runtime's Node
 * service when it attaches volumes, and every service registered for it ({@code
 * mayastor.grpc.server=csi}: the control plane's Controller). Runs only when the runtime is given a
 * CSI endpoint.
 */
@Component(immediate = true, service = HealthCheck.class, configurationPid = CsiConfig.PID,
        configurationPolicy = ConfigurationPolicy.REQUIRE)
public final class CsiServer implements HealthCheck {

    private static final Logger LOG = System.getLogger("mayastor.csi");

    private final MutableHandlerRegistry handlers = new MutableHandlerRegistry();
    private final Map<BindableService, ServerServiceDefinition> services = new IdentityHashMap<>();
    private final List<CsiReadiness> parts = new CopyOnWriteArrayList<>();
    private final ErrorMapping errors = new ErrorMapping();
    private final List<CsiEndpoint> endpoints = new ArrayList<>();
    private final List<EventLoopGroup> groups = new ArrayList<>();
    private final List<Server> servers = new ArrayList<>();
    private final NodeService nodeService;
    private final PathFollower follower;

    @Activate
    public CsiServer(CsiConfig config, @Reference Node node) throws IOException {
        for (String e : config.endpoint().split(",")) {
            if (!e.isBlank()) {
                endpoints.add(CsiEndpoint.parse(e));
            }
        }
        handlers.addService(ServerInterceptors.intercept(new IdentityService(node.version(), () -> List.copyOf(parts)), errors));
        if (config.node()) {
            nodeService = NodeService.create(node.id(), config, node.stateDir().resolve("csi"));
            parts.add(nodeService);
            handlers.addService(ServerInterceptors.intercept(nodeService, errors));
            follower = config.control_endpoint().isBlank() ? null
                    : new PathFollower(config.control_endpoint().strip(), nodeService, Duration.ofMillis(config.node_follow_millis()));
        } else {
            nodeService = null;
            follower = null;
        }
        for (CsiEndpoint endpoint : endpoints) {
            try {
                EventLoopGroup[] made = new EventLoopGroup[2];
                try {
                    servers.add(endpoint.serverBuilder(made).fallbackHandlerRegistry(handlers).build().start());
                } finally {
                    for (EventLoopGroup g : made) {
                        if (g != null) {
                            groups.add(g);
                        }
                    }
                }
            } catch (IOException e) {
                stop();
                throw new IOException("the CSI driver cannot listen on " + endpoint + ": " + rootMessage(e), e);
            }
        }
        LOG.log(Level.INFO, "CSI driver {0} serves {1} on {2}", CsiReadiness.DRIVER,
                nodeService == null ? "Identity" : "Identity and Node (node id " + node.id() + ")",
                String.join(" and ", endpoints.stream().map(CsiEndpoint::toString).toList()));
    }

    @Override
    public String name() {
        return "csi";
    }

    /** Not ready while CSI Probe would say so: the runtime's /readyz and the driver agree. */
    @Override
    public String notReady() {
        return IdentityService.notReady(List.copyOf(parts));
    }

    private static String rootMessage(Throwable e) {
        Throwable c = e;
        while (c.getCause() != null) {
            c = c.getCause();
        }
        return c.getMessage() == null ? c.toString() : c.getMessage();
    }

    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY, target = "(" + GrpcServers.SERVER + "=" + GrpcServers.CSI + ")")
    void addService(BindableService service) {
        ServerServiceDefinition definition = ServerInterceptors.intercept(service, errors);
        synchronized (services) {
            services.put(service, definition);
        }
        handlers.addService(definition);
        if (service instanceof CsiReadiness r) {
            parts.add(r);
        }
        LOG.log(Level.INFO, "CSI endpoint serves {0}", definition.getServiceDescriptor().getName());
    }

    void removeService(BindableService service) {
        ServerServiceDefinition definition;
        synchronized (services) {
            definition = services.remove(service);
        }
        if (definition != null) {
            handlers.removeService(definition);
        }
        if (service instanceof CsiReadiness r) {
            parts.remove(r);
        }
    }

    @Deactivate
    void stop() {
        if (follower != null) {
            follower.close();
        }
        for (Server server : servers) {
            server.shutdown();
        }
        for (Server server : servers) {
            try {
                if (!server.awaitTermination(3, TimeUnit.SECONDS)) {
                    server.shutdownNow();
                }
            } catch (InterruptedException e) {
                server.shutdownNow();
                Thread.currentThread().interrupt();
            }
        }
        for (EventLoopGroup g : groups) {
            g.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        }
        endpoints.forEach(CsiEndpoint::cleanUp);
        if (nodeService != null) {
            nodeService.close();
        }
        LOG.log(Level.DEBUG, "CSI endpoints closed");
    }

    /** The parts that answer Probe (for tests). */
    List<CsiReadiness> parts() {
        return new ArrayList<>(parts);
    }
}
