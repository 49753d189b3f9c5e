package io.mayastorj.control.internal.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.grpc.Context;
import io.fabric8.kubernetes.client.CustomResource;
import io.mayastorj.control.internal.csi.ControllerService;
import io.mayastorj.control.internal.model.MayastorVolume;
import io.mayastorj.control.internal.nodes.NodeClients;
import io.mayastorj.control.internal.operator.VolumeOperator;
import io.mayastorj.control.internal.registry.NodeRegistry;
import io.mayastorj.control.internal.store.FileStore;
import io.mayastorj.control.internal.store.ResourceStore;
import io.mayastorj.core.error.ErrorKind;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.csi.v1.CapacityRange;
import io.mayastorj.csi.v1.CreateVolumeRequest;
import io.mayastorj.csi.v1.VolumeCapability;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A caller's change of a volume racing the operator's writes of the same resource. The race is
 * made certain: the store is a real {@link FileStore}, and just before a caller's spec write
 * lands, another write of the volume (what the operator would write meanwhile) lands first; just
 * before a caller's create, another call makes the volume.
 */
class VolumesTest {

    @TempDir
    Path dir;

    private FileStore files;
    private RacingStore store;
    private NodeRegistry registry;
    private NodeClients clients;
    private Volumes volumes;

    @BeforeEach
    void open() {
        files = new FileStore(dir);
        store = new RacingStore(files);
        registry = new NodeRegistry(Duration.ofSeconds(1), 3);
        clients = new NodeClients(Duration.ofSeconds(1));
        volumes = new Volumes(store, new VolumeOperator(store, registry, clients, Duration.ofMinutes(5)), registry);
    }

    @AfterEach
    void close() {
        clients.close();
        registry.close();
        files.close();
    }

    /** A 3-replica volume published to app1 through a nexus on s1, whose nexus is down (the operator's part done). */
    private void published(String name) {
        MayastorVolume v = new MayastorVolume();
        v.setMetadata(new ObjectMetaBuilder().withName(name).build());
        MayastorVolume.Spec spec = new MayastorVolume.Spec();
        spec.setReplicaCount(3);
        spec.setRequiredBytes(64L << 20);
        spec.setProtocol("nvmf");
        spec.setTargetNode("s1");
        spec.setAppNode("app1");
        v.setSpec(spec);
        MayastorVolume made = files.create(v);
        MayastorVolume.Status status = new MayastorVolume.Status();
        status.setState(MayastorVolume.HEALTHY);
        status.setSize(64L << 20);
        made.setStatus(status);
        files.updateStatus(made);
    }

    private MayastorVolume read(String name) {
        return files.get(MayastorVolume.class, name).orElseThrow();
    }

    @Test
    void anUnpublishThatLosesToAStatusWriteIsMadeAgainAndKeepsBoth() {
        published("v");
        store.before(1, v -> {
            v.getStatus().setReason("the operator wrote this meanwhile");
            files.updateStatus(v);
        });
        store.afterUpdate(this::operatorAnswers);
        MayastorVolume after = volumes.unpublish("v", "app1");
        assertEquals(1, store.updatesRefused, "the first write lost the race");
        assertNull(after.getSpec().getTargetNode());
        assertNull(read("v").getSpec().getTargetNode());
        assertNull(read("v").getSpec().getAppNode());
        assertEquals("the operator wrote this meanwhile", read("v").getStatus().getReason(), "the status write stands");
    }

    /**
     * Review finding: a move checked the new node only; with the nexus's node offline, the next pass
     * made a nexus on the new node beside the old one (which may still serve a host cut off from
     * us), without the switch-over's grace or its nexus records. Refused: the switch-over decides.
     */
    @Test
    void aMoveAwayFromAnOfflineNexusNodeIsRefused() {
        published("v");
        registry.register("s2", "127.0.0.12:10124", "nqn.2014-08.org.nvmexpress:uuid:s2", true);
        MayastorException e = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(Duration.ofSeconds(10),
                () -> assertThrows(MayastorException.class, () -> volumes.move("v", "s2")));
        assertEquals(ErrorKind.FAILED_PRECONDITION, e.kind(), e.getMessage());
        assertEquals("volume v: its nexus's node s1 is offline, so it cannot hand over; the switch-over moves the nexus once "
                + "that node has been silent for its grace", e.getMessage());
        assertEquals("s1", read("v").getSpec().getTargetNode(), "the spec is left as it was");
    }

