package io.mayastorj.control.internal.csi;

import io.grpc.stub.StreamObserver;
import io.mayastorj.control.internal.api.Volumes;
import io.mayastorj.control.internal.model.MayastorVolume;
import io.mayastorj.control.internal.registry.NodeRegistry;
import io.mayastorj.control.internal.store.ResourceStore;
import io.mayastorj.core.error.ErrorKind;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.csi.CsiReadiness;
import io.mayastorj.csi.v1.ControllerExpandVolumeRequest;
import io.mayastorj.csi.v1.ControllerExpandVolumeResponse;
import io.mayastorj.csi.v1.ControllerGetCapabilitiesRequest;
import io.mayastorj.csi.v1.ControllerGetCapabilitiesResponse;
import io.mayastorj.csi.v1.ControllerGetVolumeRequest;
import io.mayastorj.csi.v1.ControllerGetVolumeResponse;
import io.mayastorj.csi.v1.ControllerGrpc;
import io.mayastorj.csi.v1.ControllerPublishVolumeRequest;
import io.mayastorj.csi.v1.ControllerPublishVolumeResponse;
import io.mayastorj.csi.v1.ControllerServiceCapability;
import io.mayastorj.csi.v1.ControllerUnpublishVolumeRequest;
import io.mayastorj.csi.v1.ControllerUnpublishVolumeResponse;
import io.mayastorj.csi.v1.CreateVolumeRequest;
import io.mayastorj.csi.v1.CreateVolumeResponse;
import io.mayastorj.csi.v1.DeleteVolumeRequest;
import io.mayastorj.csi.v1.DeleteVolumeResponse;
import io.mayastorj.csi.v1.GetCapacityRequest;
import io.mayastorj.csi.v1.GetCapacityResponse;
import io.mayastorj.csi.v1.ListVolumesRequest;
import io.mayastorj.csi.v1.ListVolumesResponse;
import io.mayastorj.csi.v1.Topology;
import io.mayastorj.csi.v1.ValidateVolumeCapabilitiesRequest;
import io.mayastorj.csi.v1.ValidateVolumeCapabilitiesResponse;
import io.mayastorj.csi.v1.Volume;
import io.mayastorj.csi.v1.VolumeCapability;
import io.mayastorj.csi.v1.VolumeCondition;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import java.util.function.Supplier;

/**
 * The CSI Controller: CreateVolume and DeleteVolume are MayastorVolume resources made and deleted,
 * ControllerPublish/Unpublish set the node the volume is published to (the operator makes the
 * nexus and shares it to that node only), expansion grows the volume's spec, and capacity is what
 * the online pools have free. A volume's id is its msv's name.
 */
public final class ControllerService extends ControllerGrpc.ControllerImplBase implements CsiReadiness {

    private static final Logger LOG = System.getLogger("mayastor.control");
    /** The size of a volume asked for without one (Mayastor's default). */
    static final long DEFAULT_SIZE = 1L << 30;
    static final String TOPOLOGY_KEY = "openebs.io/nodename";
    /** The key before it: what StorageClasses' allowedTopologies and CSINodes registered earlier still name. */
    static final String OLD_TOPOLOGY_KEY = "kubernetes.io/hostname";
    private static final Set<String> PARAMETERS = Set.of("repl", "protocol", "thin", "local", "ioTimeout", "fsType");
    /**
     * Parameters of Mayastor's later StorageClasses this driver does not use: taken (a StorageClass
     * written for Mayastor works unchanged), said once each, ignored. A key neither knows is a typo.
     */
    private static final Set<String> IGNORED = Set.of("nvmeCtrlLossTmo", "nvmeKeepAliveTmo", "nvmeIoTimeout", "nvmeNrIoQueues",
            "stsAffinityGroup", "cloneFsIdAsVolumeId", "maxSnapshots", "fsId");
    /**
     * Mayastor's placement constraints, which this driver cannot honour: refused. Taken and ignored,
     * a StorageClass that keeps replicas to labelled pools or spreads them over zones had them placed
     * anywhere, one zone's loss taking every copy.
     */
    private static final Set<String> PLACEMENT = Set.of("poolAffinityTopologyLabel", "poolHasTopologyKey",
            "nodeAffinityTopologyLabel", "nodeHasTopologyKey", "nodeSpreadTopologyKey");
    private static final Set<String> IGNORED_SAID = java.util.concurrent.ConcurrentHashMap.newKeySet();
    /** The volume's context beside its spec, kept with it: a retried create must ask for the same, and every answer gives the same. */
    static final String IO_TIMEOUT = "openebs.io/csi-io-timeout";
    static final String FS_TYPE = "openebs.io/csi-fs-type";

    private final Volumes volumes;
    private final NodeRegistry registry;
    private final ResourceStore store;
    private final Supplier<String> readiness;

