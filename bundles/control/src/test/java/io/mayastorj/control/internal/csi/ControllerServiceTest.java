package io.mayastorj.control.internal.csi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.mayastorj.control.internal.csi.ControllerService.Parameters;
import io.mayastorj.core.error.ErrorKind;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.csi.v1.VolumeCapability;
import io.mayastorj.csi.v1.VolumeCapability.AccessMode;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The Controller's checks of what Kubernetes hands it: StorageClass parameters, sizes, names, capabilities. */
class ControllerServiceTest {

    private static MayastorException refused(Runnable r) {
        MayastorException e = assertThrows(MayastorException.class, r::run);
        assertEquals(ErrorKind.INVALID_ARGUMENT, e.kind(), e.getMessage());
        return e;
    }

    @Test
    void aStorageClassesParametersAreReadWithMayastorsDefaults() {
        Parameters none = Parameters.of(Map.of());
        assertEquals(new Parameters(1, "nvmf", false, false, null, ""), none);
        assertEquals(Map.of("protocol", "nvmf"), none.context());

        Map<String, String> sc = new LinkedHashMap<>();
        sc.put("repl", "3");
        sc.put("protocol", "iscsi");
        sc.put("thin", "true");
        sc.put("local", "false");
        sc.put("ioTimeout", "45");
        sc.put("fsType", "xfs");
        sc.put("csi.storage.k8s.io/fstype", "xfs"); // prefixed keys are the sidecars', passed through
        Parameters p = Parameters.of(sc);
        assertEquals(new Parameters(3, "iscsi", true, false, 45, "xfs"), p);
        assertEquals(Map.of("protocol", "iscsi", "ioTimeout", "45", "fsType", "xfs"), p.context());
    }

    /**
     * Review finding: ListVolumes hid every volume being deleted, also one still published (its
     * deletion waits for the unpublish): the attacher's reconcile took its attachment for gone and
     * published it again each period, refused as being deleted.
     */
    @Test
    void aVolumeBeingDeletedIsListedWhileItIsPublished() {
        io.mayastorj.control.internal.model.MayastorVolume v = new io.mayastorj.control.internal.model.MayastorVolume();
        v.setMetadata(new io.fabric8.kubernetes.api.model.ObjectMetaBuilder().withName("pvc-1").build());
        v.setSpec(new io.mayastorj.control.internal.model.MayastorVolume.Spec());
        assertEquals(true, ControllerService.listed(v));
        v.getMetadata().setDeletionTimestamp("2026-12-07T12:00:00Z");
        assertEquals(false, ControllerService.listed(v), "being deleted, published nowhere");
        v.getSpec().setTargetNode("node-1");
        assertEquals(true, ControllerService.listed(v), "being deleted, still published: its deletion waits");
    }

    /** Review finding: GetCapacity offered a three-replica volume the largest single pool (100 GiB where 50 fit). */
    @Test
    void theLargestVolumeOfACopiesIsTheRoomOfTheNthNode() {
        Map<String, Long> nodes = Map.of("a", 100L, "b", 50L, "c", 60L);
        assertEquals(100L, ControllerService.capacity(210, nodes, 1).getMaximumVolumeSize().getValue());
        assertEquals(50L, ControllerService.capacity(210, nodes, 3).getMaximumVolumeSize().getValue());
        assertEquals(70L, ControllerService.capacity(210, nodes, 3).getAvailableCapacity(), "each byte kept three times");
        assertEquals(0L, ControllerService.capacity(210, nodes, 4).getMaximumVolumeSize().getValue(), "three nodes for four copies");
    }

    @Test
    void aWrongParameterIsRefusedNamingIt() {
        assertEquals("parameter repl '0' is not a positive number", refused(() -> Parameters.of(Map.of("repl", "0"))).getMessage());
        assertEquals("parameter repl 'three' is not a positive number",
                refused(() -> Parameters.of(Map.of("repl", "three"))).getMessage());
        assertEquals("parameter protocol 'nbd': nvmf or iscsi", refused(() -> Parameters.of(Map.of("protocol", "nbd"))).getMessage());
        assertEquals("parameter thin 'yes': true or false", refused(() -> Parameters.of(Map.of("thin", "yes"))).getMessage());
        assertEquals("parameter fsType 'btrfs': ext4 or xfs", refused(() -> Parameters.of(Map.of("fsType", "btrfs"))).getMessage());
        assertEquals("parameter ioTimeout '-5' is not a positive number",
                refused(() -> Parameters.of(Map.of("ioTimeout", "-5"))).getMessage());
        assertEquals("unknown parameter 'replicas': fsType, ioTimeout, local, protocol, repl, thin",
                refused(() -> Parameters.of(Map.of("replicas", "3"))).getMessage());
    }