    /**
     * Review finding: only CSI's DeleteVolume refused a published volume; {@code mayastor ctl volume
     * destroy} (and kubectl delete msv) had the operator destroy the nexus and every replica under
     * the application's mount. The call is refused now; a deletion made otherwise waits for the
     * unpublish (a Warning event says so, once) and then goes; the unpublish answers once it is gone.
     */
    @Test
    void aPublishedVolumeIsNotDestroyedUntilItIsUnpublished() throws Exception {
        published("v");
        files.change(MayastorVolume.class, "v", v -> v.getMetadata().getFinalizers().add(io.mayastorj.control.internal.model.Kinds.FINALIZER));
        MayastorException e = assertThrows(MayastorException.class, () -> volumes.destroy("v"));
        assertEquals(ErrorKind.FAILED_PRECONDITION, e.kind(), e.getMessage());
        assertEquals("volume v is published to node app1: unpublish it first", e.getMessage());
        assertNull(read("v").getMetadata().getDeletionTimestamp(), "not marked for deletion");

        // kubectl delete msv: the resource is marked; the operator's passes leave it, and an event says why
        files.delete(MayastorVolume.class, "v");
        VolumeOperator operator = new VolumeOperator(store, registry, clients, Duration.ofMinutes(5));
        operator.reconcile("v");
        operator.reconcile("v");
        assertEquals(List.of(io.mayastorj.control.internal.model.Kinds.FINALIZER), read("v").getMetadata().getFinalizers(), "kept");
        assertEquals(List.of("Warning DeletionBlocked: volume v is published to node app1: its deletion waits for the unpublish "
                + "(the pod's end, or mayastor ctl volume unpublish v)"), store.events.stream()
                .filter(ev -> ev.contains("DeletionBlocked")).toList(), "one event, not one a pass");

        // the pod ends: unpublished, the next pass deletes it (no node holds anything of it here), and the unpublish
        // answers once it is gone (before, its wait for a status ended in NOT_FOUND)
        store.afterUpdate(() -> operator.reconcile("v"));
        MayastorVolume answered = withDeadline(() -> volumes.unpublish("v", "app1"));
        assertEquals("v", answered.getMetadata().getName());
        assertTrue(files.get(MayastorVolume.class, "v").isEmpty(), "gone once unpublished");
    }

    /** Review finding (of the above): a spec with an application node but no target node is not published. */
    @Test
    void aVolumeWithAnAppNodeButNoTargetIsNotPublished() {
        published("w");
        files.change(MayastorVolume.class, "w", v -> {
            v.getSpec().setTargetNode(null);
            return true;
        });
        volumes.destroy("w");
        assertTrue(files.get(MayastorVolume.class, "w").map(v -> v.getMetadata().getDeletionTimestamp() != null).orElse(true),
                "deleted");
    }

    @Test
    void theChangeIsDecidedAgainOnWhatIsThereNow() {
        published("v");
        // meanwhile the volume was unpublished from app1 and published to app2: app1's unpublish has nothing to do
        store.before(1, v -> {
            v.getSpec().setAppNode("app2");
            v.getSpec().setTargetNode("s2");
            files.update(v);
        });
        volumes.unpublish("v", "app1");
        assertEquals(1, store.updatesRefused);
        assertEquals("app2", read("v").getSpec().getAppNode());
        assertEquals("s2", read("v").getSpec().getTargetNode());
    }