    public ControllerService(Volumes volumes, NodeRegistry registry, ResourceStore store, Supplier<String> readiness) {
        this.volumes = volumes;
        this.registry = registry;
        this.store = store;
        this.readiness = readiness;
    }

    @Override
    public String notReady() {
        return readiness.get();
    }

    private static <T> void reply(StreamObserver<T> response, T value) {
        response.onNext(value);
        response.onCompleted();
    }

    private static void require(String value, String what) {
        if (value == null || value.isBlank()) {
            throw MayastorException.invalidArgument("%s is required", what);
        }
    }

    /**
     * The msv name for a CSI volume name: the name itself when Kubernetes would take it as an object
     * name (pvc-<uid> does), else one derived from it, the same every time.
     */
    static String volumeId(String csiName) {
        if (csiName.matches("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")) {
            return csiName;
        }
        return "csi-" + UUID.nameUUIDFromBytes(csiName.getBytes(StandardCharsets.UTF_8));
    }

    // ---- capabilities ----

    /** Null when a capability is one we serve; else why not. */
    static String unsupported(VolumeCapability c) {
        if (!c.hasBlock() && !c.hasMount()) {
            return "a volume capability needs an access type, block or mount";
        }
        if (c.hasMount() && !c.getMount().getFsType().isEmpty() && !List.of("ext4", "xfs").contains(c.getMount().getFsType())) {
            return "fsType " + c.getMount().getFsType() + " is not supported: ext4 or xfs";
        }
        return switch (c.getAccessMode().getMode()) {
            case SINGLE_NODE_WRITER, SINGLE_NODE_READER_ONLY, SINGLE_NODE_SINGLE_WRITER, SINGLE_NODE_MULTI_WRITER -> null;
            case UNKNOWN, UNRECOGNIZED -> "a volume capability needs an access mode";
            default -> "access mode " + c.getAccessMode().getMode() + " is not supported: a volume is attached to one node";
        };
    }

    private static void checkCapabilities(List<VolumeCapability> capabilities) {
        if (capabilities.isEmpty()) {
            throw MayastorException.invalidArgument("volume_capabilities are required");
        }
        for (VolumeCapability c : capabilities) {
            String why = unsupported(c);
            if (why != null) {
                throw MayastorException.invalidArgument("%s", why);
            }
        }
    }

    @Override
    public void controllerGetCapabilities(ControllerGetCapabilitiesRequest request,
                                          StreamObserver<ControllerGetCapabilitiesResponse> response) {
        ControllerGetCapabilitiesResponse.Builder b = ControllerGetCapabilitiesResponse.newBuilder();
        for (ControllerServiceCapability.RPC.Type t : List.of(ControllerServiceCapability.RPC.Type.CREATE_DELETE_VOLUME,
                ControllerServiceCapability.RPC.Type.PUBLISH_UNPUBLISH_VOLUME, ControllerServiceCapability.RPC.Type.LIST_VOLUMES,
                ControllerServiceCapability.RPC.Type.GET_CAPACITY, ControllerServiceCapability.RPC.Type.EXPAND_VOLUME,
                ControllerServiceCapability.RPC.Type.LIST_VOLUMES_PUBLISHED_NODES,
                ControllerServiceCapability.RPC.Type.VOLUME_CONDITION, ControllerServiceCapability.RPC.Type.GET_VOLUME)) {
            b.addCapabilities(ControllerServiceCapability.newBuilder().setRpc(ControllerServiceCapability.RPC.newBuilder().setType(t)));
        }
        reply(response, b.build());
    }

    // ---- create and delete ----

    /** The StorageClass parameters, checked: repl, protocol, thin, local, ioTimeout, fsType. */
    record Parameters(int replicas, String protocol, boolean thin, boolean local, Integer ioTimeout, String fsType) {
        static Parameters of(Map<String, String> p) {
            for (String key : p.keySet()) {
                if (PLACEMENT.contains(key)) {
                    throw MayastorException.invalidArgument("parameter '%s' (Mayastor's placement by topology) is not supported "
                            + "by this driver: its replicas would not be placed as it asks; remove it from the StorageClass", key);
                } else if (IGNORED.contains(key)) {
                    if (IGNORED_SAID.add(key)) {
                        LOG.log(Level.WARNING, "StorageClass parameter {0} (Mayastor''s) is not used by this driver; ignored", key);
                    }
                } else if (!PARAMETERS.contains(key) && !key.contains("/")) {
                    throw MayastorException.invalidArgument("unknown parameter '%s': %s", key, String.join(", ", new TreeSet<>(PARAMETERS)));
                }
            }
            int replicas = integer(p, "repl", 1);
            String protocol = p.getOrDefault("protocol", "nvmf");
            if (!protocol.equals("nvmf") && !protocol.equals("iscsi")) {
                throw MayastorException.invalidArgument("parameter protocol '%s': nvmf or iscsi", protocol);
            }
            String fsType = p.getOrDefault("fsType", "");
            if (!fsType.isEmpty() && !List.of("ext4", "xfs").contains(fsType)) {
                throw MayastorException.invalidArgument("parameter fsType '%s': ext4 or xfs", fsType);
            }
            Integer ioTimeout = p.containsKey("ioTimeout") ? integer(p, "ioTimeout", 0) : null;
            return new Parameters(replicas, protocol, bool(p, "thin"), bool(p, "local"), ioTimeout, fsType);
        }

