package io.mayastorj.pool.internal;

import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.BlockDeviceBase;
import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.concurrent.FreeList;
import io.mayastorj.pool.internal.format.ClusterMapPage;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * A replica (a logical volume) as a bdev: its blocks map, cluster by cluster, onto the pool's data
 * clusters. The I/O path reads the map without locks; only allocating a cluster (the first write to
 * it on a thin replica) takes the pool's lock. An I/O that spans clusters is split into pieces that
 * share one pooled context, so the path allocates nothing.
 */
final class Replica extends BlockDeviceBase {

    static final int ENTRIES = ClusterMapPage.ENTRIES;
    private static final VarHandle ENTRY = MethodHandles.arrayElementVarHandle(int[].class);
    private static final VarHandle MAP_PAGE = MethodHandles.arrayElementVarHandle(int[][].class);
    private static final VarHandle STAMP = MethodHandles.arrayElementVarHandle(long[].class);
    private static final int CONTEXTS = 1024;
    /** Source of zeros for reads of clusters never written. */
    private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(64 * 1024);

    final LvStore pool;
    private final BlockDevice device;
    final String replicaName;
    final boolean thin;
    final long blocksPerCluster;
    /** log2 of blocksPerCluster when it is a power of two (the default), else -1: shifts, not divisions. */
    private final int clusterShift;
    private final long dataStartBlock;
    final long createdMillis;

    // metadata bookkeeping, guarded by the pool's lock
    int descriptorPage = -1;
    int[] mapPageNumbers;
    /** Per map page: the count (MetadataPageTable.mappings) of its latest cluster mapped; written under the pool's lock. */
    private volatile long[] mapStamps;
    String properties;
    long sizeBytes;
    int allocatedClusters;
    boolean destroying;
    /** A destroy is zeroing and removing it (under the pool's lock): a second one is refused meanwhile. */
    boolean finishing;

    /** map[i][j]: data cluster + 1 of replica cluster i * ENTRIES + j (0: none); pages appear on demand. */
    private volatile int[][] map;

    // I/O epochs: a cluster freed by unmap is reused only after the I/O that may still address it ended
    private volatile int epoch;
    /**
     * I/O begun and ended per epoch: two counters that only grow, not one that goes up and down — a
     * LongAdder's sum is no snapshot, and one I/O's increment and decrement read in different cells
     * could sum to 0 while an older I/O was still in flight (its cluster then zeroed and given to
     * another replica under its write).
     */
    private final LongAdder[] epochBegun = {new LongAdder(), new LongAdder()};
    private final LongAdder[] epochEnded = {new LongAdder(), new LongAdder()};
    long epochGeneration;

    /** I/O contexts, made as the queue depth first needs them and reused from then on. */
    private final FreeList<Io> contexts = new FreeList<>(CONTEXTS);

    /** One I/O in flight: the caller's completion and the count of its pieces still running. */
    static final class Io {
        final int index;
        Replica replica;
        IoType type;
        long bytes;
        IoCompletion<Object> done;
        Object context;
        int epoch;
        /** A write that waited for the commit of the clusters it mapped (or found mapped, not yet committed). */
        boolean awaitedCommit;
        /** The latest mapping (MetadataPageTable.mappings) among the map pages of the clusters a write reached. */
        final java.util.concurrent.atomic.AtomicLong needs = new java.util.concurrent.atomic.AtomicLong();
        final AtomicInteger pieces = new AtomicInteger();
        volatile IoStatus failure;

        Io(int index) {
            this.index = index;
        }
    }

    static final IoCompletion<Io> PIECE_DONE = (status, io) -> io.replica.pieceDone(io, status);

    Replica(LvStore pool, UUID uuid, String name, long sizeBytes, boolean thin, long createdMillis, String properties) {
        super(uuid.toString(), uuid, pool.layout.blockSize(), sizeBytes / pool.layout.blockSize());
        this.pool = pool;
        this.device = pool.device;
        this.replicaName = name;
        this.thin = thin;
        this.sizeBytes = sizeBytes;
        this.createdMillis = createdMillis;
        this.properties = properties;
        this.blocksPerCluster = pool.layout.clusterSize() / pool.layout.blockSize();
        this.clusterShift = Long.bitCount(blocksPerCluster) == 1 ? Long.numberOfTrailingZeros(blocksPerCluster) : -1;
        this.dataStartBlock = pool.layout.dataOffset() / pool.layout.blockSize();
        int pages = mapPagesFor(sizeBytes, pool.layout.clusterSize());
        this.map = new int[pages][];
        this.mapPageNumbers = new int[pages];
        this.mapStamps = new long[pages];
        Arrays.fill(mapPageNumbers, -1);
    }