    @Test
    void growingAgainstAStatusWriteGrowsTheSpec() {
        published("v");
        store.before(2, v -> {
            v.getStatus().setReason("pass " + System.nanoTime());
            files.updateStatus(v);
        });
        // the operator is not running: the wait for the size ends at the call's deadline; the spec is what counts here
        MayastorException waited = assertThrows(MayastorException.class, () -> withDeadline(() -> volumes.grow("v", 128L << 20)));
        assertEquals(ErrorKind.UNAVAILABLE, waited.kind(), waited.getMessage());
        assertEquals(2, store.updatesRefused);
        assertEquals(128L << 20, read("v").getSpec().getRequiredBytes());
    }

    @Test
    void aVolumeThatNeverStopsChangingIsAbortedAfterTheLastAttempt() {
        published("v");
        store.before(Integer.MAX_VALUE, v -> {
            v.getStatus().setReason("pass " + System.nanoTime());
            files.updateStatus(v);
        });
        MayastorException e = assertThrows(MayastorException.class, () -> volumes.unpublish("v", "app1"));
        assertEquals(ErrorKind.ABORTED, e.kind());
        assertTrue(e.getMessage().startsWith("mayastorvolume v was changed meanwhile"), e.getMessage());
        assertEquals(ResourceStore.CHANGE_ATTEMPTS, store.updatesRefused);
        assertEquals("s1", read("v").getSpec().getTargetNode(), "nothing half done");
    }

    /** Runs {@code call} as a gRPC call with a deadline of two seconds (the waits end half a second before it). */
    private static <T> T withDeadline(java.util.concurrent.Callable<T> call) throws Exception {
        ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
        Context.CancellableContext context = Context.current().withDeadlineAfter(2, TimeUnit.SECONDS, timer);
        try {
            return context.call(call);
        } finally {
            context.cancel(null);
            timer.shutdown();
        }
    }

    private void statusSize(long bytes, String reason) {
        MayastorVolume v = read("v");
        v.getStatus().setSize(bytes);
        v.getStatus().setReason(reason);
        v.getStatus().setObservedGeneration(v.getMetadata().getGeneration());
        files.updateStatus(v);
    }

    /** What the operator's pass writes once it has worked from the spec as it is now (here: no nexus). */
    private void operatorAnswers() {
        MayastorVolume v = read("v");
        v.getStatus().setNexus(null);
        v.getStatus().setObservedGeneration(v.getMetadata().getGeneration());
        files.updateStatus(v);
    }

    @Test
    void aPublishIsNotAnsweredByTheStatusOfAnEarlierSpec() throws Exception {
        published("v");
        MayastorVolume v = read("v");
        MayastorVolume.Nexus nexus = new MayastorVolume.Nexus();
        nexus.setNode("s1");
        nexus.setDeviceUri("nvmf://127.0.0.1:8420/nqn.2019-05.io.openebs:v");
        nexus.setState("online");
        v.getStatus().setNexus(nexus);
        MayastorVolume.Replica replica = new MayastorVolume.Replica();
        replica.setNode("s1");
        replica.setPool("p1");
        v.getStatus().setReplicas(List.of(replica));
        v.getStatus().setObservedGeneration(v.getMetadata().getGeneration());
        files.updateStatus(v);
        // an unpublish cleared the spec; the operator's pass is taking the nexus down and has not written yet
        v = read("v");
        v.getSpec().setTargetNode(null);
        v.getSpec().setAppNode(null);
        files.update(v);
        registry.register("app1", "127.0.0.9:10124", "nqn.2014-08.org.nvmexpress:uuid:app1", false);

        MayastorException waited = assertThrows(MayastorException.class, () -> withDeadline(() -> volumes.publish("v", "app1")));
        assertEquals(ErrorKind.UNAVAILABLE, waited.kind(), "the status showing s1's nexus answers an older spec");
        assertEquals("s1", read("v").getSpec().getTargetNode());
        MayastorVolume answered = read("v");
        answered.getStatus().setObservedGeneration(answered.getMetadata().getGeneration()); // the nexus made again
        files.updateStatus(answered);
        assertEquals("nvmf://127.0.0.1:8420/nqn.2019-05.io.openebs:v",
                withDeadline(() -> volumes.publish("v", "app1")).getStatus().getNexus().getDeviceUri());
    }

