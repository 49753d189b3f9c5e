package io.mayastorj.launcher;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Hashtable;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.stream.Stream;
import org.apache.felix.framework.FrameworkFactory;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.BundleException;
import org.osgi.framework.Constants;
import org.osgi.framework.FrameworkEvent;
import org.osgi.framework.ServiceReference;
import org.osgi.framework.launch.Framework;
import org.osgi.util.tracker.ServiceTracker;

/**
 * Boots a runtime — a storage node, or the control plane: Apache Felix with the bundles of the
 * distribution's {@code bundle/} directory and of the runtime's own ({@code bundle/node/},
 * {@code bundle/control/}),
 * the node's configuration handed to Config Admin, and a wait until the node announces that its
 * gRPC server listens. SIGTERM and Ctrl-C stop the framework, which stops every component in order.
 */
public final class RuntimeLauncher {

    private static final Logger LOG = Logger.getLogger("mayastor.launcher");
    private static final String STATE_FILTER = "(mayastor.node.state=*)";
    /**
     * How long the launcher waits for the startup monitor's word (ready or failed): the monitor decides,
     * allowing up to ten times {@code mayastor.startup.timeout.seconds} while the start makes progress;
     * a fixed 60 s here failed slow starts the monitor would still have waited for.
     */
    private static final Duration READY_TIMEOUT = Duration.ofSeconds(
            10 * Math.max(1, Long.getLong("mayastor.startup.timeout.seconds", 45)) + 30);
    /**
     * How long a stop may take before the JVM ends regardless: within the pod's grace period (60 s,
     * deploy/), as a nexus draining a child that stopped answering, or a pool's export, take their time.
     */
    private static final Duration STOP_TIMEOUT = Duration.ofSeconds(50);

    private final RuntimeSettings settings;
    private final Path bundleDir;
    private final boolean console;
    private final PrintStream out;
    /** The stop was the launcher's (a signal, a start-up failure), which says so itself. */
    private final java.util.concurrent.atomic.AtomicBoolean announced = new java.util.concurrent.atomic.AtomicBoolean();
    /** The state directory's lock, held for the process's life. */
    private FileChannel stateLock;

    public RuntimeLauncher(RuntimeSettings settings, Path bundleDir, boolean console, PrintStream out) {
        this.settings = settings;
        this.bundleDir = bundleDir;
        this.console = console;
        this.out = out;
    }

