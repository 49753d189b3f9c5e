package io.mayastorj.control.internal.registry;

import io.mayastorj.core.error.MayastorException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * The storage nodes the control plane knows, fed by their heartbeats — over NATS or gRPC, both end
 * here. A node is online from its first heartbeat, offline after it missed {@code missed} beats
 * (or at once when it deregisters), and online again with its next one. Listeners hear of every new
 * node, changed endpoint and online/offline transition.
 */
public final class NodeRegistry implements AutoCloseable {

    private static final Logger LOG = System.getLogger("mayastor.control");

    /**
     * A node as the registry knows it. {@code storage}: it holds pools (a storage node); false for
     * a node that only attaches volumes for its workloads ({@code mayastor csi-node}).
     */
    public record NodeState(String id, String endpoint, String hostNqn, boolean online, long lastSeenMillis, boolean storage) {
        /**
         * The node's iSCSI initiator name, as its CSI node plugin logs in (an open-iscsi interface of
         * its own carries it): an iSCSI nexus is shared to this one only.
         */
        public String hostIqn() {
            return NodeRegistry.hostIqn(id);
        }
    }

    /** Node {@code id}'s iSCSI initiator name (see {@link NodeState#hostIqn()}), known or not. */
    public static String hostIqn(String id) {
        return "iqn.2019-05.io.openebs:node-name:" + id.toLowerCase(java.util.Locale.ROOT);
    }

    @FunctionalInterface
    public interface Listener {
        void changed(NodeState node);
    }

    private final long offlineAfterNanos;
    private final int missed;
    private final long intervalNanos;
    private final LongSupplier clock;
    private final Map<String, Entry> nodes = new TreeMap<>();
    private final List<Listener> listeners = new CopyOnWriteArrayList<>();
    private final List<Listener> beats = new CopyOnWriteArrayList<>();
    private final ScheduledExecutorService ticker;

    private static final class Entry {
        /** The interval its beats say (0: not said); the offline time is that many missed beats when longer. */
        long intervalNanos;
        boolean storage = true;
        String endpoint;
        String hostNqn;
        boolean online;
        long lastSeenNanos;
        long lastSeenMillis;
        /** The last heartbeat heard here, if {@code beaten}; a remembered or forgiven node has a silence, not a beat. */
        long lastBeatNanos;
        boolean beaten;
        /** Its last beat came over NATS: while the control plane's NATS link is down, its silence is the link's. */
        boolean overNats;
        /** It said goodbye here since its last beat: its silence is no standby's. */
        boolean deregistered;
        /** The last address refused for this id (logged once, not at every beat). */
        String refused;
    }

    /**
     * @param interval the nodes' heartbeat interval
     * @param missed   heartbeats a node may miss before it is offline
     */
    public NodeRegistry(Duration interval, int missed) {
        this(interval, missed, System::nanoTime, true);
    }

