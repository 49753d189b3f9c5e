package io.mayastorj.core.internal.buffer;

import io.mayastorj.core.buffer.BufferPool;
import io.mayastorj.core.buffer.BufferPoolStats;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.core.internal.nativeio.NativeMemory;
import io.mayastorj.core.internal.node.DataPlaneConfig;
import io.mayastorj.core.concurrent.FreeList;
import io.mayastorj.core.text.Sizes;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;

/**
 * The DMA buffer pool: one region mapped at start-up, cut into 2 MiB chunks; a chunk goes to a size
 * class the first time that class runs dry and is carved into buffers that live as long as the
 * pool (once all are carved, a dry class is served a free buffer of a larger one). Each class
 * keeps its free buffers on a lock-free stack, so a warm pool allocates nothing.
 */
@Component(immediate = true, service = BufferPool.class, configurationPid = DataPlaneConfig.PID,
        configurationPolicy = ConfigurationPolicy.REQUIRE)
public final class DmaBufferPool implements BufferPool {

    private static final Logger LOG = System.getLogger("mayastor.buffers");

    static final int CHUNK_SIZE = (int) NativeMemory.HUGEPAGE_SIZE;
    private static final int MIN_SHIFT = Integer.numberOfTrailingZeros(MIN_BUFFER_SIZE);
    private static final int CLASSES = Integer.numberOfTrailingZeros(MAX_BUFFER_SIZE) - MIN_SHIFT + 1;

    private final long base;
    private final long length;
    private final boolean hugepages;
    private final int chunks;
    private final AtomicInteger nextChunk = new AtomicInteger();
    private final SizeClass[] classes = new SizeClass[CLASSES];
    private final LongAdder failures = new LongAdder();
    private final DmaBuffer.Recycler recycler = this::recycle;

    private static final class SizeClass {
        final int size;
        final FreeList<DmaBuffer> free;
        final LongAdder inUse = new LongAdder();
        /** Chunks carved for this class. */
        final AtomicInteger carved = new AtomicInteger();

        SizeClass(int size, int maxBuffers) {
            this.size = size;
            this.free = new FreeList<>(maxBuffers);
        }
    }

    @Activate
    public DmaBufferPool(DataPlaneConfig config) throws IOException {
        this((long) config.buffers_mb() << 20, HugepageMode.parse(config.hugepages()));
    }

    /**
     * @param bytes pool size, rounded up to whole 2 MiB chunks
     * @throws MayastorException INVALID_ARGUMENT for a size below 2 MiB; RESOURCE_EXHAUSTED when
     *                           the memory cannot be mapped or hugepages are required and missing
     */
    public DmaBufferPool(long bytes, HugepageMode mode) {
        if (bytes < CHUNK_SIZE || bytes > (1L << 40)) {
            throw MayastorException.invalidArgument("buffers.mb=%d: the buffer pool needs 2 MiB to 1 TiB", bytes >> 20);
        }
        this.chunks = (int) ((bytes + CHUNK_SIZE - 1) / CHUNK_SIZE);
        this.length = (long) chunks * CHUNK_SIZE;
        long address = 0;
        boolean onHugepages = false;
        if (mode != HugepageMode.OFF) {
            try {
                address = NativeMemory.mapHugepages(length);
                onHugepages = true;
            } catch (IOException e) {
                if (mode == HugepageMode.ON) {
                    throw MayastorException.resourceExhausted(
                            "hugepages=on but the buffer pool (%s) cannot be put on hugepages: %s. Reserve %d with: "
                                    + "echo %d > /proc/sys/vm/nr_hugepages",
                            Sizes.human(length), e.getMessage(), chunks, chunks);
                }
                LOG.log(Level.WARNING, "no hugepages for the DMA buffer pool ({0}): it uses ordinary memory. "
                        + "To use hugepages, reserve {1} of them: echo {1} > /proc/sys/vm/nr_hugepages",
                        e.getMessage(), chunks);
            }
        }
        if (!onHugepages) {
            try {
                address = NativeMemory.mapAnonymous(length);
            } catch (IOException e) {
                throw MayastorException.resourceExhausted("cannot map the buffer pool (%s): %s",
                        Sizes.human(length), e.getMessage());
            }
        }
        this.base = address;
        this.hugepages = onHugepages;
        for (int i = 0; i < CLASSES; i++) {
            int size = MIN_BUFFER_SIZE << i;
            classes[i] = new SizeClass(size, (int) Math.min(Integer.MAX_VALUE, length / size));
        }
        LOG.log(Level.INFO, "DMA buffer pool: {0} on {1}", Sizes.human(length),
                hugepages ? chunks + " hugepages" : "ordinary memory");
    }