    /**
     * Review finding: every change of any volume woke every waiting call, and each read its volume from
     * the API server again: with many volumes being made at once, the reads grew with the square of
     * their number and the API server throttled them. A call reads again when its own volume changed.
     */
    @Test
    void aWaitingCallReadsItsVolumeAgainOnlyWhenItChanges() throws Exception {
        published("v");
        published("w");
        for (String name : List.of("v", "w")) {
            MayastorVolume g = read(name);
            g.getSpec().setRequiredBytes(128L << 20); // a grow the operator has not done yet
            files.update(g);
        }
        java.util.concurrent.ExecutorService threads = Executors.newFixedThreadPool(2);
        try {
            var waiting = threads.submit(() -> withDeadline(() -> volumes.grow("v", 128L << 20)));
            threads.submit(() -> withDeadline(() -> volumes.grow("w", 128L << 20))); // w is waited for too
            Thread.sleep(200);
            int before = store.getsOf("v");
            for (int i = 0; i < 50; i++) { // another volume's status, written again and again
                MayastorVolume w = read("w");
                w.getStatus().setReason("pass " + i);
                files.updateStatus(w);
                Thread.sleep(10);
            }
            int reads = store.getsOf("v") - before;
            assertTrue(reads <= 1, reads + " reads of v while only w changed");
            statusSize(128L << 20, null); // v's own change: the call looks, and is answered
            assertEquals(128L << 20, waiting.get(5, TimeUnit.SECONDS).getStatus().getSize());
        } finally {
            threads.shutdownNow();
        }
    }

    @Test
    void aGrowAskedForBeforeIsWaitedForNotAnsweredAtOnce() throws Exception {
        published("v");
        MayastorVolume v = read("v");
        v.getSpec().setRequiredBytes(128L << 20); // an earlier call wrote this and ran out of time; the volume is still 64 MiB
        files.update(v);
        MayastorException waited = assertThrows(MayastorException.class, () -> withDeadline(() -> volumes.grow("v", 128L << 20)));
        assertEquals(ErrorKind.UNAVAILABLE, waited.kind());
        assertEquals("volume v is not grown to 134217728 bytes yet (healthy); it is being worked on", waited.getMessage());
        statusSize(128L << 20, null);
        assertEquals(128L << 20, withDeadline(() -> volumes.grow("v", 128L << 20)).getStatus().getSize(), "grown: answered at once");
    }

    @Test
    void aGrowThePoolsCannotHoldPutsTheSpecBack() {
        published("v");
        store.afterUpdate(() -> statusSize(64L << 20, "cannot grow to 134217728 bytes: node s2: pool p2 has 10 MiB free"));
        MayastorException e = assertThrows(MayastorException.class, () -> volumes.grow("v", 128L << 20));
        assertEquals(ErrorKind.RESOURCE_EXHAUSTED, e.kind());
        assertEquals("cannot grow to 134217728 bytes: node s2: pool p2 has 10 MiB free", e.getMessage());
        assertEquals(64L << 20, read("v").getSpec().getRequiredBytes(), "the spec asks for what the volume has");
    }

    /**
     * Review finding: every failed grow became RESOURCE_EXHAUSTED (the CSI controller's OUT_OF_RANGE),
     * which the resizer takes for infeasible and stops asking: a replica's pool degraded for a moment
     * made a PVC's resize fail for good. Only no room is; another failure is UNAVAILABLE, tried again.
     */
    @Test
    void aGrowThatFailsForAnotherCauseThanRoomIsTriedAgainNotInfeasible() {
        published("v");
        String reason = "cannot grow to 134217728 bytes" + VolumeOperator.GROW_FAILED_FOR_NOW + "node s2: pool p2 is degraded";
        store.afterUpdate(() -> statusSize(64L << 20, reason));
        MayastorException e = assertThrows(MayastorException.class, () -> volumes.grow("v", 128L << 20));
        assertEquals(ErrorKind.UNAVAILABLE, e.kind(), e.getMessage());
        assertEquals("cannot grow to 134217728 bytes for now: node s2: pool p2 is degraded", e.getMessage());
        assertEquals(64L << 20, read("v").getSpec().getRequiredBytes(), "the spec asks for what the volume has");
    }

