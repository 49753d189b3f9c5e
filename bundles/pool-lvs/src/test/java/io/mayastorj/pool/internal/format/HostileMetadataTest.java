package io.mayastorj.pool.internal.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.UUID;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/**
 * Metadata whose checksums hold but whose numbers cannot be true (a hostile disk, or a bug that
 * wrote them): refused as damage before anything is sized by them. Review finding: a cluster size
 * of 0 divided by zero at import, a page count of 2^31 - 1 asked for gigabytes of tables, and a
 * replica size near 2^63 made a negative array size; none of them was a clear error.
 */
class HostileMetadataTest {

    private static final UUID POOL = UUID.fromString("11111111-2222-4333-8444-555555555555");
    private static final Layout LAYOUT = Layout.compute(256L << 20, 512, 4 << 20);

    private static ByteBuffer superblock(Consumer<ByteBuffer> edit) {
        ByteBuffer page = ByteBuffer.allocate(Layout.PAGE).order(ByteOrder.LITTLE_ENDIAN);
        new Superblock(7, POOL, "p0", LAYOUT, 1, new int[0], new byte[0], new int[0]).encode(page, Superblock.FIRST_COPY);
        edit.accept(page);
        page.putInt(Superblock.OFF_CRC, Crc.of(page, Superblock.OFF_CRC));
        return page;
    }

    private static String refusedSuperblock(Consumer<ByteBuffer> edit) {
        return assertThrows(DamagedMetadataException.class, () -> Superblock.decode(superblock(edit), Superblock.FIRST_COPY))
                .getMessage();
    }

    @Test
    void aSuperblockAsCreatedDecodes() throws Exception {
        assertEquals(LAYOUT, Superblock.decode(superblock(p -> { }), Superblock.FIRST_COPY).layout());
    }

    @Test
    void aSuperblockWithImpossibleGeometryIsDamage() {
        assertEquals("its geometry is inconsistent: cluster size 0",
                refusedSuperblock(p -> p.putInt(Superblock.OFF_CLUSTER_SIZE, 0)));
        assertEquals("its geometry is inconsistent: block size 1000",
                refusedSuperblock(p -> p.putInt(Superblock.OFF_BLOCK_SIZE, 1000)));
        assertEquals("its geometry is inconsistent: " + Integer.MAX_VALUE + " metadata pages for " + LAYOUT.maxReplicas()
                + " replicas", refusedSuperblock(p -> p.putInt(Superblock.OFF_METADATA_PAGES, Integer.MAX_VALUE)));
        assertEquals("its geometry is inconsistent: room for 100000 replicas",
                refusedSuperblock(p -> p.putInt(Superblock.OFF_MAX_REPLICAS, 100_000)));
        assertEquals("its geometry is inconsistent: data at byte " + Layout.METADATA_START
                + ", within or not aligned after the metadata area",
                refusedSuperblock(p -> p.putLong(Superblock.OFF_DATA_OFFSET, Layout.METADATA_START)));
        long far = Long.MAX_VALUE / (4 << 20) * (4 << 20); // data beyond the device (its end once overflowed)
        assertEquals("its geometry is inconsistent: " + LAYOUT.clusterCount() + " clusters of 4194304 bytes from byte "
                + far + " on a device of " + (256L << 20) + " bytes",
                refusedSuperblock(p -> p.putLong(Superblock.OFF_DATA_OFFSET, far)));
        assertEquals("it lists 513 replicas, room for " + LAYOUT.maxReplicas(),
                refusedSuperblock(p -> p.putInt(Superblock.OFF_REPLICA_COUNT, 513)));
        assertEquals("pool name 'a\nb' is not one a pool can have", refusedSuperblock(p -> {
            p.put(Superblock.OFF_NAME, (byte) 3);
            p.put(Superblock.OFF_NAME + 1, "a\nb".getBytes());
        }));
    }

    @Test
    void aReplicaSizeItsDirectoryDoesNotMatchIsDamage() throws Exception {
        UUID replica = UUID.fromString("00000000-0000-4000-8000-000000000001");
        ByteBuffer page = ByteBuffer.allocate(Layout.PAGE).order(ByteOrder.LITTLE_ENDIAN);
        new ReplicaRecord(replica, "r", 8L << 20, true, false, 1, "", new int[] {-1}, new byte[] {-1})
                .encode(page, 3, 5, POOL, LAYOUT);
        assertEquals(8L << 20, ReplicaRecord.decode(page, LAYOUT).sizeBytes());
        for (long size : new long[] {Long.MAX_VALUE / 512 * 512, 1L << 62, (ClusterMapPage.ENTRIES + 1L) * (4 << 20), 1000}) {
            page.putLong(ReplicaRecord.OFF_SIZE, size);
            MetaPage.seal(page);
            String message = assertThrows(DamagedMetadataException.class, () -> ReplicaRecord.decode(page, LAYOUT)).getMessage();
            assertEquals(size == 1000 ? "replica size 1000" : "replica size " + size + " does not match its 1 cluster-map pages",
                    message);
        }
    }
}