    NodeRegistry(Duration interval, int missed, LongSupplier clock, boolean tick) {
        this.offlineAfterNanos = interval.toNanos() * missed;
        this.missed = missed;
        this.intervalNanos = interval.toNanos();
        this.clock = clock;
        if (tick) {
            ticker = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "node-registry");
                t.setDaemon(true);
                return t;
            });
            long period = Math.max(50, interval.toMillis() / 4);
            ticker.scheduleWithFixedDelay(this::expire, period, period, TimeUnit.MILLISECONDS);
        } else {
            ticker = null;
        }
    }

    /** Told of every heartbeat, changed or not (a node restarted between two beats changes nothing here). */
    public void addBeatListener(Listener listener) {
        beats.add(listener);
    }

    public void addListener(Listener listener) {
        listeners.add(listener);
    }

    /**
     * A node known from before (the control plane restarted, or a standby takes over): listed as it
     * was, and given one full offline period to send its next heartbeat before it counts as offline.
     * A node heard here keeps what its beats said.
     */
    public void remember(String id, String endpoint, String hostNqn, boolean online) {
        NodeState changed = null;
        synchronized (this) {
            Entry known = nodes.get(id);
            long now = clock.getAsLong();
            if (known != null && !(known.overNats && !linkDown) && !known.deregistered
                    && (!known.beaten || now - known.lastBeatNanos > Math.max(offlineAfterNanos, known.intervalNanos * missed))) {
                // not heard here lately (a standby, whose silence marked it offline: its gRPC beats went to the
                // leader): the record, written by the leader that heard it, is the better word, and its silence
                // counts from now. Left offline, at a takeover every pool and volume on it was written offline
                // until its next beat came. Not a node whose beats come here over NATS (the link up), nor one
                // that said goodbye here: this control plane heard its silence itself (the record may be a dead
                // leader's)
                boolean was = known.online;
                known.endpoint = endpoint;
                known.hostNqn = hostNqn == null || hostNqn.isBlank() ? defaultHostNqn(id) : hostNqn;
                known.online = online;
                known.lastSeenNanos = Math.max(known.lastSeenNanos, now);
                known.lastSeenMillis = System.currentTimeMillis();
                changed = was != online ? state(id, known) : null;
            } else if (known == null) {
                Entry e = new Entry();
                e.endpoint = endpoint;
                e.hostNqn = hostNqn == null || hostNqn.isBlank() ? defaultHostNqn(id) : hostNqn; // as a heartbeat would say
                e.online = online;
                e.lastSeenNanos = now;
                e.lastSeenMillis = System.currentTimeMillis();
                nodes.put(id, e);
            }
        }
        if (changed != null) {
            notify(changed);
        }
    }

    /** The host NQN Mayastor gives a node: its volumes' shares allow it. */
    private static String defaultHostNqn(String id) {
        return "nqn.2019-05.io.openebs:node-name:" + id;
    }

    /** A storage node's heartbeat. */
    public void register(String id, String endpoint, String hostNqn) {
        register(id, endpoint, hostNqn, true);
    }

    /** A heartbeat; {@code storage} false for a node that only attaches volumes. */
    public void register(String id, String endpoint, String hostNqn, boolean storage) {
        register(id, endpoint, hostNqn, storage, 0);
    }

    /** A heartbeat of a node that beats every {@code heartbeatSeconds} (0: as the control plane expects). */
    public void register(String id, String endpoint, String hostNqn, boolean storage, long heartbeatSeconds) {
        beat(id, endpoint, hostNqn, storage, false, heartbeatSeconds);
    }

    /** A storage node's heartbeat heard over NATS (MOAC's registry: no host NQN). */
    public void registerOverNats(String id, String endpoint) {
        registerOverNats(id, endpoint, 0);
    }

    public void registerOverNats(String id, String endpoint, long heartbeatSeconds) {
        beat(id, endpoint, null, true, true, heartbeatSeconds);
    }

    /** The interval a node's beats come at, as far as this control plane knows (its own when the node said none). */
    public synchronized long heartbeatMillis(String id) {
        Entry e = nodes.get(id);
        return TimeUnit.NANOSECONDS.toMillis(e == null ? intervalNanos : intervalOf(e));
    }

    /** A node's own interval, when it beats less often than expected here; never shorter than the control plane's. */
    private long intervalOf(Entry e) {
        return Math.max(intervalNanos, e.intervalNanos);
    }

    private void beat(String id, String endpoint, String hostNqn, boolean storage, boolean overNats, long heartbeatSeconds) {
        if (id == null || !id.matches("[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")) { // its MayastorNode's name
            throw MayastorException.invalidArgument("node id '%s' is not valid: a Kubernetes node name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit", id);
        }
        if (endpoint == null || !endpoint.matches("([^\\s:\\[\\]]+|\\[[0-9a-fA-F:.]+\\]):[0-9]{1,5}")) {
            throw MayastorException.invalidArgument("node %s: grpc endpoint '%s' is not ip:port", id, endpoint);
        }
        int port = Integer.parseInt(endpoint.substring(endpoint.lastIndexOf(':') + 1));
        if (port < 1 || port > 65535 || endpoint.startsWith("0.0.0.0:") || endpoint.startsWith("[::]:")) {
            // dialled, 0.0.0.0 reaches the control plane's own host: some other node, or none
            throw MayastorException.invalidArgument("node %s: grpc endpoint '%s' is not an address the control plane can "
                    + "dial (a wildcard address or no port)", id, endpoint);
        }
        String nqn = hostNqn == null || hostNqn.isBlank() ? defaultHostNqn(id) : hostNqn;
        NodeState changed = null;
        NodeState beat;
        synchronized (this) {
            Entry e = nodes.get(id);
            if (e != null && e.storage && !storage) {
                // the CSI node plugin beside a storage node of the same name: the storage node's
                // registration stands (its endpoint, and its heartbeats alone say whether it is online)
                return;
            }
            if (e != null && e.online && e.storage == storage && !endpoint.equals(e.endpoint) && e.beaten
                    && clock.getAsLong() - e.lastBeatNanos < 2 * intervalOf(e)) {
                // the node at the other address beat within two intervals (beats come an interval plus
                // the time a beat takes apart, and later under load): it is alive, and this is a second
                // host given the same id. Taken as a move, the two would take each other's volumes in
                // turns; a node that really moved is taken once the old address is quiet.
                if (!endpoint.equals(e.refused)) {
                    e.refused = endpoint;
                    LOG.log(Level.WARNING, "node {0}: heartbeats from {1} refused, the node at {2} uses that id and beats",
                            id, endpoint, e.endpoint);
                }
                throw MayastorException.alreadyExists("node id %s is in use by the node at %s, which beat %d ms ago; "
                        + "give each node its own id (a node that moved is taken once the old address stops beating)",
                        id, e.endpoint, TimeUnit.NANOSECONDS.toMillis(clock.getAsLong() - e.lastBeatNanos));
            }
            boolean fresh = e == null;
            if (fresh) {
                e = new Entry();
                nodes.put(id, e);
            }
            boolean moved = !endpoint.equals(e.endpoint) || !nqn.equals(e.hostNqn) || e.storage != storage;
            boolean back = !e.online;
            long stated = TimeUnit.SECONDS.toNanos(Math.max(0, Math.min(heartbeatSeconds, 3600)));
            if (stated > intervalNanos && stated != e.intervalNanos) {
                // its beats come further apart than this control plane's interval: counted by its own, or it would go
                // offline between every two beats (and its volumes' nexuses be taken for lost)
                LOG.log(Level.WARNING, "node {0} beats every {1} s, this control plane expects every {2} s: it is called "
                        + "offline after {3} s of silence", id, stated / 1_000_000_000L, intervalNanos / 1_000_000_000L,
                        stated * missed / 1_000_000_000L);
            }
            e.intervalNanos = stated;
            e.endpoint = endpoint;
            e.hostNqn = nqn;
            e.storage = storage;
            e.online = true;
            e.lastSeenNanos = clock.getAsLong();
            e.lastBeatNanos = e.lastSeenNanos;
            e.beaten = true;
            e.overNats = overNats;
            e.deregistered = false;
            if (overNats) {
                lastNatsBeatNanos = e.lastSeenNanos;
                natsBeaten = true;
            }
            e.lastSeenMillis = System.currentTimeMillis();
            if (fresh || moved || back) {
                changed = state(id, e);
                LOG.log(Level.INFO, "node {0} is online at {1}{2}{3}", id, endpoint, fresh ? " (new)" : moved ? " (moved)" : "",
                        storage ? "" : ", attaching volumes only");
            }
            beat = state(id, e);
        }
        notify(changed);
        for (Listener l : beats) {
            try {
                l.changed(beat);
            } catch (RuntimeException ex) {
                LOG.log(Level.WARNING, "a heartbeat listener failed: {0}", ex.toString());
            }
        }
    }

    /** A storage node that stops cleanly. */
    public void deregister(String id) {
        deregister(id, true);
    }

    /** A node that stops cleanly; {@code storage} false from one that attaches volumes only. */
    public void deregister(String id, boolean storage) {
        deregister(id, storage, "");
    }

    /**
     * As {@link #deregister(String, boolean)}, said by the node at {@code endpoint} (empty: not said, as
     * MOAC's nodes do). A goodbye from another address than the node's is another host's that was given the
     * same id, whose beats were refused: taken, it called the node that uses the id offline until its next
     * beat, and its volumes' nexuses were moved away.
     */
    public void deregister(String id, boolean storage, String endpoint) {
        NodeState changed = null;
        synchronized (this) {
            Entry e = nodes.get(id);
            if (e != null && e.online && (storage || !e.storage) && endpoint != null && !endpoint.isEmpty()
                    && e.endpoint != null && !endpoint.equals(e.endpoint)) {
                LOG.log(Level.WARNING, "node {0}: a goodbye from {1} ignored, the node at {2} uses that id", id, endpoint,
                        e.endpoint);
                return;
            }
            if (e != null && e.online && (storage || !e.storage)) {
                e.online = false;
                e.deregistered = true;
                changed = state(id, e);
                LOG.log(Level.INFO, "node {0} deregistered: offline", id);
            }
        }
        notify(changed);
    }

    /** Marks offline the nodes whose heartbeats stopped. */
    void expire() {
        List<NodeState> changed = new ArrayList<>();
        synchronized (this) {
            long now = clock.getAsLong();
            for (Map.Entry<String, Entry> n : nodes.entrySet()) {
                Entry e = n.getValue();
                // not heard is offline, the link's fault or not (nothing is placed there meanwhile); the
                // grace periods count the node's own silence (silentMillis)
                if (e.online && now - e.lastSeenNanos > Math.max(offlineAfterNanos, e.intervalNanos * missed)) {
                    e.online = false;
                    changed.add(state(n.getKey(), e));
                    LOG.log(Level.WARNING, "node {0} is offline: no heartbeat for {1} ms", n.getKey(),
                            TimeUnit.NANOSECONDS.toMillis(now - e.lastSeenNanos));
                }
            }
        }
        changed.forEach(this::notify);
    }

    private void notify(NodeState state) {
        if (state == null) {
            return;
        }
        for (Listener l : listeners) {
            try {
                l.changed(state);
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "a node listener failed: {0}", e.toString());
            }
        }
    }

    private static NodeState state(String id, Entry e) {
        return new NodeState(id, e.endpoint, e.hostNqn, e.online, e.lastSeenMillis, e.storage);
    }

    public synchronized List<NodeState> nodes() {
        List<NodeState> list = new ArrayList<>();
        nodes.forEach((id, e) -> list.add(state(id, e)));
        return list;
    }

    /** Whether this registry's own link to the nodes' beats (NATS) is down, and since when it may have been. */
    private boolean linkDown;
    private long unheardSinceNanos;
    /**
     * How long a link that died without a reset goes unnoticed at most: NatsRegistry pings every 2 s
     * and gives up after two unanswered. The outage is backdated no further (a last beat heard long
     * before — every node cut off from NATS while this link stayed up — was silence of the nodes).
     */
    static final long LINK_LOSS_NOTICE_NANOS = TimeUnit.SECONDS.toNanos(10);
    /** The last beat heard over NATS, from any node, if {@code natsBeaten}. */
    private long lastNatsBeatNanos;
    private boolean natsBeaten;

    /**
     * The control plane's own link to the beats (its NATS connection) went down: a node's silence
     * may be the link's, not the node's (see {@link #beatsHeardAgain}), since the last beat the link
     * brought. jnats tells of a link that died without a reset only when its pings go unanswered,
     * seconds later; counted from that moment, the beats lost before it were the nodes' silence.
     */
    public synchronized void beatsUnheard() {
        if (!linkDown) {
            linkDown = true;
            long now = clock.getAsLong();
            unheardSinceNanos = natsBeaten ? Math.max(lastNatsBeatNanos, now - LINK_LOSS_NOTICE_NANOS) : now;
        }
    }


    /**
     * The link is back: the time it was down does not count as silence of the nodes whose last beat
     * came over NATS and that were not heard in it (by another path). A node that beats over gRPC, or
     * was only remembered, is silent as before: one dead before the control plane started with NATS
     * away would otherwise never be replaced. Without this, right after a NATS outage every NATS-only
     * node looked silent for the whole outage until its next beat — past the switch-over grace, while
     * the nexus records were readable again — and volumes were moved off healthy nodes, their
     * replicas rebuilt.
     */
    public synchronized void beatsHeardAgain() {
        if (!linkDown) {
            return;
        }
        long since = unheardSinceNanos;
        long down = clock.getAsLong() - since;
        linkDown = false;
        nodes.values().forEach(e -> {
            if (e.overNats && e.lastSeenNanos <= since) { // <=: the node whose beat was the link's last too
                e.lastSeenNanos += down;
            }
        });
    }

    /**
     * Every node's silence counted from now, as for nodes remembered at start: a control plane that
     * stood by and now leads heard only the beats that reached it (over gRPC, the Service sent them
     * to the leader), and a node that beat the leader a moment ago is not away.
     */
    public synchronized void forgiveSilence() {
        long now = clock.getAsLong();
        nodes.values().forEach(e -> e.lastSeenNanos = Math.max(e.lastSeenNanos, now));
    }

    /**
     * How long since the node's last heartbeat (or since it was remembered at start), on this
     * registry's monotonic clock: grace periods measured on the wall clock would end at once when
     * NTP steps it forward (a VM resumed, a start before the clock synced) and replace a live node's
     * replicas. {@link Long#MAX_VALUE} for a node never heard of.
     */
    public synchronized long silentMillis(String id) {
        Entry e = nodes.get(id);
        if (e == null) {
            return Long.MAX_VALUE;
        }
        long now = clock.getAsLong();
        if (linkDown && e.overNats && e.lastSeenNanos <= unheardSinceNanos) {
            now = unheardSinceNanos; // while the link is down, its silence is not the node's
        }
        return TimeUnit.NANOSECONDS.toMillis(now - e.lastSeenNanos);
    }

    public synchronized Optional<NodeState> node(String id) {
        Entry e = nodes.get(id);
        return e == null ? Optional.empty() : Optional.of(state(id, e));
    }

    @Override
    public void close() {
        if (ticker != null) {
            ticker.shutdownNow();
        }
    }
}
