package io.mayastorj.core.bdev;

import io.mayastorj.core.buffer.DmaBuffer;
import java.util.Objects;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;

/**
 * The common half of a bdev: it validates every request, counts it, tracks the I/O in flight so
 * that {@link #close()} never frees memory under a running transfer, and leaves the device-specific
 * half to {@code doRead}, {@code doWrite} and friends.
 *
 * <p>A subclass must end every I/O it accepted with exactly one call to {@link #complete}.
 */
public abstract class BlockDeviceBase implements BlockDevice {

    /** How long {@link #close()} waits for I/O to drain; a property so that tests need not wait 30 s. */
    private static final String CLOSE_WAIT_PROPERTY = "mayastor.bdev.close-wait-millis";

    private final String name;
    private final UUID uuid;
    private final int blockSize;
    private volatile long blockCount;

    /**
     * I/O in flight is {@code entered - exited}: two counters that only grow. One that went up and
     * down (a refused submitter's increment, then decrement) could be summed one short while a close
     * read it — a LongAdder's sum is no snapshot, and the two changes may land in different cells —
     * and the device was released under a running I/O. Read exited first, then entered, the
     * difference is never below what was in flight between the two reads.
     */
    private final LongAdder entered = new LongAdder();
    private final LongAdder exited = new LongAdder();
    /** Set by the one {@link #close()} that runs; from then on no I/O gets in. */
    private final AtomicBoolean closed = new AtomicBoolean();
    /** Close returned with I/O in flight: the last completion releases the device. */
    private volatile boolean closeDeferred;
    /** {@link #doClose()} ran or is running, exactly once. */
    private final AtomicBoolean released = new AtomicBoolean();

    private final LongAdder readOps = new LongAdder();
    private final LongAdder bytesRead = new LongAdder();
    private final LongAdder writeOps = new LongAdder();
    private final LongAdder bytesWritten = new LongAdder();
    private final LongAdder unmapOps = new LongAdder();
    private final LongAdder bytesUnmapped = new LongAdder();
    private final LongAdder writeZeroesOps = new LongAdder();
    private final LongAdder bytesZeroed = new LongAdder();
    private final LongAdder flushOps = new LongAdder();
    private final LongAdder errors = new LongAdder();

    protected BlockDeviceBase(String name, UUID uuid, int blockSize, long blockCount) {
        this.name = Objects.requireNonNull(name, "name");
        this.uuid = Objects.requireNonNull(uuid, "uuid");
        if (blockSize <= 0 || Integer.bitCount(blockSize) != 1) {
            throw new IllegalArgumentException("block size must be a power of two: " + blockSize);
        }
        if (blockCount <= 0) {
            throw new IllegalArgumentException("block count must be positive: " + blockCount);
        }
        this.blockSize = blockSize;
        this.blockCount = blockCount;
    }

    @Override
    public final String name() {
        return name;
    }

    @Override
    public final UUID uuid() {
        return uuid;
    }

    @Override
    public final int blockSize() {
        return blockSize;
    }

    @Override
    public final long blockCount() {
        return blockCount;
    }

    /** Grows the device (a resized replica); shrinking is not supported. */
    protected final void grow(long newBlockCount) {
        if (newBlockCount < blockCount) {
            throw new IllegalArgumentException("a bdev cannot shrink: " + blockCount + " -> " + newBlockCount);
        }
        blockCount = newBlockCount;
    }

    @Override
    public int bufferAlignment() {
        return 1;
    }

    public final boolean isClosed() {
        return closed.get();
    }

    @Override
    public final <C> void read(DmaBuffer buffer, int bufferOffset, long lba, int blocks,
                               IoCompletion<? super C> done, C context) {
        IoStatus invalid = checkTransfer(buffer, bufferOffset, lba, blocks);
        if (invalid != null) {
            reject(invalid, done, context);
        } else if (enter()) {
            doRead(buffer, bufferOffset, lba, blocks, done, context);
        } else {
            reject(IoStatus.DEVICE_CLOSED, done, context);
        }
    }

