package io.mayastorj.core.bdev;

import io.mayastorj.core.buffer.DmaBuffer;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Waits for one I/O: for administrative paths (metadata, diagnostics, tests), never for the data
 * path, which completes by callback. A device that does not answer within the timeout yields
 * {@link IoStatus#TIMED_OUT}; the I/O itself may still complete later.
 */
public final class BlockingIo {

    private static final IoCompletion<CompletableFuture<IoStatus>> DONE = (status, future) -> future.complete(status);

    private BlockingIo() {
    }

    public static IoStatus read(BlockDevice device, DmaBuffer buffer, int bufferOffset, long lba, int blocks,
                                Duration timeout) {
        CompletableFuture<IoStatus> future = new CompletableFuture<>();
        device.read(buffer, bufferOffset, lba, blocks, DONE, future);
        return await(future, timeout);
    }

    public static IoStatus write(BlockDevice device, DmaBuffer buffer, int bufferOffset, long lba, int blocks,
                                 Duration timeout) {
        CompletableFuture<IoStatus> future = new CompletableFuture<>();
        device.write(buffer, bufferOffset, lba, blocks, DONE, future);
        return await(future, timeout);
    }

    public static IoStatus flush(BlockDevice device, Duration timeout) {
        CompletableFuture<IoStatus> future = new CompletableFuture<>();
        device.flush(DONE, future);
        return await(future, timeout);
    }

    public static IoStatus unmap(BlockDevice device, long lba, long blocks, Duration timeout) {
        CompletableFuture<IoStatus> future = new CompletableFuture<>();
        device.unmap(lba, blocks, DONE, future);
        return await(future, timeout);
    }

    public static IoStatus writeZeroes(BlockDevice device, long lba, long blocks, Duration timeout) {
        CompletableFuture<IoStatus> future = new CompletableFuture<>();
        device.writeZeroes(lba, blocks, DONE, future);
        return await(future, timeout);
    }

    private static IoStatus await(CompletableFuture<IoStatus> future, Duration timeout) {
        try {
            return future.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            return IoStatus.TIMED_OUT;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return IoStatus.ABORTED;
        } catch (ExecutionException e) {
            return IoStatus.FAILED;
        }
    }
}
