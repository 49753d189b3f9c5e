package io.mayastorj.core.internal.bdev;

import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.internal.nativeio.Errno;
import io.mayastorj.core.internal.nativeio.LibC;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;

/**
 * What a device's own ring ({@link UringThreadRing}) and aio context ({@link AioThreadContext})
 * share, for requests made off the reactors: the slot table and the requests waiting for a slot,
 * guarded by this object's lock, and a reaper thread that sleeps in the kernel for completions and
 * finishes them without the lock (a callback may submit again, or close the device).
 */
abstract class ThreadQueue {

    static final Logger LOG = System.getLogger("mayastor.bdev");

    final FileBdev bdev;
    /** Guarded by this. */
    final Slots slots;
    /** Guarded by this. */
    final ArrayDeque<Slots.Waiting> waiting = new ArrayDeque<>();
    private final Thread reaper;
    private volatile boolean running = true;

    /** False once closing: the ring or context may be freed (read under the queue's lock, which its freeing takes). */
    final boolean running() {
        return running;
    }
    private volatile boolean closeOnExit;
    long errorLogs;

    ThreadQueue(FileBdev bdev, int slotCount, String reaperName) {
        this.bdev = bdev;
        this.slots = new Slots(slotCount);
        reaper = new Thread(this::reap, reaperName + " " + bdev.name());
        reaper.setDaemon(true);
    }

    /** The subclass is ready: its reaper starts. */
    final void startReaper() {
        reaper.start();
    }

    /** On the reaper: waits (boundedly) for completions and finishes those that came; -errno on failure. */
    abstract int awaitAndReap();

    /**
     * A nested wait for completions, from a callback on the reaper that closes the device: bounded, so
     * that the close's own deadline is looked at again (a device that never answers held it for ever).
     */
    int awaitAndReapNested() {
        return awaitAndReap();
    }

    /** On the reaper, after a reap: submits what waited for the slots just freed. */
    abstract void submitWaiting();

    /** Makes the sleeping reaper return from the kernel now (it is told to stop). */
    abstract void wakeReaper();

    /** Frees the ring or context; nothing is in flight. */
    abstract void closeBackend();

    /** Frees the slot and finishes its request with the kernel's {@code result}, without the lock. */
    final void complete(int slot, long result) {
        IoType type;
        long length;
        IoCompletion<Object> done;
        Object context;
        synchronized (this) {
            type = slots.type(slot);
            length = slots.length(slot);
            done = slots.done(slot);
            context = slots.context(slot);
            slots.release(slot);
        }
        if (done != null) { // null: a request made only to wake the reaper
            Slots.finish(bdev, type, length, result, done, context);
        }
    }

    private void reap() {
        while (running) {
            int rc = awaitAndReap();
            if (rc < 0 && rc != -Errno.EINTR) {
                if (errorLogs++ % 1000 == 0) {
                    LOG.log(Level.ERROR, "bdev {0}: waiting for completions failed: {1}", bdev.name(), LibC.describe(-rc));
                }
                try {
                    Thread.sleep(10);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            submitWaiting();
        }
        if (closeOnExit) {
            closeBackend(); // closed from one of this thread's own callbacks
        }
    }

    /** Whether the caller is this queue's reaper: one of its callbacks. */
    final boolean onReaper() {
        return Thread.currentThread() == reaper;
    }

    /**
     * A callback on the reaper waits for the device's other requests (it closes the device): they
     * are reaped here, nested, since the reaper that would reap them is this very thread.
     */
    final void reapNested() {
        boolean mine;
        synchronized (this) {
            mine = slots.inFlight() > 0;
        }
        if (!mine) {
            // what is in flight is elsewhere (a reactor's ring, the helper): waiting in the kernel for this
            // ring's completions would wait for ever
            java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);
            submitWaiting();
            return;
        }
        int rc = awaitAndReapNested();
        if (rc < 0 && rc != -Errno.EINTR && errorLogs++ % 1000 == 0) {
            LOG.log(Level.ERROR, "bdev {0}: waiting for completions failed: {1}", bdev.name(), LibC.describe(-rc));
        }
        submitWaiting();
    }

    /** Nothing is in flight (the bdev drained it): stops the reaper and frees the ring or context. */
    final void close() {
        running = false;
        if (Thread.currentThread() == reaper) {
            closeOnExit = true; // a callback closed its device: the reaper frees it as it leaves
            return;
        }
        wakeReaper();
        try {
            reaper.join(TimeUnit.SECONDS.toMillis(5));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (reaper.isAlive()) {
            LOG.log(Level.WARNING, "bdev {0}: the reaper did not stop; its ring or context is left open", bdev.name());
            return;
        }
        closeBackend();
    }
}