        private static int integer(Map<String, String> p, String key, int otherwise) {
            String v = p.get(key);
            if (v == null) {
                return otherwise;
            }
            try {
                int i = Integer.parseInt(v.strip());
                if (i >= 1) {
                    return i;
                }
            } catch (NumberFormatException ignored) {
                // reported below
            }
            throw MayastorException.invalidArgument("parameter %s '%s' is not a positive number", key, v);
        }

        private static boolean bool(Map<String, String> p, String key) {
            String v = p.getOrDefault(key, "false").strip();
            if (!v.equals("true") && !v.equals("false")) {
                throw MayastorException.invalidArgument("parameter %s '%s': true or false", key, v);
            }
            return v.equals("true");
        }

        /** The context beside the spec, as kept on the volume (empty: none asked for; absent: made before they were kept). */
        Map<String, String> annotations() {
            return Map.of(IO_TIMEOUT, ioTimeout == null ? "" : String.valueOf(ioTimeout), FS_TYPE, fsType);
        }

        /** What a node needs to attach the volume, carried in the volume's context. */
        Map<String, String> context() {
            Map<String, String> c = new LinkedHashMap<>();
            c.put("protocol", protocol);
            if (ioTimeout != null) {
                c.put("ioTimeout", String.valueOf(ioTimeout));
            }
            if (!fsType.isEmpty()) {
                c.put("fsType", fsType);
            }
            return c;
        }
    }

    /** The smallest volume each file system's mkfs makes: mkfs.xfs refuses below 300 MiB. */
    static final Map<String, Long> FILESYSTEM_MINIMUM = Map.of("xfs", 300L << 20, "ext4", 1L << 20);

    /**
     * The file system the node will make on the volume, as it decides (the class's {@code fsType},
     * else a mount capability's, else ext4), or "" when every capability is a block device.
     */
    static String filesystemOf(Parameters p, List<VolumeCapability> capabilities) {
        for (VolumeCapability c : capabilities) {
            if (c.hasMount()) { // a block volume gets none, whatever the class says (the node's fsTypeOf)
                return !p.fsType().isEmpty() ? p.fsType() : c.getMount().getFsType().isEmpty() ? "ext4" : c.getMount().getFsType();
            }
        }
        return "";
    }

    /**
     * {@code size} raised to the file system's smallest where the limit allows; past it, OUT_OF_RANGE.
     * Made smaller, the volume was created and every NodeStage then failed in mkfs: the pod waited for
     * good, the reason only in its events.
     */
    static long atLeastFilesystemMinimum(long size, long limit, String filesystem) {
        long minimum = FILESYSTEM_MINIMUM.getOrDefault(filesystem, 0L);
        if (size >= minimum) {
            return size;
        }
        if (limit > 0 && limit < minimum) {
            throw MayastorException.outOfRange("%s needs a volume of at least %d bytes (%s); limit_bytes is %d", filesystem,
                    minimum, io.mayastorj.core.text.Sizes.human(minimum), limit);
        }
        return minimum;
    }

    /** The size to make: the required bytes (a default when none), whole 4 KiB (or 512-byte blocks), within the limit. */
    static long size(long required, long limit) {
        if (required < 0 || limit < 0) {
            throw MayastorException.invalidArgument("capacity_range may not be negative");
        }
        if (limit > 0 && required > limit) {
            throw MayastorException.outOfRange("required_bytes %d is more than limit_bytes %d", required, limit);
        }
        if (required > Long.MAX_VALUE - 511) {
            // rounded up it overflowed to a negative size; an expansion to it answered OK without growing
            throw MayastorException.outOfRange("required_bytes %d is beyond what a volume can be", required);
        }
        long size;
        if (required > 0) {
            // whole 4 KiB where the limit allows: a pool on a disk of 4 KiB sectors takes only whole ones, and a
            // "1G" claim (10^9 bytes) was refused there; whole 512-byte blocks under a limit that leaves no room
            size = required <= Long.MAX_VALUE - 4095 ? (required + 4095) / 4096 * 4096 : (required + 511) / 512 * 512;
            if (limit > 0 && size > limit) {
                size = (required + 511) / 512 * 512;
            }
        } else if (limit > 0) {
            size = Math.min(limit, DEFAULT_SIZE) / 512 * 512; // no floor asked for: the whole blocks under the limit
            if (size == 0) {
                throw MayastorException.outOfRange("limit_bytes %d is less than one 512-byte block", limit);
            }
        } else {
            size = DEFAULT_SIZE;
        }
        if (limit > 0 && size > limit) {
            throw MayastorException.outOfRange("%d bytes, in whole 512-byte blocks, is more than limit_bytes %d", size, limit);
        }
        return size;
    }

