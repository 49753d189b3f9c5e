package io.mayastorj.core.internal.bdev;

import com.sun.jna.Native;
import io.mayastorj.core.internal.nativeio.Errno;
import io.mayastorj.core.internal.nativeio.LibC;
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
 * What a reactor's ring ({@link UringQueue}) and aio context ({@link AioQueue}) share: the slot
 * table, the requests waiting for a slot, the eventfd the kernel signals and the reactor's selector
 * watches while it sleeps, and how the queue drains when a device closes on this thread or the
 * reactor stops. Everything runs on the reactor's thread; nothing is locked.
 */
abstract class ReactorQueue implements ReactorThread.Poller {

    static final Logger LOG = System.getLogger("mayastor.bdev");
    private static final long DRAIN_NANOS = TimeUnit.SECONDS.toNanos(10);
    /**
     * The longest a reactor sleeps with I/O in flight. The eventfd wakes it; this bounds what a
     * signal lost between arming the eventfd and sleeping would cost, should the kernel's and this
     * side's ordering ever allow one.
     */
    static final long SLEEP_CAP_MILLIS = 100;

    final ReactorThread reactor;
    final Slots slots;
    final ArrayDeque<Slots.Waiting> waiting = new ArrayDeque<>();
    final int eventFd;
    final SelectionKey wakeKey;
    private final SelectableChannel wakeChannel;
    private final long scratch;
    boolean closed;

    /** On {@code reactor}'s thread: the eventfd, watched for {@code interestOps} from the start. */
    ReactorQueue(ReactorThread reactor, int slotCount, int interestOps) throws IOException {
        if (!reactor.inReactor()) {
            throw new IllegalStateException(getClass().getSimpleName() + " is made on its reactor's thread");
        }
        this.reactor = reactor;
        this.slots = new Slots(slotCount);
        int efd = LibC.eventfd(0, LibC.EFD_CLOEXEC | LibC.EFD_NONBLOCK);
        if (efd < 0) {
            throw new IOException("eventfd failed: " + LibC.describe(LibC.errno()));
        }
        SelectableChannel channel = null;
        long block = 0;
        try {
            channel = SelectableFd.wrap(efd);
            block = Native.malloc(8);
            wakeKey = reactor.register(channel, interestOps, this::wake);
        } catch (IOException | RuntimeException e) {
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
        scratch = block;
    }

    ReactorThread reactor() {
        return reactor;
    }

    /** The subclass is ready: the reactor runs it each turn from now on. */
    final void start() {
        reactor.addPoller(this);
    }

    /** Hands what is queued to the kernel. */
    abstract void submitQueued();

    /** Finishes every completion the kernel has posted. */
    abstract void reap();

    /** Frees the ring or context; {@code drained}: nothing is in flight any more. */
    abstract void closeBackend(boolean drained);

    /** Clears the eventfd's counter. */
    final void clearEventFd() {
        LibC.read(eventFd, scratch, 8);
    }

    /** The eventfd fired: clear it; the turn that follows reaps. */
    private void wake(SelectionKey key) {
        clearEventFd();
    }

    /** On the reactor's thread while a bdev closes: lets its I/O finish, posted requests included. */
    final void awaitProgress() {
        reactor.runPostedTasks();
        if (!closed) { // a task just run may have closed this queue (the node stopping): its ring is unmapped now
            poll();
        } else if (draining) {
            // a device closed from a completion the close's own drain reaped: its I/O is reaped here, the ring
            // still mapped (skipped, the reactor waited the device's 30 s, then the ring went with its I/O unreaped);
            // what waits for a slot is cancelled now, as the close would after its drain
            cancelWaiting();
            submitQueued();
            reap();
        }
        LockSupport.parkNanos(50_000);
    }

    /** Calls into the ring or context under way on the reactor's thread (they run completions, which may close). */
    private int inside;
    private boolean closeWhenOut;
    /** The close's drain is under way: the ring is still mapped. */
    private boolean draining;

    /** A call that may run completions begins: a close they ask for waits until the outermost one ends. */
    final void enter() {
        inside++;
    }

    final void leave() {
        if (--inside == 0 && closeWhenOut) {
            closeWhenOut = false;
            close();
        }
    }

    private void cancelWaiting() {
        for (Slots.Waiting w; (w = waiting.poll()) != null; ) {
            // one whose callback throws must not stop the close: the rest would never end, nor the ring close
            Slots.finish(w.bdev(), w.type(), w.length(), -Errno.ECANCELED, w.done(), w.context());
        }
    }

    /** Releases what the constructor made, for a subclass whose own setup failed after it. */
    final void releaseWake() {
        wakeKey.cancel();
        try {
            wakeChannel.close(); // closes the eventfd
        } catch (IOException e) {
            LOG.log(Level.WARNING, "closing an eventfd failed", e);
        }
        Native.free(scratch);
    }

    /**
     * Lets what is in flight finish (up to 10 s: this happens as the node stops or the factory goes),
     * aborts what waits for a slot, and frees everything; a request that comes later is aborted.
     */
    @Override
    public final void close() {
        if (closed) {
            return;
        }
        if (inside > 0) {
            // asked from a completion inside a reap or submit of this queue (a callback closing its device while
            // the factory goes): freed now, the loop it returns to would read and write the unmapped ring
            closeWhenOut = true;
            return;
        }
        closed = true;
        long deadline = System.nanoTime() + DRAIN_NANOS;
        draining = true;
        try {
            while (slots.inFlight() > 0 && System.nanoTime() - deadline < 0) {
                submitQueued();
                reap();
                LockSupport.parkNanos(100_000);
            }
        } finally {
            draining = false;
        }
        if (slots.inFlight() > 0) {
            // Their buffers stay valid: the pool outlives the reactors.
            LOG.log(Level.WARNING, "reactor {0}: {1} requests still in flight at close ({2})", reactor.getName(),
                    slots.inFlight(), getClass().getSimpleName());
        }
        cancelWaiting();
        reactor.removePoller(this);
        closeBackend(slots.inFlight() == 0);
        releaseWake();
    }
}
