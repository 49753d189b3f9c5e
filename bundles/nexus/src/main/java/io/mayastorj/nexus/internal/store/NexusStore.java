package io.mayastorj.nexus.internal.store;

import java.io.IOException;
import java.util.Optional;
import java.util.UUID;

/**
 * Where nexus records live: a file per nexus on the node (the embedded default), or a NATS
 * key-value bucket when the node has a NATS URL. Calls are blocking and come from the nexus
 * control thread; a save returns only when the record is durable.
 */
public interface NexusStore {

    void save(NexusRecord record) throws IOException;

    Optional<NexusRecord> load(UUID uuid) throws IOException;

    void delete(UUID uuid) throws IOException;

    /** For people: "file /var/lib/…/nexus", "NATS bucket mayastor-nexus at nats://…". */
    String describe();
}
