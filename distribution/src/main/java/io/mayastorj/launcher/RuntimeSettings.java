package io.mayastorj.launcher;

import java.nio.file.Path;
import java.util.Hashtable;
import java.util.Map;
import java.util.Set;

/** What the launcher needs to know of a runtime: a storage node's, or the control plane's. */
public interface RuntimeSettings {

    /** "node" or "control": in messages, and the bundle/ subdirectory the runtime adds. */
    String kind();

    String id();

    /** How messages name this runtime: "node n1", "control plane". */
    String title();

    Path stateDir();

    String logLevel();

    /** The Config Admin configurations to write, by PID, in the order they are written. */
    Map<String, Hashtable<String, Object>> configurations();

    /** PIDs this runtime never configures (its startup monitor does not wait for components that need them). */
    Set<String> unusedPids();

    /** What the ready line says after "mayastor KIND ID ready: ". */
    String readyDetails();

    /** The directory watched for plugin bundles, or null when this runtime takes none. */
    Path pluginDir(Path home);

    /**
     * The PIDs only the runtime's own settings may configure (a plugin's .cfg may not): those they set,
     * and those they leave unset on purpose (a .cfg naming the CSI service's would start a CSI node
     * the settings never asked for, unchecked).
     */
    default Set<String> ownPids() {
        Set<String> own = new java.util.TreeSet<>(configurations().keySet());
        own.addAll(unusedPids());
        return own;
    }
}
