package io.mayastorj.pool.internal.format;

import java.nio.ByteBuffer;
import java.util.UUID;

/**
 * One page of a replica's cluster map (FORMAT.md, "Cluster map"): for {@link #ENTRIES} consecutive
 * replica clusters, the data cluster that holds each, plus one (0: not allocated).
 */
public final class ClusterMapPage {

    public static final int ENTRIES = (Layout.PAGE - MetaPage.HEADER) / 4;

    private ClusterMapPage() {
    }

    public static void encode(ByteBuffer page, long sequence, int pageNumber, UUID pool, UUID owner, int[] entries) {
        MetaPage.begin(page, sequence, pageNumber, MetaPage.KIND_CLUSTER_MAP, pool, owner);
        for (int i = 0; i < ENTRIES; i++) {
            page.putInt(MetaPage.HEADER + 4 * i, entries[i]);
        }
        MetaPage.seal(page);
    }

    public static int[] decode(ByteBuffer page, int clusterCount) throws DamagedMetadataException {
        int[] entries = new int[ENTRIES];
        for (int i = 0; i < ENTRIES; i++) {
            entries[i] = page.getInt(MetaPage.HEADER + 4 * i);
            if (entries[i] < 0 || entries[i] > clusterCount) {
                throw new DamagedMetadataException("cluster " + (entries[i] - 1) + " lies outside the data area");
            }
        }
        return entries;
    }
}
