package io.mayastorj.control.internal.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Kubernetes' rule for a condition's lastTransitionTime: it changes when the status does, not when
 * the reason or message does. Review finding: a pool going from pending to offline (False both),
 * or a message counting replicas, reset it.
 */
class ConditionTest {

    private static final String LONG_AGO = "2026-01-01T00:00:00Z";

    @Test
    void aNewReasonOrMessageKeepsTheTransitionTime() {
        List<Condition> before = List.of(new Condition("Ready", false, "Pending", "node n1 is not registered", LONG_AGO));
        Condition after = Condition.ready(before, false, "offline", "node n1 is offline", 3L).get(0);
        assertEquals(LONG_AGO, after.getLastTransitionTime());
        assertEquals("Offline", after.getReason());
        assertEquals("node n1 is offline", after.getMessage());
        assertEquals(3L, after.getObservedGeneration(), "the spec it was set from, as Kubernetes' conditions say");
    }

    @Test
    void aNewStatusIsATransition() {
        List<Condition> before = List.of(new Condition("Ready", false, "Pending", "node n1 is not registered", LONG_AGO));
        assertNotEquals(LONG_AGO, Condition.ready(before, true, "online", null, 3L).get(0).getLastTransitionTime());
    }

    /** Review finding: a degraded volume, still serving, showed only Ready False: a health check took it for down. */
    @Test
    void aDegradedVolumeIsAvailableThoughNotReady() {
        List<Condition> degraded = Condition.readyAndAvailable(null, false, true, "degraded", "replica r3 faulted", 4L);
        assertEquals(List.of("Ready False Degraded", "Available True Degraded"), degraded.stream()
                .map(c -> c.getType() + " " + c.getStatus() + " " + c.getReason()).toList());
        List<Condition> offline = Condition.readyAndAvailable(degraded, false, false, "offline", "no replica", 5L);
        assertEquals(degraded.get(0).getLastTransitionTime(), offline.get(0).getLastTransitionTime(), "Ready stayed False");
        assertEquals("False", offline.get(1).getStatus());
    }

    /** Review finding: a pool whose node cannot be reached said Ready False; Kubernetes says Unknown then. */
    @Test
    void aStateThatCannotBeSeenIsUnknown() {
        Condition c = Condition.readyUnknown(List.of(new Condition("Ready", true, "Online", null, LONG_AGO)), "offline",
                "node n1 is offline", 2L).get(0);
        assertEquals("Unknown", c.getStatus());
        assertEquals("Offline", c.getReason());
        assertNotEquals(LONG_AGO, c.getLastTransitionTime(), "a transition from True");
    }
}
