package io.mayastorj.iscsi.internal.target;

import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.BlockDeviceBase;
import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.buffer.DmaBuffer;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A RAM disk a test steers: while {@link #hold} is set its writes wait until the test runs them
 * ({@link #held}); while {@link #failure} is set every I/O fails with it.
 */
final class ControlledDisk extends BlockDeviceBase {

    private final BlockDevice ram;
    volatile boolean hold;
    volatile IoStatus failure;
    /** A device without a volatile cache, which has no flush (a plugin's, say). */
    volatile boolean noFlush;
    final List<Runnable> held = new CopyOnWriteArrayList<>();

    ControlledDisk(BlockDevice ram) {
        super("controlled", UUID.randomUUID(), ram.blockSize(), ram.blockCount());
        this.ram = ram;
    }

    /** The volume grew behind the target, as a nexus does when its replicas were resized. */
    void growTo(long blocks) {
        grow(blocks);
    }

    /** Lets the held writes go (each once) and holds no more. */
    void release() {
        hold = false;
        for (Runnable write : List.copyOf(held)) {
            held.remove(write);
            write.run();
        }
    }

    @Override
    public String productName() {
        return "Controlled disk";
    }

    @Override
    public int bufferAlignment() {
        return 1;
    }

    @Override
    public boolean supports(IoType type) {
        return type == IoType.READ || type == IoType.WRITE || type == IoType.FLUSH && !noFlush;
    }

    @Override
    protected <C> void doRead(DmaBuffer buffer, int bufferOffset, long lba, int blocks, IoCompletion<? super C> done,
                              C context) {
        IoStatus f = failure;
        if (f != null) {
            complete(IoType.READ, 0, f, done, context);
            return;
        }
        ram.read(buffer, bufferOffset, lba, blocks, (s, c) -> complete(IoType.READ, (long) blocks * blockSize(), s, done,
                context), null);
    }

    @Override
    protected <C> void doWrite(DmaBuffer buffer, int bufferOffset, long lba, int blocks, IoCompletion<? super C> done,
                               C context) {
        IoStatus f = failure;
        if (f != null) {
            complete(IoType.WRITE, 0, f, done, context);
            return;
        }
        Runnable write = () -> ram.write(buffer, bufferOffset, lba, blocks, (s, c) -> complete(IoType.WRITE,
                (long) blocks * blockSize(), s, done, context), null);
        if (hold) {
            held.add(write);
        } else {
            write.run();
        }
    }

    @Override
    protected <C> void doFlush(IoCompletion<? super C> done, C context) {
        IoStatus f = failure;
        complete(IoType.FLUSH, 0, f != null ? f : IoStatus.SUCCESS, done, context);
    }

    @Override
    protected void doClose() {
        ram.close();
    }
}
