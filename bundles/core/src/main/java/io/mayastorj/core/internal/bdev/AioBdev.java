package io.mayastorj.core.internal.bdev;

import com.sun.jna.Native;
import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.internal.nativeio.Errno;
import io.mayastorj.core.internal.nativeio.LibC;
import io.mayastorj.core.internal.nativeio.NativeMemory;
import io.mayastorj.core.concurrent.FreeList;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;

/**
 * A file or block device driven by Linux native AIO (io_submit / io_getevents), opened with
 * O_DIRECT where the file system allows. Reads, writes and flushes are submitted from the caller's
 * thread into preallocated control blocks and complete on the device's reaper thread, which sleeps
 * in io_getevents while nothing is in flight. Unmap and write-zeroes run on {@link FileBdev}'s
 * helper thread.
 */
final class AioBdev extends FileBdev {

    private static final Logger LOG = System.getLogger("mayastor.bdev");

    static final int QUEUE_DEPTH = 256;
    private static final int MAX_EVENTS = 64;
    private static final long REAP_TIMEOUT_NANOS = TimeUnit.MILLISECONDS.toNanos(250);

    // struct iocb (linux/aio_abi.h), little-endian layout
    private static final int IOCB_SIZE = 64;
    private static final int IOCB_DATA = 0;
    private static final int IOCB_KEY = 8;
    private static final int IOCB_RW_FLAGS = 12;
    private static final int IOCB_OPCODE = 16;
    private static final int IOCB_REQPRIO = 18;
    private static final int IOCB_FILDES = 20;
    private static final int IOCB_BUF = 24;
    private static final int IOCB_NBYTES = 32;
    private static final int IOCB_OFFSET = 40;
    private static final int IOCB_RESERVED2 = 48;
    private static final int IOCB_FLAGS = 56;
    private static final int IOCB_RESFD = 60;
    private static final short IOCB_CMD_PREAD = 0;
    private static final short IOCB_CMD_PWRITE = 1;
    private static final short IOCB_CMD_FDSYNC = 3;

    // struct io_event
    private static final int EVENT_SIZE = 32;
    private static final int EVENT_DATA = 0;
    private static final int EVENT_RES = 16;


