package io.mayastorj.core.internal.bdev;

import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.internal.nativeio.Errno;
import io.mayastorj.core.internal.nativeio.IoUring;
import io.mayastorj.core.internal.nativeio.LibC;
import io.mayastorj.core.internal.reactor.ReactorThread;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.channels.SelectionKey;

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
final class UringQueue extends ReactorQueue implements IoUring.CompletionHandler {

    static final int SUBMISSION_ENTRIES = 256;
    /**
     * Requests handed to the kernel together at most. Holding a whole turn's requests (32 at QD32)
     * made the device see them in waves, each wave completing together: 4 KiB random reads on this
     * machine's virtio disk ran at 0.83 of one-at-a-time submission, while batches of 4 ran at 1.07
     * with a quarter of the system calls (benchmarks/results-uring.txt).
     */
    static final int BATCH = 4;
    /** Requests in flight at once; more wait for a slot. Completion entries match. */
    static final int SLOTS = 1024;

    private final IoUring ring;
    private final long fixedAddress;
    /** 0: no buffers registered. */
    private final long fixedLength;
    /** Requests made on registered buffers (read by tests only; a plain field, this thread's). */
    long fixedRequests;
    private boolean armed;
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
        super(reactor, SLOTS, SelectionKey.OP_READ);
        try {
            ring = new IoUring(SUBMISSION_ENTRIES, SLOTS);
        } catch (IOException e) {
            releaseWake();
            throw e;
        }
        try {
            ring.registerEventFd(eventFd);
        } catch (IOException e) {
            ring.close();
            releaseWake();
            throw e;
        }
        ring.eventFdPaused(true);
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
        start();
    }

    /** Queues a request for the end of this turn; on the reactor's thread. */
    @SuppressWarnings("unchecked")
    void submit(UringBdev bdev, byte opcode, IoType type, long address, int length, long offset, int opFlags,
                IoCompletion<?> done, Object context) {
        if (closed) {
            bdev.finish(type, length, -Errno.ECANCELED, (IoCompletion<Object>) done, context);
            return;
        }
        enter();
        try {
            if (!slots.anyFree() || !waiting.isEmpty() || (ring.submissionQueueFull() && !flushFull())) {
                waiting.add(new Slots.Waiting(bdev, opcode, type, address, length, offset, opFlags,
                        (IoCompletion<Object>) done, context));
                return;
            }
            issue(bdev, opcode, type, address, length, offset, opFlags, done, context);
            if (ring.unsubmitted() >= BATCH) {
                submitQueued();
            }
        } finally {
            leave();
        }
    }

    /** The submission ring filled within one turn: hand it over now; true if room was made. */
    private boolean flushFull() {
        submitQueued();
        return !ring.submissionQueueFull();
    }

    @Override
    public void completed(long userData, int result) {
        slots.complete((int) userData, result);
    }

    @Override
    public boolean poll() {
        if (closed) {
            return false; // its ring (context) is freed: nothing to reap, and reading it would fault
        }
        if (armed) {
            ring.eventFdPaused(true);
            armed = false;
        }
        enter();
        try {
            ring.reap(this);
            submitDeferred();
            submitQueued();
            ring.reap(this); // what the submission completed at once (a read from the page cache)
            return ring.unsubmitted() > 0 || ring.hasCompletions() || (!waiting.isEmpty() && slots.anyFree());
        } finally {
            leave();
        }
    }

    private void submitDeferred() {
        while (!waiting.isEmpty() && slots.anyFree()) {
            if (ring.submissionQueueFull() && !flushFull()) {
                return;
            }
            submitNow(waiting.poll());
        }
    }

    private void submitNow(Slots.Waiting d) {
        issue((UringBdev) d.bdev(), (byte) d.opcode(), d.type(), d.address(), (int) d.length(), d.offset(), d.opFlags(),
                d.done(), d.context());
    }

    /** Takes a free slot for the request and fills its submission entry. */
    private void issue(UringBdev bdev, byte opcode, IoType type, long address, int length, long offset, int opFlags,
                       IoCompletion<?> done, Object context) {
        int slot = slots.take(bdev, type, length, done, context);
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

    @Override
    void submitQueued() {
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
        if (closed) {
            return 0; // closed by a completion another queue's look before sleeping ran: its ring is unmapped
        }
        if (ring.unsubmitted() > 0) {
            return -1; // the kernel was short of something: try again before sleeping
        }
        if (slots.inFlight() == 0) {
            return 0; // nothing to wait for: the eventfd stays paused
        }
        if (ring.canPauseEventFd()) {
            ring.eventFdPaused(false);
            armed = true;
        }
        return ring.hasCompletions() ? -1 : SLEEP_CAP_MILLIS; // one posted before the resume did not signal
    }

    @Override
    void reap() {
        ring.reap(this);
    }

    @Override
    void closeBackend(boolean drained) {
        ring.close(); // the kernel cancels what is still in flight; those buffers stay valid (the pool outlives us)
    }
}
