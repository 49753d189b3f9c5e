package io.mayastorj.core.buffer;

import java.nio.ByteBuffer;
import java.util.Objects;

/**
 * A native I/O buffer: fixed address, fixed capacity, page-aligned when it comes from the pool.
 * One owner at a time, from {@link BufferPool#allocate} to {@link #release()}.
 *
 * <p>{@link #bytes()} is the one view of the memory for the buffer's whole life. Devices use only
 * absolute access on it; the owner may move its position and limit (for socket I/O) while no
 * device is working on the buffer.
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
    private boolean owned;

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

    /** Gives the buffer back. Releasing twice is a bug and throws. */
    public void release() {
        if (!owned) {
            throw new IllegalStateException("buffer at 0x" + Long.toHexString(address) + " released twice");
        }
        owned = false;
        if (recycler != null) {
            recycler.recycle(this);
        }
    }

    @Override
    public String toString() {
        return "DmaBuffer[0x" + Long.toHexString(address) + ", " + capacity() + " B]";
    }
}
