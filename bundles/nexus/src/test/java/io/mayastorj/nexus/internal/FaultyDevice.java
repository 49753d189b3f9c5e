package io.mayastorj.nexus.internal;

import io.mayastorj.core.bdev.BdevStats;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.buffer.DmaBuffer;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A real RAM bdev with a switch that makes it fail, as a dead disk or a lost connection would:
 * reads, writes or both end with the status set here. It can also say which 64 KiB ranges were
 * ever written (as a thin replica does), so a rebuild can skip the rest.
 */
final class FaultyDevice implements BlockDevice {

    private final BlockDevice inner;
    private final String name;
    volatile IoStatus failReads;
    volatile IoStatus failWrites;
    /** Writes reach nothing and fail with this, {@link #delayMicros} later (a connection that died with them in flight). */
    volatile IoStatus failWritesLate;
    /** Writes land, then fail with this (a timeout whose write reached the disk all the same). */
    volatile IoStatus failWritesLanded;
    /** Track written 64 KiB ranges and answer holdsData from them. */
    volatile boolean thin;
    private final ConcurrentHashMap.KeySetView<Long, Boolean> written = ConcurrentHashMap.newKeySet();
    /** Completions arrive this much later, on another thread, as over a network. */
    volatile long delayMicros;
    private static final java.util.concurrent.ScheduledExecutorService LATER =
            java.util.concurrent.Executors.newScheduledThreadPool(2, r -> {
                Thread t = new Thread(r, "faulty-device-completions");
                t.setDaemon(true);
                return t;
            });
    /** What {@link #reattachments} says: raised by a test as a remote device's reconnect would. */
    volatile long reattached;
    final AtomicLong writes = new AtomicLong();
    /** The most blocks one write carried. */
    final java.util.concurrent.atomic.AtomicInteger largestWrite = new java.util.concurrent.atomic.AtomicInteger();
    final AtomicLong reads = new AtomicLong();
    final AtomicLong flushes = new AtomicLong();
    /** How many writes had been submitted when the last flush came. */
    volatile long writesAtLastFlush;
    /** The 64 KiB ranges writes of 64 KiB or more (a rebuild's copies; the tests' loads write less) went to. */
    final java.util.Set<Long> copied = ConcurrentHashMap.newKeySet();
    /** Whole 64 KiB segments being written now (a rebuild's copies; the tests' loads write less), and the most at once. */
    final java.util.concurrent.atomic.AtomicInteger segmentWrites = new java.util.concurrent.atomic.AtomicInteger();
    final java.util.concurrent.atomic.AtomicInteger mostSegmentWrites = new java.util.concurrent.atomic.AtomicInteger();
    /** The threads that submitted writes. */
    final java.util.Set<String> writers = ConcurrentHashMap.newKeySet();

    FaultyDevice(String name, BlockDevice inner) {
        this.name = name;
        this.inner = inner;
    }

    private <C> IoCompletion<? super C> later(IoCompletion<? super C> done) {
        long delay = delayMicros;
        if (delay == 0) {
            return done;
        }
        return (status, context) -> LATER.schedule(() -> done.ioDone(status, context), delay, java.util.concurrent.TimeUnit.MICROSECONDS);
    }

    private long range(long lba) {
        return lba * blockSize() / 65536;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public UUID uuid() {
        return inner.uuid();
    }

    @Override
    public String productName() {
        return "Faulty " + inner.productName();
    }

    @Override
    public int blockSize() {
        return inner.blockSize();
    }

    @Override
    public long blockCount() {
        return inner.blockCount();
    }

    @Override
    public int bufferAlignment() {
        return inner.bufferAlignment();
    }

    @Override
    public boolean supports(IoType type) {
        return inner.supports(type);
    }

    @Override
    public boolean holdsData(long lba, long blocks) {
        if (!thin) {
            return true;
        }
        for (long r = range(lba); r <= range(lba + blocks - 1); r++) {
            if (written.contains(r)) {
                return true;
            }
        }
        return false;
    }

    private void wrote(long lba, long blocks) {
        for (long r = range(lba); r <= range(lba + blocks - 1); r++) {
            written.add(r);
        }
    }

    @Override
    public <C> void read(DmaBuffer buffer, int bufferOffset, long lba, int blocks, IoCompletion<? super C> done, C context) {
        reads.incrementAndGet();
        IoStatus fail = failReads;
        if (fail != null) {
            done.ioDone(fail, context);
        } else {
            inner.read(buffer, bufferOffset, lba, blocks, later(done), context);
        }
    }

    @Override
    public <C> void write(DmaBuffer buffer, int bufferOffset, long lba, int blocks, IoCompletion<? super C> done, C context) {
        writes.incrementAndGet();
        writers.add(Thread.currentThread().getName());
        largestWrite.accumulateAndGet(blocks, Math::max);
        IoStatus fail = failWrites;
        IoStatus late = failWritesLate;
        if (late != null) {
            LATER.schedule(() -> done.ioDone(late, context), delayMicros, java.util.concurrent.TimeUnit.MICROSECONDS);
        } else if (fail != null) {
            done.ioDone(fail, context);
        } else {
            wrote(lba, blocks);
            if ((long) blocks * blockSize() >= 65536) {
                for (long r = range(lba); r <= range(lba + blocks - 1); r++) {
                    copied.add(r);
                }
            }
            if (blocks * blockSize() == 65536) {
                mostSegmentWrites.accumulateAndGet(segmentWrites.incrementAndGet(), Math::max);
                IoCompletion<C> counted = (status, ctx) -> {
                    segmentWrites.decrementAndGet();
                    done.ioDone(status, ctx);
                };
                inner.write(buffer, bufferOffset, lba, blocks, later(counted), context); // in flight until the delayed completion
                return;
            }
            IoStatus landed = failWritesLanded;
            if (landed != null) {
                IoCompletion<C> failAfter = (status, ctx) -> done.ioDone(landed, ctx);
                inner.write(buffer, bufferOffset, lba, blocks, later(failAfter), context);
                return;
            }
            inner.write(buffer, bufferOffset, lba, blocks, later(done), context);
        }
    }

    @Override
    public <C> void flush(IoCompletion<? super C> done, C context) {
        flushes.incrementAndGet();
        writesAtLastFlush = writes.get();
        if (!failedWrite(done, context)) {
            inner.flush(done, context);
        }
    }

    @Override
    public <C> void unmap(long lba, long blocks, IoCompletion<? super C> done, C context) {
        if (!failedWrite(done, context)) {
            inner.unmap(lba, blocks, done, context);
        }
    }

    @Override
    public <C> void writeZeroes(long lba, long blocks, IoCompletion<? super C> done, C context) {
        if (!failedWrite(done, context)) {
            inner.writeZeroes(lba, blocks, done, context);
        }
    }

    /** Ends the request with the write failure, when one is set: true when it did. */
    private <C> boolean failedWrite(IoCompletion<? super C> done, C context) {
        IoStatus fail = failWrites;
        if (fail != null) {
            done.ioDone(fail, context);
        }
        return fail != null;
    }

    @Override
    public long reattachments() {
        return reattached;
    }

    @Override
    public BdevStats stats() {
        return inner.stats();
    }

    @Override
    public void close() {
        // the test owns the inner device
    }
}
