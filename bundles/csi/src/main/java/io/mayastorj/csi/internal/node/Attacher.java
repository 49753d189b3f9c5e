package io.mayastorj.csi.internal.node;

import io.mayastorj.core.error.MayastorException;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * Connects this node to a published volume and finds its block device — by what the kernel says
 * in sysfs about the subsystem NQN (NVMe/TCP) or the session's target IQN and LUN (iSCSI), never by
 * guessing at "the newest disk" — and disconnects it again. Every step first looks whether it is
 * done already, so a call repeated after a crash picks up where the last one stopped.
 */
final class Attacher {

    private static final Logger LOG = System.getLogger("mayastor.csi");
    private static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(60);

    private final Commands commands;
    private final Path sys;
    private final Path dev;
    private final String hostNqn;
    private final String hostIqn;
    private final Duration deviceTimeout;
    private final Set<String> mismatches = ConcurrentHashMap.newKeySet();

    /** @param following volumes here follow their nexus to another node (the control plane is known) */
    Attacher(Commands commands, Path root, String hostNqn, String hostIqn, Duration deviceTimeout, boolean following) {
        this.minCtrlLossSeconds = following ? FOLLOWING_CTRL_LOSS_SECONDS : 0;
        this.commands = commands;
        this.sys = root.resolve("sys");
        this.dev = root.resolve("dev");
        this.hostNqn = hostNqn;
        this.hostIqn = hostIqn;
        this.deviceTimeout = deviceTimeout;
    }

    /**
     * How long the kernel keeps trying a lost NVMe/TCP controller before it gives the path up, when
     * volumes follow their nexus: at least this, so that a volume whose nexus moves to another node
     * (the switch-over waits 10 s for the old node, then the new path is added) never runs out of
     * paths meanwhile.
     */
    static final int FOLLOWING_CTRL_LOSS_SECONDS = 120;
    private final int minCtrlLossSeconds;