    /** Review finding: a StorageClass written for a later Mayastor (its NVMe tuning keys) failed every claim. */
    @Test
    void mayastorsLaterParametersAreTakenAndIgnored() {
        assertEquals(new Parameters(3, "nvmf", false, false, null, ""), Parameters.of(Map.of("repl", "3", "protocol", "nvmf",
                "nvmeCtrlLossTmo", "1980", "stsAffinityGroup", "true", "cloneFsIdAsVolumeId", "true")));
    }

    /** Review finding: Mayastor's placement constraints were taken and ignored: the replicas went anywhere. */
    @Test
    void mayastorsPlacementConstraintsAreRefused() {
        MayastorException e = refused(() -> Parameters.of(Map.of("repl", "3", "nodeSpreadTopologyKey", "topology.kubernetes.io/zone")));
        assertEquals(ErrorKind.INVALID_ARGUMENT, e.kind());
        assertEquals("parameter 'nodeSpreadTopologyKey' (Mayastor's placement by topology) is not supported by this driver: "
                + "its replicas would not be placed as it asks; remove it from the StorageClass", e.getMessage());
    }

    @Test
    void sizesAreWholeBlocksWithinTheRange() {
        assertEquals(1L << 30, ControllerService.size(0, 0), "Mayastor's default");
        assertEquals(64L << 20, ControllerService.size(0, 64L << 20), "the limit when it is under the default");
        assertEquals(4096, ControllerService.size(1000, 0), "rounded up to 4 KiB: pools on 4 KiB-sector disks take whole ones");
        assertEquals(1_000_001_536L, ControllerService.size(1_000_000_000L, 0), "a \"1G\" claim");
        assertEquals(1024, ControllerService.size(1000, 1024), "512-byte blocks where the limit leaves no room for 4 KiB");
        MayastorException over = assertThrows(MayastorException.class, () -> ControllerService.size(2000, 1000));
        assertEquals(ErrorKind.OUT_OF_RANGE, over.kind());
        assertEquals("required_bytes 2000 is more than limit_bytes 1000", over.getMessage());
        MayastorException rounded = assertThrows(MayastorException.class, () -> ControllerService.size(1000, 1010));
        assertEquals(ErrorKind.OUT_OF_RANGE, rounded.kind());
        assertEquals("1024 bytes, in whole 512-byte blocks, is more than limit_bytes 1010", rounded.getMessage());
        assertEquals("capacity_range may not be negative", refused(() -> ControllerService.size(-1, 0)).getMessage());
        // review findings: a size near 2^63 overflowed when rounded up (an expansion to it answered OK
        // without growing), and a limit alone was rounded up past itself
        MayastorException huge = assertThrows(MayastorException.class, () -> ControllerService.size(Long.MAX_VALUE - 100, 0));
        assertEquals(ErrorKind.OUT_OF_RANGE, huge.kind());
        assertEquals("required_bytes " + (Long.MAX_VALUE - 100) + " is beyond what a volume can be", huge.getMessage());
        assertEquals(512, ControllerService.size(0, 1000), "the whole blocks under a limit given alone");
        assertEquals(ErrorKind.OUT_OF_RANGE, assertThrows(MayastorException.class, () -> ControllerService.size(0, 100)).kind());
    }

