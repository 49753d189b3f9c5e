package io.mayastorj.pool.internal;

import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.BlockingIo;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.buffer.BufferPool;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.core.text.Sizes;
import io.mayastorj.pool.internal.format.Layout;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The pool's block device as the metadata code uses it: blocking reads and writes of 4 KiB pages,
 * device flushes, and zeroing of byte ranges and data clusters. A failed request becomes an
 * {@link IOException} naming what failed. Replica I/O never passes through here: it goes to the
 * device asynchronously, from {@link Replica}.
 */
final class PoolDevice {

    private static final System.Logger LOG = System.getLogger("mayastor.pool");

    /** How long a metadata I/O may take before the pool faults; shorter only in tests of that fault. */
    static volatile Duration ioTimeout = Duration.ofSeconds(30);
    /** Zeroing goes in write-zeroes of at most this many bytes, each given {@link #ZERO_STEP_TIMEOUT}. */
    static final long ZERO_STEP = 1L << 30;
    static final Duration ZERO_STEP_TIMEOUT = Duration.ofMinutes(5);
    /** {@link #ZERO_STEP_TIMEOUT}; shorter only in tests. */
    static volatile Duration zeroStepTimeout = ZERO_STEP_TIMEOUT;
    private static final int ZERO_CHUNK = 1 << 20;

    final BlockDevice device;
    private final BufferPool buffers;

    /**
     * Write-zeroes whose wait timed out and that the device has not answered yet: one may still land.
     * A zeroing refuses to start while any is (a destroy tried again zeroed, removed the replica and
     * freed its clusters, and the late zeros then wiped what another replica wrote there since), and
     * an export waits for them.
     */
    private final java.util.concurrent.atomic.AtomicInteger abandonedZeroes = new java.util.concurrent.atomic.AtomicInteger();

    /** Write-zeroes given up on and not answered yet. */
    int abandonedZeroes() {
        return abandonedZeroes.get();
    }

    /**
     * Told at each step of a zeroing, and every 5 s while a step is at the device: an import at the
     * node's start (a destroy finished) may zero for minutes on a slow device, and the start is failed
     * as stalled after 45 s without word of progress.
     */
    private volatile Runnable progress = () -> { };
    /** How often a zeroing request that the device still has tells {@link #progress}. */
    private static final long PROGRESS_SLICE_NANOS = java.util.concurrent.TimeUnit.SECONDS.toNanos(5);

    void progress(Runnable progress) {
        this.progress = progress;
    }

    PoolDevice(BlockDevice device, BufferPool buffers) {
        this.device = device;
        this.buffers = buffers;
    }

    DmaBuffer page() {
        return buffer(Layout.PAGE);
    }

