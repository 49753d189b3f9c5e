package io.mayastorj.control.internal;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.grpc.BindableService;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.mayastorj.control.internal.api.Volumes;
import io.mayastorj.control.internal.csi.ControllerService;
import io.mayastorj.control.internal.grpc.ResourceService;
import io.mayastorj.control.internal.grpc.VolumeService;
import io.mayastorj.control.internal.model.MayastorNode;
import io.mayastorj.control.internal.model.MayastorPool;
import io.mayastorj.control.internal.model.MayastorVolume;
import io.mayastorj.control.internal.nodes.NodeClients;
import io.mayastorj.control.internal.operator.NodeOperator;
import io.mayastorj.control.internal.operator.PoolOperator;
import io.mayastorj.control.internal.operator.Reconciler;
import io.mayastorj.control.internal.operator.VolumeOperator;
import io.mayastorj.control.internal.nodes.NexusRecords;
import io.mayastorj.control.internal.registry.NatsRegistry;
import io.mayastorj.control.internal.registry.NodeRegistry;
import io.mayastorj.control.internal.registry.RegistrationService;
import io.mayastorj.control.internal.store.ActingStore;
import io.mayastorj.control.internal.store.FileStore;
import io.mayastorj.control.internal.store.KubeStore;
import io.mayastorj.control.internal.store.ResourceStore;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.core.grpc.GrpcServers;
import io.mayastorj.core.node.HealthCheck;
import io.mayastorj.csi.CsiReadiness;
import io.mayastorj.core.node.Node;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.Hashtable;
import java.util.List;
import java.util.Map;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceRegistration;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.metatype.annotations.Designate;

/**
 * The control plane: the resource store (Kubernetes or files), the node registry (NATS and gRPC),
 * the node, pool and volume operators on one reconciler thread, and the gRPC services (Registration,
 * VolumeRpc, ResourceRpc) it offers through core's gRPC server.
 */
@Component(service = ControlPlane.class, immediate = true, configurationPid = ControlConfig.PID,
        configurationPolicy = ConfigurationPolicy.REQUIRE)
@Designate(ocd = ControlConfig.class)
public final class ControlPlane {

    private static final Logger LOG = System.getLogger("mayastor.control");
    public static final String NODE = "node";
    public static final String POOL = "pool";
    public static final String VOLUME = "volume";
    private static final String SWEEP = "sweep";

    private final ResourceStore store;
    private final NodeRegistry registry;
    private final NodeClients clients;
    private final VolumeOperator volumes;
    private final Reconciler reconciler;
    private final NatsRegistry nats;
    /** Null with a file store. */
    private final Leadership leadership;
    private final List<ServiceRegistration<?>> services = new ArrayList<>();

