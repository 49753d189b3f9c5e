package io.mayastorj.pool.internal.format;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.UUID;

/**
 * The pool's root and commit record (FORMAT.md, "Superblock"), one 4 KiB page kept in two slots
 * written alternately, each slot in two copies from format version 2. It names the slot that holds
 * the committed version of each replica's descriptor (version 2; -1 in version 1, where the slot
 * with the highest sequence not above the commit's is the committed one).
 *
 * @param replicaPages     the descriptor page of each replica
 * @param replicaSlots     the slot (0, 1) of each descriptor's committed version; -1 in version 1
 * @param reservedClusters clusters handed to the allocator but not yet mapped
 */
public record Superblock(long sequence, UUID poolUuid, String name, Layout layout, long createdMillis,
                         int[] replicaPages, byte[] replicaSlots, int[] reservedClusters) {

    public static final byte[] MAGIC = "MJ-POOL1".getBytes(StandardCharsets.US_ASCII);
    /** Versions this node reads; it writes a pool in the version it was made with. */
    public static final int MIN_VERSION = 1;
    public static final int MAX_VERSION = 2;
    /** The copy field (version 2): which of the two copies a superblock page was written as. */
    public static final int FIRST_COPY = 0;
    public static final int SECOND_COPY = 1;
    static final int MAX_NAME = 63;
    public static final int MAX_REPLICAS = 512;
    /** Clusters handed to the allocator but not yet mapped: they may hold data of uncommitted writes. */
    public static final int MAX_RESERVED = (Layout.PAGE - 2304) / 4;

    // field offsets
    static final int OFF_MAGIC = 0;
    static final int OFF_VERSION = 8;
    static final int OFF_CRC = 12;
    static final int OFF_SEQUENCE = 16;
    static final int OFF_UUID = 24;
    static final int OFF_BLOCK_SIZE = 40;
    static final int OFF_CLUSTER_SIZE = 44;
    static final int OFF_DEVICE_BYTES = 48;
    static final int OFF_METADATA_PAGES = 56;
    static final int OFF_MAX_REPLICAS = 60;
    static final int OFF_DATA_OFFSET = 64;
    static final int OFF_CLUSTER_COUNT = 72;
    static final int OFF_REPLICA_COUNT = 76;
    static final int OFF_CREATED = 80;
    static final int OFF_NAME = 88;
    static final int OFF_RESERVED_COUNT = 152;
    static final int OFF_COPY = 156;
    static final int OFF_REPLICAS = 256;
    static final int OFF_RESERVED = 2304;

    public static boolean validName(String name) {
        return name != null && !name.isEmpty() && name.getBytes(StandardCharsets.UTF_8).length <= MAX_NAME
                && name.matches("[A-Za-z0-9][A-Za-z0-9._-]*");
    }

    /** Encodes the superblock as copy {@code copy} (version 2; ignored in version 1). */
    public void encode(ByteBuffer page, int copy) {
        page.order(ByteOrder.LITTLE_ENDIAN);
        page.put(0, new byte[Layout.PAGE]);
        page.put(OFF_MAGIC, MAGIC);
        page.putInt(OFF_VERSION, layout.version());
        page.putLong(OFF_SEQUENCE, sequence);
        Strings.putUuid(page, OFF_UUID, poolUuid);
        page.putInt(OFF_BLOCK_SIZE, layout.blockSize());
        page.putInt(OFF_CLUSTER_SIZE, layout.clusterSize());
        page.putLong(OFF_DEVICE_BYTES, layout.deviceBytes());
        page.putInt(OFF_METADATA_PAGES, layout.metadataPages());
        page.putInt(OFF_MAX_REPLICAS, layout.maxReplicas());
        page.putLong(OFF_DATA_OFFSET, layout.dataOffset());
        page.putInt(OFF_CLUSTER_COUNT, layout.clusterCount());
        page.putInt(OFF_REPLICA_COUNT, replicaPages.length);
        page.putLong(OFF_CREATED, createdMillis);
        Strings.put(page, OFF_NAME, 1, MAX_NAME, name);
        for (int i = 0; i < replicaPages.length; i++) {
            page.putInt(OFF_REPLICAS + 4 * i, PageRef.encode(layout, replicaPages[i], replicaSlots[i]));
        }
        if (layout.mirrored()) {
            page.putInt(OFF_COPY, copy);
        }
        page.putInt(OFF_RESERVED_COUNT, reservedClusters.length);
        for (int i = 0; i < reservedClusters.length; i++) {
            page.putInt(OFF_RESERVED + 4 * i, reservedClusters[i]);
        }
        page.putInt(OFF_CRC, Crc.of(page, OFF_CRC));
    }

    /** True when the page starts with the pool magic, whatever else is wrong with it. */
    public static boolean hasMagic(ByteBuffer page) {
        byte[] magic = new byte[MAGIC.length];
        page.get(OFF_MAGIC, magic);
        return Arrays.equals(magic, MAGIC);
    }

    /**
     * Decodes and checks a superblock page.
     *
     * @param copy the copy it was read as (version 2 checks it): {@link #FIRST_COPY} or {@link #SECOND_COPY}
     */
    public static Superblock decode(ByteBuffer page, int copy) throws DamagedMetadataException {
        page.order(ByteOrder.LITTLE_ENDIAN);
        if (!hasMagic(page)) {
            throw new DamagedMetadataException("no pool signature");
        }
        if (page.getInt(OFF_CRC) != Crc.of(page, OFF_CRC)) {
            throw new DamagedMetadataException("checksum mismatch");
        }
        int version = page.getInt(OFF_VERSION);
        if (version < MIN_VERSION || version > MAX_VERSION) {
            throw new DamagedMetadataException("format version " + version + " (this node reads " + MIN_VERSION
                    + " to " + MAX_VERSION + ")");
        }
        if (version >= 2 && page.getInt(OFF_COPY) != copy) {
            throw new DamagedMetadataException("it is copy " + page.getInt(OFF_COPY) + " of the superblock, not copy " + copy);
        }
        Layout layout = new Layout(version, page.getInt(OFF_BLOCK_SIZE), page.getInt(OFF_CLUSTER_SIZE),
                page.getLong(OFF_DEVICE_BYTES), page.getInt(OFF_METADATA_PAGES), page.getInt(OFF_MAX_REPLICAS),
                page.getLong(OFF_DATA_OFFSET), page.getInt(OFF_CLUSTER_COUNT));
        String inconsistency = layout.inconsistency();
        if (inconsistency != null) {
            throw new DamagedMetadataException("its geometry is inconsistent: " + inconsistency);
        }
        int count = page.getInt(OFF_REPLICA_COUNT);
        if (count < 0 || count > layout.maxReplicas()) {
            throw new DamagedMetadataException("it lists " + count + " replicas, room for " + layout.maxReplicas());
        }
        if (layout.mirrored() && layout.mirrorStart() < layout.dataOffset() + layout.capacity()) {
            throw new DamagedMetadataException("its second copy would overlap the data area");
        }
        int[] replicas = new int[count];
        byte[] slots = new byte[count];
        for (int i = 0; i < count; i++) {
            int ref = page.getInt(OFF_REPLICAS + 4 * i);
            replicas[i] = PageRef.page(layout, ref);
            slots[i] = PageRef.slot(layout, ref);
            if (replicas[i] < 0 || replicas[i] >= layout.metadataPages()) {
                throw new DamagedMetadataException("replica page " + replicas[i] + " lies outside the metadata area");
            }
            for (int j = 0; j < i; j++) {
                if (replicas[j] == replicas[i]) {
                    throw new DamagedMetadataException("replica page " + replicas[i] + " is listed twice");
                }
            }
        }
        int reservedCount = page.getInt(OFF_RESERVED_COUNT);
        if (reservedCount < 0 || reservedCount > MAX_RESERVED) {
            throw new DamagedMetadataException("superblock lists " + reservedCount + " reserved clusters");
        }
        int[] reserved = new int[reservedCount];
        for (int i = 0; i < reservedCount; i++) {
            reserved[i] = page.getInt(OFF_RESERVED + 4 * i);
            if (reserved[i] < 0 || reserved[i] >= layout.clusterCount()) {
                throw new DamagedMetadataException("reserved cluster " + reserved[i] + " lies outside the data area");
            }
        }
        String name = Strings.get(page, OFF_NAME, 1, MAX_NAME);
        if (!validName(name)) {
            throw new DamagedMetadataException("pool name '" + name + "' is not one a pool can have");
        }
        return new Superblock(page.getLong(OFF_SEQUENCE), Strings.getUuid(page, OFF_UUID), name, layout, page.getLong(OFF_CREATED), replicas, slots, reserved);
    }
}
