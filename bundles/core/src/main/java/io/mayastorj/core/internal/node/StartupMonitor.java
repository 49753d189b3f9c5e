package io.mayastorj.core.internal.node;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.Arrays;
import java.util.Hashtable;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.InvalidSyntaxException;
import org.osgi.framework.ServiceReference;
import org.osgi.service.component.ComponentConstants;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.runtime.ServiceComponentRuntime;
import org.osgi.service.component.runtime.dto.ComponentConfigurationDTO;
import org.osgi.service.component.runtime.dto.ComponentDescriptionDTO;

/**
 * Decides when the node has started, and says so with a marker service the launcher waits for:
 * {@code mayastor.node.state=ready} once every immediate component of the node's bundles is active
 * (the gRPC server listens, the pools are imported), or {@code =failed} with the reason when one of
 * them failed to activate (a port in use, hugepages required but missing) or is still waiting for
 * something after a while. It stops watching once it has decided.
 */
@Component(immediate = true)
public final class StartupMonitor {

    private static final Logger LOG = System.getLogger("mayastor.node");
    /**
     * How long the start may make no progress (the same component still not active) before it is
     * a failure: counted from the last progress, not from the start, so a slow machine (a JVM under
     * emulation loads its classes at a tenth of the speed) is not failed while it still moves — a
     * wait for something not awaited before is progress — and never more than ten times this, unless
     * a component says it moves ({@link io.mayastorj.core.node.Node#startupProgress}).
     * {@code -Dmayastor.startup.timeout.seconds} sets it (45 s by default).
     */
    private static final long WATCH_NANOS = TimeUnit.SECONDS.toNanos(Math.min(Long.MAX_VALUE / 4_000_000_000L,
            Math.max(1, Long.getLong("mayastor.startup.timeout.seconds", 45))));
    /**
     * How long every component must have looked started before the node says so. SCR's states
     * flicker while it works: a component whose activation failed is retried when a consumer asks
     * for its service and again when Config Admin delivers its configuration, and passes through
     * ACTIVE (which clears the failure) or through having no configuration at all on the way; one
     * look at such a moment took a node whose nvmf port was taken for a started one.
     */
    private static final long SETTLE_NANOS = TimeUnit.MILLISECONDS.toNanos(150);
    /**
     * How long a component SCR calls active may hand out no instance, without a failure recorded,
     * before that is taken as its failure: while SCR is still constructing it on another thread
     * (a target binding its port) it hands out none either, for a moment.
     */
    private static final long UNINSTANTIABLE_NANOS = TimeUnit.SECONDS.toNanos(2);
    private static final String GRPC_SERVER = "io.mayastorj.core.internal.grpc.GrpcServer";
    /**
     * Framework property: configuration PIDs this runtime never configures (the control plane's has
     * no {@code io.mayastorj.dataplane}), so components that require them are not waited for.
     */
    public static final String UNUSED_PIDS = "mayastor.unused.pids";

    private final ServiceComponentRuntime runtime;
    private final BundleContext context;
    private final Set<String> unusedPids;
    private final Thread watcher;
    private volatile boolean running = true;

    @Activate
    public StartupMonitor(@Reference ServiceComponentRuntime runtime, BundleContext context) {
        this.runtime = runtime;
        this.context = context;
        String unused = context.getProperty(UNUSED_PIDS);
        this.unusedPids = unused == null || unused.isBlank() ? Set.of()
                : Set.of(unused.strip().split("\\s*,\\s*"));
        this.watcher = new Thread(this::watch, "startup-monitor");
        watcher.setDaemon(true);
        watcher.start();
    }

    /** Progress a component reported during its activation ({@link io.mayastorj.core.node.Node#startupProgress}). */
    private static final java.util.concurrent.atomic.AtomicLong PROGRESS = new java.util.concurrent.atomic.AtomicLong();
    private static volatile String progressWhat = "";

    static void progressed(String what) {
        progressWhat = what;
        PROGRESS.incrementAndGet();
    }

    /**
     * How long the start may still take: {@link #WATCH_NANOS} from the last progress, and at most ten
     * times that in all, since something new awaited may be SCR flickering as it retries; progress a
     * component reports (a pool's import zeroing for minutes) is real, and moves the cap as well.
     */
    static final class Patience {
        private final long window;
        private long deadline;
        private long cap;