    @Override
    public final <C> void write(DmaBuffer buffer, int bufferOffset, long lba, int blocks,
                                IoCompletion<? super C> done, C context) {
        IoStatus invalid = checkTransfer(buffer, bufferOffset, lba, blocks);
        if (invalid != null) {
            reject(invalid, done, context);
        } else if (enter()) {
            doWrite(buffer, bufferOffset, lba, blocks, done, context);
        } else {
            reject(IoStatus.DEVICE_CLOSED, done, context);
        }
    }

    @Override
    public final <C> void flush(IoCompletion<? super C> done, C context) {
        if (!supports(IoType.FLUSH)) {
            reject(IoStatus.UNSUPPORTED, done, context);
        } else if (enter()) {
            doFlush(done, context);
        } else {
            reject(IoStatus.DEVICE_CLOSED, done, context);
        }
    }

    @Override
    public final <C> void unmap(long lba, long blocks, IoCompletion<? super C> done, C context) {
        IoStatus invalid = supports(IoType.UNMAP) ? checkRange(lba, blocks) : IoStatus.UNSUPPORTED;
        if (invalid != null) {
            reject(invalid, done, context);
        } else if (enter()) {
            doUnmap(lba, blocks, done, context);
        } else {
            reject(IoStatus.DEVICE_CLOSED, done, context);
        }
    }

    @Override
    public final <C> void writeZeroes(long lba, long blocks, IoCompletion<? super C> done, C context) {
        IoStatus invalid = supports(IoType.WRITE_ZEROES) ? checkRange(lba, blocks) : IoStatus.UNSUPPORTED;
        if (invalid != null) {
            reject(invalid, done, context);
        } else if (enter()) {
            doWriteZeroes(lba, blocks, done, context);
        } else {
            reject(IoStatus.DEVICE_CLOSED, done, context);
        }
    }

    protected abstract <C> void doRead(DmaBuffer buffer, int bufferOffset, long lba, int blocks,
                                       IoCompletion<? super C> done, C context);

    protected abstract <C> void doWrite(DmaBuffer buffer, int bufferOffset, long lba, int blocks,
                                        IoCompletion<? super C> done, C context);

    protected abstract <C> void doFlush(IoCompletion<? super C> done, C context);

    protected <C> void doUnmap(long lba, long blocks, IoCompletion<? super C> done, C context) {
        complete(IoType.UNMAP, 0, IoStatus.UNSUPPORTED, done, context);
    }

    protected <C> void doWriteZeroes(long lba, long blocks, IoCompletion<? super C> done, C context) {
        complete(IoType.WRITE_ZEROES, 0, IoStatus.UNSUPPORTED, done, context);
    }

    /**
     * Ends an I/O that the device accepted: counts it, leaves the in-flight set, and calls back.
     *
     * @param bytes the bytes the request covered (counted only on success)
     */
    protected final <C> void complete(IoType type, long bytes, IoStatus status,
                                      IoCompletion<? super C> done, C context) {
        if (status == IoStatus.SUCCESS) {
            switch (type) {
                case READ -> { readOps.increment(); bytesRead.add(bytes); }
                case WRITE -> { writeOps.increment(); bytesWritten.add(bytes); }
                case UNMAP -> { unmapOps.increment(); bytesUnmapped.add(bytes); }
                case WRITE_ZEROES -> { writeZeroesOps.increment(); bytesZeroed.add(bytes); }
                case FLUSH -> flushOps.increment();
            }
        } else {
            errors.increment();
        }
        exited.increment();
        try {
            done.ioDone(status, context);
        } finally {
            if (closeDeferred) {
                releaseWhenDrained();
            }
        }
    }

    @Override
    public BdevStats stats() {
        return new BdevStats(readOps.sum(), bytesRead.sum(), writeOps.sum(), bytesWritten.sum(),
                unmapOps.sum(), bytesUnmapped.sum(), writeZeroesOps.sum(), bytesZeroed.sum(),
                flushOps.sum(), errors.sum(), Math.max(0, inFlight()));
    }

