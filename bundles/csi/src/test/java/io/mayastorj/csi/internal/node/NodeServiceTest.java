package io.mayastorj.csi.internal.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.stub.StreamObserver;
import io.mayastorj.core.error.ErrorKind;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.csi.v1.NodeExpandVolumeRequest;
import io.mayastorj.csi.v1.NodeGetVolumeStatsRequest;
import io.mayastorj.csi.v1.NodeGetVolumeStatsResponse;
import io.mayastorj.csi.v1.NodePublishVolumeRequest;
import io.mayastorj.csi.v1.NodeStageVolumeRequest;
import io.mayastorj.csi.v1.NodeUnpublishVolumeRequest;
import io.mayastorj.csi.v1.NodeUnstageVolumeRequest;
import io.mayastorj.csi.v1.VolumeCapability;
import io.mayastorj.csi.v1.VolumeUsage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiConsumer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Node service's logic against {@link FakeNode}: the commands it runs, in order, and the state
 * it leaves, for each step, each repeat and each way a step can fail. The same code attaches real
 * volumes in the QEMU guest (itests).
 */
class NodeServiceTest {

    private static final String NQN = "nqn.2019-05.io.openebs:3f1c6e2a-0000-4000-8000-000000000001";
    private static final String URI = "nvmf://10.0.2.2:8420/" + NQN + "?uuid=3f1c6e2a-0000-4000-8000-000000000001";
    private static final String HOST = "nqn.2019-05.io.openebs:node-name:app1";

    @TempDir
    Path dir;
    private FakeNode node;
    private NodeService service;
    private Path staging;
    private Path target;

    @BeforeEach
    void start() throws Exception {
        node = new FakeNode(dir.resolve("root"));
        service = new NodeService("app1", node, node.root, dir.resolve("state"), HOST, Duration.ofMillis(500), 30, () -> null, true);
        staging = dir.resolve("staging");
        target = dir.resolve("pods/target");
    }

    private static <Q, R> R call(BiConsumer<Q, StreamObserver<R>> method, Q request) {
        List<R> replies = new ArrayList<>();
        method.accept(request, new StreamObserver<>() {
            @Override
            public void onNext(R value) {
                replies.add(value);
            }

            @Override
            public void onError(Throwable t) {
                throw new AssertionError(t);
            }

            @Override
            public void onCompleted() {
            }
        });
        assertEquals(1, replies.size());
        return replies.get(0);
    }

    private static MayastorException refused(Runnable r) {
        return assertThrows(MayastorException.class, r::run);
    }

    private static VolumeCapability mount(String fs) {
        return VolumeCapability.newBuilder().setMount(VolumeCapability.MountVolume.newBuilder().setFsType(fs))
                .setAccessMode(VolumeCapability.AccessMode.newBuilder().setMode(VolumeCapability.AccessMode.Mode.SINGLE_NODE_WRITER))
                .build();
    }

    private static VolumeCapability block() {
        return VolumeCapability.newBuilder().setBlock(VolumeCapability.BlockVolume.getDefaultInstance())
                .setAccessMode(VolumeCapability.AccessMode.newBuilder().setMode(VolumeCapability.AccessMode.Mode.SINGLE_NODE_WRITER))
                .build();
    }

    private NodeStageVolumeRequest stage(String volume, String uri, VolumeCapability capability) {
        return NodeStageVolumeRequest.newBuilder().setVolumeId(volume).setStagingTargetPath(staging.toString())
                .putPublishContext("uri", uri).setVolumeCapability(capability).putVolumeContext("ioTimeout", "15").build();
    }

    private NodePublishVolumeRequest publish(String volume, VolumeCapability capability, boolean readOnly) {
        return NodePublishVolumeRequest.newBuilder().setVolumeId(volume).setStagingTargetPath(staging.toString())
                .setTargetPath(target.toString()).setVolumeCapability(capability).setReadonly(readOnly).build();
    }

    @Test
    void stageConnectsFormatsAndMountsThenRepeatsNothing() {
        call(service::nodeStageVolume, stage("v1", URI, mount("")));
        Path device = node.root.resolve("dev/nvme0n1");
        assertEquals(List.of(
                "nvme connect -t tcp -a 10.0.2.2 -s 8420 -n " + NQN + " --hostnqn " + HOST + " --ctrl-loss-tmo 120",
                "blkid -p -s TYPE -s PTTYPE -o export " + device,
                "blkid -p -s TYPE -s PTTYPE -o export " + device, // nothing found: looked at again before mkfs
                "mkfs.ext4 -q -F -E nodiscard " + device,
                "mount -t ext4 " + device + " " + staging), node.ran);
        node.ran.clear();
        call(service::nodeStageVolume, stage("v1", URI, mount("")));
        assertEquals(List.of(), node.ran, "staged already: nothing to do");

        call(service::nodeUnstageVolume, NodeUnstageVolumeRequest.newBuilder().setVolumeId("v1")
                .setStagingTargetPath(staging.toString()).build());
        assertEquals(List.of("umount " + staging, "nvme disconnect -n " + NQN), node.ran);
        node.ran.clear();
        call(service::nodeUnstageVolume, NodeUnstageVolumeRequest.newBuilder().setVolumeId("v1")
                .setStagingTargetPath(staging.toString()).build());
        assertEquals(List.of(), node.ran, "unstaged already");
    }

    @Test
    void aDeviceThatHoldsAFileSystemOrAPartitionTableIsNeverFormatted() {
        node.formatted(node.root.resolve("dev/nvme0n1"), "ext4");
        call(service::nodeStageVolume, stage("v1", URI, mount("ext4")));
        assertFalse(node.ran.stream().anyMatch(c -> c.startsWith("mkfs")), node.ran.toString());

        node.formatted(node.root.resolve("dev/nvme1n1"), "xfs");
        staging = dir.resolve("staging2");
        MayastorException e = refused(() -> call(service::nodeStageVolume, stage("v2",
                URI.replace("000000000001", "000000000002"), mount("ext4"))));
        assertEquals(ErrorKind.FAILED_PRECONDITION, e.kind());
        assertEquals("volume v2 holds a xfs file system, not ext4: it is not formatted again", e.getMessage());
        assertFalse(node.mountPoints().contains(staging.toString()));
        // the attachment it made is undone by NodeUnstage: nothing half-attached stays
        call(service::nodeUnstageVolume, NodeUnstageVolumeRequest.newBuilder().setVolumeId("v2")
                .setStagingTargetPath(staging.toString()).build());
        assertTrue(node.ran.contains("nvme disconnect -n " + NQN.replace("000000000001", "000000000002")), node.ran.toString());

        // a partition table and no file system is not a blank device (blkid -s TYPE alone says nothing for one)
        node.formatted(node.root.resolve("dev/nvme2n1"), "PTTYPE=dos");
        staging = dir.resolve("staging3");
        e = refused(() -> call(service::nodeStageVolume, stage("v3", URI.replace("000000000001", "000000000003"), mount("ext4"))));
        assertEquals(ErrorKind.FAILED_PRECONDITION, e.kind());
        assertEquals(node.root.resolve("dev/nvme2n1") + " holds a partition table (dos) and no file system: it is not formatted",
                e.getMessage());
        assertFalse(node.ran.stream().anyMatch(c -> c.startsWith("mkfs")), node.ran.toString());
    }

    @Test
    void aDeviceThatNeverAppearsIsADeadlineWithTheReasonAndIsDisconnected() {
        node.namespaceAppears = false;
        MayastorException e = refused(() -> call(service::nodeStageVolume, stage("v1", URI, mount(""))));
        assertEquals(ErrorKind.DEADLINE_EXCEEDED, e.kind());
        assertEquals("connected to " + URI + ", but no block device of subsystem " + NQN + " appeared in 0 s", e.getMessage());
        assertEquals("nvme disconnect -n " + NQN, node.ran.get(node.ran.size() - 1), "no half-attached device");
        node.ran.clear();
        call(service::nodeUnstageVolume, NodeUnstageVolumeRequest.newBuilder().setVolumeId("v1")
                .setStagingTargetPath(staging.toString()).build());
        assertEquals(List.of(), node.ran, "nothing left to undo");
    }

    @Test
    void aStepThatFailsUndoesTheAttachOfItsCall() {
        node.on("mkfs.ext4", c -> FakeNode.failed(c, 1, "mkfs.ext4: No space left on device"));
        MayastorException e = refused(() -> call(service::nodeStageVolume, stage("v1", URI, mount(""))));
        assertEquals(ErrorKind.INTERNAL, e.kind());
        assertTrue(e.getMessage().startsWith("cannot make ext4 on "), e.getMessage());
        assertEquals("nvme disconnect -n " + NQN, node.ran.get(node.ran.size() - 1), "no half-attached device");
        assertFalse(node.mountPoints().contains(staging.toString()));
    }

