package io.mayastorj.nvmf.internal.host;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.mayastorj.core.bdev.BlockingIo;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.buffer.BufferPool;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.internal.buffer.DmaBufferPool;
import io.mayastorj.core.internal.buffer.HugepageMode;
import io.mayastorj.core.internal.reactor.ReactorGroupImpl;
import io.mayastorj.core.reactor.Reactor;
import io.mayastorj.core.transport.ShareOptions;
import io.mayastorj.nvmf.internal.NvmfFixture;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A session's failures at awkward moments: an admin command that times out while its answer is
 * still to come, and a session that fails before its bdev listens. The host runs on reactors and
 * buffers of its own, so the target's reactors can be stalled without stalling it.
 */
class SessionFailureTest {

    private NvmfFixture fx;
    private ReactorGroupImpl hostReactors;
    private DmaBufferPool hostBuffers;
    private ScheduledExecutorService connector;
    private Session.Target target;

    /** The host's settings: a short connect timeout, the I/O timeout long (as a node's 30 s default is). */
    private final class TestHost implements Host {
        private final long ioTimeoutNanos;
        private final int keepAliveMillis;

        TestHost() {
            this(TimeUnit.SECONDS.toNanos(30), 10_000);
        }

        TestHost(long ioTimeoutNanos, int keepAliveMillis) {
            this.ioTimeoutNanos = ioTimeoutNanos;
            this.keepAliveMillis = keepAliveMillis;
        }

        @Override
        public List<Reactor> reactors() {
            return hostReactors.reactors();
        }

        @Override
        public BufferPool buffers() {
            return hostBuffers;
        }

        @Override
        public ScheduledExecutorService connector() {
            return connector;
        }

        @Override
        public long ioTimeoutNanos() {
            return ioTimeoutNanos;
        }

        @Override
        public int connectTimeoutMillis() {
            return 300;
        }

        @Override
        public int keepAliveMillis() {
            return keepAliveMillis;
        }

        @Override
        public int queueDepth() {
            return 32;
        }

        @Override
        public void closed(NvmfBdev bdev) {
        }

        /** The one target's fence, as the factory keeps one per target. */
        private volatile long fencedUntil = System.nanoTime();

        @Override
        public void fence(Session.Target target, long untilNanos) {
            fencedUntil = Math.max(fencedUntil, untilNanos);
        }

        @Override
        public long fenceLeftNanos(Session.Target target) {
            return Math.max(0, fencedUntil - System.nanoTime());
        }
    }

    @BeforeEach
    void setUp() throws Exception {
        fx = new NvmfFixture();
        hostReactors = new ReactorGroupImpl(1);
        hostBuffers = new DmaBufferPool(16L << 20, HugepageMode.OFF);
        connector = Executors.newSingleThreadScheduledExecutor();
        String nqn = fx.target.share(fx.malloc("m0", 8, 512), ShareOptions.DEFAULT);
        target = new Session.Target(new InetSocketAddress("127.0.0.1", fx.port()), nqn.substring(nqn.lastIndexOf('/') + 1)
                .replaceAll("\\?.*", ""), NvmfFixture.HOST_NQN, UUID.randomUUID(), false, false);
    }

    @AfterEach
    void tearDown() {
        connector.shutdownNow();
        hostReactors.stop();
        fx.close();
        hostBuffers.close();
    }

    /** A sink for the bdev {@code bdev[0]} will hold once made (the connect's admin commands come before it). */
    private static HostQueue.IoSink sinkOf(NvmfBdev[] bdev) {
        return new HostQueue.IoSink() {
            @Override
            public void ioDone(io.mayastorj.core.bdev.IoType type, long bytes, IoStatus status,
                               io.mayastorj.core.bdev.IoCompletion<Object> done, Object context) {
                bdev[0].ioDone(type, bytes, status, done, context);
            }

            @Override
            public void slotFreed(HostQueue queue) {
                if (bdev[0] != null) {
                    bdev[0].slotFreed(queue);
                }
            }
        };
    }

