package io.mayastorj.nvmf.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.BlockingIo;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.error.ErrorKind;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.core.transport.ShareOptions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Our host against our target over loopback TCP: data, errors, access control, loss and return. */
class NvmfLoopbackTest {

    private static final Duration T = Duration.ofSeconds(20);
    private NvmfFixture fx;

    @BeforeEach
    void setUp() throws Exception {
        fx = new NvmfFixture();
    }

    @AfterEach
    void tearDown() {
        fx.close();
    }

    private static byte[] pattern(int length, long seed) {
        byte[] bytes = new byte[length];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }

    private byte[] readBack(BlockDevice device, long lba, int bytes) {
        DmaBuffer buffer = fx.buffers.allocate(bytes);
        try {
            assertEquals(IoStatus.SUCCESS, BlockingIo.read(device, buffer, 0, lba, bytes / device.blockSize(), T));
            byte[] out = new byte[bytes];
            buffer.bytes().get(0, out);
            return out;
        } finally {
            buffer.release();
        }
    }

    private void write(BlockDevice device, long lba, byte[] data) {
        DmaBuffer buffer = fx.buffers.allocate(data.length);
        try {
            buffer.bytes().put(0, data);
            assertEquals(IoStatus.SUCCESS, BlockingIo.write(device, buffer, 0, lba, data.length / device.blockSize(), T));
        } finally {
            buffer.release();
        }
    }

    @Test
    void writesAndReadsEverySizeThroughTheTarget() {
        BlockDevice disk = fx.malloc("m0", 16, 512);
        String uri = fx.target.share(disk, ShareOptions.DEFAULT);
        assertEquals("nvmf://127.0.0.1:" + fx.port() + "/nqn.2019-05.io.openebs:m0?uuid=" + disk.uuid(), uri);
        BlockDevice remote = fx.connect(uri);
        assertEquals(disk.uuid(), remote.uuid());
        assertEquals(disk.blockCount(), remote.blockCount());
        assertEquals(512, remote.blockSize());
        assertEquals("NVMe-oF/TCP disk", remote.productName());

        // in-capsule (4 KiB), R2T (128 KiB = MDTS), split into commands (1 MiB), and the last block
        int[] sizes = {512, 4096, 128 << 10, 1 << 20};
        long lba = 0;
        for (int size : sizes) {
            byte[] data = pattern(size, size);
            write(remote, lba, data);
            assertArrayEquals(data, readBack(disk, lba, size), "written through nvmf, read locally: " + size);
            assertArrayEquals(data, readBack(remote, lba, size), "read back through nvmf: " + size);
            lba += size / 512;
        }
        byte[] last = pattern(512, 99);
        write(remote, disk.blockCount() - 1, last);
        assertArrayEquals(last, readBack(remote, disk.blockCount() - 1, 512));

        assertEquals(IoStatus.SUCCESS, BlockingIo.flush(remote, T));
        assertTrue(remote.supports(IoType.UNMAP) == disk.supports(IoType.UNMAP));
        if (remote.supports(IoType.WRITE_ZEROES)) {
            assertEquals(IoStatus.SUCCESS, BlockingIo.writeZeroes(remote, 0, 8, T));
            assertArrayEquals(new byte[4096], readBack(disk, 0, 4096));
        }
        assertEquals(IoStatus.LBA_OUT_OF_RANGE, BlockingIo.read(remote, fx.buffers.allocate(4096), 0,
                disk.blockCount() - 1, 8, T));
        assertTrue(remote.stats().bytesWritten() > 1 << 20);
    }

    @Test
    void fourKibBlocksAndDigests() {
        fx.host.digests(true, true);
        BlockDevice disk = fx.malloc("m4k", 16, 4096);
        BlockDevice remote = fx.connect(fx.target.share(disk, ShareOptions.DEFAULT));
        assertEquals(4096, remote.blockSize());
        for (int size : new int[] {4096, 64 << 10, 512 << 10}) {
            byte[] data = pattern(size, 7 * size);
            write(remote, 16, data);
            assertArrayEquals(data, readBack(remote, 16, size));
            assertArrayEquals(data, readBack(disk, 16, size));
        }
        assertTrue(fx.target.queues().stream().allMatch(q -> q.headerDigest() && q.dataDigest()));
    }