    @Override
    public void createVolume(CreateVolumeRequest request, StreamObserver<CreateVolumeResponse> response) {
        require(request.getName(), "name");
        checkCapabilities(request.getVolumeCapabilitiesList());
        if (request.hasVolumeContentSource()) {
            throw MayastorException.invalidArgument("volumes from snapshots or other volumes are not supported");
        }
        Parameters p = Parameters.of(request.getParametersMap());
        long size = atLeastFilesystemMinimum(size(request.getCapacityRange().getRequiredBytes(),
                request.getCapacityRange().getLimitBytes()), request.getCapacityRange().getLimitBytes(),
                filesystemOf(p, request.getVolumeCapabilitiesList()));
        String id = volumeId(request.getName());
        MayastorVolume.Spec spec = new MayastorVolume.Spec();
        spec.setReplicaCount(p.replicas());
        spec.setRequiredBytes(size);
        spec.setLimitBytes(request.getCapacityRange().getLimitBytes() > 0 ? request.getCapacityRange().getLimitBytes() : null);
        spec.setProtocol(p.protocol());
        spec.setThin(p.thin() ? Boolean.TRUE : null);
        spec.setLocal(p.local() ? Boolean.TRUE : null);
        if (p.local()) {
            // a local volume's nexus runs where the workload does: place a replica on the nodes Kubernetes prefers,
            // and every replica on a node it may use (the volume is accessible from its replicas' nodes, and the
            // spec asks for one of the requisite ones: a replica elsewhere would put the workload outside them)
            List<Topology> requisite = request.getAccessibilityRequirements().getRequisiteList();
            List<String> required = storageNodes(requisite);
            if (!requisite.isEmpty() && required.isEmpty() && volumes.get(id).isEmpty()) {
                // (a retry of a volume made already goes on: right after a control plane's start its registry
                // may not have heard from the nodes yet)
                throw MayastorException.resourceExhausted("volume %s (%s) is local, and none of the nodes it may be used on "
                        + "holds a pool: %s", id, request.getName(), requisite.stream()
                        .map(t -> Objects.requireNonNullElse(node(t), "?")).toList());
            }
            List<String> preferred = storageNodes(request.getAccessibilityRequirements().getPreferredList());
            preferred.addAll(required);
            spec.setPreferredNodes(preferred.isEmpty() ? null : preferred.stream().distinct().toList());
            // a constraint only where the requisite leaves storage nodes out (allowedTopologies): listing every
            // storage node of today would keep a replacement off a storage node added later
            boolean everyStorageNode = registry.nodes().stream().filter(NodeRegistry.NodeState::storage)
                    .allMatch(n -> required.contains(n.id()));
            spec.setRequiredNodes(required.isEmpty() || everyStorageNode ? null : required.stream().distinct().toList());
        }
        // a volume found fits from the bytes asked for, not the size they round to (a retry's range may round otherwise)
        MayastorVolume msv = volumes.create(id, spec, p.annotations(), request.getCapacityRange().getRequiredBytes());
        if (MayastorVolume.PENDING.equals(msv.getStatus().getState())) {
            // nothing was made on any node: do not keep a volume Kubernetes will not know it asked for.
            // Also when an earlier call (one that timed out) left it: kept, it was made once room came,
            // by then perhaps for a claim deleted meanwhile, and nothing would ever delete it
            destroy(id);
            throw MayastorException.resourceExhausted("cannot make volume %s (%s): %s", id, request.getName(),
                    msv.getStatus().getReason());
        }
        LOG.log(Level.INFO, "CSI: volume {0} for {1}: {2} bytes, {3} replica(s), {4}", id, request.getName(), size,
                p.replicas(), msv.getStatus().getState());
        reply(response, CreateVolumeResponse.newBuilder().setVolume(volume(msv, p.context())).build());
    }

    private List<String> storageNodes(List<Topology> topologies) {
        List<String> nodes = new ArrayList<>();
        for (Topology t : topologies) {
            String host = node(t);
            if (host != null && registry.node(host).map(NodeRegistry.NodeState::storage).orElse(false)) {
                nodes.add(host);
            }
        }
        return nodes;
    }

