package io.mayastorj.nexus.internal;

import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.buffer.DmaBuffer;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Executor;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Copies a nexus's data onto a child that is not in sync, while the application keeps using the
 * nexus: segment by segment (64 KiB by default), several in flight. Each segment is locked against
 * application writes (see {@link RangeLocks}), read from an in-sync child and written to the new
 * one; application writes reach the new child anyway, so when every segment is done it is in sync.
 * A full rebuild visits every segment, a partial one only the segments written while the child was
 * away. Neither allocates on a thin child what the source does not hold: a segment the source says
 * holds no data ({@code holdsData}, which a remote replica answers from NVMe's allocation report),
 * or that reads as all zeros, is written as write-zeroes, or skipped when the child reads as zeros
 * there already.
 */
final class Rebuild {

    enum State { WAITING, RUNNING, PAUSED, CANCELLED, FAILED, COMPLETED }

    /** Zeros to compare a segment read with (the largest segment is 1 MiB); never written. */
    private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(1 << 20).asReadOnlyBuffer();

    private final Nexus nexus;
    final Child dest;
    private final SegmentMap map;
    private final Executor hop;
    final long segments;
    final long total;
    private final int segmentBlocks;

    private long cursor;
    private int active;
    private volatile State state = State.WAITING;
    private boolean aborted;
    private String error = "";
    private final Task[] tasks;

    final AtomicLong done = new AtomicLong();
    final AtomicLong bytesCopied = new AtomicLong();
    final AtomicLong zeroed = new AtomicLong();
    final AtomicLong skipped = new AtomicLong();
    volatile long startNanos;
    volatile long endNanos;
    final long startMillis = System.currentTimeMillis();

    Rebuild(Nexus nexus, Child dest, SegmentMap partial, int taskCount, Executor hop) {
        this.nexus = nexus;
        this.dest = dest;
        this.map = partial;
        this.hop = hop;
        this.segmentBlocks = nexus.segmentBlocks;
        this.segments = (nexus.blockCount() + segmentBlocks - 1) / segmentBlocks;
        this.total = partial == null ? segments : partial.count();
        this.tasks = new Task[taskCount];
    }

    boolean partial() {
        return map != null;
    }

    State state() {
        return state;
    }

    synchronized String error() {
        return error;
    }

    /** Control thread, once the writes that did not go to the child have finished. */
    void start() {
        synchronized (this) {
            if (state != State.WAITING) {
                return;
            }
            state = State.RUNNING;
            startNanos = System.nanoTime();
            for (int i = 0; i < tasks.length; i++) {
                DmaBuffer b = nexus.allocate(segmentBlocks * nexus.blockSize());
                if (b == null) {
                    break; // the pool is short: fewer copies in flight
                }
                tasks[i] = new Task(b);
            }
            if (tasks[0] == null) {
                state = State.FAILED;
                error = "no I/O buffer free for the copy";
            }
        }
        if (state == State.FAILED) {
            ended();
            return;
        }
        for (Task t : tasks) {
            if (t != null) {
                launch(t);
            }
        }
    }

    private void launch(Task t) {
        synchronized (this) {
            if (t.running) {
                return;
            }
            t.running = true;
            active++;
        }
        hop.execute(t::next);
    }

    /** The next segment to copy, or -1. Under the lock. */
    private long take() {
        if (map == null) {
            return cursor < segments ? cursor++ : -1;
        }
        long s = map.nextMarked(cursor);
        if (s >= 0) {
            cursor = s + 1;
        }
        return s;
    }

    /** True when every segment has been handed out. Under the lock. */
    private boolean exhausted() {
        return map == null ? cursor >= segments : map.nextMarked(cursor) < 0;
    }

    synchronized void pause() {
        if (state == State.RUNNING || state == State.WAITING) {
            state = State.PAUSED;
        }
    }

    void resume() {
        synchronized (this) {
            if (state != State.PAUSED) {
                return;
            }
            state = startNanos == 0 ? State.WAITING : State.RUNNING;
            if (state == State.WAITING) {
                return; // start() is still to come
            }
        }
        for (Task t : tasks) {
            if (t != null) {
                launch(t);
            }
        }
    }

    /** By request: the child stops being rebuilt and is faulted. */
    void cancel() {
        boolean now;
        synchronized (this) {
            if (state == State.COMPLETED || state == State.FAILED || state == State.CANCELLED) {
                return;
            }
            state = State.CANCELLED;
            error = "rebuild cancelled by request";
            now = active == 0;
        }
        if (now) {
            ended();
        }
    }

    /** The child went (faulted or removed): stop quietly. */
    void abort() {
        boolean now;
        synchronized (this) {
            aborted = true;
            if (state == State.COMPLETED || state == State.FAILED || state == State.CANCELLED) {
                return;
            }
            state = State.FAILED;
            error = "the child left the nexus";
            now = active == 0;
        }
        if (now) {
            ended();
        }
    }

    private void fail(String why) {
        synchronized (this) {
            if (state == State.RUNNING || state == State.PAUSED) {
                state = State.FAILED;
                error = why;
            }
        }
    }

    /** A task found nothing more to do (or was told to stop). */
    private void idle(Task t) {
        boolean last;
        synchronized (this) {
            t.running = false;
            active--;
            last = active == 0;
            if (last && state == State.RUNNING && exhausted()) {
                state = State.COMPLETED;
            }
        }
        if (last) {
            ended();
        }
    }

    private void ended() {
        State s = state;
        if (s == State.PAUSED || s == State.RUNNING) {
            return;
        }
        endNanos = System.nanoTime();
        for (Task t : tasks) {
            if (t != null && t.buffer != null) {
                t.buffer.release();
                t.buffer = null;
            }
        }
        if (aborted) {
            return;
        }
        nexus.controlExecutor().execute(() -> {
            if (s == State.COMPLETED) {
                nexus.rebuilt(dest, this);
            } else {
                nexus.rebuildEnded(dest, this, s == State.CANCELLED ? Child.Reason.BY_CLIENT : Child.Reason.REBUILD_FAILED, error());
            }
        });
    }

    // ------------------------------------------------------------------ statistics

    double progress() {
        return total == 0 ? 1.0 : Math.min(1.0, (double) done.get() / total);
    }

    /** Bytes per second copied so far (segments that hold data). */
    double rate() {
        long start = startNanos;
        if (start == 0) {
            return 0;
        }
        long end = endNanos != 0 ? endNanos : System.nanoTime();
        double seconds = Math.max(1e-6, (end - start) / 1e9);
        return done.get() * (double) segmentBlocks * nexus.blockSize() / seconds;
    }

    /** Seconds left at the rate so far, or -1 when unknown. */
    long etaSeconds() {
        double r = rate();
        if (r <= 0) {
            return -1;
        }
        return (long) Math.ceil((total - done.get()) * (double) segmentBlocks * nexus.blockSize() / r);
    }

    String summary() {
        double seconds = ((endNanos != 0 ? endNanos : System.nanoTime()) - startNanos) / 1e9;
        return String.format(Locale.ROOT, "%s rebuild of %d segments in %.1f s: %.1f MiB copied, %d zeroed, %d skipped "
                        + "(no data on either side)", partial() ? "partial" : "full", done.get(), seconds,
                bytesCopied.get() / 1048576.0, zeroed.get(), skipped.get());
    }

    // ------------------------------------------------------------------ one copy in flight

    private final class Task implements IoCompletion<Object> {
        DmaBuffer buffer;
        final RangeLocks.Lock lock = new RangeLocks.Lock();
        boolean running;
        long segment;
        long lba;
        int blocks;
        Child source;
        boolean reading;
        boolean zeroing;
        boolean skipping;
        int attempts;
        RangeLocks locks;

        Task(DmaBuffer buffer) {
            this.buffer = buffer;
        }

        void next() {
            long s;
            synchronized (Rebuild.this) {
                s = state == State.RUNNING ? take() : -1;
            }
            if (s < 0) {
                idle(this);
                return;
            }
            segment = s;
            lba = s * segmentBlocks;
            blocks = (int) Math.min(segmentBlocks, nexus.blockCount() - lba);
            attempts = 0;
            locks = nexus.rangeLocks();
            if (locks == null) {
                fail("the nexus stopped rebuilding");
                idle(this);
                return;
            }
            locks.lock(lock, s, this::read);
        }

        private void read() {
            source = nexus.source();
            if (source == null) {
                finishSegment(IoStatus.UNAVAILABLE, "no in-sync child to copy from");
                return;
            }
            source.outstanding.incrementAndGet();
            zeroing = false;
            skipping = false;
            if (!source.device.holdsData(lba, blocks)) {
                source.outstanding.decrementAndGet();
                reading = false;
                clearChild();
                return;
            }
            reading = true;
            source.device.read(buffer, 0, lba, blocks, this, null);
        }

        /** The segment holds no data: the child must read zeros there, at no cost in space. */
        private void clearChild() {
            if (!dest.device.holdsData(lba, blocks)) {
                skipping = true; // it does already (a thin child that never had data there)
                finishSegment(IoStatus.SUCCESS, null);
                return;
            }
            zeroing = true;
            if (dest.device.supports(IoType.WRITE_ZEROES)) {
                dest.device.writeZeroes(lba, blocks, this, null);
            } else {
                for (int i = 0; i < blocks * nexus.blockSize(); i += 8) {
                    buffer.bytes().putLong(i, 0L);
                }
                dest.device.write(buffer, 0, lba, blocks, this, null);
            }
        }

        private boolean readZeros() {
            int bytes = blocks * nexus.blockSize();
            return buffer.bytes().slice(0, bytes).mismatch(ZEROS.slice(0, bytes)) < 0;
        }

        @Override
        public void ioDone(IoStatus status, Object unused) {
            if (reading) {
                reading = false;
                source.outstanding.decrementAndGet();
                if (!status.isSuccess()) {
                    Child bad = source;
                    nexus.controlExecutor().execute(() -> nexus.faultSource(bad, status));
                    if (++attempts < Child.MAX) {
                        hop.execute(this::read); // another in-sync child, if there is one
                    } else {
                        finishSegment(status, "reading segment " + segment + " failed: " + status);
                    }
                    return;
                }
                if (readZeros()) {
                    clearChild(); // a source that cannot say where its data is: zeros are not copied as data
                    return;
                }
                dest.device.write(buffer, 0, lba, blocks, this, null);
                return;
            }
            finishSegment(status, status.isSuccess() ? null : "writing segment " + segment + " to the child failed: " + status);
        }

        private void finishSegment(IoStatus status, String why) {
            List<NexusIo> waiting = locks.unlock(lock);
            for (NexusIo io : waiting) {
                nexus.resubmit(io);
            }
            if (!status.isSuccess()) {
                fail(why);
                idle(this);
                return;
            }
            done.incrementAndGet();
            if (skipping) {
                skipped.incrementAndGet();
            } else if (zeroing) {
                zeroed.incrementAndGet();
            } else {
                bytesCopied.addAndGet((long) blocks * nexus.blockSize());
            }
            hop.execute(this::next); // not recursively: a RAM child completes inline
        }
    }
}
