package io.mayastorj.launcher;

import java.nio.file.Path;
import java.util.Hashtable;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** A storage node's settings (see {@link Settings} for where they come from). */
public final class NodeSettings extends Settings implements RuntimeSettings {

    /** Keys of the config file, in the order --help shows them; flags use the same names with dashes. */
    public static final Map<String, String> KEYS = new LinkedHashMap<>();

    static {
        KEYS.put("node.id", "the node's name, unique in the cluster (required)");
        KEYS.put("grpc.endpoint", "ip:port of the node's gRPC API (default 127.0.0.1:10124)");
        KEYS.put("http.endpoint", HTTP_ENDPOINT);
        KEYS.put("state.dir", "directory for state that survives restarts (default /var/lib/mayastor/NODE, "
                + "or under the temp dir when that is not writable)");
        KEYS.put("reactors", "number of reactor (I/O) threads (default 2)");
        KEYS.put("buffers.mb", "size of the DMA buffer pool in MiB (default 128)");
        KEYS.put("hugepages", "auto | on | off: put the buffer pool on 2 MiB hugepages (default auto)");
        KEYS.put("log.level", "error | warn | info | debug | trace (default info)");
        KEYS.put("nvmf.address", "address the NVMe-oF/TCP target listens on (default: that of grpc.endpoint)");
        KEYS.put("nvmf.port", "port of the NVMe-oF/TCP target (default 8420)");
        KEYS.put("nvmf.nexus.port", "port the target offers nexus frontends (volumes) on (default 4421; nvmf.port: one port)");
        KEYS.put("nvmf.io.timeout", "seconds an nvmf:// bdev waits for a command before it reconnects (default 30)");
        KEYS.put("iscsi.address", "address the iSCSI target listens on (default: that of grpc.endpoint)");
        KEYS.put("iscsi.port", "port of the iSCSI target (default 3260)");
        KEYS.put("csi.endpoint", "serve the CSI Node service here too (this node attaches volumes for its own workloads): "
                + "unix:///path/csi.sock or tcp://host:port (default: none)");
        KEYS.put("csi.io.timeout.seconds", "how long an attached volume's connection may be lost before I/O fails (default 30)");
        KEYS.put("csi.device.timeout.seconds", "how long a connected volume's device may take to appear (default 60)");
        KEYS.put("publish.address", "the address application hosts reach this node at, when it is not the one the "
                + "targets listen on (NAT, pods): the URIs of published volumes carry it (default: the listen address)");
        KEYS.put("nexus.rebuild.segment.kib", "rebuild copy unit in KiB, a power of two 4..1024 (default 64)");
        KEYS.put("nexus.rebuild.tasks", "copies a rebuild keeps in flight (default 16; eight take runs up to 1 MiB while the nexus is quiet)");
        KEYS.put("nexus.partial.rebuild.window.seconds",
                "how long a faulted child's write log is kept so that its return rebuilds only what changed (default 600)");
        KEYS.put("nats.url", "NATS server (with JetStream), e.g. nats://10.0.0.1:4222: the node registers there (subject "
                + "v0/registry) and keeps its nexus records there (default: none); alone, without control.endpoint, an "
                + "outage of it stops the volumes' I/O");
        KEYS.put("nats.replicas", "how many servers of a NATS cluster keep the nexus records, 1 to 5 (default 1: one "
                + "server; 3 in the deployment's cluster of three, so a node that dies takes no record with it)");
        KEYS.put("control.endpoint", "ip:port of the control plane's gRPC API: the node registers there (default: none)");
        KEYS.put("registration.interval.seconds", "seconds between the node's heartbeats to the control plane (default 5)");
        KEYS.put("nexus.nats.url", "the NATS server for the nexus records only (an older name; default: nats.url, else "
                + "files in state.dir)");
        KEYS.put("pool.devices", "comma-separated glob patterns of devices (e.g. /dev/disk/by-id/*) where the node looks "
                + "for a pool, by its uuid, that is no longer on the device it was imported from (default: none)");
        KEYS.put("plugins.dir", "directory watched for plugin bundles: a jar copied in is deployed, replaced is updated, "
                + "removed is undeployed (default: plugins/ in the installation)");
    }