    /** Review finding (of the above): a size the pool cannot map stays final, as no room is. */
    @Test
    void aGrowTheNodeRefusesForItsSizeIsNotTriedAgain() {
        published("v");
        store.afterUpdate(() -> statusSize(64L << 20, "cannot grow to 134217728 bytes: node s2: replica size 3 TiB is beyond "
                + "what this pool maps"));
        MayastorException e = assertThrows(MayastorException.class, () -> volumes.grow("v", 128L << 20));
        assertEquals(ErrorKind.RESOURCE_EXHAUSTED, e.kind(), "the CSI controller's OUT_OF_RANGE: " + e.getMessage());
    }

    /** An earlier, larger request the pools could not hold: its spec and its answer are still there. */
    private void unreachedGrow() {
        published("v");
        MayastorVolume v = read("v");
        v.getSpec().setRequiredBytes(256L << 20);
        files.update(v);
        statusSize(64L << 20, "cannot grow to 268435456 bytes: node s2: pool p2 has 100 MiB free");
    }

    @Test
    void aSmallerGrowReplacesALargerOneTheVolumeNeverReached() throws Exception {
        unreachedGrow();
        store.afterUpdate(() -> statusSize(128L << 20, null));
        MayastorVolume grown = withDeadline(() -> volumes.grow("v", 128L << 20));
        assertEquals(128L << 20, grown.getStatus().getSize(), "not answered by the larger request's refusal");
        assertEquals(128L << 20, read("v").getSpec().getRequiredBytes(), "the latest request decides");
    }

    @Test
    void aSmallerGrowThePoolsCannotHoldEitherPutsBackWhatTheVolumeHas() {
        unreachedGrow();
        store.afterUpdate(() -> statusSize(64L << 20, "cannot grow to 201326592 bytes: node s2: pool p2 has 100 MiB free"));
        MayastorException e = assertThrows(MayastorException.class, () -> volumes.grow("v", 192L << 20));
        assertEquals(ErrorKind.RESOURCE_EXHAUSTED, e.kind());
        assertEquals("cannot grow to 201326592 bytes: node s2: pool p2 has 100 MiB free", e.getMessage());
        assertEquals(64L << 20, read("v").getSpec().getRequiredBytes(), "neither request stays asked for");
    }

    @Test
    void aVolumeDeletedWhileACallWaitsIsNotFound() {
        published("v");
        store.afterUpdate(() -> files.delete(MayastorVolume.class, "v"));
        MayastorException e = assertThrows(MayastorException.class, () -> volumes.unpublish("v", "app1"));
        assertEquals(ErrorKind.NOT_FOUND, e.kind());
        assertEquals("volume v not found", e.getMessage());
    }

    private static MayastorVolume.Spec spec(long bytes) {
        MayastorVolume.Spec spec = new MayastorVolume.Spec();
        spec.setReplicaCount(3);
        spec.setRequiredBytes(bytes);
        spec.setProtocol("nvmf");
        return spec;
    }

