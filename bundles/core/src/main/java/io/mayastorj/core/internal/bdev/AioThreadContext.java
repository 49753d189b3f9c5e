package io.mayastorj.core.internal.bdev;

import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.internal.nativeio.Errno;
import io.mayastorj.core.internal.nativeio.LibC;
import io.mayastorj.core.internal.nativeio.LinuxAio;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;

/**
 * An aio bdev's context for the threads that are not reactors (a pool's metadata thread, blocking
 * callers, a transport with a thread per connection, a process without reactors), as
 * {@link UringThreadRing} is for io_uring: each request goes to the kernel at once from the caller's
 * thread under the context's lock, and completes on a reaper thread that sleeps in
 * {@code io_getevents} while nothing is in flight. Made when the first such request comes.
 */
final class AioThreadContext implements LinuxAio.CompletionHandler {

    private static final Logger LOG = System.getLogger("mayastor.bdev");
    static final int SLOTS = 256;
    private static final long REAP_TIMEOUT_NANOS = TimeUnit.MILLISECONDS.toNanos(250);

    private record Deferred(short opcode, IoType type, long address, long bytes, long offset,
                            IoCompletion<Object> done, Object context) {
    }

    private final AioBdev bdev;
    private final LinuxAio aio;
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

    AioThreadContext(AioBdev bdev) throws IOException {
        this.bdev = bdev;
        aio = new LinuxAio(SLOTS, -1);
        for (int i = 0; i < SLOTS; i++) {
            free[i] = SLOTS - 1 - i;
        }
        reaper = new Thread(this::reap, "aio-reaper " + bdev.name());
        reaper.setDaemon(true);
        reaper.start();
    }

    @SuppressWarnings("unchecked")
    void submit(short opcode, IoType type, long address, long bytes, long offset, IoCompletion<?> done, Object context) {
        int refused;
        int rc;
        synchronized (this) {
            if (freeCount == 0 || !deferred.isEmpty()) {
                deferred.add(new Deferred(opcode, type, address, bytes, offset, (IoCompletion<Object>) done, context));
                return; // the reaper submits it when a slot frees
            }
            issueLocked(opcode, type, address, bytes, offset, done, context);
            rc = submitLocked();
            refused = rc < 0 ? aio.dropFirst() : -1;
        }
        if (refused >= 0) {
            failRefused(refused, rc);
        }
    }

    private void issueLocked(short opcode, IoType type, long address, long bytes, long offset,
                             IoCompletion<?> done, Object context) {
        int slot = free[--freeCount];
        types[slot] = type;
        lengths[slot] = bytes;
        dones[slot] = done;
        contexts[slot] = context;
        aio.prepare(slot, opcode, bdev.fd, address, bytes, offset);
    }

    /**
     * Under the lock: hands what is queued to the kernel, waiting out a shortage (EAGAIN: rare, and
     * the reaper may be asleep with nothing else in flight to wake it); returns the -errno with which
     * the kernel refused the first queued request, else 0.
     */
    private int submitLocked() {
        int waits = 0;
        while (aio.queued() > 0) {
            int n = aio.submit();
            if (n > 0 || n == -Errno.EINTR) {
                continue;
            }
            if (n == -Errno.EAGAIN && waits++ < 20_000) {
                java.util.concurrent.locks.LockSupport.parkNanos(50_000); // at most a second in all
                continue;
            }
            return n;
        }
        return 0;
    }

    /** Outside the lock: the request the kernel refused with {@code rc} ends with it. */
    private void failRefused(int slot, int rc) {
        if (rc != -Errno.EINVAL && errorLogs++ % 1000 == 0) {
            LOG.log(Level.ERROR, "bdev {0}: io_submit failed: {1}", bdev.name(), LibC.describe(-rc));
        }
        completed(slot, rc);
    }

    @Override
    @SuppressWarnings("unchecked")
    public void completed(int slot, long result) {
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
        if (done == null) {
            return; // the request close() made to wake the reaper
        }
        try {
            bdev.finish(type, length, result, done, context);
        } catch (Throwable t) {
            LOG.log(Level.ERROR, "bdev " + bdev.name() + ": an I/O completion failed", t);
        }
    }

    private void reap() {
        while (running) {
            int rc = aio.await(REAP_TIMEOUT_NANOS, this); // the callbacks run without the lock: they may submit again
            if (rc < 0 && rc != -Errno.EINTR) {
                if (errorLogs++ % 1000 == 0) {
                    LOG.log(Level.ERROR, "bdev {0}: io_getevents failed: {1}", bdev.name(), LibC.describe(-rc));
                }
                sleepQuietly();
            }
            submitDeferred();
        }
        if (closeOnExit) {
            aio.close(); // closed from one of this thread's own callbacks
        }
    }

    private void submitDeferred() {
        int refused = -1;
        int rc = 0;
        synchronized (this) {
            while (!deferred.isEmpty() && freeCount > 0) {
                Deferred d = deferred.poll();
                issueLocked(d.opcode(), d.type(), d.address(), d.bytes(), d.offset(), d.done(), d.context());
            }
            if (aio.queued() > 0) {
                rc = submitLocked();
                refused = rc < 0 ? aio.dropFirst() : -1;
            }
        }
        if (refused >= 0) {
            failRefused(refused, rc);
            submitDeferred(); // what was queued behind it
        }
    }

    private static void sleepQuietly() {
        try {
            Thread.sleep(10);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Nothing is in flight (the bdev drained it): stops the reaper and destroys the context. */
    void close() {
        running = false;
        if (Thread.currentThread() == reaper) {
            closeOnExit = true; // a callback of this context closed its device: the reaper closes it as it leaves
            return;
        }
        // A read of zero bytes completes at once and wakes the reaper now, not at its next timeout
        // (a quarter second per close otherwise).
        submit(LinuxAio.CMD_PREAD, IoType.READ, aio.scratchAddress(), 0, 0, null, null);
        try {
            reaper.join(TimeUnit.NANOSECONDS.toMillis(REAP_TIMEOUT_NANOS) * 4);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (reaper.isAlive()) {
            LOG.log(Level.WARNING, "bdev {0}: the aio reaper did not stop; its context is left", bdev.name());
            return;
        }
        aio.close();
    }
}
