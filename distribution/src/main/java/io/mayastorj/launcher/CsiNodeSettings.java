package io.mayastorj.launcher;

import java.nio.file.Path;
import java.util.Hashtable;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The settings of {@code mayastor csi-node}: the CSI Node service alone, for a node whose workloads
 * use volumes but which holds no storage. It registers with the control plane as such (so volumes
 * can be published to it), attaches volumes over NVMe/TCP or iSCSI and mounts them.
 */
public final class CsiNodeSettings extends Settings implements RuntimeSettings {

    /** Keys of the config file, in the order --help shows them; flags use the same names with dashes. */
    public static final Map<String, String> KEYS = new LinkedHashMap<>();

    static {
        KEYS.put("node.id", "the node's name, as Kubernetes knows it (required)");
        KEYS.put("csi.endpoint", "where the kubelet calls the driver: unix:///path/csi.sock or tcp://host:port (required)");
        KEYS.put("control.endpoint", "ip:port of the control plane's gRPC API: the node registers there, so that volumes "
                + "can be published to it (default: none)");
        KEYS.put("grpc.endpoint", "ip:port of this process's own gRPC API (the shell) (default 127.0.0.1:10199)");
        KEYS.put("http.endpoint", HTTP_ENDPOINT);
        KEYS.put("state.dir", "where the node remembers what it attached (default /var/lib/mayastor/ID)");
        KEYS.put("registration.interval.seconds", "seconds between heartbeats to the control plane (default 5)");
        KEYS.put("csi.io.timeout.seconds", "how long an attached volume's connection may be lost before I/O fails (default 30)");
        KEYS.put("csi.device.timeout.seconds", "how long a connected volume's device may take to appear (default 60)");
        KEYS.put("log.level", "error | warn | info | debug | trace (default info)");
    }

    private CsiNodeSettings() {
        super(KEYS);
        values.put("grpc.endpoint", "127.0.0.1:10199");
        values.put("registration.interval.seconds", "5");
        values.put("csi.io.timeout.seconds", "30");
        values.put("csi.device.timeout.seconds", "60");
        values.put("log.level", "info");
    }

    public static CsiNodeSettings load(Path configFile, Map<String, String> flags) {
        CsiNodeSettings settings = new CsiNodeSettings();
        settings.read(configFile, flags);
        return settings;
    }

    @Override
    protected void validate() {
        name("node.id", "node", "--node-id");
        if (!hasCsi()) {
            throw new IllegalArgumentException("a CSI node needs its endpoint: --csi-endpoint unix:///path/csi.sock");
        }
        csiEndpoint("csi.endpoint");
        endpoint("grpc.endpoint", "grpc endpoint", true);
        endpoint("http.endpoint", "http endpoint", false);
        endpoint("control.endpoint", "control endpoint", false);
        intSetting("registration.interval.seconds", 1, 3600);
        intSetting("csi.io.timeout.seconds", 1, 3600);
        intSetting("csi.device.timeout.seconds", 1, 3600);
        choice("log.level", Set.of("error", "warn", "info", "debug", "trace"));
        stateDir(values.get("node.id"));
    }

    @Override
    public String kind() {
        return "csi-node";
    }

    @Override
    public String id() {
        return values.get("node.id");
    }

    @Override
    public String title() {
        return "CSI node " + id();
    }

    @Override
    public Map<String, Hashtable<String, Object>> configurations() {
        Map<String, Hashtable<String, Object>> pids = new LinkedHashMap<>();
        pids.put("io.mayastorj.node", identityConfiguration(id()));
        pids.put("io.mayastorj.csi", csiConfiguration(true));
        Hashtable<String, Object> registration = new Hashtable<>();
        registration.put("control.endpoint", values.getOrDefault("control.endpoint", ""));
        registration.put("registration.interval.seconds", Integer.parseInt(values.get("registration.interval.seconds")));
        registration.put("application.only", true);
        pids.put("io.mayastorj.registration", registration);
        return pids;
    }

    /** No reactors, no buffers: the kernel does the I/O of an attached volume. */
    @Override
    public Set<String> unusedPids() {
        return Set.of("io.mayastorj.dataplane");
    }

    @Override
    public String readyDetails() {
        return "CSI on " + values.get("csi.endpoint") + (values.getOrDefault("control.endpoint", "").isEmpty() ? ""
                : ", registered with the control plane at " + values.get("control.endpoint"));
    }

    @Override
    public Path pluginDir(Path home) {
        return null;
    }
}
