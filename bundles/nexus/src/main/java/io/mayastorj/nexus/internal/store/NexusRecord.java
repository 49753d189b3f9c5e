package io.mayastorj.nexus.internal.store;

import java.util.List;
import java.util.UUID;

/**
 * What survives a nexus: which of its children were healthy (in sync), and since when, and
 * whether it was shut down cleanly. Written before any write that depends on it is acknowledged,
 * so that a nexus re-created after a crash uses only children that hold every acknowledged write.
 */
public record NexusRecord(UUID uuid, String name, long sizeBytes, boolean cleanShutdown, List<ChildRecord> children) {

    public record ChildRecord(String uri, boolean healthy, long sinceMillis) {
    }

    public NexusRecord {
        children = List.copyOf(children);
    }
}
