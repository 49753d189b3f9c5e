package io.mayastorj.pool.internal;

import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.BlockingIo;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.internal.bdev.AioBdevFactory;
import io.mayastorj.core.internal.buffer.DmaBufferPool;
import io.mayastorj.core.internal.buffer.HugepageMode;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;

/** A backing file opened as an aio bdev, a buffer pool, and helpers to stamp and check blocks. */
final class PoolFixture implements AutoCloseable {

    static final Duration T = Duration.ofSeconds(30);
    final DmaBufferPool buffers = new DmaBufferPool(32L << 20, HugepageMode.OFF);
    final Path file;
    BlockDevice device;

    PoolFixture(Path file, long size) throws IOException {
        this.file = file;
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(size);
        }
        open();
    }

    void open() {
        device = new AioBdevFactory().create(BdevUri.parse("aio://" + file));
    }

    /** Closes the device, runs {@code change} on the file, and opens it again. */
    void reopenAfter(FileChange change) throws IOException {
        device.close();
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            change.apply(f);
        }
        open();
    }

    interface FileChange {
        void apply(RandomAccessFile file) throws IOException;
    }

    static void flipBit(RandomAccessFile file, long offset) throws IOException {
        file.seek(offset);
        int b = file.read();
        file.seek(offset);
        file.write(b ^ 0x10);
    }

    /** Writes {@code blocks} blocks at {@code lba}, each stamped with (tag, lba, seq). */
    void writeStamped(BlockDevice target, long lba, int blocks, long tag, long seq) {
        DmaBuffer b = buffers.allocate(blocks * target.blockSize());
        try {
            for (int i = 0; i < blocks; i++) {
                stamp(b.bytes(), i * target.blockSize(), target.blockSize(), tag, lba + i, seq);
            }
            IoStatus status = BlockingIo.write(target, b, 0, lba, blocks, T);
            if (status != IoStatus.SUCCESS) {
                throw new IllegalStateException("write at " + lba + ": " + status);
            }
        } finally {
            b.release();
        }
    }

    static void stamp(ByteBuffer buffer, int offset, int blockSize, long tag, long lba, long seq) {
        for (int i = 0; i < blockSize; i += 24) {
            if (i + 24 <= blockSize) {
                buffer.putLong(offset + i, tag);
                buffer.putLong(offset + i + 8, lba);
                buffer.putLong(offset + i + 16, seq);
            }
        }
    }

    /** The sequence stamped in a block: -1 when it reads as zeros, throws when it is neither. */
    long readStamp(BlockDevice target, long lba, long tag) {
        DmaBuffer b = buffers.allocate(target.blockSize());
        try {
            IoStatus status = BlockingIo.read(target, b, 0, lba, 1, T);
            if (status != IoStatus.SUCCESS) {
                throw new IllegalStateException("read at " + lba + ": " + status);
            }
            ByteBuffer bytes = b.bytes();
            boolean zero = true;
            for (int i = 0; i < target.blockSize(); i++) {
                if (bytes.get(i) != 0) {
                    zero = false;
                    break;
                }
            }
            if (zero) {
                return -1;
            }
            long seq = bytes.getLong(16);
            for (int i = 0; i + 24 <= target.blockSize(); i += 24) {
                if (bytes.getLong(i) != tag || bytes.getLong(i + 8) != lba || bytes.getLong(i + 16) != seq) {
                    throw new IllegalStateException("block " + lba + " of " + target.name() + " is torn or foreign at byte "
                            + i + ": tag " + bytes.getLong(i) + " lba " + bytes.getLong(i + 8) + " seq " + bytes.getLong(i + 16));
                }
            }
            return seq;
        } finally {
            b.release();
        }
    }

    @Override
    public void close() {
        device.close();
        buffers.close();
    }
}
