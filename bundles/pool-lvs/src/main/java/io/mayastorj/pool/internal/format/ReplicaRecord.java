package io.mayastorj.pool.internal.format;

import java.nio.ByteBuffer;
import java.util.UUID;

/**
 * A replica's descriptor page (FORMAT.md, "Replica descriptor"): identity, size, flags, free-form
 * properties (share settings) and the directory of its cluster-map pages.
 *
 * @param mapPages logical page of each cluster-map page, -1 where the range holds no cluster yet
 * @param mapSlots the slot of each cluster-map page's committed version (version 2), -1 in version 1
 */
public record ReplicaRecord(UUID uuid, String name, long sizeBytes, boolean thin, boolean destroying,
                            long createdMillis, String properties, int[] mapPages, byte[] mapSlots) {

    public static final int MAX_NAME = 127;
    public static final int MAX_PROPERTIES = 1814;
    public static final int MAX_MAP_PAGES = 512;

    static final int OFF_UUID = 64;
    static final int OFF_SIZE = 80;
    static final int OFF_FLAGS = 88;
    static final int OFF_MAP_COUNT = 92;
    static final int OFF_CREATED = 96;
    static final int OFF_NAME = 104;
    static final int OFF_PROPERTIES = 232;
    static final int OFF_DIRECTORY = 2048;
    static final int FLAG_THIN = 1;
    static final int FLAG_DESTROYING = 2;

    public void encode(ByteBuffer page, long sequence, int pageNumber, UUID pool, Layout layout) {
        MetaPage.begin(page, sequence, pageNumber, MetaPage.KIND_REPLICA, pool, uuid);
        Strings.putUuid(page, OFF_UUID, uuid);
        page.putLong(OFF_SIZE, sizeBytes);
        page.putInt(OFF_FLAGS, (thin ? FLAG_THIN : 0) | (destroying ? FLAG_DESTROYING : 0));
        page.putInt(OFF_MAP_COUNT, mapPages.length);
        page.putLong(OFF_CREATED, createdMillis);
        Strings.put(page, OFF_NAME, 1, MAX_NAME, name);
        Strings.put(page, OFF_PROPERTIES, 2, MAX_PROPERTIES, properties);
        for (int i = 0; i < mapPages.length; i++) {
            page.putInt(OFF_DIRECTORY + 4 * i, mapPages[i] < 0 ? 0 : PageRef.encode(layout, mapPages[i] + 1, mapSlots[i]));
        }
        MetaPage.seal(page);
    }

    /** Decodes a page that {@link MetaPage#validSequence} accepted. */
    public static ReplicaRecord decode(ByteBuffer page, Layout layout) throws DamagedMetadataException {
        int count = page.getInt(OFF_MAP_COUNT);
        if (count < 0 || count > MAX_MAP_PAGES) {
            throw new DamagedMetadataException("cluster-map directory of " + count + " pages");
        }
        int[] maps = new int[count];
        byte[] slots = new byte[count];
        for (int i = 0; i < count; i++) {
            int ref = page.getInt(OFF_DIRECTORY + 4 * i);
            maps[i] = PageRef.page(layout, ref) - 1;
            slots[i] = maps[i] < 0 ? -1 : PageRef.slot(layout, ref);
            if (maps[i] < -1 || maps[i] >= layout.metadataPages()) {
                throw new DamagedMetadataException("cluster-map page " + maps[i] + " lies outside the metadata area");
            }
        }
        int flags = page.getInt(OFF_FLAGS);
        long size = page.getLong(OFF_SIZE);
        if (size <= 0 || size % layout.blockSize() != 0) {
            throw new DamagedMetadataException("replica size " + size);
        }
        long clusters = size / layout.clusterSize() + (size % layout.clusterSize() == 0 ? 0 : 1);
        if ((clusters + ClusterMapPage.ENTRIES - 1) / ClusterMapPage.ENTRIES != count) {
            // what the replica is sized by must agree with its directory, which is bounded
            throw new DamagedMetadataException("replica size " + size + " does not match its " + count + " cluster-map pages");
        }
        return new ReplicaRecord(Strings.getUuid(page, OFF_UUID), Strings.get(page, OFF_NAME, 1, MAX_NAME), size,
                (flags & FLAG_THIN) != 0, (flags & FLAG_DESTROYING) != 0, page.getLong(OFF_CREATED),
                Strings.get(page, OFF_PROPERTIES, 2, MAX_PROPERTIES), maps, slots);
    }
}