    /**
     * Refuses new I/O, waits up to 30 s for what is in flight, then releases the device. I/O that
     * outlives the wait (a target that stopped answering), or a close from a thread that the
     * remaining I/O needs to complete ({@link #mayWaitHere}), leaves the release to the last
     * completion: resources that running I/O may touch are never freed under it, and never kept
     * for good either (a file's lock held, a session reconnecting for ever). Only the first call
     * does anything.
     */
    @Override
    public final void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        // A submitter enters (increments) before it checks the flag, so once the flag is set
        // every I/O that got in is counted here, and none can get in after.
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(Long.getLong(CLOSE_WAIT_PROPERTY, 30_000));
        boolean mayWait = mayWaitHere();
        while (inFlight() > 0) {
            if (!mayWait || System.nanoTime() - deadline > 0) {
                if (mayWait) {
                    onCloseTimeout(inFlight());
                }
                closeDeferred = true;
                releaseWhenDrained(); // it may have drained meanwhile, its completion not seeing the flag
                return;
            }
            awaitProgress();
        }
        if (mayWait) {
            release();
        } else {
            releaseElsewhere();
        }
    }

    /**
     * Whether {@link #close()} may wait on this thread for the I/O in flight: false on a thread
     * that runs the device's completions in turn (a helper executing its queue), which would wait
     * for itself.
     */
    protected boolean mayWaitHere() {
        return true;
    }

    /**
     * Called while {@link #close()} waits for I/O to drain. The default sleeps briefly; a device
     * whose completions are reaped by the closing thread itself (a reactor's ring) reaps them here.
     */
    protected void awaitProgress() {
        java.util.concurrent.locks.LockSupport.parkNanos(100_000); // closing is rare: no need to spin
    }

    /** Releases the device's resources; no I/O is in flight. */
    protected abstract void doClose();

    /** I/O did not drain within the close's wait: the device is released when it does. */
    protected void onCloseTimeout(long stillInFlight) {
        System.getLogger("mayastor.bdev").log(System.Logger.Level.ERROR,
                "bdev {0}: {1} I/O still in flight {2} ms after close; the device is released when it ends", name,
                stillInFlight, Long.getLong(CLOSE_WAIT_PROPERTY, 30_000));
    }

    private void release() {
        if (released.compareAndSet(false, true)) {
            doClose();
        }
    }

    private void releaseWhenDrained() {
        if (inFlight() == 0) {
            releaseElsewhere();
        }
    }

    /** On a thread of its own: the thread that completed the last I/O may be one the release stops and awaits. */
    private void releaseElsewhere() {
        if (released.compareAndSet(false, true)) {
            Thread t = new Thread(this::doClose, "close " + name);
            t.setDaemon(true);
            t.start();
        }
    }

    /** I/O in flight: never less than what was in flight at some moment during the call. */
    private long inFlight() {
        long out = exited.sum();
        return entered.sum() - out;
    }

    private boolean enter() {
        entered.increment();
        if (closed.get()) {
            exited.increment();
            if (closeDeferred) {
                releaseWhenDrained(); // the last completion may have counted this one in
            }
            return false;
        }
        return true;
    }

    private <C> void reject(IoStatus status, IoCompletion<? super C> done, C context) {
        errors.increment();
        done.ioDone(status, context);
    }

    private IoStatus checkTransfer(DmaBuffer buffer, int bufferOffset, long lba, int blocks) {
        if (blocks <= 0) {
            return IoStatus.INVALID_LENGTH;
        }
        IoStatus range = checkRange(lba, blocks);
        if (range != null) {
            return range;
        }
        long bytes = (long) blocks * blockSize;
        if (bufferOffset < 0 || bufferOffset + bytes > buffer.capacity()) {
            return IoStatus.BUFFER_TOO_SMALL;
        }
        if (((buffer.address() + bufferOffset) & (bufferAlignment() - 1)) != 0) {
            return IoStatus.MISALIGNED_BUFFER;
        }
        return null;
    }

    private IoStatus checkRange(long lba, long blocks) {
        if (blocks <= 0) {
            return IoStatus.INVALID_LENGTH;
        }
        long count = blockCount;
        if (lba < 0 || lba >= count || blocks > count - lba) {
            return IoStatus.LBA_OUT_OF_RANGE;
        }
        return null;
    }

    @Override
    public String toString() {
        return productName() + " " + name;
    }
}
