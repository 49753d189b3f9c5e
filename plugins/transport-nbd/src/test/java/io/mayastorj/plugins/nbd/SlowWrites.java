package io.mayastorj.plugins.nbd;

import io.mayastorj.core.bdev.BdevStats;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.buffer.DmaBuffer;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/** A device whose writes and write-zeroes complete {@code millis} after they are written: a slow disk. */
final class SlowWrites implements BlockDevice {

    private final BlockDevice device;
    private final long millis;
    private final ScheduledExecutorService later = Executors.newSingleThreadScheduledExecutor();
    /** Writes and write-zeroes submitted so far. */
    final AtomicInteger writes = new AtomicInteger();

    SlowWrites(BlockDevice device, long millis) {
        this.device = device;
        this.millis = millis;
    }

    private <C> IoCompletion<C> late(IoCompletion<? super C> done) {
        writes.incrementAndGet();
        return (IoStatus status, C context) -> later.schedule(() -> done.ioDone(status, context), millis, TimeUnit.MILLISECONDS);
    }

    @Override
    public <C> void write(DmaBuffer buffer, int bufferOffset, long lba, int blocks, IoCompletion<? super C> done, C context) {
        device.write(buffer, bufferOffset, lba, blocks, late(done), context);
    }

    @Override
    public <C> void writeZeroes(long lba, long blocks, IoCompletion<? super C> done, C context) {
        device.writeZeroes(lba, blocks, late(done), context);
    }

    @Override
    public String name() {
        return device.name();
    }

    @Override
    public UUID uuid() {
        return device.uuid();
    }

    @Override
    public String productName() {
        return device.productName();
    }

    @Override
    public int blockSize() {
        return device.blockSize();
    }

    @Override
    public long blockCount() {
        return device.blockCount();
    }

    @Override
    public int bufferAlignment() {
        return device.bufferAlignment();
    }

    @Override
    public boolean supports(IoType type) {
        return device.supports(type);
    }

    @Override
    public <C> void read(DmaBuffer buffer, int bufferOffset, long lba, int blocks, IoCompletion<? super C> done, C context) {
        device.read(buffer, bufferOffset, lba, blocks, done, context);
    }

    @Override
    public <C> void flush(IoCompletion<? super C> done, C context) {
        device.flush(done, context);
    }

    @Override
    public <C> void unmap(long lba, long blocks, IoCompletion<? super C> done, C context) {
        device.unmap(lba, blocks, done, context);
    }

    @Override
    public BdevStats stats() {
        return device.stats();
    }

    @Override
    public void close() {
        later.shutdown();
        device.close();
    }
}
