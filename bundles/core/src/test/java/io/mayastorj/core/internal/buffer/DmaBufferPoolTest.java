package io.mayastorj.core.internal.buffer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.mayastorj.core.buffer.BufferPoolStats;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.error.ErrorKind;
import io.mayastorj.core.error.MayastorException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class DmaBufferPoolTest {

    private static final int MIB = 1 << 20;

    @Test
    void requestsRoundUpToTheirSizeClass() {
        assertEquals(0, DmaBufferPool.classOf(1));
        assertEquals(0, DmaBufferPool.classOf(4096));
        assertEquals(1, DmaBufferPool.classOf(4097));
        assertEquals(5, DmaBufferPool.classOf(128 << 10));
        assertEquals(9, DmaBufferPool.classOf(2 * MIB));
        DmaBufferPool pool = new DmaBufferPool(8 * MIB, HugepageMode.OFF);
        try {
            DmaBuffer b = pool.allocate(5000);
            assertEquals(8192, b.capacity());
            assertEquals(0, b.address() % 4096, "page aligned");
            assertTrue(b.bytes().isDirect());
            b.release();
        } finally {
            pool.close();
        }
    }

    /**
     * Review finding: the pool unmapped its memory as it closed, buffers in use or not. A request a
     * device never answered (its queue gave up draining) still holds its buffer, and the kernel may yet
     * write it: into the next pool mapped there after a refresh. With buffers out the memory stays mapped.
     */
    @Test
    void aPoolClosedWithBuffersOutLeavesThemMapped() {
        DmaBufferPool pool = new DmaBufferPool(4 * MIB, HugepageMode.OFF);
        DmaBuffer held = pool.allocate(4096);
        pool.close();
        held.bytes().put(0, (byte) 0x5A); // unmapped, this is a SIGSEGV (the test JVM dies)
        assertEquals(0x5A, held.bytes().get(0));
        held.release();
    }

    /**
     * Review finding: two racing releases of one buffer (a caller's bug) could both pass the owner
     * check and push it twice: the pool's free list then handed that one buffer to every caller.
     * Exactly one release takes it back; the others throw.
     */
    @Test
    void racingReleasesOfOneBufferGiveItBackOnce() throws Exception {
        DmaBufferPool pool = new DmaBufferPool(4 * MIB, HugepageMode.OFF);
        var threads = java.util.concurrent.Executors.newFixedThreadPool(8);
        try {
            for (int round = 0; round < 200; round++) {
                DmaBuffer b = pool.allocate(4096);
                java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
                java.util.concurrent.atomic.AtomicInteger released = new java.util.concurrent.atomic.AtomicInteger();
                java.util.List<java.util.concurrent.Future<?>> all = new java.util.ArrayList<>();
                for (int t = 0; t < 8; t++) {
                    all.add(threads.submit(() -> {
                        go.await();
                        try {
                            b.release();
                            released.incrementAndGet();
                        } catch (IllegalStateException twice) {
                            // the others
                        }
                        return null;
                    }));
                }
                go.countDown();
                for (var f : all) {
                    f.get(5, java.util.concurrent.TimeUnit.SECONDS);
                }
                assertEquals(1, released.get(), "round " + round + ": released once");
            }
            java.util.Set<Long> addresses = new java.util.HashSet<>();
            java.util.List<DmaBuffer> held = new java.util.ArrayList<>();
            for (int i = 0; i < 100; i++) {
                DmaBuffer b = pool.allocate(4096);
                held.add(b);
                assertTrue(addresses.add(b.address()), "allocation " + i + " handed out a buffer in use");
            }
            held.forEach(DmaBuffer::release);
        } finally {
            threads.shutdownNow();
            pool.close();
        }
    }

    @Test
    void releasedBuffersAreReusedWithoutGrowing() {
        DmaBufferPool pool = new DmaBufferPool(4 * MIB, HugepageMode.OFF);
        try {
            DmaBuffer first = pool.allocate(MIB);
            first.release();
            for (int i = 0; i < 1000; i++) {
                DmaBuffer again = pool.allocate(MIB);
                assertNotNull(again);
                again.release();
            }
            BufferPoolStats stats = pool.stats();
            assertEquals(0, stats.usedBytes());
            assertEquals(2, stats.classes().get(DmaBufferPool.classOf(MIB)).buffers(), "one chunk carved once");
        } finally {
            pool.close();
        }
    }

    @Test
    void anExhaustedPoolReturnsNullAndCountsTheFailure() {
        DmaBufferPool pool = new DmaBufferPool(4 * MIB, HugepageMode.OFF); // two 2 MiB chunks
        try {
            DmaBuffer a = pool.allocate(2 * MIB);
            DmaBuffer b = pool.allocate(2 * MIB);
            assertNotNull(a);
            assertNotNull(b);
            assertNull(pool.allocate(4096), "no chunk left for another size class");
            assertNull(pool.allocate(2 * MIB));
            assertEquals(2, pool.stats().allocationFailures());
            assertEquals(4 * MIB, pool.stats().usedBytes());
            a.release();
            assertSame(a, pool.allocate(2 * MIB));
        } finally {
            pool.close();
        }
    }

    /**
     * A burst of small transfers does not carve every chunk: the last few stay for larger classes
     * that have none, so a 2 MiB or 1 MiB request is served; both failed for good once 4 KiB
     * buffers had taken every chunk.
     */
    @Test
    void smallBuffersLeaveChunksForLargerClassesThatHaveNone() {
        DmaBufferPool pool = new DmaBufferPool(32 * MIB, HugepageMode.OFF); // sixteen chunks
        java.util.List<DmaBuffer> small = new java.util.ArrayList<>();
        try {
            for (DmaBuffer b = pool.allocate(4096); b != null; b = pool.allocate(4096)) {
                small.add(b);
            }
            assertTrue(small.size() >= 8 * (2 * MIB / 4096), "most of the pool went to 4 KiB buffers: " + small.size());
            DmaBuffer large = pool.allocate(2 * MIB);
            assertNotNull(large, "a 2 MiB buffer");
            DmaBuffer half = pool.allocate(MIB);
            assertNotNull(half, "a 1 MiB buffer");
            large.release();
            half.release();
        } finally {
            small.forEach(DmaBuffer::release);
            pool.close();
        }
    }

    /**
     * Chunks stay with the class they were carved for: once a burst of large transfers took them all,
     * a class that never got one is served a free larger buffer — it once stayed dry until a restart.
     */
    @Test
    void aClassWithoutAChunkIsServedALargerFreeBuffer() {
        DmaBufferPool pool = new DmaBufferPool(4 * MIB, HugepageMode.OFF);
        try {
            DmaBuffer a = pool.allocate(2 * MIB);
            DmaBuffer b = pool.allocate(2 * MIB);
            a.release();
            b.release(); // the pool is idle, every chunk carved for 2 MiB buffers
            DmaBuffer small = pool.allocate(4096);
            assertNotNull(small, "an idle pool serves a 4 KiB buffer");
            assertTrue(small.capacity() >= 4096);
            assertEquals(2 * MIB, pool.stats().usedBytes(), "counted in the class it belongs to");
            small.release();
            assertEquals(0, pool.stats().usedBytes());
            assertNotNull(pool.allocate(2 * MIB));
            assertNotNull(pool.allocate(2 * MIB), "back with its own class");
        } finally {
            pool.close();
        }
    }

    @Test
    void badSizesAreRefused() {
        DmaBufferPool pool = new DmaBufferPool(4 * MIB, HugepageMode.OFF);
        try {
            assertEquals("buffer size must be 1..2097152 bytes: 0",
                    assertThrows(IllegalArgumentException.class, () -> pool.allocate(0)).getMessage());
            assertEquals("buffer size must be 1..2097152 bytes: 2097153",
                    assertThrows(IllegalArgumentException.class, () -> pool.allocate(2 * MIB + 1)).getMessage());
        } finally {
            pool.close();
        }
    }

    @Test
    void releasingTwiceIsABugThatThrows() {
        DmaBufferPool pool = new DmaBufferPool(4 * MIB, HugepageMode.OFF);
        try {
            DmaBuffer b = pool.allocate(4096);
            b.release();
            IllegalStateException e = assertThrows(IllegalStateException.class, b::release);
            assertTrue(e.getMessage().endsWith("released twice"), e.getMessage());
        } finally {
            pool.close();
        }
    }

    @Test
    void tooSmallAPoolIsRefused() {
        MayastorException e = assertThrows(MayastorException.class, () -> new DmaBufferPool(MIB, HugepageMode.OFF));
        assertEquals(ErrorKind.INVALID_ARGUMENT, e.kind());
        assertEquals("buffers.mb=1: the buffer pool needs 2 MiB to 1 TiB", e.getMessage());
    }

    @Test
    void hugepageModeFollowsWhatTheNodeHas() throws Exception {
        long free = hugepagesFree();
        if (free >= 2) {
            DmaBufferPool pool = new DmaBufferPool(4 * MIB, HugepageMode.ON);
            try {
                assertTrue(pool.onHugepages());
                assertEquals(2, pool.stats().hugepagesInUse());
                DmaBuffer b = pool.allocate(4096);
                b.bytes().putLong(0, 42);
                assertEquals(42, b.bytes().getLong(0));
            } finally {
                pool.close();
            }
        } else {
            MayastorException e = assertThrows(MayastorException.class, () -> new DmaBufferPool(4 * MIB, HugepageMode.ON));
            assertEquals(ErrorKind.RESOURCE_EXHAUSTED, e.kind());
            assertTrue(e.getMessage().startsWith("hugepages=on but the buffer pool (4 MiB) cannot be put on hugepages"),
                    e.getMessage());
            assertTrue(e.getMessage().endsWith("Reserve 2 with: echo 2 > /proc/sys/vm/nr_hugepages"), e.getMessage());
        }
        DmaBufferPool auto = new DmaBufferPool(4 * MIB, HugepageMode.AUTO);
        try {
            assertEquals(free >= 2, auto.onHugepages());
            assertEquals(free >= 2 ? 2 : 0, auto.stats().hugepagesInUse());
        } finally {
            auto.close();
        }
        DmaBufferPool off = new DmaBufferPool(4 * MIB, HugepageMode.OFF);
        assertFalse(off.onHugepages());
        off.close();
    }

    private static long hugepagesFree() throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
            if (line.startsWith("HugePages_Free:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        return 0;
    }

    @Test
    void concurrentThreadsNeverShareABuffer() throws Exception {
        DmaBufferPool pool = new DmaBufferPool(8 * MIB, HugepageMode.OFF);
        try {
            Set<Long> owned = ConcurrentHashMap.newKeySet();
            AtomicInteger conflicts = new AtomicInteger();
            List<Throwable> crashes = new java.util.concurrent.CopyOnWriteArrayList<>();
            List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                Thread thread = new Thread(() -> {
                    for (int i = 0; i < 50_000; i++) {
                        DmaBuffer b = pool.allocate(4096 << (i % 3));
                        if (b == null) {
                            continue;
                        }
                        if (!owned.add(b.address())) {
                            conflicts.incrementAndGet();
                        }
                        owned.remove(b.address());
                        b.release();
                    }
                });
                thread.setUncaughtExceptionHandler((crashed, e) -> crashes.add(e));
                threads.add(thread);
                thread.start();
            }
            for (Thread thread : threads) {
                thread.join();
            }
            assertEquals(List.of(), crashes);
            assertEquals(0, conflicts.get());
            assertEquals(0, pool.stats().usedBytes());
        } finally {
            pool.close();
        }
    }
}
