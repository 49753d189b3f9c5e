package io.mayastorj.csi.internal.node;

import io.grpc.stub.StreamObserver;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.csi.CsiReadiness;
import io.mayastorj.csi.internal.CsiConfig;
import io.mayastorj.csi.v1.NodeExpandVolumeRequest;
import io.mayastorj.csi.v1.NodeExpandVolumeResponse;
import io.mayastorj.csi.v1.NodeGetCapabilitiesRequest;
import io.mayastorj.csi.v1.NodeGetCapabilitiesResponse;
import io.mayastorj.csi.v1.NodeGetInfoRequest;
import io.mayastorj.csi.v1.NodeGetInfoResponse;
import io.mayastorj.csi.v1.NodeGetVolumeStatsRequest;
import io.mayastorj.csi.v1.NodeGetVolumeStatsResponse;
import io.mayastorj.csi.v1.NodeGrpc;
import io.mayastorj.csi.v1.NodePublishVolumeRequest;
import io.mayastorj.csi.v1.NodePublishVolumeResponse;
import io.mayastorj.csi.v1.NodeServiceCapability;
import io.mayastorj.csi.v1.NodeStageVolumeRequest;
import io.mayastorj.csi.v1.NodeStageVolumeResponse;
import io.mayastorj.csi.v1.NodeUnpublishVolumeRequest;
import io.mayastorj.csi.v1.NodeUnpublishVolumeResponse;
import io.mayastorj.csi.v1.NodeUnstageVolumeRequest;
import io.mayastorj.csi.v1.NodeUnstageVolumeResponse;
import io.mayastorj.csi.v1.Topology;
import io.mayastorj.csi.v1.VolumeCapability;
import io.mayastorj.csi.v1.VolumeCondition;
import io.mayastorj.csi.v1.VolumeUsage;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;

/**
 * The CSI Node service: attaches a published volume to this node (NVMe/TCP or iSCSI), formats it
 * when it holds nothing, mounts it at the staging path, and binds it into each pod's target path;
 * then undoes each step. Every call is idempotent and calls for one volume run one at a time: each
 * step looks at what the kernel says (sysfs, mountinfo) before it acts, so a call repeated after a
 * crash — or a call that races the kubelet's retry — ends in the same state.
 */
public final class NodeService extends NodeGrpc.NodeImplBase implements CsiReadiness, AutoCloseable {

    private static final Logger LOG = System.getLogger("mayastor.csi");
    /**
     * The topology key of a node (a local volume is accessible there only): the driver's own, not
     * {@code kubernetes.io/hostname} — the kubelet writes it onto the Node as a label and refuses the
     * driver's registration when the label is there with another value, as the hostname label is
     * wherever the node name is not the host name (an FQDN on EKS, say).
     */
    public static final String TOPOLOGY_KEY = "openebs.io/nodename";
    /** Those every volume needs (xfs's tools are asked for when a volume is xfs: a node of ext4 volumes runs without). */
    private static final List<String> TOOLS = List.of("nvme", "iscsiadm", "blkid", "mkfs.ext4", "resize2fs", "mount", "umount",
            "stat", "blockdev");

    private final String nodeId;
    private final Attacher attacher;
    private final Filesystems filesystems;
    private final MountTable mounts;
    private final StagedVolumes staged;
    private final Path sys;
    private final int defaultIoTimeout;
    /** Where the control plane serves a volume now (see {@link #servedBy}); null without a control endpoint. */
    private volatile java.util.function.Function<String, Optional<String>> served;
    private final Map<String, ReentrantLock> locks = new ConcurrentHashMap<>();
    private final Supplier<String> readiness;
    /** How long a device may take to appear after a connect, or to show its new size after a rescan. */
    private final Duration deviceTimeout;

    NodeService(String nodeId, Commands commands, Path root, Path stateDir, String hostNqn, Duration deviceTimeout,
                int defaultIoTimeout, Supplier<String> readiness, boolean following) {
        this.nodeId = nodeId;
        this.attacher = new Attacher(commands, root, hostNqn, Attacher.hostIqn(nodeId), deviceTimeout, following);
        this.filesystems = new Filesystems(commands);
        this.mounts = new MountTable(root.resolve("proc/self/mountinfo"));
        this.staged = new StagedVolumes(stateDir);
        this.sys = root.resolve("sys");
        this.defaultIoTimeout = defaultIoTimeout;
        this.readiness = readiness;
        this.deviceTimeout = deviceTimeout;
    }

    /** The real one: this machine's commands, sysfs and mount table. */
    public static NodeService create(String nodeId, CsiConfig config, Path stateDir) {
        // Mayastor's, from the node id: the one the node registers with, to which the control plane shares the
        // volume's nexus (a setting for another, node.host.nqn, made every connect refused: removed)
        String hostNqn = Attacher.hostNqn(nodeId);
        String missing = missingTools();
        if (missing != null) {
            LOG.log(Level.WARNING, "the CSI node service cannot attach volumes yet: {0}", missing);
        }
        return new NodeService(nodeId, new SystemCommands(), Path.of("/"), stateDir, hostNqn,
                Duration.ofSeconds(config.node_device_timeout_seconds()), config.node_io_timeout_seconds(),
                NodeService::missingTools, !config.control_endpoint().isBlank());
    }

