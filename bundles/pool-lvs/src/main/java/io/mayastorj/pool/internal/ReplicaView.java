package io.mayastorj.pool.internal;

import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * A replica as listings show it (gRPC, shell): healthy ones with their usage and share, damaged
 * ones with the reason.
 */
public record ReplicaView(String pool, UUID poolUuid, UUID uuid, String name, long size, boolean thin,
                          long allocatedBytes, long clustersAllocated, int clusterSize, String shareProtocol,
                          String shareUri, List<String> allowedHosts, boolean damaged, String reason) {

    public static ReplicaView of(PoolManager pools, Replica r) {
        ReplicaShare share = ReplicaShare.parse(r.properties);
        long clusters;
        synchronized (r.pool.lock) {
            clusters = r.allocatedClusters;
        }
        int clusterSize = r.pool.layout.clusterSize();
        // the size I/O can reach: a grow whose commit failed is not one (the pool is faulted, the replica as it was)
        return new ReplicaView(r.pool.name(), r.pool.uuid(), r.uuid(), r.replicaName, r.blockCount() * r.blockSize(), r.thin,
                clusters * clusterSize, clusters, clusterSize, share.protocol(), pools.shareUri(r).orElse(null),
                share.allowedHosts(), false, null);
    }

    /** Every replica, healthy and damaged, of one pool or of all. */
    public static List<ReplicaView> all(PoolManager pools, String poolName) {
        List<ReplicaView> views = new ArrayList<>();
        List<PoolManager.Entry> entries = poolName == null || poolName.isEmpty() ? pools.pools() : List.of(pools.find(poolName));
        for (PoolManager.Entry entry : entries) {
            LvStore store = entry.store;
            if (store == null) {
                continue;
            }
            for (Replica r : store.replicas()) {
                views.add(of(pools, r));
            }
            for (DamagedReplica d : store.damagedReplicas()) {
                views.add(new ReplicaView(store.name(), store.uuid(), d.id(store.uuid()), d.name(), 0, false, 0, 0,
                        store.layout.clusterSize(), null, null, List.of(), true, d.reason()));
            }
        }
        return views;
    }
}
