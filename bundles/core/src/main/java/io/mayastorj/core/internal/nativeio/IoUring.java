package io.mayastorj.core.internal.nativeio;

import com.sun.jna.Native;
import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * One io_uring instance (linux/io_uring.h): its submission and completion rings mapped into this
 * process, filled and drained here without a system call per request. The owner fills submission
 * entries, {@link #submit() submits} them in one {@code io_uring_enter} per batch and
 * {@link #reap reaps} completions straight from the shared ring.
 *
 * <p>Not thread-safe: one thread (a reactor) owns a ring. The kernel is the other side of both
 * rings, so the tails and heads it reads or writes are accessed with acquire/release ordering.
 */
public final class IoUring implements AutoCloseable {

    public static final byte OP_FSYNC = 3;
    public static final byte OP_READ = 22;
    public static final byte OP_WRITE = 23;
    public static final byte OP_READ_FIXED = 4;
    public static final byte OP_WRITE_FIXED = 5;
    /** The largest buffer io_uring registers as one. */
    public static final long FIXED_BUFFER_MAX = 1L << 30;
    public static final int FSYNC_DATASYNC = 1;

    private static final int ENTER_GETEVENTS = 1;
    private static final int REGISTER_BUFFERS = 0;
    private static final int REGISTER_EVENTFD = 4;
    private static final int SETUP_CQSIZE = 1 << 3;
    private static final int SETUP_CLAMP = 1 << 4;
    private static final int FEAT_SINGLE_MMAP = 1;
    private static final int FEAT_NODROP = 1 << 1;
    /** 5.6, the kernel that brought IORING_OP_READ and OP_WRITE, which every request here is. */
    private static final int FEAT_RW_CUR_POS = 1 << 3;
    private static final int CQ_EVENTFD_DISABLED = 1;
    private static final long OFF_SQ_RING = 0;
    private static final long OFF_CQ_RING = 0x8000000L;
    private static final long OFF_SQES = 0x10000000L;

    // struct io_uring_params
    private static final int PARAMS_SIZE = 120;
    private static final int P_SQ_ENTRIES = 0;
    private static final int P_CQ_ENTRIES = 4;
    private static final int P_FLAGS = 8;
    private static final int P_FEATURES = 20;
    private static final int P_SQ_OFF = 40;
    private static final int P_CQ_OFF = 80;

    static final int SQE_SIZE = 64;
    private static final int CQE_SIZE = 16;

    private static final VarHandle INT = MethodHandles.byteBufferViewVarHandle(int[].class, ByteOrder.nativeOrder());

    /** Called for each completion, in the order the kernel posted them. */
    @FunctionalInterface
    public interface CompletionHandler {
        void completed(long userData, int result);
    }

    private final int ringFd;
    private final int sqEntries;
    private final int cqEntries;
    private final long sqRingAddress;
    private final long sqRingSize;
    private final long cqRingAddress;
    private final long cqRingSize;
    private final long sqesAddress;
    private final long sqesSize;
    private final ByteBuffer sqRing;
    private final ByteBuffer cqRing;
    private final ByteBuffer sqes;
    private final int sqHeadOffset;
    private final int sqTailOffset;
    private final int sqMask;
    private final int cqHeadOffset;
    private final int cqTailOffset;
    private final int cqMask;
    private final int cqesOffset;
    private final int cqFlagsOffset;
    /** Entries filled; those past the kernel's head it has not taken yet. */
    private int sqTail;
    private boolean closed;

    /**
     * Sets up a ring of {@code entries} submission entries and {@code cqEntries} completion entries
     * (the kernel rounds both up to powers of two).
     */
    public IoUring(int entries, int cqEntries) throws IOException {
        long params = Native.malloc(PARAMS_SIZE);
        if (params == 0) {
            throw new IOException("out of native memory for the io_uring parameters");
        }
        try {
            ByteBuffer p = NativeMemory.view(params, PARAMS_SIZE);
            for (int i = 0; i < PARAMS_SIZE; i += 4) {
                p.putInt(i, 0);
            }
            p.putInt(P_FLAGS, SETUP_CQSIZE | SETUP_CLAMP);
            p.putInt(P_CQ_ENTRIES, cqEntries);
            long fd = LibC.syscall(LibC.SYS_IO_URING_SETUP, entries, params, 0, 0, 0);
            if (fd < 0) {
                int errno = LibC.errno();
                throw new IOException("io_uring_setup failed: " + LibC.describe(errno) + switch (errno) {
                    case Errno.ENOSYS -> " (the kernel has no io_uring)";
                    case Errno.EPERM -> " (io_uring is disabled: /proc/sys/kernel/io_uring_disabled, or a seccomp policy)";
                    default -> "";
                });
            }
            ringFd = (int) fd;
            int features = p.getInt(P_FEATURES);
            if ((features & FEAT_NODROP) == 0) {
                LibC.close(ringFd);
                throw new IOException("the kernel's io_uring may drop completions (no IORING_FEAT_NODROP; 5.6 or later needed)");
            }
            if ((features & FEAT_RW_CUR_POS) == 0) {
                // 5.5 has NODROP but not the read and write operations: every request would fail, with no fallback
                LibC.close(ringFd);
                throw new IOException("the kernel's io_uring has no IORING_OP_READ/WRITE (5.6 or later needed)");
            }
            sqEntries = p.getInt(P_SQ_ENTRIES);
            this.cqEntries = p.getInt(P_CQ_ENTRIES);
            // struct io_sqring_offsets: head, tail, ring_mask, ring_entries, flags, dropped, array
            int sqHead = p.getInt(P_SQ_OFF);
            int sqTailOff = p.getInt(P_SQ_OFF + 4);
            int sqMaskOff = p.getInt(P_SQ_OFF + 8);
            int sqArray = p.getInt(P_SQ_OFF + 24);
            // struct io_cqring_offsets: head, tail, ring_mask, ring_entries, overflow, cqes, flags
            int cqHead = p.getInt(P_CQ_OFF);
            int cqTailOff = p.getInt(P_CQ_OFF + 4);
            int cqMaskOff = p.getInt(P_CQ_OFF + 8);
            int cqes = p.getInt(P_CQ_OFF + 20);
            int cqFlags = p.getInt(P_CQ_OFF + 24);

            long sqSize = sqArray + 4L * sqEntries;
            long cqSize = cqes + (long) CQE_SIZE * this.cqEntries;
            boolean single = (features & FEAT_SINGLE_MMAP) != 0;
            if (single) {
                sqSize = cqSize = Math.max(sqSize, cqSize);
            }
            long sq = map(sqSize, OFF_SQ_RING, 0, 0, 0, 0);
            long cq = single ? sq : map(cqSize, OFF_CQ_RING, sq, sqSize, 0, 0);
            long sqesBytes = (long) SQE_SIZE * sqEntries;
            long sqesMapped = map(sqesBytes, OFF_SQES, sq, sqSize, single ? 0 : cq, cqSize);
            sqRingAddress = sq;
            sqRingSize = sqSize;
            cqRingAddress = single ? 0 : cq;
            cqRingSize = single ? 0 : cqSize;
            sqesAddress = sqesMapped;
            sqesSize = sqesBytes;
            sqRing = NativeMemory.view(sq, (int) sqSize);
            cqRing = single ? sqRing : NativeMemory.view(cq, (int) cqSize);
            sqes = NativeMemory.view(sqesMapped, (int) sqesBytes);
            sqHeadOffset = sqHead;
            sqTailOffset = sqTailOff;
            sqMask = sqRing.getInt(sqMaskOff);
            cqHeadOffset = cqHead;
            cqTailOffset = cqTailOff;
            cqMask = cqRing.getInt(cqMaskOff);
            cqesOffset = cqes;
            cqFlagsOffset = cqFlags; // 0 before 5.8: no way to pause the eventfd
            for (int i = 0; i < sqEntries; i++) {
                sqRing.putInt(sqArray + 4 * i, i); // entry i of the ring is always SQE i
            }
            sqTail = (int) INT.getAcquire(sqRing, sqTailOff);
        } finally {
            Native.free(params);
        }
    }

    /** Maps a region of the ring; on failure unmaps the ones mapped before (address 0: none) and closes it. */
    private long map(long length, long offset, long mapped1, long length1, long mapped2, long length2)
            throws IOException {
        long address = LibC.mmap(0, length, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_SHARED | LibC.MAP_POPULATE,
                ringFd, offset);
        if (address == LibC.MAP_FAILED) {
            int errno = LibC.errno();
            if (mapped1 != 0) {
                LibC.munmap(mapped1, length1);
            }
            if (mapped2 != 0) {
                LibC.munmap(mapped2, length2);
            }
            LibC.close(ringFd);
            throw new IOException("mapping the io_uring rings failed: " + LibC.describe(errno));
        }
        return address;
    }

    /** Submission entries filled but not yet handed to the kernel. */
    public int unsubmitted() {
        return sqTail - (int) INT.getAcquire(sqRing, sqHeadOffset);
    }

    /** True when no submission entry is free until the kernel consumes some. */
    public boolean submissionQueueFull() {
        return sqTail - (int) INT.getAcquire(sqRing, sqHeadOffset) >= sqEntries;
    }

    /**
     * Fills the next submission entry. The caller checked {@link #submissionQueueFull()}.
     *
     * @param bufIndex a registered buffer's index (0: none is registered)
     * @param opFlags  rw_flags, fsync_flags or the fallocate mode (which travels in len)
     */
    public void prepare(byte opcode, int fd, long address, int length, long offset, int opFlags, int bufIndex,
                        long userData) {
        int base = (sqTail & sqMask) * SQE_SIZE;
        sqes.put(base, opcode);
        sqes.put(base + 1, (byte) 0); // flags
        sqes.putShort(base + 2, (short) 0); // ioprio
        sqes.putInt(base + 4, fd);
        sqes.putLong(base + 8, offset);
        sqes.putLong(base + 16, address);
        sqes.putInt(base + 24, length);
        sqes.putInt(base + 28, opFlags);
        sqes.putLong(base + 32, userData);
        sqes.putShort(base + 40, (short) bufIndex);
        sqes.putShort(base + 42, (short) 0); // personality
        sqes.putInt(base + 44, 0);
        sqes.putLong(base + 48, 0);
        sqes.putLong(base + 56, 0);
        sqTail++;
    }

    /**
     * Hands the filled entries to the kernel in one system call.
     *
     * @return how many it took, or -errno: EAGAIN and EBUSY mean "later" (the kernel is short of
     *         memory, or completions wait to be reaped), and the entries stay queued
     */
    public int submit() {
        int pending = unsubmitted();
        if (pending == 0) {
            return 0;
        }
        INT.setRelease(sqRing, sqTailOffset, sqTail);
        // Entries the kernel does not take now stay between its head and our tail for the next call.
        long n = LibC.syscall(LibC.SYS_IO_URING_ENTER, ringFd, pending, 0, 0, 0);
        return n >= 0 ? (int) n : -LibC.errno();
    }

    /** True when completions wait in the ring. */
    public boolean hasCompletions() {
        return cqRing.getInt(cqHeadOffset) != (int) INT.getAcquire(cqRing, cqTailOffset);
    }

    /**
     * Calls {@code handler} for every completion in the ring and frees their entries; returns how
     * many. The head is read again after each call: a handler may reap too (a device closed from a
     * completion waits for its own requests).
     */
    public int reap(CompletionHandler handler) {
        int n = 0;
        while (true) {
            int head = cqRing.getInt(cqHeadOffset);
            if (head == (int) INT.getAcquire(cqRing, cqTailOffset)) {
                return n;
            }
            int base = cqesOffset + (head & cqMask) * CQE_SIZE;
            long userData = cqRing.getLong(base);
            int result = cqRing.getInt(base + 8);
            INT.setRelease(cqRing, cqHeadOffset, head + 1);
            n++;
            handler.completed(userData, result);
        }
    }

    /**
     * Takes back the entries the kernel has not taken and calls {@code handler} for each with
     * {@code result}: after an {@code io_uring_enter} error that retrying will not cure.
     */
    public int cancelUnsubmitted(CompletionHandler handler, int result) {
        int head = (int) INT.getAcquire(sqRing, sqHeadOffset);
        int count = sqTail - head;
        long[] userData = new long[count]; // a failure path: the allocation does not matter
        for (int i = 0; i < count; i++) {
            userData[i] = sqes.getLong(((head + i) & sqMask) * SQE_SIZE + 32);
        }
        sqTail = head;
        INT.setRelease(sqRing, sqTailOffset, sqTail);
        for (long data : userData) {
            handler.completed(data, result);
        }
        return count;
    }

    /** Enters the kernel without waiting: completions it still had to post for this thread are in the ring after. */
    public int enterNoWait() {
        long n = LibC.syscall(LibC.SYS_IO_URING_ENTER, ringFd, 0, 0, ENTER_GETEVENTS, 0);
        return n < 0 ? -LibC.errno() : 0;
    }

    /** Blocks until a completion is in the ring: only for draining I/O that is certain to end. */
    public int awaitCompletion() {
        long n = LibC.syscall(LibC.SYS_IO_URING_ENTER, ringFd, 0, 1, ENTER_GETEVENTS, 0);
        return n < 0 ? -LibC.errno() : 0;
    }

    /** Has the kernel signal {@code eventFd} when it posts completions (while not paused). */
    public void registerEventFd(int eventFd) throws IOException {
        long fdHolder = Native.malloc(4);
        try {
            NativeMemory.view(fdHolder, 4).putInt(0, eventFd);
            if (LibC.syscall(LibC.SYS_IO_URING_REGISTER, ringFd, REGISTER_EVENTFD, fdHolder, 1, 0) != 0) {
                throw new IOException("registering the eventfd with io_uring failed: " + LibC.describe(LibC.errno()));
            }
        } finally {
            Native.free(fdHolder);
        }
    }

    /**
     * Registers {@code length} bytes at {@code address} as fixed buffers, pieces of
     * {@link #FIXED_BUFFER_MAX} (index 0 the first): requests on them skip pinning the pages each time.
     * The kernel pins the whole region now.
     */
    public void registerBuffers(long address, long length) throws IOException {
        int pieces = (int) ((length + FIXED_BUFFER_MAX - 1) / FIXED_BUFFER_MAX);
        long iovecs = Native.malloc(16L * pieces);
        try {
            ByteBuffer v = NativeMemory.view(iovecs, 16 * pieces);
            for (int i = 0; i < pieces; i++) {
                v.putLong(16 * i, address + i * FIXED_BUFFER_MAX);
                v.putLong(16 * i + 8, Math.min(FIXED_BUFFER_MAX, length - i * FIXED_BUFFER_MAX));
            }
            if (LibC.syscall(LibC.SYS_IO_URING_REGISTER, ringFd, REGISTER_BUFFERS, iovecs, pieces, 0) != 0) {
                throw new IOException("registering the buffers with io_uring failed: " + LibC.describe(LibC.errno()));
            }
        } finally {
            Native.free(iovecs);
        }
    }

    /** Whether this kernel lets the eventfd be paused (5.8 and later). */
    public boolean canPauseEventFd() {
        return cqFlagsOffset != 0;
    }

    /** Pauses or resumes the eventfd: a busy owner reaps the ring anyway and needs no signal. */
    public void eventFdPaused(boolean paused) {
        if (cqFlagsOffset != 0) {
            INT.setVolatile(cqRing, cqFlagsOffset, paused ? CQ_EVENTFD_DISABLED : 0);
            VarHandle.fullFence(); // the resume must be visible before the caller looks at the tail again
        }
    }

    /** Unmaps the rings and closes the instance; the kernel cancels what is still in flight. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        LibC.munmap(sqesAddress, sqesSize);
        LibC.munmap(sqRingAddress, sqRingSize);
        if (cqRingAddress != 0) {
            LibC.munmap(cqRingAddress, cqRingSize);
        }
        LibC.close(ringFd);
    }
}
