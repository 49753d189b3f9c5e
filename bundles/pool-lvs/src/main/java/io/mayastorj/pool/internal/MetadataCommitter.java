package io.mayastorj.pool.internal;

import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.pool.internal.format.ClusterMapPage;
import io.mayastorj.pool.internal.format.Layout;
import io.mayastorj.pool.internal.format.ReplicaRecord;
import io.mayastorj.pool.internal.format.Superblock;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The durability contract: commits what changed in the metadata by FORMAT.md's commit protocol, and
 * completes replica flushes only once what they cover is on the device.
 *
 * <p>{@link #flush} is the I/O path's entry: a device flush when nothing is pending, else the flush
 * waits for a group commit on the pool's thread ({@link #groupCommit}). {@link #commitNow} is every
 * commit's one way to the device — group commit, reservation, administrative change, import repair —
 * so the order of page writes, flushes and superblock copies lives here and nowhere else. What to
 * write is {@link MetadataPageTable}'s (which pages changed, their slots) and the replicas' (their
 * contents); this class encodes and writes it.
 */
final class MetadataCommitter {

    private static final Logger LOG = System.getLogger("mayastor.pool");

    private final LvStore pool;
    private final MetadataPageTable pages;
    private final ClusterAllocator allocator;
    private final PoolDevice deviceIo;
    // ---- guarded by the pool's lock
    private long committedSeq;
    private List<Replica.Io> waitingFlushes = new ArrayList<>();
    /** The mappings (MetadataPageTable.mappings) the last completed commit made durable. */
    private volatile long durableMappings;
    private List<Replica.Io> committingFlushes;
    /**
     * A commit (of any kind: group commit, reservation, create, resize, destroy) has taken its page
     * images and is not durable yet. A flush that comes meanwhile must wait for it: the images may
     * hold the cluster mapping of a write this flush has to make durable.
     */
    private boolean committing;
    /** A commit for the given-back clusters is on the pool thread's queue. */
    private boolean freeScheduled;
    private boolean commitScheduled;
    // ---- commits only (one at a time: the pool's thread, or its creator before it is published)
    /**
     * The commit's own buffers, taken at the first commit (create, import) and kept until the pool
     * stops: a commit that had to find them in the node's shared pool failed — and faulted the pool
     * for good — whenever that pool was dry for a second under load, which the transports expect.
     */
    private DmaBuffer pageBuffers;
    private DmaBuffer superblockPage;
    private static final int BATCH = 64;

    MetadataCommitter(LvStore pool, MetadataPageTable pages, ClusterAllocator allocator, PoolDevice deviceIo) {
        this.pool = pool;
        this.pages = pages;
        this.allocator = allocator;
        this.deviceIo = deviceIo;
    }

    /** At import, before anything is committed: the sequence the device's state has. */
    void startAfter(long seq) {
        committedSeq = seq;
    }

    long committedSequence() {
        synchronized (pool.lock) {
            return committedSeq;
        }
    }

    // ------------------------------------------------------------------ flush (I/O path)

    /** How many cluster mappings a completed commit made durable; those counted after it are not yet. */
    long durableMappings() {
        return durableMappings;
    }

    /**
     * A replica flush, or a write waiting for its mapping: a device flush, or a wait for the group
     * commit that makes new clusters durable.
     */
    void flush(Replica.Io io) {
        boolean faulted;
        synchronized (pool.lock) {
            faulted = pool.state == PoolState.FAULTED;
            if (!faulted) {
                // A commit in progress may not be durable yet, nor cover writes that ended after its own
                // device flush: such a flush waits for the next commit, which flushes the device again.
                if (allocator.hasPendingFrees() && !freeScheduled && !commitScheduled) {
                    // clusters an unmap gave back are zeroed and freed by a commit, with changes or not; this
                    // flush does not wait for it
                    freeScheduled = true;
                    pool.thread.execute(this::commitForFrees);
                }
                if (pages.hasChanges() || commitScheduled || committingFlushes != null || committing) {
                    waitingFlushes.add(io);
                    if (!commitScheduled) {
                        commitScheduled = true;
                        pool.thread.execute(this::groupCommit);
                    }
                    return;
                }
            }
        }
        if (faulted) {
            io.replica.pieceDone(io, IoStatus.MEDIA_ERROR); // not under the lock: the caller's completion runs here
            return;
        }
        pool.device.flush(Replica.PIECE_DONE, io);
    }

    private void commitForFrees() {
        synchronized (pool.lock) {
            freeScheduled = false;
        }
        try {
            commitNow();
        } catch (IOException | RuntimeException e) {
            LOG.log(Level.WARNING, "pool {0}: a commit to free unmapped clusters failed: {1}", pool.name, e.getMessage());
        }
    }

    private void groupCommit() {
        List<Replica.Io> batch;
        synchronized (pool.lock) {
            commitScheduled = false;
            batch = waitingFlushes;
            waitingFlushes = new ArrayList<>();
            committingFlushes = batch;
        }
        IoStatus status = IoStatus.SUCCESS;
        try {
            commitNow();
        } catch (IOException | RuntimeException e) {
            status = IoStatus.MEDIA_ERROR;
        }
        synchronized (pool.lock) {
            batch = committingFlushes;
            committingFlushes = null;
        }
        for (Replica.Io io : batch) {
            io.replica.pieceDone(io, status);
        }
    }

    // ------------------------------------------------------------------ commit

    /**
     * Writes what changed and commits it; on the pool's thread. A device flush when nothing changed.
     *
     * <p>Every changed page goes to the slot that does not hold its committed version (both copies
     * in version 2, where a parent names its children's slots: a moved map page rewrites its
     * descriptor, a moved descriptor the superblock). Flush; the superblock's first copy; flush; in
     * version 2 its second copy and a flush. Only then is the commit done: a crash tears at most one
     * superblock block, and an acknowledged commit is on the device twice.
     */
    void commitNow() throws IOException {
        Layout layout = pool.layout;
        long seq;
        int[] changed;
        int[] slots;
        byte[][] images;
        Superblock superblock;
        long covers = 0;
        List<Integer> drained = List.of();
        synchronized (pool.lock) {
            if (pool.state == PoolState.FAULTED) {
                throw new IOException("pool " + pool.name + " is faulted: " + pool.reason);
            }
            if (!pages.hasChanges()) {
                drained = allocator.freeDrained(committedSeq); // given back by earlier commits, drained since
                changed = null;
                seq = 0;
                slots = null;
                images = null;
                superblock = null;
            } else {
                seq = committedSeq + 1;
                BitSet moving = pages.changedPages(layout.mirrored());
                changed = moving.stream().toArray();
                slots = new int[changed.length];
                images = new byte[changed.length][];
                try {
                    for (int i = 0; i < changed.length; i++) {
                        slots[i] = pages.slotAfter(changed[i], moving);
                        images[i] = encodePage(changed[i], seq, moving);
                    }
                    superblock = superblock(seq, moving);
                } catch (RuntimeException e) {
                    // a state no page can hold (a bug: what is stored is checked before it changes);
                    // every later commit would fail the same way, so the pool says so once
                    pool.fault("its metadata cannot be encoded: " + e.getMessage());
                    throw new IOException("pool " + pool.name + " is faulted: " + e.getMessage(), e);
                }
                covers = pages.mappings();
                pages.clearChanges();
                committing = true;
                allocator.pendingFreesCommittedBy(seq);
            }
        }
        if (changed == null) {
            allocator.zeroReleased(drained);
            deviceIo.flush();
            return;
        }
        try {
            writePages(changed, slots, images);
            deviceIo.flush();
            writeSuperblock(superblock, Superblock.FIRST_COPY, Layout.superblockOffset((int) (seq & 1)));
            deviceIo.flush();
            if (layout.mirrored()) {
                writeSuperblock(superblock, Superblock.SECOND_COPY, layout.mirrorSuperblockOffset((int) (seq & 1)));
                deviceIo.flush();
            }
        } catch (IOException | RuntimeException e) {
            synchronized (pool.lock) {
                pages.restoreChanges(changed);
                committing = false;
                pool.fault("a metadata write failed: " + e.getMessage());
            }
            throw e;
        }
        synchronized (pool.lock) {
            committing = false;
            committedSeq = seq;
            durableMappings = Math.max(durableMappings, covers);
            for (int i = 0; i < changed.length; i++) {
                pages.setCommittedSlot(changed[i], (byte) slots[i]);
            }
            drained = allocator.freeDrained(committedSeq);
        }
        allocator.zeroReleased(drained);
    }

    /** Writes page images to their slots, every copy at once, and waits for all of them. */
    private void writePages(int[] changed, int[] slots, byte[][] images) throws IOException {
        if (changed.length == 0) {
            return;
        }
        Layout layout = pool.layout;
        int blockSize = pool.device.blockSize();
        takeBuffers(); // taken at create and import already
        DmaBuffer buffer = pageBuffers;
        int copies = layout.mirrored() ? 2 : 1;
        for (int start = 0; start < changed.length; start += BATCH) {
            int n = Math.min(BATCH, changed.length - start);
            PageWrites writes = new PageWrites(n * copies);
            for (int i = 0; i < n; i++) {
                buffer.bytes().put(i * Layout.PAGE, images[start + i]);
            }
            for (int i = 0; i < n; i++) {
                int p = changed[start + i];
                long[] offsets = layout.mirrored()
                        ? new long[] {layout.pageOffset(p, slots[start + i]), layout.mirrorPageOffset(p, slots[start + i])}
                        : new long[] {layout.pageOffset(p, slots[start + i])};
                for (long offset : offsets) {
                    pool.device.write(buffer, i * Layout.PAGE, offset / blockSize, Layout.PAGE / blockSize,
                            PageWrites.DONE, writes);
                }
            }
            IoStatus status = writes.await();
            if (status == IoStatus.TIMED_OUT || status == IoStatus.ABORTED) {
                // the device may still read the buffer: it goes back to the pool only once every write
                // of the batch completed, and the next commit (after a repair) takes a new one
                buffer.pin();
                writes.result.whenComplete((st, failure) -> buffer.unpin());
                pageBuffers = null;
                buffer.release();
            }
            PoolDevice.checked(status, "write of " + n + " metadata page(s)");
        }
    }

    /** Takes the commit's buffers, at create and import before anything else (their failure paths give them back). */
    void takeBuffers() {
        if (pageBuffers == null) {
            pageBuffers = deviceIo.buffer(BATCH * Layout.PAGE);
        }
        if (superblockPage == null) {
            superblockPage = deviceIo.page();
        }
    }

    /** The pool has stopped (exported, or its creation failed): the commit's buffers go back. */
    void releaseBuffers() {
        if (pageBuffers != null) {
            pageBuffers.release();
            pageBuffers = null;
        }
        if (superblockPage != null) {
            superblockPage.release();
            superblockPage = null;
        }
    }

    /** Counts a batch of page writes down; the first failure is the batch's. */
    private static final class PageWrites {
        static final IoCompletion<PageWrites> DONE = (status, w) -> w.done(status);
        private final AtomicInteger remaining;
        private final CompletableFuture<IoStatus> result = new CompletableFuture<>();
        private volatile IoStatus failure;

        PageWrites(int count) {
            remaining = new AtomicInteger(count);
        }

        void done(IoStatus status) {
            if (status != IoStatus.SUCCESS && failure == null) {
                failure = status;
            }
            if (remaining.decrementAndGet() == 0) {
                result.complete(failure == null ? IoStatus.SUCCESS : failure);
            }
        }

        IoStatus await() {
            try {
                return result.get(PoolDevice.ioTimeout.toMillis(), TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                return IoStatus.TIMED_OUT;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return IoStatus.ABORTED;
            } catch (ExecutionException e) {
                return IoStatus.FAILED;
            }
        }
    }

    /**
     * Rewrites a slot's bad superblock copy from its valid one, before the import's first commit
     * (see {@link io.mayastorj.pool.internal.format.SuperblockChoice.Heal}). Import thread.
     */
    void heal(io.mayastorj.pool.internal.format.SuperblockChoice.Heal heal, long importedSeq) throws IOException {
        if (committedSequence() != importedSeq) {
            throw new IllegalStateException("a superblock heal after commit " + committedSequence() + " (imported "
                    + importedSeq + "): it would write an older state over a completed commit");
        }
        writeSuperblock(heal.from(), heal.copy(), heal.offset());
        deviceIo.flush();
    }

    private void writeSuperblock(Superblock superblock, int copy, long offset) throws IOException {
        takeBuffers();
        ByteBuffer image = superblockPage.bytes().duplicate();
        superblock.encode(image.slice(0, Layout.PAGE), copy);
        deviceIo.writePage(superblockPage, offset);
    }

    // ------------------------------------------------------------------ encoding, under the pool's lock

    private byte[] encodePage(int page, long seq, BitSet moving) {
        ByteBuffer image = ByteBuffer.allocate(Layout.PAGE).order(ByteOrder.LITTLE_ENDIAN);
        Replica replica = pages.owner(page);
        int mapIndex = pages.mapIndex(page);
        if (mapIndex < 0) {
            int[] maps = replica.mapPageNumbers.clone();
            byte[] mapSlots = new byte[maps.length];
            for (int i = 0; i < maps.length; i++) {
                mapSlots[i] = maps[i] < 0 ? -1 : (byte) pages.slotAfter(maps[i], moving);
            }
            new ReplicaRecord(replica.uuid(), replica.replicaName, replica.sizeBytes, replica.thin, replica.destroying,
                    replica.createdMillis, replica.properties, maps, mapSlots)
                    .encode(image, seq, page, pool.uuid, pool.layout);
        } else {
            ClusterMapPage.encode(image, seq, page, pool.uuid, replica.uuid(), replica.mapEntries(mapIndex));
        }
        return image.array();
    }

    private Superblock superblock(long seq, BitSet moving) {
        int count = pool.replicas.size() + pool.damaged.size();
        int[] descriptors = new int[count];
        byte[] slots = new byte[count];
        int i = 0;
        for (Replica r : pool.replicas.values()) {
            slots[i] = (byte) pages.slotAfter(r.descriptorPage, moving);
            descriptors[i++] = r.descriptorPage;
        }
        for (int page : pool.damaged.keySet()) {
            slots[i] = pages.committedSlot(page); // unknown (-1) in version 1; never rewritten
            descriptors[i++] = page;
        }
        return new Superblock(seq, pool.uuid, pool.name, pool.layout, pool.createdMillis, descriptors, slots,
                allocator.reservedList());
    }
}
