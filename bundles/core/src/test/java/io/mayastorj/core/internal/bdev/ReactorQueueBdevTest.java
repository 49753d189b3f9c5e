package io.mayastorj.core.internal.bdev;

import static io.mayastorj.core.bdev.BlockingIo.read;
import static io.mayastorj.core.bdev.BlockingIo.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.core.internal.reactor.ReactorGroupImpl;
import io.mayastorj.core.reactor.Reactor;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * What a file bdev with a queue per reactor owes beyond the file-bdev contract (io_uring's
 * {@link UringQueue}, aio's {@link AioQueue}): requests made on a reactor complete on that reactor,
 * any number of them; a reactor can close a device it has I/O on; requests off the reactors complete
 * on the device's own reaper; an idle reactor sleeps; the reactor allocates nothing per request.
 */
abstract class ReactorQueueBdevTest extends FileBdevTest {

    static final Duration T = Duration.ofSeconds(10);
    /** Each test class's own: the last class stops them. */
    static ReactorGroupImpl REACTORS;

    @BeforeAll
    static void startReactors() {
        REACTORS = new ReactorGroupImpl(2);
    }

    @AfterAll
    static void stopReactors() {
        REACTORS.stop();
    }

    @AfterEach
    void closeQueues() {
        deactivate(factory);
    }

    /** The class of the devices the factory makes when its queues run. */
    abstract Class<? extends FileBdev> deviceClass();

    /** Requests in flight at once on one reactor's queue. */
    abstract int reactorSlots();

    /** The name of a device's reaper thread, without the device's name. */
    abstract String reaperPrefix();

    abstract void deactivate(FileBdevFactory factory);

    @Test
    void requestsMadeOnAReactorCompleteOnThatReactorAndBeyondTheSlotsStillComplete() throws Exception {
        FileBdev d = open(file("disk.img", 32 << 20), "");
        assertInstanceOf(deviceClass(), d);
        int requests = reactorSlots() * 4; // each reactor makes twice its slots in one task: half wait
        List<DmaBuffer> patterns = new ArrayList<>();
        for (int i = 0; i < reactorSlots(); i++) {
            DmaBuffer b = buffers.allocate(4096);
            TestPool.fill(b, 4096, i);
            patterns.add(b);
        }
        ConcurrentLinkedQueue<String> wrongThread = new ConcurrentLinkedQueue<>();
        AtomicInteger failures = new AtomicInteger();
        CountDownLatch done = new CountDownLatch(requests);
        for (Reactor reactor : REACTORS.reactors()) {
            IoCompletion<Integer> check = (status, i) -> {
                if (!reactor.inReactor()) {
                    wrongThread.add("write " + i + " completed on " + Thread.currentThread().getName());
                }
                if (!status.isSuccess()) {
                    failures.incrementAndGet();
                }
                done.countDown();
            };
            reactor.execute(() -> {
                for (int i = reactor.id(); i < requests; i += 2) {
                    d.write(patterns.get(i % reactorSlots()), 0, i * 8L, 8, check, i);
                }
            });
        }
        assertTrue(done.await(30, TimeUnit.SECONDS), "all writes complete");
        assertEquals(List.of(), List.copyOf(wrongThread));
        assertEquals(0, failures.get());
        DmaBuffer in = buffers.allocate(4096);
        for (int i = 0; i < requests; i += 101) {
            assertEquals(IoStatus.SUCCESS, read(d, in, 0, i * 8L, 8, T)); // from a test thread
            assertArrayEquals(TestPool.bytes(patterns.get(i % reactorSlots()), 0, 4096), TestPool.bytes(in, 0, 4096),
                    "block " + i);
        }
        assertEquals(requests, d.stats().writeOps());
        d.close();
    }

    @Test
    void aCompletionThatClosesADeviceOnTheSameQueueCompletesEveryRequestOnce() throws Exception {
        FileBdev first = open(file("first.img", 8 << 20), "");
        FileBdev second = open(file("second.img", 8 << 20), "");
        DmaBuffer b = buffers.allocate(4096);
        Reactor reactor = REACTORS.reactors().get(0);
        int each = 64;
        java.util.concurrent.atomic.AtomicIntegerArray calls = new java.util.concurrent.atomic.AtomicIntegerArray(2 * each);
        CountDownLatch done = new CountDownLatch(2 * each);
        IoCompletion<Integer> count = (status, i) -> {
            calls.incrementAndGet(i);
            done.countDown();
        };
        IoCompletion<Integer> closing = (status, i) -> {
            if (i == 0) {
                second.close(); // reaps the second device's requests from inside this reap
            }
            count.ioDone(status, i);
        };
        reactor.execute(() -> {
            for (int i = 0; i < each; i++) {
                first.write(b, 0, i * 8L, 8, closing, i);
                second.write(b, 0, i * 8L, 8, count, each + i);
            }
        });
        assertTrue(done.await(10, TimeUnit.SECONDS), "every request completed");
        Thread.sleep(100); // a second completion would come now
        for (int i = 0; i < 2 * each; i++) {
            assertEquals(1, calls.get(i), "request " + i + " completed once");
        }
        assertTrue(second.isClosed());
        first.close();
    }

    @Test
    void closingTheQueuesEndsEveryRequestIncludingTheOnesWaitingForASlot() throws Exception {
        FileBdevFactory own = factory();
        Path path = file("disk.img", 16 << 20);
        FileBdev d = (FileBdev) own.create(BdevUri.parse(scheme + "://" + path));
        DmaBuffer b = buffers.allocate(4096);
        int requests = reactorSlots() + 100;
        AtomicInteger succeeded = new AtomicInteger();
        AtomicInteger aborted = new AtomicInteger();
        CountDownLatch done = new CountDownLatch(requests);
        IoCompletion<Object> count = (status, ctx) -> {
            (status == IoStatus.SUCCESS ? succeeded : status == IoStatus.ABORTED ? aborted : new AtomicInteger())
                    .incrementAndGet();
            done.countDown();
        };
        Reactor reactor = REACTORS.reactors().get(0);
        reactor.execute(() -> {
            for (int i = 0; i < requests; i++) {
                d.write(b, 0, (i % 4096) * 8L, 8, count, null);
            }
            deactivate(own); // posts the queues' close behind this task: 100 requests still wait for a slot
        });
        assertTrue(done.await(20, TimeUnit.SECONDS), "every request ended: " + succeeded + " written, " + aborted
                + " aborted, of " + requests);
        assertEquals(requests, succeeded.get() + aborted.get());
        CompletableFuture<IoStatus> late = new CompletableFuture<>();
        reactor.execute(() -> d.write(b, 0, 0, 1, (status, ctx) -> late.complete(status), null));
        assertEquals(IoStatus.ABORTED, late.get(10, TimeUnit.SECONDS), "a request to a closed queue is aborted");
        d.close();
    }

    @Test
    void requestsOffTheReactorsCompleteOnTheDevicesOwnReaper() throws Exception {
        FileBdev d = open(file("disk.img", 8 << 20), "");
        DmaBuffer b = buffers.allocate(4096);
        CompletableFuture<String> thread = new CompletableFuture<>();
        d.write(b, 0, 0, 8, (status, ctx) -> thread.complete(status + " on " + Thread.currentThread().getName()), null);
        assertEquals("SUCCESS on " + reaperPrefix() + d.name(), thread.get(10, TimeUnit.SECONDS));
        d.close();
    }

    @Test
    void aCallbackOnTheReaperMayCloseItsDevice() throws Exception {
        FileBdev d = open(file("disk.img", 8 << 20), "");
        DmaBuffer b = buffers.allocate(4096);
        CompletableFuture<Long> closeNanos = new CompletableFuture<>();
        d.write(b, 0, 0, 8, (status, ctx) -> {
            long start = System.nanoTime();
            d.close(); // on the reaper: it cannot wait for itself
            closeNanos.complete(System.nanoTime() - start);
        }, null);
        assertTrue(closeNanos.get(10, TimeUnit.SECONDS) < TimeUnit.SECONDS.toNanos(1), "the close returned at once");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (Thread.getAllStackTraces().keySet().stream().anyMatch(t -> t.getName().equals(reaperPrefix() + d.name()))) {
            assertTrue(System.nanoTime() < deadline, "the reaper ended");
            Thread.sleep(10);
        }
    }

    /**
     * A callback on the reaper closes its device while another of its requests is in flight: the
     * close reaps it there (no one else can) and returns; it waited out the 30 s close timeout and
     * left the file, its lock and the ring open for good.
     */
    @Test
    void aCallbackOnTheReaperClosesItsDeviceWithAnotherRequestInFlight() throws Exception {
        FileBdev d = open(file("disk.img", 8 << 20), "");
        DmaBuffer b = buffers.allocate(4096);
        CompletableFuture<Long> closeNanos = new CompletableFuture<>();
        CompletableFuture<IoStatus> second = new CompletableFuture<>();
        d.write(b, 0, 0, 8, (status, ctx) -> {
            d.write(b, 0, 8, 8, (s, c) -> second.complete(s), null); // from the reaper: through the device's own ring
            long start = System.nanoTime();
            d.close();
            closeNanos.complete(System.nanoTime() - start);
        }, null);
        assertTrue(closeNanos.get(20, TimeUnit.SECONDS) < TimeUnit.SECONDS.toNanos(5), "the close returned soon");
        assertEquals(IoStatus.SUCCESS, second.get(1, TimeUnit.SECONDS), "the write in flight finished first");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (Thread.getAllStackTraces().keySet().stream().anyMatch(t -> t.getName().equals(reaperPrefix() + d.name()))) {
            assertTrue(System.nanoTime() < deadline, "the reaper ended");
            Thread.sleep(10);
        }
        FileBdev again = open(file("disk.img", 8 << 20), "");
        again.close();
    }

    /**
     * Review finding: a callback on the reaper closed its device while the device's other request
     * ran on the helper: the close waited in the kernel for a completion of the reaper's own ring,
     * which had nothing in flight (io_uring), for ever, holding the file's lock.
     */
    @Test
    void aCallbackOnTheReaperClosesItsDeviceWhileTheHelperHasItsOtherRequest() throws Exception {
        for (int round = 0; round < 5; round++) {
            FileBdev d = open(file("disk.img", 8 << 20), "");
            DmaBuffer b = buffers.allocate(4096);
            CompletableFuture<Long> closeNanos = new CompletableFuture<>();
            CompletableFuture<IoStatus> zeroed = new CompletableFuture<>();
            d.write(b, 0, 0, 8, (status, ctx) -> {
                d.writeZeroes(0, 2048, (s, c) -> zeroed.complete(s), null); // runs on the helper
                long start = System.nanoTime();
                d.close();
                closeNanos.complete(System.nanoTime() - start);
            }, null);
            assertTrue(closeNanos.get(20, TimeUnit.SECONDS) < TimeUnit.SECONDS.toNanos(5), "the close returned soon");
            assertEquals(IoStatus.SUCCESS, zeroed.get(5, TimeUnit.SECONDS));
            b.release();
            reopened("disk.img");
        }
    }

    /**
     * Many requests in flight, their completions in one batch, the first one's callback closing
     * the device: every request completes exactly once and the close returns soon. A nested reap
     * (aio) overwrote the batch the outer one was handing out and waited for what it already held.
     */
    @Test
    void aCallbackOnTheReaperClosesItsDeviceWithABatchInFlight() throws Exception {
        FileBdev d = open(file("disk.img", 8 << 20), "");
        DmaBuffer b = buffers.allocate(4096);
        int count = 16;
        java.util.concurrent.ConcurrentHashMap<Integer, AtomicInteger> seen = new java.util.concurrent.ConcurrentHashMap<>();
        CountDownLatch all = new CountDownLatch(count);
        CompletableFuture<Long> closeNanos = new CompletableFuture<>();
        for (int i = 0; i < count; i++) {
            int id = i;
            d.write(b, 0, 8L * i, 8, (status, ctx) -> {
                seen.computeIfAbsent(id, k -> new AtomicInteger()).incrementAndGet();
                all.countDown();
                if (id == 0) {
                    long start = System.nanoTime();
                    d.close();
                    closeNanos.complete(System.nanoTime() - start);
                }
            }, null);
        }
        assertTrue(all.await(20, TimeUnit.SECONDS), "every request completed");
        assertTrue(closeNanos.get(20, TimeUnit.SECONDS) < TimeUnit.SECONDS.toNanos(5), "the close returned soon");
        Thread.sleep(200);
        assertEquals(count, seen.size());
        assertTrue(seen.values().stream().allMatch(n -> n.get() == 1), "each exactly once: " + seen);
    }

    @Test
    void aReactorClosesADeviceWithItsOwnRequestsInFlight() throws Exception {
        FileBdev d = open(file("disk.img", 8 << 20), "");
        DmaBuffer b = buffers.allocate(64 << 10);
        Reactor reactor = REACTORS.reactors().get(0);
        AtomicInteger completed = new AtomicInteger();
        CountDownLatch closed = new CountDownLatch(1);
        reactor.execute(() -> {
            for (int i = 0; i < 64; i++) {
                d.write(b, 0, i * 128L, 128, (status, ctx) -> completed.incrementAndGet(), null);
            }
            d.close(); // waits for the 64 writes, which only this thread can reap
            closed.countDown();
        });
        assertTrue(closed.await(10, TimeUnit.SECONDS), "the close returned");
        assertEquals(64, completed.get());
        assertEquals(IoStatus.DEVICE_CLOSED, write(d, b, 0, 0, 1, T));
    }

    /**
     * Review finding: the factory going away (the node stopping) posts each queue's close to its
     * reactor; a reactor closing a device ran that close while it waited, then polled the queue it
     * had just freed — reading an unmapped ring (a JVM crash) or a destroyed aio context.
     */
    @Test
    void aQueueClosedWhileItsReactorClosesADeviceIsNotPolledAfterwards() throws Exception {
        FileBdev d = open(file("disk.img", 8 << 20), "");
        DmaBuffer b = buffers.allocate(64 << 10);
        Reactor reactor = REACTORS.reactors().get(0);
        AtomicInteger completed = new AtomicInteger();
        CountDownLatch closed = new CountDownLatch(1);
        reactor.execute(() -> {
            for (int i = 0; i < 64; i++) {
                d.write(b, 0, i * 128L, 128, (status, ctx) -> completed.incrementAndGet(), null);
            }
            deactivate(factory); // each queue's close posted, this reactor's runs within the wait below
            d.close();
            closed.countDown();
        });
        assertTrue(closed.await(20, TimeUnit.SECONDS), "the close returned");
        assertEquals(64, completed.get());
        b.release();
    }

    /**
     * Review finding: the same close, run from inside the queue's own reap — a completion's callback
     * closes its device while the factory goes (a bundle update under I/O) — freed the ring (aio
     * context), and the reap loop it returned to read and wrote the unmapped ring: a JVM crash. The
     * close waits until the outermost call into the ring has returned.
     */
    @Test
    void aQueueClosedFromACompletionInsideItsReapIsNotTouchedAfterwards() throws Exception {
        FileBdev d = open(file("disk.img", 8 << 20), "");
        DmaBuffer b = buffers.allocate(64 << 10);
        Reactor reactor = REACTORS.reactors().get(0);
        AtomicInteger completed = new AtomicInteger();
        CountDownLatch closed = new CountDownLatch(1);
        java.util.concurrent.atomic.AtomicBoolean first = new java.util.concurrent.atomic.AtomicBoolean(true);
        reactor.execute(() -> {
            for (int i = 0; i < 64; i++) {
                d.write(b, 0, i * 128L, 128, (status, ctx) -> {
                    completed.incrementAndGet();
                    if (first.getAndSet(false)) {
                        deactivate(factory); // each queue's close posted: this reactor's runs within the wait below
                        d.close();
                        closed.countDown();
                    }
                }, null);
            }
        });
        assertTrue(closed.await(20, TimeUnit.SECONDS), "the close returned");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (completed.get() < 64 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertEquals(64, completed.get());
        CountDownLatch alive = new CountDownLatch(1);
        reactor.execute(alive::countDown);
        assertTrue(alive.await(10, TimeUnit.SECONDS), "the reactor goes on");
        b.release();
    }

    @Test
    void anIdleNodeWithSuchDevicesSleeps() throws Exception {
        FileBdev d = open(file("disk.img", 1 << 20), "");
        DmaBuffer b = buffers.allocate(4096);
        assertEquals(IoStatus.SUCCESS, write(d, b, 0, 0, 8, T));
        long before = reactorCpuNanos();
        Thread.sleep(1000);
        long after = reactorCpuNanos();
        // Nothing in flight: the eventfd is quiet and the reactors sleep (a spinning one burns ~1 s).
        assertTrue(after - before < 10_000_000, "the reactors used " + (after - before) / 1000 + " µs of CPU in 1 s");
        d.close();
    }

    @Test
    void aReactorDrivingTheQueueAllocatesNothingPerIo() throws Exception {
        FileBdev d = open(file("disk.img", 8 << 20), "");
        Reactor reactor = REACTORS.reactors().get(1);
        int ios = 50_000;
        int depth = 8;
        long[] bytes = new long[2];
        for (int round = 0; round < 2; round++) { // the first also pays for class loading and JIT
            CompletableFuture<Long> allocated = new CompletableFuture<>();
            List<DmaBuffer> slots = new ArrayList<>();
            for (int i = 0; i < depth; i++) {
                slots.add(buffers.allocate(4096));
            }
            reactor.execute(() -> {
                com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
                long start = threads.getCurrentThreadAllocatedBytes();
                int[] state = {ios, depth}; // to issue, in flight
                IoCompletion<DmaBuffer> again = new IoCompletion<>() {
                    @Override
                    public void ioDone(IoStatus status, DmaBuffer buffer) {
                        if (status.isSuccess() && state[0] > 0) {
                            state[0]--;
                            d.read(buffer, 0, (state[0] % 2048) * 8L, 8, this, buffer);
                        } else if (--state[1] == 0) {
                            allocated.complete(state[0] == 0 ? threads.getCurrentThreadAllocatedBytes() - start : -1);
                        }
                    }
                };
                for (DmaBuffer buffer : slots) {
                    state[0]--;
                    d.read(buffer, 0, (state[0] % 2048) * 8L, 8, again, buffer);
                }
            });
            bytes[round] = allocated.get(60, TimeUnit.SECONDS);
            slots.forEach(DmaBuffer::release);
        }
        // Everything the reactor allocated while it drove 50 000 reads: its loop, the queue, the completions.
        assertTrue(bytes[1] >= 0, "every read succeeded");
        assertTrue(bytes[1] < ios / 10, "the reactor allocated " + bytes[1] + " bytes for " + ios + " reads (first round "
                + bytes[0] + ")");
        d.close();
    }

    private static long reactorCpuNanos() {
        long sum = 0;
        for (Reactor r : REACTORS.reactors()) {
            sum += ManagementFactory.getThreadMXBean().getThreadCpuTime(((Thread) r).threadId());
        }
        return sum;
    }
}
