package io.mayastorj.core.internal.bdev;

import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.internal.nativeio.Errno;
import io.mayastorj.core.internal.nativeio.IoUring;
import io.mayastorj.core.internal.nativeio.LibC;
import java.io.IOException;
import java.lang.System.Logger.Level;
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
final class UringThreadRing extends ThreadQueue implements IoUring.CompletionHandler {

    static final int SLOTS = 256;
    private static final long NOP_WAKE = Long.MAX_VALUE;

    private final IoUring ring;

    UringThreadRing(UringBdev bdev) throws IOException {
        super(bdev, SLOTS, "uring-reaper");
        ring = new IoUring(SLOTS, SLOTS);
        startReaper();
    }

    @SuppressWarnings("unchecked")
    void submit(byte opcode, IoType type, long address, int length, long offset, int opFlags,
                IoCompletion<?> done, Object context) {
        long[] failed;
        int rc;
        synchronized (this) {
            if (!slots.anyFree() || ring.submissionQueueFull() || !waiting.isEmpty()) {
                waiting.add(new Slots.Waiting(bdev, opcode, type, address, length, offset, opFlags,
                        (IoCompletion<Object>) done, context)); // the reaper submits it when a slot frees
                return;
            }
            issueLocked(opcode, type, address, length, offset, opFlags, done, context);
            rc = submitLocked();
            failed = rc < 0 ? takeBackUnsubmitted() : null;
        }
        if (failed != null) {
            failAfterwards(failed, rc);
            submitWaiting(); // what queued meanwhile: the slots just freed are its
        }
    }

    /** Under the lock: takes a free slot for the request and fills its submission entry. */
    private void issueLocked(byte opcode, IoType type, long address, int length, long offset, int opFlags,
                             IoCompletion<?> done, Object context) {
        int slot = slots.take(bdev, type, length, done, context);
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
        LOG.log(Level.ERROR, "bdev {0}: io_uring_enter failed: {1}; {2} requests fail", bdev.name(),
                LibC.describe(-rc), failed.length);
        for (long userData : failed) {
            completed(userData, rc);
        }
    }

    @Override
    public void completed(long userData, int result) {
        if (userData != NOP_WAKE) {
            complete((int) userData, result);
        }
    }

    @Override
    int awaitAndReap() {
        int rc = ring.awaitCompletion();
        ring.reap(this); // the callbacks run without the lock: they may submit again
        return rc;
    }

    @Override
    int awaitAndReapNested() {
        // what has completed, else a pause: io_uring_enter waits without a deadline, and the closing caller
        // would block until the device answered (never, for a target gone with no loss timeout)
        int rc = ring.enterNoWait();
        if (ring.reap(this) == 0) {
            java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);
        }
        return rc;
    }

    /**
     * Hands on what waits for a slot. A failed submission frees the slots it took, and what waits is
     * handed on in the next round: the reaper, asleep in the kernel with nothing in flight, would
     * never do it, and every later request queued behind those. Not once the ring is closing (a
     * failed request's callback may close its device, and the ring with it).
     */
    @Override
    void submitWaiting() {
        while (true) {
            long[] failed = null;
            int rc = 0;
            synchronized (this) {
                if (!running()) {
                    return;
                }
                while (!waiting.isEmpty() && slots.anyFree() && !ring.submissionQueueFull()) {
                    Slots.Waiting d = waiting.poll();
                    issueLocked((byte) d.opcode(), d.type(), d.address(), (int) d.length(), d.offset(), d.opFlags(), d.done(),
                            d.context());
                }
                if (ring.unsubmitted() > 0) {
                    rc = submitLocked();
                    failed = rc < 0 ? takeBackUnsubmitted() : null;
                }
            }
            if (failed == null) {
                return;
            }
            failAfterwards(failed, rc);
        }
    }

    @Override
    void wakeReaper() {
        synchronized (this) {
            ring.prepare((byte) 0 /* IORING_OP_NOP */, -1, 0, 0, 0, 0, 0, NOP_WAKE);
            submitLocked();
        }
    }

    @Override
    void closeBackend() {
        synchronized (this) { // not while a caller's thread hands on what waits (submitWaiting looks at running under it)
            ring.close();
        }
    }
}
