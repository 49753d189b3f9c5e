package io.mayastorj.pool.internal.format;

import io.mayastorj.core.error.MayastorException;
import io.mayastorj.core.text.Sizes;

/**
 * Where things lie on a pool's device (FORMAT.md): the superblock slots, the metadata area (two
 * slots per logical page), the data clusters from a cluster-aligned offset and, from format version
 * 2, a second copy of every metadata block at the end of the device.
 *
 * @param version       the format version: 1 (one copy of the metadata) or 2 (two copies)
 * @param blockSize     the device's block size
 * @param clusterSize   bytes per data cluster
 * @param deviceBytes   the device's size when the pool was made; version 2 keeps its second copy
 *                      of the metadata in the last whole pages below it
 * @param metadataPages logical metadata pages
 * @param maxReplicas   replicas the pool can hold
 * @param dataOffset    byte offset of data cluster 0
 * @param clusterCount  data clusters
 */
public record Layout(int version, int blockSize, int clusterSize, long deviceBytes, int metadataPages,
                     int maxReplicas, long dataOffset, int clusterCount) {

    public static final int PAGE = 4096;
    public static final long METADATA_START = 2L * PAGE;
    public static final int MIB = 1 << 20;
    public static final int DEFAULT_CLUSTER_SIZE = 4 * MIB;
    public static final int MAX_CLUSTER_SIZE = 1 << 30;
    public static final int MIN_REPLICAS = 16;
    public static final int MAX_REPLICAS = Superblock.MAX_REPLICAS;
    /**
     * The cluster size a pool on a device of {@code deviceBytes} gets when none is asked for: 4 MiB,
     * or the smallest power-of-two multiple of it with which a replica as large as the device can be
     * mapped (a replica maps at most {@link ReplicaRecord#MAX_MAP_PAGES} pages of
     * {@link ClusterMapPage#ENTRIES} clusters: with 4 MiB clusters, 1.97 TiB — a 2 TiB volume on a
     * larger disk was refused).
     */
    public static int defaultClusterSize(long deviceBytes) {
        long mappable = (long) ReplicaRecord.MAX_MAP_PAGES * ClusterMapPage.ENTRIES;
        long size = DEFAULT_CLUSTER_SIZE;
        while (size < MAX_CLUSTER_SIZE && size * mappable < deviceBytes) {
            size <<= 1;
        }
        return (int) size;
    }

    /** The format new pools get. */
    public static final int CURRENT_VERSION = 2;

    /**
     * The layout for a new pool of the current format.
     *
     * @throws MayastorException INVALID_ARGUMENT for a cluster size that is not a multiple of 1 MiB
     *                           in 1 MiB..1 GiB, and for a device too small to hold one data cluster
     */
    public static Layout compute(long deviceBytes, int blockSize, int clusterSize) {
        return compute(CURRENT_VERSION, deviceBytes, blockSize, clusterSize);
    }

    /** The layout for a new pool of format {@code version} (1 only for tests of old pools). */
    public static Layout compute(int version, long deviceBytes, int blockSize, int clusterSize) {
        if (clusterSize < MIB || clusterSize > MAX_CLUSTER_SIZE || clusterSize % MIB != 0) {
            throw MayastorException.invalidArgument(
                    "cluster size %d: it must be a multiple of 1 MiB between 1 MiB and 1 GiB", clusterSize);
        }
        if (blockSize != 512 && blockSize != 4096) {
            throw MayastorException.invalidArgument("a pool needs a device of 512- or 4096-byte blocks, not %d", blockSize);
        }
        long usable = version >= 2 ? alignDown(deviceBytes, PAGE) : deviceBytes;
        long estimate = deviceBytes / clusterSize;
        Layout layout = null;
        for (int round = 0; round < 8; round++) {
            int clusters = (int) Math.max(0, Math.min(estimate, Integer.MAX_VALUE - MAX_REPLICAS));
            int replicas = Math.max(MIN_REPLICAS, Math.min(MAX_REPLICAS, clusters));
            // at worst every allocated cluster needs a map page of its own
            long mapPages = Math.min(clusters, (long) replicas * ReplicaRecord.MAX_MAP_PAGES);
            int pages = (int) (mapPages + replicas);
            long dataOffset = align(METADATA_START + 2L * pages * PAGE, clusterSize);
            long dataEnd = usable - (version >= 2 ? mirrorBytes(pages) : 0);
            long fit = dataEnd > dataOffset ? (dataEnd - dataOffset) / clusterSize : 0;
            layout = new Layout(version, blockSize, clusterSize, deviceBytes, pages, replicas, dataOffset,
                    (int) Math.min(fit, clusters));
            if (fit == clusters || fit == estimate) {
                break;
            }
            estimate = fit;
        }
        if (layout.clusterCount() < 1) {
            int pages = 1 + MIN_REPLICAS;
            long minimum = align(METADATA_START + 2L * pages * PAGE, clusterSize) + clusterSize
                    + (version >= 2 ? mirrorBytes(pages) : 0);
            throw MayastorException.invalidArgument(
                    "the device holds %s, too small for a pool with %s clusters: it needs at least %s",
                    Sizes.human(deviceBytes), Sizes.human(clusterSize), Sizes.human(minimum));
        }
        return layout;
    }

    /**
     * Why a geometry read from a device cannot be one {@link #compute} made (a hostile or damaged
     * superblock whose checksum holds), or null. Checked before anything is sized by it: a page
     * count or offset taken on trust could ask for gigabytes of tables or address metadata as data.
     */
    public String inconsistency() {
        if (blockSize != 512 && blockSize != 4096) {
            return "block size " + blockSize;
        }
        if (clusterSize < MIB || clusterSize > MAX_CLUSTER_SIZE || clusterSize % MIB != 0) {
            return "cluster size " + clusterSize;
        }
        if (maxReplicas < MIN_REPLICAS || maxReplicas > MAX_REPLICAS) {
            return "room for " + maxReplicas + " replicas";
        }
        if (metadataPages < 1 || metadataPages > (long) maxReplicas * (1 + ReplicaRecord.MAX_MAP_PAGES)) {
            return metadataPages + " metadata pages for " + maxReplicas + " replicas";
        }
        if (dataOffset < METADATA_START + 2L * metadataPages * PAGE || dataOffset % clusterSize != 0) {
            return "data at byte " + dataOffset + ", within or not aligned after the metadata area";
        }
        if (clusterCount < 1 || deviceBytes < dataOffset || (deviceBytes - dataOffset) / clusterSize < clusterCount) {
            return clusterCount + " clusters of " + clusterSize + " bytes from byte " + dataOffset + " on a device of "
                    + deviceBytes + " bytes";
        }
        return null;
    }

    static long align(long value, long unit) {
        return (value + unit - 1) / unit * unit;
    }

    static long alignDown(long value, long unit) {
        return value / unit * unit;
    }

    /** Bytes of the second copy: the metadata area's slots and the two superblock slots. */
    private static long mirrorBytes(int pages) {
        return METADATA_START + 2L * pages * PAGE;
    }

    /** True when every metadata block has a second copy at the end of the device (version 2). */
    public boolean mirrored() {
        return version >= 2;
    }

    /** Byte offset of one slot (0 or 1) of a logical metadata page, first copy. */
    public long pageOffset(int page, int slot) {
        return METADATA_START + (2L * page + slot) * PAGE;
    }

    /** Byte offset of one slot of a logical metadata page, second copy (version 2). */
    public long mirrorPageOffset(int page, int slot) {
        return mirrorStart() + (2L * page + slot) * PAGE;
    }

    /** Byte offset of a superblock slot, first copy. */
    public static long superblockOffset(int slot) {
        return (long) slot * PAGE;
    }

    /** Byte offset of a superblock slot, second copy (version 2): the device's last two whole pages. */
    public long mirrorSuperblockOffset(int slot) {
        return mirrorSuperblockOffset(deviceBytes, slot);
    }

    /** Where the second copy of a superblock slot lies on a device of {@code deviceBytes}. */
    public static long mirrorSuperblockOffset(long deviceBytes, int slot) {
        return alignDown(deviceBytes, PAGE) - (2L - slot) * PAGE;
    }

    /** Byte offset of the second copy of the metadata area; the superblock copies follow it. */
    public long mirrorStart() {
        return alignDown(deviceBytes, PAGE) - mirrorBytes(metadataPages);
    }

    /** The bytes the pool needs on its device: up to the last data cluster, or the second copy's end. */
    public long bytesNeeded() {
        return mirrored() ? alignDown(deviceBytes, PAGE) : dataOffset + capacity();
    }

    public long clusterOffset(int cluster) {
        return dataOffset + (long) cluster * clusterSize;
    }

    public long capacity() {
        return (long) clusterCount * clusterSize;
    }
}
