package io.mayastorj.launcher;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Hashtable;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;

/**
 * A node's settings: defaults, then the config file (Java properties), then command-line flags.
 * Every key is validated here, before Felix starts, so a typo costs a second, not a confusing
 * half-started node.
 */
public final class NodeSettings {

    /** Keys of the config file, in the order --help shows them; flags use the same names with dashes. */
    public static final Map<String, String> KEYS = new LinkedHashMap<>();

    static {
        KEYS.put("node.id", "the node's name, unique in the cluster (required)");
        KEYS.put("grpc.endpoint", "ip:port of the node's gRPC API (default 127.0.0.1:10124)");
        KEYS.put("state.dir", "directory for state that survives restarts (default /var/lib/mayastor/NODE, "
                + "or under the temp dir when that is not writable)");
        KEYS.put("reactors", "number of reactor (I/O) threads (default 2)");
        KEYS.put("buffers.mb", "size of the DMA buffer pool in MiB (default 128)");
        KEYS.put("hugepages", "auto | on | off: put the buffer pool on 2 MiB hugepages (default auto)");
        KEYS.put("log.level", "error | warn | info | debug | trace (default info)");
        KEYS.put("nvmf.address", "address the NVMe-oF/TCP target listens on (default: that of grpc.endpoint)");
        KEYS.put("nvmf.port", "port of the NVMe-oF/TCP target (default 8420)");
        KEYS.put("nvmf.io.timeout", "seconds an nvmf:// bdev waits for a command before it reconnects (default 30)");
        KEYS.put("iscsi.address", "address the iSCSI target listens on (default: that of grpc.endpoint)");
        KEYS.put("iscsi.port", "port of the iSCSI target (default 3260)");
        KEYS.put("nexus.rebuild.segment.kib", "rebuild copy unit in KiB, a power of two 4..1024 (default 64)");
        KEYS.put("nexus.rebuild.tasks", "segments a rebuild copies at once (default 16)");
        KEYS.put("nexus.partial.rebuild.window.seconds",
                "how long a faulted child's write log is kept so that its return rebuilds only what changed (default 600)");
        KEYS.put("nats.url", "NATS server (with JetStream), e.g. nats://10.0.0.1:4222: the node registers there (subject "
                + "v0/registry) and keeps its nexus records there (default: none)");
        KEYS.put("control.endpoint", "ip:port of the control plane's gRPC API: the node registers there (default: none)");
        KEYS.put("registration.interval.seconds", "seconds between the node's heartbeats to the control plane (default 5)");
        KEYS.put("nexus.nats.url", "the NATS server for the nexus records only (an older name; default: nats.url, else "
                + "files in state.dir)");
        KEYS.put("pool.devices", "comma-separated glob patterns of devices (e.g. /dev/disk/by-id/*) where the node looks "
                + "for a pool, by its uuid, that is no longer on the device it was imported from (default: none)");
        KEYS.put("plugins.dir", "directory watched for plugin bundles: a jar copied in is deployed, replaced is updated, "
                + "removed is undeployed (default: plugins/ in the installation)");
    }

    private final Map<String, String> values = new LinkedHashMap<>();

    private NodeSettings() {
        values.put("grpc.endpoint", "127.0.0.1:10124");
        values.put("reactors", "2");
        values.put("buffers.mb", "128");
        values.put("hugepages", "auto");
        values.put("log.level", "info");
        values.put("nvmf.port", "8420");
        values.put("nvmf.io.timeout", "30");
        values.put("iscsi.port", "3260");
        values.put("nexus.rebuild.segment.kib", "64");
        values.put("nexus.rebuild.tasks", "16");
        values.put("nexus.partial.rebuild.window.seconds", "600");
        values.put("registration.interval.seconds", "5");
    }

