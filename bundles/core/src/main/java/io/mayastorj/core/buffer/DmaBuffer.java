package io.mayastorj.core.buffer;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.util.Objects;

/**
 * A native I/O buffer: fixed address, fixed capacity, page-aligned when it comes from the pool.
 * One owner at a time, from {@link BufferPool#allocate} to {@link #release()}.
 *
 * <p>{@link #bytes()} is the one view of the memory for the buffer's whole life. Devices use only
 * absolute access on it; the owner may move its position and limit (for socket I/O) while no
 * device is working on the buffer.
 *
 * <p>An I/O its submitter stopped waiting for (a timeout) still owns the buffer until it completes:
 * {@link #pin()} marks that, and a {@link #release()} meanwhile returns the buffer to its pool only
 * when {@link #unpin()} says the device is done with it. So an owner releases exactly once on every
 * path, and a late read never lands in memory somebody else has been given.
 */
public final class DmaBuffer {

    /** Where a released buffer goes. */
    @FunctionalInterface
    public interface Recycler {
        void recycle(DmaBuffer buffer);
    }

    private final long address;
    private final ByteBuffer bytes;
    private final Recycler recycler;
    private final int sizeClass;
    private final int index;
    /** Taken from the pool; given back exactly once (a CAS: two racing releases must not both recycle it). */
    private volatile boolean owned;
    /** 0, or {@link #PINNED} with {@link #RELEASE_DEFERRED} when the owner released it while pinned. */
    private volatile int late;

    private static final int PINNED = 1;
    private static final int RELEASE_DEFERRED = 2;
    private static final VarHandle LATE;
    private static final VarHandle OWNED;

    static {
        try {
            LATE = MethodHandles.lookup().findVarHandle(DmaBuffer.class, "late", int.class);
            OWNED = MethodHandles.lookup().findVarHandle(DmaBuffer.class, "owned", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /**
     * @param address   the native address of the first byte of {@code bytes}
     * @param bytes     a direct buffer over exactly that memory
     * @param recycler  takes the buffer back on release; null for a buffer nobody pools
     * @param sizeClass the pool's size class, for the pool's use
     * @param index     the buffer's number within its size class, for the pool's use
     */
    public DmaBuffer(long address, ByteBuffer bytes, Recycler recycler, int sizeClass, int index) {
        if (!Objects.requireNonNull(bytes, "bytes").isDirect()) {
            throw new IllegalArgumentException("a DMA buffer needs a direct ByteBuffer");
        }
        this.address = address;
        this.bytes = bytes;
        this.recycler = recycler;
        this.sizeClass = sizeClass;
        this.index = index;
    }

    public long address() {
        return address;
    }

    public int capacity() {
        return bytes.capacity();
    }

    public ByteBuffer bytes() {
        return bytes;
    }

    public int sizeClass() {
        return sizeClass;
    }

    public int index() {
        return index;
    }

    /** Marks the buffer taken; the pool calls this as it hands the buffer out. */
    public void acquire() {
        if (owned) {
            throw new IllegalStateException("buffer at 0x" + Long.toHexString(address) + " is already in use");
        }
        owned = true;
        bytes.clear();
    }

    /**
     * Gives the buffer back. Releasing twice is a bug and throws. While {@link #pin() pinned} the
     * buffer goes back to its pool when it is unpinned instead.
     */
    public void release() {
        if (!owned) {
            throw new IllegalStateException("buffer at 0x" + Long.toHexString(address) + " released twice");
        }
        int state = late;
        if (state == PINNED && LATE.compareAndSet(this, PINNED, PINNED | RELEASE_DEFERRED)) {
            return; // unpin() recycles it
        }
        if (state == (PINNED | RELEASE_DEFERRED)) {
            throw new IllegalStateException("buffer at 0x" + Long.toHexString(address) + " released twice");
        }
        recycle();
    }

    private void recycle() {
        if (!OWNED.compareAndSet(this, true, false)) {
            // pushed twice, the pool's free list would hand this one buffer to every later caller
            throw new IllegalStateException("buffer at 0x" + Long.toHexString(address) + " released twice");
        }
        if (recycler != null) {
            recycler.recycle(this);
        }
    }

    /**
     * Marks the buffer as still used by an I/O whose submitter no longer waits for it; called by
     * the owner's thread before it can release the buffer. {@link io.mayastorj.core.bdev.BlockingIo}
     * does this when it returns {@code TIMED_OUT}.
     */
    public void pin() {
        late = PINNED;
    }

    /** The late I/O completed: a release that came meanwhile happens now. */
    public void unpin() {
        if (!LATE.compareAndSet(this, PINNED, 0) && LATE.compareAndSet(this, PINNED | RELEASE_DEFERRED, 0)) {
            recycle();
        }
    }

    @Override
    public String toString() {
        return "DmaBuffer[0x" + Long.toHexString(address) + ", " + capacity() + " B]";
    }
}