    /** The address of the one region every buffer of the pool lies in. */
    public long regionAddress() {
        return base;
    }

    /** The region's length in bytes. */
    public long regionLength() {
        return length;
    }

    @Override
    public DmaBuffer allocate(int bytes) {
        if (bytes <= 0 || bytes > MAX_BUFFER_SIZE) {
            throw new IllegalArgumentException("buffer size must be 1.." + MAX_BUFFER_SIZE + " bytes: " + bytes);
        }
        int index = classOf(bytes);
        SizeClass sizeClass = classes[index];
        DmaBuffer buffer = sizeClass.free.pop();
        if (buffer == null) {
            buffer = carve(index);
        }
        for (int larger = index + 1; buffer == null && larger < CLASSES; larger++) {
            // every chunk is carved already, and chunks stay with their class: a free buffer of a larger
            // class serves instead (it goes back to its own), or a class that never got a chunk before a
            // burst of large transfers took them all would stay dry for good
            sizeClass = classes[larger];
            buffer = sizeClass.free.pop();
        }
        if (buffer == null) {
            failures.increment();
            return null;
        }
        buffer.acquire();
        sizeClass.inUse.increment();
        return buffer;
    }

    static int classOf(int bytes) {
        int shift = 32 - Integer.numberOfLeadingZeros(bytes - 1);
        return Math.max(0, shift - MIN_SHIFT);
    }

    /**
     * Gives the size class a fresh chunk cut into buffers; returns one of them, or null when none is
     * left. A class that has chunks already leaves the last few to larger classes that have none:
     * chunks never go back, and a burst of small transfers that carved them all made every larger
     * request fail for the life of the process (a smaller one can borrow a larger free buffer; a
     * larger one has nothing to borrow).
     */
    private DmaBuffer carve(int index) {
        SizeClass sizeClass = classes[index];
        int chunk;
        while (true) {
            int next = nextChunk.get();
            if (next >= chunks || sizeClass.carved.get() > 0 && chunks - next <= reserveAbove(index)) {
                return sizeClass.free.pop(); // another thread may have carved meanwhile
            }
            if (nextChunk.compareAndSet(next, next + 1)) {
                chunk = next;
                break;
            }
        }
        sizeClass.carved.incrementAndGet();
        long chunkAddress = base + (long) chunk * CHUNK_SIZE;
        int count = CHUNK_SIZE / sizeClass.size;
        for (int i = 0; i < count; i++) {
            long address = chunkAddress + (long) i * sizeClass.size;
            sizeClass.free.add(n -> new DmaBuffer(address, NativeMemory.view(address, sizeClass.size), recycler, index, n));
        }
        return sizeClass.free.pop();
    }

    /** Chunks kept for the classes above {@code index} that have none: one each, up to a quarter of the pool. */
    private int reserveAbove(int index) {
        int without = 0;
        for (int j = index + 1; j < CLASSES; j++) {
            if (classes[j].carved.get() == 0) {
                without++;
            }
        }
        return Math.min(without, chunks / 4);
    }

    private void recycle(DmaBuffer buffer) {
        SizeClass sizeClass = classes[buffer.sizeClass()];
        sizeClass.inUse.decrement();
        sizeClass.free.push(buffer.index());
    }

    @Override
    public BufferPoolStats stats() {
        List<BufferPoolStats.SizeClassStats> perClass = new ArrayList<>(CLASSES);
        long used = 0;
        for (SizeClass sizeClass : classes) {
            int inUse = (int) Math.max(0, sizeClass.inUse.sum());
            used += (long) inUse * sizeClass.size;
            perClass.add(new BufferPoolStats.SizeClassStats(sizeClass.size, sizeClass.free.added(), inUse));
        }
        return new BufferPoolStats(hugepages, hugepages ? chunks : 0, length, used, failures.sum(),
                List.copyOf(perClass));
    }

    public boolean onHugepages() {
        return hugepages;
    }

    @Deactivate
    public void close() {
        // Every component that could hold buffers depends on the pool and is gone by now, but not every request they
        // made: one a device never answered (its queue's drain gave up) holds its buffer. Its late completion's
        // callback reads or writes that buffer (unmapped: the JVM crashes), and a buffered read the kernel finishes
        // late copies into whatever is mapped at that address then
        long held = 0;
        for (SizeClass sizeClass : classes) {
            held += sizeClass.inUse.sum();
        }
        if (held > 0) {
            LOG.log(Level.WARNING, "{0} DMA buffers are still in use as the pool closes: its {1} MiB stay mapped until the "
                    + "process ends", held, length >> 20);
            return;
        }
        NativeMemory.unmap(base, length);
        LOG.log(Level.DEBUG, "DMA buffer pool unmapped");
    }
}