    /** Runs the node until it is stopped; returns the process exit code. */
    public int run() throws Exception {
        setLogLevel(settings.logLevel());
        ScrOutput.install();
        if (console && System.getProperty("mayastor.home") != null) {
            System.setProperty("gosh.home", System.getProperty("mayastor.home")); // its etc/gosh_profile: 'exit' stops the node
        }
        Instant jvmStart = ProcessHandle.current().info().startInstant().orElse(Instant.now());
        Files.createDirectories(settings.stateDir());
        // a second process on this state directory would wipe the running one's bundle cache below
        FileChannel lockFile = FileChannel.open(settings.stateDir().resolve("lock"), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE);
        if (lockFile.tryLock() == null) {
            lockFile.close();
            throw new IOException("the state directory " + settings.stateDir() + " is in use by another mayastor process");
        }
        stateLock = lockFile; // held until the process ends
        Path pluginDir = settings.pluginDir(bundleDir.toAbsolutePath().getParent());
        if (pluginDir != null) {
            try {
                Files.createDirectories(pluginDir); // before the node says it is ready, not after
            } catch (IOException e) {
                throw new IOException("the plugins directory " + pluginDir + " cannot be made: " + e, e);
            }
        }

        Framework framework = new FrameworkFactory().newFramework(frameworkProperties());
        framework.init();
        Thread hook = new Thread(() -> stop(framework, "signal"), "mayastor-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        framework.start();
        BundleContext context = framework.getBundleContext();
        if (console) {
            Hashtable<String, Object> command = new Hashtable<>();
            command.put("osgi.command.scope", "mayastor");
            command.put("osgi.command.function", new String[] {"shutdown"});
            context.registerService(Object.class, new ConsoleShutdown(framework), command);
        }

        List<Bundle> bundles = install(context, jarsIn(bundleDir), jarsIn(bundleDir.resolve(settings.kind())));
        if (bundles.isEmpty()) {
            throw new IOException("no bundles in " + bundleDir);
        }
        // the shell's bundles start once the node is ready: its prompt comes after the ready line, not inside it
        List<Bundle> shell = console ? install(context, jarsIn(bundleDir.resolve("console"))) : List.of();
        Configurations configurations = Configurations.start(context);
        for (var pid : settings.configurations().entrySet()) {
            configurations.update(pid.getKey(), pid.getValue());
        }
        if (!start(bundles)) {
            return fail(framework, hook);
        }
        String failure = awaitReady(context);
        if (failure != null) {
            System.err.println("error: " + settings.title() + " did not start: " + failure); // the last line, on stderr
            return fail(framework, hook);
        }
        double seconds = Duration.between(jvmStart, Instant.now()).toMillis() / 1000.0;
        // one write: a log line from another thread must not land inside it (scripts and tests wait for it)
        out.print(String.format(Locale.ROOT, "mayastor %s ready: %s, started in %.2f s (pid %d)%n", settings.title(),
                settings.readyDetails(), seconds, ProcessHandle.current().pid()));
        out.flush();
        if (!start(shell)) {
            return fail(framework, hook);
        }

        try (configurations; PluginWatcher plugins = pluginDir == null ? null
                : new PluginWatcher(context, configurations, pluginDir, settings.ownPids())) {
            if (plugins != null) {
                watcher = plugins; // first: a stop from now closes it, and a stop begun already is seen below
                if (!announced.get()) {
                    plugins.start(); // (a SIGTERM right after "ready" deployed plugins into a stopping framework)
                }
            }
            FrameworkEvent event = framework.waitForStop(0);
            if (!announced.get()) { // stopped from within: the console's exit or Ctrl-D
                out.printf(Locale.ROOT, "mayastor %s stopped from the console%n", settings.title());
                out.flush();
            }
            return event.getType() == FrameworkEvent.ERROR ? 1 : 0;
        }
    }

    private Map<String, String> frameworkProperties() {
        Map<String, String> props = new HashMap<>();
        props.put(Constants.FRAMEWORK_STORAGE, settings.stateDir().resolve("felix-cache").toString());
        props.put(Constants.FRAMEWORK_STORAGE_CLEAN, Constants.FRAMEWORK_STORAGE_CLEAN_ONFIRSTINIT);
        props.put(Constants.FRAMEWORK_BOOTDELEGATION, "sun.*");
        props.put(Constants.FRAMEWORK_SYSTEMPACKAGES_EXTRA, "sun.misc,com.sun.net.httpserver"); // the probes use the JDK's HTTP server
        props.put("felix.log.level", "1");
        props.put("ds.loglevel", "warn");
        props.put("mayastor.unused.pids", String.join(",", settings.unusedPids()));
        return props;
    }

    /** Starts the bundles that are not fragments; false (and why, on the output) when one cannot start. */
    private boolean start(List<Bundle> bundles) {
        for (Bundle bundle : bundles) {
            if (bundle.getHeaders().get(Constants.FRAGMENT_HOST) == null) {
                try {
                    bundle.start();
                } catch (BundleException e) {
                    System.err.println("error: bundle " + bundle.getSymbolicName() + " cannot start: " + e.getMessage()); // as every fatal error
                    return false;
                }
            }
        }
        return true;
    }

    /** Installs the jars of each list, each in name order (bundle/, then the runtime's own, or bundle/console/). */
    @SafeVarargs
    private List<Bundle> install(BundleContext context, List<Path>... lists) throws IOException, BundleException {
        List<Bundle> bundles = new ArrayList<>();
        for (List<Path> jars : lists) {
            for (Path jar : jars) {
                bundles.add(context.installBundle(jar.toUri().toString()));
            }
        }
        return bundles;
    }

    private static List<Path> jarsIn(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(p -> p.getFileName().toString().endsWith(".jar")).sorted().toList();
        }
    }

    /**
     * Waits for the node's state marker, which the node's startup monitor registers: "ready" once
     * every component is active, or "failed" with the reason. Null when ready.
     */
    private String awaitReady(BundleContext context) throws Exception {
        ServiceTracker<Object, Object> tracker = new ServiceTracker<>(context, context.createFilter(STATE_FILTER), null);
        tracker.open(true);
        try {
            if (tracker.waitForService(READY_TIMEOUT.toMillis()) == null) {
                StringBuilder why = new StringBuilder("it was not ready after " + READY_TIMEOUT.toSeconds() + " s");
                for (Bundle b : context.getBundles()) {
                    if (b.getState() != Bundle.ACTIVE) {
                        why.append("; bundle ").append(b.getSymbolicName()).append(" is not active");
                    }
                }
                return why.toString();
            }
            ServiceReference<Object> ref = tracker.getServiceReference();
            return "ready".equals(ref.getProperty("mayastor.node.state")) ? null
                    : String.valueOf(ref.getProperty("mayastor.node.error"));
        } finally {
            tracker.close();
        }
    }

    /** The plugin watcher once it runs: a stop closes it first. */
    private volatile PluginWatcher watcher;

