package io.mayastorj.core.internal.bdev;

import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.internal.nativeio.Errno;
import io.mayastorj.core.internal.nativeio.LibC;
import io.mayastorj.core.internal.nativeio.LinuxAio;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.util.concurrent.TimeUnit;

/**
 * An aio bdev's context for the threads that are not reactors (a pool's metadata thread, blocking
 * callers, a transport with a thread per connection, a process without reactors), as
 * {@link UringThreadRing} is for io_uring: each request goes to the kernel at once from the caller's
 * thread under the context's lock, and completes on a reaper thread that sleeps in
 * {@code io_getevents} while nothing is in flight. Made when the first such request comes.
 */
final class AioThreadContext extends ThreadQueue implements LinuxAio.CompletionHandler {

    static final int SLOTS = 256;
    private static final long REAP_TIMEOUT_NANOS = TimeUnit.MILLISECONDS.toNanos(250);

    private final LinuxAio aio;

    AioThreadContext(AioBdev bdev) throws IOException {
        super(bdev, SLOTS, "aio-reaper");
        aio = new LinuxAio(SLOTS, -1);
        startReaper();
    }

    @SuppressWarnings("unchecked")
    void submit(short opcode, IoType type, long address, long bytes, long offset, IoCompletion<?> done, Object context) {
        int refused;
        int rc;
        synchronized (this) {
            if (!slots.anyFree() || !waiting.isEmpty()) {
                waiting.add(new Slots.Waiting(bdev, opcode, type, address, bytes, offset, 0, (IoCompletion<Object>) done,
                        context));
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
        int slot = slots.take(bdev, type, bytes, done, context);
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
    public void completed(int slot, long result) {
        complete(slot, result);
    }

    @Override
    int awaitAndReap() {
        return aio.await(REAP_TIMEOUT_NANOS, this); // the callbacks run without the lock: they may submit again
    }

    /**
     * Hands on what waits for a slot; after a request the kernel refused, the rest in the next round.
     * Not once the context is closing (a refused request's callback may close its device, and the
     * context with it).
     */
    @Override
    void submitWaiting() {
        while (true) {
            int refused = -1;
            int rc = 0;
            synchronized (this) {
                if (!running()) {
                    return;
                }
                while (!waiting.isEmpty() && slots.anyFree()) {
                    Slots.Waiting d = waiting.poll();
                    issueLocked((short) d.opcode(), d.type(), d.address(), d.length(), d.offset(), d.done(), d.context());
                }
                if (aio.queued() > 0) {
                    rc = submitLocked();
                    refused = rc < 0 ? aio.dropFirst() : -1;
                }
            }
            if (refused < 0) {
                return;
            }
            failRefused(refused, rc); // then what was queued behind it
        }
    }

    /** A read of zero bytes completes at once: the reaper returns now, not at its next timeout (a quarter second). */
    @Override
    void wakeReaper() {
        submit(LinuxAio.CMD_PREAD, IoType.READ, aio.scratchAddress(), 0, 0, null, null);
    }

    @Override
    void closeBackend() {
        synchronized (this) { // not while a caller's thread hands on what waits (submitWaiting looks at running under it)
            aio.close();
        }
    }
}
