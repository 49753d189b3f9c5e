package io.mayastorj.core.internal.bdev;

import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.internal.nativeio.Errno;
import io.mayastorj.core.internal.nativeio.LibC;
import io.mayastorj.core.internal.nativeio.LinuxAio;
import io.mayastorj.core.internal.reactor.ReactorThread;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.channels.SelectionKey;

/**
 * One reactor's Linux AIO context, shared by every aio bdev that reactor drives, as
 * {@link UringQueue} is for io_uring: requests made during a turn go to the kernel in batches of
 * {@link UringQueue#BATCH}, the last when the turn ends; completions are read from the kernel's ring
 * on the same thread at the start of the next turn. Without it every aio completion crossed to the
 * device's reaper thread and back to the connection's reactor.
 *
 * <p>Every request names the eventfd the kernel signals on completion. The reactor's selector
 * watches it only while the reactor sleeps with I/O in flight; while it is busy the signals pile up
 * in the counter unread and cost no system call.
 */
final class AioQueue extends ReactorQueue implements LinuxAio.CompletionHandler {

    /** Requests in flight at once; more wait for a slot. */
    static final int SLOTS = 512;

    private final LinuxAio aio;
    private boolean armed;
    private long submitErrors;

    /** Sets the context up on {@code reactor}'s thread (the thread it is called on). */
    AioQueue(ReactorThread reactor) throws IOException {
        super(reactor, SLOTS, 0);
        try {
            aio = new LinuxAio(SLOTS, eventFd);
        } catch (IOException e) {
            releaseWake();
            throw e;
        }
        start();
    }

    /** Queues a request for the end of this turn; on the reactor's thread. */
    @SuppressWarnings("unchecked")
    void submit(AioBdev bdev, short opcode, IoType type, long address, long bytes, long offset,
                IoCompletion<?> done, Object context) {
        if (closed) {
            bdev.finish(type, bytes, -Errno.ECANCELED, (IoCompletion<Object>) done, context);
            return;
        }
        enter();
        try {
            if (!slots.anyFree() || !waiting.isEmpty()) {
                waiting.add(new Slots.Waiting(bdev, opcode, type, address, bytes, offset, 0, (IoCompletion<Object>) done,
                        context));
                return;
            }
            issue(bdev, opcode, type, address, bytes, offset, done, context);
            if (aio.queued() >= UringQueue.BATCH) {
                submitQueued();
            }
        } finally {
            leave();
        }
    }

    private void issue(FileBdev bdev, short opcode, IoType type, long address, long bytes, long offset,
                       IoCompletion<?> done, Object context) {
        int slot = slots.take(bdev, type, bytes, done, context);
        aio.prepare(slot, opcode, bdev.fd, address, bytes, offset);
    }

    @Override
    void submitQueued() {
        while (aio.queued() > 0) {
            int n = aio.submit();
            if (n > 0 || n == -Errno.EINTR) {
                continue;
            }
            if (n == 0 || n == -Errno.EAGAIN) {
                return; // the kernel is short of something: the next turn retries
            }
            int slot = aio.dropFirst(); // refused (a flush the file system cannot do asynchronously, a bad fd)
            if (n != -Errno.EINVAL && submitErrors++ % 10_000 == 0) {
                LOG.log(Level.ERROR, "reactor {0}: io_submit failed: {1}", reactor.getName(), LibC.describe(-n));
            }
            completed(slot, n);
        }
    }

    @Override
    public void completed(int slot, long result) {
        slots.complete(slot, result);
    }

    @Override
    void reap() {
        aio.reap(this);
    }

    @Override
    public boolean poll() {
        if (closed) {
            return false; // its ring (context) is freed: nothing to reap, and reading it would fault
        }
        if (armed) {
            wakeKey.interestOps(0);
            armed = false;
        }
        enter();
        try {
            aio.reap(this);
            while (!waiting.isEmpty() && slots.anyFree()) {
                Slots.Waiting w = waiting.poll();
                issue(w.bdev(), (short) w.opcode(), w.type(), w.address(), w.length(), w.offset(), w.done(), w.context());
            }
            submitQueued();
            return aio.queued() > 0 || aio.hasCompletions() || (!waiting.isEmpty() && slots.anyFree());
        } finally {
            leave();
        }
    }

    @Override
    public long prepareToSleep() {
        if (closed) {
            return 0; // closed by a completion another queue's look before sleeping ran: its ring is unmapped
        }
        if (aio.queued() > 0) {
            return -1; // the kernel was short of something: try again before sleeping
        }
        if (slots.inFlight() == 0) {
            return 0;
        }
        // The counter holds the signals of completions already reaped: clear it, then look at the
        // ring again, so that the selector wakes for what completes from now on and only for that.
        clearEventFd();
        wakeKey.interestOps(SelectionKey.OP_READ);
        armed = true;
        if (!aio.readsRing()) {
            // only io_getevents sees completions here: one posted since the last reap lost its signal with
            // the clear, and would wait out the sleep's cap
            enter();
            try {
                return aio.reap(this) > 0 ? -1 : SLEEP_CAP_MILLIS;
            } finally {
                leave();
            }
        }
        return aio.hasCompletions() ? -1 : SLEEP_CAP_MILLIS;
    }

    @Override
    void closeBackend(boolean drained) {
        if (drained) {
            aio.close(); // else left: io_destroy would wait for the stuck requests
        }
    }
}
