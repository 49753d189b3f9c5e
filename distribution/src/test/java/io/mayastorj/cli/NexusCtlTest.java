package io.mayastorj.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.mayastorj.api.v1.Child;
import io.mayastorj.api.v1.ChildState;
import io.mayastorj.api.v1.ChildStateReason;
import io.mayastorj.api.v1.Nexus;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Review finding: {@code nexus list --watch} exited 0 when the rebuild it watched failed (the child
 * ends FAULTED, not DEGRADED), so the demo went on to report a rebuilt volume. What ends a watch
 * with a failure is decided here.
 */
class NexusCtlTest {

    private static Nexus nexus(Child... children) {
        return Nexus.newBuilder().setName("volume").addAllChildren(List.of(children)).build();
    }

    private static Child child(String uri, ChildState state, ChildStateReason reason) {
        return Child.newBuilder().setUri(uri).setState(state).setReason(reason).build();
    }

    @Test
    void aChildSeenRebuildingThatEndsFaultedIsAFailedRebuild() {
        Nexus after = nexus(child("bdev:///a", ChildState.CHILD_ONLINE, ChildStateReason.REASON_NONE),
                child("nvmf://b", ChildState.CHILD_FAULTED, ChildStateReason.REASON_REBUILD_FAILED),
                child("nvmf://c", ChildState.CHILD_FAULTED, ChildStateReason.REASON_BY_CLIENT));
        List<String> failed = NexusCtl.failedRebuilds(List.of(after), Set.of("volume nvmf://b"));
        assertEquals(List.of("nexus volume: the rebuild of nvmf://b ended with it faulted (rebuild_failed)"), failed,
                "nvmf://c was faulted already, not by the rebuild watched");
    }

    /** Review finding: a watch went on for ever while a rebuild was paused (its child stays degraded). */
    @Test
    void aPausedRebuildEndsTheWatchAsNotDone() {
        Child paused = child("nvmf://b", ChildState.CHILD_DEGRADED, ChildStateReason.REASON_NONE).toBuilder()
                .setRebuild(io.mayastorj.api.v1.RebuildStats.newBuilder().setState("paused")).build();
        Child running = paused.toBuilder().setUri("nvmf://c")
                .setRebuild(io.mayastorj.api.v1.RebuildStats.newBuilder().setState("running")).build();
        assertTrue(!NexusCtl.rebuildsGoingOn(List.of(nexus(paused))));
        assertTrue(NexusCtl.rebuildsGoingOn(List.of(nexus(paused, running))));
        assertEquals(List.of("nexus volume: the rebuild of nvmf://b is paused (resume it with 'mayastor ctl nexus rebuild resume "
                + "volume nvmf://b')"), NexusCtl.pausedRebuilds(List.of(nexus(paused, running))));
    }

    @Test
    void aRebuiltChildOnlineIsSuccessAndOneRemovedIsNot() {
        Nexus after = nexus(child("bdev:///a", ChildState.CHILD_ONLINE, ChildStateReason.REASON_NONE),
                child("nvmf://b", ChildState.CHILD_ONLINE, ChildStateReason.REASON_NONE));
        assertTrue(NexusCtl.failedRebuilds(List.of(after), Set.of("volume nvmf://b")).isEmpty());
        assertEquals(List.of("nexus volume: nvmf://x was removed before its rebuild ended"),
                NexusCtl.failedRebuilds(List.of(after), Set.of("volume nvmf://x")));
    }
}
