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
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/** Reads and forges a pool's on-disk structures in its backing file, for corruption tests. */
final class LvStoreProbe {

    /** A metadata block of the pool: what it is, where, and where the same copy of its other slot lies. */
    record Block(String label, long offset, long sibling) {
    }

    private final RandomAccessFile file;
    private final Superblock superblock;

    LvStoreProbe(RandomAccessFile file) throws IOException {
        this.file = file;
        Superblock best = null;
        for (int slot = 0; slot < 2; slot++) {
            try {
                Superblock sb = Superblock.decode(read(Layout.superblockOffset(slot)), Superblock.FIRST_COPY);
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

    Superblock superblock() {
        return superblock;
    }

    ByteBuffer read(long offset) throws IOException {
        byte[] page = new byte[Layout.PAGE];
        file.seek(offset);
        file.readFully(page);
        return ByteBuffer.wrap(page).order(ByteOrder.LITTLE_ENDIAN);
    }

    long sequence() {
        return superblock.sequence();
    }

    /** Offsets of every copy of one slot of a page. */
    private long[] copies(int page, int slot) {
        return layout().mirrored() ? new long[] {layout().pageOffset(page, slot), layout().mirrorPageOffset(page, slot)}
                : new long[] {layout().pageOffset(page, slot)};
    }

    /** Writes a valid descriptor page into one slot, as a commit would that dies before its superblock. */
    void forgeDescriptor(int page, int slot, ReplicaRecord record, long sequence) throws IOException {
        ByteBuffer image = ByteBuffer.allocate(Layout.PAGE).order(ByteOrder.LITTLE_ENDIAN);
        record.encode(image, sequence, page, superblock.poolUuid(), layout());
        for (long offset : copies(page, slot)) {
            file.seek(offset);
            file.write(image.array());
        }
    }

    /** Rewrites a cluster-map page, checksum and all, so that entry {@code index} names {@code cluster}. */
    void forgeMapEntry(int page, UUID owner, int index, int cluster, long sequence) throws IOException {
        int[] entries = new int[ClusterMapPage.ENTRIES];
        entries[index] = cluster;
        forgeMap(page, owner, entries, sequence);
    }

    /** Writes a whole cluster-map page, checksum and all, to both slots of both copies. */
    void forgeMap(int page, UUID owner, int[] entries, long sequence) throws IOException {
        ByteBuffer image = ByteBuffer.allocate(Layout.PAGE).order(ByteOrder.LITTLE_ENDIAN);
        ClusterMapPage.encode(image, sequence, page, superblock.poolUuid(), owner, entries);
        for (int slot = 0; slot < 2; slot++) {
            for (long offset : copies(page, slot)) {
                file.seek(offset);
                file.write(image.array());
            }
        }
    }

    /**
     * Every metadata block the pool uses: each superblock slot in each copy, and both slots of each
     * page the committed state references (descriptors and their cluster maps), in each copy.
     */
    List<Block> metadataBlocks() throws IOException {
        if (!layout().mirrored()) {
            throw new IllegalStateException("a version-1 pool names no slots");
        }
        List<Block> blocks = new ArrayList<>();
        for (int slot = 0; slot < 2; slot++) {
            blocks.add(new Block("superblock slot " + slot + " first copy", Layout.superblockOffset(slot),
                    Layout.superblockOffset(1 - slot)));
            blocks.add(new Block("superblock slot " + slot + " second copy", layout().mirrorSuperblockOffset(slot),
                    layout().mirrorSuperblockOffset(1 - slot)));
        }
        for (int i = 0; i < superblock.replicaPages().length; i++) {
            int descriptor = superblock.replicaPages()[i];
            addPage(blocks, "descriptor " + descriptor, descriptor);
            ReplicaRecord record;
            try {
                record = ReplicaRecord.decode(read(layout().pageOffset(descriptor, superblock.replicaSlots()[i])), layout());
            } catch (DamagedMetadataException e) {
                throw new IOException(e);
            }
            for (int map : record.mapPages()) {
                if (map >= 0) {
                    addPage(blocks, "cluster map " + map + " of " + record.name(), map);
                }
            }
        }
        return blocks;
    }

    private void addPage(List<Block> blocks, String what, int page) {
        for (int slot = 0; slot < 2; slot++) {
            long[] offsets = copies(page, slot);
            long[] siblings = copies(page, 1 - slot);
            for (int copy = 0; copy < offsets.length; copy++) {
                blocks.add(new Block(what + " slot " + slot + (copy == 0 ? " first" : " second") + " copy", offsets[copy],
                        siblings[copy]));
            }
        }
    }
}