    DmaBuffer buffer(int size) {
        for (int attempt = 0; attempt < 1000; attempt++) {
            DmaBuffer page = buffers.allocate(size);
            if (page != null) {
                return page;
            }
            try {
                Thread.sleep(1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        throw MayastorException.resourceExhausted("no I/O buffer is free for pool metadata");
    }

    void readPage(DmaBuffer page, long offset) throws IOException {
        checked(BlockingIo.read(device, page, 0, offset / device.blockSize(), Layout.PAGE / device.blockSize(),
                ioTimeout), "read of metadata at byte " + offset);
    }

    void writePage(DmaBuffer page, long offset) throws IOException {
        checked(BlockingIo.write(device, page, 0, offset / device.blockSize(), Layout.PAGE / device.blockSize(),
                ioTimeout), "write of metadata at byte " + offset);
    }

    /** A device flush: every write that completed before it is durable once it returns. */
    void flush() throws IOException {
        checked(BlockingIo.flush(device, ioTimeout), "flush");
    }

    static void checked(IoStatus status, String what) throws IOException {
        if (status != IoStatus.SUCCESS) {
            throw new IOException(what + " failed: " + status);
        }
    }

    /** Makes a byte range read as zeros: write-zeroes, or zero pages where the device has none. */
    void zero(long offset, long length) throws IOException {
        zero(offset, length, () -> false);
    }

    /** ... looking at {@code stop} between steps: a zeroing its pool no longer wants ends with an IOException. */
    void zero(long offset, long length, java.util.function.BooleanSupplier stop) throws IOException {
        long lba = offset / device.blockSize();
        long blocks = length / device.blockSize();
        // a step at a time, each with its own deadline: a device without a fast write-zeroes (libata, many
        // virtual disks) writes zeros at its own speed, and one request for a pool's whole data area, or a
        // large thick replica's, ran out of a fixed deadline on every try — a destroy resumed at import
        // then faulted the whole pool at every start
        long step = ZERO_STEP / device.blockSize();
        if (abandonedZeroes.get() > 0) {
            throw new IOException("an earlier zeroing request, which timed out, is still at the device; try again once it "
                    + "has ended");
        }
        IoStatus status = IoStatus.SUCCESS;
        long done = 0;
        for (; done < blocks && status == IoStatus.SUCCESS; done += step) {
            stopped(stop);
            status = writeZeroes(lba + done, Math.min(step, blocks - done), zeroStepTimeout);
        }
        if (status != IoStatus.UNSUPPORTED) {
            checked(status, "zeroing " + Sizes.human(length));
            return;
        }
        done -= step; // the step refused, and what follows it: zero pages
        lba += done;
        blocks -= done;
        DmaBuffer zeros = buffers.allocate(ZERO_CHUNK);
        if (zeros == null) {
            throw new IOException("no buffer for zeroing");
        }
        boolean[] lent = {false}; // to a write given up on: released when the device answers it, not before
        try {
            zeros.bytes().put(0, new byte[ZERO_CHUNK]);
            int chunkBlocks = ZERO_CHUNK / device.blockSize();
            for (long at = 0; at < blocks; at += chunkBlocks) {
                int n = (int) Math.min(chunkBlocks, blocks - at);
                long from = lba + at;
                stopped(stop);
                // counted as write-zeroes are: zeros landing late could wipe what another replica wrote there since
                Duration patience = zeroStepTimeout.compareTo(ioTimeout) < 0 ? zeroStepTimeout : ioTimeout;
                checked(counted(answer -> device.write(zeros, 0, from, n, answer, null), patience,
                        "a zeroing write of " + n + " blocks at " + from, () -> {
                            lent[0] = true;
                            return zeros::release;
                        }), "zeroing");
            }
        } finally {
            if (!lent[0]) {
                zeros.release();
            }
        }
    }

    /**
     * One write-zeroes, waited for up to {@code timeout}; given up on (a timeout, an interrupt), it is
     * counted in {@link #abandonedZeroes} until the device answers it.
     */
    private IoStatus writeZeroes(long lba, long blocks, Duration timeout) {
        return counted(done -> device.writeZeroes(lba, blocks, done, null), timeout,
                "a write-zeroes of " + blocks + " blocks at " + lba, () -> null);
    }

    /**
     * One zeroing request, waited for up to {@code timeout}; given up on (a timeout, an interrupt), it is
     * counted in {@link #abandonedZeroes} until the device answers it, and {@code abandoned} says what
     * to run then (a buffer's release), or null.
     */
    private IoStatus counted(java.util.function.Consumer<io.mayastorj.core.bdev.IoCompletion<Object>> submit, Duration timeout,
                             String what, java.util.function.Supplier<Runnable> abandoned) {
        java.util.concurrent.CompletableFuture<IoStatus> done = new java.util.concurrent.CompletableFuture<>();
        java.util.concurrent.atomic.AtomicInteger state = new java.util.concurrent.atomic.AtomicInteger(); // 1 answered, 2 abandoned
        Runnable[] whenAnswered = {null};
        submit.accept((IoStatus status, Object ignored) -> {
            if (state.getAndSet(1) == 2) {
                if (whenAnswered[0] != null) {
                    whenAnswered[0].run();
                }
                abandonedZeroes.decrementAndGet();
                LOG.log(Level.WARNING, "{0}: {1}, given up on, was answered now ({2})", device.name(), what, status);
            }
            done.complete(status);
        });
        try {
            // waited in slices, telling progress between: one step of a device that writes its zeros itself can take
            // minutes, and the node's start is failed after 45 s without word
            long deadline = System.nanoTime() + timeout.toNanos();
            while (true) {
                long left = deadline - System.nanoTime();
                try {
                    return done.get(Math.max(0, Math.min(left, PROGRESS_SLICE_NANOS)), java.util.concurrent.TimeUnit.NANOSECONDS);
                } catch (java.util.concurrent.TimeoutException slice) {
                    if (left <= PROGRESS_SLICE_NANOS) {
                        throw slice;
                    }
                    progress.run();
                }
            }
        } catch (java.util.concurrent.TimeoutException | InterruptedException e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            whenAnswered[0] = abandoned.get(); // before the state says abandoned: the late answer runs it
            if (state.compareAndSet(0, 2)) {
                abandonedZeroes.incrementAndGet();
                LOG.log(Level.ERROR, "{0}: {1} was not answered within {2} s; no zeroing starts until it is", device.name(),
                        what, String.valueOf(timeout.toSeconds()));
            } else if (whenAnswered[0] != null) {
                whenAnswered[0].run(); // answered meanwhile after all
            }
            return e instanceof InterruptedException ? IoStatus.ABORTED : IoStatus.TIMED_OUT;
        } catch (java.util.concurrent.ExecutionException e) {
            return IoStatus.FAILED;
        }
    }

    private void stopped(java.util.function.BooleanSupplier stop) throws IOException {
        if (stop.getAsBoolean()) {
            throw new IOException("the zeroing stopped: the pool is being exported or destroyed");
        }
        progress.run();
    }

    /** Zeroes data clusters of {@code layout}, merging neighbours into one request. */
    void zeroClusters(Layout layout, List<Integer> clusters) throws IOException {
        zeroClusters(layout, clusters, () -> false);
    }

    /** ... looking at {@code stop} between steps. */
    void zeroClusters(Layout layout, List<Integer> clusters, java.util.function.BooleanSupplier stop) throws IOException {
        java.util.BitSet set = new java.util.BitSet();
        clusters.forEach(set::set);
        zeroClusters(layout, set, stop);
    }

    /**
     * ... the clusters set in {@code clusters}: a bit each, not a boxed number — a repair of a large,
     * mostly free pool zeroes tens of millions of them.
     */
    void zeroClusters(Layout layout, java.util.BitSet clusters, java.util.function.BooleanSupplier stop) throws IOException {
        for (int start = clusters.nextSetBit(0); start >= 0; ) {
            int end = clusters.nextClearBit(start); // exclusive
            zero(layout.clusterOffset(start), (long) (end - start) * layout.clusterSize(), stop);
            start = clusters.nextSetBit(end);
        }
    }
}
