package io.mayastorj.nexus.internal.store;

import java.util.List;
import java.util.UUID;

/**
 * What survives a nexus: which of its children were healthy (in sync), and since when, and
 * whether it was shut down cleanly. Written before any write that depends on it is acknowledged,
 * so that a nexus re-created after a crash — on this node or another — uses only children that
 * hold every acknowledged write.
 *
 * @param incarnation how many nexuses have served this volume; each takes its own range of NVMe
 *                    controller IDs from it, so that a host keeps paths to the old and the new one
 */
public record NexusRecord(UUID uuid, String name, long sizeBytes, boolean cleanShutdown, int incarnation,
                          List<ChildRecord> children) {

    /**
     * @param uri     how this nexus opened the child
     * @param replica what the child is, wherever it is opened from: the {@code uuid} in its URI (a
     *                replica's UUID), else the URI; a nexus on another node opens the same replica
     *                by another URI ({@code bdev:///U} there, {@code nvmf://…} here)
     */
    public record ChildRecord(String uri, String replica, boolean healthy, long sinceMillis) {
    }

    public NexusRecord {
        children = List.copyOf(children);
    }

    /**
     * What a child URI names: its {@code uuid} parameter; else, for a local bdev ({@code bdev:///N},
     * a replica named by its uuid), its name; else the whole URI — two remote URIs without a uuid
     * are never taken for one replica.
     */
    public static String replicaOf(String uri) {
        int q = uri.indexOf('?');
        if (q >= 0) {
            for (String param : uri.substring(q + 1).split("&")) {
                if (param.startsWith("uuid=") && param.length() > 5) {
                    return param.substring(5).toLowerCase(java.util.Locale.ROOT);
                }
            }
        }
        String path = q < 0 ? uri : uri.substring(0, q);
        for (String local : new String[] {"bdev:///", "loopback:///"}) {
            if (path.startsWith(local) && path.length() > local.length()) {
                return path.substring(local.length()).toLowerCase(java.util.Locale.ROOT);
            }
        }
        return uri;
    }
}