    static long clustersFor(long sizeBytes, int clusterSize) {
        return sizeBytes / clusterSize + (sizeBytes % clusterSize == 0 ? 0 : 1); // no overflow near Long.MAX_VALUE
    }

    static int mapPagesFor(long sizeBytes, int clusterSize) {
        return (int) ((clustersFor(sizeBytes, clusterSize) + ENTRIES - 1) / ENTRIES);
    }

    @Override
    public String productName() {
        return "Logical volume";
    }

    @Override
    public int bufferAlignment() {
        return device.bufferAlignment();
    }

    @Override
    public boolean supports(IoType type) {
        return true;
    }

    /** A range holds data when any of its clusters is allocated: unallocated clusters read as zeros. */
    @Override
    public boolean holdsData(long lba, long blocks) {
        if (blocks <= 0 || lba < 0 || lba >= blockCount()) {
            return false;
        }
        long last = clusterOf(Math.min(lba + blocks, blockCount()) - 1);
        for (long cluster = clusterOf(lba); cluster <= last; cluster++) {
            if (physical(cluster) != 0) {
                return true;
            }
        }
        return false;
    }

    /** {@link #holdsData} knows allocation cluster by cluster. */
    @Override
    public long allocationUnit() {
        return blocksPerCluster;
    }

    // ---- the cluster map

    /** The data cluster + 1 that holds replica cluster {@code cluster}, or 0. Lock-free. */
    int physical(long cluster) {
        int[] page = (int[]) MAP_PAGE.getVolatile(map, (int) (cluster / ENTRIES));
        return page == null ? 0 : (int) ENTRY.getVolatile(page, (int) (cluster % ENTRIES));
    }

    /** Under the pool's lock. Returns true when the map page had to be created. */
    boolean setPhysical(long cluster, int value) {
        int[][] directory = map;
        int index = (int) (cluster / ENTRIES);
        int[] page = directory[index];
        boolean created = page == null;
        if (created) {
            page = new int[ENTRIES];
            MAP_PAGE.setVolatile(directory, index, page);
        }
        ENTRY.setVolatile(page, (int) (cluster % ENTRIES), value);
        return created;
    }

    /** Under the pool's lock: a copy of one map page's entries, all zeros when absent. */
    int[] mapEntries(int index) {
        int[] page = map[index];
        return page == null ? new int[ENTRIES] : page.clone();
    }

    /** Under the pool's lock: installs entries read at import. */
    void loadMapPage(int index, int[] entries) {
        map[index] = entries;
    }

    int mapPageCount() {
        return map.length;
    }

    /** Under the pool's lock: room for a larger size. */
    void growTo(long newSizeBytes) {
        int pages = mapPagesFor(newSizeBytes, pool.layout.clusterSize());
        if (pages > map.length) {
            map = Arrays.copyOf(map, pages);
            int old = mapPageNumbers.length;
            mapPageNumbers = Arrays.copyOf(mapPageNumbers, pages);
            Arrays.fill(mapPageNumbers, old, pages, -1);
            mapStamps = Arrays.copyOf(mapStamps, pages);
        }
        sizeBytes = newSizeBytes; // the descriptor's size, committed next; I/O sees it once that is durable (grownOnDisk)
    }

    /**
     * The grown size committed: I/O may reach it now. Not before: a write to a new cluster of a thick
     * replica acknowledged while the commit was still on its way, then a crash, left that cluster free
     * in the committed state but holding data — given later to another replica, which reads it.
     */
    void grownOnDisk() {
        grow(sizeBytes / blockSize());
    }

    // ---- epochs (under the pool's lock, except the I/O path's reads)

    int currentEpoch() {
        return epoch;
    }