    /** Every target reactor sleeps for {@code millis}: nothing is answered meanwhile. */
    private void stallTarget(long millis) {
        for (Reactor r : fx.reactors.reactors()) {
            r.execute(() -> {
                try {
                    Thread.sleep(millis);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
        }
    }

    @Test
    void anAdminCommandsLateAnswerLandsInItsOwnBufferNotInTheNextOwners() throws Exception {
        Session session = Session.connect(new TestHost(), target, new HostQueue.IoSink() {
            @Override
            public void ioDone(io.mayastorj.core.bdev.IoType type, long bytes, IoStatus status,
                               io.mayastorj.core.bdev.IoCompletion<Object> done, Object context) {
                throw new AssertionError("no I/O in this test");
            }

            @Override
            public void slotFreed(HostQueue queue) {
            }
        });
        try {
            stallTarget(1500);
            IOException e = assertThrows(IOException.class, session::namespaceBlocks);
            assertEquals("no answer to Identify (CNS 0) in 300 ms", e.getMessage());
            // the pool hands out its last released buffer first: before the fix, the Identify page itself
            DmaBuffer next = hostBuffers.allocate(4096);
            try {
                for (int i = 0; i < 4096; i++) {
                    next.bytes().put(i, (byte) 0xAA);
                }
                Thread.sleep(2500); // the target wakes and answers the Identify
                for (int i = 0; i < 4096; i++) {
                    assertEquals((byte) 0xAA, next.bytes().get(i), "byte " + i + " of a buffer the host gave to another owner");
                }
            } finally {
                next.release();
            }
            assertEquals(8L << 20 >> 9, session.namespaceBlocks(), "the session still works once the target answers");
        } finally {
            session.close();
        }
    }

    /**
     * Review finding: a write this host gave up on (it timed out) may still be at the target's bdev, under
     * a controller the target believes alive. Connected again 250 ms later, the nexus rebuilt the
     * replica's blocks over the new connection, and the old write could land after that rebuild — a
     * replica called in sync with old data. The first reconnect waits until the target's keep-alive
     * timer must have ended the old controller (1.5 × KATO from the loss).
     */
    @Test
    void aSessionLostWithAWriteUnansweredReconnectsOnlyOnceTheTargetMustHaveGivenItUp() throws Exception {
        TestHost host = new TestHost(TimeUnit.SECONDS.toNanos(1), 4_000); // the fence: 6 s
        NvmfBdev[] bdev = new NvmfBdev[1];
        bdev[0] = new NvmfBdev("n0", host, Session.connect(host, target, sinkOf(bdev)));
        DmaBuffer b = hostBuffers.allocate(4096);
        try {
            stallTarget(3_000); // the write gets no answer within the I/O timeout (the watchdog looks once a second)
            assertEquals(IoStatus.TIMED_OUT, BlockingIo.write(bdev[0], b, 0, 0, 8, Duration.ofSeconds(10)));
            long lost = System.nanoTime();
            while (bdev[0].view().reconnects() == 0 && System.nanoTime() - lost < TimeUnit.SECONDS.toNanos(20)) {
                Thread.sleep(50);
            }
            long took = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - lost);
            assertEquals(1, bdev[0].view().reconnects(), "reconnected: " + bdev[0].view());
            assertTrue(took >= 5_000, "the first reconnect waited for the old controller's end, not " + took + " ms");
            assertEquals(IoStatus.SUCCESS, BlockingIo.write(bdev[0], b, 0, 0, 8, Duration.ofSeconds(10)), "and it serves");
        } finally {
            b.release();
            bdev[0].close();
        }
    }

    /**
     * Review finding: a reconnect was judged once, when the session was lost; a fence set after that (a
     * write sent on another of its queues before they closed, whose close fences the target, or another
     * bdev's unanswered write to it) did not hold it back, and the old write could land after a rebuild.
     */
    @Test
    void aReconnectWaitsForAFenceSetAfterItsSessionWasLost() throws Exception {
        TestHost host = new TestHost(TimeUnit.SECONDS.toNanos(1), 10_000);
        NvmfBdev[] bdev = new NvmfBdev[1];
        bdev[0] = new NvmfBdev("n0", host, Session.connect(host, target, sinkOf(bdev)));
        DmaBuffer b = hostBuffers.allocate(4096);
        try {
            stallTarget(3_000);
            // a read times out: nothing to fence for
            java.util.concurrent.CompletableFuture<IoStatus> read = java.util.concurrent.CompletableFuture.supplyAsync(
                    () -> BlockingIo.read(bdev[0], b, 0, 0, 8, Duration.ofSeconds(20)));
            long started = System.nanoTime();
            while (bdev[0].view().connected() && System.nanoTime() - started < TimeUnit.SECONDS.toNanos(10)) {
                Thread.sleep(5);
            }
            assertFalse(bdev[0].view().connected(), "the session was lost");
            long fenced = System.nanoTime();
            host.fence(target, fenced + TimeUnit.SECONDS.toNanos(4));
            while (bdev[0].view().reconnects() == 0 && System.nanoTime() - fenced < TimeUnit.SECONDS.toNanos(20)) {
                Thread.sleep(50);
            }
            long took = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - fenced);
            assertEquals(1, bdev[0].view().reconnects(), "reconnected: " + bdev[0].view());
            assertTrue(took >= 3_900, "the reconnect waited for the fence, not " + took + " ms");
            assertEquals(IoStatus.TIMED_OUT, read.get(20, TimeUnit.SECONDS));
            assertEquals(IoStatus.SUCCESS, BlockingIo.read(bdev[0], b, 0, 0, 8, Duration.ofSeconds(10)), "and it serves");
        } finally {
            b.release();
            bdev[0].close();
        }
    }

    /**
     * Review finding: the reconnect's fence did not hold for a new bdev. A nexus faults a child whose
     * write timed out, destroys its bdev, and adds it again as a new one: connected at once, the old
     * write could land after the child's rebuild. The factory refuses that target until the fence ends.
     */
    @Test
    void aNewBdevOfATargetLostWithWritesUnansweredWaitsForTheFence() throws Exception {
        NvmfBdevFactory factory = NvmfBdevFactory.of(hostReactors.reactors(), hostBuffers, NvmfFixture.HOST_NQN,
                TimeUnit.SECONDS.toNanos(1)); // on the host's own reactors: the target's are stalled below
        String uri = "nvmf://127.0.0.1:" + fx.port() + "/" + target.subnqn();
        io.mayastorj.core.bdev.BlockDevice first = factory.create(io.mayastorj.core.bdev.BdevUri.parse(uri));
        DmaBuffer b = hostBuffers.allocate(4096);
        try {
            stallTarget(3_500); // past the 1 s timeout and the watchdog's next look
            assertEquals(IoStatus.TIMED_OUT, BlockingIo.write(first, b, 0, 0, 8, Duration.ofSeconds(10)));
        } finally {
            b.release();
            first.close(); // as a nexus faulting the child
        }
        io.mayastorj.core.error.MayastorException e = assertThrows(io.mayastorj.core.error.MayastorException.class,
                () -> factory.create(io.mayastorj.core.bdev.BdevUri.parse(uri)).close());
        assertEquals(io.mayastorj.core.error.ErrorKind.UNAVAILABLE, e.kind());
        assertTrue(e.getMessage().contains("writes of an earlier connection to it may still land there"), e.getMessage());
    }

    /** A RAM disk whose next {@code failures} writes fail as a closed device (the target answers Namespace Not Ready). */
    private static final class FlakyDisk extends io.mayastorj.core.bdev.BlockDeviceBase {
        private final io.mayastorj.core.bdev.BlockDevice ram;
        final java.util.concurrent.atomic.AtomicInteger failures = new java.util.concurrent.atomic.AtomicInteger();
        final java.util.concurrent.atomic.AtomicInteger writes = new java.util.concurrent.atomic.AtomicInteger();

        FlakyDisk(io.mayastorj.core.bdev.BlockDevice ram) {
            super("flaky", UUID.randomUUID(), ram.blockSize(), ram.blockCount());
            this.ram = ram;
        }

        @Override
        public String productName() {
            return "Flaky disk";
        }

        @Override
        public boolean supports(io.mayastorj.core.bdev.IoType type) {
            return ram.supports(type);
        }

        @Override
        protected <C> void doRead(DmaBuffer buffer, int bufferOffset, long lba, int blocks,
                                  io.mayastorj.core.bdev.IoCompletion<? super C> done, C context) {
            ram.read(buffer, bufferOffset, lba, blocks, (st, c) -> complete(io.mayastorj.core.bdev.IoType.READ,
                    (long) blocks * blockSize(), st, done, context), null);
        }

        @Override
        protected <C> void doWrite(DmaBuffer buffer, int bufferOffset, long lba, int blocks,
                                   io.mayastorj.core.bdev.IoCompletion<? super C> done, C context) {
            writes.incrementAndGet();
            if (failures.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
                complete(io.mayastorj.core.bdev.IoType.WRITE, 0, IoStatus.DEVICE_CLOSED, done, context);
                return;
            }
            ram.write(buffer, bufferOffset, lba, blocks, (st, c) -> complete(io.mayastorj.core.bdev.IoType.WRITE,
                    (long) blocks * blockSize(), st, done, context), null);
        }

        @Override
        protected <C> void doFlush(io.mayastorj.core.bdev.IoCompletion<? super C> done, C context) {
            complete(io.mayastorj.core.bdev.IoType.FLUSH, 0, IoStatus.SUCCESS, done, context);
        }

        @Override
        protected void doClose() {
        }
    }

    /**
     * Review finding: a status that passes (Namespace Not Ready here; Command Interrupted from a target
     * short of buffers) failed the I/O at once, and a nexus faulted a healthy replica for a moment's
     * trouble. Such a command goes again a few times with back-off; past that it fails as before.
     */
    @Test
    void aWriteAnsweredWithAPassingStatusIsTriedAgainAFewTimes() throws Exception {
        FlakyDisk flaky = new FlakyDisk(fx.malloc("m1", 8, 512));
        String nqn = fx.target.share(flaky, ShareOptions.DEFAULT);
        Session.Target flakyTarget = new Session.Target(new InetSocketAddress("127.0.0.1", fx.port()),
                nqn.substring(nqn.lastIndexOf('/') + 1).replaceAll("\\?.*", ""), NvmfFixture.HOST_NQN, UUID.randomUUID(), false, false);
        NvmfBdev[] bdev = new NvmfBdev[1];
        TestHost host = new TestHost();
        bdev[0] = new NvmfBdev("flaky0", host, Session.connect(host, flakyTarget, sinkOf(bdev)));
        DmaBuffer b = hostBuffers.allocate(4096);
        try {
            flaky.failures.set(2);
            assertEquals(IoStatus.SUCCESS, BlockingIo.write(bdev[0], b, 0, 0, 8, Duration.ofSeconds(10)));
            assertEquals(3, flaky.writes.get(), "two tries answered Namespace Not Ready, the third written");
            flaky.writes.set(0);
            flaky.failures.set(HostQueue.RETRIES + 1);
            assertEquals(IoStatus.UNAVAILABLE, BlockingIo.write(bdev[0], b, 0, 0, 8, Duration.ofSeconds(10)), "bounded");
            assertEquals(HostQueue.RETRIES + 1, flaky.writes.get());
        } finally {
            b.release();
            bdev[0].close();
        }
    }

    @Test
    void aSessionThatFailsBeforeItsBdevListensFailsTheBdevsIoInsteadOfHangingIt() throws Exception {
        NvmfBdev[] bdev = new NvmfBdev[1];
        Session session = Session.connect(new TestHost(), target, sinkOf(bdev));
        HostQueue io = session.ioQueues().get(0);
        CountDownLatch closed = new CountDownLatch(1);
        io.reactor().execute(() -> {
            io.close("the target went away (test)");
            closed.countDown();
        });
        assertTrue(closed.await(5, TimeUnit.SECONDS));
        bdev[0] = new NvmfBdev("n0", new TestHost(), session); // attaches to a session that failed already
        DmaBuffer b = hostBuffers.allocate(4096);
        try {
            IoStatus read = BlockingIo.read(bdev[0], b, 0, 0, 8, Duration.ofSeconds(5));
            assertEquals(IoStatus.UNAVAILABLE, read, "not TIMED_OUT: the I/O is ended, not stranded");
        } finally {
            b.release();
            bdev[0].close();
        }
    }

    /**
     * Review finding: an unmap needs a buffer for its range list, and with the node's pool empty for a
     * moment (backpressure under a write burst) it failed at once; every remote child of a nexus failed
     * the same unmap together, and the nexus faulted all but one. It waits for a buffer instead.
     */
    @Test
    void anUnmapWaitsForABufferInsteadOfFailingWhileThePoolIsEmpty() throws Exception {
        TestHost host = new TestHost();
        NvmfBdev[] bdev = new NvmfBdev[1];
        bdev[0] = new NvmfBdev("n0", host, Session.connect(host, target, sinkOf(bdev)));
        java.util.List<DmaBuffer> held = new java.util.ArrayList<>();
        try {
            for (DmaBuffer b; (b = hostBuffers.allocate(4096)) != null; ) {
                held.add(b);
            }
            CompletableFuture<IoStatus> unmapped = new CompletableFuture<>();
            bdev[0].unmap(0, 64, (status, ignored) -> unmapped.complete(status), null);
            Thread.sleep(200);
            assertFalse(unmapped.isDone(), "waits while the pool is empty, not " + unmapped.getNow(null));
            held.remove(held.size() - 1).release();
            assertEquals(IoStatus.SUCCESS, unmapped.get(5, TimeUnit.SECONDS));
        } finally {
            held.forEach(DmaBuffer::release);
            bdev[0].close();
        }
    }
}
