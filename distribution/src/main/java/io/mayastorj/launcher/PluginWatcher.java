package io.mayastorj.launcher;

import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Hashtable;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.Properties;
import java.util.TreeMap;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.stream.Stream;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.BundleException;
import org.osgi.framework.Constants;
import org.osgi.framework.Version;
import org.osgi.framework.wiring.FrameworkWiring;

/**
 * Hot deployment: the node watches its plugin directory (every second) and installs and starts a
 * bundle jar that appears there, updates the bundle when the jar changes, and uninstalls it when
 * the jar goes. A jar is acted on once its size and time stay the same for one look, so a copy in
 * progress is never installed half-written. Felix keeps its own copy of each jar, so the file may
 * be replaced or removed at any time. Transports that come and go this way keep their shares: the
 * share manager re-establishes them when the transport is back. Among jars of one symbolic name the
 * highest version runs: a newer one copied in beside it replaces it, an older one is set aside, and
 * removing the one that runs brings back the highest of those set aside.
 *
 * <p>A plugin's settings live beside it, as Felix fileinstall keeps them: {@code PID.cfg}, a
 * properties file, becomes the Config Admin configuration of that PID when it appears or changes
 * (the plugin's component restarts with it) and is deleted when the file goes (defaults again).
 * The node's own PIDs are set by the node's settings only.
 */
