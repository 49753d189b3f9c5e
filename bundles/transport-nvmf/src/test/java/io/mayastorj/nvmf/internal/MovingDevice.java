package io.mayastorj.nvmf.internal;

import io.mayastorj.core.bdev.AccessState;
import io.mayastorj.core.bdev.BlockDeviceBase;
import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.buffer.DmaBuffer;
import java.util.UUID;

/** A device whose path state the test sets, as a nexus's changes when its volume moves to another node. */
final class MovingDevice extends BlockDeviceBase {

    volatile AccessState state = AccessState.OPTIMIZED;
    /** What it says it is: "Nexus" for one the target offers as a nexus frontend. */
    volatile String product = "Moving disk";
    final java.util.concurrent.atomic.AtomicInteger flushes = new java.util.concurrent.atomic.AtomicInteger();
    /** While set, flushes (and writes) wait in {@link #held} until the test runs them. */
    volatile boolean holdFlushes;
    volatile boolean holdWrites;
    final java.util.List<Runnable> held = new java.util.concurrent.CopyOnWriteArrayList<>();

    MovingDevice(String name) {
        super(name, UUID.randomUUID(), 512, 2048);
    }

    /** The volume grew behind the target, as a nexus does when its replicas were resized. */
    void growTo(long blocks) {
        grow(blocks);
    }

    @Override
    public AccessState accessState() {
        return state;
    }

    @Override
    public String productName() {
        return product;
    }

    @Override
    public int bufferAlignment() {
        return 1;
    }

    @Override
    public boolean supports(IoType type) {
        return type == IoType.READ || type == IoType.WRITE || type == IoType.FLUSH;
    }

    @Override
    protected <C> void doRead(DmaBuffer buffer, int bufferOffset, long lba, int blocks, IoCompletion<? super C> done, C context) {
        complete(IoType.READ, (long) blocks * 512, IoStatus.SUCCESS, done, context);
    }

    @Override
    protected <C> void doWrite(DmaBuffer buffer, int bufferOffset, long lba, int blocks, IoCompletion<? super C> done, C context) {
        Runnable written = () -> complete(IoType.WRITE, (long) blocks * 512, IoStatus.SUCCESS, done, context);
        if (holdWrites) {
            held.add(written);
        } else {
            written.run();
        }
    }

    @Override
    protected <C> void doFlush(IoCompletion<? super C> done, C context) {
        flushes.incrementAndGet();
        Runnable flushed = () -> complete(IoType.FLUSH, 0, IoStatus.SUCCESS, done, context);
        if (holdFlushes) {
            held.add(flushed);
        } else {
            flushed.run();
        }
    }

    @Override
    protected void doClose() {
    }
}
