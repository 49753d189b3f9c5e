package io.mayastorj.pool.internal.format;

import io.mayastorj.core.error.MayastorException;
import io.mayastorj.core.text.Sizes;

/**
 * Where things lie on a pool's device (FORMAT.md): two superblock slots, the metadata area (two
 * slots per logical page), then the data clusters from a cluster-aligned offset.
 *
 * @param blockSize     the device's block size
 * @param clusterSize   bytes per data cluster
 * @param deviceBytes   the device's size when the pool was made
 * @param metadataPages logical metadata pages
 * @param maxReplicas   replicas the pool can hold
 * @param dataOffset    byte offset of data cluster 0
 * @param clusterCount  data clusters
 */
public record Layout(int blockSize, int clusterSize, long deviceBytes, int metadataPages, int maxReplicas,
                     long dataOffset, int clusterCount) {

    public static final int PAGE = 4096;
    public static final long METADATA_START = 2L * PAGE;
    public static final int MIB = 1 << 20;
    public static final int DEFAULT_CLUSTER_SIZE = 4 * MIB;
    public static final int MAX_CLUSTER_SIZE = 1 << 30;
    public static final int MIN_REPLICAS = 16;
    public static final int MAX_REPLICAS = Superblock.MAX_REPLICAS;

    /**
     * The layout for a new pool.
     *
     * @throws MayastorException INVALID_ARGUMENT for a cluster size that is not a multiple of 1 MiB
     *                           in 1 MiB..1 GiB, and for a device too small to hold one data cluster
     */
    public static Layout compute(long deviceBytes, int blockSize, int clusterSize) {
        if (clusterSize < MIB || clusterSize > MAX_CLUSTER_SIZE || clusterSize % MIB != 0) {
            throw MayastorException.invalidArgument(
                    "cluster size %d: it must be a multiple of 1 MiB between 1 MiB and 1 GiB", clusterSize);
        }
        if (blockSize != 512 && blockSize != 4096) {
            throw MayastorException.invalidArgument("a pool needs a device of 512- or 4096-byte blocks, not %d", blockSize);
        }
        long estimate = deviceBytes / clusterSize;
        Layout layout = null;
        for (int round = 0; round < 8; round++) {
            int clusters = (int) Math.max(0, Math.min(estimate, Integer.MAX_VALUE - MAX_REPLICAS));
            int replicas = Math.max(MIN_REPLICAS, Math.min(MAX_REPLICAS, clusters));
            // at worst every allocated cluster needs a map page of its own
            long mapPages = Math.min(clusters, (long) replicas * ReplicaRecord.MAX_MAP_PAGES);
            int pages = (int) (mapPages + replicas);
            long dataOffset = align(METADATA_START + 2L * pages * PAGE, clusterSize);
            long fit = deviceBytes > dataOffset ? (deviceBytes - dataOffset) / clusterSize : 0;
            layout = new Layout(blockSize, clusterSize, deviceBytes, pages, replicas, dataOffset, (int) Math.min(fit, clusters));
            if (fit == clusters || fit == estimate) {
                break;
            }
            estimate = fit;
        }
        if (layout.clusterCount() < 1) {
            long minimum = align(METADATA_START + 2L * (1 + MIN_REPLICAS) * PAGE, clusterSize) + clusterSize;
            throw MayastorException.invalidArgument(
                    "the device holds %s, too small for a pool with %s clusters: it needs at least %s",
                    Sizes.human(deviceBytes), Sizes.human(clusterSize), Sizes.human(minimum));
        }
        return layout;
    }

    static long align(long value, long unit) {
        return (value + unit - 1) / unit * unit;
    }

    /** Byte offset of one slot (0 or 1) of a logical metadata page. */
    public long pageOffset(int page, int slot) {
        return METADATA_START + (2L * page + slot) * PAGE;
    }

    /** Byte offset of a superblock slot. */
    public static long superblockOffset(int slot) {
        return (long) slot * PAGE;
    }

    public long clusterOffset(int cluster) {
        return dataOffset + (long) cluster * clusterSize;
    }

    public long capacity() {
        return (long) clusterCount * clusterSize;
    }
}