    @Test
    void manyConcurrentIosFromManyThreadsAllComplete() throws Exception {
        BlockDevice disk = fx.malloc("mq", 32, 512);
        BlockDevice remote = fx.connect(fx.target.share(disk, ShareOptions.DEFAULT));
        int perThread = 2000;
        int threads = 4;
        AtomicInteger failures = new AtomicInteger();
        CountDownLatch done = new CountDownLatch(threads * perThread);
        List<Thread> workers = new java.util.ArrayList<>();
        for (int t = 0; t < threads; t++) {
            int id = t;
            Thread thread = new Thread(() -> {
                // up to 300 in flight per thread: beyond the queue depth, so some wait for a slot
                java.util.concurrent.Semaphore window = new java.util.concurrent.Semaphore(300);
                Random random = new Random(id);
                for (int i = 0; i < perThread; i++) {
                    window.acquireUninterruptibly();
                    DmaBuffer buffer;
                    while ((buffer = fx.buffers.allocate(4096)) == null) {
                        Thread.onSpinWait();
                    }
                    DmaBuffer b = buffer;
                    long lba = (long) random.nextInt((int) (disk.blockCount() / 8)) * 8;
                    var completion = (io.mayastorj.core.bdev.IoCompletion<DmaBuffer>) (status, ctx) -> {
                        if (status != IoStatus.SUCCESS) {
                            failures.incrementAndGet();
                        }
                        ctx.release();
                        window.release();
                        done.countDown();
                    };
                    if ((i & 1) == 0) {
                        remote.write(b, 0, lba, 8, completion, b);
                    } else {
                        remote.read(b, 0, lba, 8, completion, b);
                    }
                }
            });
            workers.add(thread);
            thread.start();
        }
        boolean finished = done.await(60, TimeUnit.SECONDS);
        assertTrue(finished, () -> "every I/O completes; " + done.getCount() + " left; host " + fx.host.bdevs()
                + "; target " + fx.target.queues());
        for (Thread thread : workers) {
            thread.join();
        }
        assertEquals(0, failures.get());
        assertEquals(0, remote.stats().inFlight());
    }

    /**
     * Review finding: an admin command's completion (a keep-alive, an Identify) handed I/O that waited
     * for a slot to the admin queue, where its opcodes are admin commands: a flush became Delete I/O
     * Submission Queue, a write-zeroes an Abort answered with success.
     */
    @Test
    void ioWaitingForASlotNeverGoesOnTheAdminQueue() throws Exception {
        MovingDevice device = new MovingDevice("slots");
        device.holdFlushes = true;
        BlockDevice remote = fx.connect(fx.target.share(device, ShareOptions.DEFAULT));
        int n = 600; // more than the session's I/O queues hold: the rest wait for a slot
        AtomicInteger ok = new AtomicInteger();
        CountDownLatch done = new CountDownLatch(n);
        for (int i = 0; i < n; i++) {
            remote.flush((status, ignored) -> {
                if (status.isSuccess()) {
                    ok.incrementAndGet();
                }
                done.countDown();
            }, null);
        }
        int seen = -1;
        for (int i = 0; i < 100 && seen != device.flushes.get(); i++) { // until the queues are full
            seen = device.flushes.get();
            Thread.sleep(50);
        }
        assertTrue(seen < n, seen + " flushes at the device: some must wait for a slot");
        remote.refreshSize(); // an Identify on the admin queue completes while they wait
        device.holdFlushes = false;
        device.held.forEach(Runnable::run);
        assertTrue(done.await(30, TimeUnit.SECONDS), done.getCount() + " flushes unanswered");
        assertEquals(n, ok.get(), "every flush succeeded");
        assertEquals(n, device.flushes.get(), "every flush reached the device as a flush");
    }