    /** The CSI view of a volume: its id, size, context; a local one is accessible from its replicas' nodes. */
    private Volume volume(MayastorVolume msv, Map<String, String> context) {
        Volume.Builder b = Volume.newBuilder().setVolumeId(msv.getMetadata().getName())
                .setCapacityBytes(msv.servedBytes()).putAllVolumeContext(context);
        if (Boolean.TRUE.equals(msv.getSpec().getLocal()) && msv.getStatus() != null && msv.getStatus().getReplicas() != null) {
            for (MayastorVolume.Replica r : msv.getStatus().getReplicas()) {
                b.addAccessibleTopology(Topology.newBuilder().putSegments(TOPOLOGY_KEY, r.getNode()));
            }
        }
        return b.build();
    }

    /** The context CreateVolume gave the volume: its protocol, and the ioTimeout and fsType it was made with. */
    private static Map<String, String> contextOf(MayastorVolume msv) {
        Map<String, String> c = new LinkedHashMap<>();
        c.put("protocol", msv.getSpec().getProtocol() == null ? "nvmf" : msv.getSpec().getProtocol());
        Map<String, String> a = msv.getMetadata().getAnnotations();
        if (a != null && a.get(IO_TIMEOUT) != null && !a.get(IO_TIMEOUT).isEmpty()) {
            c.put("ioTimeout", a.get(IO_TIMEOUT));
        }
        if (a != null && a.get(FS_TYPE) != null && !a.get(FS_TYPE).isEmpty()) {
            c.put("fsType", a.get(FS_TYPE));
        }
        return c;
    }

    /**
     * Deletes the volume and waits until it is gone; one that another call finished meanwhile (a
     * DeleteVolume, or a CreateVolume for the same name cleaning up after itself) is as good.
     */
    private void destroy(String id) {
        try {
            volumes.destroy(id);
        } catch (MayastorException e) {
            if (e.kind() != ErrorKind.NOT_FOUND) {
                throw e;
            }
        }
        volumes.awaitGone(id);
    }

    @Override
    public void deleteVolume(DeleteVolumeRequest request, StreamObserver<DeleteVolumeResponse> response) {
        require(request.getVolumeId(), "volume_id");
        Optional<MayastorVolume> msv = volumes.get(request.getVolumeId());
        if (msv.isPresent()) {
            destroy(request.getVolumeId());
            LOG.log(Level.INFO, "CSI: volume {0} deleted", request.getVolumeId());
        }
        reply(response, DeleteVolumeResponse.getDefaultInstance());
    }

    // ---- publish ----

    @Override
    public void controllerPublishVolume(ControllerPublishVolumeRequest request,
                                        StreamObserver<ControllerPublishVolumeResponse> response) {
        require(request.getVolumeId(), "volume_id");
        require(request.getNodeId(), "node_id");
        if (!request.hasVolumeCapability()) {
            throw MayastorException.invalidArgument("volume_capability is required");
        }
        String why = unsupported(request.getVolumeCapability());
        if (why != null) {
            throw MayastorException.invalidArgument("%s", why);
        }
        volumes.find(request.getVolumeId());
        if (registry.node(request.getNodeId()).isEmpty()) {
            throw MayastorException.notFound("node %s is not registered with the control plane", request.getNodeId());
        }
        MayastorVolume msv = volumes.publish(request.getVolumeId(), request.getNodeId(),
                publishedAs(request.getVolumeCapability(), request.getReadonly()));
        String uri = msv.getStatus().getNexus().getDeviceUri();
        LOG.log(Level.INFO, "CSI: volume {0} published to node {1}: {2}", request.getVolumeId(), request.getNodeId(), uri);
        reply(response, ControllerPublishVolumeResponse.newBuilder().putPublishContext("uri", uri).build());
    }

    /** How a publish is kept, to tell a repeated one (OK) from one asking for another capability (ALREADY_EXISTS). */
    static String publishedAs(VolumeCapability c, boolean readonly) {
        String type = c.hasBlock() ? "block" : c.getMount().getFsType().isEmpty() ? "mount" : "mount/" + c.getMount().getFsType();
        return type + " " + c.getAccessMode().getMode() + (readonly ? " read-only" : "");
    }

    @Override
    public void controllerUnpublishVolume(ControllerUnpublishVolumeRequest request,
                                          StreamObserver<ControllerUnpublishVolumeResponse> response) {
        require(request.getVolumeId(), "volume_id");
        if (volumes.get(request.getVolumeId()).isEmpty()) {
            // the spec: a volume that is gone is unpublished from every node
            reply(response, ControllerUnpublishVolumeResponse.getDefaultInstance());
            return;
        }
        try {
            volumes.unpublish(request.getVolumeId(), request.getNodeId().isBlank() ? null : request.getNodeId());
        } catch (MayastorException e) {
            if (e.kind() != ErrorKind.NOT_FOUND) {
                throw e;
            }
            // gone since we looked (deleted by another call): unpublished from every node, as above
        }
        reply(response, ControllerUnpublishVolumeResponse.getDefaultInstance());
    }

