package io.mayastorj.pool.internal;

import io.mayastorj.core.bdev.BdevStats;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.buffer.DmaBuffer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.UUID;

/**
 * A disk with a volatile write-back cache over a file: a write is answered once it is in the cache,
 * and only a flush puts the cache on the file. At a {@link #powerCut} (at a chosen write or flush,
 * {@link #cutAt}, or when the test says), each block written since the last flush independently
 * lands or is lost, as a real disk's cache leaves them: in no order, a later write perhaps without
 * an earlier one, a write of several blocks torn. A pool that answers a flush, or a commit, before
 * what it covers is flushed is caught here (checked by leaving out the replica flush, and the flushes
 * after the superblock's copies); killing a process never is, as the kernel keeps what it was given.
 * The flushes between the pages and the superblock, and between its two copies, are not what any
 * answer waits for: a torn commit is one no flush answered, and the import falls back past it.
 */
final class VolatileCacheDevice implements BlockDevice {

    private final FileChannel file;
    private final int blockSize;
    private final long blockCount;
    private final byte[] zeros;
    /** Blocks written since the last flush: their latest content (the one array of zeros for zeroed ones). */
    private final TreeMap<Long, byte[]> cache = new TreeMap<>();
    private boolean cut;

    VolatileCacheDevice(Path path, int blockSize) throws IOException {
        this.file = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
        this.blockSize = blockSize;
        this.blockCount = file.size() / blockSize;
        this.zeros = new byte[blockSize];
    }

    /**
     * The power goes: each cached block lands or not, at random; what was flushed stays. The device
     * answers every later request as done and keeps nothing of it.
     */
    synchronized void powerCut(Random random) throws IOException {
        if (cut) {
            return;
        }
        for (Map.Entry<Long, byte[]> block : cache.entrySet()) {
            if (random.nextBoolean()) {
                file.write(ByteBuffer.wrap(block.getValue()), block.getKey() * blockSize);
            }
        }
        cache.clear();
        file.force(false);
        file.close();
        cut = true;
    }

    /** The power goes at the {@code ios}-th write, zeroing or flush from now, before it is done (whoever sends it). */
    synchronized void cutAt(int ios, Random random) {
        cutAt = ios;
        cutRandom = random;
    }

    synchronized boolean isCut() {
        return cut;
    }

    private int cutAt = -1;
    private Random cutRandom;

    /** Counts one write, zeroing or flush toward {@link #cutAt}; under the lock. */
    private void counted() {
        if (!cut && cutAt > 0 && --cutAt == 0) {
            try {
                powerCut(cutRandom);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    @Override
    public <C> void write(DmaBuffer buffer, int bufferOffset, long lba, int blocks, IoCompletion<? super C> done, C context) {
        synchronized (this) {
            counted();
            if (!cut) {
                ByteBuffer bytes = buffer.bytes();
                for (int i = 0; i < blocks; i++) {
                    byte[] block = new byte[blockSize];
                    bytes.get(bufferOffset + i * blockSize, block);
                    cache.put(lba + i, block);
                }
            }
        }
        done.ioDone(IoStatus.SUCCESS, context);
    }

    @Override
    public <C> void writeZeroes(long lba, long blocks, IoCompletion<? super C> done, C context) {
        synchronized (this) {
            counted();
            if (!cut) {
                for (long i = 0; i < blocks; i++) {
                    cache.put(lba + i, zeros);
                }
            }
        }
        done.ioDone(IoStatus.SUCCESS, context);
    }

    @Override
    public <C> void unmap(long lba, long blocks, IoCompletion<? super C> done, C context) {
        writeZeroes(lba, blocks, done, context); // reads zeros after, as the pool's device contract asks
    }

    @Override
    public <C> void read(DmaBuffer buffer, int bufferOffset, long lba, int blocks, IoCompletion<? super C> done, C context) {
        synchronized (this) {
            if (!cut) {
                ByteBuffer bytes = buffer.bytes().duplicate();
                bytes.limit(bufferOffset + blocks * blockSize).position(bufferOffset);
                try {
                    long at = lba * blockSize;
                    while (bytes.hasRemaining()) {
                        int n = file.read(bytes, at);
                        if (n < 0) {
                            throw new IOException("read past the end of the file at " + at);
                        }
                        at += n;
                    }
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
                for (Map.Entry<Long, byte[]> block : cache.subMap(lba, lba + blocks).entrySet()) {
                    buffer.bytes().put(bufferOffset + (int) (block.getKey() - lba) * blockSize, block.getValue());
                }
            }
        }
        done.ioDone(IoStatus.SUCCESS, context);
    }

    @Override
    public <C> void flush(IoCompletion<? super C> done, C context) {
        synchronized (this) {
            counted();
            if (!cut) {
                try {
                    for (Map.Entry<Long, byte[]> block : cache.entrySet()) {
                        file.write(ByteBuffer.wrap(block.getValue()), block.getKey() * blockSize);
                    }
                    file.force(false);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
                cache.clear();
            }
        }
        done.ioDone(IoStatus.SUCCESS, context);
    }

    @Override
    public String name() {
        return "volatile-cache";
    }

    @Override
    public UUID uuid() {
        return UUID.nameUUIDFromBytes(name().getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    @Override
    public String productName() {
        return "Disk with a volatile cache";
    }

    @Override
    public int blockSize() {
        return blockSize;
    }

    @Override
    public long blockCount() {
        return blockCount;
    }

    @Override
    public int bufferAlignment() {
        return 1;
    }

    @Override
    public boolean supports(IoType type) {
        return true;
    }

    @Override
    public BdevStats stats() {
        return new BdevStats(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    }

    @Override
    public synchronized void close() {
        try {
            file.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
