package io.mayastorj.pool.internal;

import io.mayastorj.core.bdev.BdevStats;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.pool.internal.format.Layout;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;

/**
 * A device that, once {@link #hold() held}, keeps every write to a superblock slot waiting until
 * {@link #release()}: a commit frozen between its metadata pages and its commit record, the window
 * in which a crash leaves the previous commit the valid one. It can also hold the data writes at one
 * block ({@link #holdWritesAt}): a write still on its way to the device.
 */
final class GatedDevice implements BlockDevice {

    private final BlockDevice device;
    private volatile CountDownLatch gate;
    private final CountDownLatch held = new CountDownLatch(1);

    GatedDevice(BlockDevice device) {
        this.device = device;
    }

    void hold() {
        gate = new CountDownLatch(1);
    }

    /** Waits until a superblock write is being held; false after {@code seconds} without one. */
    boolean awaitHeld(long seconds) throws InterruptedException {
        return held.await(seconds, java.util.concurrent.TimeUnit.SECONDS);
    }

    void release() {
        gate.countDown();
    }

    private volatile long heldLba = -1;
    private final CountDownLatch dataGate = new CountDownLatch(1);
    private final CountDownLatch dataHeld = new CountDownLatch(1);

    /** Keeps the writes that start at {@code lba} waiting until {@link #releaseWrites()}. */
    void holdWritesAt(long lba) {
        heldLba = lba;
    }

    boolean awaitWriteHeld(long seconds) throws InterruptedException {
        return dataHeld.await(seconds, java.util.concurrent.TimeUnit.SECONDS);
    }

    /** Keeps every write waiting until {@link #releaseWrites()}: a device that stopped answering. */
    void holdAllWrites() {
        holdAll = true;
    }

    private volatile boolean holdAll;
    /** The byte offset whose next write is torn (noise written, MEDIA_ERROR answered), or -1. */
    volatile long tearAt = -1;

    void releaseWrites() {
        heldLba = -1;
        holdAll = false;
        dataGate.countDown();
    }

    /** While at least 0: the writes after this many more are lost (answered, never written), as at a power cut. */
    final java.util.concurrent.atomic.AtomicInteger writesUntilCut = new java.util.concurrent.atomic.AtomicInteger(-1);
    private volatile boolean powerCut;

    @Override
    public <C> void write(DmaBuffer buffer, int bufferOffset, long lba, int blocks, IoCompletion<? super C> done, C context) {
        if (powerCut || writesUntilCut.get() >= 0 && writesUntilCut.getAndDecrement() == 0) {
            powerCut = true;
            done.ioDone(io.mayastorj.core.bdev.IoStatus.SUCCESS, context);
            return;
        }
        long offset = lba * blockSize();
        if (offset == tearAt) { // a crash in the middle of this write: noise lands, the write fails
            tearAt = -1;
            byte[] noise = new byte[blocks * blockSize()];
            new java.util.Random(7).nextBytes(noise);
            buffer.bytes().put(bufferOffset, noise);
            IoCompletion<C> torn = (status, ctx) -> done.ioDone(io.mayastorj.core.bdev.IoStatus.MEDIA_ERROR, ctx);
            device.write(buffer, bufferOffset, lba, blocks, torn, context);
            return;
        }
        if (lba == heldLba || holdAll) {
            dataHeld.countDown();
            Thread.ofPlatform().daemon().start(() -> {
                try {
                    dataGate.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                device.write(buffer, bufferOffset, lba, blocks, done, context);
            });
            return;
        }
        CountDownLatch g = gate;
        if (g != null && (offset == Layout.superblockOffset(0) || offset == Layout.superblockOffset(1))) {
            held.countDown();
            Thread.ofPlatform().daemon().start(() -> {
                try {
                    g.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                device.write(buffer, bufferOffset, lba, blocks, done, context);
            });
            return;
        }
        device.write(buffer, bufferOffset, lba, blocks, done, context);
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
    public <C> void writeZeroes(long lba, long blocks, IoCompletion<? super C> done, C context) {
        if (powerCut || writesUntilCut.get() >= 0 && writesUntilCut.getAndDecrement() == 0) {
            powerCut = true;
            done.ioDone(io.mayastorj.core.bdev.IoStatus.SUCCESS, context);
            return;
        }
        largestZeroes.accumulateAndGet(blocks, Math::max);
        CountDownLatch zg = zeroesGate;
        if (zg != null) {
            zeroesHeld.countDown();
            Thread.ofPlatform().daemon().start(() -> {
                try {
                    zg.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                device.writeZeroes(lba, blocks, done, context);
            });
            return;
        }
        io.mayastorj.core.bdev.IoStatus fail = failZeroes;
        if (fail != null) {
            done.ioDone(fail, context);
            return;
        }
        device.writeZeroes(lba, blocks, done, context);
    }

    private volatile CountDownLatch zeroesGate;
    private final CountDownLatch zeroesHeld = new CountDownLatch(1);

    /** Keeps every write-zeroes waiting until {@link #releaseZeroes()}: a slow zeroing. */
    void holdZeroes() {
        zeroesGate = new CountDownLatch(1);
    }

    boolean awaitZeroesHeld(long seconds) throws InterruptedException {
        return zeroesHeld.await(seconds, java.util.concurrent.TimeUnit.SECONDS);
    }

    void releaseZeroes() {
        CountDownLatch g = zeroesGate;
        zeroesGate = null;
        if (g != null) {
            g.countDown();
        }
    }

    /** The most blocks one write-zeroes request asked for. */
    final java.util.concurrent.atomic.AtomicLong largestZeroes = new java.util.concurrent.atomic.AtomicLong();

    /** While set, write-zeroes requests fail with this status (a device error under a destroy's zeroing). */
    volatile io.mayastorj.core.bdev.IoStatus failZeroes;

    @Override
    public BdevStats stats() {
        return device.stats();
    }

    @Override
    public void close() {
        device.close();
    }
}