    @Override
    public void validateVolumeCapabilities(ValidateVolumeCapabilitiesRequest request,
                                           StreamObserver<ValidateVolumeCapabilitiesResponse> response) {
        require(request.getVolumeId(), "volume_id");
        if (request.getVolumeCapabilitiesCount() == 0) {
            throw MayastorException.invalidArgument("volume_capabilities are required");
        }
        MayastorVolume msv = volumes.find(request.getVolumeId());
        for (VolumeCapability c : request.getVolumeCapabilitiesList()) {
            String why = unsupported(c);
            if (why != null) {
                reply(response, ValidateVolumeCapabilitiesResponse.newBuilder().setMessage(why).build());
                return;
            }
        }
        // what is confirmed is checked first: the parameters and context echoed back unread once
        // confirmed a StorageClass asking for three replicas of a one-replica volume
        String mismatch = mismatch(msv, request.getParametersMap(), request.getVolumeContextMap());
        if (mismatch == null) {
            mismatch = otherFileSystem(msv, request.getVolumeCapabilitiesList());
        }
        if (mismatch != null) {
            reply(response, ValidateVolumeCapabilitiesResponse.newBuilder().setMessage(mismatch).build());
            return;
        }
        reply(response, ValidateVolumeCapabilitiesResponse.newBuilder().setConfirmed(
                ValidateVolumeCapabilitiesResponse.Confirmed.newBuilder().addAllVolumeCapabilities(request.getVolumeCapabilitiesList())
                        .putAllVolumeContext(request.getVolumeContextMap()).putAllParameters(request.getParametersMap())).build());
    }

    /** How a volume is not what parameters (a StorageClass's) or a volume context describe, or null. */
    private static String mismatch(MayastorVolume msv, Map<String, String> parameters, Map<String, String> context) {
        MayastorVolume.Spec spec = msv.getSpec();
        String name = msv.getMetadata().getName();
        String protocol = spec.getProtocol() == null ? "nvmf" : spec.getProtocol();
        if (!parameters.isEmpty()) {
            Parameters p;
            try {
                p = Parameters.of(parameters);
            } catch (MayastorException e) {
                return e.getMessage();
            }
            if (!Objects.equals(spec.getReplicaCount(), p.replicas())) {
                return "volume " + name + " has " + spec.getReplicaCount() + " replica(s), the parameters ask for " + p.replicas();
            }
            if (!p.protocol().equals(protocol)) {
                return "volume " + name + " is shared over " + protocol + ", the parameters ask for " + p.protocol();
            }
            if (p.thin() != Boolean.TRUE.equals(spec.getThin()) || p.local() != Boolean.TRUE.equals(spec.getLocal())) {
                return "volume " + name + " is " + (Boolean.TRUE.equals(spec.getThin()) ? "thin" : "thick")
                        + (Boolean.TRUE.equals(spec.getLocal()) ? " and local" : "") + ", not as the parameters ask";
            }
        }
        String contextProtocol = context.get("protocol");
        if (contextProtocol != null && !contextProtocol.equals(protocol)) {
            return "volume " + name + " is shared over " + protocol + ", its context says " + contextProtocol;
        }
        // as made (kept since CreateVolume kept them: a volume made before has no such annotation, and is not judged)
        Map<String, String> kept = msv.getMetadata().getAnnotations() == null ? Map.of() : msv.getMetadata().getAnnotations();
        Map<String, String> asked = new LinkedHashMap<>();
        if (!parameters.isEmpty()) {
            Parameters p = Parameters.of(parameters); // checked above: the values as CreateVolume keeps them ("030" is 30)
            asked.put(IO_TIMEOUT, p.annotations().get(IO_TIMEOUT));
            asked.put(FS_TYPE, p.annotations().get(FS_TYPE));
        }
        if (context.containsKey("ioTimeout")) {
            asked.put(IO_TIMEOUT, context.get("ioTimeout").strip());
        }
        if (context.containsKey("fsType")) {
            asked.put(FS_TYPE, context.get("fsType").strip());
        }
        for (Map.Entry<String, String> e : asked.entrySet()) {
            String there = kept.get(e.getKey());
            if (there != null && !there.equals(e.getValue())) {
                String key = e.getKey().equals(IO_TIMEOUT) ? "ioTimeout" : "fsType";
                return "volume " + name + " was made with " + key + " " + (there.isEmpty() ? "unset" : there) + ", not "
                        + (e.getValue().isEmpty() ? "unset" : e.getValue());
            }
        }
        return null;
    }

