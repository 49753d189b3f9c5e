package io.mayastorj.core.internal.nativeio;

import com.sun.jna.Native;
import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * One Linux native AIO context (linux/aio_abi.h) and its control blocks, one per slot. The owner
 * {@link #prepare prepares} requests in numbered slots, {@link #submit() submits} the prepared ones
 * in one {@code io_submit}, and {@link #reap reaps} completions straight from the ring the kernel
 * maps into the process (the context's id is its address), as SPDK's aio bdev does — no system call
 * to learn that nothing has completed. Where the ring's header is not the one known here, reaping
 * asks {@code io_getevents} without waiting instead.
 *
 * <p>Not thread-safe: one thread owns a context at a time. The kernel is the ring's other side, so
 * its tail is read with acquire and its head written with release ordering.
 */
public final class LinuxAio implements AutoCloseable {

    public static final short CMD_PREAD = 0;
    public static final short CMD_PWRITE = 1;
    public static final short CMD_FDSYNC = 3;

    // struct iocb, little-endian layout
    private static final int IOCB_SIZE = 64;
    private static final int IOCB_DATA = 0;
    private static final int IOCB_OPCODE = 16;
    private static final int IOCB_FILDES = 20;
    private static final int IOCB_BUF = 24;
    private static final int IOCB_NBYTES = 32;
    private static final int IOCB_OFFSET = 40;
    private static final int IOCB_FLAGS = 56;
    private static final int IOCB_RESFD = 60;
    private static final int IOCB_FLAG_RESFD = 1;

    // struct io_event
    private static final int EVENT_SIZE = 32;
    private static final int EVENT_DATA = 0;
    private static final int EVENT_RES = 16;

    // struct aio_ring (fs/aio.c): the header of the completion ring at the context's address
    private static final int RING_NR = 4;
    private static final int RING_HEAD = 8;
    private static final int RING_TAIL = 12;
    private static final int RING_MAGIC = 16;
    private static final int RING_INCOMPAT = 24;
    private static final int RING_HEADER_LENGTH = 28;
    private static final int AIO_RING_MAGIC = 0xa10a10a1;

    private static final VarHandle INT = MethodHandles.byteBufferViewVarHandle(int[].class, ByteOrder.nativeOrder());

    static {
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new ExceptionInInitializerError("the aio bdev supports little-endian machines only");
        }
    }

    /** Called for each completion with the slot's number and the kernel's result (bytes, or -errno). */
    @FunctionalInterface
    public interface CompletionHandler {
        void completed(int slot, long result);
    }

    private final int slots;
    private final int eventFd;
    private final long block;
    private final long iocbAddress;
    private final long batchAddress;
    private final long eventsAddress;
    private final long timeoutAddress;
    private final long contextId;
    private final ByteBuffer iocbs;
    private final ByteBuffer batch;
    private final ByteBuffer events;
    /**
     * The batch io_getevents returned, not yet handed out: a handler that waits for more (a device
     * closed from a completion) reaps nested, and takes the rest of this batch first — the kernel
     * gave it already, and a nested call must not overwrite the events the outer one still reads.
     */
    private final long[] batchData;
    private final long[] batchResults;
    private int batchNext;
    private int batchLeft;
    private final ByteBuffer timeout;
    /** The kernel's completion ring, or null where its layout is not the one known here. */
    private final ByteBuffer ring;
    private final int ringEntries;
    private final int ringEventsOffset;
    /** Slots prepared and not yet taken by the kernel: their control blocks' addresses, in order, in {@link #batch}. */
    private int queued;
    private boolean closed;

    /**
     * A context for {@code slots} requests in flight at once. With {@code eventFd} ≥ 0 the kernel
     * also signals that eventfd once per completion, so that a sleeping owner wakes.
     */
    public LinuxAio(int slots, int eventFd) throws IOException {
        this.slots = slots;
        this.batchData = new long[slots];
        this.batchResults = new long[slots];
        this.eventFd = eventFd;
        long iocbBytes = (long) slots * IOCB_SIZE;
        long batchBytes = (long) slots * 8;
        long eventBytes = (long) slots * EVENT_SIZE;
        block = Native.malloc(iocbBytes + batchBytes + eventBytes + 16 + 8);
        if (block == 0) {
            throw new IOException("out of native memory for the AIO control blocks");
        }
        iocbAddress = block;
        batchAddress = iocbAddress + iocbBytes;
        eventsAddress = batchAddress + batchBytes;
        timeoutAddress = eventsAddress + eventBytes;
        long contextAddress = timeoutAddress + 16;
        iocbs = NativeMemory.view(iocbAddress, (int) iocbBytes);
        batch = NativeMemory.view(batchAddress, (int) batchBytes);
        events = NativeMemory.view(eventsAddress, (int) eventBytes);
        timeout = NativeMemory.view(timeoutAddress, 24);
        for (int i = 0; i < iocbBytes; i += 8) {
            iocbs.putLong(i, 0);
        }
        timeout.putLong(16, 0); // aio_context_t must start at zero
        if (LibC.syscall(LibC.SYS_IO_SETUP, slots, contextAddress, 0, 0, 0) != 0) {
            int errno = LibC.errno();
            Native.free(block);
            throw new IOException("io_setup failed: " + LibC.describe(errno)
                    + (errno == Errno.EAGAIN ? " (raise /proc/sys/fs/aio-max-nr)" : ""));
        }
        contextId = timeout.getLong(16);
        ByteBuffer header = NativeMemory.view(contextId, 32);
        if (header.getInt(RING_MAGIC) == AIO_RING_MAGIC && header.getInt(RING_INCOMPAT) == 0) {
            ringEntries = header.getInt(RING_NR);
            ringEventsOffset = header.getInt(RING_HEADER_LENGTH);
            ring = NativeMemory.view(contextId, ringEventsOffset + ringEntries * EVENT_SIZE);
        } else {
            ringEntries = 0;
            ringEventsOffset = 0;
            ring = null;
        }
    }

    public int slots() {
        return slots;
    }

    /** Eight bytes of memory of its own: a valid buffer for a request of zero bytes. */
    public long scratchAddress() {
        return timeoutAddress + 16;
    }

    /** Slots prepared and not yet taken by the kernel. */
    public int queued() {
        return queued;
    }

    /** Fills slot {@code slot}'s control block and queues it for the next {@link #submit()}. */
    public void prepare(int slot, short opcode, int fd, long address, long bytes, long offset) {
        int base = slot * IOCB_SIZE;
        iocbs.putLong(base + IOCB_DATA, slot);
        iocbs.putShort(base + IOCB_OPCODE, opcode);
        iocbs.putInt(base + IOCB_FILDES, fd);
        iocbs.putLong(base + IOCB_BUF, address);
        iocbs.putLong(base + IOCB_NBYTES, bytes);
        iocbs.putLong(base + IOCB_OFFSET, offset);
        iocbs.putInt(base + IOCB_FLAGS, eventFd >= 0 ? IOCB_FLAG_RESFD : 0);
        iocbs.putInt(base + IOCB_RESFD, Math.max(eventFd, 0));
        batch.putLong(queued++ * 8, iocbAddress + (long) base);
    }

    /**
     * Hands the queued slots to the kernel in one system call; what it does not take stays queued,
     * in order.
     *
     * @return how many it took, or -errno when it took none: the first queued slot is the one the
     *         kernel refused (EAGAIN: it is short of resources, try later; anything else: that
     *         request fails, see {@link #dropFirst()})
     */
    public int submit() {
        if (queued == 0) {
            return 0;
        }
        long n = LibC.syscall(LibC.SYS_IO_SUBMIT, contextId, queued, batchAddress, 0, 0);
        if (n < 0) {
            return -LibC.errno();
        }
        int taken = (int) n;
        if (taken < queued) {
            for (int i = taken; i < queued; i++) {
                batch.putLong((i - taken) * 8, batch.getLong(i * 8));
            }
        }
        queued -= taken;
        return taken;
    }

    /** Takes the first queued slot out of the queue (the kernel refused it) and returns its number. */
    public int dropFirst() {
        int slot = (int) ((batch.getLong(0) - iocbAddress) / IOCB_SIZE);
        for (int i = 1; i < queued; i++) {
            batch.putLong((i - 1) * 8, batch.getLong(i * 8));
        }
        queued--;
        return slot;
    }

    /** Whether completions are read from the kernel's ring here, not asked for with {@code io_getevents}. */
    public boolean readsRingDirectly() {
        return ring != null;
    }

    /** Whether completions are read from the ring the kernel shares (else with io_getevents only). */
    public boolean readsRing() {
        return ring != null;
    }

    /** True when completions wait in the ring (always false where the ring is not read directly). */
    public boolean hasCompletions() {
        return ring != null && ring.getInt(RING_HEAD) != (int) INT.getAcquire(ring, RING_TAIL);
    }

    /** Calls {@code handler} for every completion posted, without waiting; returns how many. */
    public int reap(CompletionHandler handler) {
        if (ring == null) {
            timeout.putLong(0, 0);
            timeout.putLong(8, 0);
            return getEvents(0, handler);
        }
        int n = 0;
        while (true) {
            int head = ring.getInt(RING_HEAD);
            if (head == (int) INT.getAcquire(ring, RING_TAIL)) {
                return n;
            }
            int base = ringEventsOffset + head * EVENT_SIZE;
            int slot = (int) ring.getLong(base + EVENT_DATA);
            long result = ring.getLong(base + EVENT_RES);
            INT.setRelease(ring, RING_HEAD, (head + 1) % ringEntries);
            n++;
            handler.completed(slot, result);
        }
    }

    /**
     * Waits up to {@code timeoutNanos} for at least one completion and calls {@code handler} for
     * those that came; returns how many, or -errno (EINTR: a signal).
     */
    public int await(long timeoutNanos, CompletionHandler handler) {
        timeout.putLong(0, timeoutNanos / 1_000_000_000L);
        timeout.putLong(8, timeoutNanos % 1_000_000_000L);
        return getEvents(1, handler);
    }

    private int getEvents(int min, CompletionHandler handler) {
        if (batchLeft > 0) {
            return handOut(handler); // nested in a handler of the last batch: its rest first
        }
        long n = LibC.syscall(LibC.SYS_IO_GETEVENTS, contextId, min, slots, eventsAddress, timeoutAddress);
        if (n < 0) {
            return -LibC.errno();
        }
        for (int i = 0; i < n; i++) {
            int base = i * EVENT_SIZE;
            batchData[i] = events.getLong(base + EVENT_DATA);
            batchResults[i] = events.getLong(base + EVENT_RES);
        }
        batchNext = 0;
        batchLeft = (int) n;
        return handOut(handler);
    }

    private int handOut(CompletionHandler handler) {
        int handed = 0;
        while (batchLeft > 0) {
            int i = batchNext++;
            batchLeft--;
            handed++;
            handler.completed((int) batchData[i], batchResults[i]);
        }
        return handed;
    }

    /** Destroys the context (the kernel cancels or waits for what is in flight) and frees the blocks. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        LibC.syscall(LibC.SYS_IO_DESTROY, contextId, 0, 0, 0, 0);
        Native.free(block);
    }
}
