package io.mayastorj.control.internal.operator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.mayastorj.api.v1.Child;
import io.mayastorj.api.v1.ChildState;
import io.mayastorj.api.v1.Nexus;
import io.mayastorj.api.v1.NexusState;
import io.mayastorj.api.v1.RebuildStats;
import io.mayastorj.control.internal.model.MayastorVolume;
import org.junit.jupiter.api.Test;

/**
 * The volume's status shows a rebuild in whole percents. Review finding: the exact figure changed at
 * every pass, so each volume being rebuilt had its status written about once a second (hours of
 * writes to the API server for a large volume).
 */
class NexusStatusTest {

    private static Child child(String uri, ChildState state, double progress) {
        return Child.newBuilder().setUri(uri).setState(state)
                .setRebuild(RebuildStats.newBuilder().setState("running").setProgress(progress)).build();
    }

    @Test
    void aRebuildsProgressIsShownInWholePercents() {
        Nexus nexus = Nexus.newBuilder().setName("v").setState(NexusState.NEXUS_DEGRADED)
                .addChildren(child("nvmf://a/r1", ChildState.CHILD_ONLINE, 100))
                .addChildren(child("nvmf://b/r2", ChildState.CHILD_DEGRADED, 37.2538))
                .build();
        MayastorVolume.Nexus first = VolumeOperator.describe(nexus, "node-a", "u");
        assertEquals("degraded", first.getState());
        assertNull(first.getChildren().get(0).getRebuildProgress(), "an online child shows none");
        assertEquals(37.0, first.getChildren().get(1).getRebuildProgress());

        Nexus later = nexus.toBuilder().setChildren(1, child("nvmf://b/r2", ChildState.CHILD_DEGRADED, 37.9)).build();
        assertTrue(Statuses.same(first, VolumeOperator.describe(later, "node-a", "u")), "nothing to write until the next percent");
    }
}