    /**
     * Review finding: a bdev closed while its target did not answer gave up waiting for its I/O after
     * the close's wait and kept everything for good: the session, its sockets, and a reconnect every
     * few seconds once the timed-out I/O failed the connection, for as long as the node ran.
     */
    @Test
    void aBdevClosedWhileItsTargetDoesNotAnswerIsReleasedOnceItsIoTimesOut() throws Exception {
        try (NvmfFixture quick = new NvmfFixture(TimeUnit.SECONDS.toNanos(2))) {
            MovingDevice device = new MovingDevice("mute");
            BlockDevice remote = quick.connect(quick.target.share(device, ShareOptions.DEFAULT));
            device.holdFlushes = true; // the target takes the flush and never answers it
            CompletableFuture<IoStatus> flushed = new CompletableFuture<>();
            remote.flush((status, ignored) -> flushed.complete(status), null);
            System.setProperty("mayastor.bdev.close-wait-millis", "300");
            try {
                long start = System.nanoTime();
                remote.close();
                assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(2), "close returned after its wait");
            } finally {
                System.clearProperty("mayastor.bdev.close-wait-millis");
            }
            assertEquals(IoStatus.TIMED_OUT, flushed.get(10, TimeUnit.SECONDS), "the host timed the flush out");
            for (int i = 0; i < 100 && !quick.host.bdevs().isEmpty(); i++) {
                Thread.sleep(50);
            }
            assertEquals(List.of(), quick.host.bdevs(), "released once its I/O ended");
            Thread.sleep(1500); // a reconnect would come within a second
            assertEquals(List.of(), quick.host.bdevs());
            device.held.forEach(Runnable::run);
        }
    }

    @Test
    void refusesHostsThatAreNotAllowedAndSubsystemsThatDoNotExist() {
        BlockDevice disk = fx.malloc("guarded", 8, 512);
        String uri = fx.target.share(disk, new ShareOptions(List.of("nqn.2019-05.io.openebs:node-name:other"), Map.of()));
        MayastorException refused = assertThrows(MayastorException.class, () -> fx.connect(uri));
        assertEquals(ErrorKind.PERMISSION_DENIED, refused.kind());
        assertEquals("host " + NvmfFixture.HOST_NQN + " is not allowed to connect to nqn.2019-05.io.openebs:guarded at "
                + "127.0.0.1:" + fx.port(), refused.getMessage());

        BlockDevice allowed = fx.connect(uri + "&hostnqn=nqn.2019-05.io.openebs:node-name:other");
        assertEquals(disk.uuid(), allowed.uuid());

        MayastorException missing = assertThrows(MayastorException.class,
                () -> fx.connect("nvmf://127.0.0.1:" + fx.port() + "/nqn.2019-05.io.openebs:nothing"));
        assertEquals(ErrorKind.NOT_FOUND, missing.kind());
        assertEquals("there is no subsystem nqn.2019-05.io.openebs:nothing at 127.0.0.1:" + fx.port(), missing.getMessage());

        MayastorException wrongUuid = assertThrows(MayastorException.class, () -> fx.connect(
                "nvmf://127.0.0.1:" + fx.port() + "/nqn.2019-05.io.openebs:guarded?hostnqn=nqn.2019-05.io.openebs:"
                        + "node-name:other&uuid=00000000-0000-0000-0000-000000000001"));
        assertEquals(ErrorKind.FAILED_PRECONDITION, wrongUuid.kind());

        MayastorException nobody = assertThrows(MayastorException.class,
                () -> fx.connect("nvmf://127.0.0.1:1/nqn.2019-05.io.openebs:x"));
        assertEquals(ErrorKind.UNAVAILABLE, nobody.kind());
        assertTrue(nobody.getMessage().startsWith("cannot connect to 127.0.0.1:1: "), nobody.getMessage());
    }

    @Test
    void rejectsMalformedUris() {
        for (String bad : new String[] {"nvmf:///nqn.x:y", "nvmf://127.0.0.1/notannqn",
                "nvmf://127.0.0.1/nqn.x:y?size=1", "nvmf://127.0.0.1/nqn.x:y?uuid=zz",
                "nvmf://127.0.0.1/nqn.x:y?hostnqn=me"}) {
            MayastorException e = assertThrows(MayastorException.class, () -> fx.connect(bad), bad);
            assertEquals(ErrorKind.INVALID_ARGUMENT, e.kind(), bad);
        }
    }

    @Test
    void aLostTargetFailsIoAndTheBdevReconnectsWhenItReturns() throws Exception {
        BlockDevice disk = fx.malloc("flaky", 8, 512);
        String uri = fx.target.share(disk, ShareOptions.DEFAULT);
        BlockDevice remote = fx.connect(uri);
        write(remote, 0, pattern(4096, 1));

        fx.target.unshare(disk); // every controller of the subsystem goes, and Connect is refused
        DmaBuffer buffer = fx.buffers.allocate(4096);
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            IoStatus status;
            do {
                status = BlockingIo.read(remote, buffer, 0, 0, 8, T);
            } while (status == IoStatus.SUCCESS && System.nanoTime() < deadline);
            assertEquals(IoStatus.UNAVAILABLE, status, "I/O fails while the target is away, it does not hang");

            fx.target.share(disk, ShareOptions.DEFAULT);
            deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            do {
                Thread.sleep(50);
                status = BlockingIo.read(remote, buffer, 0, 0, 8, T);
            } while (status != IoStatus.SUCCESS && System.nanoTime() < deadline);
            assertEquals(IoStatus.SUCCESS, status, "the bdev reconnected");
            byte[] back = new byte[4096];
            buffer.bytes().get(0, back);
            assertArrayEquals(pattern(4096, 1), back);
            assertTrue(fx.host.bdevs().get(0).reconnects() >= 1);
        } finally {
            buffer.release();
        }
    }
}
