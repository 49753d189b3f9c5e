package io.mayastorj.pool.internal;

import io.mayastorj.pool.internal.format.ClusterMapPage;
import io.mayastorj.pool.internal.format.DamagedMetadataException;
import io.mayastorj.pool.internal.format.Layout;
import io.mayastorj.pool.internal.format.ReplicaRecord;
import io.mayastorj.pool.internal.format.Superblock;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.UUID;

/** Reads and forges a pool's on-disk structures in its backing file, for corruption tests. */
final class LvStoreProbe {

    private final RandomAccessFile file;
    private final Superblock superblock;

    LvStoreProbe(RandomAccessFile file) throws IOException {
        this.file = file;
        Superblock best = null;
        for (int slot = 0; slot < 2; slot++) {
            try {
                Superblock sb = Superblock.decode(read(Layout.superblockOffset(slot)));
                if (best == null || sb.sequence() > best.sequence()) {
                    best = sb;
                }
            } catch (DamagedMetadataException ignored) {
                // the other slot
            }
        }
        if (best == null) {
            throw new IOException("no valid superblock");
        }
        this.superblock = best;
    }

    Layout layout() {
        return superblock.layout();
    }

    private ByteBuffer read(long offset) throws IOException {
        byte[] page = new byte[Layout.PAGE];
        file.seek(offset);
        file.readFully(page);
        return ByteBuffer.wrap(page).order(ByteOrder.LITTLE_ENDIAN);
    }

    long sequence() {
        return superblock.sequence();
    }

    /** Writes a valid descriptor page into one slot, as a commit would that dies before its superblock. */
    void forgeDescriptor(int page, int slot, ReplicaRecord record, long sequence) throws IOException {
        ByteBuffer image = ByteBuffer.allocate(Layout.PAGE).order(ByteOrder.LITTLE_ENDIAN);
        record.encode(image, sequence, page, superblock.poolUuid());
        file.seek(layout().pageOffset(page, slot));
        file.write(image.array());
    }

    /** Rewrites a cluster-map page, checksum and all, so that entry {@code index} names {@code cluster}. */
    void forgeMapEntry(int page, UUID owner, int index, int cluster, long sequence) throws IOException {
        int[] entries = new int[ClusterMapPage.ENTRIES];
        entries[index] = cluster;
        ByteBuffer image = ByteBuffer.allocate(Layout.PAGE).order(ByteOrder.LITTLE_ENDIAN);
        ClusterMapPage.encode(image, sequence, page, superblock.poolUuid(), owner, entries);
        for (int slot = 0; slot < 2; slot++) {
            file.seek(layout().pageOffset(page, slot));
            file.write(image.array());
        }
    }
}
