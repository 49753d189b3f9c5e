package io.mayastorj.nexus.internal.store;

import io.mayastorj.nats.NatsConnector;
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
    /** {@link #url} as logged: without its credentials. */
    private final String shown;
    /** How many NATS servers keep the bucket (JetStream's replicas): 1 for one server, 3 for a cluster of three. */
    private final int replicas;
    private final Options options;
    private volatile Connection connection;
    private volatile KeyValue bucket;
    /** Connects in the background when the server was not there at start; null once connected. */
    private volatile NatsConnector connector;
    private volatile boolean closed;

    /**
     * Connects, or — when no server answers now — goes on connecting in the background (a node
     * starts while NATS is down or moving; its saves fail until then, and the nexus retries them).
     *
     * @throws IOException the server answers but has no usable JetStream
     */
    public NatsNexusStore(String url) throws IOException {
        this(url, 1);
    }

    /**
     * ... the bucket kept by {@code replicas} servers of a NATS cluster: with one, the server's node
     * took every nexus record with it when it died — and with them the switch-over of each volume
     * whose nexus died there too.
     */
    public NatsNexusStore(String url, int replicas) throws IOException {
        if (replicas < 1 || replicas > 5) {
            throw new IllegalArgumentException("nexus records' replicas " + replicas + ": JetStream keeps 1 to 5");
        }
        this.url = url;
        this.shown = io.mayastorj.core.text.Redaction.withoutCredentials(url);
        this.replicas = replicas;
        this.options = new Options.Builder().server(url).connectionTimeout(Duration.ofSeconds(5))
                .maxReconnects(-1).reconnectWait(Duration.ofMillis(500)).connectionName("mayastor-nexus")
                // a server gone without a reset is left after two unanswered pings (10-15 s), not minutes
                .pingInterval(Duration.ofSeconds(5)).maxPingsOut(2).connectionListener(this::event).build();
        try {
            connection = Nats.connect(options);
        } catch (IOException e) {
            System.getLogger("mayastor.nexus").log(System.Logger.Level.WARNING,
                    "NATS at {0} does not answer ({1}): connecting in the background; nexus records wait for it", shown, io.mayastorj.core.text.Redaction.withoutCredentials(e.getMessage()));
            synchronized (this) {
                startConnector();
            }
            return;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while connecting to NATS at " + shown, e);
        }
        if (!connection.getServerInfo().isJetStreamAvailable()) {
            close(); // a server without JetStream is a settings error: said at start
            throw new IOException("NATS at " + shown + " has no JetStream (start nats-server with --jetstream)");
        }
        try {
            bucket();
        } catch (IOException e) {
            // a cluster whose JetStream has no quorum yet (its servers starting, one of three away and the
            // metadata leader with it): the bucket is made, or found, at the first save; the node starts
            System.getLogger("mayastor.nexus").log(System.Logger.Level.WARNING,
                    "NATS at {0}: JetStream does not answer yet ({1}); nexus records wait for it", shown, io.mayastorj.core.text.Redaction.withoutCredentials(e.getMessage()));
        }
    }

    /** Under this: connects on a thread of its own until a server answers or {@link #close}. */
    private void startConnector() {
        connector = new NatsConnector("nats-connect mayastor-nexus", options, Duration.ofMillis(500),
                e -> { }, // said once, when the store started without it
                this::connected);
    }

    private boolean connected(Connection c) {
        synchronized (this) {
            if (closed) {
                return false;
            }
            connection = c;
            bucket = null;
            connector = null;
        }
        System.getLogger("mayastor.nexus").log(System.Logger.Level.INFO, "NATS at {0} answers: nexus records go there", shown);
        return true;
    }

    /**
     * A connection jnats closed for good (the same authentication error twice on reconnect) is
     * replaced: kept, every save failed on it until the node restarted, and the writes waiting on
     * their nexus's record waited as long.
     */
    private void event(Connection c, io.nats.client.ConnectionListener.Events event) {
        if (event != io.nats.client.ConnectionListener.Events.CLOSED) {
            return;
        }
        synchronized (this) {
            if (closed || c != connection) {
                return;
            }
            connection = null;
            bucket = null;
            System.getLogger("mayastor.nexus").log(System.Logger.Level.WARNING,
                    "NATS at {0} closed the connection for good: connecting anew; nexus records wait for it", shown);
            startConnector();
        }
    }

    /** The bucket, made on the server when it has none; IOException while NATS is not reached yet. */
    private KeyValue bucket() throws IOException {
        KeyValue b = bucket;
        if (b != null) {
            return b;
        }
        Connection c = connection;
        if (c == null) {
            throw new IOException("not connected to NATS at " + shown + " yet");
        }
        synchronized (this) {
            if (bucket == null) {
                try {
                    ensureBucket();
                    bucket = c.keyValue(BUCKET);
                } catch (JetStreamApiException e) {
                    throw new IOException("NATS at " + shown + ": JetStream refused the bucket: " + io.mayastorj.core.text.Redaction.withoutCredentials(e.getMessage()), e);
                }
            }
            return bucket;
        }
    }

    /** Makes the bucket unless the server has it; true when it was made. */
    private boolean ensureBucket() throws IOException, JetStreamApiException {
        Connection c = connection;
        if (c == null) {
            throw new IOException("not connected to NATS at " + shown + " yet");
        }
        KeyValueManagement kvm = c.keyValueManagement();
        int copies = copies(c);
        boolean made = false;
        if (!kvm.getBucketNames().contains(BUCKET)) {
            kvm.create(KeyValueConfiguration.builder().name(BUCKET).maxHistoryPerKey(1).storageType(StorageType.File)
                    .replicas(copies)
                    .description("Mayastor-J: which children of each nexus hold every acknowledged write").build());
            made = true;
        }
        // reads from the stream's leader: a direct get (jnats' default for a bucket) may be answered by a
        // follower still behind, and a record read stale says a faulted child is in sync. One update with the
        // raise of a bucket made on one server (jnats' own update of a bucket turns direct gets back on)
        io.nats.client.JetStreamManagement jsm = c.jetStreamManagement();
        io.nats.client.api.StreamConfiguration stream = jsm.getStreamInfo("KV_" + BUCKET).getConfiguration();
        if (stream.getAllowDirect() || stream.getReplicas() < copies) {
            jsm.updateStream(io.nats.client.api.StreamConfiguration.builder(stream).allowDirect(false)
                    .replicas(Math.max(copies, stream.getReplicas())).build());
            if (stream.getReplicas() < copies) {
                System.getLogger("mayastor.nexus").log(System.Logger.Level.INFO,
                        "NATS at {0}: bucket {1} is kept by {2} servers now (was {3})", shown, BUCKET, copies, stream.getReplicas());
            }
        }
        return made;
    }

    private volatile boolean toldSingle;

    /**
     * How many servers keep the bucket: as many as asked of a cluster; one of a server on its own,
     * which keeps it alone whatever is asked (said once: a setting of 3 meets a test's single server).
     */
    private int copies(Connection c) {
        if (replicas > 1 && c.getServerInfo().getCluster() == null) {
            if (!toldSingle) {
                toldSingle = true;
                System.getLogger("mayastor.nexus").log(System.Logger.Level.WARNING, "NATS at {0} is one server, not a "
                        + "cluster: it alone keeps the nexus records, not {1} servers (nats.replicas)", shown, replicas);
            }
            return 1;
        }
        return replicas;
    }

    private interface BucketCall<T> {
        T run() throws IOException, JetStreamApiException;
    }

    /**
     * Runs a call on the bucket; when it fails because the server has no such bucket any more (NATS
     * restarted without its data: a put then finds no stream and fails for ever), the bucket is
     * made again and the call runs once more. Its records are gone: nexuses write theirs again.
     */
    private <T> T onBucket(BucketCall<T> call) throws IOException, JetStreamApiException {
        try {
            return onBucketOnce(call);
        } catch (IllegalStateException e) { // jnats on a connection closed meanwhile: the store's contract is IOException
            throw new IOException("NATS at " + shown + ": " + io.mayastorj.core.text.Redaction.withoutCredentials(e.getMessage()), e);
        }
    }

    private <T> T onBucketOnce(BucketCall<T> call) throws IOException, JetStreamApiException {
        boolean found = bucket != null; // else the call's own bucket() asked the server already, and failed
        try {
            return call.run();
        } catch (IOException | JetStreamApiException e) {
            Connection c = connection;
            if (!found || !noStream(e) || c == null || c.getStatus() != Connection.Status.CONNECTED) {
                // a conflict; or the link is down (reconnecting): the server cannot be asked, and asking
                // would wait out a second timeout — on the control thread every nexus of the node shares
                throw e;
            }
            boolean made;
            try {
                made = ensureBucket();
            } catch (IOException | JetStreamApiException | RuntimeException other) {
                e.addSuppressed(other);
                throw e;
            }
            if (!made) {
                throw e;
            }
            System.getLogger("mayastor.nexus").log(System.Logger.Level.WARNING,
                    "NATS at {0} had no bucket {1} (restarted without its data?): made it again", shown, BUCKET);
            return call.run();
        }
    }

    /** JetStream's error code for a stream (a bucket) the server does not have. */
    private static final int STREAM_NOT_FOUND = 10059;

    /**
     * Whether a failure may say that the bucket's stream is not there, so the server is asked: a
     * stream not found, or any I/O failure (a put to a stream that is gone fails with 503, or with
     * a timeout). A JetStream refusal of another kind (a conflict) is not.
     */
    private static boolean noStream(Exception e) {
        return e instanceof JetStreamApiException api ? api.getApiErrorCode() == STREAM_NOT_FOUND : true;
    }

    @Override
    public long save(NexusRecord record, long expectedRevision) throws IOException {
        String key = record.uuid().toString();
        try {
            // compare-and-set on the key's last sequence: two nexuses of one volume, on two nodes,
            // can never both think they own the record
            return onBucket(() -> expectedRevision == 0 ? bucket().create(key, RecordFormat.encode(record))
                    : bucket().update(key, RecordFormat.encode(record), expectedRevision));
        } catch (JetStreamApiException e) {
            if (e.getApiErrorCode() == WRONG_LAST_SEQUENCE) {
                throw new Superseded("the record of nexus " + key + " in NATS is no longer at revision " + expectedRevision
                        + ": another nexus wrote it (" + io.mayastorj.core.text.Redaction.withoutCredentials(e.getMessage()) + ")");
            }
            throw new IOException("NATS refused the record: " + io.mayastorj.core.text.Redaction.withoutCredentials(e.getMessage()), e);
        }
    }

    @Override
    public Optional<Stored> load(UUID uuid) throws IOException {
        try {
            KeyValueEntry e = onBucket(() -> bucket().get(uuid.toString()));
            if (e == null || e.getValue() == null) {
                return Optional.empty();
            }
            return Optional.of(new Stored(RecordFormat.decode(e.getValue(), "for " + uuid + " in NATS bucket " + BUCKET),
                    e.getRevision()));
        } catch (JetStreamApiException e) {
            throw new IOException("NATS: " + io.mayastorj.core.text.Redaction.withoutCredentials(e.getMessage()), e);
        }
    }

    @Override
    public void delete(UUID uuid) throws IOException {
        try {
            onBucket(() -> {
                bucket().delete(uuid.toString());
                return null;
            });
        } catch (JetStreamApiException e) {
            throw new IOException("NATS: " + io.mayastorj.core.text.Redaction.withoutCredentials(e.getMessage()), e);
        }
    }

    @Override
    public boolean shared() {
        return true;
    }

    @Override
    public String describe() {
        return "NATS bucket " + BUCKET + " at " + shown;
    }

    @Override
    public void close() {
        Connection c;
        synchronized (this) {
            closed = true;
            c = connection;
            NatsConnector t = connector;
            if (t != null) {
                t.close();
            }
        }
        if (c != null) {
            try {
                c.close();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