    /**
     * @param configFile a properties file, or null
     * @param flags      flag name (dashes) to value, e.g. {@code node-id}
     * @throws IllegalArgumentException with a message for the user
     */
    public static NodeSettings load(Path configFile, Map<String, String> flags) {
        NodeSettings settings = new NodeSettings();
        if (configFile != null) {
            Properties file = new Properties();
            try (Reader reader = Files.newBufferedReader(configFile)) {
                file.load(reader);
            } catch (NoSuchFileException e) {
                throw new IllegalArgumentException("config file " + configFile + " does not exist");
            } catch (IOException | IllegalArgumentException e) {
                throw new IllegalArgumentException("cannot read config file " + configFile + ": " + e.getMessage());
            }
            for (String key : file.stringPropertyNames()) {
                if (!KEYS.containsKey(key)) {
                    throw new IllegalArgumentException("unknown setting '" + key + "' in " + configFile
                            + " (known: " + String.join(", ", new TreeSet<>(KEYS.keySet())) + ")");
                }
                settings.values.put(key, file.getProperty(key).strip());
            }
        }
        flags.forEach((flag, value) -> settings.values.put(flag.replace('-', '.'), value.strip()));
        settings.validate();
        return settings;
    }

    private void validate() {
        String id = values.get("node.id");
        if (id == null || id.isEmpty()) {
            throw new IllegalArgumentException("the node needs a name: --node-id NAME (or node.id in the config file)");
        }
        if (!id.matches("[A-Za-z0-9][A-Za-z0-9._-]*")) {
            throw new IllegalArgumentException("node id '" + id + "' may hold only letters, digits, '.', '_' and '-'");
        }
        String endpoint = values.get("grpc.endpoint");
        int colon = endpoint.lastIndexOf(':');
        if (colon <= 0 || !endpoint.substring(colon + 1).matches("[0-9]{1,5}")
                || Integer.parseInt(endpoint.substring(colon + 1)) > 65535
                || Integer.parseInt(endpoint.substring(colon + 1)) == 0) {
            throw new IllegalArgumentException("grpc endpoint '" + endpoint + "' is not ip:port (e.g. 127.0.0.1:10124)");
        }
        intSetting("reactors", 1, 64);
        intSetting("nvmf.port", 1, 65535);
        intSetting("nvmf.io.timeout", 1, 3600);
        intSetting("iscsi.port", 1, 65535);
        intSetting("nexus.rebuild.segment.kib", 4, 1024);
        if (Integer.bitCount(Integer.parseInt(values.get("nexus.rebuild.segment.kib"))) != 1) {
            throw new IllegalArgumentException("nexus.rebuild.segment.kib must be a power of two, not "
                    + values.get("nexus.rebuild.segment.kib"));
        }
        intSetting("nexus.rebuild.tasks", 1, 256);
        intSetting("nexus.partial.rebuild.window.seconds", 0, 7 * 24 * 3600);
        intSetting("registration.interval.seconds", 1, 3600);
        String control = values.getOrDefault("control.endpoint", "");
        if (!control.isEmpty() && !control.matches(".+:[0-9]{1,5}")) {
            throw new IllegalArgumentException("control.endpoint '" + control + "' is not ip:port (e.g. 127.0.0.1:50051)");
        }
        for (String key : List.of("nats.url", "nexus.nats.url")) {
            String url = values.getOrDefault(key, "");
            if (!url.isEmpty() && !url.matches("(nats|tls)://[^/]+")) {
                throw new IllegalArgumentException(key + " '" + url + "' is not a NATS URL (e.g. nats://127.0.0.1:4222)");
            }
        }
        intSetting("buffers.mb", 2, 1 << 20);
        choice("hugepages", Set.of("auto", "on", "off"));
        choice("log.level", Set.of("error", "warn", "info", "debug", "trace"));
        if (!values.containsKey("state.dir")) {
            values.put("state.dir", defaultStateDir(id).toString());
        }
        for (String pattern : values.getOrDefault("pool.devices", "").split(",")) {
            if (!pattern.isBlank() && !pattern.strip().startsWith("/")) {
                throw new IllegalArgumentException("pool.devices: '" + pattern.strip() + "' is not an absolute path pattern");
            }
        }
    }

