package io.mayastorj.core.internal.bdev;

import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.internal.nativeio.IoUring;
import io.mayastorj.core.internal.reactor.ReactorThread;
import java.io.IOException;

/**
 * A file or block device driven by io_uring ({@code uring:///PATH}, Mayastor's scheme), opened
 * like the aio bdev. A read, write or flush made on a reactor goes into that reactor's
 * {@link UringQueue} and completes on the same thread; one made elsewhere (a pool's metadata
 * thread, a blocking caller, a transport with a thread per connection) goes into the device's
 * {@link UringThreadRing} and completes on its reaper. Flush is fdatasync
 * through the ring. Unmap and write-zeroes, and flush on a file system that refuses the
 * asynchronous one, run on {@link FileBdev}'s helper thread and complete there.
 */
final class UringBdev extends FileBdev {

    private final UringBdevFactory rings;
    private final ReactorThread home;
    private volatile UringThreadRing threadRing;
    private boolean threadRingFailed; // guarded by this

    UringBdev(FileBdev.OpenFile file, UringBdevFactory rings, ReactorThread home) {
        super(file, "uring");
        this.rings = rings;
        this.home = home;
    }

    @Override
    public String productName() {
        return "io_uring disk";
    }

    @Override
    protected <C> void doRead(DmaBuffer buffer, int bufferOffset, long lba, int blocks,
                              IoCompletion<? super C> done, C context) {
        if (inMemory) {
            copyInMemory(IoType.READ, buffer.address() + bufferOffset, (long) blocks * blockSize(), lba * blockSize(), done, context);
            return;
        }
        submit(IoUring.OP_READ, IoType.READ, buffer.address() + bufferOffset, blocks * blockSize(),
                lba * blockSize(), 0, done, context);
    }

    @Override
    protected <C> void doWrite(DmaBuffer buffer, int bufferOffset, long lba, int blocks,
                               IoCompletion<? super C> done, C context) {
        if (inMemory) {
            copyInMemory(IoType.WRITE, buffer.address() + bufferOffset, (long) blocks * blockSize(), lba * blockSize(), done, context);
            return;
        }
        submit(IoUring.OP_WRITE, IoType.WRITE, buffer.address() + bufferOffset, blocks * blockSize(),
                lba * blockSize(), 0, done, context);
    }

    @Override
    protected <C> void doFlush(IoCompletion<? super C> done, C context) {
        if (asyncFlush()) {
            submit(IoUring.OP_FSYNC, IoType.FLUSH, 0, 0, 0, IoUring.FSYNC_DATASYNC, done, context);
        } else {
            syncOnHelper(done, context);
        }
    }

    private <C> void submit(byte opcode, IoType type, long address, int length, long offset, int opFlags,
                            IoCompletion<? super C> done, C context) {
        UringQueue queue = rings.queueOnThisThread();
        if (queue != null) {
            queue.submit(this, opcode, type, address, length, offset, opFlags, done, context);
            return;
        }
        UringThreadRing thread = threadRing();
        if (thread != null) {
            thread.submit(opcode, type, address, length, offset, opFlags, done, context);
        } else { // no ring of its own could be made: the home reactor's serves
            UringQueue homeQueue = rings.queueOf(home);
            home.execute(() -> homeQueue.submit(this, opcode, type, address, length, offset, opFlags, done, context));
        }
    }

    private UringThreadRing threadRing() {
        UringThreadRing ring = threadRing;
        if (ring == null) {
            synchronized (this) {
                ring = threadRing;
                if (ring == null && !threadRingFailed) {
                    try {
                        ring = threadRing = new UringThreadRing(this);
                    } catch (IOException | RuntimeException e) {
                        threadRingFailed = true;
                        System.getLogger("mayastor.bdev").log(System.Logger.Level.WARNING,
                                "bdev {0}: no io_uring for callers off the reactors ({1}); their requests go through "
                                        + "a reactor", name(), e.getMessage());
                    }
                }
            }
        }
        return ring;
    }

    @Override
    protected void awaitProgress() {
        UringQueue queue = rings.queueOnThisThread();
        UringThreadRing ring = threadRing;
        if (queue != null) {
            queue.awaitProgress(); // closed on a reactor: its own ring holds what is in flight
        } else if (ring != null && ring.onReaper()) {
            ring.reapNested(); // closed from a completion of the device's own ring: only this thread reaps it
        } else {
            super.awaitProgress();
        }
    }

    @Override
    protected void doClose() {
        UringThreadRing ring = threadRing;
        if (ring != null) {
            ring.close();
        }
        closeFile();
    }
}