    /** Null when every tool the service runs is on the PATH; else which are not. */
    static String missingTools() {
        List<String> missing = new ArrayList<>();
        String path = System.getenv().getOrDefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        for (String tool : TOOLS) {
            boolean found = false;
            for (String dir : path.split(":")) {
                if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, tool))) {
                    found = true;
                    break;
                }
            }
            if (!found) {
                missing.add(tool);
            }
        }
        return missing.isEmpty() ? null : "not on the PATH: " + String.join(", ", missing)
                + " (Debian: nvme-cli, open-iscsi, util-linux, e2fsprogs, coreutils)";
    }

    @Override
    public String notReady() {
        return readiness.get();
    }

    /**
     * A CSI call on the volume, or ABORTED while another one is in progress (the spec's "operation
     * pending for volume"; kubelet tries again). Waiting held a gRPC thread for as long as the other
     * call took, ran the call after kubelet had given up on it, and let a later call overtake one that
     * waited longer (an unstage before the retried stage it should follow).
     */
    private <T> T locked(String volumeId, Supplier<T> work) {
        ReentrantLock lock = locks.computeIfAbsent(volumeId, k -> new ReentrantLock());
        if (!lock.tryLock()) {
            throw MayastorException.aborted("an operation on volume %s is in progress; try again", volumeId);
        }
        try {
            return work.get();
        } finally {
            lock.unlock();
        }
    }

    /**
     * The path follower's own work on the volume: it waits a while for a CSI call in progress, then
     * leaves the volume to its next look (empty) — a call stuck on the volume's I/O (an unmount
     * flushing to a head with no path left) must not hold up the following of every other volume
     * until their controllers are lost too.
     */
    private <T> Optional<T> lockedWaitingBriefly(String volumeId, Supplier<T> work) {
        ReentrantLock lock = locks.computeIfAbsent(volumeId, k -> new ReentrantLock());
        try {
            if (!lock.tryLock(FOLLOW_LOCK_WAIT.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS)) {
                return Optional.empty();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.empty();
        }
        try {
            return Optional.of(work.get());
        } finally {
            lock.unlock();
        }
    }

    private static final Duration FOLLOW_LOCK_WAIT = Duration.ofSeconds(1);

    private static <T> void reply(StreamObserver<T> response, T value) {
        response.onNext(value);
        response.onCompleted();
    }

    private static void require(String value, String what) {
        if (value == null || value.isBlank()) {
            throw MayastorException.invalidArgument("%s is required", what);
        }
    }

    // ---- info ----

    @Override
    public void nodeGetInfo(NodeGetInfoRequest request, StreamObserver<NodeGetInfoResponse> response) {
        reply(response, NodeGetInfoResponse.newBuilder().setNodeId(nodeId)
                .setAccessibleTopology(Topology.newBuilder().putSegments(TOPOLOGY_KEY, nodeId)).build());
    }

    @Override
    public void nodeGetCapabilities(NodeGetCapabilitiesRequest request, StreamObserver<NodeGetCapabilitiesResponse> response) {
        NodeGetCapabilitiesResponse.Builder b = NodeGetCapabilitiesResponse.newBuilder();
        for (NodeServiceCapability.RPC.Type t : List.of(NodeServiceCapability.RPC.Type.STAGE_UNSTAGE_VOLUME,
                NodeServiceCapability.RPC.Type.GET_VOLUME_STATS, NodeServiceCapability.RPC.Type.EXPAND_VOLUME,
                NodeServiceCapability.RPC.Type.VOLUME_CONDITION)) {
            b.addCapabilities(NodeServiceCapability.newBuilder().setRpc(NodeServiceCapability.RPC.newBuilder().setType(t)));
        }
        reply(response, b.build());
    }

    // ---- stage ----

    /**
     * The file system of a mount: the StorageClass's {@code fsType} (in the volume context) when it
     * names one, else the capability's, else ext4; refused when we cannot make it. The parameter
     * comes first: the provisioner fills the capability with its default (ext4) when the class sets
     * only ours, and a user who asked for xfs got ext4.
     */
    private static String fsTypeOf(VolumeCapability capability, Map<String, String> volumeContext) {
        if (capability.hasBlock()) {
            return "";
        }
        if (!capability.hasMount()) {
            throw MayastorException.invalidArgument("volume_capability needs an access type: block or mount");
        }
        String asked = volumeContext.getOrDefault("fsType", "").strip();
        String fs = !asked.isEmpty() ? asked
                : capability.getMount().getFsType().isBlank() ? Filesystems.SUPPORTED.get(0) : capability.getMount().getFsType();
        if (!Filesystems.SUPPORTED.contains(fs)) {
            throw MayastorException.invalidArgument("fsType '%s' is not supported: %s", fs, String.join(", ", Filesystems.SUPPORTED));
        }
        return fs;
    }

    /**
     * The file system was named by the StorageClass (the volume context), not asked by the caller: a
     * disk or record that holds another is mounted as it is, with a warning. Before the node read
     * that parameter it made ext4 whatever the class said, and the PV's attributes cannot be edited:
     * refused, such a volume could never be staged or published again.
     */
    private static boolean namedByClass(VolumeCapability capability, Map<String, String> volumeContext) {
        return capability.hasMount() && !volumeContext.getOrDefault("fsType", "").isBlank();
    }

    private static boolean readOnlyMode(VolumeCapability capability) {
        VolumeCapability.AccessMode.Mode mode = capability.getAccessMode().getMode();
        return mode == VolumeCapability.AccessMode.Mode.SINGLE_NODE_READER_ONLY
                || mode == VolumeCapability.AccessMode.Mode.MULTI_NODE_READER_ONLY;
    }

    private static void checkAccessMode(VolumeCapability capability) {
        switch (capability.getAccessMode().getMode()) {
            case SINGLE_NODE_WRITER, SINGLE_NODE_READER_ONLY, SINGLE_NODE_SINGLE_WRITER, SINGLE_NODE_MULTI_WRITER -> {
            }
            default -> throw MayastorException.invalidArgument("access mode %s is not supported: a volume is attached to one "
                    + "node at a time", capability.getAccessMode().getMode());
        }
    }

    private int ioTimeout(Map<String, String> context) {
        String t = context.get("ioTimeout");
        if (t == null || t.isBlank()) {
            return defaultIoTimeout;
        }
        try {
            int v = Integer.parseInt(t.strip());
            if (v >= 1) {
                return v;
            }
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw MayastorException.invalidArgument("ioTimeout '%s' is not a number of seconds", t);
    }

    @Override
    public void nodeStageVolume(NodeStageVolumeRequest request, StreamObserver<NodeStageVolumeResponse> response) {
        require(request.getVolumeId(), "volume_id");
        require(request.getStagingTargetPath(), "staging_target_path");
        if (!request.hasVolumeCapability()) {
            throw MayastorException.invalidArgument("volume_capability is required");
        }
        VolumeCapability capability = request.getVolumeCapability();
        checkAccessMode(capability);
        if (capability.hasMount()) {
            Filesystems.checkFlags(capability.getMount().getMountFlagsList()); // before a connect and a mkfs, not after
        }
        String fsType = fsTypeOf(capability, request.getVolumeContextMap());
        boolean byClass = namedByClass(capability, request.getVolumeContextMap());
        VolumeUri uri = servedNow(request.getVolumeId(), VolumeUri.parse(request.getPublishContextMap().get("uri")));
        int ioTimeout = ioTimeout(request.getVolumeContextMap());
        Path staging = Path.of(request.getStagingTargetPath());
        locked(request.getVolumeId(), () -> {
            stage(request.getVolumeId(), uri, staging, fsType, byClass, capability, ioTimeout);
            return null;
        });
        reply(response, NodeStageVolumeResponse.getDefaultInstance());
    }

    /** Lets stages ask where the control plane serves a volume now ({@link PathFollower}'s question). */
    public void servedBy(java.util.function.Function<String, Optional<String>> where) {
        served = where;
    }

    /**
     * The address to stage {@code volumeId} from: where the control plane serves it now when that is the
     * same target (NQN or IQN) at another address, else the publish context's. The publish context is
     * written once, at ControllerPublish: after a switch-over a restaged volume (a node reboot, a pod
     * moved back) was connected to the dead address, the failed stage left no record to follow, and
     * the pod waited for good.
     */
    private VolumeUri servedNow(String volumeId, VolumeUri published) {
        java.util.function.Function<String, Optional<String>> where = served;
        if (where == null || attacher.attachedAnywhere(published)) {
            // attached already (a path to the old address, dead or not): staged as it is, and the follower adds
            // the new path — recorded as served elsewhere, no path there was made (attach reuses what is there)
            // and the follower, finding the record current, never made one
            return published;
        }
        try {
            Optional<String> now = where.apply(volumeId);
            if (now.isEmpty() || now.get().equals(published.text())) {
                return published;
            }
            VolumeUri current = VolumeUri.parse(now.get());
            if (!sameVolume(current, published)) {
                // only the address may differ: another target, LUN or namespace is not where this URI points
                return published; // the publish context is the caller's word
            }
            LOG.log(Level.INFO, "volume {0} is served at {1} now, not at {2} as its publish context says: staged from there",
                    volumeId, current.portal(), published.portal());
            return current;
        } catch (RuntimeException e) {
            LOG.log(Level.DEBUG, "volume {0}: where it is served now is not known ({1}): staged from its publish context",
                    volumeId, e.getMessage());
            return published;
        }
    }

    /** The same target, LUN and namespace: at most the address differs. */
    private static boolean sameVolume(VolumeUri a, VolumeUri b) {
        return a.nvmf() == b.nvmf() && a.target().equals(b.target()) && a.lun() == b.lun()
                && java.util.Objects.equals(a.uuid(), b.uuid());
    }

    private void stage(String volumeId, VolumeUri uri, Path staging, String fsType, boolean byClass, VolumeCapability capability,
                       int ioTimeout) {
        Optional<StagedVolumes.Staged> before = staged.get(volumeId);
        if (before.isPresent() && !before.get().stagingPath().equals(staging.toString())) {
            if (!unused(volumeId) || attacher.attachedAnywhere(VolumeUri.parse(before.get().uri()))) {
                throw MayastorException.alreadyExists("volume %s is staged at %s already, not at %s", volumeId,
                        before.get().stagingPath(), staging);
            }
            // a record of nothing: neither mounted nor attached (a reboot the kubelet never unstaged after, its
            // directory moved). Kept, it refused the volume this node for good
            LOG.log(Level.WARNING, "volume {0}: its record names staging path {1}, where nothing of it is mounted or attached: "
                    + "replaced by {2}", volumeId, before.get().stagingPath(), staging);
            staged.remove(volumeId);
            before = Optional.empty();
        }
        if (before.isPresent() && byClass && !before.get().block() && !before.get().fsType().equals(fsType)) {
            LOG.log(Level.WARNING, "volume {0} is staged as {1}; its StorageClass names {2}: kept as it is", volumeId,
                    before.get().fsType(), fsType);
            fsType = before.get().fsType();
        }
        if (before.isPresent() && !before.get().fsType().equals(fsType)) {
            throw MayastorException.alreadyExists("volume %s is staged as %s already, not as %s", volumeId,
                    before.get().block() ? "a block volume" : before.get().fsType(), fsType.isEmpty() ? "a block volume" : fsType);
        }
        if (before.isPresent() && !sameVolume(VolumeUri.parse(before.get().uri()), uri)) {
            // another target, LUN or namespace (only the address may change: the nexus moved). Taken, the record
            // was rewritten before anything was checked, and the failed stage's undo dropped it: the volume's mounts
            // and old connection were left with no record, and its pods could never be unpublished
            throw MayastorException.alreadyExists("volume %s is staged from %s already, not from %s", volumeId,
                    before.get().uri(), uri.text());
        }
        if (Files.exists(staging) && !Files.isDirectory(staging)) {
            throw MayastorException.failedPrecondition("staging path %s is not a directory", staging);
        }
        Optional<MountTable.Mount> there = mounts.at(staging);
        if (there.isPresent() && (before.isEmpty() || !before.get().device().isEmpty()
                && !there.get().device().equals(mountedFrom(before.get())))) {
            throw MayastorException.alreadyExists("staging path %s is in use: %s is mounted there", staging, there.get().source());
        }
        // "gone": the recorded device is not the volume's now — removed by the kernel (its controller lost for
        // good), and its name perhaps given to another volume's disk already (the kernel reuses nvmeXnY and sdX)
        boolean gone = before.isPresent() && !before.get().device().isEmpty() && deviceNow(before.get()).isEmpty();
        if (fsType.isEmpty() && gone) {
            // a block volume whose device the kernel removed: its pods' binds are of the dead node, and stay
            // the volume's (the record keeps naming that device) until they are unpublished
            String dead = "/" + Path.of(before.get().device()).getFileName() + DELETED;
            List<String> users = mounts.read().stream().filter(m -> m.root().equals(dead)).map(MountTable.Mount::point).toList();
            if (!users.isEmpty()) {
                throw MayastorException.failedPrecondition("volume %s: %s, which the kernel removed (its controller was lost for "
                        + "good), is still bound at %s: the pods using it must be restarted", volumeId, before.get().device(),
                        String.join(", ", users));
            }
        }
        if (there.isPresent() && gone) {
            // the staging mount is of a device the kernel removed (its controller lost for good): a dead file
            // system. Taken for the volume's, it answered OK, and the record's new device made the pod's bind a
            // stranger that could never be unpublished. Mounted afresh once no pod uses it
            String dead = there.get().device();
            List<String> users = mounts.read().stream().filter(m -> m.device().equals(dead) && !m.point().equals(staging.toString()))
                    .map(MountTable.Mount::point).toList();
            if (!users.isEmpty()) {
                throw MayastorException.failedPrecondition("volume %s: its staging mount at %s is of %s, which the kernel removed "
                        + "(its controller was lost for good); still used at %s: the pods using it must be restarted",
                        volumeId, staging, before.get().device(), String.join(", ", users));
            }
            LOG.log(Level.WARNING, "volume {0}: the staging mount at {1} is of {2}, which the kernel removed: unmounted, "
                    + "the volume is attached and mounted again", volumeId, staging, before.get().device());
            filesystems.unmount(staging);
            there = Optional.empty();
        }
        createDirectories(staging);
        // recorded before anything is attached: whatever happens next, NodeUnstage knows what to undo
        staged.put(new StagedVolumes.Staged(volumeId, uri.text(), staging.toString(),
                before.map(StagedVolumes.Staged::device).orElse(""), fsType, ioTimeout));
        boolean connectedBefore = attacher.problem(uri) == null;
        try {
            attachAndMount(volumeId, uri, staging, fsType, byClass, capability, ioTimeout, there);
        } catch (RuntimeException e) {
            // this call attached it and failed, or it retries a stage cut short (the plugin killed: kubelet
            // takes a final error on the retry for "not staged" and never unstages) and nothing uses the
            // volume — no staging mount, no pod's bind: leave no half-attached device behind. A mount that
            // failed may have mounted all the same (libmount's "mounted, but ..."): on this call's own attach
            // that can only be its staging mount, undone first; it was disconnected under it
            try {
                if (before.isEmpty() && !connectedBefore) {
                    Optional<StagedVolumes.Staged> now = staged.get(volumeId);
                    if (now.isPresent() && !now.get().device().isEmpty() && mounts.at(staging)
                            .filter(m -> m.device().equals(mountedFrom(now.get()))).isPresent()) {
                        filesystems.unmount(staging);
                    }
                }
                if ((before.isEmpty() && !connectedBefore || before.isPresent()) && unused(volumeId)) {
                    attacher.detach(uri);
                    staged.remove(volumeId);
                }
            } catch (RuntimeException undo) {
                e.addSuppressed(undo);
                LOG.log(Level.WARNING, "volume {0}: could not undo a failed stage, NodeUnstage will: {1}", volumeId,
                        undo.getMessage());
            }
            throw e;
        }
    }

    private void attachAndMount(String volumeId, VolumeUri uri, Path staging, String fsType, boolean byClass,
            VolumeCapability capability, int ioTimeout, Optional<MountTable.Mount> mounted) {
        Path device = attacher.attach(uri, ioTimeout);
        staged.put(new StagedVolumes.Staged(volumeId, uri.text(), staging.toString(), device.toString(), fsType, ioTimeout));
        if (fsType.isEmpty()) {
            LOG.log(Level.INFO, "volume {0} staged: {1} (a block volume)", volumeId, device);
            return;
        }
        if (mounted.isPresent()) {
            if (!mounted.get().device().equals(majorMinor(device))) {
                // never OK for a staging mount of another device: the pods would be given a file system not this volume's
                throw MayastorException.failedPrecondition("volume %s: its staging mount at %s is of device %s, not of %s (%s)",
                        volumeId, staging, mounted.get().device(), device, majorMinor(device));
            }
            return; // mounted by an earlier call: the same device
        }
        String number = majorMinor(device);
        Optional<String> found = filesystems.probe(device);
        stillTheVolumes(volumeId, uri, device, number, "formatted or mounted");
        if (found.isEmpty() && readOnlyMode(capability)) {
            // as Kubernetes' own mounter: a volume asked for read-only is never written, a file system included
            throw MayastorException.failedPrecondition("volume %s holds no file system and is staged read-only: it is not "
                    + "formatted", volumeId);
        }
        if (found.isEmpty()) {
            filesystems.make(device, fsType);
            LOG.log(Level.INFO, "volume {0}: made {1} on {2}", volumeId, fsType, device);
        } else if (!found.get().equals(fsType) && byClass && Filesystems.SUPPORTED.contains(found.get())) {
            LOG.log(Level.WARNING, "volume {0} holds a {1} file system; its StorageClass names {2}: mounted as it is",
                    volumeId, found.get(), fsType);
            fsType = found.get();
            staged.put(new StagedVolumes.Staged(volumeId, uri.text(), staging.toString(), device.toString(), fsType, ioTimeout));
        } else if (!found.get().equals(fsType)) {
            throw MayastorException.failedPrecondition("volume %s holds a %s file system, not %s: it is not formatted again",
                    volumeId, found.get(), fsType);
        }
        filesystems.mount(device, staging, fsType, capability.getMount().getMountFlagsList(), readOnlyMode(capability));
        try {
            // the name may have gone to another disk between the look above and the mount (a reused name often gets the
            // freed number too: the controller or session decides)
            stillTheVolumes(volumeId, uri, device, number, "left mounted");
            if (mounts.at(staging).filter(m -> m.device().equals(number)).isEmpty()) {
                throw MayastorException.unavailable("volume %s: its device %s changed while it was mounted (the kernel "
                        + "removed it and gave its name to another disk); the stage is tried again", volumeId, device);
            }
        } catch (MayastorException e) {
            filesystems.unmount(staging); // not this volume's file system
            throw e;
        }
        LOG.log(Level.INFO, "volume {0} staged: {1} ({2}) mounted at {3}", volumeId, device, fsType, staging);
    }

    /**
     * The device found at the attach is still the volume's, by its controller or session, and the same
     * disk (the kernel reuses a removed disk's name for the next one attached: another volume's,
     * perhaps, staged at the same time). Looked at after the probe, which may wait on a lost path.
     */
    private void stillTheVolumes(String volumeId, VolumeUri uri, Path device, String number, String what) {
        boolean same = !"?".equals(number) && attacher.device(uri).filter(d -> d.getFileName().equals(device.getFileName()))
                .isPresent() && number.equals(majorMinor(device));
        if (!same) {
            throw MayastorException.unavailable("volume %s: its device %s is no longer the one attached (%s; the kernel "
                    + "removed it, its connection lost?): not %s; the stage is tried again", volumeId, device, number, what);
        }
    }

    @Override
    public void nodeUnstageVolume(NodeUnstageVolumeRequest request, StreamObserver<NodeUnstageVolumeResponse> response) {
        require(request.getVolumeId(), "volume_id");
        require(request.getStagingTargetPath(), "staging_target_path");
        Path staging = Path.of(request.getStagingTargetPath());
        locked(request.getVolumeId(), () -> {
            Optional<StagedVolumes.Staged> s = staged.get(request.getVolumeId());
            if (s.isEmpty()) {
                // not staged here (or unstaged already) — unless something is mounted at the staging path with no
                // record of it (the state directory moved or wiped): OK would have the kubelet let the volume go and
                // the nexus go from under that mount with its dirty pages. Nothing says the mount is this volume's,
                // so it is left alone, as an unpublish without a record leaves a mount
                Optional<MountTable.Mount> there = mounts.at(staging);
                if (there.isPresent()) {
                    throw MayastorException.failedPrecondition("volume %s: %s is mounted at %s, and this node has no record "
                            + "of staging the volume there (its state directory moved or wiped?): left alone; unmount it, "
                            + "then this call goes on", request.getVolumeId(), there.get().source(), staging);
                }
                return null;
            }
            if (!s.get().stagingPath().equals(staging.toString())) {
                throw MayastorException.invalidArgument("volume %s is staged at %s, not at %s", request.getVolumeId(),
                        s.get().stagingPath(), staging);
            }
            VolumeUri uri = VolumeUri.parse(s.get().uri());
            if (!s.get().device().isEmpty()) {
                // still published somewhere: a disconnect would pull the device from under a pod's mount
                String from = from(s.get());
                for (MountTable.Mount m : mounts.read()) {
                    // any mount of its file system, whatever its root: a bind of a subdirectory (a subPath a pod
                    // left) keeps the file system alive after the staging unmount, and the disk would go under it
                    if (!m.point().equals(staging.toString()) && (ours(s.get(), m, from) || from != null && m.device().equals(from))) {
                        throw MayastorException.failedPrecondition("volume %s is still published at %s: unpublish it first",
                                request.getVolumeId(), m.point());
                    }
                }
            }
            if (!s.get().device().isEmpty() && !s.get().block()) {
                // every mount of it at the staging path, not the top one only: under a second mount stacked there
                // (two stages racing across a plugin restart) the file system stayed mounted, and the disconnect
                // below dropped its dirty pages
                String from = mountedFrom(s.get());
                Optional<MountTable.Mount> there = mounts.at(staging);
                for (int i = 0; i < 16 && there.isPresent() && there.get().device().equals(from); i++) {
                    filesystems.unmount(staging);
                    there = mounts.at(staging);
                }
                for (MountTable.Mount m : mounts.read()) {
                    if (m.device().equals(from)) {
                        throw MayastorException.failedPrecondition("volume %s: its file system is still mounted at %s: it is "
                                + "not disconnected", request.getVolumeId(), m.point());
                    }
                }
                if (there.isPresent()) {
                    // a mount of another device over it (a loop mount through the StorageClass's mountOptions):
                    // it may read through this device, so the device stays until that mount is gone
                    throw MayastorException.failedPrecondition("volume %s: %s is still mounted at %s: it is not disconnected",
                            request.getVolumeId(), there.get().source(), staging);
                }
            }
            attacher.detach(uri);
            staged.remove(request.getVolumeId());
            LOG.log(Level.INFO, "volume {0} unstaged from {1}", request.getVolumeId(), staging);
            return null;
        });
        reply(response, NodeUnstageVolumeResponse.getDefaultInstance());
    }

    // ---- publish ----

    @Override
    public void nodePublishVolume(NodePublishVolumeRequest request, StreamObserver<NodePublishVolumeResponse> response) {
        require(request.getVolumeId(), "volume_id");
        require(request.getTargetPath(), "target_path");
        if (!request.hasVolumeCapability()) {
            throw MayastorException.invalidArgument("volume_capability is required");
        }
        require(request.getStagingTargetPath(), "staging_target_path");
        VolumeCapability capability = request.getVolumeCapability();
        checkAccessMode(capability);
        if (capability.hasMount()) {
            Filesystems.checkFlags(capability.getMount().getMountFlagsList()); // before a connect and a mkfs, not after
        }
        String fsType = fsTypeOf(capability, request.getVolumeContextMap());
        boolean byClass = namedByClass(capability, request.getVolumeContextMap());
        Path target = Path.of(request.getTargetPath());
        boolean readOnly = request.getReadonly() || readOnlyMode(capability);
        locked(request.getVolumeId(), () -> {
            StagedVolumes.Staged s = staged.get(request.getVolumeId()).orElseThrow(() -> MayastorException.failedPrecondition(
                    "volume %s is not staged on node %s", request.getVolumeId(), nodeId));
            if (!s.stagingPath().equals(request.getStagingTargetPath())) {
                throw MayastorException.invalidArgument("volume %s is staged at %s, not at %s", request.getVolumeId(),
                        s.stagingPath(), request.getStagingTargetPath());
            }
            if (s.device().isEmpty()) {
                throw MayastorException.failedPrecondition("volume %s is being staged; its device is not known yet", request.getVolumeId());
            }
            if (!s.fsType().equals(fsType) && !(byClass && !s.block())) {
                throw MayastorException.alreadyExists("volume %s is staged as %s, not as %s", request.getVolumeId(),
                        s.block() ? "a block volume" : s.fsType(), fsType.isEmpty() ? "a block volume" : fsType);
            }
            publish(s, target, readOnly);
            return null;
        });
        reply(response, NodePublishVolumeResponse.getDefaultInstance());
    }

    private void publish(StagedVolumes.Staged s, Path target, boolean readOnly) {
        Optional<MountTable.Mount> there = mounts.at(target);
        if (there.isPresent()) {
            if (ours(s, there.get()) && there.get().root().endsWith(DELETED)) {
                throw MayastorException.failedPrecondition("volume %s: %s is a bind of %s, which the kernel removed; unpublish "
                        + "it (its pod must be restarted)", s.volumeId(), target, s.device());
            }
            if (ours(s, there.get())) {
                if (readOnly && !there.get().readOnly()) {
                    // a call that died between its bind and the read-only remount: finish it
                    filesystems.remountReadOnly(target);
                    return;
                }
                if (there.get().readOnly() != readOnly) {
                    throw MayastorException.alreadyExists("volume %s is published at %s %s already", s.volumeId(), target,
                            there.get().readOnly() ? "read-only" : "read-write");
                }
                return; // published by an earlier call
            }
            throw MayastorException.alreadyExists("target path %s is in use: %s is mounted there", target, there.get().source());
        }
        if (s.block()) {
            // the kernel reuses a removed disk's name: the recorded one may be another volume's disk by now
            Path device = attacher.device(VolumeUri.parse(s.uri())).orElseThrow(() -> MayastorException.failedPrecondition(
                    "volume %s: its device %s is gone (its controller was lost): unpublish it and stage it again",
                    s.volumeId(), s.device()));
            if (!device.getFileName().equals(Path.of(s.device()).getFileName())) {
                // the record moves to the new device only once no pod holds the old one: their binds are known
                // as the volume's by the old name, and could not be unpublished any more
                String dead = "/" + Path.of(s.device()).getFileName() + DELETED;
                List<String> users = mounts.read().stream().filter(m -> m.root().equals(dead)).map(MountTable.Mount::point).toList();
                if (!users.isEmpty()) {
                    throw MayastorException.failedPrecondition("volume %s: %s, which the kernel removed (its controller was "
                            + "lost), is still bound at %s: the pods using it must be restarted first", s.volumeId(), s.device(),
                            String.join(", ", users));
                }
                LOG.log(Level.INFO, "volume {0}: its device is {1} now, not {2}", s.volumeId(), device, s.device());
                staged.put(new StagedVolumes.Staged(s.volumeId(), s.uri(), s.stagingPath(), device.toString(), s.fsType(),
                        s.ioTimeout()));
            }
            createDirectories(target.getParent());
            if (!Files.exists(target)) {
                try {
                    Files.createFile(target);
                } catch (IOException e) {
                    throw MayastorException.internal("cannot make %s: %s", target, e.getMessage());
                }
            }
            filesystems.bind(device, target, readOnly);
        } else {
            Path staging = Path.of(s.stagingPath());
            if (!s.device().isEmpty() && deviceNow(s).isEmpty()) {
                // its staging mount is of a device the kernel removed: bound, the pod would start on a dead file system
                throw MayastorException.failedPrecondition("volume %s: its device %s is gone (its controller was lost): "
                        + "unpublish it and stage it again", s.volumeId(), s.device());
            }
            if (mounts.at(staging).filter(m -> ours(s, m)).isEmpty()) {
                // binding the bare directory would put the pod's writes on this node's own disk
                throw MayastorException.failedPrecondition("volume %s is not mounted at its staging path %s: stage it again",
                        s.volumeId(), staging);
            }
            createDirectories(target);
            filesystems.bind(staging, target, readOnly);
        }
        LOG.log(Level.INFO, "volume {0} published at {1}{2}", s.volumeId(), target, readOnly ? " (read-only)" : "");
    }

    /** Nothing is mounted of the volume as recorded: no staging mount, no pod's bind. */
    private boolean unused(String volumeId) {
        Optional<StagedVolumes.Staged> s = staged.get(volumeId);
        if (s.isEmpty() || s.get().device().isEmpty()) {
            return true;
        }
        String from = from(s.get());
        return mounts.read().stream().noneMatch(m -> ours(s.get(), m, from));
    }

    /** What mountinfo appends to the root of a bind whose file was unlinked (a device node the kernel removed). */
    private static final String DELETED = "//deleted";

    /** A mount of this volume: its file system, or a bind of its device file. */
    private boolean ours(StagedVolumes.Staged s, MountTable.Mount m) {
        return ours(s, m, from(s));
    }

    /** What {@link #ours} compares a file system's mounts with (found once for a look over every mount). */
    private String from(StagedVolumes.Staged s) {
        return s.block() ? null : mountedFrom(s);
    }

    private boolean ours(StagedVolumes.Staged s, MountTable.Mount m, String from) {
        Path device = Path.of(s.device());
        if (s.block()) {
            // a bind of its device node; once the kernel removed the node, mountinfo shows "/NAME//deleted" —
            // and a bind of "/NAME" is another volume's once the kernel gave the name to another disk
            String root = "/" + device.getFileName();
            return m.root().equals(root + DELETED) || m.root().equals(root) && attacher.device(VolumeUri.parse(s.uri()))
                    .map(d -> d.getFileName().equals(device.getFileName())).orElse(false);
        }
        return m.device().equals(from) && m.root().equals("/");
    }

    /**
     * The "major:minor" the volume's file system is mounted from: the device's while it exists;
     * once the kernel removed it (its controller lost for good) its mounts stay behind, and the
     * staging mount of the recorded device says which it was — so they can still be unmounted.
     */
    private String mountedFrom(StagedVolumes.Staged s) {
        // the name's device only while the volume's own controller holds it: after a reboot the record
        // names what another volume attached first may have got, and that one's mounts are not this one's
        String now = deviceNow(s).map(this::majorMinor).orElse("?");
        if (!now.equals("?")) {
            return now;
        }
        return mounts.at(Path.of(s.stagingPath())).filter(m -> m.source().equals(s.device()) && m.root().equals("/"))
                .map(MountTable.Mount::device).orElse("?");
    }

    /**
     * The volume's device, when it is still the one its record names: the volume's own controller or
     * session holds it. A name alone says nothing once the kernel removed the device (its controller
     * lost for good): it gives the name to the next disk attached, perhaps another volume's.
     */
    private Optional<Path> deviceNow(StagedVolumes.Staged s) {
        Path recorded = Path.of(s.device());
        return attacher.device(VolumeUri.parse(s.uri())).filter(d -> d.getFileName().equals(recorded.getFileName()));
    }

    @Override
    public void nodeUnpublishVolume(NodeUnpublishVolumeRequest request, StreamObserver<NodeUnpublishVolumeResponse> response) {
        require(request.getVolumeId(), "volume_id");
        require(request.getTargetPath(), "target_path");
        Path target = Path.of(request.getTargetPath());
        locked(request.getVolumeId(), () -> {
            Optional<StagedVolumes.Staged> s = staged.get(request.getVolumeId());
            Optional<MountTable.Mount> there = mounts.at(target);
            if (there.isPresent()) {
                if (s.isEmpty() || !ours(s.get(), there.get())) {
                    throw MayastorException.failedPrecondition("target path %s holds %s, not volume %s: left alone", target,
                            there.get().source(), request.getVolumeId());
                }
                filesystems.unmount(target);
            }
            try {
                if (Files.isDirectory(target)) {
                    Files.deleteIfExists(target); // empty once unmounted; a directory with files is not ours to remove
                } else {
                    Files.deleteIfExists(target);
                }
            } catch (IOException e) {
                throw MayastorException.failedPrecondition("cannot remove target path %s: %s", target, e.getMessage());
            }
            if (there.isPresent()) {
                LOG.log(Level.INFO, "volume {0} unpublished from {1}", request.getVolumeId(), target);
            }
            return null;
        });
        reply(response, NodeUnpublishVolumeResponse.getDefaultInstance());
    }

    // ---- stats and growth ----

    @Override
    public void nodeGetVolumeStats(NodeGetVolumeStatsRequest request, StreamObserver<NodeGetVolumeStatsResponse> response) {
        require(request.getVolumeId(), "volume_id");
        require(request.getVolumePath(), "volume_path");
        StagedVolumes.Staged s = staged.get(request.getVolumeId()).orElseThrow(() -> MayastorException.notFound(
                "volume %s is not staged on node %s", request.getVolumeId(), nodeId));
        Path path = Path.of(request.getVolumePath());
        Optional<MountTable.Mount> there = mounts.at(path);
        if (!Files.exists(path) || there.isEmpty() || !ours(s, there.get())) {
            throw MayastorException.notFound("volume %s is not at %s", request.getVolumeId(), path);
        }
        NodeGetVolumeStatsResponse.Builder b = NodeGetVolumeStatsResponse.newBuilder();
        String problem = attacher.problem(VolumeUri.parse(s.uri()));
        Optional<Path> device = deviceNow(s);
        if (problem == null && device.isEmpty()) {
            problem = "its device " + s.device() + " is gone";
        }
        String paths = "";
        VolumeUri uri = VolumeUri.parse(s.uri());
        if (uri.nvmf()) {
            paths = "paths: " + String.join(", ", attacher.paths(uri.target()).stream().map(Attacher.NvmePath::toString).toList());
        }
        // the problem of an NVMe/TCP volume lists its paths already; a healthy one says which it has
        b.setVolumeCondition(VolumeCondition.newBuilder().setAbnormal(problem != null).setMessage(problem == null ? paths : problem));
        if (s.block()) {
            if (problem == null) {
                b.addUsage(VolumeUsage.newBuilder().setUnit(VolumeUsage.Unit.BYTES).setTotal(filesystems.sizeBytes(device.get())));
            }
        } else {
            Filesystems.Usage u = filesystems.usage(path);
            b.addUsage(VolumeUsage.newBuilder().setUnit(VolumeUsage.Unit.BYTES).setTotal(u.totalBytes()).setUsed(u.usedBytes())
                    .setAvailable(u.availableBytes()));
            b.addUsage(VolumeUsage.newBuilder().setUnit(VolumeUsage.Unit.INODES).setTotal(u.totalInodes()).setUsed(u.usedInodes())
                    .setAvailable(u.freeInodes()));
        }
        reply(response, b.build());
    }

    /**
     * Follows volumes whose nexus moved: for each NVMe/TCP volume staged here, {@code served}
     * says where the control plane serves it now (its URI, empty when it does not know); one at a
     * new address under the same NQN gets a path there, and once that is live the old paths go
     * (the kernel's multipath head keeps the I/O meanwhile) and the record names the new URI.
     * Returns how many volumes moved. Each volume under its lock, as the CSI calls.
     */
    public int followMoves(java.util.function.Function<String, Optional<String>> served) {
        int moved = 0;
        for (StagedVolumes.Staged s : staged.all()) {
            VolumeUri was = VolumeUri.parse(s.uri());
            if (!was.nvmf()) {
                continue; // iSCSI has no second path to the same disk here: the pod is restarted instead
            }
            Optional<String> now;
            try {
                now = served.apply(s.volumeId());
            } catch (RuntimeException e) {
                LOG.log(Level.DEBUG, "volume {0}: where it is served is not known now: {1}", s.volumeId(), e.getMessage());
                continue;
            }
            if (now.isEmpty() || now.get().equals(s.uri())) {
                continue;
            }
            VolumeUri next;
            try {
                next = VolumeUri.parse(now.get());
            } catch (RuntimeException e) {
                // not shared yet (bdev:///…: its nexus made again, waiting for its share): looked at again later.
                // Thrown, it ended the pass for every other volume staged here
                LOG.log(Level.DEBUG, "volume {0}: served as {1} now: not followed yet", s.volumeId(), now.get());
                continue;
            }
            if (!next.nvmf() || !next.target().equals(was.target())) {
                LOG.log(Level.WARNING, "volume {0} is served as {1} now, not under {2}: it cannot be followed; restart its pod",
                        s.volumeId(), now.get(), was.target());
                continue;
            }
            try {
                Optional<Boolean> done = lockedWaitingBriefly(s.volumeId(), () -> {
                    Optional<StagedVolumes.Staged> still = staged.get(s.volumeId());
                    if (still.isEmpty() || !still.get().uri().equals(s.uri())) {
                        return false; // unstaged or followed meanwhile
                    }
                    if (!still.get().block() && !attacher.attachedAnywhere(was) && unused(s.volumeId())) {
                        // a file-system volume neither mounted nor attached: a record of nothing (a reboot the kubelet
                        // never unstaged after). Followed, this node connected every second to a volume published
                        // elsewhere, and took its namespace if the target let it. (A raw block volume staged and not
                        // yet published has no mount either, and its lost controller is made again here: followed)
                        return false;
                    }
                    // the volume's own timeout (its StorageClass's ioTimeout), not the node's default
                    if (!attacher.follow(next, still.get().ioTimeout() > 0 ? still.get().ioTimeout() : defaultIoTimeout)) {
                        return false; // the next look tries again
                    }
                    StagedVolumes.Staged current = still.get(); // not the snapshot: a stage may have recorded its device since
                    staged.put(new StagedVolumes.Staged(current.volumeId(), next.text(), current.stagingPath(), current.device(),
                            current.fsType(), current.ioTimeout()));
                    LOG.log(Level.INFO, "volume {0} followed its nexus to {1}", s.volumeId(), next.portal());
                    return true;
                });
                if (done.isEmpty()) {
                    LOG.log(Level.INFO, "volume {0}: a call on it is in progress; it is followed to {1} at the next look",
                            s.volumeId(), next.portal());
                }
                moved += done.orElse(false) ? 1 : 0;
            } catch (RuntimeException e) { // one volume's trouble stops no other's
                LOG.log(Level.WARNING, "volume {0}: cannot follow it to {1} yet: {2}", s.volumeId(), next.portal(), e.getMessage());
            }
        }
        return moved;
    }

    @Override
    public void nodeExpandVolume(NodeExpandVolumeRequest request, StreamObserver<NodeExpandVolumeResponse> response) {
        require(request.getVolumeId(), "volume_id");
        require(request.getVolumePath(), "volume_path");
        long size = locked(request.getVolumeId(), () -> {
            StagedVolumes.Staged s = staged.get(request.getVolumeId()).orElseThrow(() -> MayastorException.notFound(
                    "volume %s is not staged on node %s", request.getVolumeId(), nodeId));
            Path path = Path.of(request.getVolumePath());
            if (!Files.exists(path)) {
                throw MayastorException.notFound("volume path %s does not exist", path);
            }
            VolumeUri uri = VolumeUri.parse(s.uri());
            // its device now, not the recorded name: once the kernel removed the volume's device it may have given
            // the name to another volume's disk, and that one's file system was grown in its stead
            Path device = deviceNow(s).orElseThrow(() -> MayastorException.unavailable("volume %s: its device %s is not "
                    + "attached now (its connection was lost): it is grown once it is staged again", request.getVolumeId(),
                    s.device()));
            long wanted = request.hasCapacityRange() ? request.getCapacityRange().getRequiredBytes() : 0;
            attacher.rescan(uri);
            // within the kubelet's 2 minutes for the call, with room for the rescan and the grow
            long deadline = System.nanoTime() + Math.min(deviceTimeout.toNanos(), Duration.ofSeconds(60).toNanos());
            long now = filesystems.sizeBytes(device);
            while (now < wanted && System.nanoTime() < deadline) {
                sleep(200);
                now = filesystems.sizeBytes(device);
            }
            if (now < wanted) {
                // not grown yet (a slow rescan, a path that has not seen the new size): asked again. FAILED_PRECONDITION,
                // which this was, is the kubelet's "cannot grow while in use": it stopped asking until the next mount
                throw MayastorException.unavailable("volume %s: the device is %d bytes, not %d yet: has the controller grown it?",
                        request.getVolumeId(), now, wanted);
            }
            if (!s.block()) {
                filesystems.grow(device, Path.of(s.stagingPath()), s.fsType());
                LOG.log(Level.INFO, "volume {0}: {1} grown to {2} bytes", request.getVolumeId(), s.fsType(), now);
            }
            return now;
        });
        reply(response, NodeExpandVolumeResponse.newBuilder().setCapacityBytes(size).build());
    }

    // ---- helpers ----

    /** A block device's "major:minor", as mountinfo names it. */
    private String majorMinor(Path device) {
        try {
            return Files.readString(sys.resolve("class/block").resolve(device.getFileName().toString()).resolve("dev"),
                    StandardCharsets.UTF_8).strip();
        } catch (IOException e) {
            return "?";
        }
    }

    private static void createDirectories(Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw MayastorException.failedPrecondition("cannot make directory %s: %s", dir, e.getMessage());
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw MayastorException.unavailable("interrupted");
        }
    }

    @Override
    public void close() {
        locks.clear();
    }
}