    private NodeSettings() {
        super(KEYS);
        values.put("grpc.endpoint", "127.0.0.1:10124");
        values.put("reactors", "2");
        values.put("buffers.mb", "128");
        values.put("hugepages", "auto");
        values.put("log.level", "info");
        values.put("csi.io.timeout.seconds", "30");
        values.put("csi.device.timeout.seconds", "60");
        values.put("nvmf.port", "8420");
        values.put("nvmf.nexus.port", "4421");
        values.put("nvmf.io.timeout", "30");
        values.put("iscsi.port", "3260");
        values.put("nexus.rebuild.segment.kib", "64");
        values.put("nexus.rebuild.tasks", "16");
        values.put("nexus.partial.rebuild.window.seconds", "600");
        values.put("nats.replicas", "1");
        values.put("registration.interval.seconds", "5");
    }

    /**
     * @param configFile a properties file, or null
     * @param flags      flag name (dashes) to value, e.g. {@code node-id}
     * @throws IllegalArgumentException with a message for the user
     */
    public static NodeSettings load(Path configFile, Map<String, String> flags) {
        NodeSettings settings = new NodeSettings();
        settings.read(configFile, flags);
        return settings;
    }

    @Override
    protected void validate() {
        name("node.id", "node", "--node-id");
        String id = values.get("node.id");
        endpoint("grpc.endpoint", "grpc endpoint", true);
        endpoint("http.endpoint", "http endpoint", false);
        csiEndpoint("csi.endpoint");
        intSetting("csi.io.timeout.seconds", 1, 3600);
        intSetting("csi.device.timeout.seconds", 1, 3600);
        String publish = values.getOrDefault("publish.address", "");
        if (!publish.isEmpty() && !publish.matches("[A-Za-z0-9.:\\[\\]-]+")) {
            throw new IllegalArgumentException("publish.address '" + publish + "' is not a host name or IP address");
        }
        intSetting("reactors", 1, 64);
        intSetting("nvmf.port", 1, 65535);
        intSetting("nvmf.nexus.port", 1, 65535);
        intSetting("nvmf.io.timeout", 1, 3600);
        intSetting("iscsi.port", 1, 65535);
        String segment = values.get("nexus.rebuild.segment.kib");
        if (segment != null && !segment.strip().matches("4|8|16|32|64|128|256|512|1024")) {
            throw new IllegalArgumentException("nexus.rebuild.segment.kib=" + segment
                    + ": expected a power of two from 4 to 1024 (KiB), e.g. 64");
        }
        intSetting("nexus.rebuild.tasks", 1, 256);
        intSetting("nexus.partial.rebuild.window.seconds", 0, 7 * 24 * 3600);
        intSetting("registration.interval.seconds", 1, 3600);
        endpoint("control.endpoint", "control.endpoint", false);
        natsUrl("nats.url");
        natsUrl("nexus.nats.url");
        intSetting("nats.replicas", 1, 5);
        String grpc = values.get("grpc.endpoint");
        String host = grpc.substring(0, grpc.lastIndexOf(':')).replace("[", "").replace("]", "");
        boolean registers = !values.getOrDefault("nats.url", "").isBlank() || !values.getOrDefault("control.endpoint", "").isBlank();
        if (registers && (host.equals("0.0.0.0") || host.equals("::") || host.matches("0*:[0:]*"))) {
            // the address the node registers is the one the control plane dials back: a wildcard is refused
            // there on every beat, and the node would never be listed, with nothing said here
            throw new IllegalArgumentException("grpc.endpoint " + grpc + " is the address the control plane calls this node "
                    + "at: give the node's own address (in a pod, the pod IP), not a wildcard");
        }
        if (registers) {
            // a replica's URI carries its target's address, and another node's nexus dials it: a wildcard is given out
            // as loopback, where that node finds its own. publish.address rewrites the nexus's URIs, not replicas'
            for (String key : List.of("nvmf.address", "iscsi.address")) {
                String address = values.getOrDefault(key, "").strip().replace("[", "").replace("]", "");
                boolean rewritten = key.equals("iscsi.address") && !values.getOrDefault("publish.address", "").isBlank();
                if (!rewritten && (address.equals("0.0.0.0") || address.equals("::") || address.matches("0*:[0:]*"))) {
                    throw new IllegalArgumentException(key + " " + address + " is given out in this node's URIs, which other "
                            + "nodes dial: give the node's own address (in a pod, the pod IP), not a wildcard, or leave it "
                            + "out to listen on grpc.endpoint's");
                }
            }
        }
        intSetting("buffers.mb", 2, 1 << 20);
        choice("hugepages", Set.of("auto", "on", "off"));
        choice("log.level", Set.of("error", "warn", "info", "debug", "trace"));
        stateDir(id);
        if (values.containsKey("plugins.dir") && values.get("plugins.dir").isBlank()) {
            // the working directory, watched: any jar there would be deployed into the node
            throw new IllegalArgumentException("plugins.dir is empty: give a directory, or leave it out for the default "
                    + "(plugins/ beside the distribution)");
        }
        for (String pattern : values.getOrDefault("pool.devices", "").split(",")) {
            if (!pattern.isBlank() && !pattern.strip().startsWith("/")) {
                throw new IllegalArgumentException("pool.devices: '" + pattern.strip() + "' is not an absolute path pattern");
            }
        }
    }

