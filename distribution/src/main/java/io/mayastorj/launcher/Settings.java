package io.mayastorj.launcher;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Hashtable;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;

/**
 * A runtime's settings: defaults, then the config file (Java properties), then command-line flags
 * (the same names with dashes). Every key is validated before Felix starts, so a typo costs a
 * second, not a confusing half-started runtime. Subclasses name their keys and check their values.
 */
abstract class Settings {

    protected final Map<String, String> values = new LinkedHashMap<>();
    private final Map<String, String> keys;

    protected Settings(Map<String, String> keys) {
        this.keys = keys;
    }

    /**
     * @param configFile a properties file, or null
     * @param flags      flag name (dashes) to value, e.g. {@code node-id}
     * @throws IllegalArgumentException with a message for the user
     */
    protected final void read(Path configFile, Map<String, String> flags) {
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
                if (!keys.containsKey(key)) {
                    throw new IllegalArgumentException("unknown setting '" + key + "' in " + configFile
                            + " (known: " + String.join(", ", new TreeSet<>(keys.keySet())) + ")");
                }
                values.put(key, file.getProperty(key).strip());
            }
        }
        flags.forEach((flag, value) -> values.put(flag.replace('-', '.'), value.strip()));
        validate();
    }

    protected abstract void validate();

    protected final int intSetting(String key, int min, int max) {
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

    protected final void choice(String key, Set<String> allowed) {
        String value = values.get(key).toLowerCase(Locale.ROOT);
        if (!allowed.contains(value)) {
            throw new IllegalArgumentException(key + "=" + values.get(key) + ": expected one of "
                    + String.join(", ", new TreeSet<>(allowed)));
        }
        values.put(key, value);
    }

    /**
     * A name: as a Kubernetes node's (lower-case letters, digits, '-' and '.'), which the control plane
     * keeps a MayastorNode by — a name it cannot keep one by was once accepted and failed later.
     */
    protected final void name(String key, String what, String flag) {
        String id = values.get(key);
        if (id == null || id.isEmpty()) {
            throw new IllegalArgumentException("the " + what + " needs a name: " + flag + " NAME (or " + key
                    + " in the config file)");
        }
        if (!id.matches("[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")) {
            throw new IllegalArgumentException(what + " id '" + id + "' is not valid: a Kubernetes node name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit");
        }
    }

    /** ip:port, when set (required: must be set). */
    protected final void endpoint(String key, String what, boolean required) {
        String endpoint = values.getOrDefault(key, "");
        if (endpoint.isEmpty() && !required) {
            return;
        }
        int colon = endpoint.lastIndexOf(':');
        if (colon <= 0 || !endpoint.substring(colon + 1).matches("[0-9]{1,5}")
                || Integer.parseInt(endpoint.substring(colon + 1)) > 65535
                || Integer.parseInt(endpoint.substring(colon + 1)) == 0) {
            throw new IllegalArgumentException(what + " '" + endpoint + "' is not ip:port (e.g. 127.0.0.1:10124)");
        }
    }

    /** A NATS URL, when set; or several, separated by commas: the servers of a cluster. */
    protected final void natsUrl(String key) {
        String urls = values.getOrDefault(key, "");
        for (String url : urls.isEmpty() ? new String[0] : urls.split(",", -1)) {
            if (!url.strip().matches("(nats|tls)://[^/,]+")) {
                throw new IllegalArgumentException(key + " '" + withoutCredentials(urls) + "' is not a NATS URL (e.g. "
                        + "nats://127.0.0.1:4222, or several separated by commas)");
            }
        }
    }

    /**
     * URLs as shown in messages and the ready line: their user info (NATS takes a user, password or
     * token there) as ***. The launcher runs outside the framework, without core's Redaction.
     */
    static String withoutCredentials(String urls) {
        return urls.replaceAll("(://)(?:(?!://)[^@\\s])*@", "$1***@"); // a token may hold / and ,: up to the @
    }

    /** CSI endpoints, when set: unix:///absolute/path.sock or tcp://host:port, several separated by commas. */
    protected final void csiEndpoint(String key) {
        String all = values.getOrDefault(key, "");
        for (String e : all.isEmpty() ? new String[0] : all.split(",")) {
            if (!e.strip().matches("unix:///\\S+|/\\S+|(tcp://)?[^/\\s]+:[0-9]{1,5}")) {
                throw new IllegalArgumentException(key + " '" + e.strip() + "' is not unix:///path/csi.sock or tcp://host:port");
            }
        }
    }

    /** Documentation of the http.endpoint key, the same in every runtime. */
    static final String HTTP_ENDPOINT = "ip:port of the HTTP endpoint for Kubernetes' probes: /healthz (live) and /readyz "
            + "(ready) (default: none)";

    /** The runtime's identity as Config Admin takes it (PID io.mayastorj.node): core's gRPC server, shell and probes. */
    protected final Hashtable<String, Object> identityConfiguration(String id) {
        Hashtable<String, Object> config = new Hashtable<>();
        config.put("node.id", id);
        config.put("grpc.endpoint", values.get("grpc.endpoint"));
        config.put("state.dir", values.get("state.dir"));
        config.put("http.endpoint", values.getOrDefault("http.endpoint", ""));
        return config;
    }

    /** The CSI driver's configuration (PID io.mayastorj.csi): its endpoint, and whether it attaches volumes here. */
    protected final Hashtable<String, Object> csiConfiguration(boolean node) {
        Hashtable<String, Object> config = new Hashtable<>();
        config.put("endpoint", values.get("csi.endpoint"));
        config.put("node", node);
        if (node) {
            config.put("node.io.timeout.seconds", Integer.parseInt(values.getOrDefault("csi.io.timeout.seconds", "30")));
            config.put("node.device.timeout.seconds", Integer.parseInt(values.getOrDefault("csi.device.timeout.seconds", "60")));
            config.put("control.endpoint", values.getOrDefault("control.endpoint", "")); // volumes follow their nexus
        }
        return config;
    }

    protected final boolean hasCsi() {
        return !values.getOrDefault("csi.endpoint", "").isEmpty();
    }

    /**
     * state.dir as given, or the default for {@code id} when it is left out. Given empty (a flag or a
     * config line with no value) it is refused: taken as the working directory, the runtime's lock and
     * Felix's cache went wherever it was started.
     */
    protected final void stateDir(String id) {
        String dir = values.get("state.dir");
        if (dir == null) {
            values.put("state.dir", defaultStateDir(id).toString());
        } else if (dir.isBlank()) {
            throw new IllegalArgumentException("state.dir is empty: give a directory, or leave it out for the default ("
                    + defaultStateDir(id) + ")");
        }
    }

    protected static Path defaultStateDir(String id) {
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

    public final String get(String key) {
        return values.get(key);
    }

    public final Path stateDir() {
        return Path.of(values.get("state.dir"));
    }

    public final String logLevel() {
        return values.get("log.level");
    }
}
