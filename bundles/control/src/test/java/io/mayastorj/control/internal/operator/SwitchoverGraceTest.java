package io.mayastorj.control.internal.operator;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * A switch-over never comes before a frozen nexus distrusts its last look at its record. Found by
 * SwitchOverTest in CI: with a 3 s grace and 1 s heartbeats a node frozen just after a beat was
 * replaced 2.7 s later, and on thawing its nexus, whose last look was under 3 s old, served a read
 * from its own stale replica.
 */
class SwitchoverGraceTest {

    @Test
    void aGraceShorterThanAHeartbeatAndTheNexussTrustIsRaised() {
        assertEquals(Duration.ofSeconds(5), VolumeOperator.switchoverGrace(Duration.ofSeconds(3), Duration.ofSeconds(1)));
        assertEquals(Duration.ofSeconds(9), VolumeOperator.switchoverGrace(Duration.ofSeconds(8), Duration.ofSeconds(5)));
    }

    @Test
    void aLongEnoughGraceIsKept() {
        assertEquals(Duration.ofSeconds(10), VolumeOperator.switchoverGrace(Duration.ofSeconds(10), Duration.ofSeconds(5)));
        assertEquals(Duration.ofSeconds(5), VolumeOperator.switchoverGrace(Duration.ofSeconds(5), Duration.ofSeconds(1)));
    }
}
