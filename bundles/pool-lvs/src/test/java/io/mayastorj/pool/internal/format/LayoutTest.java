package io.mayastorj.pool.internal.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class LayoutTest {

    private static final long GIB = 1L << 30;
    private static final long TIB = 1L << 40;

    /**
     * Review finding: a pool got 4 MiB clusters whatever its disk, and a replica maps at most 512 map
     * pages of 1008 clusters: 1.97 TiB. A 2 TiB volume on a 4 TiB disk was refused (INVALID_ARGUMENT)
     * by every pool the control plane made. A pool made without a cluster size now maps a replica as
     * large as its disk.
     */
    @Test
    void aPoolWithoutAClusterSizeMapsAReplicaAsLargeAsItsDisk() {
        assertEquals(4 << 20, Layout.defaultClusterSize(100 * GIB));
        assertEquals(4 << 20, Layout.defaultClusterSize(1L * TIB));
        assertEquals(8 << 20, Layout.defaultClusterSize(2L * TIB));
        assertEquals(8 << 20, Layout.defaultClusterSize(3L * TIB));
        assertEquals(16 << 20, Layout.defaultClusterSize(5L * TIB));
        assertEquals(1 << 30, Layout.defaultClusterSize(Long.MAX_VALUE), "at most the largest a pool takes");
        for (long disk : new long[] {GIB, 2 * TIB - 1, 2 * TIB, 7 * TIB, 100 * TIB}) {
            long mappable = (long) ReplicaRecord.MAX_MAP_PAGES * ClusterMapPage.ENTRIES * Layout.defaultClusterSize(disk);
            assertTrue(mappable >= disk, disk + " bytes: a replica maps " + mappable);
        }
    }
}
