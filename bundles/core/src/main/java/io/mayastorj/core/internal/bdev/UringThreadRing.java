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

/**
 * A uring bdev's ring for the threads that are not reactors: a transport with a thread per
 * connection (the NBD plugin), a pool's metadata thread, blocking callers. Each request is handed
 * to the kernel at once, from the caller's thread: a lock is held for the few stores that fill and
 * publish its entry, not for the system call. Completions come to a reaper thread that sleeps in
 * {@code io_uring_enter} while nothing is in flight, as aio's does. Made when the first such
 * request comes.
 *
 * <p>Posting those requests to a reactor instead cost a lambda and a wake-up per request and put
 * their completions, and the replies sent from them, on a thread the connections did not own: the
 * NBD plugin on a RAM file ran at 0.56–0.72 of nbdkit with one connection that way, 0.93–1.15 this
 * way (benchmarks/results-nbd-uring.txt).
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
        synchronized (this) {
            if (freeCount == 0 || ring.submissionQueueFull()) {
                deferred.add(new Deferred(opcode, type, address, length, offset, opFlags,
                        (IoCompletion<Object>) done, context)); // the reaper submits it when a slot frees
                return;
            }
            int slot = free[--freeCount];
            types[slot] = type;
            lengths[slot] = length;
            dones[slot] = done;
            contexts[slot] = context;
            ring.prepare(opcode, bdev.fd, address, length, offset, opFlags, 0, slot);
            ring.publish();
        }
        // Outside the lock: the kernel may copy the data right here (a page-cache read), and other
        // threads' requests need not wait for that.
        int n;
        do {
            n = ring.enter(1);
        } while (n == -Errno.EINTR);
        if (n < 0 && n != -Errno.EAGAIN && n != -Errno.EBUSY) {
            failUnsubmitted(n);
        }
    }

    /** Hands what is queued to the kernel; returns -errno of a failure retrying will not cure, else 0. */
    private int submitLocked() {
        while (ring.unsubmitted() > 0) {
            int n = ring.submit();
            if (n > 0 || n == -Errno.EINTR) {
                continue;
            }
            if (n == 0 || n == -Errno.EAGAIN || n == -Errno.EBUSY) {
                return 0; // the reaper retries after its next completion
            }
            return n;
        }
        return 0;
    }

    private void failUnsubmitted(int rc) {
        LOG.log(Level.ERROR, "bdev {0}: io_uring_enter failed: {1}; its requests fail", bdev.name(), LibC.describe(-rc));
        synchronized (this) {
            ring.cancelUnsubmitted(this, rc);
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
                LOG.log(Level.ERROR, "bdev {0}: waiting for io_uring completions failed: {1}", bdev.name(),
                        LibC.describe(-rc));
                sleepQuietly();
            }
            ring.reap(this); // the callbacks run without the lock: they may submit again
            submitDeferred();
        }
    }

    private void submitDeferred() {
        int rc = 0;
        synchronized (this) {
            while (!deferred.isEmpty() && freeCount > 0 && !ring.submissionQueueFull()) {
                Deferred d = deferred.poll();
                int slot = free[--freeCount];
                types[slot] = d.type();
                lengths[slot] = d.length();
                dones[slot] = d.done();
                contexts[slot] = d.context();
                ring.prepare(d.opcode(), bdev.fd, d.address(), d.length(), d.offset(), d.opFlags(), 0, slot);
            }
            if (ring.unsubmitted() > 0) {
                rc = submitLocked();
            }
        }
        if (rc < 0) {
            failUnsubmitted(rc);
        }
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