    /** Review finding: an xfs volume under 300 MiB was made, and every NodeStage then failed in mkfs.xfs. */
    @Test
    void aVolumeIsAtLeastWhatItsFileSystemsMkfsMakes() {
        long mib = 1L << 20;
        assertEquals(300 * mib, ControllerService.atLeastFilesystemMinimum(40 * mib, 0, "xfs"));
        assertEquals(300 * mib, ControllerService.atLeastFilesystemMinimum(40 * mib, 300 * mib, "xfs"), "the limit allows it");
        assertEquals(40 * mib, ControllerService.atLeastFilesystemMinimum(40 * mib, 0, ""), "a block volume: as asked");
        assertEquals(mib, ControllerService.atLeastFilesystemMinimum(4096, 0, "ext4"));
        MayastorException e = assertThrows(MayastorException.class,
                () -> ControllerService.atLeastFilesystemMinimum(40 * mib, 200 * mib, "xfs"));
        assertEquals(ErrorKind.OUT_OF_RANGE, e.kind());
        VolumeCapability block = VolumeCapability.newBuilder()
                .setBlock(VolumeCapability.BlockVolume.getDefaultInstance()).build();
        VolumeCapability mount = VolumeCapability.newBuilder()
                .setMount(VolumeCapability.MountVolume.getDefaultInstance()).build();
        Parameters none = Parameters.of(Map.of());
        assertEquals("", ControllerService.filesystemOf(none, List.of(block)));
        assertEquals("ext4", ControllerService.filesystemOf(none, List.of(block, mount)), "the node's default");
        assertEquals("xfs", ControllerService.filesystemOf(Parameters.of(Map.of("fsType", "xfs")), List.of(mount)),
                "the class's comes first, as on the node");
        assertEquals("", ControllerService.filesystemOf(Parameters.of(Map.of("fsType", "xfs")), List.of(block)),
                "a block volume gets no file system, whatever the class says");
    }

    @Test
    void aVolumeIdIsTheNameWhenKubernetesWouldTakeItElseDerivedTheSameEveryTime() {
        assertEquals("pvc-3f1c6e2a-0000-4000-8000-000000000001", ControllerService.volumeId("pvc-3f1c6e2a-0000-4000-8000-000000000001"));
        String derived = ControllerService.volumeId("Sanity Volume/1");
        assertEquals(derived, ControllerService.volumeId("Sanity Volume/1"));
        assertEquals(40, derived.length());
        assertEquals("csi-", derived.substring(0, 4));
        String longName = "a".repeat(64); // one over an object name's 63
        assertEquals(40, ControllerService.volumeId(longName).length());
    }

    private static VolumeCapability capability(String fsType, AccessMode.Mode mode) {
        VolumeCapability.Builder b = VolumeCapability.newBuilder().setAccessMode(AccessMode.newBuilder().setMode(mode));
        if (fsType == null) {
            b.setBlock(VolumeCapability.BlockVolume.getDefaultInstance());
        } else {
            b.setMount(VolumeCapability.MountVolume.newBuilder().setFsType(fsType));
        }
        return b.build();
    }

    @Test
    void capabilitiesAreOneNodesBlockOrExt4OrXfs() {
        assertNull(ControllerService.unsupported(capability("ext4", AccessMode.Mode.SINGLE_NODE_WRITER)));
        assertNull(ControllerService.unsupported(capability("", AccessMode.Mode.SINGLE_NODE_READER_ONLY)));
        assertNull(ControllerService.unsupported(capability(null, AccessMode.Mode.SINGLE_NODE_SINGLE_WRITER)));
        assertEquals("fsType zfs is not supported: ext4 or xfs",
                ControllerService.unsupported(capability("zfs", AccessMode.Mode.SINGLE_NODE_WRITER)));
        assertEquals("access mode MULTI_NODE_MULTI_WRITER is not supported: a volume is attached to one node",
                ControllerService.unsupported(capability("ext4", AccessMode.Mode.MULTI_NODE_MULTI_WRITER)));
        assertEquals("a volume capability needs an access mode",
                ControllerService.unsupported(capability("ext4", AccessMode.Mode.UNKNOWN)));
        assertEquals("a volume capability needs an access type, block or mount", ControllerService.unsupported(
                VolumeCapability.newBuilder().setAccessMode(AccessMode.newBuilder().setMode(AccessMode.Mode.SINGLE_NODE_WRITER)).build()));
    }

    @Test
    void aPageTokenIsOursOrAborted() {
        assertEquals("pvc-b", ControllerService.afterToken("after.cHZjLWI"));
        for (String bad : new String[] {"invalid-token", "after.", "after.%%%", "pvc-b"}) {
            MayastorException e = assertThrows(MayastorException.class, () -> ControllerService.afterToken(bad));
            assertEquals(ErrorKind.ABORTED, e.kind());
            assertEquals("starting_token '" + bad + "' is not one ListVolumes gave: list again from the start", e.getMessage());
        }
    }
}