    /**
     * Review finding: a create for an existing name compared only size and replica count, so one
     * asking for iSCSI (or thin, or local) was answered OK for the nvmf volume there, and its
     * volume_context named iSCSI. CSI: ALREADY_EXISTS for a volume not as asked.
     */
    @Test
    void aCreateForAVolumeMadeOtherwiseIsRefusedSayingHow() {
        published("v");
        MayastorVolume.Spec iscsi = spec(64L << 20);
        iscsi.setProtocol("iscsi");
        MayastorException e = assertThrows(MayastorException.class, () -> volumes.create("v", iscsi));
        assertEquals(ErrorKind.ALREADY_EXISTS, e.kind());
        assertEquals("volume v exists already shared over nvmf, not iscsi", e.getMessage());
        MayastorVolume.Spec thin = spec(64L << 20);
        thin.setThin(true);
        assertEquals("volume v exists already thick, not thin",
                assertThrows(MayastorException.class, () -> volumes.create("v", thin)).getMessage());
        MayastorVolume.Spec local = spec(64L << 20);
        local.setLocal(true);
        assertEquals("volume v exists already not local",
                assertThrows(MayastorException.class, () -> volumes.create("v", local)).getMessage());
        // grown since (an expansion): a retry of its create within its limit is the same volume
        MayastorVolume.Spec smaller = spec(32L << 20);
        assertEquals(MayastorVolume.HEALTHY, volumes.create("v", smaller).getStatus().getState());
        smaller.setLimitBytes(48L << 20);
        assertEquals("volume v exists already with 67108864 bytes and 3 replicas",
                assertThrows(MayastorException.class, () -> volumes.create("v", smaller)).getMessage());
        // review finding: a CSI retry whose range rounds otherwise (the first, under a limit, made whole 512-byte
        // blocks; the retry without one rounds to 4 KiB) was refused, though the volume holds what it asks
        MayastorVolume.Spec rounded = spec((64L << 20) + 4096); // asked: 100 bytes short of 64 MiB, rounded up past it
        assertEquals(MayastorVolume.HEALTHY, volumes.create("v", rounded, Map.of(), (64L << 20) - 100).getStatus().getState());
        assertEquals("volume v exists already with 67108864 bytes and 3 replicas", assertThrows(MayastorException.class,
                () -> volumes.create("v", rounded, Map.of(), (64L << 20) + 100)).getMessage(), "asked for more than it holds");
    }

    @Test
    void aCreateThatAnotherCallBeatsAnswersWithTheVolumeItMade() {
        store.beforeCreate(() -> {
            published("v"); // the provisioner's earlier call, made (64 MiB, 3 replicas) between our look and our create
        });
        MayastorVolume v = volumes.create("v", spec(64L << 20));
        assertEquals(1, store.createsRefused);
        assertEquals(MayastorVolume.HEALTHY, v.getStatus().getState());
        assertEquals(64L << 20, v.getSpec().getRequiredBytes());
    }

    @Test
    void aCreateThatAnotherCallBeatsWithAnotherSizeIsRefusedNamingIt() {
        store.beforeCreate(() -> published("v"));
        MayastorException e = assertThrows(MayastorException.class, () -> volumes.create("v", spec(128L << 20)));
        assertEquals(ErrorKind.ALREADY_EXISTS, e.kind());
        assertEquals("volume v exists already with 67108864 bytes and 3 replicas", e.getMessage());
        assertEquals(1, store.createsRefused);
    }

    @Test
    void aCreateVolumeCleaningUpFindsTheOtherCallCleanedUpFirst() {
        // the provisioner's two calls for one PVC: the other made the volume, nothing could be placed,
        // and it deleted the pending volume just before this call went to delete it too
        ControllerService csi = new ControllerService(volumes, registry, store, () -> null);
        store.beforeCreate(() -> {
            MayastorVolume v = new MayastorVolume();
            v.setMetadata(new ObjectMetaBuilder().withName("pvc-twice").build());
            MayastorVolume.Spec spec = spec(64L << 20);
            spec.setReplicaCount(1);
            v.setSpec(spec);
            MayastorVolume made = files.create(v);
            MayastorVolume.Status status = new MayastorVolume.Status();
            status.setState(MayastorVolume.PENDING);
            status.setReason("needs 1 pool with 64 MiB free, found 0");
            made.setStatus(status);
            files.updateStatus(made);
        });
        store.beforeDelete(() -> files.delete(MayastorVolume.class, "pvc-twice"));
        CreateVolumeRequest request = CreateVolumeRequest.newBuilder().setName("pvc-twice")
                .addVolumeCapabilities(VolumeCapability.newBuilder().setMount(VolumeCapability.MountVolume.newBuilder()
                        .setFsType("ext4")).setAccessMode(VolumeCapability.AccessMode.newBuilder()
                        .setMode(VolumeCapability.AccessMode.Mode.SINGLE_NODE_WRITER)))
                .setCapacityRange(CapacityRange.newBuilder().setRequiredBytes(64L << 20)).build();
        MayastorException e = assertThrows(MayastorException.class, () -> csi.createVolume(request, null));
        assertEquals(ErrorKind.RESOURCE_EXHAUSTED, e.kind(), e.getMessage());
        assertEquals("cannot make volume pvc-twice (pvc-twice): needs 1 pool with 64 MiB free, found 0", e.getMessage());
        assertTrue(files.get(MayastorVolume.class, "pvc-twice").isEmpty());
    }