    /** A mount capability asking for a file system other than the one the volume was made with, or null. */
    private static String otherFileSystem(MayastorVolume msv, List<VolumeCapability> capabilities) {
        Map<String, String> kept = msv.getMetadata().getAnnotations() == null ? Map.of() : msv.getMetadata().getAnnotations();
        String made = kept.getOrDefault(FS_TYPE, "");
        for (VolumeCapability c : capabilities) {
            String asked = c.hasMount() ? c.getMount().getFsType() : "";
            if (!made.isEmpty() && !asked.isEmpty() && !asked.equals(made)) {
                return "volume " + msv.getMetadata().getName() + " was made with fsType " + made + ", not " + asked;
            }
        }
        return null;
    }

    // ---- list, get, capacity ----

    private VolumeCondition condition(MayastorVolume msv) {
        String state = msv.getStatus() == null ? "new" : msv.getStatus().getState();
        boolean abnormal = !MayastorVolume.HEALTHY.equals(state);
        String reason = msv.getStatus() == null || msv.getStatus().getReason() == null ? "" : ": " + msv.getStatus().getReason();
        return VolumeCondition.newBuilder().setAbnormal(abnormal).setMessage(state + reason).build();
    }

    /**
     * Whether ListVolumes shows a volume: not one being deleted, unless it is still published (its
     * deletion waits for the unpublish, and it is served meanwhile). Hidden, the attacher's reconcile
     * took its attachment for gone and published it again each period, refused as being deleted.
     */
    static boolean listed(MayastorVolume msv) {
        return msv.getMetadata().getDeletionTimestamp() == null || msv.getSpec() != null && !publishedTo(msv).isEmpty();
    }

    private static List<String> publishedTo(MayastorVolume msv) {
        String node = msv.getSpec().getAppNode() != null ? msv.getSpec().getAppNode() : msv.getSpec().getTargetNode();
        return node == null ? List.of() : List.of(node);
    }

    /**
     * Pages of volumes in name order. The token carries the last name a page returned, so a page
     * goes on after it even when that volume was deleted or others were added in between; a token
     * we did not write is ABORTED.
     */
    @Override
    public void listVolumes(ListVolumesRequest request, StreamObserver<ListVolumesResponse> response) {
        if (request.getMaxEntries() < 0) {
            throw MayastorException.invalidArgument("max_entries may not be negative");
        }
        String after = request.getStartingToken().isEmpty() ? null : afterToken(request.getStartingToken());
        List<MayastorVolume> all = new ArrayList<>(volumes.list().stream()
                .filter(ControllerService::listed)
                .filter(v -> after == null || v.getMetadata().getName().compareTo(after) > 0).toList());
        all.sort(Comparator.comparing(v -> v.getMetadata().getName()));
        int to = request.getMaxEntries() == 0 ? all.size() : Math.min(all.size(), request.getMaxEntries());
        ListVolumesResponse.Builder b = ListVolumesResponse.newBuilder();
        for (MayastorVolume v : all.subList(0, to)) {
            b.addEntries(ListVolumesResponse.Entry.newBuilder().setVolume(volume(v, contextOf(v)))
                    .setStatus(ListVolumesResponse.VolumeStatus.newBuilder().addAllPublishedNodeIds(publishedTo(v))
                            .setVolumeCondition(condition(v))));
        }
        if (to < all.size()) {
            b.setNextToken(TOKEN + Base64.getUrlEncoder().withoutPadding()
                    .encodeToString(all.get(to - 1).getMetadata().getName().getBytes(StandardCharsets.UTF_8)));
        }
        reply(response, b.build());
    }

    private static final String TOKEN = "after.";

    /** The name a page token says to go on after. */
    static String afterToken(String token) {
        if (token.startsWith(TOKEN)) {
            try {
                String name = new String(Base64.getUrlDecoder().decode(token.substring(TOKEN.length())), StandardCharsets.UTF_8);
                if (!name.isEmpty()) {
                    return name;
                }
            } catch (IllegalArgumentException ignored) {
                // reported below
            }
        }
        throw MayastorException.aborted("starting_token '%s' is not one ListVolumes gave: list again from the start", token);
    }

    @Override
    public void controllerGetVolume(ControllerGetVolumeRequest request, StreamObserver<ControllerGetVolumeResponse> response) {
        require(request.getVolumeId(), "volume_id");
        MayastorVolume v = volumes.find(request.getVolumeId());
        reply(response, ControllerGetVolumeResponse.newBuilder().setVolume(volume(v, contextOf(v)))
                .setStatus(ControllerGetVolumeResponse.VolumeStatus.newBuilder().addAllPublishedNodeIds(publishedTo(v))
                        .setVolumeCondition(condition(v))).build());
    }

