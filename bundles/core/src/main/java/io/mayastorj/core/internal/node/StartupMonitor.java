package io.mayastorj.core.internal.node;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.Hashtable;
import java.util.concurrent.TimeUnit;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.InvalidSyntaxException;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.runtime.ServiceComponentRuntime;
import org.osgi.service.component.runtime.dto.ComponentConfigurationDTO;
import org.osgi.service.component.runtime.dto.ComponentDescriptionDTO;

/**
 * Watches the node's components while it starts: when one of them fails to activate (a port in use,
 * hugepages required but missing), it announces the node as failed with that component's reason,
 * so the launcher can say why and exit instead of waiting. It stops watching once the node is
 * ready.
 */
@Component(immediate = true)
public final class StartupMonitor {

    private static final Logger LOG = System.getLogger("mayastor.node");
    private static final long WATCH_NANOS = TimeUnit.SECONDS.toNanos(60);

    private final ServiceComponentRuntime runtime;
    private final BundleContext context;
    private final Thread watcher;
    private volatile boolean running = true;

    @Activate
    public StartupMonitor(@Reference ServiceComponentRuntime runtime, BundleContext context) {
        this.runtime = runtime;
        this.context = context;
        this.watcher = new Thread(this::watch, "startup-monitor");
        watcher.setDaemon(true);
        watcher.start();
    }

    private void watch() {
        long deadline = System.nanoTime() + WATCH_NANOS;
        try {
            while (running && System.nanoTime() < deadline && !ready()) {
                String failure = failure();
                if (failure != null) {
                    LOG.log(Level.ERROR, "the node cannot start: {0}", failure);
                    Hashtable<String, Object> props = new Hashtable<>();
                    props.put("mayastor.node.state", "failed");
                    props.put("mayastor.node.error", failure);
                    context.registerService(Object.class.getName(), new Object(), props);
                    return;
                }
                Thread.sleep(50);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IllegalStateException stopping) {
            // the bundle is stopping
        }
    }

    private boolean ready() {
        try {
            return context.getServiceReferences((String) null, "(mayastor.node.state=ready)") != null;
        } catch (InvalidSyntaxException e) {
            throw new IllegalStateException(e);
        }
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
