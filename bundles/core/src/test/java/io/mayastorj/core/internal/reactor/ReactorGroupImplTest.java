package io.mayastorj.core.internal.reactor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.mayastorj.core.error.MayastorException;
import io.mayastorj.core.reactor.Reactor;
import java.nio.ByteBuffer;
import java.nio.channels.Pipe;
import java.nio.channels.SelectionKey;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ReactorGroupImplTest {

    private final ReactorGroupImpl group = new ReactorGroupImpl(2);

    @AfterEach
    void stop() {
        group.stop();
    }

    @Test
    void tasksRunOnTheReactorThreadInTheOrderPosted() throws Exception {
        Reactor reactor = group.reactors().get(0);
        List<Integer> order = Collections.synchronizedList(new ArrayList<>());
        CountDownLatch done = new CountDownLatch(1000);
        AtomicReference<Boolean> onReactor = new AtomicReference<>(true);
        for (int i = 0; i < 1000; i++) {
            int n = i;
            reactor.execute(() -> {
                order.add(n);
                if (!reactor.inReactor() || group.current().orElse(null) != reactor) {
                    onReactor.set(false);
                }
                done.countDown();
            });
        }
        assertTrue(done.await(5, TimeUnit.SECONDS));
        assertTrue(onReactor.get());
        for (int i = 0; i < 1000; i++) {
            assertEquals(i, order.get(i));
        }
        assertFalse(reactor.inReactor());
        assertTrue(group.current().isEmpty());
    }

    @Test
    void nextHandsOutReactorsInTurn() {
        Reactor a = group.next();
        Reactor b = group.next();
        assertEquals(1 - a.id(), b.id());
        assertSame(a, group.next());
    }

    @Test
    void timersFireAfterTheirDelayUnlessCancelled() throws Exception {
        Reactor reactor = group.reactors().get(1);
        long start = System.nanoTime();
        CompletableFuture<Long> fired = new CompletableFuture<>();
        reactor.schedule(50, TimeUnit.MILLISECONDS, () -> fired.complete(System.nanoTime()));
        CompletableFuture<Boolean> cancelledRan = new CompletableFuture<>();
        reactor.schedule(20, TimeUnit.MILLISECONDS, () -> cancelledRan.complete(true)).cancel();
        long elapsed = TimeUnit.NANOSECONDS.toMillis(fired.get(5, TimeUnit.SECONDS) - start);
        assertTrue(elapsed >= 50, "fired after " + elapsed + " ms");
        assertFalse(cancelledRan.isDone());
    }

    /**
     * Review finding: a turn ran the tasks its tasks posted too, so a chain posting its next step (a
     * copy over a device that answers at once) held the reactor for the whole chain: no timer, no
     * poller, no socket — an NVMe/TCP controller's keep-alive check then found its host silent.
     */
    @Test
    void aTaskChainDoesNotHoldTheReactorsTimers() throws Exception {
        Reactor reactor = group.reactors().get(0);
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
        CompletableFuture<Void> chainDone = new CompletableFuture<>();
        Runnable[] step = new Runnable[1];
        step[0] = () -> {
            if (System.nanoTime() < end) {
                reactor.execute(step[0]);
            } else {
                chainDone.complete(null);
            }
        };
        long start = System.nanoTime();
        CompletableFuture<Long> fired = new CompletableFuture<>();
        reactor.execute(() -> {
            reactor.schedule(10, TimeUnit.MILLISECONDS, () -> fired.complete(System.nanoTime()));
            reactor.execute(step[0]);
        });
        long elapsed = TimeUnit.NANOSECONDS.toMillis(fired.get(5, TimeUnit.SECONDS) - start);
        assertTrue(elapsed < 500, "the 10 ms timer fired after " + elapsed + " ms");
        chainDone.get(5, TimeUnit.SECONDS);
    }

    @Test
    void aRegisteredChannelIsServedWhenReady() throws Exception {
        Reactor reactor = group.reactors().get(0);
        Pipe pipe = Pipe.open();
        CompletableFuture<String> received = new CompletableFuture<>();
        reactor.execute(() -> {
            try {
                reactor.register(pipe.source(), SelectionKey.OP_READ, key -> {
                    ByteBuffer b = ByteBuffer.allocate(16);
                    try {
                        pipe.source().read(b);
                    } catch (java.io.IOException e) {
                        received.completeExceptionally(e);
                    }
                    received.complete(new String(b.array(), 0, b.position()));
                    key.cancel();
                });
            } catch (java.io.IOException e) {
                received.completeExceptionally(e);
            }
        });
        pipe.sink().write(ByteBuffer.wrap("ping".getBytes()));
        assertEquals("ping", received.get(5, TimeUnit.SECONDS));
        pipe.sink().close();
        pipe.source().close();
    }

    /**
     * Review finding: a task that ran before a ready key's handler (posted by the handler of another
     * key of the same select) closed that key's owner, and the handler still ran on the dead key —
     * for a bdev queue's eventfd, a read into memory the close had freed.
     */
    @Test
    void aHandlerWhoseKeyATaskCancelledInTheSameTurnIsNotCalled() throws Exception {
        Reactor reactor = group.reactors().get(0);
        Pipe a = Pipe.open();
        Pipe b = Pipe.open();
        List<Boolean> validWhenCalled = Collections.synchronizedList(new ArrayList<>());
        CountDownLatch registered = new CountDownLatch(1);
        reactor.execute(() -> {
            try {
                SelectionKey[] keys = new SelectionKey[2];
                Pipe[] pipes = {a, b};
                for (int i = 0; i < 2; i++) {
                    int other = 1 - i;
                    keys[i] = reactor.register(pipes[i].source(), SelectionKey.OP_READ, key -> {
                        validWhenCalled.add(key.isValid());
                        if (!key.isValid()) {
                            return;
                        }
                        ByteBuffer drain = ByteBuffer.allocate(16);
                        try {
                            ((Pipe.SourceChannel) key.channel()).read(drain);
                        } catch (java.io.IOException e) {
                            throw new java.io.UncheckedIOException(e);
                        }
                        reactor.execute(() -> keys[other].cancel()); // closes the other's owner, as a bdev close would
                    });
                }
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            registered.countDown();
        });
        assertTrue(registered.await(5, TimeUnit.SECONDS));
        CountDownLatch hold = new CountDownLatch(1);
        reactor.execute(() -> {
            try {
                hold.await(); // both become ready while the reactor is busy: one select reports both
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        a.sink().write(ByteBuffer.wrap(new byte[] {1}));
        b.sink().write(ByteBuffer.wrap(new byte[] {1}));
        hold.countDown();
        CompletableFuture<Void> turn = new CompletableFuture<>();
        Thread.sleep(200);
        reactor.execute(() -> turn.complete(null));
        turn.get(5, TimeUnit.SECONDS);
        assertEquals(List.of(true), validWhenCalled, "only the first handler ran; the other's key was cancelled before it");
        for (Pipe p : List.of(a, b)) {
            p.sink().close();
            p.source().close();
        }
    }

    /** Review finding: a task posted to a stopped reactor was dropped (an I/O's callback never ran); it runs. */
    @Test
    void aTaskPostedAfterTheReactorStoppedStillRuns() throws Exception {
        ReactorGroupImpl stopped = new ReactorGroupImpl(1);
        Reactor reactor = stopped.reactors().get(0);
        stopped.stop();
        CountDownLatch ran = new CountDownLatch(1);
        reactor.execute(ran::countDown);
        assertTrue(ran.await(1, TimeUnit.SECONDS), "ran, on the poster's thread");
        // a task that posts its next step (a copy loop) runs them one after another, not recursing
        java.util.concurrent.atomic.AtomicInteger steps = new java.util.concurrent.atomic.AtomicInteger();
        Runnable[] step = new Runnable[1];
        step[0] = () -> {
            if (steps.incrementAndGet() < 100_000) {
                reactor.execute(step[0]);
            }
        };
        reactor.execute(step[0]);
        assertEquals(100_000, steps.get());
    }

    @Test
    void registeringFromAnotherThreadIsRefused() throws Exception {
        Pipe pipe = Pipe.open();
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> group.reactors().get(0).register(pipe.source(), SelectionKey.OP_READ, key -> { }));
        assertEquals("register must be called on reactor-0", e.getMessage());
    }

    @Test
    void aFailingTaskDoesNotStopTheReactor() throws Exception {
        Reactor reactor = group.reactors().get(0);
        reactor.execute(() -> {
            throw new IllegalStateException("boom (expected by the test)");
        });
        CompletableFuture<Boolean> after = new CompletableFuture<>();
        reactor.execute(() -> after.complete(true));
        assertTrue(after.get(5, TimeUnit.SECONDS));
    }

    /**
     * Review finding: a poller whose prepareToSleep threw ended every turn of the loop before its
     * sleep: a reactor with nothing to do spun at 100% and logged an error line per turn. It is looked
     * at every 100 ms instead, and said once.
     */
    @Test
    void aPollerThatFailsToPrepareForSleepDoesNotSpinTheReactor() throws Exception {
        ReactorThread reactor = (ReactorThread) group.reactors().get(0);
        java.util.concurrent.atomic.AtomicInteger prepared = new java.util.concurrent.atomic.AtomicInteger();
        ReactorThread.Poller broken = new ReactorThread.Poller() {
            @Override
            public boolean poll() {
                return false;
            }

            @Override
            public long prepareToSleep() {
                prepared.incrementAndGet();
                throw new java.nio.channels.CancelledKeyException();
            }

            @Override
            public void close() {
            }
        };
        CompletableFuture<Void> added = new CompletableFuture<>();
        reactor.execute(() -> {
            reactor.addPoller(broken);
            added.complete(null);
        });
        added.get(5, TimeUnit.SECONDS);
        Thread.sleep(200);
        int before = prepared.get();
        Thread.sleep(1000);
        int turns = prepared.get() - before;
        assertTrue(turns <= 15, turns + " turns in a second: the reactor spins");
        CompletableFuture<Void> removed = new CompletableFuture<>();
        reactor.execute(() -> {
            reactor.removePoller(broken);
            removed.complete(null);
        });
        removed.get(5, TimeUnit.SECONDS);
    }

    /** A poller that takes {@code closeMillis} to close, then throws {@code thrown} (if any). */
    private static ReactorThread.Poller slowToClose(long closeMillis, Error thrown) {
        return new ReactorThread.Poller() {
            @Override
            public boolean poll() {
                return false;
            }

            @Override
            public long prepareToSleep() {
                return 0;
            }

            @Override
            public void close() {
                try {
                    Thread.sleep(closeMillis);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                if (thrown != null) {
                    throw thrown;
                }
            }
        };
    }

    private static Thread addPoller(Reactor reactor, ReactorThread.Poller poller) throws Exception {
        CompletableFuture<Thread> added = new CompletableFuture<>();
        reactor.execute(() -> {
            ((ReactorThread) reactor).addPoller(poller);
            added.complete(Thread.currentThread());
        });
        return added.get(5, TimeUnit.SECONDS);
    }

    /**
     * Review finding: stop waited 2 s per reactor, while a reactor's I/O queues let what is in flight
     * finish for up to 10 s as they close; the buffer pool, stopped next, unmapped memory those requests
     * still held. Stop waits for the reactors' queues.
     */
    @Test
    void stopWaitsForAReactorStillClosingItsQueues() throws Exception {
        ReactorGroupImpl slow = new ReactorGroupImpl(1);
        Thread thread = addPoller(slow.reactors().get(0), slowToClose(3000, null));
        slow.stop();
        assertFalse(thread.isAlive(), "the reactor was still closing its queues when stop returned");
    }

    /** Review finding: an Error from a poller's close ended the reactor without its post-stop hand-over: later tasks never ran. */
    @Test
    void aPollerThrowingAnErrorAsItClosesLeavesTasksRunnable() throws Exception {
        ReactorGroupImpl broken = new ReactorGroupImpl(1);
        Reactor reactor = broken.reactors().get(0);
        addPoller(reactor, slowToClose(0, new AssertionError("expected by the test")));
        broken.stop();
        CountDownLatch ran = new CountDownLatch(1);
        reactor.execute(ran::countDown);
        assertTrue(ran.await(1, TimeUnit.SECONDS), "a task posted after the stop never ran");
    }

    /** Review finding: a delay of "never" wrapped its deadline negative and held every timer behind it. */
    @Test
    void aTimerForNeverDoesNotHoldTheOthers() throws Exception {
        Reactor reactor = group.reactors().get(0);
        reactor.schedule(Long.MAX_VALUE, TimeUnit.NANOSECONDS, () -> { });
        CountDownLatch fired = new CountDownLatch(1);
        reactor.schedule(1, TimeUnit.MILLISECONDS, fired::countDown);
        assertTrue(fired.await(2, TimeUnit.SECONDS), "the 1 ms timer never fired");
    }

    @Test
    void aBadReactorCountIsRefused() {
        assertEquals("reactors=0: expected 1..64",
                assertThrows(MayastorException.class, () -> new ReactorGroupImpl(0)).getMessage());
    }
}