    private int intSetting(String key, int min, int max) {
        String value = values.get(key);
        try {
            int n = Integer.parseInt(value);
            if (n < min || n > max) {
                throw new NumberFormatException();
            }
            return n;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + "=" + value + ": expected a whole number in " + min + ".." + max);
        }
    }

    private void choice(String key, Set<String> allowed) {
        String value = values.get(key).toLowerCase(Locale.ROOT);
        if (!allowed.contains(value)) {
            throw new IllegalArgumentException(key + "=" + values.get(key) + ": expected one of "
                    + String.join(", ", new TreeSet<>(allowed)));
        }
        values.put(key, value);
    }

    private static Path defaultStateDir(String id) {
        Path system = Path.of("/var/lib/mayastor");
        try {
            Files.createDirectories(system);
            if (Files.isWritable(system)) {
                return system.resolve(id);
            }
        } catch (IOException | SecurityException e) {
            // not root: fall back below
        }
        return Path.of(System.getProperty("java.io.tmpdir"), "mayastor-" + System.getProperty("user.name"), id);
    }

    public String get(String key) {
        return values.get(key);
    }

    public String nodeId() {
        return values.get("node.id");
    }

    public Path stateDir() {
        return Path.of(values.get("state.dir"));
    }

    /** The NVMe-oF/TCP configuration as Config Admin takes it (PID io.mayastorj.nvmf). */
    public Hashtable<String, Object> nvmfConfiguration() {
        Hashtable<String, Object> config = new Hashtable<>();
        config.put("nvmf.address", values.getOrDefault("nvmf.address", ""));
        config.put("nvmf.port", Integer.parseInt(values.get("nvmf.port")));
        config.put("nvmf.io.timeout", Integer.parseInt(values.get("nvmf.io.timeout")));
        return config;
    }

    /** The iSCSI target's configuration as Config Admin takes it (PID io.mayastorj.iscsi). */
    public Hashtable<String, Object> iscsiConfiguration() {
        Hashtable<String, Object> config = new Hashtable<>();
        config.put("iscsi.address", values.getOrDefault("iscsi.address", ""));
        config.put("iscsi.port", Integer.parseInt(values.get("iscsi.port")));
        return config;
    }

    /** The nexus configuration as Config Admin takes it (PID io.mayastorj.nexus). */
    public Hashtable<String, Object> nexusConfiguration() {
        Hashtable<String, Object> config = new Hashtable<>();
        for (String key : List.of("nexus.rebuild.segment.kib", "nexus.rebuild.tasks", "nexus.partial.rebuild.window.seconds")) {
            config.put(key, Integer.parseInt(values.get(key)));
        }
        config.put("nexus.nats.url", values.getOrDefault("nexus.nats.url", values.getOrDefault("nats.url", "")));
        return config;
    }

    /** How the node announces itself (PID io.mayastorj.registration). */
    public Hashtable<String, Object> registrationConfiguration() {
        Hashtable<String, Object> config = new Hashtable<>();
        config.put("nats.url", values.getOrDefault("nats.url", ""));
        config.put("control.endpoint", values.getOrDefault("control.endpoint", ""));
        config.put("registration.interval.seconds", Integer.parseInt(values.get("registration.interval.seconds")));
        return config;
    }

    /** The pool configuration as Config Admin takes it (PID io.mayastorj.pool). */
    public Hashtable<String, Object> poolConfiguration() {
        Hashtable<String, Object> config = new Hashtable<>();
        config.put("pool.devices", values.getOrDefault("pool.devices", ""));
        return config;
    }

    /** The node configuration as Config Admin takes it (PID io.mayastorj.node). */
    public Hashtable<String, Object> nodeConfiguration() {
        Hashtable<String, Object> config = new Hashtable<>();
        config.put("node.id", nodeId());
        config.put("grpc.endpoint", values.get("grpc.endpoint"));
        config.put("state.dir", values.get("state.dir"));
        return config;
    }

    /** The node's reactors and buffers as Config Admin takes them (PID io.mayastorj.dataplane). */
    public Hashtable<String, Object> dataPlaneConfiguration() {
        Hashtable<String, Object> config = new Hashtable<>();
        config.put("reactors", Integer.parseInt(values.get("reactors")));
        config.put("buffers.mb", Integer.parseInt(values.get("buffers.mb")));
        config.put("hugepages", values.get("hugepages"));
        return config;
    }
}