        Patience(long window, long now) {
            this.window = window;
            this.deadline = now + window;
            this.cap = now + capOf(window);
        }

        /** Ten windows, or as long as a long holds for one set to mean "never". */
        private static long capOf(long window) {
            return window > Long.MAX_VALUE / 20 ? Long.MAX_VALUE / 2 : 10 * window;
        }

        /** Something new is awaited. */
        void moved(long now) {
            deadline = now + window;
        }

        /** A component said it moves: what follows its long step gets the patience a start gets. */
        void reported(long now) {
            deadline = now + window;
            long capFromNow = now + capOf(window);
            if (capFromNow - cap > 0) {
                cap = capFromNow;
            }
        }

        boolean runOut(long now) {
            return now - deadline > 0 || now - cap > 0;
        }
    }

    private void watch() {
        Patience patience = new Patience(WATCH_NANOS, System.nanoTime());
        long reported = PROGRESS.get();
        java.util.Set<String> awaited = new java.util.HashSet<>();
        String lastAwaited = "components settling";
        long settledSince = 0;
        long uninstantiableSince = 0;
        try {
            while (running) {
                String failure = failure();
                String pendingNow = pending();
                if (pendingNow != null) {
                    lastAwaited = pendingNow;
                    if (awaited.add(pendingNow)) {
                        patience.moved(System.nanoTime()); // progress: something new is awaited now
                    }
                }
                long said = PROGRESS.get();
                if (said != reported) {
                    reported = said;
                    patience.reported(System.nanoTime());
                    lastAwaited = progressWhat;
                }
                long time = System.nanoTime();
                if (failure == null && patience.runOut(time)) {
                    failure = "not ready: " + lastAwaited + " (no progress for " + TimeUnit.NANOSECONDS.toSeconds(WATCH_NANOS) + " s)";
                }
                if (failure == null && pendingNow == null) {
                    long now = System.nanoTime();
                    String notInstantiable = uninstantiable();
                    if (notInstantiable == null) {
                        uninstantiableSince = 0;
                        if (settledSince == 0) {
                            settledSince = now;
                        } else if (now - settledSince >= SETTLE_NANOS) {
                            announce("ready", null);
                            return;
                        }
                    } else {
                        settledSince = 0;
                        String recorded = failure();
                        if (recorded != null) {
                            failure = recorded;
                        } else if (uninstantiableSince == 0) {
                            uninstantiableSince = now;
                        } else if (now - uninstantiableSince >= UNINSTANTIABLE_NANOS) {
                            failure = notInstantiable;
                        }
                    }
                } else {
                    settledSince = 0; // (a component seen without an instance stays counted: SCR flickers as it retries)
                }
                if (failure != null) {
                    LOG.log(Level.ERROR, "the node cannot start: {0}", failure);
                    announce("failed", failure);
                    return;
                }
                Thread.sleep(20);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IllegalStateException stopping) {
            // the bundle is stopping
        }
    }

    private void announce(String state, String error) {
        Hashtable<String, Object> props = new Hashtable<>();
        props.put("mayastor.node.state", state);
        if (error != null) {
            props.put("mayastor.node.error", error);
        }
        context.registerService(Object.class.getName(), new Object(), props);
    }

    /** What the node still waits for, or null when every immediate component is active. */
    private String pending() {
        boolean grpc = false;
        for (Bundle bundle : context.getBundles()) {
            String name = bundle.getSymbolicName();
            if (name == null || !name.startsWith("io.mayastorj.")) {
                continue;
            }
            if (bundle.getState() != Bundle.ACTIVE) {
                return "bundle " + name + " is not active";
            }
            var descriptions = runtime.getComponentDescriptionDTOs(bundle);
            if (descriptions.isEmpty() && bundle.getHeaders("").get("Service-Component") != null) {
                // ACTIVE a moment before SCR has read its components: nothing of it is known yet
                return "bundle " + name + " has components SCR has not read yet";
            }
            for (ComponentDescriptionDTO description : descriptions) {
                if (!description.immediate) {
                    continue;
                }
                var configurations = runtime.getComponentConfigurationDTOs(description);
                if (configurations.isEmpty() && "require".equals(description.configurationPolicy)
                        && Arrays.stream(description.configurationPid).allMatch(unusedPids::contains)) {
                    continue; // not part of this runtime
                }
                if (configurations.isEmpty()) {
                    return "component " + description.name + " has no configuration";
                }
                for (ComponentConfigurationDTO configuration : configurations) {
                    if (configuration.state != ComponentConfigurationDTO.ACTIVE) {
                        String waiting = configuration.unsatisfiedReferences.length == 0 ? "is not active"
                                : "waits for " + configuration.unsatisfiedReferences[0].target;
                        return "component " + description.name + " " + waiting;
                    }
                }
                grpc |= GRPC_SERVER.equals(description.name);
            }
        }
        return grpc ? null : "the gRPC server has not started";
    }

    /** The first component of a Mayastor-J bundle that failed to activate, with its reason; or null. */
    private String failure() {
        for (Bundle bundle : context.getBundles()) {
            String name = bundle.getSymbolicName();
            if (name == null || !name.startsWith("io.mayastorj.") || bundle.getState() != Bundle.ACTIVE) {
                continue;
            }
            for (ComponentDescriptionDTO description : runtime.getComponentDescriptionDTOs(bundle)) {
                for (ComponentConfigurationDTO configuration : runtime.getComponentConfigurationDTOs(description)) {
                    if (configuration.state == ComponentConfigurationDTO.FAILED_ACTIVATION) {
                        return reason(configuration.failure);
                    }
                }
            }
        }
        return null;
    }

    /**
     * An immediate component with a service that SCR reports ACTIVE but cannot give an instance of,
     * with its reason; or null. Asking for the service is a check that does not depend on when SCR's
     * states are read: an immediate component that activated hands out its instance, one whose
     * activation failed fails again, and records why.
     */
    private String uninstantiable() {
        for (Bundle bundle : context.getBundles()) {
            String name = bundle.getSymbolicName();
            if (name == null || !name.startsWith("io.mayastorj.")) {
                continue;
            }
            for (ComponentDescriptionDTO description : runtime.getComponentDescriptionDTOs(bundle)) {
                if (!description.immediate || description.serviceInterfaces.length == 0) {
                    continue;
                }
                for (ComponentConfigurationDTO configuration : runtime.getComponentConfigurationDTOs(description)) {
                    if (!instantiable(configuration.id)) {
                        String failure = failure();
                        return failure != null ? failure : "component " + description.name + " failed to activate";
                    }
                }
            }
        }
        return null;
    }

    private boolean instantiable(long componentId) {
        ServiceReference<?>[] refs;
        try {
            refs = context.getAllServiceReferences(null, "(" + ComponentConstants.COMPONENT_ID + "=" + componentId + ")");
        } catch (InvalidSyntaxException e) {
            throw new IllegalStateException(e);
        }
        if (refs == null) {
            return false; // ACTIVE yet not registered: it is being torn down after a failure
        }
        Object instance = context.getService(refs[0]);
        if (instance == null) {
            return false;
        }
        context.ungetService(refs[0]);
        return true;
    }

    /**
     * The message of the first exception in a stack trace's text that is not a reflective wrapper:
     * our own message, not the constructor call around it nor the library error under it.
     */
    static String reason(String failure) {
        if (failure == null || failure.isBlank()) {
            return "a component failed to activate";
        }
        boolean first = true;
        for (String line : failure.split("\n")) {
            String header = first ? line : line.startsWith("Caused by: ") ? line.substring("Caused by: ".length()) : null;
            first = false;
            if (header == null || header.startsWith("java.lang.reflect.InvocationTargetException")
                    || header.startsWith("org.osgi.service.component.ComponentException")) {
                continue;
            }
            // "java.io.IOException: text" or "RESOURCE_EXHAUSTED: text" (ours) → "text"
            return header.replaceFirst("^([\\w.$]+(Exception|Error)|[A-Z_]+): ", "").strip();
        }
        return failure.lines().findFirst().orElse("a component failed to activate");
    }

    @Deactivate
    public void stop() {
        running = false;
        watcher.interrupt();
    }
}
