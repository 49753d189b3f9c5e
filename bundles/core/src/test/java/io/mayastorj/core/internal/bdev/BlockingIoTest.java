package io.mayastorj.core.internal.bdev;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.BlockingIo;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.buffer.DmaBuffer;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Who owns a buffer after a blocking I/O gave up waiting: the device, until it completes. */
class BlockingIoTest {

    /** A malloc bdev whose reads and writes complete only once {@code gate} opens (on another thread). */
    private static BlockDevice late(BlockDevice device, CountDownLatch gate, CountDownLatch done) {
        InvocationHandler h = (proxy, method, args) -> {
            if (method.getName().equals("read") || method.getName().equals("write")) {
                Thread.ofPlatform().daemon().start(() -> {
                    try {
                        gate.await();
                        method.invoke(device, args);
                    } catch (ReflectiveOperationException | InterruptedException e) {
                        throw new AssertionError(e);
                    } finally {
                        done.countDown();
                    }
                });
                return null;
            }
            return invoke(device, method, args);
        };
        return (BlockDevice) Proxy.newProxyInstance(BlockDevice.class.getClassLoader(), new Class<?>[] {BlockDevice.class}, h);
    }

    private static Object invoke(Object target, Method method, Object[] args) throws Throwable {
        try {
            return method.invoke(target, args);
        } catch (java.lang.reflect.InvocationTargetException e) {
            throw e.getCause();
        }
    }

    @Test
    void aTimedOutReadKeepsItsBufferOutOfThePoolUntilTheDeviceIsDone() throws Exception {
        BlockDevice malloc = new MallocBdev("m0", UUID.randomUUID(), 4096, 256);
        CountDownLatch gate = new CountDownLatch(1);
        CountDownLatch done = new CountDownLatch(1);
        BlockDevice slow = late(malloc, gate, done);
        try (TestPool pool = new TestPool()) {
            DmaBuffer seed = pool.allocate(4096);
            TestPool.fill(seed, 4096, 7);
            assertEquals(IoStatus.SUCCESS, BlockingIo.write(malloc, seed, 0, 3, 1, Duration.ofSeconds(5)));
            seed.release();

            DmaBuffer b = pool.allocate(4096);
            long used = pool.pool.stats().usedBytes();
            assertEquals(IoStatus.TIMED_OUT, BlockingIo.read(slow, b, 0, 3, 1, Duration.ofMillis(50)));
            b.release(); // the caller releases as on any other status...
            assertEquals(used, pool.pool.stats().usedBytes(), "...but the device still reads into it: not back in the pool yet");
            assertThrows(IllegalStateException.class, b::release, "still released twice is a bug");

            gate.countDown();
            assertEquals(true, done.await(5, TimeUnit.SECONDS));
            assertEquals(used - 4096, pool.pool.stats().usedBytes(), "back once the late read completed");
        }
        malloc.close();
    }

    @Test
    void aLateCompletionBeforeTheReleaseLeavesTheReleaseOrdinary() throws Exception {
        BlockDevice malloc = new MallocBdev("m1", UUID.randomUUID(), 4096, 256);
        CountDownLatch gate = new CountDownLatch(1);
        CountDownLatch done = new CountDownLatch(1);
        BlockDevice slow = late(malloc, gate, done);
        try (TestPool pool = new TestPool()) {
            DmaBuffer b = pool.allocate(4096);
            TestPool.fill(b, 4096, 9);
            byte[] written = TestPool.bytes(b, 0, 4096);
            assertEquals(IoStatus.TIMED_OUT, BlockingIo.write(slow, b, 0, 5, 1, Duration.ofMillis(20)));
            gate.countDown();
            assertEquals(true, done.await(5, TimeUnit.SECONDS));
            long used = pool.pool.stats().usedBytes();
            b.release();
            assertEquals(used - 4096, pool.pool.stats().usedBytes(), "the device was done: the release returns it at once");

            DmaBuffer check = pool.allocate(4096);
            assertEquals(IoStatus.SUCCESS, BlockingIo.read(malloc, check, 0, 5, 1, Duration.ofSeconds(5)));
            assertArrayEquals(written, TestPool.bytes(check, 0, 4096), "the late write landed");
            check.release();
        }
        malloc.close();
    }
}