    static {
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new ExceptionInInitializerError("the aio bdev supports little-endian machines only");
        }
    }

    private static final class Slot {
        final int index;
        IoType type;
        long bytes;
        IoCompletion<Object> done;
        Object context;

        Slot(int index) {
            this.index = index;
        }
    }

    /** A request that found every slot busy; allocated only then. */
    private record Deferred(short opcode, IoType type, long address, long bytes, long offset,
                            IoCompletion<Object> done, Object context) {
    }


    private final long nativeBlock;
    private final long context;
    private final long contextId;
    private final long iocbPointers;
    private final long eventsAddress;
    private final long timeoutAddress;
    private final ByteBuffer iocbs;
    private final ByteBuffer events;
    private final Slot[] slots = new Slot[QUEUE_DEPTH];
    private final FreeList<Slot> freeSlots = new FreeList<>(QUEUE_DEPTH);
    private final ConcurrentLinkedQueue<Deferred> deferred = new ConcurrentLinkedQueue<>();
    private final Thread reaper;
    private volatile boolean running = true;
    private volatile boolean aioFlush = true;

    AioBdev(OpenFile file) throws IOException {
        super(file, "aio");
        long iocbBytes = (long) QUEUE_DEPTH * IOCB_SIZE;
        long pointerBytes = (long) QUEUE_DEPTH * 8;
        long eventBytes = (long) MAX_EVENTS * EVENT_SIZE;
        nativeBlock = Native.malloc(iocbBytes + pointerBytes + eventBytes + 16 + 8);
        if (nativeBlock == 0) {
            throw new IOException("out of native memory for the AIO control blocks");
        }
        long iocbAddress = nativeBlock;
        iocbPointers = iocbAddress + iocbBytes;
        eventsAddress = iocbPointers + pointerBytes;
        timeoutAddress = eventsAddress + eventBytes;
        context = timeoutAddress + 16;
        iocbs = NativeMemory.view(iocbAddress, (int) iocbBytes);
        events = NativeMemory.view(eventsAddress, (int) eventBytes);
        ByteBuffer pointers = NativeMemory.view(iocbPointers, (int) pointerBytes);
        for (int i = 0; i < QUEUE_DEPTH; i++) {
            pointers.putLong(i * 8, iocbAddress + (long) i * IOCB_SIZE);
            slots[i] = freeSlots.add(Slot::new);
        }
        ByteBuffer misc = NativeMemory.view(timeoutAddress, 24);
        misc.putLong(0, 0); // tv_sec
        misc.putLong(8, REAP_TIMEOUT_NANOS); // tv_nsec
        misc.putLong(16, 0); // aio_context_t must start at zero
        if (LibC.syscall(LibC.SYS_IO_SETUP, QUEUE_DEPTH, context, 0, 0, 0) != 0) {
            int errno = LibC.errno();
            Native.free(nativeBlock);
            throw new IOException("io_setup failed: " + LibC.describe(errno)
                    + (errno == Errno.EAGAIN ? " (raise /proc/sys/fs/aio-max-nr)" : ""));
        }
        contextId = misc.getLong(16);
        reaper = new Thread(this::reap, "aio-reaper " + file.name());
        reaper.setDaemon(true);
        reaper.start();
    }

    @Override
    public String productName() {
        return "AIO disk";
    }

    @Override
    protected <C> void doRead(DmaBuffer buffer, int bufferOffset, long lba, int blocks,
                              IoCompletion<? super C> done, C context) {
        if (inMemory) {
            copyInMemory(IoType.READ, buffer.address() + bufferOffset, (long) blocks * blockSize(), lba * blockSize(), done, context);
            return;
        }
        submit(IOCB_CMD_PREAD, IoType.READ, buffer.address() + bufferOffset, (long) blocks * blockSize(),
                lba * blockSize(), done, context);
    }

    @Override
    protected <C> void doWrite(DmaBuffer buffer, int bufferOffset, long lba, int blocks,
                               IoCompletion<? super C> done, C context) {
        if (inMemory) {
            copyInMemory(IoType.WRITE, buffer.address() + bufferOffset, (long) blocks * blockSize(), lba * blockSize(), done, context);
            return;
        }
        submit(IOCB_CMD_PWRITE, IoType.WRITE, buffer.address() + bufferOffset, (long) blocks * blockSize(),
                lba * blockSize(), done, context);
    }

    @Override
    protected <C> void doFlush(IoCompletion<? super C> done, C context) {
        if (aioFlush) {
            submit(IOCB_CMD_FDSYNC, IoType.FLUSH, 0, 0, 0, done, context);
        } else {
            syncOnHelper(done, context);
        }
    }

    @SuppressWarnings("unchecked")
    private <C> void submit(short opcode, IoType type, long address, long bytes, long offset,
                            IoCompletion<? super C> done, C context) {
        Slot slot = freeSlots.pop();
        if (slot == null) {
            defer(new Deferred(opcode, type, address, bytes, offset, (IoCompletion<Object>) done, context));
            return;
        }
        slot.type = type;
        slot.bytes = bytes;
        slot.done = (IoCompletion<Object>) done;
        slot.context = context;
        int base = slot.index * IOCB_SIZE;
        iocbs.putLong(base + IOCB_DATA, slot.index);
        iocbs.putInt(base + IOCB_KEY, 0);
        iocbs.putInt(base + IOCB_RW_FLAGS, 0);
        iocbs.putShort(base + IOCB_OPCODE, opcode);
        iocbs.putShort(base + IOCB_REQPRIO, (short) 0);
        iocbs.putInt(base + IOCB_FILDES, fd);
        iocbs.putLong(base + IOCB_BUF, address);
        iocbs.putLong(base + IOCB_NBYTES, bytes);
        iocbs.putLong(base + IOCB_OFFSET, offset);
        iocbs.putLong(base + IOCB_RESERVED2, 0);
        iocbs.putInt(base + IOCB_FLAGS, 0);
        iocbs.putInt(base + IOCB_RESFD, 0);
        long submitted = LibC.syscall(LibC.SYS_IO_SUBMIT, contextId, 1, iocbPointers + slot.index * 8L, 0, 0);
        if (submitted == 1) {
            return;
        }
        int errno = LibC.errno();
        releaseSlot(slot);
        if (errno == Errno.EAGAIN) {
            defer(new Deferred(opcode, type, address, bytes, offset, (IoCompletion<Object>) done, context));
        } else if (opcode == IOCB_CMD_FDSYNC && errno == Errno.EINVAL) {
            aioFlush = false; // this kernel or file system has no asynchronous fdatasync
            syncOnHelper(done, context);
        } else {
            complete(type, bytes, statusOf(errno), done, context);
        }
    }

    private void releaseSlot(Slot slot) {
        slot.done = null;
        slot.context = null;
        freeSlots.push(slot.index);
    }

    private void defer(Deferred request) {
        deferred.add(request);
        if (!freeSlots.isEmpty()) {
            submitDeferred(); // a slot freed meanwhile: the reaper may not come back to this one
        }
    }

    private void submitDeferred() {
        for (int n = deferred.size(); n > 0; n--) {
            Deferred d = deferred.poll();
            if (d == null) {
                return;
            }
            submit(d.opcode(), d.type(), d.address(), d.bytes(), d.offset(), d.done(), d.context());
        }
    }

    private void reap() {
        while (running) {
            long n = LibC.syscall(LibC.SYS_IO_GETEVENTS, contextId, 1, MAX_EVENTS, eventsAddress, timeoutAddress);
            if (n < 0) {
                int errno = LibC.errno();
                if (errno != Errno.EINTR) {
                    LOG.log(Level.ERROR, "bdev {0}: io_getevents failed: {1}", name(), LibC.describe(errno));
                    sleepQuietly();
                }
                continue;
            }
            for (int i = 0; i < n; i++) {
                int base = i * EVENT_SIZE;
                Slot slot = slots[(int) events.getLong(base + EVENT_DATA)];
                long result = events.getLong(base + EVENT_RES);
                IoType type = slot.type;
                long bytes = slot.bytes;
                IoCompletion<Object> done = slot.done;
                Object ctx = slot.context;
                releaseSlot(slot);
                IoStatus status = statusOf(type, bytes, result);
                try {
                    complete(type, bytes, status, done, ctx);
                } catch (Throwable t) {
                    LOG.log(Level.ERROR, "bdev " + name() + ": an I/O completion failed", t);
                }
            }
            if (!deferred.isEmpty()) {
                submitDeferred();
            }
        }
    }

    private static void sleepQuietly() {
        try {
            Thread.sleep(10);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    protected void doClose() {
        running = false; // nothing is in flight: the reaper leaves when it next wakes
        // A read of zero bytes completes at once and wakes the reaper now, not at its next timeout
        // (a quarter second per close otherwise).
        submit(IOCB_CMD_PREAD, IoType.READ, nativeBlock, 0, 0, (status, ignored) -> { }, null);
        try {
            reaper.join(TimeUnit.NANOSECONDS.toMillis(REAP_TIMEOUT_NANOS) * 4);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        LibC.syscall(LibC.SYS_IO_DESTROY, contextId, 0, 0, 0, 0);
        closeFile();
        Native.free(nativeBlock);
    }
}