    /**
     * Whether every I/O counted in epoch {@code e} has ended: the ended count read first, and both only
     * grow, so equal counts mean that none was in flight at the moment the first read ended.
     */
    boolean epochDrained(int e) {
        long ended = epochEnded[e].sum();
        return epochBegun[e].sum() == ended;
    }

    /** Moves new I/O to the other epoch counter if the I/O counted there has ended. */
    boolean tryFlipEpoch() {
        int other = 1 - epoch;
        if (!epochDrained(other)) {
            return false;
        }
        epoch = other;
        epochGeneration++;
        return true;
    }

    // ---- I/O

    @SuppressWarnings("unchecked")
    private <C> Io begin(IoType type, long bytes, IoCompletion<? super C> done, C context, int pieces) {
        Io io = contexts.pop();
        if (io == null) {
            io = contexts.addTaken(Io::new); // the pool grows with the queue depth it sees
            if (io == null) {
                io = new Io(-1); // more than CONTEXTS in flight: a short-lived extra
            }
        }
        int e = epoch;
        epochBegun[e].increment();
        io.epoch = e;
        io.replica = this;
        io.type = type;
        io.bytes = bytes;
        io.done = (IoCompletion<Object>) done;
        io.context = context;
        io.failure = null;
        io.awaitedCommit = false;
        io.needs.set(0);
        io.pieces.set(pieces);
        return io;
    }

    void pieceDone(Io io, IoStatus status) {
        if (status != IoStatus.SUCCESS && io.failure == null) {
            io.failure = status;
        }
        if (io.pieces.decrementAndGet() == 0) {
            if (io.type == IoType.WRITE && !io.awaitedCommit && io.failure == null && thin
                    && io.needs.get() > pool.committer.durableMappings()) {
                // a cluster it reached was mapped and not committed yet (by this write, perhaps): acknowledged now,
                // the write was lost with the map by a kill -9 (the cluster read as zeros after the import). It
                // waits for a commit, as a flush does — group-committed with the others
                io.awaitedCommit = true;
                io.pieces.set(1);
                pool.committer.flush(io);
                return;
            }
            IoType type = io.type;
            long bytes = io.bytes;
            IoCompletion<Object> done = io.done;
            Object context = io.context;
            IoStatus result = io.failure == null ? IoStatus.SUCCESS : io.failure;
            epochEnded[io.epoch].increment();
            io.done = null;
            io.context = null;
            if (io.index >= 0) {
                contexts.push(io.index);
            }
            complete(type, bytes, result, done, context);
        }
    }

    private long clusterOf(long lba) {
        return clusterShift >= 0 ? lba >>> clusterShift : lba / blocksPerCluster;
    }

    private int pieces(long lba, long blocks) {
        return (int) (clusterOf(lba + blocks - 1) - clusterOf(lba) + 1);
    }

    private long dataLba(int physical, long inCluster) {
        return dataStartBlock + (long) (physical - 1) * blocksPerCluster + inCluster;
    }

    @Override
    protected <C> void doRead(DmaBuffer buffer, int bufferOffset, long lba, int blocks,
                              IoCompletion<? super C> done, C context) {
        Io io = begin(IoType.READ, (long) blocks * blockSize(), done, context, pieces(lba, blocks));
        long position = lba;
        int offset = bufferOffset;
        int left = blocks;
        while (left > 0) {
            long cluster = clusterOf(position);
            long inCluster = position - cluster * blocksPerCluster;
            int n = (int) Math.min(left, blocksPerCluster - inCluster);
            int physical = physical(cluster);
            if (physical == 0) {
                zeroFill(buffer, offset, n * blockSize());
                pieceDone(io, IoStatus.SUCCESS);
            } else {
                device.read(buffer, offset, dataLba(physical, inCluster), n, PIECE_DONE, io);
            }
            position += n;
            offset += n * blockSize();
            left -= n;
        }
    }

    private static void zeroFill(DmaBuffer buffer, int offset, int length) {
        ByteBuffer target = buffer.bytes();
        for (int done = 0; done < length; ) {
            int n = Math.min(ZEROS.capacity(), length - done);
            target.put(offset + done, ZEROS, 0, n);
            done += n;
        }
    }

