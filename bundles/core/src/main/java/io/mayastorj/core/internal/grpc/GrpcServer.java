package io.mayastorj.core.internal.grpc;

import io.grpc.BindableService;
import io.mayastorj.core.grpc.ErrorMapping;
import io.mayastorj.core.grpc.GrpcServers;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.util.MutableHandlerRegistry;
import io.mayastorj.core.internal.node.Endpoint;
import io.mayastorj.core.node.Node;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.osgi.framework.BundleContext;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.osgi.service.component.annotations.ReferencePolicyOption;

/**
 * The node's gRPC server, a whiteboard: every {@link BindableService} any bundle registers is
 * served, and leaves with its bundle (but those meant for another server, {@link GrpcServers#SERVER}). The {@link io.mayastorj.core.internal.node.StartupMonitor}
 * announces the node ready once this component (and every other of the node's) is active.
 */
@Component(immediate = true)
public final class GrpcServer {

    private static final Logger LOG = System.getLogger("mayastor.grpc");

    private final MutableHandlerRegistry handlers = new MutableHandlerRegistry();
    private final Map<BindableService, ServerServiceDefinition> services = new IdentityHashMap<>();
    private final ErrorMapping errorMapping = new ErrorMapping();
    private final LoopbackOnly loopbackOnly = new LoopbackOnly();
    @Reference
    private Node node;
    private Server server;

    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY, target = "(!(" + GrpcServers.SERVER + "=*))")
    public synchronized void addService(BindableService service, Map<String, Object> properties) {
        ServerServiceDefinition definition = Boolean.parseBoolean(String.valueOf(properties.get(LoopbackOnly.PROPERTY)))
                ? ServerInterceptors.intercept(service, loopbackOnly, errorMapping)
                : ServerInterceptors.intercept(service, errorMapping);
        services.put(service, definition);
        handlers.addService(definition);
        LOG.log(Level.DEBUG, "serving {0}", definition.getServiceDescriptor().getName());
    }

    public synchronized void removeService(BindableService service) {
        ServerServiceDefinition definition = services.remove(service);
        if (definition != null) {
            handlers.removeService(definition);
        }
    }

    /** Runs after the services present at start-up are bound, so "ready" means they are served. */
    @Activate
    public void start(BundleContext context) throws IOException {
        Endpoint endpoint = Endpoint.parse(node.grpcEndpoint());
        Server started;
        try {
            started = NettyServerBuilder.forAddress(endpoint.socketAddress())
                    .fallbackHandlerRegistry(handlers)
                    .permitKeepAliveTime(10, TimeUnit.SECONDS)
                    .build()
                    .start();
        } catch (IOException e) {
            String reason = "cannot listen on " + endpoint + ": " + rootMessage(e);
            LOG.log(Level.ERROR, reason);
            throw new IOException(reason, e); // the startup monitor reports it
        }
        this.server = started;
        LOG.log(Level.INFO, "{0} serves gRPC on {1}", node.id(), endpoint);
    }

    private static String rootMessage(Throwable e) {
        Throwable cause = e;
        while (cause.getCause() != null) {
            cause = cause.getCause();
        }
        String message = cause.getMessage() == null ? cause.toString() : cause.getMessage();
        // netty's native transport says "bind(..) failed with error(-98): Address already in use"
        return message.replaceFirst("^\\w+\\(\\.\\.\\) failed with error\\(-?\\d+\\): ", "");
    }

    @Deactivate
    public void stop() {
        server.shutdown();
        try {
            if (!server.awaitTermination(3, TimeUnit.SECONDS)) {
                server.shutdownNow();
            }
        } catch (InterruptedException e) {
            server.shutdownNow();
            Thread.currentThread().interrupt();
        }
        LOG.log(Level.DEBUG, "gRPC server stopped");
    }
}
