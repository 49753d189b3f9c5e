package io.mayastorj.launcher;

import java.nio.file.Path;
import java.util.Hashtable;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/** The control plane's settings (see {@link Settings} for where they come from). */
public final class ControlSettings extends Settings implements RuntimeSettings {

    /** Keys of the config file, in the order --help shows them; flags use the same names with dashes. */
    public static final Map<String, String> KEYS = new LinkedHashMap<>();

    static {
        KEYS.put("control.id", "the control plane's name (default control)");
        KEYS.put("grpc.endpoint", "ip:port of its gRPC API: nodes register there, ctl talks to it (default 127.0.0.1:50051)");
        KEYS.put("http.endpoint", HTTP_ENDPOINT);
        KEYS.put("state.dir", "directory for state that survives restarts (default /var/lib/mayastor/ID, or under the "
                + "temp dir when that is not writable)");
        KEYS.put("store", "where the resources live: a directory of YAML files, the embedded default (default "
                + "STATE/resources); ignored with kubeconfig");
        KEYS.put("kubeconfig", "keep the resources in Kubernetes: a kubeconfig file, or in-cluster (default: none)");
        KEYS.put("kube.namespace", "their namespace in Kubernetes (default mayastor)");
        KEYS.put("nats", "NATS server: hear node registrations on subject v0/registry (default: over gRPC only)");
        KEYS.put("registration.interval.seconds", "the nodes' heartbeat interval (default 5)");
        KEYS.put("registration.missed", "heartbeats a node may miss before it is offline, 2 to 100 (default 3)");
        KEYS.put("sync.period.seconds", "every resource is reconciled at least this often (default 10)");
        KEYS.put("repair.grace.seconds", "how long a volume waits for a replica's node to return before it replaces the "
                + "replica on another node (default 300)");
        KEYS.put("orphan.grace.seconds", "how long a replica named for a volume the store does not have (left by a crash, "
                + "or of another store: a wrong namespace or state directory) is kept before it is destroyed (default 3600)");
        KEYS.put("switchover.grace.seconds", "how long the node of a published volume's nexus may be silent before the "
                + "nexus is made again on a node holding an in-sync replica, under the same NQN (needs nats; default 10)");
        KEYS.put("node.call.timeout.seconds", "deadline of each call to a node (default 30)");
        KEYS.put("reconcile.workers", "resources reconciled at once, each by one worker at a time (default 4)");
        KEYS.put("csi.endpoint", "serve the CSI Controller here: unix:///path/csi.sock or tcp://host:port (default: none)");
        KEYS.put("log.level", "error | warn | info | debug | trace (default info)");
    }

    private ControlSettings() {
        super(KEYS);
        values.put("control.id", "control");
        values.put("grpc.endpoint", "127.0.0.1:50051");
        values.put("kube.namespace", "mayastor");
        values.put("registration.interval.seconds", "5");
        values.put("registration.missed", "3");
        values.put("sync.period.seconds", "10");
        values.put("repair.grace.seconds", "300");
        values.put("switchover.grace.seconds", "10");
        values.put("orphan.grace.seconds", "3600");
        values.put("node.call.timeout.seconds", "30");
        values.put("reconcile.workers", "4");
        values.put("log.level", "info");
    }

    public static ControlSettings load(Path configFile, Map<String, String> flags) {
        ControlSettings settings = new ControlSettings();
        settings.read(configFile, flags);
        return settings;
    }

    @Override
    protected void validate() {
        name("control.id", "control plane", "--control-id");
        endpoint("grpc.endpoint", "grpc endpoint", true);
        endpoint("http.endpoint", "http endpoint", false);
        natsUrl("nats");
        intSetting("registration.interval.seconds", 1, 3600);
        intSetting("registration.missed", 2, 100); // one: a beat a moment late (a slow call, a GC) is offline
        intSetting("sync.period.seconds", 1, 3600);
        intSetting("repair.grace.seconds", 0, 7 * 24 * 3600);
        intSetting("orphan.grace.seconds", 0, 30 * 24 * 3600);
        intSetting("switchover.grace.seconds", 1, 3600);
        intSetting("node.call.timeout.seconds", 1, 3600);
        intSetting("reconcile.workers", 1, 64);
        csiEndpoint("csi.endpoint");
        choice("log.level", Set.of("error", "warn", "info", "debug", "trace"));
        stateDir(values.get("control.id"));
        if (!values.getOrDefault("kubeconfig", "").isEmpty() && !values.get("kubeconfig").equals("in-cluster")
                && !java.nio.file.Files.isReadable(Path.of(values.get("kubeconfig")))) {
            throw new IllegalArgumentException("kubeconfig " + values.get("kubeconfig") + " cannot be read");
        }
    }

    @Override
    public String kind() {
        return "control";
    }

    @Override
    public String id() {
        return values.get("control.id");
    }

    @Override
    public String title() {
        return id().equals("control") ? "control plane" : "control plane " + id();
    }

    @Override
    public Map<String, Hashtable<String, Object>> configurations() {
        Map<String, Hashtable<String, Object>> pids = new LinkedHashMap<>();
        Hashtable<String, Object> control = new Hashtable<>();
        control.put("store.dir", values.getOrDefault("store", ""));
        control.put("kubeconfig", values.getOrDefault("kubeconfig", ""));
        control.put("kube.namespace", values.get("kube.namespace"));
        control.put("nats.url", values.getOrDefault("nats", ""));
        for (String key : new String[] {"registration.interval.seconds", "registration.missed", "sync.period.seconds",
                "repair.grace.seconds", "switchover.grace.seconds", "node.call.timeout.seconds", "reconcile.workers",
                "orphan.grace.seconds"}) {
            control.put(key, Integer.parseInt(values.get(key)));
        }
        pids.put("io.mayastorj.control", control);
        pids.put("io.mayastorj.node", identityConfiguration(id())); // the runtime's identity: core's gRPC server and shell
        if (hasCsi()) {
            pids.put("io.mayastorj.csi", csiConfiguration(false));
        }
        return pids;
    }

    /** No reactors, no buffers: the control plane does no I/O of its own. */
    @Override
    public Set<String> unusedPids() {
        return hasCsi() ? Set.of("io.mayastorj.dataplane", "io.mayastorj.registration")
                : Set.of("io.mayastorj.dataplane", "io.mayastorj.registration", "io.mayastorj.csi");
    }

    @Override
    public String readyDetails() {
        return "gRPC on " + values.get("grpc.endpoint") + ", resources in "
                + (values.getOrDefault("kubeconfig", "").isEmpty()
                ? values.getOrDefault("store", stateDir().resolve("resources").toString())
                : "Kubernetes (" + values.get("kubeconfig") + ")")
                + (values.getOrDefault("nats", "").isEmpty() ? "" : ", registry on NATS " + withoutCredentials(values.get("nats")))
                + (hasCsi() ? ", CSI controller on " + values.get("csi.endpoint") : "");
    }

    @Override
    public Path pluginDir(Path home) {
        return null;
    }
}
