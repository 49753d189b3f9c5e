package io.mayastorj.control.internal.operator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.mayastorj.core.error.MayastorException;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntFunction;
import org.junit.jupiter.api.Test;

class ReconcilerTest {

    /** How a key's passes went: how long until one succeeded, how many ran, how many the reconciler counted failed. */
    private record Run(long millis, int passes, long failures) {
    }

    /** Reconciles one key whose pass N throws what {@code failure} gives for N (null: it succeeds). */
    private static Run reconcile(IntFunction<MayastorException> failure) throws InterruptedException {
        try (Reconciler reconciler = new Reconciler(Duration.ofMinutes(10), 2)) {
            AtomicInteger passes = new AtomicInteger();
            CountDownLatch done = new CountDownLatch(1);
            reconciler.handle("v", name -> {
                MayastorException e = failure.apply(passes.incrementAndGet());
                if (e != null) {
                    throw e;
                }
                done.countDown();
            }, () -> { });
            reconciler.start();
            long start = System.nanoTime();
            reconciler.enqueue("v", "v1");
            assertTrue(done.await(5, TimeUnit.SECONDS));
            return new Run(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start), passes.get(), reconciler.failures());
        }
    }

    /**
     * Review finding: a pass that threw an Error (a class gone in a bundle refresh) ended its worker
     * thread, its key taken as done; two such and the reconciler (two workers here) did nothing
     * more. It is a failed pass, retried, and the worker goes on.
     */
    @Test
    void aPassThatThrowsAnErrorIsAFailureAndTheWorkersGoOn() throws Exception {
        try (Reconciler reconciler = new Reconciler(Duration.ofMinutes(10), 2)) {
            AtomicInteger passes = new AtomicInteger();
            CountDownLatch done = new CountDownLatch(1);
            reconciler.handle("v", name -> {
                if (passes.incrementAndGet() <= 3) {
                    throw new NoClassDefFoundError("io/mayastorj/gone/Helper");
                }
                done.countDown();
            }, () -> { });
            reconciler.start();
            reconciler.enqueue("v", "v1");
            assertTrue(done.await(15, TimeUnit.SECONDS), "retried until it succeeded: " + passes.get() + " passes");
            assertEquals(3, reconciler.failures());
            assertTrue(reconciler.stop(), "every worker stopped");
        }
    }

    @Test
    void aPassThatLosesARaceRunsAgainAtOnceAndIsNoFailure() throws Exception {
        // the resource changed under its first three passes
        Run run = reconcile(n -> n <= 3 ? MayastorException.aborted("mayastorvolume v1 was changed meanwhile") : null);
        assertTrue(run.millis() < 900, "no backoff after a race (a failure waits 1 s first): " + run.millis() + " ms");
        assertEquals(4, run.passes());
        assertEquals(0, run.failures());
    }

    @Test
    void aPassThatKeepsLosingWaitsAsAFailureDoes() throws Exception {
        Run run = reconcile(n -> n <= 11 ? MayastorException.aborted("mayastorvolume v1 was changed meanwhile") : null);
        assertTrue(run.millis() >= 1000, "ten passes at once after the first, then the backoff's 1 s: " + run.millis() + " ms");
        assertEquals(12, run.passes());
    }

    @Test
    void aFailedPassIsRetriedAfterTheBackoff() throws Exception {
        Run run = reconcile(n -> n == 1 ? MayastorException.unavailable("node s1 is away") : null);
        assertTrue(run.millis() >= 1000, run.millis() + " ms");
        assertEquals(2, run.passes());
        assertEquals(1, run.failures());
    }

    /**
     * Review finding: a node's event resynced on the caller's thread — NATS's dispatcher, which then
     * held every other node's heartbeat while a listing waited on an API server that restarts.
     */
    @Test
    void aResyncAskedForRunsOnAWorkerNotOnTheCaller() throws Exception {
        try (Reconciler reconciler = new Reconciler(Duration.ofMinutes(10), 1)) {
            CountDownLatch release = new CountDownLatch(1);
            CountDownLatch listed = new CountDownLatch(2);
            reconciler.handle("v", name -> { }, () -> {
                listed.countDown();
                if (listed.getCount() == 0) {
                    try {
                        release.await(); // the API server not answering
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            });
            reconciler.start(); // the first listing, at start
            long start = System.nanoTime();
            reconciler.resyncSoon();
            assertTrue(System.nanoTime() - start < TimeUnit.MILLISECONDS.toNanos(500), "the caller is not held");
            assertTrue(listed.await(5, TimeUnit.SECONDS), "a worker lists, well before the 10 min period");
            release.countDown();
        }
    }

    /**
     * Review finding: a resync that threw (the API server away while it listed) ended the worker that
     * ran it; after a few sync periods no worker was left and nothing was reconciled any more.
     */
    @Test
    void aResyncThatFailsEndsNoWorker() throws Exception {
        try (Reconciler reconciler = new Reconciler(Duration.ofMillis(50), 1)) {
            AtomicInteger listings = new AtomicInteger();
            CountDownLatch reconciled = new CountDownLatch(1);
            reconciler.handle("v", name -> reconciled.countDown(), () -> {
                if (listings.incrementAndGet() > 1) { // the first, at start, works
                    throw MayastorException.unavailable("the Kubernetes API server cannot be reached");
                }
            });
            reconciler.start();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (listings.get() < 4) {
                assertTrue(System.nanoTime() < deadline, "the worker stopped resyncing after " + listings.get() + " listings");
                Thread.sleep(10);
            }
            reconciler.enqueue("v", "v1");
            assertTrue(reconciled.await(5, TimeUnit.SECONDS), "the one worker is still there");
        }
    }
}
