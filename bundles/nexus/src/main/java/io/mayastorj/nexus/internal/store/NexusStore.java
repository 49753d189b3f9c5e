package io.mayastorj.nexus.internal.store;

import java.io.IOException;
import java.util.Optional;
import java.util.UUID;

/**
 * Where nexus records live: a file per nexus on the node (the embedded default), or a NATS
 * key-value bucket when the node has a NATS URL. Calls are blocking and come from the nexus
 * control thread; a save returns only when the record is durable.
 *
 * <p>Every save names the revision it replaces. A nexus that finds the record rewritten by
 * someone else — the nexus that took its volume over on another node — has been superseded: it
 * must not acknowledge another write ({@link Superseded}).
 */
public interface NexusStore {

    /** A record and the revision it was stored at. */
    record Stored(NexusRecord record, long revision) {
    }

    /** The record was rewritten by another nexus since this one read or wrote it. */
    final class Superseded extends IOException {
        public Superseded(String message) {
            super(message);
        }
    }

    /**
     * Stores {@code record} in place of revision {@code expectedRevision} (0: there must be none)
     * and returns the new revision.
     *
     * @throws Superseded when the stored revision is another
     */
    long save(NexusRecord record, long expectedRevision) throws IOException;

    Optional<Stored> load(UUID uuid) throws IOException;

    void delete(UUID uuid) throws IOException;

    /**
     * Whether nexuses on other nodes read and write these records too (NATS): then a nexus here can
     * be superseded while it runs, and checks that it was not.
     */
    default boolean shared() {
        return false;
    }

    /** For people: "file /var/lib/…/nexus", "NATS bucket mayastor-nexus at nats://…". */
    String describe();
}
