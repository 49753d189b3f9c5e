package io.mayastorj.core.internal.bdev;

import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.internal.nativeio.Errno;
import io.mayastorj.core.internal.nativeio.IoUring;
import io.mayastorj.core.internal.nativeio.LibC;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * A uring bdev's ring for the threads that are not reactors: a transport with a thread per
 * connection (the NBD plugin), a pool's metadata thread, blocking callers. Each request is handed
 * to the kernel at once, from the caller's thread, under the ring's lock (the ring's submission
 * side is one thread's at a time, the system call included: a caller that entered outside the lock
 * could race a close or a cancel, which the kernel would see as entries taken twice). Completions
 * come to a reaper thread that sleeps in {@code io_uring_enter} while nothing is in flight, as
 * aio's does; the callbacks run without the lock. Made when the first such request comes.
 *
 * <p>Posting those requests to a reactor instead cost a lambda and a wake-up per request and put
 * their completions, and the replies sent from them, on a thread the connections did not own: the
 * NBD plugin on a RAM file ran at 0.56–0.72 of nbdkit with one connection that way
 * (benchmarks/results-nbd-uring.txt).
 */
final class UringThreadRing implements IoUring.CompletionHandler {

    private static final Logger LOG = System.getLogger("mayastor.bdev");
    static final int SLOTS = 256;
    private static final long NOP_WAKE = Long.MAX_VALUE;

    private record Deferred(byte opcode, IoType type, long address, int length, long offset, int opFlags,
                            IoCompletion<Object> done, Object context) {
    }

    private final UringBdev bdev;
    private final IoUring ring;
    private final Thread reaper;
    // guarded by this: the submission side and the slot table
    private final IoType[] types = new IoType[SLOTS];
    private final long[] lengths = new long[SLOTS];
    private final IoCompletion<?>[] dones = new IoCompletion<?>[SLOTS];
    private final Object[] contexts = new Object[SLOTS];
    private final int[] free = new int[SLOTS];
    private int freeCount = SLOTS;
    private final ArrayDeque<Deferred> deferred = new ArrayDeque<>();
    private volatile boolean running = true;
    private volatile boolean closeOnExit;
    private long errorLogs;

    UringThreadRing(UringBdev bdev) throws IOException {
        this.bdev = bdev;
        ring = new IoUring(SLOTS, SLOTS);
        for (int i = 0; i < SLOTS; i++) {
            free[i] = SLOTS - 1 - i;
        }
        reaper = new Thread(this::reap, "uring-reaper " + bdev.name());
        reaper.setDaemon(true);
        reaper.start();
    }

    @SuppressWarnings("unchecked")
    void submit(byte opcode, IoType type, long address, int length, long offset, int opFlags,
                IoCompletion<?> done, Object context) {
        long[] failed;
        int rc;
        synchronized (this) {
            if (freeCount == 0 || ring.submissionQueueFull() || !deferred.isEmpty()) {
                deferred.add(new Deferred(opcode, type, address, length, offset, opFlags,
                        (IoCompletion<Object>) done, context)); // the reaper submits it when a slot frees
                return;
            }
            issueLocked(opcode, type, address, length, offset, opFlags, done, context);
            rc = submitLocked();
            failed = rc < 0 ? takeBackUnsubmitted() : null;
        }
        failAfterwards(failed, rc);
    }

    /** Under the lock: takes a free slot for the request and fills its submission entry. */
    private void issueLocked(byte opcode, IoType type, long address, int length, long offset, int opFlags,
                             IoCompletion<?> done, Object context) {
        int slot = free[--freeCount];
        types[slot] = type;
        lengths[slot] = length;
        dones[slot] = done;
        contexts[slot] = context;
        ring.prepare(opcode, bdev.fd, address, length, offset, opFlags, 0, slot);
    }

