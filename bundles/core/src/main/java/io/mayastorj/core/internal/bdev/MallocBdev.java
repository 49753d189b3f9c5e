package io.mayastorj.core.internal.bdev;

import io.mayastorj.core.bdev.BlockDeviceBase;
import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.internal.nativeio.LibC;
import io.mayastorj.core.internal.nativeio.NativeMemory;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.UUID;

/**
 * A RAM disk on anonymous memory, committed as it is written; unmap hands whole pages back to the
 * kernel. Every I/O completes inline, on the submitting thread.
 */
final class MallocBdev extends BlockDeviceBase {

    /** Memory is viewed through 1 GiB direct buffers (a buffer holds at most 2 GiB). */
    private static final int SEGMENT_SHIFT = 30;
    private static final int SEGMENT_SIZE = 1 << SEGMENT_SHIFT;
    private static final long PAGE = 4096;

    private final long address;
    private final long length;
    private final ByteBuffer[] segments;

    MallocBdev(String name, UUID uuid, int blockSize, long blockCount) throws IOException {
        super(name, uuid, blockSize, blockCount);
        this.length = blockCount * blockSize;
        this.address = NativeMemory.mapAnonymous(length);
        int count = (int) ((length + SEGMENT_SIZE - 1) >>> SEGMENT_SHIFT);
        segments = new ByteBuffer[count];
        for (int i = 0; i < count; i++) {
            long offset = (long) i << SEGMENT_SHIFT;
            segments[i] = NativeMemory.view(address + offset, (int) Math.min(SEGMENT_SIZE, length - offset));
        }
    }

    @Override
    public String productName() {
        return "Malloc disk";
    }

    @Override
    public boolean supports(IoType type) {
        return true;
    }

    @Override
    protected <C> void doRead(DmaBuffer buffer, int bufferOffset, long lba, int blocks,
                              IoCompletion<? super C> done, C context) {
        int bytes = copy(buffer, bufferOffset, lba, blocks, false);
        complete(IoType.READ, bytes, IoStatus.SUCCESS, done, context);
    }

    @Override
    protected <C> void doWrite(DmaBuffer buffer, int bufferOffset, long lba, int blocks,
                               IoCompletion<? super C> done, C context) {
        int bytes = copy(buffer, bufferOffset, lba, blocks, true);
        complete(IoType.WRITE, bytes, IoStatus.SUCCESS, done, context);
    }

    /** Copies between the buffer and the device, segment by segment; returns the bytes copied. */
    private int copy(DmaBuffer buffer, int bufferOffset, long lba, int blocks, boolean toDevice) {
        int bytes = blocks * blockSize();
        long position = lba * blockSize();
        ByteBuffer data = buffer.bytes();
        int copied = 0;
        while (copied < bytes) {
            ByteBuffer segment = segments[(int) (position >>> SEGMENT_SHIFT)];
            int inSegment = (int) (position & (SEGMENT_SIZE - 1));
            int n = Math.min(bytes - copied, SEGMENT_SIZE - inSegment);
            if (toDevice) {
                segment.put(inSegment, data, bufferOffset + copied, n);
            } else {
                data.put(bufferOffset + copied, segment, inSegment, n);
            }
            copied += n;
            position += n;
        }
        return bytes;
    }

    @Override
    protected <C> void doFlush(IoCompletion<? super C> done, C context) {
        complete(IoType.FLUSH, 0, IoStatus.SUCCESS, done, context);
    }

    @Override
    protected <C> void doUnmap(long lba, long blocks, IoCompletion<? super C> done, C context) {
        zero(lba, blocks);
        complete(IoType.UNMAP, blocks * blockSize(), IoStatus.SUCCESS, done, context);
    }

    @Override
    protected <C> void doWriteZeroes(long lba, long blocks, IoCompletion<? super C> done, C context) {
        zero(lba, blocks);
        complete(IoType.WRITE_ZEROES, blocks * blockSize(), IoStatus.SUCCESS, done, context);
    }

    /** Whole pages go back to the kernel (they read as zeros again); the ragged ends are cleared. */
    private void zero(long lba, long blocks) {
        long start = address + lba * blockSize();
        long end = start + blocks * blockSize();
        long firstPage = (start + PAGE - 1) & -PAGE;
        long lastPage = end & -PAGE;
        if (lastPage > firstPage) {
            LibC.memset(start, 0, firstPage - start);
            if (LibC.madvise(firstPage, lastPage - firstPage, LibC.MADV_DONTNEED) != 0) {
                LibC.memset(firstPage, 0, lastPage - firstPage);
            }
            LibC.memset(lastPage, 0, end - lastPage);
        } else {
            LibC.memset(start, 0, end - start);
        }
    }

    @Override
    protected void doClose() {
        NativeMemory.unmap(address, length);
    }
}
