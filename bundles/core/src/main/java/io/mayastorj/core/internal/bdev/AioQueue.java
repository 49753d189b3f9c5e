package io.mayastorj.core.internal.bdev;

import com.sun.jna.Native;
import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.internal.nativeio.Errno;
import io.mayastorj.core.internal.nativeio.LibC;
import io.mayastorj.core.internal.nativeio.LinuxAio;
import io.mayastorj.core.internal.nativeio.SelectableFd;
import io.mayastorj.core.internal.reactor.ReactorThread;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * One reactor's Linux AIO context, shared by every aio bdev that reactor drives, as
 * {@link UringQueue} is for io_uring: requests made during a turn go to the kernel in batches of
 * {@link UringQueue#BATCH}, the last when the turn ends; completions are read from the kernel's ring
 * on the same thread at the start of the next turn. Without it every aio completion crossed to the
 * device's reaper thread and back to the connection's reactor.
 *
 * <p>Every request names an eventfd the kernel signals on completion. The reactor's selector
 * watches it only while the reactor sleeps with I/O in flight; while it is busy the signals pile up
 * in the counter unread and cost no system call.
 *
 * <p>Everything here runs on the reactor's thread; nothing is shared, nothing is locked.
 */
final class AioQueue implements ReactorThread.Poller, LinuxAio.CompletionHandler {

    private static final Logger LOG = System.getLogger("mayastor.bdev");
    /** Requests in flight at once; more wait in {@link #deferred}. */
    static final int SLOTS = 512;
    private static final long DRAIN_NANOS = TimeUnit.SECONDS.toNanos(10);
    private static final long SLEEP_CAP_MILLIS = 100;

    /** A request that found no free slot; allocated only then. */
    private record Deferred(AioBdev bdev, short opcode, IoType type, long address, long bytes, long offset,
                            IoCompletion<Object> done, Object context) {
    }

    private final ReactorThread reactor;
    private final LinuxAio aio;
    private final int eventFd;
    private final SelectableChannel wakeChannel;
    private final SelectionKey wakeKey;
    private final long scratch;

    private final AioBdev[] bdevs = new AioBdev[SLOTS];
    private final IoType[] types = new IoType[SLOTS];
    private final long[] lengths = new long[SLOTS];
    private final IoCompletion<?>[] dones = new IoCompletion<?>[SLOTS];
    private final Object[] contexts = new Object[SLOTS];
    private final int[] free = new int[SLOTS];
    private int freeCount;
    private int inFlight;
    private final ArrayDeque<Deferred> deferred = new ArrayDeque<>();
    private boolean armed;
    private boolean closed;
    private long submitErrors;

    /** Sets the context up on {@code reactor}'s thread (the thread it is called on). */
    AioQueue(ReactorThread reactor) throws IOException {
        if (!reactor.inReactor()) {
            throw new IllegalStateException("an aio queue is made on its reactor's thread");
        }
        this.reactor = reactor;
        int efd = LibC.eventfd(0, LibC.EFD_CLOEXEC | LibC.EFD_NONBLOCK);
        if (efd < 0) {
            throw new IOException("eventfd failed: " + LibC.describe(LibC.errno()));
        }
        SelectableChannel channel = null;
        LinuxAio context = null;
        long block = 0;
        try {
            channel = SelectableFd.wrap(efd);
            context = new LinuxAio(SLOTS, efd);
            block = Native.malloc(8);
            wakeKey = reactor.register(channel, 0, this::wake);
        } catch (IOException | RuntimeException e) {
            if (context != null) {
                context.close();
            }
            if (channel != null) {
                channel.close();
            } else {
                LibC.close(efd);
            }
            if (block != 0) {
                Native.free(block);
            }
            throw e;
        }
        eventFd = efd;
        wakeChannel = channel;
        aio = context;
        scratch = block;
        for (int i = 0; i < SLOTS; i++) {
            free[i] = SLOTS - 1 - i;
        }
        freeCount = SLOTS;
        reactor.addPoller(this);
    }

    ReactorThread reactor() {
        return reactor;
    }

    /** Queues a request for the end of this turn; on the reactor's thread. */
    @SuppressWarnings("unchecked")
    void submit(AioBdev bdev, short opcode, IoType type, long address, long bytes, long offset,
                IoCompletion<?> done, Object context) {
        if (closed) {
            bdev.finish(type, bytes, -Errno.ECANCELED, (IoCompletion<Object>) done, context);
            return;
        }
        if (freeCount == 0 || !deferred.isEmpty()) {
            deferred.add(new Deferred(bdev, opcode, type, address, bytes, offset, (IoCompletion<Object>) done, context));
            return;
        }
        issue(bdev, opcode, type, address, bytes, offset, done, context);
        if (aio.queued() >= UringQueue.BATCH) {
            submitQueued();
        }
    }

    private void issue(AioBdev bdev, short opcode, IoType type, long address, long bytes, long offset,
                       IoCompletion<?> done, Object context) {
        int slot = free[--freeCount];
        bdevs[slot] = bdev;
        types[slot] = type;
        lengths[slot] = bytes;
        dones[slot] = done;
        contexts[slot] = context;
        inFlight++;
        aio.prepare(slot, opcode, bdev.fd, address, bytes, offset);
    }

    private void submitQueued() {
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
    @SuppressWarnings("unchecked")
    public void completed(int slot, long result) {
        AioBdev bdev = bdevs[slot];
        IoType type = types[slot];
        long length = lengths[slot];
        IoCompletion<Object> done = (IoCompletion<Object>) dones[slot];
        Object context = contexts[slot];
        bdevs[slot] = null;
        dones[slot] = null;
        contexts[slot] = null;
        free[freeCount++] = slot;
        inFlight--;
        try {
            bdev.finish(type, length, result, done, context);
        } catch (Throwable t) {
            LOG.log(Level.ERROR, "bdev " + bdev.name() + ": an I/O completion failed", t);
        }
    }

    @Override
    public boolean poll() {
        if (armed) {
            wakeKey.interestOps(0);
            armed = false;
        }
        aio.reap(this);
        while (!deferred.isEmpty() && freeCount > 0) {
            Deferred d = deferred.poll();
            issue(d.bdev(), d.opcode(), d.type(), d.address(), d.bytes(), d.offset(), d.done(), d.context());
        }
        submitQueued();
        return aio.queued() > 0 || aio.hasCompletions() || (!deferred.isEmpty() && freeCount > 0);
    }

    @Override
    public long prepareToSleep() {
        if (aio.queued() > 0) {
            return -1; // the kernel was short of something: try again before sleeping
        }
        if (inFlight == 0) {
            return 0;
        }
        // The counter holds the signals of completions already reaped: clear it, then look at the
        // ring again, so that the selector wakes for what completes from now on and only for that.
        LibC.read(eventFd, scratch, 8);
        wakeKey.interestOps(SelectionKey.OP_READ);
        armed = true;
        return aio.hasCompletions() ? -1 : SLEEP_CAP_MILLIS;
    }

    /** The eventfd fired: clear it; the turn that follows reaps. */
    private void wake(SelectionKey key) {
        LibC.read(eventFd, scratch, 8);
    }

    /** On the reactor's thread while a bdev closes: lets its I/O finish, posted requests included. */
    void awaitProgress() {
        reactor.runPostedTasks();
        poll();
        LockSupport.parkNanos(50_000);
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        long deadline = System.nanoTime() + DRAIN_NANOS;
        while (inFlight > 0 && System.nanoTime() - deadline < 0) {
            submitQueued();
            aio.reap(this);
            LockSupport.parkNanos(100_000);
        }
        if (inFlight > 0) {
            LOG.log(Level.WARNING, "reactor {0}: {1} aio requests still in flight at close", reactor.getName(), inFlight);
        }
        for (Deferred d; (d = deferred.poll()) != null; ) {
            d.bdev().finish(d.type(), d.bytes(), -Errno.ECANCELED, d.done(), d.context());
        }
        reactor.removePoller(this);
        wakeKey.cancel();
        try {
            wakeChannel.close(); // closes the eventfd
        } catch (IOException e) {
            LOG.log(Level.WARNING, "closing the aio eventfd failed", e);
        }
        if (inFlight == 0) {
            aio.close(); // else left: io_destroy would wait for the stuck requests, and their buffers stay valid
        }
        Native.free(scratch);
    }
}
