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
import org.junit.jupiter.api.Test;

/**
 * The file-bdev contract on io_uring, and what is io_uring's own: requests made on a reactor
 * complete on that reactor, any number of them, and a reactor can close a device it has I/O on.
 * The kernel here has io_uring; where it had not, {@link #whereIoUringCannotRunTheDeviceIsAnAioOne}
 * is the path a node takes.
 */
class UringBdevTest extends ReactorQueueBdevTest {

    @Override
    Class<? extends FileBdev> deviceClass() {
        return UringBdev.class;
    }

    @Override
    int reactorSlots() {
        return UringQueue.SLOTS;
    }

    @Override
    String reaperPrefix() {
        return "uring-reaper ";
    }

    @Override
    void deactivate(FileBdevFactory f) {
        ((UringBdevFactory) f).deactivate();
    }

    @Override
    FileBdevFactory factory() {
        return new UringBdevFactory(REACTORS);
    }

    @Override
    String product() {
        return "io_uring disk";
    }

    @Override
    int queueDepth() {
        return UringQueue.SLOTS;
    }

    /**
     * Off the reactors, a completion on the device's own reaper that closes the device reaps its other
     * requests itself, nested; it waited in io_uring_enter without a deadline (a device that never
     * answers held the closing caller for ever), and now looks between short pauses. Every request
     * still completes once, and the device is closed.
     */
    @Test
    void aCompletionOnTheReaperThatClosesItsDeviceReapsTheRestItself() throws Exception {
        FileBdev d = open(file("nested.img", 8 << 20), "");
        DmaBuffer b = buffers.allocate(4096);
        int requests = 64;
        java.util.concurrent.atomic.AtomicIntegerArray calls = new java.util.concurrent.atomic.AtomicIntegerArray(requests);
        CountDownLatch done = new CountDownLatch(requests);
        IoCompletion<Integer> closing = (status, i) -> {
            if (i == 0) {
                d.close();
            }
            calls.incrementAndGet(i);
            done.countDown();
        };
        for (int i = 0; i < requests; i++) {
            d.write(b, 0, i * 8L, 8, closing, i); // off the reactors: the device's thread ring
        }
        assertTrue(done.await(20, TimeUnit.SECONDS), "every request completed");
        Thread.sleep(100);
        for (int i = 0; i < requests; i++) {
            assertEquals(1, calls.get(i), "request " + i + " completed once");
        }
        assertTrue(d.isClosed());
        b.release();
        reopened("nested.img");
    }

    @Test
    void ioUringRunsHere() {
        assertEquals(Optional.empty(), ((UringBdevFactory) factory).unavailable());
    }

    @Test
    void aBarePathIsAUringDeviceAndErrorsQuoteItAsGiven() throws IOException {
        BdevRegistryImpl registry = new BdevRegistryImpl();
        registry.addFactory(new AioBdevFactory());
        registry.addFactory(factory);
        Path path = file("disk.img", 1 << 20);
        assertEquals("io_uring disk", registry.create(path.toString()).productName());
        assertEquals("io_uring disk", registry.findByUri(path.toString()).orElseThrow().productName());
        assertEquals("io_uring disk", registry.findByUri("uring://" + path).orElseThrow().productName(), "the same URI");
        registry.destroy(path.toString());
        assertEquals("AIO disk", registry.create("aio://" + path).productName());
        registry.destroy("aio://" + path);
        Path missing = dir.resolve("missing.img");
        MayastorException e = assertThrows(MayastorException.class, () -> registry.create(missing.toString()));
        assertEquals("'" + missing + "': no such file or device " + missing, e.getMessage());
    }

    @Test
    void whereIoUringCannotRunTheDeviceIsAnAioOne() throws IOException {
        UringBdevFactory noRing = new UringBdevFactory(REACTORS, "io_uring_setup failed: Operation not permitted");
        Path path = file("disk.img", 1 << 20);
        FileBdev d = (FileBdev) noRing.create(BdevUri.parse("uring://" + path));
        assertInstanceOf(AioBdev.class, d);
        assertEquals(Optional.of("io_uring_setup failed: Operation not permitted"), noRing.unavailable());
        DmaBuffer b = buffers.allocate(4096);
        assertEquals(IoStatus.SUCCESS, write(d, b, 0, 0, 8, T));
        d.close();
    }

    @Test
    void buffersOfARegisteredRegionAreFixedOnesAndOthersAreNot() throws Exception {
        UringBdevFactory fixed = new UringBdevFactory(REACTORS, buffers.pool.regionAddress(), buffers.pool.regionLength());
        try (TestPool other = new TestPool()) { // a region the rings do not know
            Path path = file("disk.img", 8 << 20);
            FileBdev d = (FileBdev) fixed.create(BdevUri.parse("uring://" + path));
            DmaBuffer registered = buffers.allocate(64 << 10);
            DmaBuffer unregistered = other.allocate(64 << 10);
            TestPool.fill(registered, 64 << 10, 1);
            TestPool.fill(unregistered, 64 << 10, 2);
            Reactor reactor = REACTORS.reactors().get(0);
            CompletableFuture<String> written = new CompletableFuture<>();
            reactor.execute(() -> d.write(registered, 0, 0, 128, (status, ctx) ->
                    d.write(unregistered, 0, 128, 128, (status2, ctx2) -> written.complete(status + " " + status2), null), null));
            assertEquals("SUCCESS SUCCESS", written.get(10, TimeUnit.SECONDS));
            CompletableFuture<String> read = new CompletableFuture<>();
            DmaBuffer in = buffers.allocate(128 << 10);
            reactor.execute(() -> d.read(in, 0, 0, 256, (status, ctx) -> read.complete(status.toString()), null));
            assertEquals("SUCCESS", read.get(10, TimeUnit.SECONDS));
            assertArrayEquals(TestPool.bytes(registered, 0, 64 << 10), TestPool.bytes(in, 0, 64 << 10));
            assertArrayEquals(TestPool.bytes(unregistered, 0, 64 << 10), TestPool.bytes(in, 64 << 10, 64 << 10));
            CompletableFuture<Long> count = new CompletableFuture<>();
            reactor.execute(() -> count.complete(fixed.queueOnThisThread().fixedRequests));
            assertEquals(2, count.get(10, TimeUnit.SECONDS), "the first write and the read were fixed, the second write not");
            d.close();
        } finally {
            fixed.deactivate();
        }
    }
}
