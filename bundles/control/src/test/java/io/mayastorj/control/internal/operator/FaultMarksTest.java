package io.mayastorj.control.internal.operator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.mayastorj.api.v1.Child;
import io.mayastorj.api.v1.ChildState;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** When the children the last writer faulted are marked behind in the volume's status. */
class FaultMarksTest {

    private static final String R1 = "00000000-0000-4000-8000-0000000000a1";
    private static final String R2 = "00000000-0000-4000-8000-0000000000a2";

    private static Child child(String replica, ChildState state) {
        return Child.newBuilder().setUri("nvmf://10.0.0.1:8420/nqn.2019-05.io.openebs:" + replica + "?uuid=" + replica)
                .setState(state).build();
    }

    private static VolumeOperator.Live live(String node, String replica) {
        return new VolumeOperator.Live(node, "p-" + node, replica, "", List.of(), 1L << 30);
    }

    /**
     * Review finding: the nexus on t faulted R2 and kept R1 in sync; R1's node a went quiet before a pass
     * wrote the mark. Only live replicas were asked whether one was in sync, so the mark was thrown
     * away, R2 passed for in sync, and once a's replica was given up the stale R2 was the volume's source.
     */
    @Test
    void aNexusWithAChildInSyncOnANodeGoneQuietStillMarksItsFaultedChild() {
        List<Child> children = List.of(child(R1, ChildState.CHILD_ONLINE), child(R2, ChildState.CHILD_FAULTED));
        assertTrue(VolumeOperator.faultMarksHold(children, List.of(live("b", R2)), Set.of(), Set.of(R2)));
    }

    /**
     * Review finding: a nexus fenced by a takeover, found on the node a volume moved back to, was kept:
     * it failed every I/O, and its children (as they were when it stopped) cleared stale replicas' marks.
     */
    @Test
    void aFencedNexusIsSupersededOneWhoseChildrenFaultedOrWhosePathMovesIsNot() {
        io.mayastorj.api.v1.Nexus fenced = io.mayastorj.api.v1.Nexus.newBuilder().setState(io.mayastorj.api.v1.NexusState.NEXUS_FAULTED)
                .setAnaState(io.mayastorj.api.v1.NvmeAnaState.NVME_ANA_INACCESSIBLE_STATE).build();
        assertTrue(VolumeOperator.superseded(fenced));
        assertFalse(VolumeOperator.superseded(fenced.toBuilder().setAnaState(io.mayastorj.api.v1.NvmeAnaState.NVME_ANA_OPTIMIZED_STATE)
                .build()), "every child faulted: its path stays accessible");
        assertFalse(VolumeOperator.superseded(fenced.toBuilder().setState(io.mayastorj.api.v1.NexusState.NEXUS_ONLINE).build()),
                "set inaccessible for a move: it still reads from its children");
    }

    private static final String R3 = "00000000-0000-4000-8000-0000000000a3";

    /** What the nexus record calls in sync decides the marks where the status's disagree. */
    @Test
    void theRecordMarksWhatItLeavesOutAndIsTakenWholeWhereTheStatusHasNothingInCommonWithIt() {
        List<VolumeOperator.Live> live = List.of(live("a", R1), live("b", R2), live("c", R3));
        java.util.Set<String> behind = new java.util.HashSet<>(Set.of(R3));
        assertTrue(VolumeOperator.applyRecord(Set.of(R1), live, behind), "R2 left out");
        assertEquals(Set.of(R2, R3), behind);
        // review finding: the status said R1 in sync and R2 behind, the record (R2 rebuilt, R1 reattached at
        // shutdown) R2: a nexus made from the status alone was refused by its node at every pass
        behind = new java.util.HashSet<>(Set.of(R2, R3));
        assertTrue(VolumeOperator.applyRecord(Set.of(R2), live, behind));
        assertEquals(Set.of(R1, R3), behind);
        behind = new java.util.HashSet<>(Set.of(R2));
        assertFalse(VolumeOperator.applyRecord(Set.of("00000000-0000-4000-8000-0000000000ff"), live, behind),
                "a record naming no live replica changes nothing");
        assertEquals(Set.of(R2), behind);
    }

    @Test
    void aNexusWithNoChildInSyncLeavesTheStatusAsItIs() {
        List<Child> children = List.of(child(R1, ChildState.CHILD_FAULTED), child(R2, ChildState.CHILD_FAULTED));
        assertFalse(VolumeOperator.faultMarksHold(children, List.of(live("a", R1), live("b", R2)), Set.of(), Set.of(R1, R2)));
    }

    @Test
    void aLiveReplicaInSyncOutsideTheNexusIsEnough() {
        List<Child> children = List.of(child(R2, ChildState.CHILD_FAULTED));
        assertTrue(VolumeOperator.faultMarksHold(children, List.of(live("a", R1), live("b", R2)), Set.of(), Set.of(R2)));
    }
}
