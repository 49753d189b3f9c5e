package io.mayastorj.control.internal.nodes;

import io.nats.client.Connection;
import io.nats.client.KeyValue;
import io.nats.client.api.KeyValueEntry;
import java.io.IOException;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;

/**
 * The nexus records the nodes keep in NATS JetStream (bucket {@value #BUCKET}, one key per nexus
 * UUID — a volume's uid — in the text format of the nexus bundle's README): which replicas held
 * every acknowledged write when the nexus last recorded it. A nexus writes its record before it
 * acknowledges a write that depends on it, so when the nexus's node is lost this — not the
 * volume's status, which lags — says which replicas a new nexus may serve from.
 */
public final class NexusRecords {

    public static final String BUCKET = "mayastor-nexus";

    /**
     * A volume's record: the replica UUIDs in sync, whether the nexus was shut down cleanly, and the
     * incarnation of the nexus that wrote it.
     */
    public record Record(Set<String> inSync, boolean cleanShutdown, long revision, int incarnation) {
    }

    /** A record that was read and cannot be understood: no later read says more (unlike NATS being away). */
    public static final class Damaged extends IOException {
        Damaged(String message, Throwable cause) {
            super(message, cause);
        }
    }

    private final java.util.function.Supplier<Connection> connection;

    /** @param connection the NATS connection, null while it is not made yet */
    public NexusRecords(java.util.function.Supplier<Connection> connection) {
        this.connection = connection;
    }

    /**
     * The record of nexus {@code uuid}; empty when no nexus of it ever wrote one there.
     *
     * @throws IOException when NATS cannot be asked (the caller must not guess)
     */
    public Optional<Record> get(String uuid) throws IOException {
        Connection connection = this.connection.get();
        if (connection == null) {
            throw new IOException("not connected to NATS yet");
        }
        try {
            if (connection.getStatus() != Connection.Status.CONNECTED) {
                throw new IOException("not connected to NATS (" + connection.getStatus() + ")");
            }
            if (!connection.keyValueManagement().getBucketNames().contains(BUCKET)) {
                return Optional.empty();
            }
            KeyValue bucket = connection.keyValue(BUCKET);
            KeyValueEntry e = bucket.get(uuid);
            if (e == null || e.getValue() == null) {
                return Optional.empty();
            }
            return Optional.of(parse(e.getValue(), e.getRevision()));
        } catch (io.nats.client.JetStreamApiException e) {
            throw new IOException("NATS JetStream: " + io.mayastorj.core.text.Redaction.withoutCredentials(e.getMessage()), e);
        } catch (IllegalStateException e) {
            throw new IOException(io.mayastorj.core.text.Redaction.withoutCredentials(e.getMessage()), e);
        }
    }

    /**
     * Removes the record of a deleted volume; nothing when there is none.
     *
     * @throws IOException when NATS cannot be asked
     */
    public void delete(String uuid) throws IOException {
        Connection connection = this.connection.get();
        if (connection == null || connection.getStatus() != Connection.Status.CONNECTED) {
            throw new IOException("not connected to NATS");
        }
        try {
            if (connection.keyValueManagement().getBucketNames().contains(BUCKET)) {
                connection.keyValue(BUCKET).purge(uuid); // its history too: a deleted volume's uid never comes back
            }
        } catch (io.nats.client.JetStreamApiException e) {
            throw new IOException("NATS JetStream: " + io.mayastorj.core.text.Redaction.withoutCredentials(e.getMessage()), e);
        } catch (IllegalStateException e) {
            throw new IOException(io.mayastorj.core.text.Redaction.withoutCredentials(e.getMessage()), e);
        }
    }

    /**
     * Drops the markers purges leave (one per deleted volume, kept in the stream for good otherwise)
     * once they are 30 minutes old: a watcher long behind has had time to see them.
     */
    public void dropPurgeMarkers() throws IOException {
        Connection connection = this.connection.get();
        if (connection == null || connection.getStatus() != Connection.Status.CONNECTED) {
            throw new IOException("not connected to NATS");
        }
        try {
            if (connection.keyValueManagement().getBucketNames().contains(BUCKET)) {
                connection.keyValue(BUCKET).purgeDeletes(io.nats.client.api.KeyValuePurgeOptions.builder()
                        .deleteMarkersThreshold(java.time.Duration.ofMinutes(30)).build());
            }
        } catch (io.nats.client.JetStreamApiException | InterruptedException e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            throw new IOException("NATS JetStream: " + io.mayastorj.core.text.Redaction.withoutCredentials(e.getMessage()), e);
        } catch (IllegalStateException e) {
            throw new IOException(io.mayastorj.core.text.Redaction.withoutCredentials(e.getMessage()), e);
        }
    }

    static Record parse(byte[] text, long revision) throws IOException {
        Properties p = new Properties();
        Set<String> inSync = new TreeSet<>();
        int incarnation;
        try {
            // inside: a malformed unicode escape is an IllegalArgumentException, which callers did not catch (the volume's
            // every pass failed on it)
            p.load(new StringReader(new String(text, StandardCharsets.UTF_8)));
            incarnation = Integer.parseInt(p.getProperty("incarnation", "0"));
            int n = Integer.parseInt(p.getProperty("children", "0"));
            if (n < 0 || n > p.size()) { // each child has keys of its own: a count past them is damage (2^31 lookups a pass)
                throw new IllegalArgumentException("children=" + n + " with " + p.size() + " keys in all");
            }
            for (int i = 0; i < n; i++) {
                if (Boolean.parseBoolean(p.getProperty("child." + i + ".healthy"))) {
                    String replica = p.getProperty("child." + i + ".replica");
                    inSync.add(replica != null ? replica : replicaOf(p.getProperty("child." + i + ".uri", "")));
                }
            }
        } catch (IllegalArgumentException e) {
            throw new Damaged("a damaged nexus record: " + io.mayastorj.core.text.Redaction.withoutCredentials(e.getMessage()), e);
        }
        return new Record(inSync, Boolean.parseBoolean(p.getProperty("clean_shutdown")), revision, incarnation);
    }

    /**
     * What a child URI names, as the nexus records it: its uuid parameter; else a local bdev's name
     * ({@code bdev:///U}: a replica's uuid); else the whole URI.
     */
    public static String replicaOf(String uri) {
        int q = uri.indexOf('?');
        if (q >= 0) {
            for (String param : uri.substring(q + 1).split("&")) {
                if (param.startsWith("uuid=") && param.length() > 5) {
                    return param.substring(5).toLowerCase(Locale.ROOT);
                }
            }
        }
        String path = q < 0 ? uri : uri.substring(0, q);
        for (String local : new String[] {"bdev:///", "loopback:///"}) {
            if (path.startsWith(local) && path.length() > local.length()) {
                return path.substring(local.length()).toLowerCase(Locale.ROOT);
            }
        }
        return uri;
    }
}
