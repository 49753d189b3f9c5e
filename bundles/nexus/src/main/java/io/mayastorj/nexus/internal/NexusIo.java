package io.mayastorj.nexus.internal;

import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.buffer.DmaBuffer;
import java.util.concurrent.atomic.AtomicIntegerFieldUpdater;

/**
 * One application I/O on a nexus and its fan-out to the children: the completion every child
 * calls back (with itself as the context), how many are still out, which failed and how. Pooled
 * per nexus, so the I/O path allocates nothing.
 */
final class NexusIo implements IoCompletion<Child> {

    private static final AtomicIntegerFieldUpdater<NexusIo> PENDING =
            AtomicIntegerFieldUpdater.newUpdater(NexusIo.class, "pending");
    private static final AtomicIntegerFieldUpdater<NexusIo> FAILED =
            AtomicIntegerFieldUpdater.newUpdater(NexusIo.class, "failed");

    final Nexus nexus;
    /** Its index in the nexus's pool, or -1 for one made when the pool was empty. */
    final int index;

    IoType type;
    DmaBuffer buffer;
    int offset;
    long lba;
    long blocks;
    IoCompletion<Object> done;
    Object context;

    /** The children it went to. */
    Topology topology;
    volatile int pending;
    /** Children whose part failed, one bit per slot, and each one's status. */
    volatile int failed;
    final IoStatus[] statuses = new IoStatus[Child.MAX];
    /** Reads: the children tried so far. */
    int tried;
    /** The rebuild's range locks this write is tracked by, while it is. */
    RangeLocks locks;
    /** A fault this I/O caused must be on record before the I/O completes: that health generation. */
    long mustPersist;
    IoStatus result;

    NexusIo(Nexus nexus, int index) {
        this.nexus = nexus;
        this.index = index;
    }

    @SuppressWarnings("unchecked")
    void set(IoType type, DmaBuffer buffer, int offset, long lba, long blocks, IoCompletion<?> done, Object context) {
        this.type = type;
        this.buffer = buffer;
        this.offset = offset;
        this.lba = lba;
        this.blocks = blocks;
        this.done = (IoCompletion<Object>) done;
        this.context = context;
        this.failed = 0;
        this.tried = 0;
        this.locks = null;
        this.mustPersist = 0;
        this.result = IoStatus.SUCCESS;
    }

    void expect(int children) {
        PENDING.set(this, children);
    }

    /** Records one child's failure; any thread. */
    void failedOn(Child child, IoStatus status) {
        statuses[child.slot] = status;
        int old;
        do {
            old = failed;
        } while (!FAILED.compareAndSet(this, old, old | child.bit()));
    }

    /** True for the last child to answer. */
    boolean answered() {
        return PENDING.decrementAndGet(this) == 0;
    }

    void clear() {
        buffer = null;
        done = null;
        context = null;
        topology = null;
    }

    @Override
    public void ioDone(IoStatus status, Child child) {
        nexus.childDone(this, child, status);
    }
}
