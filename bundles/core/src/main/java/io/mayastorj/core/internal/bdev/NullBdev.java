package io.mayastorj.core.internal.bdev;

import io.mayastorj.core.bdev.BlockDeviceBase;
import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.internal.nativeio.LibC;
import java.util.UUID;

/**
 * A device that stores nothing: writes vanish and reads return zeros. For measuring the layers
 * above a device, never for data. SPDK's null bdev leaves a read's buffer as it was; here that
 * buffer comes from the shared pool and holds whatever another volume's I/O left in it, so it is
 * cleared (a memset of the read's length, small next to the path it measures).
 */
final class NullBdev extends BlockDeviceBase {

    NullBdev(String name, UUID uuid, int blockSize, long blockCount) {
        super(name, uuid, blockSize, blockCount);
    }

    @Override
    public String productName() {
        return "Null disk";
    }

    @Override
    public boolean supports(IoType type) {
        return true;
    }

    @Override
    protected <C> void doRead(DmaBuffer buffer, int bufferOffset, long lba, int blocks,
                              IoCompletion<? super C> done, C context) {
        LibC.memset(buffer.address() + bufferOffset, 0, (long) blocks * blockSize());
        complete(IoType.READ, (long) blocks * blockSize(), IoStatus.SUCCESS, done, context);
    }

    @Override
    protected <C> void doWrite(DmaBuffer buffer, int bufferOffset, long lba, int blocks,
                               IoCompletion<? super C> done, C context) {
        complete(IoType.WRITE, (long) blocks * blockSize(), IoStatus.SUCCESS, done, context);
    }

    @Override
    protected <C> void doFlush(IoCompletion<? super C> done, C context) {
        complete(IoType.FLUSH, 0, IoStatus.SUCCESS, done, context);
    }

    @Override
    protected <C> void doUnmap(long lba, long blocks, IoCompletion<? super C> done, C context) {
        complete(IoType.UNMAP, blocks * blockSize(), IoStatus.SUCCESS, done, context);
    }

    @Override
    protected <C> void doWriteZeroes(long lba, long blocks, IoCompletion<? super C> done, C context) {
        complete(IoType.WRITE_ZEROES, blocks * blockSize(), IoStatus.SUCCESS, done, context);
    }

    @Override
    protected void doClose() {
        // holds nothing
    }
}
