package io.mayastorj.launcher;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.stream.Stream;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.BundleException;
import org.osgi.framework.Constants;
import org.osgi.framework.wiring.FrameworkWiring;

/**
 * Hot deployment: the node watches its plugin directory (every second) and installs and starts a
 * bundle jar that appears there, updates the bundle when the jar changes, and uninstalls it when
 * the jar goes. A jar is acted on once its size and time stay the same for one look, so a copy in
 * progress is never installed half-written. Felix keeps its own copy of each jar, so the file may
 * be replaced or removed at any time. Transports that come and go this way keep their shares: the
 * share manager re-establishes them when the transport is back.
 */
final class PluginWatcher implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger("mayastor.plugins");

    private record Seen(long size, long modified) {
    }

    private final BundleContext context;
    private final Path dir;
    private final Map<Path, Seen> pending = new HashMap<>();
    private final Map<Path, Seen> deployed = new HashMap<>();
    private final Map<Path, Bundle> bundles = new HashMap<>();
    private final Thread thread;
    private volatile boolean stopped;

    PluginWatcher(BundleContext context, Path dir) throws IOException {
        this.context = context;
        this.dir = Files.createDirectories(dir);
        this.thread = new Thread(this::loop, "mayastor-plugins");
        this.thread.setDaemon(true);
    }

    /** Deploys what is there now (jars already complete), then watches. */
    void start() {
        scan(true);
        thread.start();
        LOG.log(Level.INFO, "watching {0} for plugin bundles", dir);
    }

    private void loop() {
        while (!stopped) {
            try {
                Thread.sleep(1000);
            } catch (InterruptedException e) {
                return;
            }
            if (!stopped) {
                scan(false);
            }
        }
    }

    private synchronized void scan(boolean initial) {
        Map<Path, Seen> now = new HashMap<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path jar : files.filter(p -> p.getFileName().toString().endsWith(".jar")).toList()) {
                try {
                    now.put(jar, new Seen(Files.size(jar), Files.getLastModifiedTime(jar).toMillis()));
                } catch (IOException gone) {
                    // removed while listing
                }
            }
        } catch (IOException e) {
            LOG.log(Level.WARNING, "cannot list the plugin directory {0}: {1}", new Object[] {dir, e.getMessage()});
            return;
        }
        boolean changed = false;
        for (Path jar : Map.copyOf(bundles).keySet()) {
            if (!now.containsKey(jar)) {
                changed |= uninstall(jar);
            }
        }
        for (Map.Entry<Path, Seen> e : now.entrySet()) {
            Path jar = e.getKey();
            Seen seen = e.getValue();
            if (seen.equals(deployed.get(jar))) {
                pending.remove(jar);
                continue;
            }
            if (!initial && !seen.equals(pending.put(jar, seen))) {
                continue; // new or still changing: act once it has stayed the same for one look
            }
            pending.remove(jar);
            changed |= bundles.containsKey(jar) ? update(jar, seen) : install(jar, seen);
        }
        pending.keySet().retainAll(now.keySet());
        if (changed) {
            context.getBundle(Constants.SYSTEM_BUNDLE_LOCATION).adapt(FrameworkWiring.class).refreshBundles(null);
        }
    }

    private boolean install(Path jar, Seen seen) {
        try (InputStream in = Files.newInputStream(jar)) {
            Bundle b = context.installBundle(jar.toUri().toString(), in);
            deployed.put(jar, seen);
            bundles.put(jar, b);
            if (b.getHeaders().get(Constants.FRAGMENT_HOST) == null) {
                b.start();
            }
            LOG.log(Level.INFO, "plugin {0} {1} installed from {2}", new Object[] {b.getSymbolicName(), b.getVersion(), jar.getFileName()});
            return true;
        } catch (IOException | BundleException | RuntimeException e) {
            deployed.put(jar, seen); // not again until the file changes
            LOG.log(Level.WARNING, "plugin {0} could not be deployed: {1}", new Object[] {jar.getFileName(), e.getMessage()});
            return false;
        }
    }

    private boolean update(Path jar, Seen seen) {
        Bundle b = bundles.get(jar);
        try (InputStream in = Files.newInputStream(jar)) {
            String before = b.getVersion().toString();
            b.update(in);
            deployed.put(jar, seen);
            LOG.log(Level.INFO, "plugin {0} updated from {1} to {2}", new Object[] {b.getSymbolicName(), before, b.getVersion()});
            return true;
        } catch (IOException | BundleException | RuntimeException e) {
            deployed.put(jar, seen);
            LOG.log(Level.WARNING, "plugin {0} could not be updated: {1}", new Object[] {jar.getFileName(), e.getMessage()});
            return false;
        }
    }

    private boolean uninstall(Path jar) {
        Bundle b = bundles.remove(jar);
        deployed.remove(jar);
        try {
            b.uninstall();
            LOG.log(Level.INFO, "plugin {0} {1} removed", new Object[] {b.getSymbolicName(), b.getVersion()});
            return true;
        } catch (BundleException | IllegalStateException e) {
            LOG.log(Level.WARNING, "plugin {0} could not be removed: {1}", new Object[] {jar.getFileName(), e.getMessage()});
            return false;
        }
    }

    @Override
    public void close() {
        stopped = true;
        thread.interrupt();
    }
}