    /** Connects (unless connected) and waits for the device; its /dev path. */
    Path attach(VolumeUri uri, int ioTimeoutSeconds) {
        if (uri.nvmf()) {
            if (controllers(uri.target()).isEmpty()) {
                connect(uri, ioTimeoutSeconds);
            }
        } else {
            if (session(uri.target()).isEmpty()) {
                initiatorInterface();
                commands.run(COMMAND_TIMEOUT, "iscsiadm", "-m", "node", "-o", "new", "-T", uri.target(), "-p", uri.portal(),
                        "-I", ISCSI_IFACE);
                commands.run(COMMAND_TIMEOUT, "iscsiadm", "-m", "node", "-T", uri.target(), "-p", uri.portal(), "-I", ISCSI_IFACE,
                        "-o", "update", "-n", "node.session.timeo.replacement_timeout", "-v", String.valueOf(ioTimeoutSeconds));
                // logged in by this plugin only: where iscsid.conf says automatic (RHEL's default), the host logged in to
                // every volume it ever staged at its next boot, those since published elsewhere too
                commands.run(COMMAND_TIMEOUT, "iscsiadm", "-m", "node", "-T", uri.target(), "-p", uri.portal(), "-I", ISCSI_IFACE,
                        "-o", "update", "-n", "node.startup", "-v", "manual");
                Commands.Result r = commands.run(COMMAND_TIMEOUT, "iscsiadm", "-m", "node", "-T", uri.target(), "-p",
                        uri.portal(), "-I", ISCSI_IFACE, "--login");
                if (!r.ok() && session(uri.target()).isEmpty()) {
                    throw MayastorException.unavailable("cannot log in to %s as %s: %s", uri.text(), hostIqn, r.describe());
                }
                LOG.log(Level.INFO, "logged in to {0} at {1} over iSCSI as {2}", uri.target(), uri.portal(), hostIqn);
            }
        }
        long deadline = System.nanoTime() + deviceTimeout.toNanos();
        while (true) {
            Optional<Path> device = device(uri);
            if (device.isPresent()) {
                return device.get();
            }
            if (System.nanoTime() > deadline) {
                throw MayastorException.deadlineExceeded("connected to %s, but no block device of %s %s appeared in %d s",
                        uri.text(), uri.nvmf() ? "subsystem" : "target", uri.target(), deviceTimeout.toSeconds());
            }
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw MayastorException.unavailable("interrupted while waiting for the device of %s", uri.text());
            }
        }
    }

    /**
     * nvme connect: with the kernel's native multipath (our controllers report several controllers
     * and ANA), a second connect to the same subsystem at another address adds a path to the same
     * namespace head, whose I/O waits while no path is live.
     */
    private void connect(VolumeUri uri, int ioTimeoutSeconds) {
        Commands.Result r = commands.run(COMMAND_TIMEOUT, "nvme", "connect", "-t", "tcp", "-a", uri.host(),
                "-s", String.valueOf(uri.port()), "-n", uri.target(), "--hostnqn", hostNqn,
                "--ctrl-loss-tmo", String.valueOf(Math.max(ioTimeoutSeconds, minCtrlLossSeconds)));
        if (!r.ok() && path(uri).isEmpty()) {
            throw MayastorException.unavailable("cannot connect to %s: %s", uri.text(), r.describe());
        }
        LOG.log(Level.INFO, "connected to {0} at {1} over NVMe/TCP as {2}", uri.target(), uri.portal(), hostNqn);
    }

    /** One NVMe controller of a subsystem: a path, with its address, state and the namespace's ANA state on it. */
    /** @param namespace the kernel has scanned the namespace on this path (it joined the multipath head) */
    record NvmePath(String controller, String host, int port, String state, String ana, boolean namespace) {
        boolean live() {
            return "live".equals(state);
        }

        /**
         * Live and serving: the namespace scanned on it (a connect returns before the kernel scans,
         * and the head whose last path goes before the new one joins is deleted under its mount)
         * and, where ANA is reported, optimized or not.
         */
        boolean usable() {
            return live() && namespace && (ana == null || ana.equals("optimized") || ana.equals("non-optimized"));
        }

        @Override
        public String toString() {
            return host + ":" + port + " " + state + (ana == null ? "" : " " + ana);
        }
    }

    /** Every path of subsystem {@code nqn} this node has. */
    List<NvmePath> paths(String nqn) {
        List<NvmePath> paths = new ArrayList<>();
        for (String c : controllers(nqn)) {
            Path ctrl = sys.resolve("class/nvme").resolve(c);
            String host = null;
            int port = 0;
            String address = read(ctrl.resolve("address"));
            for (String field : address == null ? new String[0] : address.split(",")) {
                String[] kv = field.strip().split("=", 2);
                if (kv.length == 2 && kv[0].equals("traddr")) {
                    host = kv[1];
                } else if (kv.length == 2 && kv[0].equals("trsvcid")) {
                    try {
                        port = Integer.parseInt(kv[1]);
                    } catch (NumberFormatException e) {
                        port = 0;
                    }
                }
            }
            String ana = null;
            boolean namespace = false;
            for (Path ns : list(ctrl)) {
                if (ns.getFileName().toString().matches("nvme\\d+c\\d+n\\d+|nvme\\d+n\\d+")) {
                    namespace = true;
                    ana = read(ns.resolve("ana_state"));
                    if (ana != null) {
                        break;
                    }
                }
            }
            paths.add(new NvmePath(c, host, port, read(ctrl.resolve("state")), ana, namespace));
        }
        return paths;
    }

    private Optional<NvmePath> path(VolumeUri uri) {
        return paths(uri.target()).stream().filter(p -> uri.host().equals(p.host()) && uri.port() == p.port()).findFirst();
    }

    /**
     * Makes {@code uri} a path of its subsystem (a volume whose nexus moved to another node, under
     * the same NQN) and, once that path is live, drops every other one: the old node is dead or
     * fenced and serves nothing. True when the volume is reached through {@code uri} alone.
     */
    boolean follow(VolumeUri uri, int ioTimeoutSeconds) {
        if (!"Y".equals(read(sys.resolve("module/nvme_core/parameters/multipath")))) {
            // without the kernel's multipath a second connect makes a second disk, and dropping the
            // old path would pull the mounted one away: the pod must be restarted instead
            if (mismatches.add("no-multipath " + uri.target())) {
                LOG.log(Level.WARNING, "{0} moved to {1}, but this kernel has no NVMe multipath (nvme_core.multipath=N): "
                        + "restart the pod to reach it", uri.target(), uri.portal());
            }
            return false;
        }
        Optional<NvmePath> now = path(uri);
        if (now.isEmpty()) {
            LOG.log(Level.INFO, "{0} is served at {1} now: adding that path", uri.target(), uri.portal());
            connect(uri, ioTimeoutSeconds);
            now = path(uri);
        }
        if (now.isEmpty() || !now.get().usable()) {
            return false; // the old paths stay until the new one serves (live, and optimized)
        }
        boolean alone = true;
        for (NvmePath old : paths(uri.target())) {
            if (old.controller().equals(now.get().controller())) {
                continue;
            }
            // read again right before: a disconnect before it may take up to a minute, and a controller the kernel
            // deleted meanwhile (its ctrl-loss-tmo) gives its name to the next connect — another volume's, whose
            // only path this would pull from under its mount
            if (paths(uri.target()).stream().noneMatch(p -> p.controller().equals(old.controller())
                    && p.host().equals(old.host()) && p.port() == old.port())) {
                LOG.log(Level.INFO, "{0}: the old path {1} went meanwhile", uri.target(), old.controller());
                continue;
            }
            Commands.Result r = commands.run(COMMAND_TIMEOUT, "nvme", "disconnect", "-d", old.controller());
            if (r.ok()) {
                LOG.log(Level.INFO, "{0}: dropped the old path {1} ({2})", uri.target(), old.controller(), old);
            } else {
                alone = false;
                LOG.log(Level.WARNING, "{0}: cannot drop the old path {1}: {2}", uri.target(), old.controller(), r.describe());
            }
        }
        return alone;
    }

    /** The volume's block device now, if this node is connected to it and the kernel made one. */
    Optional<Path> device(VolumeUri uri) {
        return uri.nvmf() ? nvmeNamespace(uri) : scsiDisk(uri);
    }

    /** Disconnects (when connected); the node record of an iSCSI volume goes too. */
    void detach(VolumeUri uri) {
        if (uri.nvmf()) {
            if (!controllers(uri.target()).isEmpty()) {
                Commands.Result r = commands.run(COMMAND_TIMEOUT, "nvme", "disconnect", "-n", uri.target());
                if (!r.ok() && !controllers(uri.target()).isEmpty()) {
                    throw MayastorException.unavailable("cannot disconnect from %s: %s", uri.target(), r.describe());
                }
                LOG.log(Level.INFO, "disconnected from {0}", uri.target());
            }
        } else {
            // by target, at every portal: a stage may have logged in where the volume was served then, and a
            // restage rewrote the record with the publish context's address — a logout there found no session
            if (session(uri.target()).isPresent()) {
                Commands.Result r = commands.run(COMMAND_TIMEOUT, "iscsiadm", "-m", "node", "-T", uri.target(), "--logout");
                if (!r.ok() && session(uri.target()).isPresent()) {
                    throw MayastorException.unavailable("cannot log out of %s: %s", uri.target(), r.describe());
                }
                LOG.log(Level.INFO, "logged out of {0}", uri.target());
            }
            commands.run(COMMAND_TIMEOUT, "iscsiadm", "-m", "node", "-T", uri.target(), "-o", "delete");
        }
    }

    /** Asks the kernel to read the volume's size again (after it grew). */
    void rescan(VolumeUri uri) {
        if (uri.nvmf()) {
            // one path that rescans is enough (the namespace's size is the head's): the kernel refuses to open a
            // controller that is not live, and an expand during a switch-over failed on the dead path
            Commands.Result failed = null;
            boolean rescanned = false;
            for (String c : controllers(uri.target())) {
                Commands.Result r = commands.run(COMMAND_TIMEOUT, "nvme", "ns-rescan", dev.resolve(c).toString());
                if (r.ok()) {
                    rescanned = true;
                } else {
                    failed = r;
                }
            }
            if (!rescanned && failed != null) {
                throw MayastorException.unavailable("cannot rescan %s: %s", uri.target(), failed.describe());
            }
        } else {
            Commands.Result r = commands.run(COMMAND_TIMEOUT, "iscsiadm", "-m", "node", "-T", uri.target(), "-R");
            if (!r.ok()) {
                throw MayastorException.unavailable("cannot rescan %s: %s", uri.target(), r.describe());
            }
        }
    }

    /** Whether this node has any controller (NVMe) or session (iSCSI) of the volume's target, at any address. */
    boolean attachedAnywhere(VolumeUri uri) {
        return uri.nvmf() ? !controllers(uri.target()).isEmpty() : session(uri.target()).isPresent();
    }

    /** Why the volume's connection is not healthy, or null. */
    String problem(VolumeUri uri) {
        if (uri.nvmf()) {
            List<NvmePath> paths = paths(uri.target());
            if (paths.isEmpty()) {
                return "not connected to " + uri.target();
            }
            if (paths.stream().anyMatch(NvmePath::usable)) {
                return null;
            }
            return "no usable path to " + uri.target() + ": " + paths.stream().map(NvmePath::toString).toList();
        }
        Optional<Path> s = session(uri.target());
        if (s.isEmpty()) {
            return "no iSCSI session with " + uri.target();
        }
        String state = read(s.get().resolve("state"));
        return state == null || state.equals("LOGGED_IN") ? null : "the iSCSI session with " + uri.target() + " is " + state;
    }

    /** The NVMe controllers (nvmeN) of subsystem NQN. */
    private List<String> controllers(String nqn) {
        List<String> found = new ArrayList<>();
        for (Path c : list(sys.resolve("class/nvme"))) {
            if (nqn.equals(read(c.resolve("subsysnqn")))) {
                found.add(c.getFileName().toString());
            }
        }
        return found;
    }

    /**
     * The namespace's block device: a namespace head under the subsystem (native multipath), or a
     * namespace under a controller (multipath off); with the uuid the URI names, when the kernel
     * reports one.
     */
    private Optional<Path> nvmeNamespace(VolumeUri uri) {
        List<Path> parents = new ArrayList<>();
        parents.addAll(list(sys.resolve("class/nvme-subsystem")));
        parents.addAll(list(sys.resolve("class/nvme")));
        for (Path parent : parents) {
            if (!uri.target().equals(read(parent.resolve("subsysnqn")))) {
                continue;
            }
            for (Path ns : list(parent)) {
                String name = ns.getFileName().toString();
                if (!name.matches("nvme\\d+n\\d+")) {
                    continue; // nvmeXcYnZ are a multipath head's hidden paths
                }
                String uuid = read(ns.resolve("uuid"));
                if (uri.uuid() != null && uuid != null && !uuid.equalsIgnoreCase(uri.uuid())
                        && !uuid.replace("-", "").equalsIgnoreCase(uri.uuid().replace("-", ""))) {
                    if (mismatches.add(name + " " + uuid + " " + uri.uuid())) { // once, not at every look
                        LOG.log(Level.WARNING, "{0} of {1} has uuid {2}, not {3}: not the volume", name, uri.target(), uuid,
                                uri.uuid());
                    }
                    continue;
                }
                Path device = dev.resolve(name);
                if (Files.exists(device)) {
                    return Optional.of(device);
                }
            }
        }
        return Optional.empty();
    }

    /** sessionN whose target is IQN. */
    private Optional<Path> session(String iqn) {
        for (Path s : list(sys.resolve("class/iscsi_session"))) {
            if (iqn.equals(read(s.resolve("targetname")))) {
                return Optional.of(s);
            }
        }
        return Optional.empty();
    }

    /** The disk of the session's LUN: sessionN/device/targetH:C:T/H:C:T:LUN/block/sdX. */
    private Optional<Path> scsiDisk(VolumeUri uri) {
        Optional<Path> session = session(uri.target());
        if (session.isEmpty()) {
            return Optional.empty();
        }
        for (Path target : list(session.get().resolve("device"))) {
            if (!target.getFileName().toString().startsWith("target")) {
                continue;
            }
            for (Path lun : list(target)) {
                String[] hctl = lun.getFileName().toString().split(":");
                if (hctl.length != 4 || !hctl[3].equals(String.valueOf(uri.lun()))) {
                    continue;
                }
                for (Path block : list(lun.resolve("block"))) {
                    Path device = dev.resolve(block.getFileName().toString());
                    if (Files.exists(device)) {
                        return Optional.of(device);
                    }
                }
            }
        }
        return Optional.empty();
    }

    private static List<Path> list(Path dir) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.sorted().toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    private static String read(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8).strip();
        } catch (IOException e) {
            return null;
        }
    }

    /**
     * The open-iscsi interface the volumes log in through: it carries this node's initiator name
     * ({@link #hostIqn}), to which the control plane shares an iSCSI nexus, whatever name the host's
     * {@code /etc/iscsi/initiatorname.iscsi} gives its own sessions. Made (again) before each login,
     * as libvirt does for its pools: "new" fails harmlessly when it exists, the update is what counts.
     */
    private void initiatorInterface() {
        commands.run(COMMAND_TIMEOUT, "iscsiadm", "-m", "iface", "-I", ISCSI_IFACE, "-o", "new");
        Commands.Result r = commands.run(COMMAND_TIMEOUT, "iscsiadm", "-m", "iface", "-I", ISCSI_IFACE, "-o", "update",
                "-n", "iface.initiatorname", "-v", hostIqn);
        if (!r.ok()) {
            throw MayastorException.unavailable("cannot set the initiator name %s on open-iscsi interface %s: %s", hostIqn,
                    ISCSI_IFACE, r.describe());
        }
    }

    static final String ISCSI_IFACE = "mayastor";

    /**
     * Mayastor-J's iSCSI initiator name for a node: an iSCSI nexus is shared to this one only. Node
     * names are DNS names (lower case, digits, '-', '.'), all valid in an IQN's unique part.
     */
    static String hostIqn(String nodeId) {
        return "iqn.2019-05.io.openebs:node-name:" + nodeId.toLowerCase(java.util.Locale.ROOT);
    }

    /** Mayastor's host NQN for a node: the nexus is shared to this one only. */
    static String hostNqn(String nodeId) {
        return "nqn.2019-05.io.openebs:node-name:" + nodeId;
    }
}