    @Activate
    public ControlPlane(ControlConfig config, @Reference Node node, BundleContext context) throws Exception {
        // what is opened so far, closed again if a later step fails: SCR calls no deactivate then, and a
        // file store left open keeps its lock (the next activation in this JVM finds it "in use")
        Deque<AutoCloseable> opened = new ArrayDeque<>();
        try {
            this.store = openStore(config, node);
            opened.push(store);
            this.registry = new NodeRegistry(Duration.ofSeconds(config.registration_interval_seconds()), config.registration_missed());
            opened.push(registry);
            this.clients = new NodeClients(Duration.ofSeconds(config.node_call_timeout_seconds()));
            opened.push(clients);
            // the operators write only while this control plane acts (with a lease: while it leads)
            ActingStore acting = new ActingStore(store);
            NodeOperator nodeOperator = new NodeOperator(acting, registry);
            PoolOperator pools = new PoolOperator(acting, registry, clients, Duration.ofSeconds(config.repair_grace_seconds()));
            this.volumes = new VolumeOperator(acting, registry, clients, Duration.ofSeconds(config.repair_grace_seconds()));
            volumes.orphanGrace(Duration.ofSeconds(config.orphan_grace_seconds()));
            this.reconciler = new Reconciler(Duration.ofSeconds(config.sync_period_seconds()), config.reconcile_workers());
            opened.push(reconciler);
            reconciler.handle(NODE, nodeOperator::reconcile, () -> registry.nodes().forEach(n -> reconciler.enqueue(NODE, n.id())));
            reconciler.handle(POOL, pools::reconcile,
                    () -> store.list(MayastorPool.class).forEach(p -> reconciler.enqueue(POOL, p.getMetadata().getName())));
            reconciler.handle(VOLUME, volumes::reconcile,
                    () -> store.list(MayastorVolume.class).forEach(v -> reconciler.enqueue(VOLUME, v.getMetadata().getName())));
            reconciler.handle(SWEEP, ignored -> {
                try {
                    volumes.sweep();
                } finally {
                    pools.sweep(); // whatever the volumes' sweep met: it once stopped this one for good
                }
            }, () -> reconciler.enqueue(SWEEP, SWEEP));
            store.addListener((kind, name) -> {
                if (kind == MayastorPool.class) {
                    reconciler.enqueue(POOL, name);
                } else if (kind == MayastorVolume.class) {
                    reconciler.enqueue(VOLUME, name);
                } else if (kind == MayastorNode.class) {
                    reconciler.enqueue(NODE, name);
                }
            });
            registry.addBeatListener(n -> clients.heard(n.endpoint()));
            registry.addListener(n -> {
                if (n.online()) {
                    clients.reconnect(n.endpoint());
                }
                reconciler.enqueue(NODE, n.id());
                reconciler.resyncSoon(); // pools and volumes on it may change state, placement and repair
            });
            this.nats = config.nats_url().isBlank() ? null : new NatsRegistry(config.nats_url().strip(), registry);
            if (nats != null) {
                opened.push(nats);
            }
            volumes.switchOver(nats == null ? null : new NexusRecords(nats::connection),
                    VolumeOperator.switchoverGrace(Duration.ofSeconds(config.switchover_grace_seconds()),
                            Duration.ofSeconds(config.registration_interval_seconds())),
                    (name, delay) -> reconciler.enqueueAfter(VOLUME, name, delay));
            opened.push(this::unregisterServices);
            // in Kubernetes, only the control plane holding the lease acts (a file store's lock already
            // keeps a second one from starting)
            this.leadership = store instanceof KubeStore kube ? new Leadership(kube.client(), config.kube_namespace(),
                    Leadership.identity(node.id()), () -> {
                        try {
                            nodeOperator.remember(); // nodes the leader before recorded that this one never heard
                        } catch (RuntimeException e) { // not a reason to give up leading: the store may answer the next pass
                            LOG.log(Level.WARNING, "could not read the MayastorNodes at the start of leading: {0}", e.getMessage());
                        }
                        registry.forgiveSilence();
                        volumes.startedActing();
                        pools.startedActing();
                        reconciler.start();
                    }, reconciler::stop) : null;
            if (leadership != null) {
                acting.actingWhile(leadership::acting);
                clients.actingWhile(leadership::acting);
                opened.push(leadership);
                services.add(context.registerService(HealthCheck.class, leadership, null));
            }
            services.add(context.registerService(BindableService.class, new RegistrationService(registry), null));
            Volumes api = new Volumes(acting, volumes, registry); // its writes too: a leader paused mid-call writes nothing
            services.add(context.registerService(BindableService.class, whileLeading(new VolumeService(api)), null));
            // the CSI controller, served on the CSI endpoint when the runtime has one (the csi bundle's server)
            services.add(context.registerService(BindableService.class,
                    whileLeading(new ControllerService(api, registry, acting, () -> null)),
                    new Hashtable<>(Map.of(GrpcServers.SERVER, GrpcServers.CSI))));
            services.add(context.registerService(BindableService.class, new ResourceService(store), null));
            services.add(context.registerService(io.mayastorj.core.metrics.MetricsSource.class,
                    new ControlMetrics(registry, store, reconciler), null));
            if (leadership == null) {
                reconciler.start();
            }
        } catch (Exception e) {
            for (AutoCloseable c : opened) {
                try {
                    c.close();
                } catch (Exception suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
        LOG.log(Level.INFO, "control plane {0}: resources in {1}; nodes register {2}", node.id(), store.describe(),
                nats == null ? "over gRPC" : "over gRPC and NATS ("
                        + io.mayastorj.core.text.Redaction.withoutCredentials(config.nats_url()) + ")");
    }

    /**
     * The service, its calls refused (UNAVAILABLE, saying who leads) while this control plane stands
     * by: what it would write, no reconciler here makes happen, and the nodes it knows are those that
     * registered with it (the Service sends them to the leader).
     */
    private BindableService whileLeading(BindableService service) {
        if (leadership == null) {
            return service;
        }
        return service instanceof CsiReadiness csi ? new LeadingCsi(service, leadership, csi) : new Leading(service, leadership);
    }

    /** A service whose calls are refused while the control plane stands by. */
    private static class Leading implements BindableService {
        private final BindableService service;
        private final Leadership leadership;

        Leading(BindableService service, Leadership leadership) {
            this.service = service;
            this.leadership = leadership;
        }

        @Override
        public ServerServiceDefinition bindService() {
            return ServerInterceptors.intercept(service, new ServerInterceptor() {
                @Override
                public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers,
                                                                   ServerCallHandler<Q, A> next) {
                    String why = leadership.standing();
                    if (why == null) {
                        return next.startCall(call, headers);
                    }
                    call.close(Status.UNAVAILABLE.withDescription(why), new Metadata());
                    return new ServerCall.Listener<>() { };
                }
            });
        }
    }

    /**
     * The CSI controller, still a part of the driver's readiness (the CSI server asks its parts):
     * not ready while standing by, so the sidecars beside a standby wait rather than call.
     */
    private static final class LeadingCsi extends Leading implements CsiReadiness {
        private final Leadership leadership;
        private final CsiReadiness csi;

        LeadingCsi(BindableService service, Leadership leadership, CsiReadiness csi) {
            super(service, leadership);
            this.leadership = leadership;
            this.csi = csi;
        }

        @Override
        public String notReady() {
            String standing = leadership.standing();
            return standing != null ? standing : csi.notReady();
        }
    }

    private static ResourceStore openStore(ControlConfig config, Node node) throws IOException {
        if (!config.kubeconfig().isBlank()) {
            Thread thread = Thread.currentThread();
            ClassLoader previous = thread.getContextClassLoader();
            thread.setContextClassLoader(ControlPlane.class.getClassLoader()); // fabric8's ServiceLoader lookups
            try {
                Config kube = config.kubeconfig().equals("in-cluster") ? Config.autoConfigure(null)
                        : Config.fromKubeconfig(Files.readString(Path.of(config.kubeconfig()), StandardCharsets.UTF_8));
                // fabric8's defaults retry a failed request ten times with back-off (minutes, with its 10 s
                // timeouts): a CSI call behind one ran past the sidecar's own timeout and wrote late; the
                // operators retry on their own, and a throttled API server is not helped by retries
                kube.setRequestRetryBackoffLimit(2);
                kube.setConnectionTimeout(5_000);
                KubernetesClient client = new KubernetesClientBuilder().withConfig(kube).build();
                return new KubeStore(client, config.kube_namespace());
            } catch (IOException e) {
                throw MayastorException.invalidArgument("cannot read kubeconfig %s: %s", config.kubeconfig(), e.getMessage());
            } finally {
                thread.setContextClassLoader(previous);
            }
        }
        Path dir = config.store_dir().isBlank() ? node.stateDir().resolve("resources") : Path.of(config.store_dir());
        return new FileStore(dir);
    }

    public ResourceStore store() {
        return store;
    }

    public NodeRegistry registry() {
        return registry;
    }

    public VolumeOperator volumes() {
        return volumes;
    }

    public long passes() {
        return reconciler.passes();
    }

    private void unregisterServices() {
        for (ServiceRegistration<?> s : services) {
            try {
                s.unregister();
            } catch (IllegalStateException gone) {
                // the framework is stopping
            }
        }
        services.clear();
    }

    @Deactivate
    public void stop() {
        unregisterServices();
        if (leadership != null) {
            leadership.close(); // the lease given back: a standby takes over at once
        }
        reconciler.close();
        if (nats != null) {
            nats.close();
        }
        registry.close();
        clients.close();
        store.close();
        LOG.log(Level.INFO, "control plane stopped");
    }
}