    @Override
    protected <C> void doWrite(DmaBuffer buffer, int bufferOffset, long lba, int blocks,
                               IoCompletion<? super C> done, C context) {
        Io io = begin(IoType.WRITE, (long) blocks * blockSize(), done, context, pieces(lba, blocks));
        long position = lba;
        int offset = bufferOffset;
        int left = blocks;
        while (left > 0) {
            long cluster = clusterOf(position);
            long inCluster = position - cluster * blocksPerCluster;
            int n = (int) Math.min(left, blocksPerCluster - inCluster);
            writePiece(io, buffer, offset, cluster, inCluster, n);
            position += n;
            offset += n * blockSize();
            left -= n;
        }
    }

    private void writePiece(Io io, DmaBuffer buffer, int offset, long cluster, long inCluster, int n) {
        int physical = physical(cluster);
        if (physical == 0) {
            physical = pool.allocator.allocate(this, cluster); // free clusters read as zeros: nothing to clear
        }
        if (physical == ClusterAllocator.WAIT) {
            // no reserved cluster at hand: the rare slow path, so a small closure is fine
            pool.allocator.afterReserve(() -> writePiece(io, buffer, offset, cluster, inCluster, n));
        } else if (physical == 0) {
            pieceDone(io, IoStatus.NO_SPACE);
        } else if (physical == ClusterAllocator.REFUSED) {
            pieceDone(io, isClosed() ? IoStatus.DEVICE_CLOSED : IoStatus.MEDIA_ERROR); // a faulted pool
        } else {
            if (thin) {
                io.needs.accumulateAndGet(mapStamp(cluster), Math::max); // read after the entry: sees its mapping's count
            }
            device.write(buffer, offset, dataLba(physical, inCluster), n, PIECE_DONE, io);
        }
    }

    /**
     * Under the pool's lock, before a cluster of map page {@code index} is mapped: the mapping's count
     * (set first: a write that finds the entry reads it after, and sees it).
     */
    void stampMapPage(int index, long mapping) {
        STAMP.setVolatile(mapStamps, index, mapping);
    }

    /** The count of the latest mapping in the map page of {@code cluster} (0: none since the import). */
    private long mapStamp(long cluster) {
        long[] stamps = mapStamps;
        int index = (int) (cluster / ENTRIES);
        return index < stamps.length ? (long) STAMP.getVolatile(stamps, index) : 0;
    }

    @Override
    protected <C> void doFlush(IoCompletion<? super C> done, C context) {
        Io io = begin(IoType.FLUSH, 0, done, context, 1);
        pool.committer.flush(io);
    }

    @Override
    protected <C> void doUnmap(long lba, long blocks, IoCompletion<? super C> done, C context) {
        clear(IoType.UNMAP, lba, blocks, done, context);
    }

    @Override
    protected <C> void doWriteZeroes(long lba, long blocks, IoCompletion<? super C> done, C context) {
        clear(IoType.WRITE_ZEROES, lba, blocks, done, context);
    }

    /**
     * Unmap and write-zeroes: ranges that hold no cluster read as zeros already; allocated ranges are
     * zeroed on the device. An unmap that covers a whole cluster of a thin replica gives the cluster
     * back to the pool instead ({@link ClusterAllocator#release}).
     */
    private <C> void clear(IoType type, long lba, long blocks, IoCompletion<? super C> done, C context) {
        Io io = begin(type, blocks * blockSize(), done, context, pieces(lba, blocks));
        long position = lba;
        long left = blocks;
        while (left > 0) {
            long cluster = clusterOf(position);
            long inCluster = position - cluster * blocksPerCluster;
            long n = Math.min(left, blocksPerCluster - inCluster);
            int physical = physical(cluster);
            if (physical == 0) {
                pieceDone(io, IoStatus.SUCCESS);
            } else if (type == IoType.UNMAP && thin && n == blocksPerCluster
                    && pool.allocator.release(this, cluster, physical)) {
                pieceDone(io, IoStatus.SUCCESS); // reads as zeros now; the pool zeroes it once no I/O can reach it
            } else {
                device.writeZeroes(dataLba(physical, inCluster), n, PIECE_DONE, io);
            }
            position += n;
            left -= n;
        }
    }

    @Override
    protected void doClose() {
        // the pool owns the device; nothing of the replica's own to release
    }

    String replicaName() {
        return replicaName;
    }
}