    /**
     * Hands what is queued to the kernel, waiting out a shortage (EAGAIN, EBUSY: rare, and the
     * reaper may be asleep with nothing else in flight to wake it); returns -errno of a failure
     * that retrying will not cure, else 0.
     */
    private int submitLocked() {
        int waits = 0;
        while (ring.unsubmitted() > 0) {
            int n = ring.submit();
            if (n > 0 || n == -Errno.EINTR) {
                continue;
            }
            if ((n == 0 || n == -Errno.EAGAIN || n == -Errno.EBUSY) && waits++ < 20_000) {
                LockSupport.parkNanos(50_000); // at most a second in all
                continue;
            }
            return n == 0 ? -Errno.EAGAIN : n;
        }
        return 0;
    }

    /** Under the lock, after a failed submission: the entries the kernel did not take, taken back. */
    private long[] takeBackUnsubmitted() {
        long[] taken = new long[ring.unsubmitted()];
        int[] i = {0};
        ring.cancelUnsubmitted((userData, result) -> taken[i[0]++] = userData, 0);
        return taken;
    }

    /** Outside the lock: fails what {@link #takeBackUnsubmitted} took back. */
    private void failAfterwards(long[] failed, int rc) {
        if (failed == null) {
            return;
        }
        LOG.log(Level.ERROR, "bdev {0}: io_uring_enter failed: {1}; {2} requests fail", bdev.name(),
                LibC.describe(-rc), failed.length);
        for (long userData : failed) {
            completed(userData, rc);
        }
    }

    @Override
    @SuppressWarnings("unchecked")
    public void completed(long userData, int result) {
        if (userData == NOP_WAKE) {
            return;
        }
        int slot = (int) userData;
        IoType type;
        long length;
        IoCompletion<Object> done;
        Object context;
        synchronized (this) {
            type = types[slot];
            length = lengths[slot];
            done = (IoCompletion<Object>) dones[slot];
            context = contexts[slot];
            dones[slot] = null;
            contexts[slot] = null;
            free[freeCount++] = slot;
        }
        try {
            bdev.finish(type, length, result, done, context);
        } catch (Throwable t) {
            LOG.log(Level.ERROR, "bdev " + bdev.name() + ": an I/O completion failed", t);
        }
    }

    private void reap() {
        while (running) {
            int rc = ring.awaitCompletion();
            if (rc < 0 && rc != -Errno.EINTR) {
                if (errorLogs++ % 1000 == 0) {
                    LOG.log(Level.ERROR, "bdev {0}: waiting for io_uring completions failed: {1}", bdev.name(),
                            LibC.describe(-rc));
                }
                sleepQuietly();
            }
            ring.reap(this); // the callbacks run without the lock: they may submit again
            submitDeferred();
        }
        if (closeOnExit) {
            ring.close(); // closed from one of this thread's own callbacks
        }
    }

    private void submitDeferred() {
        long[] failed = null;
        int rc = 0;
        synchronized (this) {
            while (!deferred.isEmpty() && freeCount > 0 && !ring.submissionQueueFull()) {
                Deferred d = deferred.poll();
                issueLocked(d.opcode(), d.type(), d.address(), d.length(), d.offset(), d.opFlags(), d.done(), d.context());
            }
            if (ring.unsubmitted() > 0) {
                rc = submitLocked();
                failed = rc < 0 ? takeBackUnsubmitted() : null;
            }
        }
        failAfterwards(failed, rc);
    }

    private static void sleepQuietly() {
        try {
            Thread.sleep(10);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Nothing is in flight (the bdev drained it): stops the reaper and closes the ring. */
    void close() {
        running = false;
        if (Thread.currentThread() == reaper) {
            closeOnExit = true; // a callback of this ring closed its device: the reaper closes the ring as it leaves
            return;
        }
        synchronized (this) {
            ring.prepare((byte) 0 /* IORING_OP_NOP */, -1, 0, 0, 0, 0, 0, NOP_WAKE); // wakes the reaper now
            submitLocked();
        }
        try {
            reaper.join(TimeUnit.SECONDS.toMillis(5));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (reaper.isAlive()) {
            LOG.log(Level.WARNING, "bdev {0}: the io_uring reaper did not stop; its ring is left open", bdev.name());
            return;
        }
        ring.close();
    }
}
