package io.mayastorj.nexus.internal;

import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.buffer.DmaBuffer;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Copies a nexus's data onto a child that is not in sync, while the application keeps using the
 * nexus: segment by segment (64 KiB by default), several in flight. Each segment is locked against
 * application writes (see {@link RangeLocks}), read from an in-sync child and written to the new
 * one; application writes reach the new child anyway, so when every segment is done it is in sync.
 * The pace adapts to the application: while it is quiet (under {@value #QUIET_OPS_PER_SECOND} I/Os a
 * second), {@value #RUN_TASKS} of the copies take runs of segments up to {@value #RUN_BYTES} bytes
 * (fewer, larger I/Os: the rate a path carries); under load every copy is one segment, so that an
 * application write never waits behind a large copy, and only {@value #LOAD_TASKS} copies run (of
 * Mayastor's 16): measured on two cores, sixteen 64 KiB copies made the application's p99 write
 * latency 4.0–4.8× what it was without a rebuild, two made it 2.1× and still copied 0.23 of what the
 * path carries (README, "Rebuild"). The copies take their steps on the node's reactors, not on
 * threads of their own, spread over them: a remote child has an I/O queue (a connection) per
 * reactor, and one queue carried three quarters of what two do.
 * A full rebuild visits every segment, a partial one only the segments written while the child was
 * away. Neither allocates on a thin child what the source does not hold: a segment the source says
 * holds no data ({@code holdsData}, which a remote replica answers from NVMe's allocation report),
 * or that reads as all zeros, is written as write-zeroes, or skipped when the child reads as zeros
 * there already.
 */
final class Rebuild {

    enum State { WAITING, RUNNING, PAUSED, CANCELLED, FAILED, COMPLETED }

    /** The largest copy: a run of segments, or one segment when segments are this large. */
    static final int RUN_BYTES = 1 << 20;
    /** Copies that take runs while the application is quiet (each holds a buffer of RUN_BYTES). */
    static final int RUN_TASKS = 8;
    /** Copies that run while the application is busy; the others wait until it is quiet again. */
    static final int LOAD_TASKS = 2;
    /** Below this many application I/Os a second the nexus counts as quiet. */
    static final long QUIET_OPS_PER_SECOND = 1000;
    private static final long SAMPLE_NANOS = 100_000_000L;
    /** The first look comes sooner: until it, copies are single segments (the careful guess). */
    private static final long FIRST_SAMPLE_NANOS = 20_000_000L;

    /** Zeros to compare a segment read with (the largest segment is 1 MiB); never written. */
    private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(1 << 20).asReadOnlyBuffer();

    private final Nexus nexus;
    final Child dest;
    private final SegmentMap map;
    /** Where the copies take their steps: copy i on {@code homes[i % homes.length]}. */
    private final Executor[] homes;
    final long segments;
    /** Segments to copy: counted again at the start, as writes that fail late may mark more before it. */
    volatile long total;
    private final int segmentBlocks;
    /** Segments in a run: runs never cross a multiple of it (a pool's clusters are 1 MiB multiples). */
    private final int runSegments;

    private long cursor;
    private int active;
    private volatile State state = State.WAITING;
    private volatile boolean aborted; // read by the copies without the lock
    /** ended() has run: the buffers are released once, the nexus told once. */
    private boolean finished;
    private String error = "";
    private final Task[] tasks;
    /** Completes once no copy of this rebuild is in flight any more: no more copies reach the child. */
    private final CompletableFuture<Void> over = new CompletableFuture<>();

    final AtomicLong done = new AtomicLong();
    final AtomicLong bytesCopied = new AtomicLong();
    final AtomicLong zeroed = new AtomicLong();
    final AtomicLong skipped = new AtomicLong();
    volatile long startNanos;
    volatile long endNanos;
    final long startMillis = System.currentTimeMillis();

    // the application's pace, sampled at most every SAMPLE_NANOS by whichever task looks (races are harmless)
    private volatile boolean quiet;
    private volatile long sampledAt;
    private volatile long sampledOps;

    /** Tests: runs on a copy's thread when it has stopped for want of work (paused, done or waiting). */
    static volatile java.util.function.Consumer<Rebuild> copyStopped;

    /** The nexus's trust generation when this rebuild began: a source trusted again since may have lost what it copied. */
    final long trustedAs;

    Rebuild(Nexus nexus, Child dest, SegmentMap partial, int taskCount, Executor... homes) {
        this.nexus = nexus;
        this.dest = dest;
        this.trustedAs = nexus.trustGeneration();
        this.map = partial;
        this.homes = homes.clone();
        this.segmentBlocks = nexus.segmentBlocks;
        this.segments = (nexus.blockCount() + segmentBlocks - 1) / segmentBlocks;
        this.total = partial == null ? segments : partial.count();
        this.runSegments = Math.max(1, RUN_BYTES / (segmentBlocks * nexus.blockSize()));
        this.tasks = new Task[taskCount];
    }

    /**
     * The copies' steps one at a time, in order, on one of {@code pool}'s threads: a step only takes
     * the next run and submits its I/O, so one thread keeps every copy going; a step per pool thread
     * made sixteen runnable threads queue for two cores ahead of the application's reactors.
     */
    static Executor serial(Executor pool) {
        java.util.concurrent.ConcurrentLinkedQueue<Runnable> steps = new java.util.concurrent.ConcurrentLinkedQueue<>();
        java.util.concurrent.atomic.AtomicInteger pending = new java.util.concurrent.atomic.AtomicInteger();
        Runnable drain = () -> {
            do {
                Runnable step = steps.poll();
                try {
                    step.run();
                } catch (RuntimeException e) {
                    System.getLogger("mayastor.nexus").log(System.Logger.Level.ERROR, "a rebuild step failed", e);
                }
            } while (pending.decrementAndGet() > 0);
        };
        return step -> {
            steps.add(step);
            if (pending.getAndIncrement() == 0) {
                pool.execute(drain);
            }
        };
    }

    boolean partial() {
        return map != null;
    }

    State state() {
        return state;
    }

    /** Completes once the last copy has ended: the child may be closed, or opened again, safely. */
    CompletableFuture<Void> over() {
        return over;
    }

    synchronized String error() {
        return error;
    }

    /** Control thread, once the writes that did not go to the child have finished. */
    void start() {
        synchronized (this) {
            startDue = true; // a pause that came first leaves it to resume()
            if (state != State.WAITING) {
                return;
            }
            state = State.RUNNING;
            if (map != null) {
                total = map.count();
            }
            startNanos = System.nanoTime();
            sampledAt = startNanos - SAMPLE_NANOS + FIRST_SAMPLE_NANOS;
            sampledOps = applicationOps();
            int segmentBytes = segmentBlocks * nexus.blockSize();
            for (int i = 0; i < tasks.length; i++) {
                DmaBuffer b = i < RUN_TASKS && runSegments > 1 ? nexus.allocate(runSegments * segmentBytes) : null;
                int capacity = b == null ? 1 : runSegments;
                if (b == null) {
                    b = nexus.allocate(segmentBytes);
                }
                if (b == null) {
                    break; // the pool is short: fewer copies in flight
                }
                tasks[i] = new Task(i, b, capacity);
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
        t.home.execute(t::next);
    }

    /**
     * The next run to copy: its first segment (or -1), with up to {@code most} segments in it, all to
     * copy and within one multiple of runSegments; its end is the cursor. Under the lock.
     */
    private long take(int most) {
        long s = map == null ? (cursor < segments ? cursor : -1) : map.nextMarked(cursor);
        if (s < 0) {
            return -1;
        }
        long limit = Math.min(segments, Math.min(s + most, (s / runSegments + 1) * runSegments));
        long end = s + 1;
        while (end < limit && (map == null || map.isMarked(end))) {
            end++;
        }
        cursor = end;
        return s;
    }

    /**
     * True while the application does little I/O on the nexus: few I/Os completed since the last
     * look and none in flight now. (In flight counts the writes waiting for a copy's lock: without
     * it, an application the copies hold up would look quiet and be held up more.)
     */
    private boolean quiet() {
        long now = System.nanoTime();
        long at = sampledAt;
        if (now - at >= SAMPLE_NANOS) {
            var stats = nexus.stats();
            long ops = stats.readOps() + stats.writeOps();
            quiet = stats.inFlight() == 0 && (ops - sampledOps) * 1_000_000_000L / (now - at) < QUIET_OPS_PER_SECOND;
            sampledOps = ops;
            sampledAt = now;
        }
        return quiet;
    }

    private long applicationOps() {
        var s = nexus.stats();
        return s.readOps() + s.writeOps();
    }

    /**
     * Whether this rebuild will still copy every segment of the range (none handed out yet); for a
     * partial one, the range is marked so that it does. A write only this child took is then made
     * right by the copy, from the child the application's error came from.
     */
    synchronized boolean willCopy(long lba, long blocks) {
        long first = lba / segmentBlocks;
        if (first < cursor || state == State.COMPLETED || state == State.FAILED || state == State.CANCELLED) {
            return false;
        }
        if (map != null) {
            long before = map.count();
            map.mark(lba, blocks);
            if (state != State.WAITING) { // (a waiting one counts its map when it starts)
                total += map.count() - before; // segments more to copy: the progress and the ETA count them
            }
        }
        return true;
    }

    /** True when every segment has been handed out. Under the lock. */
    private boolean exhausted() {
        return map == null ? cursor >= segments : map.nextMarked(cursor) < 0;
    }

    /** start() has been called (the earlier writes are done), whatever the state was then. Under the lock. */
    private boolean startDue;

    synchronized void pause() {
        if (state == State.RUNNING || state == State.WAITING) {
            state = State.PAUSED;
        }
    }

    void resume() {
        boolean startNow;
        synchronized (this) {
            if (state != State.PAUSED) {
                return;
            }
            state = startNanos == 0 ? State.WAITING : State.RUNNING;
            startNow = state == State.WAITING && startDue;
        }
        if (startNanos == 0) {
            if (startNow) {
                start(); // paused before it started: its start() found it paused and left it to this
            }
            return; // else start() is still to come
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

    /** The application is quiet: copies that waited while it was busy run again. */
    private void wakeWaiting() {
        for (Task t : tasks) {
            boolean wake;
            synchronized (this) {
                wake = t != null && !t.running && state == State.RUNNING && !exhausted();
            }
            if (wake) {
                launch(t);
            }
        }
    }

    /** A task found nothing more to do (or was told to stop). */
    private void idle(Task t) {
        boolean last;
        synchronized (this) {
            last = idleLocked(t);
        }
        if (last) {
            ended();
        }
    }

    /**
     * {@link #idle} under the lock the caller took to decide it: a copy that saw the rebuild paused
     * must not look running to a resume that comes before it is idle (the resume would pass it by).
     * True when it was the last copy running.
     */
    private boolean idleLocked(Task t) {
        t.running = false;
        active--;
        boolean last = active == 0;
        if (last && state == State.RUNNING && exhausted()) {
            state = State.COMPLETED;
        }
        return last;
    }

    private void ended() {
        State s;
        synchronized (this) {
            s = state;
            if (s == State.PAUSED || s == State.RUNNING || finished) {
                return; // not over, or over already (a cancel between the last copy's idle and its ended)
            }
            finished = true;
        }
        endNanos = System.nanoTime();
        try {
            for (Task t : tasks) {
                if (t != null && t.buffer != null) {
                    t.buffer.release();
                    t.buffer = null;
                }
            }
        } finally {
            over.complete(null); // (the flush below is the nexus's, not a copy)
        }
        if (aborted) {
            return;
        }
        nexus.controlExecutor().execute(() -> {
            if (s == State.COMPLETED && dest.device.supports(IoType.FLUSH)) {
                // the copies are durable before the child counts as in sync: they are in no dirty map,
                // so a child that lost them in a crash would come back in sync without them
                dest.device.flush((status, ignored) -> nexus.controlExecutor().execute(() -> {
                    BlockDevice d = dest.device;
                    if (status.isSuccess() && d != null && d.reattachments() != dest.attachedAs) {
                        // reconnected during the copy: what it took before may be gone with a restart
                        nexus.rebuildEnded(dest, this, Child.Reason.REBUILD_FAILED, "it reconnected during the rebuild");
                    } else if (status.isSuccess()) {
                        nexus.rebuilt(dest, this);
                    } else {
                        nexus.rebuildEnded(dest, this, Child.Reason.REBUILD_FAILED, "the flush after the copy failed: " + status);
                    }
                }), null);
            } else if (s == State.COMPLETED) {
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
        return (long) Math.ceil(Math.max(0, total - done.get()) * (double) segmentBlocks * nexus.blockSize() / r);
    }

    String summary() {
        double seconds = ((endNanos != 0 ? endNanos : System.nanoTime()) - startNanos) / 1e9;
        return String.format(Locale.ROOT, "%s rebuild of %d segments in %.1f s: %.1f MiB copied, %d zeroed, %d skipped "
                        + "(no data on either side)", partial() ? "partial" : "full", done.get(), seconds,
                bytesCopied.get() / 1048576.0, zeroed.get(), skipped.get());
    }

    // ------------------------------------------------------------------ one copy in flight

    private enum Phase { READ, WRITE, ZERO }

    /**
     * One copy in flight: it locks a run of segments, then places them on the child in pieces that
     * are alike — data the source holds is read and written in one I/O, segments without data are
     * zeroed on the child where it holds some and skipped where it does not — and unlocks the run.
     * A piece's completion goes on with the next piece of the run directly (a run has at most
     * runSegments pieces); the next run starts from the executor.
     */
    private final class Task implements IoCompletion<Object> {
        DmaBuffer buffer;
        /** Segments the buffer holds. */
        final int capacity;
        /** Tasks from LOAD_TASKS on wait while the application is busy. */
        final int index;
        /** The reactor this copy's steps run on: its child I/O goes out on that reactor's queue. */
        final Executor home;
        final RangeLocks.Lock lock = new RangeLocks.Lock();
        boolean running;
        long runStart;
        long runEnd;
        /** The first segment of the run not yet placed on the child. */
        long pos;
        /** Segments read into the buffer (from its start) and not yet placed: [readFrom, readTo). */
        long readFrom = -1;
        long readTo;
        /** The piece in flight: [pos, pieceEnd). */
        long pieceEnd;
        Phase phase;
        Child source;
        int attempts;
        /** Children whose reads failed in this run (Child.bit()). */
        int failedSources;
        RangeLocks locks;
        /**
         * The run's first step once its segments are locked, on the task's home: a lock that waited
         * for a write is handed over on the thread that ended the write — the application's
         * completion, or the nexus's control thread when the write failed — and the copy's reads and
         * the writes it held back would run there.
         */
        private final Runnable stepAtHome;

        Task(int index, DmaBuffer buffer, int capacity) {
            this.index = index;
            this.home = homes[index % homes.length];
            this.buffer = buffer;
            this.capacity = capacity;
            Runnable step = this::step;
            this.stepAtHome = () -> home.execute(step);
        }

        void next() {
            long s;
            boolean quietNow;
            boolean last = false;
            boolean orphaned = false;
            synchronized (Rebuild.this) {
                quietNow = quiet();
                s = state != State.RUNNING || !quietNow && index >= LOAD_TASKS ? -1 : take(capacity > 1 && quietNow ? capacity : 1);
                runEnd = cursor;
                if (s < 0) {
                    last = idleLocked(this); // done, stopped, or waiting for a quiet moment (a running copy launches it again)
                    // the last copy stepping aside for the load while segments remain (a write only this child
                    // took marked one after the copies that run under load had found none left): nobody
                    // would launch a copy again, and the rebuild would stay running for good
                    orphaned = last && state == State.RUNNING && !exhausted() && tasks[0] != null;
                }
            }
            if (orphaned) {
                launch(tasks[0]); // copy 0 runs under load too
                return;
            }
            if (s < 0) {
                var stopped = copyStopped;
                if (stopped != null) {
                    stopped.accept(Rebuild.this);
                }
                if (last) {
                    ended();
                }
                return;
            }
            if (quietNow && index == 0) {
                wakeWaiting();
            }
            runStart = s;
            pos = s;
            readFrom = -1;
            attempts = 0;
            failedSources = 0;
            locks = nexus.rangeLocks();
            if (locks == null) {
                fail("the nexus stopped rebuilding");
                idle(this);
                return;
            }
            if (locks.lock(lock, s, runEnd - s, stepAtHome)) {
                step(); // held at once: on home already
            }
        }

        private long lba(long segment) {
            return segment * segmentBlocks;
        }

        /** Blocks of the segments [from, to), the last one cut at the end of the nexus. */
        private int blocks(long from, long to) {
            return (int) (Math.min(lba(to), nexus.blockCount()) - lba(from));
        }

        /** A retry after a pause for the last source: not for a rebuild cancelled or failed meanwhile (its lock held for nothing). */
        private void stepAfterPause() {
            State s = state();
            if (s != State.RUNNING && s != State.PAUSED) {
                finishRun(IoStatus.ABORTED, "the rebuild ended while it waited for its source");
                return;
            }
            step();
        }

        /** Places the next piece of the run, or finishes it. */
        private void step() {
            if (pos >= runEnd) {
                finishRun(IoStatus.SUCCESS, null);
                return;
            }
            if (aborted) {
                // the child left the nexus (faulted, removed, maybe added back already): not one more
                // write to it from this run, whose lock the nexus's writes no longer look at
                finishRun(IoStatus.ABORTED, "the child left the nexus");
                return;
            }
            if (nexus.fenced()) { // (set before its rebuilds are stopped)
                finishRun(IoStatus.ABORTED, "another nexus took the volume over");
                return;
            }
            if (nexus.ownershipStale()) {
                // as the application's I/O: the nexus stood still, or its trust in its record ran out, and another
                // may have taken the volume over and written the child since this read (a copy that did not wait
                // wrote over that after a thaw: a review finding). Read again once a look says it is still ours
                // (forgotten before the step is handed on, which may run at once on the task's home)
                readFrom = -1;
                nexus.deferForOwnership(() -> home.execute(this::step));
                return;
            }
            if (readFrom >= 0 && pos < readTo) {
                placeRead();
                return;
            }
            readFrom = -1;
            source = nexus.source(failedSources);
            if (source == null) {
                finishRun(IoStatus.UNAVAILABLE, "no in-sync child to copy from");
                return;
            }
            if (nexus.reattached(source)) {
                // a source that reconnected may have lost writes: where it holds no data is not taken from it either
                // (zeroed without a read, the read's own check of it never came; trusted again here, the trust's new
                // generation fails this rebuild at its end)
                pieceEnd = pos + 1;
                sourceFailed(IoStatus.UNAVAILABLE);
                return;
            }
            boolean data = source.device.holdsData(lba(pos), blocks(pos, pos + 1));
            long end = pos + 1;
            while (end < runEnd && source.device.holdsData(lba(end), blocks(end, end + 1)) == data) {
                end++;
            }
            if (!data) {
                clearChild(end);
                return;
            }
            source.outstanding.incrementAndGet();
            pieceEnd = end;
            phase = Phase.READ;
            source.device.read(buffer, 0, lba(pos), blocks(pos, end), this, null);
        }

        /**
         * The read segments from pos on: those that hold data are written as data; those that read
         * as zeros (a source that cannot say where its data is) are not, so a thin child stays thin.
         */
        private void placeRead() {
            boolean zeros = readZeros(pos);
            long end = pos + 1;
            while (end < readTo && readZeros(end) == zeros) {
                end++;
            }
            if (zeros) {
                clearChild(end);
                return;
            }
            pieceEnd = end;
            phase = Phase.WRITE;
            int offset = (int) (pos - readFrom) * segmentBlocks * nexus.blockSize();
            dest.device.write(buffer, offset, lba(pos), blocks(pos, end), this, null);
        }

        private boolean readZeros(long segment) {
            int bytes = blocks(segment, segment + 1) * nexus.blockSize();
            int offset = (int) (segment - readFrom) * segmentBlocks * nexus.blockSize();
            return buffer.bytes().slice(offset, bytes).mismatch(ZEROS.slice(0, bytes)) < 0;
        }

        /** The segments [pos, to) hold no data: the child must read zeros there, at no cost in space. */
        private void clearChild(long to) {
            boolean held = dest.device.holdsData(lba(pos), blocks(pos, pos + 1));
            long end = pos + 1;
            while (end < to && dest.device.holdsData(lba(end), blocks(end, end + 1)) == held) {
                end++;
            }
            if (!held) {
                skipped.addAndGet(end - pos); // it does already (a thin child that never had data there)
                pos = end;
                step();
                return;
            }
            pieceEnd = end;
            phase = Phase.ZERO;
            if (dest.device.supports(IoType.WRITE_ZEROES)) {
                dest.device.writeZeroes(lba(pos), blocks(pos, end), this, null);
            } else {
                readFrom = -1; // the zeros go through the buffer: what it held is read again
                int bytes = blocks(pos, end) * nexus.blockSize();
                for (int i = 0; i < bytes; i += 8) {
                    buffer.bytes().putLong(i, 0L);
                }
                dest.device.write(buffer, 0, lba(pos), blocks(pos, end), this, null);
            }
        }

        @Override
        public void ioDone(IoStatus status, Object unused) {
            switch (phase) {
                case READ -> {
                    source.outstanding.decrementAndGet();
                    // a source that reconnected may have lost writes the others have: what it read is not copied
                    IoStatus read = status.isSuccess() && nexus.reattached(source) ? IoStatus.UNAVAILABLE : status;
                    if (!read.isSuccess()) {
                        sourceFailed(read);
                        return;
                    }
                    readFrom = pos;
                    readTo = pieceEnd;
                    if (aborted) { // what was read may be older than the child's writes since (it may be back already)
                        finishRun(IoStatus.ABORTED, "the child left the nexus");
                        return;
                    }
                    step(); // placed, unless the nexus must look at its record first
                }
                case WRITE, ZERO -> {
                    if (!status.isSuccess()) {
                        finishRun(status, "writing segment " + pos + " to the child failed: " + status);
                        return;
                    }
                    if (phase == Phase.WRITE) {
                        bytesCopied.addAndGet((long) blocks(pos, pieceEnd) * nexus.blockSize());
                    } else {
                        zeroed.addAndGet(pieceEnd - pos);
                    }
                    pos = pieceEnd;
                    step();
                }
            }
        }

        /** Reading from the source failed, or what it holds is not to be taken: another source, a pause, or the run's end. */
        private void sourceFailed(IoStatus read) {
            Child bad = source;
            failedSources |= bad.bit();
            long lba = lba(pos);
            long blocks = blocks(pos, pieceEnd);
            nexus.controlExecutor().execute(() -> nexus.faultSource(bad, read, lba, blocks));
            if (++attempts < Child.MAX) {
                if (read == IoStatus.UNAVAILABLE && nexus.source(failedSources) == bad) {
                    // the only source lost its connection, and may be making it again: its tries,
                    // spent in microseconds, failed the rebuild (and threw a partial one's log away)
                    // on a blip. Waited out with a growing pause: about 12 s in all
                    nexus.later(Math.min(1000, 50L << Math.min(attempts, 5)), () -> home.execute(this::stepAfterPause));
                } else {
                    home.execute(this::step); // another in-sync child, if there is one
                }
            } else {
                finishRun(read, "reading segment " + pos + " failed: " + read);
            }
        }

        private void finishRun(IoStatus status, String why) {
            List<NexusIo> waiting = locks.unlock(lock);
            for (NexusIo io : waiting) {
                nexus.resubmit(io);
            }
            if (!status.isSuccess()) {
                fail(why);
                idle(this);
                return;
            }
            done.addAndGet(runEnd - runStart);
            home.execute(this::next); // not recursively: a RAM child completes inline
        }
    }
}
