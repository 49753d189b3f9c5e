package io.mayastorj.control.internal.operator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.mayastorj.core.error.MayastorException;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class ReconcilerTest {

    @Test
    void aPassThatLosesARaceRunsAgainAtOnceAndIsNoFailure() throws Exception {
        try (Reconciler reconciler = new Reconciler(Duration.ofMinutes(10), 2)) {
            AtomicInteger passes = new AtomicInteger();
            CountDownLatch done = new CountDownLatch(1);
            reconciler.handle("v", name -> {
                if (passes.incrementAndGet() <= 3) { // the resource changed under its first three passes
                    throw MayastorException.aborted("mayastorvolume %s was changed meanwhile", name);
                }
                done.countDown();
            }, () -> { });
            reconciler.start();
            long start = System.nanoTime();
            reconciler.enqueue("v", "v1");
            assertTrue(done.await(5, TimeUnit.SECONDS));
            long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertTrue(millis < 900, "no backoff after a race (a failure waits 1 s first): " + millis + " ms");
            assertEquals(4, passes.get());
            assertEquals(0, reconciler.failures());
        }
    }

    @Test
    void aPassThatKeepsLosingWaitsAsAFailureDoes() throws Exception {
        try (Reconciler reconciler = new Reconciler(Duration.ofMinutes(10), 1)) {
            AtomicInteger passes = new AtomicInteger();
            reconciler.handle("v", name -> {
                passes.incrementAndGet();
                throw MayastorException.aborted("mayastorvolume %s was changed meanwhile", name);
            }, () -> { });
            reconciler.start();
            reconciler.enqueue("v", "v1");
            Thread.sleep(700);
            assertEquals(11, passes.get(), "ten passes at once after the first, then the backoff's 1 s");
        }
    }

    @Test
    void aFailedPassIsRetriedAfterTheBackoff() throws Exception {
        try (Reconciler reconciler = new Reconciler(Duration.ofMinutes(10), 1)) {
            AtomicInteger passes = new AtomicInteger();
            CountDownLatch done = new CountDownLatch(1);
            reconciler.handle("v", name -> {
                if (passes.incrementAndGet() == 1) {
                    throw MayastorException.unavailable("node s1 is away");
                }
                done.countDown();
            }, () -> { });
            reconciler.start();
            long start = System.nanoTime();
            reconciler.enqueue("v", "v1");
            assertTrue(done.await(5, TimeUnit.SECONDS));
            assertTrue(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) >= 1000);
            assertEquals(1, reconciler.failures());
        }
    }
}
