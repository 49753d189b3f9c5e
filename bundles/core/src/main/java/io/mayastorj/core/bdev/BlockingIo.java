package io.mayastorj.core.bdev;

import io.mayastorj.core.buffer.DmaBuffer;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Waits for one I/O, on a thread that may block: metadata and diagnostics, and a transport that
 * serves each connection on a thread of its own. Never on a reactor thread or inside an
 * {@link IoCompletion}: the device may complete on that very thread, which would then wait for
 * itself until the timeout.
 *
 * <p>A device that does not answer within the timeout yields {@link IoStatus#TIMED_OUT} (an interrupted
 * wait {@link IoStatus#ABORTED}); the I/O
 * itself may still complete later, reading into or writing from the buffer. The buffer stays the
 * caller's to release, exactly once, as on every other status — it is {@link DmaBuffer#pin()
 * pinned}, so the release returns it to the pool only once the device is done with it — but its
 * contents are undefined and it must not be used for another I/O.
 */
public final class BlockingIo {

    private static final IoCompletion<CompletableFuture<IoStatus>> DONE = (status, future) -> future.complete(status);

    private BlockingIo() {
    }

    public static IoStatus read(BlockDevice device, DmaBuffer buffer, int bufferOffset, long lba, int blocks,
                                Duration timeout) {
        CompletableFuture<IoStatus> future = new CompletableFuture<>();
        device.read(buffer, bufferOffset, lba, blocks, DONE, future);
        return await(future, timeout, buffer);
    }

    public static IoStatus write(BlockDevice device, DmaBuffer buffer, int bufferOffset, long lba, int blocks,
                                 Duration timeout) {
        CompletableFuture<IoStatus> future = new CompletableFuture<>();
        device.write(buffer, bufferOffset, lba, blocks, DONE, future);
        return await(future, timeout, buffer);
    }

    public static IoStatus flush(BlockDevice device, Duration timeout) {
        CompletableFuture<IoStatus> future = new CompletableFuture<>();
        device.flush(DONE, future);
        return await(future, timeout, null);
    }

    public static IoStatus unmap(BlockDevice device, long lba, long blocks, Duration timeout) {
        CompletableFuture<IoStatus> future = new CompletableFuture<>();
        device.unmap(lba, blocks, DONE, future);
        return await(future, timeout, null);
    }

    public static IoStatus writeZeroes(BlockDevice device, long lba, long blocks, Duration timeout) {
        CompletableFuture<IoStatus> future = new CompletableFuture<>();
        device.writeZeroes(lba, blocks, DONE, future);
        return await(future, timeout, null);
    }

    private static IoStatus await(CompletableFuture<IoStatus> future, Duration timeout, DmaBuffer buffer) {
        try {
            return future.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            abandon(future, buffer);
            return IoStatus.TIMED_OUT;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            abandon(future, buffer);
            return IoStatus.ABORTED;
        } catch (ExecutionException e) {
            return IoStatus.FAILED;
        }
    }

    /** The caller stops waiting for an I/O still in flight: its buffer stays pinned until the device completes. */
    private static void abandon(CompletableFuture<IoStatus> future, DmaBuffer buffer) {
        if (buffer != null) {
            buffer.pin();
            future.whenComplete((status, failure) -> buffer.unpin()); // at once if it completed meanwhile
        }
    }
}