    /**
     * Review finding: a first stage whose mount failed although the kernel mounted (libmount's exit
     * 32 "mounted, but a later step failed") disconnected the device under that mount and dropped
     * the record: each retry found a mount and no record (ALREADY_EXISTS for good), and NodeUnstage
     * had nothing to undo. The failed call undoes it all, its own staging mount first; the kubelet's
     * retry stages afresh.
     */
    @Test
    void aFailedFirstStageUndoesTheMountTheKernelMadeBeforeItDisconnects() throws Exception {
        node.on("mount", c -> {
            node.forget("mount");
            String device = c.get(c.size() - 2);
            String point = c.get(c.size() - 1);
            try {
                node.mountedElsewhere(Files.readString(node.root.resolve("sys/class/block").resolve(Path.of(device).getFileName())
                        .resolve("dev")).strip(), Path.of(point), device);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            return FakeNode.failed(c, 32, "mount: " + point + ": filesystem was mounted, but any subsequent operation failed");
        });
        MayastorException e = refused(() -> call(service::nodeStageVolume, stage("v1", URI, mount(""))));
        assertEquals(ErrorKind.INTERNAL, e.kind(), e.getMessage());
        int unmount = node.ran.indexOf("umount " + staging);
        assertTrue(unmount >= 0 && unmount < node.ran.indexOf("nvme disconnect -n " + NQN),
                "unmounted, then disconnected: " + node.ran);
        assertFalse(node.mountPoints().contains(staging.toString()));
        call(service::nodeStageVolume, stage("v1", URI, mount("")));
        assertTrue(node.mountPoints().contains(staging.toString()), "the kubelet's retry stages it");
    }

    /**
     * blkid exits 2 also when it cannot read the device (a nexus failing I/O while its volume
     * moves): the stage is refused for a retry, and nothing formats a device that may hold data.
     */
    @Test
    void aDeviceBlkidCannotReadIsNeverFormatted() throws Exception {
        node.on("blkid", c -> FakeNode.failed(c, 2, "blkid: error: " + c.get(c.size() - 1) + ": Input/output error"));
        MayastorException e = refused(() -> call(service::nodeStageVolume, stage("v1", URI, mount(""))));
        assertEquals(ErrorKind.UNAVAILABLE, e.kind(), e.getMessage());
        assertTrue(e.getMessage().contains("Input/output error"), e.getMessage());
        assertFalse(node.ran.stream().anyMatch(c -> c.startsWith("mkfs")), "no mkfs: " + node.ran);
        assertFalse(node.mountPoints().contains(staging.toString()));
    }

    /**
     * Review finding: the publish context's URI is written once, at ControllerPublish. After a
     * switch-over a volume staged again (a node reboot, a pod back on this node) was connected to
     * the dead address, the failed stage left no record for the follower, and the pod waited for
     * good. A stage asks the control plane where the volume is served now: the same NQN at another
     * address is staged from there; another NQN is not taken.
     */
    @Test
    void aStageConnectsWhereTheVolumeIsServedNowNotWhereItsPublishContextSays() throws Exception {
        String moved = URI.replace("10.0.2.2:8420", "10.0.2.3:8420");
        service.servedBy(v -> v.equals("v1") ? java.util.Optional.of(moved) : java.util.Optional.of("nvmf://10.0.2.9:8420/nqn.other"));
        call(service::nodeStageVolume, stage("v1", URI, mount("")));
        assertEquals("nvme connect -t tcp -a 10.0.2.3 -s 8420 -n " + NQN + " --hostnqn " + HOST + " --ctrl-loss-tmo 120",
                node.ran.get(0));
        node.ran.clear();
        staging = dir.resolve("staging2");
        String second = URI.replace("000000000001", "000000000002");
        call(service::nodeStageVolume, stage("v2", second, mount("")));
        assertTrue(node.ran.get(0).startsWith("nvme connect -t tcp -a 10.0.2.2 -s 8420 -n " + NQN.replace("000000000001",
                "000000000002")), "another volume's address is not taken: " + node.ran);

        // the same NQN with another namespace (its uuid) is not where the URI points: not taken
        String fourth = URI.replace("000000000001", "000000000004");
        service.servedBy(v -> java.util.Optional.of(fourth.replace("10.0.2.2", "10.0.2.3").replaceFirst("uuid=.*$",
                "uuid=00000000-0000-4000-8000-0000000000ff")));
        staging = dir.resolve("staging4");
        node.ran.clear();
        call(service::nodeStageVolume, stage("v4", fourth, mount("")));
        assertTrue(node.ran.get(0).startsWith("nvme connect -t tcp -a 10.0.2.2 "), node.ran.toString());

        // review finding: a volume attached already (its old path still there) is staged as it is — recorded as served
        // at the new address, no path there was made, and the follower, finding the record current, never made one
        String third = URI.replace("000000000001", "000000000003");
        String thirdMoved = third.replace("10.0.2.2:8420", "10.0.2.3:8420");
        service.servedBy(v -> java.util.Optional.empty());
        staging = dir.resolve("staging3");
        call(service::nodeStageVolume, stage("v3", third, mount("")));
        service.servedBy(v -> java.util.Optional.of(thirdMoved));
        node.ran.clear();
        call(service::nodeStageVolume, stage("v3", third, mount("")));
        assertFalse(node.ran.stream().anyMatch(c -> c.startsWith("nvme connect")), node.ran.toString());
        Files.writeString(node.root.resolve("sys/class/nvme/nvme3/state"), "connecting\n");
        // review finding: a volume whose nexus was made again and is not shared yet is served as bdev:///UUID; its
        // URI, parsed outside the per-volume try, ended the pass for every other volume
        assertEquals(1, service.followMoves(v -> java.util.Optional.of(v.equals("v3") ? thirdMoved
                : "bdev:///00000000-0000-4000-8000-000000000001")), "the follower adds the path");
        assertTrue(node.ran.stream().anyMatch(c -> c.startsWith("nvme connect -t tcp -a 10.0.2.3")), node.ran.toString());
    }

    /**
     * Review finding: a stage again whose publish context names another target (or namespace) rewrote the
     * record before anything was checked, attached that target, failed on the staging mount of the old
     * device, and its undo disconnected the new target and dropped the record: the volume's mounts and
     * old connection were left with no record, and its pod could never be unpublished. Refused first.
     */
    @Test
    void aStageAgainFromAnotherTargetIsRefusedAndTouchesNothing() {
        call(service::nodeStageVolume, stage("v1", URI, mount("")));
        call(service::nodePublishVolume, publish("v1", mount(""), false));
        node.ran.clear();
        for (String other : List.of(URI.replace("000000000001", "000000000009"),
                URI.replaceFirst("uuid=.*$", "uuid=00000000-0000-4000-8000-0000000000ff"))) {
            MayastorException e = refused(() -> call(service::nodeStageVolume, stage("v1", other, mount(""))));
            assertEquals(io.mayastorj.core.error.ErrorKind.ALREADY_EXISTS, e.kind());
            assertEquals("volume v1 is staged from " + URI + " already, not from " + other, e.getMessage());
        }
        assertEquals(List.of(), node.ran, "nothing attached, nothing undone");
        call(service::nodeUnpublishVolume, NodeUnpublishVolumeRequest.newBuilder().setVolumeId("v1")
                .setTargetPath(target.toString()).build());
        call(service::nodeUnstageVolume, NodeUnstageVolumeRequest.newBuilder().setVolumeId("v1")
                .setStagingTargetPath(staging.toString()).build());
        assertEquals("nvme disconnect -n " + NQN, node.ran.get(node.ran.size() - 1), "its own target let go");
    }

    /**
     * Review finding: blkid exits 2, and says nothing, also when a read fails part-way through its
     * probing (libblkid gives up and reports nothing found), and the device's first MiB then read
     * back from the page cache: a file system was formatted over. A silent 2 is looked at again, once
     * the device reads at both ends; here the second look finds the ext4 the first one missed.
     */
    @Test
    void aSilentBlkidThatMissedAFileSystemIsLookedAtAgainBeforeAnyMkfs() {
        Path device = node.root.resolve("dev/nvme0n1");
        node.formatted(device, "ext4");
        java.util.concurrent.atomic.AtomicInteger looks = new java.util.concurrent.atomic.AtomicInteger();
        node.on("blkid", c -> looks.getAndIncrement() == 0 ? FakeNode.failed(c, 2, "") // a read failed: "nothing found"
                : FakeNode.ok(c, "DEVNAME=" + device + "\nTYPE=ext4\n"));
        call(service::nodeStageVolume, stage("v1", URI, mount("ext4")));
        assertEquals(2, looks.get(), "blkid asked twice");
        assertFalse(node.ran.stream().anyMatch(c -> c.startsWith("mkfs")), "no mkfs: " + node.ran);
        assertTrue(node.mountPoints().contains(staging.toString()), "mounted as the ext4 it holds");
    }

    /** A staging mount gone (unmounted from outside): publish refuses rather than bind the bare directory. */
    @Test
    void aPublishWithoutTheStagingMountIsRefused() {
        call(service::nodeStageVolume, stage("v1", URI, mount("")));
        assertTrue(node.run(Duration.ofSeconds(5), "umount", staging.toString()).ok());
        node.ran.clear();
        MayastorException e = refused(() -> call(service::nodePublishVolume, publish("v1", mount(""), false)));
        assertEquals(ErrorKind.FAILED_PRECONDITION, e.kind(), e.getMessage());
        assertFalse(node.ran.stream().anyMatch(c -> c.startsWith("mount")), "nothing bound: " + node.ran);
        assertFalse(node.mountPoints().contains(target.toString()));
    }

    /** Unstage while a pod still has the volume: refused, nothing unmounted or disconnected. */
    @Test
    void anUnstageWhileStillPublishedIsRefused() {
        call(service::nodeStageVolume, stage("v1", URI, mount("")));
        call(service::nodePublishVolume, publish("v1", mount(""), false));
        node.ran.clear();
        MayastorException e = refused(() -> call(service::nodeUnstageVolume, NodeUnstageVolumeRequest.newBuilder()
                .setVolumeId("v1").setStagingTargetPath(staging.toString()).build()));
        assertEquals(ErrorKind.FAILED_PRECONDITION, e.kind(), e.getMessage());
        assertTrue(e.getMessage().contains(target.toString()), e.getMessage());
        assertEquals(List.of(), node.ran, "nothing unmounted or disconnected");
        call(service::nodeUnpublishVolume, io.mayastorj.csi.v1.NodeUnpublishVolumeRequest.newBuilder().setVolumeId("v1")
                .setTargetPath(target.toString()).build());
        call(service::nodeUnstageVolume, NodeUnstageVolumeRequest.newBuilder().setVolumeId("v1")
                .setStagingTargetPath(staging.toString()).build());
        assertTrue(node.ran.contains("nvme disconnect -n " + NQN), node.ran.toString());
    }

    /**
     * Review finding: an unstage with no record of the volume (the state directory moved or wiped)
     * answered OK over a file system still mounted at the staging path; the kubelet then let the volume
     * go and the nexus went from under that mount with its dirty pages. Refused, the mount left alone
     * (nothing says it is this volume's), as an unpublish without a record does.
     */
    @Test
    void anUnstageWithoutARecordOverAMountIsRefusedAndTouchesNothing() {
        call(service::nodeStageVolume, stage("v1", URI, mount("")));
        service = new NodeService("app1", node, node.root, dir.resolve("other-state"), HOST, Duration.ofMillis(500), 30, () -> null, true);
        node.ran.clear();
        MayastorException e = refused(() -> call(service::nodeUnstageVolume, NodeUnstageVolumeRequest.newBuilder()
                .setVolumeId("v1").setStagingTargetPath(staging.toString()).build()));
        assertEquals(ErrorKind.FAILED_PRECONDITION, e.kind(), e.getMessage());
        assertTrue(e.getMessage().contains("this node has no record of staging the volume there"), e.getMessage());
        assertTrue(node.mountPoints().contains(staging.toString()));
        assertEquals(List.of(), node.ran, "nothing unmounted or disconnected");
    }

    /**
     * Review finding: an unstage unmounted only the staging path's mounts of the volume's own device and
     * then disconnected it, also from under another device mounted there, which may read through it (a
     * loop mount, now refused at the stage). It refuses before the disconnect.
     */
    @Test
    void anUnstageLeavesTheDeviceConnectedUnderAnotherMountAtTheStagingPath() {
        call(service::nodeStageVolume, stage("v1", URI, mount("")));
        node.run(Duration.ofSeconds(1), List.of("umount", staging.toString())); // mounted as "-o loop" makes it
        node.mountedElsewhere("7:0", staging, "/dev/loop0");
        node.ran.clear();
        MayastorException e = refused(() -> call(service::nodeUnstageVolume, NodeUnstageVolumeRequest.newBuilder()
                .setVolumeId("v1").setStagingTargetPath(staging.toString()).build()));
        assertEquals(ErrorKind.FAILED_PRECONDITION, e.kind(), e.getMessage());
        assertEquals("volume v1: /dev/loop0 is still mounted at " + staging + ": it is not disconnected", e.getMessage());
        assertFalse(node.ran.stream().anyMatch(c -> c.startsWith("nvme disconnect")), node.ran.toString());
    }

    /** What a process killed in the middle of a step leaves: nothing after the step ran. */
    private static final class Killed extends Error {
    }

    @Test
    void aCrashBetweenStepsIsRepairedByTheNextCall() {
        node.on("mkfs.ext4", c -> {
            throw new Killed();
        });
        assertThrows(Killed.class, () -> call(service::nodeStageVolume, stage("v1", URI, mount(""))));
        // the restarted plugin: a new service over the same state directory and the same kernel
        service = new NodeService("app1", node, node.root, dir.resolve("state"), HOST, Duration.ofMillis(500), 30, () -> null, true);
        node.on("mkfs.ext4", c -> {
            node.formatted(Path.of(c.get(c.size() - 1)), "ext4");
            return FakeNode.ok(c, "");
        });
        node.ran.clear();
        call(service::nodeStageVolume, stage("v1", URI, mount("")));
        assertFalse(node.ran.stream().anyMatch(c -> c.startsWith("nvme connect")), "connected already: " + node.ran);
        assertTrue(node.ran.stream().anyMatch(c -> c.startsWith("mkfs.ext4")), "the interrupted step is done: " + node.ran);
        assertTrue(node.mountPoints().contains(staging.toString()));
    }

    /**
     * Review finding: a stage cut short (the plugin killed) whose retry then failed for good left the
     * volume attached and recorded for ever — kubelet takes the final error for "not staged" and never
     * calls NodeUnstage. The retry that fails undoes the attach, as a first call does.
     */
    @Test
    void aRetriedStageThatFailsUndoesTheAttachOfTheCallCutShort() {
        node.on("mkfs.ext4", c -> {
            throw new Killed();
        });
        assertThrows(Killed.class, () -> call(service::nodeStageVolume, stage("v1", URI, mount(""))));
        service = new NodeService("app1", node, node.root, dir.resolve("state"), HOST, Duration.ofMillis(500), 30, () -> null, true);
        node.on("mkfs.ext4", c -> FakeNode.failed(c, 1, "mkfs.ext4: No space left on device"));
        node.ran.clear();
        MayastorException e = refused(() -> call(service::nodeStageVolume, stage("v1", URI, mount(""))));
        assertEquals(ErrorKind.INTERNAL, e.kind(), e.getMessage());
        assertEquals("nvme disconnect -n " + NQN, node.ran.get(node.ran.size() - 1), "no half-attached device: " + node.ran);
        node.ran.clear();
        call(service::nodeUnstageVolume, NodeUnstageVolumeRequest.newBuilder().setVolumeId("v1")
                .setStagingTargetPath(staging.toString()).build());
        assertEquals(List.of(), node.ran, "nothing recorded any more: nothing to undo");
    }

    /** A read-only publish killed between its bind and the read-only remount is finished by the retry. */
    @Test
    void aReadOnlyPublishCutShortIsFinishedByTheRetry() {
        call(service::nodeStageVolume, stage("v1", URI, mount("")));
        node.on("mount -o", c -> {
            throw new Killed(); // the remount: the bind before it is done
        });
        assertThrows(Killed.class, () -> call(service::nodePublishVolume, publish("v1", mount(""), true)));
        node.on("mount -o", null);
        call(service::nodePublishVolume, publish("v1", mount(""), true));
        assertTrue(node.ran.stream().filter(c -> c.contains("remount,bind,ro")).count() >= 2, node.ran.toString());
        MayastorException e = refused(() -> call(service::nodePublishVolume, publish("v1", mount(""), false)));
        assertEquals(ErrorKind.ALREADY_EXISTS, e.kind(), "read-only now: " + e.getMessage());
    }

    @Test
    void badRequestsAreRefusedWithTheirReason() throws Exception {
        assertEquals("volume_id is required", refused(() -> call(service::nodeStageVolume,
                NodeStageVolumeRequest.newBuilder().setStagingTargetPath("/x").setVolumeCapability(mount("")).build())).getMessage());
        assertEquals("volume_capability is required", refused(() -> call(service::nodeStageVolume,
                NodeStageVolumeRequest.newBuilder().setVolumeId("v1").setStagingTargetPath("/x").build())).getMessage());
        MayastorException fs = refused(() -> call(service::nodeStageVolume, stage("v1", URI, mount("ntfs"))));
        assertEquals(ErrorKind.INVALID_ARGUMENT, fs.kind());
        assertEquals("fsType 'ntfs' is not supported: ext4, xfs", fs.getMessage());
        assertEquals("the publish context has no uri: the volume was not published by our controller",
                refused(() -> call(service::nodeStageVolume, NodeStageVolumeRequest.newBuilder().setVolumeId("v1")
                        .setStagingTargetPath("/x").setVolumeCapability(mount("")).putPublishContext("device", "/dev/mock")
                        .build())).getMessage());
        Files.writeString(staging, "a file, not a directory");
        MayastorException notDir = refused(() -> call(service::nodeStageVolume, stage("v1", URI, mount(""))));
        assertEquals(ErrorKind.FAILED_PRECONDITION, notDir.kind());
        assertEquals("staging path " + staging + " is not a directory", notDir.getMessage());
        assertEquals(List.of(), node.ran, "nothing was run for a request refused");
    }

    /** Review finding: mount flags were checked whole, so "rw,remount" (two to mount) passed. */
    @Test
    void aForbiddenMountFlagInsideAListIsRefused() {
        VolumeCapability remount = mount("ext4").toBuilder().setMount(VolumeCapability.MountVolume.newBuilder().setFsType("ext4")
                .addMountFlags("noatime").addMountFlags("rw,remount")).build();
        MayastorException e = refused(() -> call(service::nodeStageVolume, stage("v1", URI, remount)));
        assertEquals("mount flag 'remount' is not allowed", e.getMessage());
        VolumeCapability loop = mount("ext4").toBuilder().setMount(VolumeCapability.MountVolume.newBuilder().setFsType("ext4")
                .addMountFlags("loop")).build();
        node.ran.clear();
        assertEquals("mount flag 'loop' is not allowed", refused(() -> call(service::nodeStageVolume, stage("v2", URI, loop))).getMessage());
        VolumeCapability offset = mount("ext4").toBuilder().setMount(VolumeCapability.MountVolume.newBuilder().setFsType("ext4")
                .addMountFlags("noatime,offset=4096")).build();
        assertEquals("mount flag 'offset=4096' is not allowed",
                refused(() -> call(service::nodeStageVolume, stage("v3", URI, offset))).getMessage());
        assertEquals(List.of(), node.ran, "refused before anything was connected or made");
        assertTrue(node.ran.stream().noneMatch(c -> c.startsWith("mount ")), node.ran.toString());
    }

    @Test
    void aMountPointInUseByAnotherVolumeIsLeftAlone() throws Exception {
        Files.createDirectories(staging);
        node.mountedElsewhere("253:7", staging, "/dev/other");
        MayastorException e = refused(() -> call(service::nodeStageVolume, stage("v1", URI, mount(""))));
        assertEquals(ErrorKind.ALREADY_EXISTS, e.kind());
        assertEquals("staging path " + staging + " is in use: /dev/other is mounted there", e.getMessage());
        assertEquals(List.of(), node.ran);

        staging = dir.resolve("staging-ok");
        call(service::nodeStageVolume, stage("v1", URI, mount("")));
        Files.createDirectories(target);
        node.mountedElsewhere("253:8", target, "/dev/another");
        MayastorException p = refused(() -> call(service::nodePublishVolume, publish("v1", mount(""), false)));
        assertEquals(ErrorKind.ALREADY_EXISTS, p.kind());
        assertEquals("target path " + target + " is in use: /dev/another is mounted there", p.getMessage());
        MayastorException u = refused(() -> call(service::nodeUnpublishVolume, NodeUnpublishVolumeRequest.newBuilder()
                .setVolumeId("v1").setTargetPath(target.toString()).build()));
        assertEquals(ErrorKind.FAILED_PRECONDITION, u.kind());
        assertTrue(node.mountPoints().contains(target.toString()), "another volume's mount stays");
    }

    @Test
    void publishBindsReadOnlyWhenAskedAndUnpublishRemovesTheTarget() {
        call(service::nodeStageVolume, stage("v1", URI, mount("")));
        node.ran.clear();
        call(service::nodePublishVolume, publish("v1", mount(""), true));
        assertEquals(List.of("mount --bind " + staging + " " + target, "mount -o remount,bind,ro " + target), node.ran);
        node.ran.clear();
        call(service::nodePublishVolume, publish("v1", mount(""), true));
        assertEquals(List.of(), node.ran, "published already");
        MayastorException rw = refused(() -> call(service::nodePublishVolume, publish("v1", mount(""), false)));
        assertEquals(ErrorKind.ALREADY_EXISTS, rw.kind());

        call(service::nodeUnpublishVolume, NodeUnpublishVolumeRequest.newBuilder().setVolumeId("v1")
                .setTargetPath(target.toString()).build());
        assertFalse(Files.exists(target), "the target path the driver made is removed");
        call(service::nodeUnpublishVolume, NodeUnpublishVolumeRequest.newBuilder().setVolumeId("v1")
                .setTargetPath(target.toString()).build());
        MayastorException notStaged = refused(() -> call(service::nodePublishVolume, publish("v9", mount(""), false)));
        assertEquals(ErrorKind.FAILED_PRECONDITION, notStaged.kind());
        assertEquals("volume v9 is not staged on node app1", notStaged.getMessage());
    }

    @Test
    void aBlockVolumeIsABindOfItsDeviceFile() {
        call(service::nodeStageVolume, stage("v1", URI, block()));
        assertFalse(node.ran.stream().anyMatch(c -> c.startsWith("mkfs") || c.startsWith("blkid")), node.ran.toString());
        call(service::nodePublishVolume, publish("v1", block(), false));
        assertTrue(Files.isRegularFile(target));
        assertTrue(node.ran.contains("mount --bind " + node.root.resolve("dev/nvme0n1") + " " + target), node.ran.toString());
        NodeGetVolumeStatsResponse stats = call(service::nodeGetVolumeStats, NodeGetVolumeStatsRequest.newBuilder()
                .setVolumeId("v1").setVolumePath(target.toString()).build());
        assertEquals(List.of(VolumeUsage.newBuilder().setUnit(VolumeUsage.Unit.BYTES).setTotal(64L << 20).build()),
                stats.getUsageList());
        assertFalse(stats.getVolumeCondition().getAbnormal());
    }

    @Test
    void statsAreTheFileSystemsAndSayWhenTheConnectionIsGone() throws Exception {
        call(service::nodeStageVolume, stage("v1", URI, mount("")));
        call(service::nodePublishVolume, publish("v1", mount(""), false));
        NodeGetVolumeStatsResponse stats = call(service::nodeGetVolumeStats, NodeGetVolumeStatsRequest.newBuilder()
                .setVolumeId("v1").setVolumePath(target.toString()).build());
        assertEquals(VolumeUsage.newBuilder().setUnit(VolumeUsage.Unit.BYTES).setTotal(16384L * 4096)
                .setUsed(4096L * 4096).setAvailable(11264L * 4096).build(), stats.getUsage(0));
        assertEquals(VolumeUsage.newBuilder().setUnit(VolumeUsage.Unit.INODES).setTotal(4096).setUsed(96).setAvailable(4000)
                .build(), stats.getUsage(1));
        assertFalse(stats.getVolumeCondition().getAbnormal());

        Files.writeString(node.root.resolve("sys/class/nvme/nvme0/state"), "connecting\n");
        stats = call(service::nodeGetVolumeStats, NodeGetVolumeStatsRequest.newBuilder()
                .setVolumeId("v1").setVolumePath(target.toString()).build());
        assertTrue(stats.getVolumeCondition().getAbnormal());
        assertEquals("no usable path to " + NQN + ": [10.0.2.2:8420 connecting optimized]", stats.getVolumeCondition().getMessage());

        assertEquals(ErrorKind.NOT_FOUND, refused(() -> call(service::nodeGetVolumeStats, NodeGetVolumeStatsRequest.newBuilder()
                .setVolumeId("v1").setVolumePath("some/path").build())).kind());
        assertEquals(ErrorKind.NOT_FOUND, refused(() -> call(service::nodeGetVolumeStats, NodeGetVolumeStatsRequest.newBuilder()
                .setVolumeId("nope").setVolumePath(target.toString()).build())).kind());
    }

    /** The controller-loss timeout ran out: the kernel removes the controller, its subsystem and its disk (the mounts stay). */
    private void kernelRemovesTheDevice() throws java.io.IOException {
        FakeNode.delete(node.root.resolve("sys/class/nvme/nvme0"));
        FakeNode.delete(node.root.resolve("sys/class/nvme-subsystem/nvme-subsys0"));
        FakeNode.delete(node.root.resolve("sys/class/block/nvme0n1"));
        Files.delete(node.root.resolve("dev/nvme0n1"));
    }

    /**
     * The nexus's node is gone for good: once the controller-loss timeout runs out the kernel removes
     * the controller and its disk, and the mounts stay behind. The volume is reported abnormal, and
     * NodeUnpublish and NodeUnstage still unmount what they mounted (they once refused the pod's
     * bind as not theirs, and left the staging mount, so the pod never finished terminating).
     */
    @Test
    void aVolumeWhoseDeviceTheKernelRemovedIsStillUnpublishedAndUnstaged() throws Exception {
        call(service::nodeStageVolume, stage("v1", URI, mount("")));
        call(service::nodePublishVolume, publish("v1", mount(""), false));
        kernelRemovesTheDevice();
        // review finding: a second pod's publish bound the dead file system (it got EIO); refused now
        Path first = target;
        target = dir.resolve("pods/second");
        MayastorException dead = refused(() -> call(service::nodePublishVolume, publish("v1", mount(""), false)));
        assertEquals(ErrorKind.FAILED_PRECONDITION, dead.kind());
        assertEquals("volume v1: its device " + node.root.resolve("dev/nvme0n1") + " is gone (its controller was lost): "
                + "unpublish it and stage it again", dead.getMessage());
        assertFalse(node.mountPoints().contains(target.toString()));
        target = first;
        NodeGetVolumeStatsResponse stats = call(service::nodeGetVolumeStats, NodeGetVolumeStatsRequest.newBuilder()
                .setVolumeId("v1").setVolumePath(target.toString()).build());
        assertTrue(stats.getVolumeCondition().getAbnormal());
        assertEquals("not connected to " + NQN, stats.getVolumeCondition().getMessage());
        node.ran.clear();
        call(service::nodeUnpublishVolume, NodeUnpublishVolumeRequest.newBuilder().setVolumeId("v1")
                .setTargetPath(target.toString()).build());
        call(service::nodeUnstageVolume, NodeUnstageVolumeRequest.newBuilder().setVolumeId("v1")
                .setStagingTargetPath(staging.toString()).build());
        assertEquals(List.of("umount " + target, "umount " + staging), node.ran, "no controller is left to disconnect");
        assertFalse(node.mountPoints().contains(target.toString()));
        assertFalse(node.mountPoints().contains(staging.toString()));
    }

    /**
     * Review finding: a second call on a volume while one was in progress waited for it, for as
     * long as it took; it is ABORTED now (CSI: operation pending for volume), and kubelet tries again.
     */
    @Test
    void aCallOnAVolumeWithAnotherInProgressIsAborted() throws Exception {
        java.util.concurrent.CountDownLatch probing = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        node.on("blkid", c -> {
            probing.countDown();
            try {
                release.await(); // a slow device
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return FakeNode.failed(c, 2, ""); // blank
        });
        java.util.concurrent.ExecutorService other = java.util.concurrent.Executors.newSingleThreadExecutor();
        try {
            var first = other.submit(() -> call(service::nodeStageVolume, stage("v1", URI, mount(""))));
            assertTrue(probing.await(10, java.util.concurrent.TimeUnit.SECONDS));
            MayastorException e = refused(() -> call(service::nodeStageVolume, stage("v1", URI, mount(""))));
            assertEquals(ErrorKind.ABORTED, e.kind(), e.getMessage());
            assertEquals("an operation on volume v1 is in progress; try again", e.getMessage());
            release.countDown();
            first.get(10, java.util.concurrent.TimeUnit.SECONDS);
            call(service::nodeStageVolume, stage("v1", URI, mount(""))); // the retry: staged already
        } finally {
            release.countDown();
            other.shutdownNow();
        }
    }

    /**
     * Review finding: a raw block volume whose device the kernel removed could not be unpublished —
     * mountinfo then shows the bind's root as "/nvme0n1//deleted", which was not taken for the
     * volume's — and its pod never finished terminating.
     */
    @Test
    void aRawBlockVolumeWhoseDeviceTheKernelRemovedIsStillUnpublished() throws Exception {
        call(service::nodeStageVolume, stage("v1", URI, block()));
        call(service::nodePublishVolume, publish("v1", block(), false));
        kernelRemovesTheDevice();
        node.deviceNodeRemoved("nvme0n1");
        MayastorException again = refused(() -> call(service::nodeStageVolume, stage("v1", URI, block())));
        assertEquals(ErrorKind.FAILED_PRECONDITION, again.kind(), "a pod still has the dead device: " + again.getMessage());
        assertEquals(ErrorKind.FAILED_PRECONDITION,
                refused(() -> call(service::nodePublishVolume, publish("v1", block(), false))).kind(), "not published over a dead bind");
        call(service::nodeUnpublishVolume, NodeUnpublishVolumeRequest.newBuilder().setVolumeId("v1")
                .setTargetPath(target.toString()).build());
        assertFalse(node.mountPoints().contains(target.toString()));
        call(service::nodeUnstageVolume, NodeUnstageVolumeRequest.newBuilder().setVolumeId("v1")
                .setStagingTargetPath(staging.toString()).build());
    }

    /**
     * Review finding: a raw block volume was known by its device's name, which the kernel gives the
     * next disk once it removed the volume's: a second publish bound that other volume's disk into
     * this volume's pod, and an unstage took that other volume's pod bind for its own and refused.
     * The name counts only while the volume's own controller has it.
     */
    @Test
    void aRawBlockVolumeWhoseDeviceNameWentToAnotherDiskDoesNotTakeThatDisk() throws Exception {
        call(service::nodeStageVolume, stage("v1", URI, block()));
        call(service::nodePublishVolume, publish("v1", block(), false));
        kernelRemovesTheDevice();
        node.deviceNodeRemoved("nvme0n1");
        Files.createFile(node.root.resolve("dev/nvme0n1")); // another volume's disk, given the free name
        Path otherPod = dir.resolve("pods/other");
        Files.createDirectories(otherPod.getParent());
        Files.createFile(otherPod);
        node.run(Duration.ofSeconds(1), "mount", "--bind", node.root.resolve("dev/nvme0n1").toString(), otherPod.toString());
        node.ran.clear();
        Path second = dir.resolve("pods/second");
        MayastorException e = refused(() -> call(service::nodePublishVolume, NodePublishVolumeRequest.newBuilder().setVolumeId("v1")
                .setStagingTargetPath(staging.toString()).setTargetPath(second.toString()).setVolumeCapability(block()).build()));
        assertEquals(ErrorKind.FAILED_PRECONDITION, e.kind(), e.getMessage());
        assertTrue(node.ran.stream().noneMatch(c -> c.startsWith("mount")), "nothing bound: " + node.ran);
        call(service::nodeUnpublishVolume, NodeUnpublishVolumeRequest.newBuilder().setVolumeId("v1")
                .setTargetPath(target.toString()).build());
        call(service::nodeUnstageVolume, NodeUnstageVolumeRequest.newBuilder().setVolumeId("v1")
                .setStagingTargetPath(staging.toString()).build());
        assertTrue(node.mountPoints().contains(otherPod.toString()), "the other volume's pod keeps its disk");
    }

    /**
     * Review finding: after a reboot a volume's record (on the host's disk) names the device it had;
     * another volume attached first took that name, and its mounts (major:minor of the name now)
     * were taken for the first volume's — whose NodeUnstage (its pod was deleted while the node was
     * down) was refused as still published until the other volume went. A recorded device counts
     * only while the volume's own controller holds it.
     */
    @Test
    void afterARebootAnotherVolumesMountsOnTheRecordedNameAreNotThisOnes() throws Exception {
        call(service::nodeStageVolume, stage("v1", URI, mount("ext4")));
        call(service::nodePublishVolume, publish("v1", mount("ext4"), false));
        node.reboot();
        String otherNqn = "nqn.2019-05.io.openebs:3f1c6e2a-0000-4000-8000-000000000002";
        Path otherStaging = dir.resolve("other-staging");
        call(service::nodeStageVolume, NodeStageVolumeRequest.newBuilder().setVolumeId("v2")
                .setStagingTargetPath(otherStaging.toString())
                .putPublishContext("uri", "nvmf://10.0.2.2:8420/" + otherNqn + "?uuid=3f1c6e2a-0000-4000-8000-000000000002")
                .setVolumeCapability(mount("ext4")).putVolumeContext("ioTimeout", "15").build());
        assertTrue(node.mountPoints().contains(otherStaging.toString()));
        call(service::nodeUnpublishVolume, NodeUnpublishVolumeRequest.newBuilder().setVolumeId("v1")
                .setTargetPath(target.toString()).build());
        call(service::nodeUnstageVolume, NodeUnstageVolumeRequest.newBuilder().setVolumeId("v1")
                .setStagingTargetPath(staging.toString()).build());
        assertTrue(node.mountPoints().contains(otherStaging.toString()), "the other volume stays mounted");
    }

    /**
     * Review finding: a record left by a stage the kubelet never undid (a reboot: nothing of the volume
     * mounted or attached any more) refused every stage of the volume at another staging path (a moved
     * kubelet directory) as ALREADY_EXISTS, for good. A record of nothing is replaced; one whose volume
     * is still mounted or attached is not.
     */
    @Test
    void aRecordOfNothingAtAnotherStagingPathIsReplaced() throws Exception {
        call(service::nodeStageVolume, stage("v1", URI, mount("ext4")));
        Path old = staging;
        staging = dir.resolve("moved-staging");
        MayastorException inUse = refused(() -> call(service::nodeStageVolume, stage("v1", URI, mount("ext4"))));
        assertEquals(ErrorKind.ALREADY_EXISTS, inUse.kind());
        assertEquals("volume v1 is staged at " + old + " already, not at " + staging, inUse.getMessage());
        node.reboot();
        // nor does the follower connect such a volume (published elsewhere now, perhaps) when its nexus moves
        node.ran.clear();
        assertEquals(0, service.followMoves(v -> java.util.Optional.of(URI.replace("10.0.2.2:8420", "10.0.2.3:8420"))));
        assertEquals(List.of(), node.ran, "nothing connected for a record of nothing");
        call(service::nodeStageVolume, stage("v1", URI, mount("ext4")));
        assertTrue(node.mountPoints().contains(staging.toString()), "staged at its new path");
        call(service::nodeUnstageVolume, NodeUnstageVolumeRequest.newBuilder().setVolumeId("v1")
                .setStagingTargetPath(staging.toString()).build());
    }

    /**
     * Review finding (of the fix above): a block volume attached again under a new name (the follower
     * reconnected after the kernel removed the old head) had its record moved to the new name by a
     * second pod's publish while the first pod still held the old, removed one: that pod's bind was
     * not the volume's any more, and could never be unpublished. The record moves once no pod holds it.
     */
    @Test
    void aBlockVolumeAttachedAgainUnderANewNameMovesToItOnlyOnceTheOldOneIsLetGo() throws Exception {
        call(service::nodeStageVolume, stage("v1", URI, block()));
        call(service::nodePublishVolume, publish("v1", block(), false));
        kernelRemovesTheDevice();
        node.deviceNodeRemoved("nvme0n1");
        assertTrue(node.run(Duration.ofSeconds(5), "nvme", "connect", "-t", "tcp", "-a", "10.0.2.2", "-s", "8420", "-n", NQN).ok());
        Path second = dir.resolve("pods/second");
        NodePublishVolumeRequest again = NodePublishVolumeRequest.newBuilder().setVolumeId("v1")
                .setStagingTargetPath(staging.toString()).setTargetPath(second.toString()).setVolumeCapability(block()).build();
        MayastorException e = refused(() -> call(service::nodePublishVolume, again));
        assertEquals(ErrorKind.FAILED_PRECONDITION, e.kind(), e.getMessage());
        call(service::nodeUnpublishVolume, NodeUnpublishVolumeRequest.newBuilder().setVolumeId("v1")
                .setTargetPath(target.toString()).build());
        node.ran.clear();
        call(service::nodePublishVolume, again);
        assertTrue(node.ran.stream().anyMatch(c -> c.startsWith("mount --bind") && c.contains("dev/nvme1n1")),
                "the new head bound: " + node.ran);
    }

    /**
     * Review finding: NodeStage again after the kernel removed the device (a kubelet restart, or a
     * second pod) attached the volume anew, took the staging mount — the removed device's dead file
     * system — for its own, answered OK and recorded the new device, after which the pod's bind was
     * not the volume's any more and could never be unpublished. Now a staging mount of a removed
     * device is refused while a pod uses it, and mounted afresh once none does.
     */
    @Test
    void aStageAgainAfterTheKernelRemovedTheDeviceDoesNotTakeTheDeadMountForItsOwn() throws Exception {
        call(service::nodeStageVolume, stage("v1", URI, mount("")));
        call(service::nodePublishVolume, publish("v1", mount(""), false));
        kernelRemovesTheDevice();
        MayastorException e = refused(() -> call(service::nodeStageVolume, stage("v1", URI, mount(""))));
        assertEquals(ErrorKind.FAILED_PRECONDITION, e.kind(), e.getMessage());
        call(service::nodeUnpublishVolume, NodeUnpublishVolumeRequest.newBuilder().setVolumeId("v1")
                .setTargetPath(target.toString()).build());
        assertFalse(node.mountPoints().contains(target.toString()), "the pod's bind could still be unpublished");
        node.ran.clear();
        call(service::nodeStageVolume, stage("v1", URI, mount("")));
        assertTrue(node.ran.contains("umount " + staging), "the dead mount went: " + node.ran);
        assertTrue(node.ran.stream().anyMatch(c -> c.startsWith("mount ") && c.contains(staging.toString())),
                "the new device mounted: " + node.ran);
        call(service::nodePublishVolume, publish("v1", mount(""), false));
        call(service::nodeUnpublishVolume, NodeUnpublishVolumeRequest.newBuilder().setVolumeId("v1")
                .setTargetPath(target.toString()).build());
        call(service::nodeUnstageVolume, NodeUnstageVolumeRequest.newBuilder().setVolumeId("v1")
                .setStagingTargetPath(staging.toString()).build());
        assertFalse(node.mountPoints().contains(staging.toString()));
    }

    /** Another volume's disk takes the name the kernel freed when it removed v1's (it reuses nvmeXnY). */
    private void anotherVolumeTakesTheName() throws java.io.IOException {
        Files.createDirectories(node.root.resolve("sys/class/block/nvme0n1"));
        Files.writeString(node.root.resolve("sys/class/block/nvme0n1/dev"), "259:9\n");
        Files.writeString(node.root.resolve("dev/nvme0n1"), "");
    }

    /**
     * Review finding: the dead staging mount was told from the volume's own by whether the recorded
     * device name still existed. Once the kernel gave the name to another volume's disk, a restage took
     * the dead mount for the volume's and answered OK, and the pod's bind could never be unpublished.
     */
    @Test
    void aStageAgainAfterTheKernelGaveTheDevicesNameToAnotherDiskDoesNotTakeTheDeadMountForItsOwn() throws Exception {
        call(service::nodeStageVolume, stage("v1", URI, mount("")));
        call(service::nodePublishVolume, publish("v1", mount(""), false));
        kernelRemovesTheDevice();
        anotherVolumeTakesTheName();
        MayastorException e = refused(() -> call(service::nodeStageVolume, stage("v1", URI, mount(""))));
        assertEquals(ErrorKind.FAILED_PRECONDITION, e.kind(), e.getMessage());
        call(service::nodeUnpublishVolume, NodeUnpublishVolumeRequest.newBuilder().setVolumeId("v1")
                .setTargetPath(target.toString()).build());
        assertFalse(node.mountPoints().contains(target.toString()), "the pod's bind could still be unpublished");
        node.ran.clear();
        call(service::nodeStageVolume, stage("v1", URI, mount("")));
        assertTrue(node.ran.contains("umount " + staging), "the dead mount went: " + node.ran);
        assertTrue(node.ran.contains("mount -t ext4 " + node.root.resolve("dev/nvme1n1") + " " + staging), node.ran.toString());
    }

    /**
     * Review finding: the device was found once, at the attach, then named by path at each step: when
     * the kernel removed it (its controller lost) while blkid looked, and gave the name to another
     * volume's disk attached meanwhile, that disk was formatted, or mounted, as this volume's. The
     * device must still be the volume's, and the same one, before the format and after the mount.
     */
    @Test
    void aDiskThatTookTheDevicesNameWhileItWasProbedIsNeitherFormattedNorMounted() throws Exception {
        anotherDiskTakesTheNameDuring("blkid", false, c -> FakeNode.failed(c, 2, ""));
        stageIsRefusedAndLeavesNothingMounted();
        assertTrue(node.ran.stream().noneMatch(c -> c.startsWith("mkfs")), node.ran.toString());
    }

    /** The same, where the name moved while mkfs ran (on the old disk, by the descriptor it had opened). */
    @Test
    void aDiskThatTookTheDevicesNameWhileItWasFormattedIsNotLeftMounted() throws Exception {
        anotherDiskTakesTheNameDuring("mkfs.ext4", false, c -> FakeNode.ok(c, ""));
        stageIsRefusedAndLeavesNothingMounted();
    }

    /** The same, where the disk that took the name got the freed number too (the kernel hands out the lowest free one). */
    @Test
    void aDiskThatTookTheDevicesNameAndNumberWhileItWasFormattedIsNotLeftMounted() throws Exception {
        anotherDiskTakesTheNameDuring("mkfs.ext4", true, c -> FakeNode.ok(c, ""));
        stageIsRefusedAndLeavesNothingMounted();
    }

    /**
     * The next run of {@code command} (which then answers {@code answer}) sees the kernel remove the
     * volume's disk and give its name — and with {@code sameNumber} its major:minor — to another
     * volume's disk, which holds an ext4 file system.
     */
    private void anotherDiskTakesTheNameDuring(String command, boolean sameNumber,
                                               java.util.function.Function<List<String>, FakeNode.Result> answer) {
        node.on(command, c -> {
            node.forget(command);
            try {
                Path dev = node.root.resolve("sys/class/block/nvme0n1/dev");
                String number = Files.readString(dev);
                kernelRemovesTheDevice();
                anotherVolumeTakesTheName();
                if (sameNumber) {
                    Files.writeString(dev, number);
                }
                node.formatted(node.root.resolve("dev/nvme0n1"), "ext4");
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            return answer.apply(c);
        });
    }

    private void stageIsRefusedAndLeavesNothingMounted() {
        MayastorException e = refused(() -> call(service::nodeStageVolume, stage("v1", URI, mount(""))));
        assertEquals(ErrorKind.UNAVAILABLE, e.kind(), e.getMessage());
        assertFalse(node.mountPoints().contains(staging.toString()), node.ran.toString());
    }

    /**
     * Review finding: an expand grew the recorded device by name; once the kernel removed the volume's
     * disk and gave the name to another volume's, that one's file system was grown and OK answered.
     */
    @Test
    void anExpandOfAVolumeWhoseDeviceIsGoneGrowsNoOtherDisk() throws Exception {
        call(service::nodeStageVolume, stage("v1", URI, mount("")));
        call(service::nodePublishVolume, publish("v1", mount(""), false));
        kernelRemovesTheDevice();
        anotherVolumeTakesTheName();
        node.ran.clear();
        MayastorException e = refused(() -> call(service::nodeExpandVolume, NodeExpandVolumeRequest.newBuilder().setVolumeId("v1")
                .setVolumePath(target.toString()).setCapacityRange(io.mayastorj.csi.v1.CapacityRange.newBuilder()
                        .setRequiredBytes(64L << 20)).build()));
        assertEquals(ErrorKind.UNAVAILABLE, e.kind(), e.getMessage());
        assertTrue(node.ran.stream().noneMatch(c -> c.startsWith("resize2fs") || c.startsWith("blockdev")), node.ran.toString());
    }

    /**
     * Review finding: NodeUnstage unmounted the top mount at the staging path only, then disconnected:
     * under a second mount stacked there the file system stayed mounted over a disk that was gone.
     */
    @Test
    void unstageUnmountsEveryMountOfTheVolumeAtTheStagingPathBeforeItDisconnects() throws Exception {
        call(service::nodeStageVolume, stage("v1", URI, mount("")));
        node.mountedElsewhere("259:0", staging, node.root.resolve("dev/nvme0n1").toString()); // a second stage's, stacked
        node.ran.clear();
        call(service::nodeUnstageVolume, NodeUnstageVolumeRequest.newBuilder().setVolumeId("v1")
                .setStagingTargetPath(staging.toString()).build());
        assertEquals(List.of("umount " + staging, "umount " + staging, "nvme disconnect -n " + NQN), node.ran);
        assertFalse(node.mountPoints().contains(staging.toString()));
    }

    /**
     * Review finding: an iSCSI volume staged where it was served after a switch-over, then staged again
     * (a kubelet restart), had its record rewritten with the publish context's portal; NodeUnstage
     * logged out there, found no session, and failed on every retry with the staging mount gone.
     */
    @Test
    void anIscsiVolumeStagedFromWhereItMovedIsLoggedOutOfThere() {
        String iqn = "iqn.2019-05.io.openebs:v1";
        String published = "iscsi://10.0.2.2:3260/" + iqn + "/0";
        service.servedBy(v -> java.util.Optional.of(published.replace("10.0.2.2", "10.0.2.3")));
        call(service::nodeStageVolume, stage("v1", published, mount("xfs")));
        assertTrue(node.ran.contains("iscsiadm -m node -T " + iqn + " -p 10.0.2.3:3260 -I mayastor --login"), node.ran.toString());
        call(service::nodeStageVolume, stage("v1", published, mount("xfs")));
        node.ran.clear();
        call(service::nodeUnstageVolume, NodeUnstageVolumeRequest.newBuilder().setVolumeId("v1")
                .setStagingTargetPath(staging.toString()).build());
        assertTrue(node.ran.contains("iscsiadm -m node -T " + iqn + " --logout"), node.ran.toString());
        assertFalse(Files.exists(node.root.resolve("sys/class/iscsi_session/session1")), "logged out");
    }

    /**
     * Review finding: the path follower waited for a volume's call in progress however long it took —
     * an unmount flushing to a head whose only path died waits for the path the follower would add,
     * and meanwhile no other volume was followed, until their controllers were lost too. It waits a
     * second now, and leaves that volume to its next look.
     */
    @Test
    void theFollowerDoesNotWaitForAVolumesCallInProgress() throws Exception {
        call(service::nodeStageVolume, stage("v1", URI, mount("")));
        Files.writeString(node.root.resolve("sys/class/nvme/nvme0/state"), "connecting\n"); // its node died
        java.util.concurrent.CountDownLatch unmounting = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        node.on("umount", c -> {
            unmounting.countDown();
            try {
                release.await(); // flushing to a head with no path
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return FakeNode.failed(c, 32, "umount: target is busy");
        });
        java.util.concurrent.ExecutorService other = java.util.concurrent.Executors.newFixedThreadPool(2);
        try {
            other.submit(() -> refused(() -> call(service::nodeUnstageVolume, NodeUnstageVolumeRequest.newBuilder()
                    .setVolumeId("v1").setStagingTargetPath(staging.toString()).build())));
            assertTrue(unmounting.await(10, java.util.concurrent.TimeUnit.SECONDS));
            String moved = URI.replace(":8420/", ":8421/");
            var following = other.submit(() -> service.followMoves(v -> java.util.Optional.of(moved)));
            assertEquals(0, following.get(5, java.util.concurrent.TimeUnit.SECONDS), "left to the next look");
            release.countDown();
        } finally {
            release.countDown();
            other.shutdownNow();
        }
    }

    /**
     * Review finding: a blank volume staged with a reader-only access mode was formatted, then mounted
     * read-only. Kubernetes' own mounter refuses that ("failed to mount unformatted volume as read
     * only"): a volume asked for read-only is never written.
     */
    @Test
    void aBlankVolumeStagedReadOnlyIsNotFormatted() {
        VolumeCapability readOnly = mount("").toBuilder().setAccessMode(VolumeCapability.AccessMode.newBuilder()
                .setMode(VolumeCapability.AccessMode.Mode.SINGLE_NODE_READER_ONLY)).build();
        MayastorException e = refused(() -> call(service::nodeStageVolume, stage("v1", URI, readOnly)));
        assertEquals(ErrorKind.FAILED_PRECONDITION, e.kind());
        assertEquals("volume v1 holds no file system and is staged read-only: it is not formatted", e.getMessage());
        assertFalse(node.ran.stream().anyMatch(c -> c.startsWith("mkfs")), node.ran.toString());
    }

    /**
     * Review finding: NodeUnstage's "still published" look counted only binds of the file system's root.
     * A bind of a subdirectory (a subPath mount a pod left behind) kept the file system alive after the
     * staging unmount, and the disk was disconnected under it. Any mount of the file system counts.
     */
    @Test
    void anUnstageIsRefusedWhileASubdirectoryOfTheFileSystemIsStillMounted() throws Exception {
        call(service::nodeStageVolume, stage("v1", URI, mount("")));
        String dev = Files.readString(node.root.resolve("sys/class/block/nvme0n1/dev")).strip();
        Path subPath = dir.resolve("pod/volume-subpaths/data");
        node.mountedElsewhere(dev, "/data", subPath, node.root.resolve("dev/nvme0n1").toString());
        node.ran.clear();
        MayastorException e = refused(() -> call(service::nodeUnstageVolume, NodeUnstageVolumeRequest.newBuilder()
                .setVolumeId("v1").setStagingTargetPath(staging.toString()).build()));
        assertEquals(ErrorKind.FAILED_PRECONDITION, e.kind());
        assertEquals("volume v1 is still published at " + subPath + ": unpublish it first", e.getMessage());
        assertFalse(node.ran.stream().anyMatch(c -> c.startsWith("nvme disconnect") || c.startsWith("umount")), node.ran.toString());
    }

    /**
     * Review finding: a path added when the volume was followed to another node took the node's default
     * I/O timeout: a StorageClass's ioTimeout of 600 s dropped to 120 s after the first move, and an
     * outage between the two removed the disk under its mount. The staged record keeps the volume's.
     */
    @Test
    void aFollowedPathKeepsTheVolumesOwnIoTimeout() throws Exception {
        call(service::nodeStageVolume, stage("v1", URI, mount("")).toBuilder().putVolumeContext("ioTimeout", "600").build());
        assertTrue(node.ran.get(0).endsWith("--ctrl-loss-tmo 600"), node.ran.get(0));
        Files.writeString(node.root.resolve("sys/class/nvme/nvme0/state"), "connecting\n");
        node.ran.clear();
        assertEquals(1, service.followMoves(v -> java.util.Optional.of(URI.replace(":8420/", ":8421/"))));
        assertEquals("nvme connect -t tcp -a 10.0.2.2 -s 8421 -n " + NQN + " --hostnqn " + HOST + " --ctrl-loss-tmo 600",
                node.ran.get(0));
    }

    /**
     * Review finding: the follower read the old paths' controller names once, then disconnected each,
     * and a disconnect may take a minute. A controller the kernel deleted meanwhile gives its name to
     * the next connect, another volume's, whose only path was then pulled from under its mount. Each
     * old path is read again right before its disconnect.
     */
    @Test
    void anOldPathWhoseControllerNameWentToAnotherVolumeMeanwhileIsNotDisconnected() throws Exception {
        call(service::nodeStageVolume, stage("v1", URI, mount("")));
        Path second = node.root.resolve("sys/class/nvme/nvme5"); // a second old path of v1's subsystem
        Files.createDirectories(second.resolve("nvme0c5n1"));
        Files.writeString(second.resolve("subsysnqn"), NQN + "\n");
        Files.writeString(second.resolve("state"), "connecting\n");
        Files.writeString(second.resolve("address"), "traddr=10.0.2.4,trsvcid=8420,src_addr=10.0.2.15\n");
        Files.writeString(second.resolve("nvme0c5n1/ana_state"), "optimized\n");
        Files.writeString(node.root.resolve("sys/class/nvme/nvme0/state"), "connecting\n");
        String other = "nqn.2019-05.io.openebs:another-volume";
        List<String> disconnected = new java.util.ArrayList<>();
        node.on("nvme disconnect", c -> {
            String ctrl = c.get(c.indexOf("-d") + 1);
            disconnected.add(ctrl);
            try {
                for (String name : List.of("nvme0", "nvme5")) {
                    Path dir = node.root.resolve("sys/class/nvme").resolve(name);
                    if (name.equals(ctrl)) {
                        try (var files = Files.walk(dir)) {
                            files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
                        }
                    } else if (disconnected.size() == 1) {
                        Files.writeString(dir.resolve("subsysnqn"), other + "\n"); // deleted, its name reused meanwhile
                    }
                }
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            return FakeNode.ok(c, "");
        });
        node.ran.clear();
        assertEquals(1, service.followMoves(v -> java.util.Optional.of(URI.replace(":8420/", ":8421/"))));
        assertEquals(1, disconnected.size(), "only the path still v1's was disconnected: " + node.ran);
    }

    /**
     * The control plane moved the volume's nexus to another node (same NQN, another address): the
     * node adds a path there — the kernel's multipath head keeps the device and its mount — and
     * once that path is live drops the old, dead one; the record names the new URI, and a second
     * look does nothing.
     */
    @Test
    void aVolumeWhoseNexusMovedFollowsItToItsNewAddress() throws Exception {
        call(service::nodeStageVolume, stage("v1", URI, mount("")));
        call(service::nodePublishVolume, publish("v1", mount(""), false));
        Files.writeString(node.root.resolve("sys/class/nvme/nvme0/state"), "connecting\n"); // its node died
        node.ran.clear();
        String moved = URI.replace(":8420/", ":8421/");
        assertEquals(0, service.followMoves(v -> java.util.Optional.of(URI)), "served where it was: nothing to do");
        Path multipath = node.root.resolve("sys/module/nvme_core/parameters/multipath");
        Files.writeString(multipath, "N\n");
        assertEquals(0, service.followMoves(v -> java.util.Optional.of(URI.replace(":8420/", ":8421/"))),
                "without the kernel's multipath a second connect would make a second disk: not followed");
        assertEquals(List.of(), node.ran);
        Files.writeString(multipath, "Y\n");
        assertEquals(1, service.followMoves(v -> java.util.Optional.of(moved)));
        assertEquals(List.of("nvme connect -t tcp -a 10.0.2.2 -s 8421 -n " + NQN + " --hostnqn " + HOST + " --ctrl-loss-tmo 120",
                "nvme disconnect -d nvme0"), node.ran);
        NodeGetVolumeStatsResponse stats = call(service::nodeGetVolumeStats, NodeGetVolumeStatsRequest.newBuilder()
                .setVolumeId("v1").setVolumePath(target.toString()).build());
        assertFalse(stats.getVolumeCondition().getAbnormal());
        assertEquals("paths: 10.0.2.2:8421 live optimized", stats.getVolumeCondition().getMessage());
        node.ran.clear();
        assertEquals(0, service.followMoves(v -> java.util.Optional.of(moved)), "followed already");
        assertEquals(0, service.followMoves(v -> java.util.Optional.empty()), "not published now: the paths stay as they are");
        assertEquals(List.of(), node.ran);
        call(service::nodeUnpublishVolume, io.mayastorj.csi.v1.NodeUnpublishVolumeRequest.newBuilder().setVolumeId("v1")
                .setTargetPath(target.toString()).build());
        call(service::nodeUnstageVolume, io.mayastorj.csi.v1.NodeUnstageVolumeRequest.newBuilder().setVolumeId("v1")
                .setStagingTargetPath(staging.toString()).build());
        assertTrue(node.ran.contains("nvme disconnect -n " + NQN), "unstaged through the URI it follows now: " + node.ran);
    }

    /**
     * A connect returns before the kernel has scanned the namespace on the new path: the old path
     * stays until it has, or the head would lose its last path (and its disk, under the mount).
     */
    @Test
    void theOldPathStaysUntilTheNewOneHasTheNamespace() throws Exception {
        call(service::nodeStageVolume, stage("v1", URI, mount("")));
        call(service::nodePublishVolume, publish("v1", mount(""), false));
        Files.writeString(node.root.resolve("sys/class/nvme/nvme0/state"), "connecting\n"); // its node died
        Files.writeString(node.root.resolve("sys/module/nvme_core/parameters/multipath"), "Y\n");
        node.pathNamespaceAppears = false;
        node.ran.clear();
        String moved = URI.replace(":8420/", ":8421/");
        assertEquals(0, service.followMoves(v -> java.util.Optional.of(moved)));
        assertEquals(List.of("nvme connect -t tcp -a 10.0.2.2 -s 8421 -n " + NQN + " --hostnqn " + HOST + " --ctrl-loss-tmo 120"),
                node.ran, "connected, the old path kept");
        Path scanned = Files.createDirectories(node.root.resolve("sys/class/nvme/nvme1/nvme0c1n1"));
        Files.writeString(scanned.resolve("ana_state"), "optimized\n");
        node.ran.clear();
        assertEquals(1, service.followMoves(v -> java.util.Optional.of(moved)));
        assertEquals(List.of("nvme disconnect -d nvme0"), node.ran, "dropped once the new path has the namespace");
    }

    @Test
    void expandRescansAndGrowsTheFileSystem() {
        call(service::nodeStageVolume, stage("v1", URI, mount("")));
        call(service::nodePublishVolume, publish("v1", mount(""), false));
        node.ran.clear();
        long size = call(service::nodeExpandVolume, NodeExpandVolumeRequest.newBuilder().setVolumeId("v1")
                .setVolumePath(target.toString()).setCapacityRange(io.mayastorj.csi.v1.CapacityRange.newBuilder()
                        .setRequiredBytes(64L << 20)).build()).getCapacityBytes();
        assertEquals(64L << 20, size);
        Path device = node.root.resolve("dev/nvme0n1");
        assertEquals(List.of("nvme ns-rescan " + node.root.resolve("dev/nvme0"), "blockdev --getsize64 " + device,
                "resize2fs " + device), node.ran);
    }

    /**
     * Review finding: a device not grown yet (a slow rescan) was FAILED_PRECONDITION, which the kubelet
     * takes for "cannot grow while in use" and stops asking until the volume is mounted again: the
     * PVC stayed FileSystemResizePending. It is UNAVAILABLE, asked again; nothing is grown meanwhile.
     */
    @Test
    void anExpandBeforeTheDeviceShowsItsNewSizeIsAskedAgain() throws Exception {
        call(service::nodeStageVolume, stage("v1", URI, mount("")));
        call(service::nodePublishVolume, publish("v1", mount(""), false));
        node.ran.clear();
        MayastorException e = refused(() -> call(service::nodeExpandVolume, NodeExpandVolumeRequest.newBuilder().setVolumeId("v1")
                .setVolumePath(target.toString()).setCapacityRange(io.mayastorj.csi.v1.CapacityRange.newBuilder()
                        .setRequiredBytes(128L << 20)).build()));
        assertEquals(ErrorKind.UNAVAILABLE, e.kind(), e.getMessage());
        assertEquals("volume v1: the device is 67108864 bytes, not 134217728 yet: has the controller grown it?", e.getMessage());
        assertTrue(node.ran.stream().noneMatch(c -> c.startsWith("resize2fs")), node.ran.toString());
    }

    /**
     * Review finding: an expand rescanned every path and failed on the first that would not: the kernel
     * refuses a controller that is not live, so an expand during a switch-over (one path dead) was
     * UNAVAILABLE although the live path rescans. One path that rescans is enough.
     */
    @Test
    void expandNeedsOnlyOnePathThatRescans() throws Exception {
        call(service::nodeStageVolume, stage("v1", URI, mount("")));
        call(service::nodePublishVolume, publish("v1", mount(""), false));
        Path dead = node.root.resolve("sys/class/nvme/nvme7"); // an old path still there, not live
        Files.createDirectories(dead);
        Files.writeString(dead.resolve("subsysnqn"), NQN + "\n");
        Files.writeString(dead.resolve("state"), "connecting\n");
        Files.writeString(dead.resolve("address"), "traddr=10.0.2.9,trsvcid=8420,src_addr=10.0.2.15\n");
        node.on("nvme ns-rescan", c -> c.get(2).endsWith("nvme7") ? FakeNode.failed(c, 1, "Resource temporarily unavailable")
                : FakeNode.ok(c, ""));
        long size = call(service::nodeExpandVolume, NodeExpandVolumeRequest.newBuilder().setVolumeId("v1")
                .setVolumePath(target.toString()).setCapacityRange(io.mayastorj.csi.v1.CapacityRange.newBuilder()
                        .setRequiredBytes(64L << 20)).build()).getCapacityBytes();
        assertEquals(64L << 20, size);
    }

    /**
     * Review finding: the StorageClass's fsType (in the volume context) was never read; the capability
     * carries the provisioner's default (ext4), so a user who asked for xfs got ext4.
     */
    @Test
    void theStorageClassesFsTypeComesBeforeTheProvisionersDefault() {
        call(service::nodeStageVolume, stage("v1", URI, mount("ext4")).toBuilder().putVolumeContext("fsType", "xfs").build());
        Path device = node.root.resolve("dev/nvme0n1");
        assertTrue(node.ran.contains("mkfs.xfs -q -f -K " + device), node.ran.toString());
        assertTrue(node.ran.contains("mount -t xfs " + device + " " + staging), node.ran.toString());
        call(service::nodePublishVolume, publish("v1", mount("ext4"), false).toBuilder().putVolumeContext("fsType", "xfs").build());
    }

    /**
     * Review finding: a volume made before the node read the StorageClass's fsType holds ext4 whatever
     * its class said, and its PV's attributes (fsType=xfs) cannot be edited: every publish of it
     * staged was ALREADY_EXISTS and every stage FAILED_PRECONDITION — it could never be used again.
     * What the disk or the record holds is mounted when only the class named another; a file system
     * the caller asks for in the capability is still held to.
     */
    @Test
    void aFileSystemOtherThanTheClassNamesIsMountedAsItIs() {
        call(service::nodeStageVolume, stage("v1", URI, mount("ext4")));
        call(service::nodePublishVolume, publish("v1", mount("ext4"), false).toBuilder().putVolumeContext("fsType", "xfs").build());
        call(service::nodeStageVolume, stage("v1", URI, mount("ext4")).toBuilder().putVolumeContext("fsType", "xfs").build());

        Path device = node.root.resolve("dev/nvme1n1");
        node.formatted(device, "ext4");
        staging = dir.resolve("staging2");
        String uri2 = URI.replace("000000000001", "000000000002");
        node.ran.clear();
        call(service::nodeStageVolume, stage("v2", uri2, mount("ext4")).toBuilder().putVolumeContext("fsType", "xfs").build());
        assertFalse(node.ran.stream().anyMatch(c -> c.startsWith("mkfs")), node.ran.toString());
        assertTrue(node.ran.contains("mount -t ext4 " + device + " " + staging), node.ran.toString());

        node.formatted(node.root.resolve("dev/nvme2n1"), "ext4");
        staging = dir.resolve("staging3");
        MayastorException e = refused(() -> call(service::nodeStageVolume, stage("v3", URI.replace("000000000001", "000000000003"),
                mount("xfs"))));
        assertEquals(ErrorKind.FAILED_PRECONDITION, e.kind(), "asked in the capability: " + e.getMessage());
    }

    @Test
    void iscsiVolumesLogInAndFindTheirDiskByTargetAndLun() {
        String iqn = "iqn.2019-05.io.openebs:v1";
        call(service::nodeStageVolume, stage("v1", "iscsi://10.0.2.2:3260/" + iqn + "/0", mount("xfs")));
        Path device = node.root.resolve("dev/sdb");
        assertEquals(List.of( // through an interface that says the name the nexus is shared to (app1's)
                "iscsiadm -m iface -I mayastor -o new",
                "iscsiadm -m iface -I mayastor -o update -n iface.initiatorname -v iqn.2019-05.io.openebs:node-name:app1",
                "iscsiadm -m node -o new -T " + iqn + " -p 10.0.2.2:3260 -I mayastor",
                "iscsiadm -m node -T " + iqn + " -p 10.0.2.2:3260 -I mayastor -o update -n node.session.timeo.replacement_timeout -v 15",
                "iscsiadm -m node -T " + iqn + " -p 10.0.2.2:3260 -I mayastor -o update -n node.startup -v manual",
                "iscsiadm -m node -T " + iqn + " -p 10.0.2.2:3260 -I mayastor --login",
                "blkid -p -s TYPE -s PTTYPE -o export " + device,
                "blkid -p -s TYPE -s PTTYPE -o export " + device,
                "mkfs.xfs -q -f -K " + device,
                "mount -t xfs " + device + " " + staging), node.ran);
        node.ran.clear();
        call(service::nodeUnstageVolume, NodeUnstageVolumeRequest.newBuilder().setVolumeId("v1")
                .setStagingTargetPath(staging.toString()).build());
        assertEquals(List.of("umount " + staging, "iscsiadm -m node -T " + iqn + " --logout",
                "iscsiadm -m node -T " + iqn + " -o delete"), node.ran);
    }
}