    /** Free bytes of the online pools (of the topology's node, when one is named); the largest pool's free space caps a volume. */
    @Override
    public void getCapacity(GetCapacityRequest request, StreamObserver<GetCapacityResponse> response) {
        Parameters params = Parameters.of(request.getParametersMap());
        // a segment confines a local volume's replicas to its node; any other volume is reached from every node
        String node = request.hasAccessibleTopology() && params.local() ? node(request.getAccessibleTopology()) : null;
        Map<String, Long> largestPerNode = new java.util.HashMap<>();
        long free = 0;
        for (io.mayastorj.control.internal.model.MayastorPool p : store.list(io.mayastorj.control.internal.model.MayastorPool.class)) {
            if (p.getStatus() == null || !"online".equals(p.getStatus().getState()) || p.getStatus().getCapacity() == null
                    || p.getSpec() == null || p.getSpec().getNode() == null) {
                continue;
            }
            if (node != null && !node.equals(p.getSpec().getNode())) {
                continue;
            }
            long f = Math.max(0, p.getStatus().getCapacity() - (p.getStatus().getUsed() == null ? 0 : p.getStatus().getUsed()));
            free += f;
            largestPerNode.merge(p.getSpec().getNode(), f, Math::max);
        }
        GetCapacityResponse answer = capacity(free, largestPerNode, node != null ? 1 : params.replicas());
        // a thin volume is placed on any pool with room left (Placement): no largest size to promise
        reply(response, params.thin() ? answer.toBuilder().clearMaximumVolumeSize().build() : answer);
    }

    /**
     * What volumes of {@code replicas} copies, one per node, can take: the free space over the copies
     * (each byte is kept that many times), and the largest volume — the {@code replicas}-th largest
     * free pool among distinct nodes (0 with fewer nodes), as placement needs.
     */
    static GetCapacityResponse capacity(long free, Map<String, Long> largestPerNode, int replicas) {
        List<Long> largest = largestPerNode.values().stream().sorted(Comparator.reverseOrder()).toList();
        long maximum = largest.size() < replicas ? 0 : largest.get(replicas - 1);
        return GetCapacityResponse.newBuilder().setAvailableCapacity(free / replicas)
                .setMaximumVolumeSize(com.google.protobuf.Int64Value.of(maximum)).build();
    }

    // ---- expansion ----

    @Override
    public void controllerExpandVolume(ControllerExpandVolumeRequest request, StreamObserver<ControllerExpandVolumeResponse> response) {
        require(request.getVolumeId(), "volume_id");
        if (!request.hasCapacityRange()) {
            throw MayastorException.invalidArgument("capacity_range is required");
        }
        if (request.getCapacityRange().getRequiredBytes() <= 0) {
            // size() would take the create's default (1 GiB) and grow a smaller volume to it
            throw MayastorException.invalidArgument("capacity_range.required_bytes is required: the size to grow to");
        }
        long wanted = size(request.getCapacityRange().getRequiredBytes(), request.getCapacityRange().getLimitBytes());
        long limit = request.getCapacityRange().getLimitBytes();
        MayastorVolume before = volumes.find(request.getVolumeId());
        // what it has (its status), not what its spec asks: a larger grow refused may still be asked there
        Long has = before.getStatus() != null && before.getStatus().getSize() != null ? before.getStatus().getSize()
                : before.getSpec().getRequiredBytes();
        if (limit > 0 && has != null && has > limit) {
            // a volume never shrinks (its file system may fill it): no size it can have is within the range
            throw MayastorException.outOfRange("volume %s is %d bytes, more than limit_bytes %d; a volume cannot shrink",
                    request.getVolumeId(), has, limit);
        }
        MayastorVolume grown;
        try {
            // also when the spec is that large already: an earlier call may have run out of time
            // before the volume grew, and OK now would send the kubelet to a device still small
            grown = volumes.grow(request.getVolumeId(), wanted);
        } catch (MayastorException e) {
            if (e.kind() == ErrorKind.RESOURCE_EXHAUSTED) {
                throw MayastorException.outOfRange("volume %s cannot grow to %d bytes: %s", request.getVolumeId(), wanted,
                        e.getMessage());
            }
            throw e;
        }
        long now = grown.servedBytes();
        LOG.log(Level.INFO, "CSI: volume {0} is {1} bytes", request.getVolumeId(), now);
        // a raw block volume too: neither target tells the host its size changed, and NodeExpandVolume is
        // the only call that has the host rescan (the kubelet makes it only when asked to here)
        reply(response, ControllerExpandVolumeResponse.newBuilder().setCapacityBytes(now).setNodeExpansionRequired(true)
                .build());
    }

    /** The node a topology segment names, by the driver's key or the one before it. */
    private static String node(Topology t) {
        String node = t.getSegmentsMap().get(TOPOLOGY_KEY);
        return node != null ? node : t.getSegmentsMap().get(OLD_TOPOLOGY_KEY);
    }
}
