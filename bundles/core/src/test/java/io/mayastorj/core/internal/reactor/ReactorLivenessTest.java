package io.mayastorj.core.internal.reactor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ReactorLivenessTest {

    private final ReactorGroupImpl group = new ReactorGroupImpl(2);

    @AfterEach
    void stop() {
        group.stop();
    }

    @Test
    void turningReactorsAreLiveAndAStuckOneIsNamed() throws Exception {
        ReactorLiveness liveness = new ReactorLiveness(group);
        assertNull(liveness.notLive());
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch stuck = new CountDownLatch(1);
        group.reactors().get(1).execute(() -> {
            stuck.countDown();
            try {
                release.await(); // a blocking call on a reactor: what the probe is there to catch
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        stuck.await();
        assertEquals("reactor(s) [" + group.reactors().get(1).id() + "] ran no task in 2000 ms", liveness.notLive());
        release.countDown();
        Thread.sleep(50);
        assertNull(liveness.notLive(), "turning again");
    }
}
