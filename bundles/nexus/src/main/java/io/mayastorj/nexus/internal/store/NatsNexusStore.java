package io.mayastorj.nexus.internal.store;

import io.nats.client.Connection;
import io.nats.client.JetStreamApiException;
import io.nats.client.KeyValue;
import io.nats.client.KeyValueManagement;
import io.nats.client.Nats;
import io.nats.client.Options;
import io.nats.client.api.KeyValueConfiguration;
import io.nats.client.api.KeyValueEntry;
import io.nats.client.api.StorageType;
import java.io.IOException;
import java.time.Duration;
import java.util.Optional;
import java.util.UUID;

/**
 * Nexus records in a NATS JetStream key-value bucket (file storage), one key per nexus UUID, so a
 * nexus can be re-created on another node from what its old node recorded. A put returns once the
 * server has stored it; while the server cannot be reached, saves fail and the nexus retries
 * (the writes that depend on them wait).
 */
public final class NatsNexusStore implements NexusStore, AutoCloseable {

    public static final String BUCKET = "mayastor-nexus";
    /** JetStream's error code for a write whose expected last sequence is not the stream's. */
    private static final int WRONG_LAST_SEQUENCE = 10071;

    private final String url;
    private final Connection connection;
    private final KeyValue bucket;

    public NatsNexusStore(String url) throws IOException {
        this.url = url;
        Options options = new Options.Builder().server(url).connectionTimeout(Duration.ofSeconds(5))
                .maxReconnects(-1).reconnectWait(Duration.ofMillis(500)).connectionName("mayastor-nexus").build();
        try {
            connection = Nats.connect(options);
            KeyValueManagement kvm = connection.keyValueManagement();
            if (!kvm.getBucketNames().contains(BUCKET)) {
                kvm.create(KeyValueConfiguration.builder().name(BUCKET).maxHistoryPerKey(1).storageType(StorageType.File)
                        .description("Mayastor-J: which children of each nexus hold every acknowledged write").build());
            }
            bucket = connection.keyValue(BUCKET);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while connecting to NATS at " + url, e);
        } catch (JetStreamApiException e) {
            throw new IOException("NATS at " + url + " has no usable JetStream (start nats-server with -js): " + e.getMessage(), e);
        }
    }

    @Override
    public long save(NexusRecord record, long expectedRevision) throws IOException {
        String key = record.uuid().toString();
        try {
            // compare-and-set on the key's last sequence: two nexuses of one volume, on two nodes,
            // can never both think they own the record
            return expectedRevision == 0 ? bucket.create(key, RecordFormat.encode(record))
                    : bucket.update(key, RecordFormat.encode(record), expectedRevision);
        } catch (JetStreamApiException e) {
            if (e.getApiErrorCode() == WRONG_LAST_SEQUENCE) {
                throw new Superseded("the record of nexus " + key + " in NATS is no longer at revision " + expectedRevision
                        + ": another nexus wrote it (" + e.getMessage() + ")");
            }
            throw new IOException("NATS refused the record: " + e.getMessage(), e);
        }
    }

    @Override
    public Optional<Stored> load(UUID uuid) throws IOException {
        try {
            KeyValueEntry e = bucket.get(uuid.toString());
            if (e == null || e.getValue() == null) {
                return Optional.empty();
            }
            return Optional.of(new Stored(RecordFormat.decode(e.getValue(), "for " + uuid + " in NATS bucket " + BUCKET),
                    e.getRevision()));
        } catch (JetStreamApiException e) {
            throw new IOException("NATS: " + e.getMessage(), e);
        }
    }

    @Override
    public void delete(UUID uuid) throws IOException {
        try {
            bucket.delete(uuid.toString());
        } catch (JetStreamApiException e) {
            throw new IOException("NATS: " + e.getMessage(), e);
        }
    }

    @Override
    public boolean shared() {
        return true;
    }

    @Override
    public String describe() {
        return "NATS bucket " + BUCKET + " at " + url;
    }

    @Override
    public void close() {
        try {
            connection.close();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