    private int fail(Framework framework, Thread hook) {
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            // the hook stops the framework
        }
        stop(framework, "start-up failure");
        return 1;
    }

    private void stop(Framework framework, String why) {
        int state = framework.getState();
        if (state != Bundle.ACTIVE && state != Bundle.STARTING && state != Bundle.STOPPING) {
            return;
        }
        announced.set(true);
        long start = System.nanoTime();
        LOG.info("stopping " + settings.title() + " (" + why + ")");
        PluginWatcher plugins = watcher;
        if (plugins != null) {
            plugins.close(); // first: no plugin is deployed while the node says goodbye
        }
        try {
            if (state != Bundle.STOPPING) {
                deregisterFirst(framework);
                framework.stop();
            } // else stopping already (the console's exit): the JVM must not end under that stop either
            long spent = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            FrameworkEvent event = framework.waitForStop(Math.max(1000, STOP_TIMEOUT.toMillis() - spent));
            if (event.getType() == FrameworkEvent.WAIT_TIMEDOUT) {
                LOG.warning(settings.title() + " did not stop within " + STOP_TIMEOUT.toSeconds() + " s");
                return;
            }
        } catch (BundleException | InterruptedException e) {
            LOG.log(Level.WARNING, "error while stopping the node", e);
            return;
        }
        out.printf(Locale.ROOT, "mayastor %s stopped in %.2f s%n", settings.title(), (System.nanoTime() - start) / 1e9);
        out.flush();
    }

    /**
     * Stops the nexuses, then the registration, before the rest. The framework stops bundles in reverse
     * order of installation, so the node went on beating — the control plane waiting, its switch-over
     * grace not even started — while its targets and pools were torn down, and said goodbye last, or not
     * at all when the teardown outlasted the stop timeout. Goodbye first alone would let the control plane
     * make a volume's nexus elsewhere while this one still drains, from a record not yet clean (one child
     * trusted, the others rebuilt): the nexuses shut down first, still beating, their records clean, and
     * then the node says goodbye. Transient: the next start starts them.
     */
    static void deregisterFirst(Framework framework) {
        try { // /readyz says so from now: a Service sends the runtime nothing new while it drains
            java.util.Hashtable<String, Object> mark = new java.util.Hashtable<>();
            mark.put("mayastor.node.stopping", "true"); // HealthEndpoint.STOPPING (the launcher does not see the bundles' classes)
            framework.getBundleContext().registerService(Object.class, new Object(), mark);
        } catch (IllegalStateException e) {
            // the framework is stopping already
        }
        long begun = System.nanoTime();
        List<Thread> stoppers = new java.util.ArrayList<>();
        for (String name : List.of("io.mayastorj.nexus", "io.mayastorj.registration")) {
            for (Bundle b : framework.getBundleContext().getBundles()) {
                if (name.equals(b.getSymbolicName()) && b.getState() == Bundle.ACTIVE) {
                    // bounded: a nexus draining a child that stopped answering must not hold the goodbye past
                    // the pod's grace period (the framework's stop waits for what is left of it)
                    Thread stopper = new Thread(() -> {
                        try {
                            b.stop(Bundle.STOP_TRANSIENT);
                        } catch (BundleException | IllegalStateException e) {
                            LOG.log(Level.WARNING, "stopping " + name + " first failed; the framework's stop stops it", e);
                        }
                    }, "stop-" + name);
                    stopper.setDaemon(true);
                    stopper.start();
                    stoppers.add(stopper);
                    try {
                        stopper.join(FIRST_STOP_WAIT.toMillis());
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return;
                    }
                    if (stopper.isAlive()) {
                        LOG.warning(name + " has not stopped after " + FIRST_STOP_WAIT.toSeconds() + " s: "
                                + (name.equals("io.mayastorj.registration") ? "the rest of the node stops meanwhile"
                                : "the node says goodbye meanwhile"));
                    }
                }
            }
        }
        // the rest (pools, targets) stops only once the nexuses have, or the time is nearly out: torn down under a
        // nexus still draining, its children would fault and its record end unclean
        // counted from the stop's start (it was from here, after up to two waits, leaving the rest a second)
        long until = begun + FIRST_STOP_WAIT.toNanos() + (STOP_TIMEOUT.toNanos() - FIRST_STOP_WAIT.toNanos()) / 2;
        for (Thread t : stoppers) {
            try {
                t.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(until - System.nanoTime())));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** How long the nexuses may take to stop before the node says goodbye regardless. */
    private static final Duration FIRST_STOP_WAIT = Duration.ofSeconds(20);

    static void setLogLevel(String level) {
        Level julLevel = switch (level) {
            case "error" -> Level.SEVERE;
            case "warn" -> Level.WARNING;
            case "debug" -> Level.FINE;
            case "trace" -> Level.FINEST;
            default -> Level.INFO;
        };
        Logger root = Logger.getLogger("");
        root.setLevel(julLevel);
        Logger.getLogger("mayastor").setLevel(julLevel);
    }

    /**
     * The console's {@code exit} ({@code mayastor:shutdown}): stops the node a moment after the
     * command has returned. Stopped from within the command, the framework's shutdown raced the
     * shell: Gogo's shell, interrupted while it still waited for the command's job, printed
     * {@code java.lang.InterruptedException} (once in some ten runs of the console test); stopped
     * once the shell is back at its prompt, the shell ends quietly, as it does for Ctrl-D.
     */
    public static final class ConsoleShutdown {

        private final Framework framework;

        ConsoleShutdown(Framework framework) {
            this.framework = framework;
        }

        public void shutdown() {
            Thread stopper = new Thread(() -> {
                try {
                    Thread.sleep(200);
                    deregisterFirst(framework);
                    framework.stop();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                } catch (BundleException e) {
                    LOG.log(Level.WARNING, "stopping the node failed", e);
                }
            }, "console-exit");
            stopper.setDaemon(true);
            stopper.start();
        }
    }
}