final class PluginWatcher implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger("mayastor.plugins");

    private record Seen(long size, long modified) {
    }

    private final BundleContext context;
    private final Configurations configurations;
    private final Path dir;
    private final Map<Path, Seen> pending = new HashMap<>();
    private final Map<Path, Seen> deployed = new HashMap<>();
    private final Map<Path, Bundle> bundles = new HashMap<>();
    private final Map<Path, String> configured = new HashMap<>();
    /** What each .cfg last set: a file touched or saved unchanged sets nothing (an update restarts its component). */
    private final Map<Path, Map<String, Object>> applied = new HashMap<>();
    /** Jars seen unreadable (a copy under way), as they were when seen: logged once per version. */
    private final Map<Path, Seen> incomplete = new HashMap<>();
    /** Plugins installed that failed to start, with why (logged again only when that changes). */
    private final Map<Path, String> unstarted = new HashMap<>();
    private final Set<String> ownPids;
    /** The plugin bundles updated or uninstalled in the current look: what its refresh takes. */
    private final List<Bundle> touched = new ArrayList<>();
    private final Thread thread;
    private volatile boolean stopped;
    /** Why the last look failed (the directory gone, a surprise): said once until it changes. */
    private String lookFailure;

    /** @param ownPids the PIDs the runtime's own settings configure: a plugin's .cfg may not set them */
    PluginWatcher(BundleContext context, Configurations configurations, Path dir, Set<String> ownPids) throws IOException {
        this.context = context;
        this.configurations = configurations;
        this.ownPids = Set.copyOf(ownPids);
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
                try {
                    scan(false);
                } catch (RuntimeException | LinkageError e) { // the watcher goes on: a thread that died here ended hot deployment silently
                    failedLook(e.toString());
                }
            }
        }
    }

    private void failedLook(String why) {
        if (!why.equals(lookFailure)) {
            lookFailure = why;
            LOG.log(Level.WARNING, "cannot look at the plugin directory {0}: {1}; trying again every second",
                    new Object[] {dir, why});
        }
    }

    private synchronized void scan(boolean initial) {
        if (stopped) {
            return; // the node is stopping: nothing is deployed while it says goodbye
        }
        // a plugin uninstalled from the shell: its file counts as new (updating the dead bundle failed for good)
        for (Map.Entry<Path, Bundle> e : Map.copyOf(bundles).entrySet()) {
            if (e.getValue().getState() == Bundle.UNINSTALLED) {
                bundles.remove(e.getKey());
                unstarted.remove(e.getKey());
                deployed.remove(e.getKey());
            }
        }
        touched.clear();
        Map<Path, Seen> now = new HashMap<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path file : files.filter(p -> isJar(p) || isConfig(p)).toList()) {
                try {
                    now.put(file, new Seen(Files.size(file), Files.getLastModifiedTime(file).toMillis()));
                } catch (IOException gone) {
                    // removed while listing
                }
            }
        } catch (IOException | java.io.UncheckedIOException e) {
            failedLook(e.toString());
            return;
        }
        if (lookFailure != null) {
            lookFailure = null;
            LOG.log(Level.INFO, "the plugin directory {0} can be read again", dir);
        }
        boolean changed = false;
        for (Path jar : Map.copyOf(bundles).keySet()) {
            if (!now.containsKey(jar)) {
                changed |= uninstall(jar);
            }
        }
        for (Path cfg : Map.copyOf(configured).keySet()) {
            if (!now.containsKey(cfg)) {
                unconfigure(cfg);
            }
        }
        deployed.keySet().retainAll(now.keySet()); // a refused file that went, may come back
        // settings first, so that a plugin deployed in the same look starts with them
        List<Path> ready = new ArrayList<>();
        for (Map.Entry<Path, Seen> e : now.entrySet()) {
            Path file = e.getKey();
            Seen seen = e.getValue();
            if (seen.equals(deployed.get(file))) {
                pending.remove(file);
                continue;
            }
            if (!initial && !seen.equals(pending.put(file, seen))) {
                continue; // new or still changing: act once it has stayed the same for one look
            }
            pending.remove(file);
            ready.add(file);
        }
        // settings first; then jars by name, except that the highest version of a symbolic name comes first
        // (the others are set aside at once, rather than each started and replaced in turn: a port flapping)
        ready.sort(Comparator.comparing((Path p) -> !isConfig(p)).thenComparing(Comparator.naturalOrder()));
        Map<String, List<Integer>> places = new HashMap<>(); // where each symbolic name's jars stand in the list
        for (int i = 0; i < ready.size(); i++) {
            String name = isConfig(ready.get(i)) ? null : symbolicName(ready.get(i));
            if (name != null) {
                places.computeIfAbsent(name, k -> new ArrayList<>()).add(i);
            }
        }
        for (List<Integer> at : places.values()) {
            if (at.size() > 1) {
                List<Path> same = new ArrayList<>(at.stream().map(ready::get).toList());
                same.sort(Comparator.comparing(PluginWatcher::versionOf).reversed());
                for (int k = 0; k < at.size(); k++) {
                    ready.set(at.get(k), same.get(k));
                }
            }
        }
        for (Path file : ready) {
            Seen seen = now.get(file);
            if (isConfig(file)) {
                configure(file, seen);
            } else if (!complete(file)) {
                if (!seen.equals(incomplete.put(file, seen))) {
                    LOG.log(Level.INFO, "{0} is not a whole jar yet (no manifest can be read); waiting for the rest",
                            file.getFileName());
                }
            } else {
                incomplete.remove(file);
                changed |= bundles.containsKey(file) ? update(file, seen) : install(file, seen);
            }
        }
        pending.keySet().retainAll(now.keySet());
        incomplete.keySet().retainAll(now.keySet());
        retryStarts();
        if (changed && !touched.isEmpty()) {
            // the plugins changed here and what depends on them, not every bundle waiting for a refresh (a
            // core bundle updated from the shell would restart, pools and nexuses with it, for an unrelated plugin)
            context.getBundle(Constants.SYSTEM_BUNDLE_LOCATION).adapt(FrameworkWiring.class).refreshBundles(List.copyOf(touched));
        }
    }

    private static boolean isJar(Path p) {
        String name = p.getFileName().toString();
        return name.endsWith(".jar") && !name.startsWith("."); // a dot file is a copy under way (rsync, editors)
    }

    /**
     * A jar whose central directory and manifest read: one still being copied (a copy that paused
     * for over a look) is not, and an update from it would stop the running plugin for nothing.
     */
    private static boolean complete(Path jar) {
        try (java.util.jar.JarFile j = new java.util.jar.JarFile(jar.toFile())) {
            return j.getManifest() != null;
        } catch (IOException e) {
            return false;
        }
    }

    private static boolean isConfig(Path p) {
        return p.getFileName().toString().endsWith(".cfg");
    }

    private void configure(Path cfg, Seen seen) {
        deployed.put(cfg, seen); // not again until the file changes
        String name = cfg.getFileName().toString();
        String pid = name.substring(0, name.length() - ".cfg".length());
        if (ownPids.contains(pid)) {
            LOG.log(Level.WARNING, "{0} ignored: {1} is set by the node''s settings (mayastor node --help), not by a file",
                    new Object[] {name, pid});
            return;
        }
        Properties file = new Properties();
        try (Reader in = Files.newBufferedReader(cfg)) {
            file.load(in);
        } catch (IOException | IllegalArgumentException e) {
            LOG.log(Level.WARNING, "{0} ignored: it is not a properties file ({1})", new Object[] {name, e.getMessage()});
            return;
        }
        Hashtable<String, Object> properties = new Hashtable<>();
        file.stringPropertyNames().forEach(k -> properties.put(k, file.getProperty(k).strip()));
        if (properties.equals(applied.get(cfg)) && pid.equals(configured.get(cfg))) {
            return; // its time changed, not what it says (touch, an editor's save, a ConfigMap's link swapped)
        }
        try {
            configurations.update(pid, properties);
            configured.put(cfg, pid);
            applied.put(cfg, new HashMap<>(properties));
            LOG.log(Level.INFO, "configuration {0} set from {1}: {2}", new Object[] {pid, name, new TreeMap<>(properties)});
        } catch (Exception e) {
            LOG.log(Level.WARNING, "{0}: configuration {1} could not be set: {2}", new Object[] {name, pid, e.getMessage()});
        }
    }

    private void unconfigure(Path cfg) {
        String pid = configured.remove(cfg);
        applied.remove(cfg);
        deployed.remove(cfg);
        try {
            configurations.delete(pid);
            LOG.log(Level.INFO, "configuration {0} removed with {1}: its defaults apply", new Object[] {pid, cfg.getFileName()});
        } catch (Exception e) {
            LOG.log(Level.WARNING, "configuration {0} could not be removed: {1}", new Object[] {pid, e.getMessage()});
        }
    }

    private boolean install(Path jar, Seen seen) {
        String name = symbolicName(jar);
        Path before = deployedAs(name, jar);
        if (before != null) {
            // a new version copied in beside the old (the way plugins are upgraded: cp, then rm): it
            // replaces that bundle, rather than run beside it and lose its port or its protocol to it;
            // the highest version wins, whatever order the files are seen in (a start sees them by name)
            Bundle running = bundles.get(before);
            Version version = versionOf(jar);
            if (version.compareTo(running.getVersion()) < 0) {
                deployed.put(jar, seen);
                LOG.log(Level.INFO, "{0} holds {1} {2}, older than the {3} deployed from {4}: not deployed (remove {4} to "
                        + "go back to it)", new Object[] {jar.getFileName(), name, version, running.getVersion(), before.getFileName()});
                return false;
            }
            Bundle b = bundles.remove(before);
            bundles.put(jar, b);
            if (unstarted.containsKey(before)) {
                unstarted.put(jar, unstarted.remove(before));
            }
            LOG.log(Level.INFO, "plugin {0}: {1} replaces {2}", new Object[] {b.getSymbolicName(), jar.getFileName(),
                    before.getFileName()});
            return update(jar, seen);
        }
        try (InputStream in = Files.newInputStream(jar)) {
            Bundle b = context.installBundle(jar.toUri().toString(), in);
            deployed.put(jar, seen);
            bundles.put(jar, b); // a fresh bundle has no old wiring to refresh: refreshed, it would stop and start again
            LOG.log(Level.INFO, "plugin {0} {1} installed from {2}", new Object[] {b.getSymbolicName(), b.getVersion(), jar.getFileName()});
            if (b.getHeaders().get(Constants.FRAGMENT_HOST) == null) {
                start(jar, b);
            }
            return true;
        } catch (IOException | BundleException | RuntimeException e) {
            deployed.put(jar, seen); // not again until the file changes
            LOG.log(Level.WARNING, "plugin {0} could not be deployed: {1}", new Object[] {jar.getFileName(), e.getMessage()});
            return false;
        }
    }

    private boolean update(Path jar, Seen seen) {
        Bundle b = bundles.get(jar);
        String before = b.getVersion().toString();
        long revised = b.getLastModified();
        touched.add(b);
        try (InputStream in = Files.newInputStream(jar)) {
            b.update(in);
            deployed.put(jar, seen);
            LOG.log(Level.INFO, "plugin {0} updated from {1} to {2}", new Object[] {b.getSymbolicName(), before, b.getVersion()});
            if (unstarted.containsKey(jar)) {
                start(jar, b); // an update restarts only a bundle that was running
            }
            return true;
        } catch (IOException | BundleException | RuntimeException e) {
            deployed.put(jar, seen);
            if (b.getLastModified() != revised && b.getState() != Bundle.UNINSTALLED) {
                // the new revision is in, only its start failed (a package another plugin brings): tried
                // again every look, as an install's is
                LOG.log(Level.INFO, "plugin {0} updated from {1} to {2}", new Object[] {b.getSymbolicName(), before,
                        b.getVersion()});
                String why = String.valueOf(e.getMessage());
                unstarted.put(jar, why);
                LOG.log(Level.WARNING, "plugin {0} {1} cannot start (tried again every second): {2}",
                        new Object[] {b.getSymbolicName(), b.getVersion(), why});
                return true;
            }
            LOG.log(Level.WARNING, "plugin {0} could not be updated: {1}", new Object[] {jar.getFileName(), e.getMessage()});
            return false;
        }
    }

    /** The Bundle-Version in a jar's manifest (0.0.0 when none or not a version). */
    private static Version versionOf(Path jar) {
        try (java.util.jar.JarFile j = new java.util.jar.JarFile(jar.toFile())) {
            String v = j.getManifest() == null ? null : j.getManifest().getMainAttributes().getValue(Constants.BUNDLE_VERSION);
            return v == null ? Version.emptyVersion : Version.parseVersion(v.strip());
        } catch (IOException | IllegalArgumentException e) {
            return Version.emptyVersion;
        }
    }

    /** The Bundle-SymbolicName in a jar's manifest, without its directives; null when it has none. */
    private static String symbolicName(Path jar) {
        try (java.util.jar.JarFile j = new java.util.jar.JarFile(jar.toFile())) {
            String name = j.getManifest() == null ? null : j.getManifest().getMainAttributes().getValue(Constants.BUNDLE_SYMBOLICNAME);
            return name == null ? null : name.split(";", 2)[0].strip();
        } catch (IOException e) {
            return null;
        }
    }

    /** The file another plugin of this symbolic name was deployed from, or null. */
    private Path deployedAs(String symbolicName, Path jar) {
        if (symbolicName == null) {
            return null;
        }
        for (Map.Entry<Path, Bundle> e : bundles.entrySet()) {
            if (!e.getKey().equals(jar) && symbolicName.equals(e.getValue().getSymbolicName())) {
                return e.getKey();
            }
        }
        return null;
    }

    /**
     * Starts a plugin; one that cannot start yet (a package another plugin of the same drop exports,
     * installed after it by name) is tried again at every look until it starts or its file goes.
     */
    private void start(Path jar, Bundle b) {
        try {
            b.start();
            if (unstarted.remove(jar) != null) {
                LOG.log(Level.INFO, "plugin {0} {1} started", new Object[] {b.getSymbolicName(), b.getVersion()});
            }
        } catch (BundleException | RuntimeException e) {
            String why = String.valueOf(e.getMessage());
            if (!why.equals(unstarted.put(jar, why))) {
                LOG.log(Level.WARNING, "plugin {0} {1} cannot start (tried again every second): {2}",
                        new Object[] {b.getSymbolicName(), b.getVersion(), why});
            }
        }
    }

    private void retryStarts() {
        // a plugin a refresh stopped (a package it imports went with another plugin) and could not start again:
        // it is meant to run (persistently started), so it is tried again as one that could not start
        for (Map.Entry<Path, Bundle> e : bundles.entrySet()) {
            Bundle b = e.getValue();
            if (!unstarted.containsKey(e.getKey()) && b.getHeaders().get(Constants.FRAGMENT_HOST) == null
                    && (b.getState() == Bundle.RESOLVED || b.getState() == Bundle.INSTALLED)
                    && b.adapt(org.osgi.framework.startlevel.BundleStartLevel.class).isPersistentlyStarted()) {
                unstarted.put(e.getKey(), "stopped by a refresh");
            }
        }
        for (Path jar : List.copyOf(unstarted.keySet())) {
            Bundle b = bundles.get(jar);
            if (b == null || b.getState() == Bundle.UNINSTALLED) {
                unstarted.remove(jar);
            } else {
                start(jar, b);
            }
        }
    }

    private boolean uninstall(Path jar) {
        Bundle b = bundles.remove(jar);
        touched.add(b);
        unstarted.remove(jar);
        deployed.remove(jar);
        // another file of the same plugin, set aside for this one (older), is deployed at the next look
        String name = b.getSymbolicName();
        deployed.keySet().removeIf(other -> !bundles.containsKey(other) && isJar(other) && name != null
                && name.equals(symbolicName(other)));
        try {
            b.uninstall();
            LOG.log(Level.INFO, "plugin {0} {1} removed", new Object[] {b.getSymbolicName(), b.getVersion()});
            return true;
        } catch (BundleException | IllegalStateException e) {
            LOG.log(Level.WARNING, "plugin {0} could not be removed: {1}", new Object[] {jar.getFileName(), e.getMessage()});
            return false;
        }
    }

    /** Stops watching, and waits (a while) for a look under way: nothing is deployed once this returns. */
    @Override
    public void close() {
        stopped = true;
        thread.interrupt();
        if (thread.isAlive() && thread != Thread.currentThread()) {
            try {
                thread.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