    public String nodeId() {
        return values.get("node.id");
    }

    /** The NVMe-oF/TCP configuration as Config Admin takes it (PID io.mayastorj.nvmf). */
    public Hashtable<String, Object> nvmfConfiguration() {
        Hashtable<String, Object> config = new Hashtable<>();
        config.put("nvmf.address", values.getOrDefault("nvmf.address", ""));
        config.put("nvmf.port", Integer.parseInt(values.get("nvmf.port")));
        config.put("nvmf.nexus.port", Integer.parseInt(values.get("nvmf.nexus.port")));
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
        config.put("nexus.nats.replicas", Integer.parseInt(values.get("nats.replicas")));
        config.put("nexus.publish.address", values.getOrDefault("publish.address", ""));
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
        return identityConfiguration(nodeId());
    }

    /** The node's reactors and buffers as Config Admin takes them (PID io.mayastorj.dataplane). */
    public Hashtable<String, Object> dataPlaneConfiguration() {
        Hashtable<String, Object> config = new Hashtable<>();
        config.put("reactors", Integer.parseInt(values.get("reactors")));
        config.put("buffers.mb", Integer.parseInt(values.get("buffers.mb")));
        config.put("hugepages", values.get("hugepages"));
        return config;
    }

    // ---------------------------------------------------------------- as a runtime

    @Override
    public String kind() {
        return "node";
    }

    @Override
    public String id() {
        return nodeId();
    }

    @Override
    public String title() {
        return "node " + nodeId();
    }

    /** The pool's first (the pool manager imports at once, when the node's identity arrives). */
    @Override
    public Map<String, Hashtable<String, Object>> configurations() {
        Map<String, Hashtable<String, Object>> pids = new LinkedHashMap<>();
        pids.put("io.mayastorj.pool", poolConfiguration());
        pids.put("io.mayastorj.dataplane", dataPlaneConfiguration());
        pids.put("io.mayastorj.node", nodeConfiguration());
        pids.put("io.mayastorj.nvmf", nvmfConfiguration());
        pids.put("io.mayastorj.iscsi", iscsiConfiguration());
        pids.put("io.mayastorj.nexus", nexusConfiguration());
        pids.put("io.mayastorj.registration", registrationConfiguration());
        if (hasCsi()) {
            pids.put("io.mayastorj.csi", csiConfiguration(true));
        }
        return pids;
    }

    @Override
    public Set<String> unusedPids() {
        return hasCsi() ? Set.of() : Set.of("io.mayastorj.csi");
    }

    @Override
    public String readyDetails() {
        return "gRPC on " + values.get("grpc.endpoint") + ", " + values.get("reactors") + " reactors, state in " + stateDir()
                + (hasCsi() ? ", CSI node on " + values.get("csi.endpoint") : "");
    }

    @Override
    public Path pluginDir(Path home) {
        return values.get("plugins.dir") != null ? Path.of(values.get("plugins.dir")) : home.resolve("plugins");
    }
}
