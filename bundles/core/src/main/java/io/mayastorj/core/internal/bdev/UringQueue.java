package io.mayastorj.core.internal.bdev;

import com.sun.jna.Native;
import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.internal.nativeio.Errno;
import io.mayastorj.core.internal.nativeio.IoUring;
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
 * One reactor's io_uring, shared by every uring bdev that reactor drives (as SPDK shares one ring
 * per thread). Requests made during a reactor turn go to the kernel in batches of up to
 * {@link #BATCH}, the last when the turn ends; completions are reaped from the shared ring on the
 * same thread at the start of the next turn, so neither side crosses a thread. While the reactor sleeps
 * with I/O in flight, the ring signals an eventfd that the reactor's selector watches; while it is
 * busy, the signal is paused and costs nothing.
 *
 * <p>Everything here runs on the reactor's thread; nothing is shared, nothing is locked.
 */
final class UringQueue implements ReactorThread.Poller, IoUring.CompletionHandler {

    private static final Logger LOG = System.getLogger("mayastor.bdev");
    static final int SUBMISSION_ENTRIES = 256;
    /**
     * Requests handed to the kernel together at most. Holding a whole turn's requests (32 at QD32)
     * made the device see them in waves, each wave completing together: 4 KiB random reads on this
     * machine's virtio disk ran at 0.83 of one-at-a-time submission, while batches of 4 ran at 1.07
     * with a quarter of the system calls (benchmarks/results-uring.txt).
     */
    static final int BATCH = 4;
    /** Requests in flight at once; more wait in {@link #deferred}. Completion entries match. */
    static final int SLOTS = 1024;
    private static final long DRAIN_NANOS = TimeUnit.SECONDS.toNanos(10);
    /**
     * The longest a reactor sleeps with I/O in flight. The eventfd wakes it; this bounds what a
     * signal lost between resuming the eventfd and sleeping would cost, should the kernel's and this
     * side's ordering ever allow one.
     */
    private static final long SLEEP_CAP_MILLIS = 100;

    /** A request that found no free slot; allocated only then. */
    private record Deferred(UringBdev bdev, byte opcode, IoType type, long address, int length, long offset,
                            int opFlags, IoCompletion<Object> done, Object context) {
    }

    private final ReactorThread reactor;
    private final IoUring ring;
    private final long fixedAddress;
    /** 0: no buffers registered. */
    private final long fixedLength;
    private final int eventFd;
    private final SelectableChannel wakeChannel;
    private final SelectionKey wakeKey;
    private final long scratch;

    private final UringBdev[] bdevs = new UringBdev[SLOTS];
    private final IoType[] types = new IoType[SLOTS];
    private final long[] lengths = new long[SLOTS];
    private final IoCompletion<?>[] dones = new IoCompletion<?>[SLOTS];
    private final Object[] contexts = new Object[SLOTS];
    private final int[] free = new int[SLOTS];
    private int freeCount;
    private int inFlight;
    private final ArrayDeque<Deferred> deferred = new ArrayDeque<>();
    /** Requests made on registered buffers (read by tests only; a plain field, this thread's). */
    long fixedRequests;
    private boolean armed;
    private boolean closed;
    private long submitErrors;

    /** Sets the ring up on {@code reactor}'s thread (the thread it is called on). */
    UringQueue(ReactorThread reactor) throws IOException {
        this(reactor, 0, 0);
    }

    /**
     * A queue whose ring has the region of {@code fixedLength} bytes at {@code fixedAddress} (the DMA
     * buffer pool; 0: none) registered: a request on a buffer inside it is a fixed-buffer one, and
     * the kernel does not look up and pin its pages each time.
     */
    UringQueue(ReactorThread reactor, long fixedAddress, long fixedLength) throws IOException {
        if (!reactor.inReactor()) {
            throw new IllegalStateException("a uring queue is made on its reactor's thread");
        }
        this.reactor = reactor;
        ring = new IoUring(SUBMISSION_ENTRIES, SLOTS);
        long registered = 0;
        if (fixedLength > 0) {
            try {
                ring.registerBuffers(fixedAddress, fixedLength);
                registered = fixedLength;
            } catch (IOException e) {
                LOG.log(Level.WARNING, "reactor {0}: {1}; its requests pin their pages each time", reactor.getName(),
                        e.getMessage());
            }
        }
        this.fixedAddress = fixedAddress;
        this.fixedLength = registered;
        SelectableChannel channel = null;
        int efd = -1;
        long block = 0;
        try {
            efd = LibC.eventfd(0, LibC.EFD_CLOEXEC | LibC.EFD_NONBLOCK);
            if (efd < 0) {
                throw new IOException("eventfd failed: " + LibC.describe(LibC.errno()));
            }
            channel = SelectableFd.wrap(efd);
            ring.registerEventFd(efd);
            ring.eventFdPaused(true);
            block = Native.malloc(8);
            wakeKey = reactor.register(channel, SelectionKey.OP_READ, this::wake);
        } catch (IOException | RuntimeException e) {
            if (channel != null) {
                channel.close();
            } else if (efd >= 0) {
                LibC.close(efd);
            }
            if (block != 0) {
                Native.free(block);
            }
            ring.close();
            throw e;
        }
        eventFd = efd;
        wakeChannel = channel;
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
    void submit(UringBdev bdev, byte opcode, IoType type, long address, int length, long offset, int opFlags,
                IoCompletion<?> done, Object context) {
        if (closed) {
            bdev.finish(type, length, -Errno.ECANCELED, (IoCompletion<Object>) done, context);
            return;
        }
        if (freeCount == 0 || !deferred.isEmpty() || (ring.submissionQueueFull() && !flushFull())) {
            deferred.add(new Deferred(bdev, opcode, type, address, length, offset, opFlags,
                    (IoCompletion<Object>) done, context));
            return;
        }
        issue(bdev, opcode, type, address, length, offset, opFlags, done, context);
        if (ring.unsubmitted() >= BATCH) {
            submitQueued();
        }
    }

    /** The submission ring filled within one turn: hand it over now; true if room was made. */
    private boolean flushFull() {
        submitQueued();
        return !ring.submissionQueueFull();
    }

    @Override
    @SuppressWarnings("unchecked")
    public void completed(long userData, int result) {
        int slot = (int) userData;
        UringBdev bdev = bdevs[slot];
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
            ring.eventFdPaused(true);
            armed = false;
        }
        ring.reap(this);
        submitDeferred();
        submitQueued();
        ring.reap(this); // what the submission completed at once (a read from the page cache)
        return ring.unsubmitted() > 0 || ring.hasCompletions() || (!deferred.isEmpty() && freeCount > 0);
    }

    private void submitDeferred() {
        while (!deferred.isEmpty() && freeCount > 0) {
            if (ring.submissionQueueFull() && !flushFull()) {
                return;
            }
            submitNow(deferred.poll());
        }
    }

    private void submitNow(Deferred d) {
        issue(d.bdev(), d.opcode(), d.type(), d.address(), d.length(), d.offset(), d.opFlags(), d.done(), d.context());
    }

    /** Takes a free slot for the request and fills its submission entry. */
    private void issue(UringBdev bdev, byte opcode, IoType type, long address, int length, long offset, int opFlags,
                       IoCompletion<?> done, Object context) {
        int slot = free[--freeCount];
        bdevs[slot] = bdev;
        types[slot] = type;
        lengths[slot] = length;
        dones[slot] = done;
        contexts[slot] = context;
        inFlight++;
        int fixed = fixedIndex(address, length);
        if (fixed >= 0 && (opcode == IoUring.OP_READ || opcode == IoUring.OP_WRITE)) {
            opcode = opcode == IoUring.OP_READ ? IoUring.OP_READ_FIXED : IoUring.OP_WRITE_FIXED;
            fixedRequests++;
        } else {
            fixed = 0;
        }
        ring.prepare(opcode, bdev.fd, address, length, offset, opFlags, fixed, slot);
    }

    /** The registered piece that holds all of [address, address + length), or -1. */
    private int fixedIndex(long address, int length) {
        long start = address - fixedAddress;
        if (length <= 0 || start < 0 || start + length > fixedLength) {
            return -1;
        }
        long piece = start / IoUring.FIXED_BUFFER_MAX;
        return (start + length - 1) / IoUring.FIXED_BUFFER_MAX == piece ? (int) piece : -1;
    }

    private void submitQueued() {
        while (ring.unsubmitted() > 0) {
            int n = ring.submit();
            if (n > 0 || n == -Errno.EINTR) {
                continue;
            }
            if (n == 0 || n == -Errno.EAGAIN || n == -Errno.EBUSY) {
                return; // the kernel is short of memory or has completions to hand back: the next turn retries
            }
            if (submitErrors++ % 10_000 == 0) {
                LOG.log(Level.ERROR, "reactor {0}: io_uring_enter failed: {1}; its requests fail", reactor.getName(),
                        LibC.describe(-n));
            }
            ring.cancelUnsubmitted(this, n); // retrying will not cure it: fail them, do not spin
            return;
        }
    }

    @Override
    public long prepareToSleep() {
        if (ring.unsubmitted() > 0) {
            return -1; // the kernel was short of something: try again before sleeping
        }
        if (inFlight == 0) {
            return 0; // nothing to wait for: the eventfd stays paused
        }
        if (ring.canPauseEventFd()) {
            ring.eventFdPaused(false);
            armed = true;
        }
        return ring.hasCompletions() ? -1 : SLEEP_CAP_MILLIS; // one posted before the resume did not signal
    }

    /** The eventfd fired: clear it; the turn that follows reaps. */
    private void wake(SelectionKey key) {
        LibC.read(eventFd, scratch, 8);
    }

    /**
     * On the reactor's thread while a bdev closes: lets its I/O finish, including requests posted
     * to this reactor from other threads and not yet queued.
     */
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
            ring.reap(this);
            LockSupport.parkNanos(100_000);
        }
        if (inFlight > 0) {
            // The buffers of what is still in flight stay valid: this happens only as the node stops.
            LOG.log(Level.WARNING, "reactor {0}: {1} io_uring requests still in flight at close",
                    reactor.getName(), inFlight);
        }
        for (Deferred d; (d = deferred.poll()) != null; ) {
            d.bdev().finish(d.type(), d.length(), -Errno.ECANCELED, d.done(), d.context());
        }
        reactor.removePoller(this);
        wakeKey.cancel();
        try {
            wakeChannel.close(); // closes the eventfd
        } catch (IOException e) {
            LOG.log(Level.WARNING, "closing the io_uring eventfd failed", e);
        }
        ring.close();
        Native.free(scratch);
    }
}