    /** A FileStore whose next spec writes of a volume each lose to another write made just before. */
    private static final class RacingStore implements ResourceStore {
        private final FileStore files;
        private int races;
        private Consumer<MayastorVolume> competitor;
        private Runnable creator;
        private Runnable after;
        private Runnable deleter;
        int updatesRefused;
        int createsRefused;
        final List<String> events = new java.util.concurrent.CopyOnWriteArrayList<>();

        @Override
        public void event(CustomResource<?, ?> about, String type, String reason, String message) {
            events.add(type + " " + reason + ": " + message);
        }

        RacingStore(FileStore files) {
            this.files = files;
        }

        /** Runs {@code write} once, just after the next spec write lands. */
        void afterUpdate(Runnable write) {
            after = write;
        }

        /** Runs {@code delete} once, just before the next delete. */
        void beforeDelete(Runnable delete) {
            deleter = delete;
        }

        void beforeCreate(Runnable create) {
            creator = create;
        }

        void before(int times, Consumer<MayastorVolume> write) {
            races = times;
            competitor = write;
        }

        @Override
        public <T extends CustomResource<?, ?>> T update(T resource) {
            if (races > 0 && resource instanceof MayastorVolume msv) {
                races--;
                competitor.accept(files.get(MayastorVolume.class, msv.getMetadata().getName()).orElseThrow());
                try {
                    return files.update(resource);
                } catch (MayastorException e) {
                    updatesRefused += e.kind() == ErrorKind.ABORTED ? 1 : 0;
                    throw e;
                }
            }
            T written = files.update(resource);
            if (after != null) {
                Runnable then = after;
                after = null;
                then.run();
            }
            return written;
        }

        @Override
        public <T extends CustomResource<?, ?>> List<T> list(Class<T> kind) {
            return files.list(kind);
        }

        final java.util.Map<String, java.util.concurrent.atomic.AtomicInteger> gets = new java.util.concurrent.ConcurrentHashMap<>();

        int getsOf(String name) {
            return gets.computeIfAbsent(name, n -> new java.util.concurrent.atomic.AtomicInteger()).get();
        }

        @Override
        public <T extends CustomResource<?, ?>> Optional<T> get(Class<T> kind, String name) {
            gets.computeIfAbsent(name, n -> new java.util.concurrent.atomic.AtomicInteger()).incrementAndGet();
            return files.get(kind, name);
        }

        @Override
        public <T extends CustomResource<?, ?>> T create(T resource) {
            if (creator != null) {
                Runnable first = creator;
                creator = null;
                first.run();
                try {
                    return files.create(resource);
                } catch (MayastorException e) {
                    createsRefused += e.kind() == ErrorKind.ALREADY_EXISTS ? 1 : 0;
                    throw e;
                }
            }
            return files.create(resource);
        }

        @Override
        public <T extends CustomResource<?, ?>> T updateStatus(T resource) {
            return files.updateStatus(resource);
        }

        @Override
        public void delete(Class<? extends CustomResource<?, ?>> kind, String name) {
            if (deleter != null) {
                Runnable first = deleter;
                deleter = null;
                first.run();
            }
            files.delete(kind, name);
        }

        @Override
        public void addListener(Listener listener) {
            files.addListener(listener);
        }

        @Override
        public String describe() {
            return files.describe();
        }

        @Override
        public void close() {
            files.close();
        }
    }
}
