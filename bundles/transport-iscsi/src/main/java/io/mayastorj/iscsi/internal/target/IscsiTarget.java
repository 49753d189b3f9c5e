package io.mayastorj.iscsi.internal.target;

import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.buffer.BufferPool;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.core.node.Node;
import io.mayastorj.core.reactor.Listener;
import io.mayastorj.core.reactor.Reactor;
import io.mayastorj.core.reactor.ReactorGroup;
import io.mayastorj.core.transport.ShareOptions;
import io.mayastorj.core.transport.Transport;
import io.mayastorj.iscsi.internal.scsi.Reservations;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.lang.System.Logger;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.metatype.annotations.Designate;

/**
 * The iSCSI target: the {@code iscsi} transport. Each shared bdev becomes a target
 * {@code iqn.2019-05.io.openebs:<bdev name or uuid>} whose LUN 0 is the bdev. Connections are spread
 * over the reactors; each lives on one reactor for its whole life.
 */
@Component(service = {Transport.class, IscsiTarget.class}, immediate = true, property = Transport.PROTOCOL + "=iscsi",
        configurationPid = IscsiConfig.PID, configurationPolicy = ConfigurationPolicy.OPTIONAL)
@Designate(ocd = IscsiConfig.class)
public final class IscsiTarget implements Transport {

    public static final String PROTOCOL = "iscsi";
    public static final String IQN_PREFIX = "iqn.2019-05.io.openebs:";
    public static final int DEFAULT_PORT = 3260;

    private static final Logger LOG = System.getLogger("mayastor.iscsi");

    /** A shared bdev: its target name, the initiators it admits (none listed: any), its CHAP secrets or null. */
    public record Target(String iqn, BlockDevice device, List<String> allowedInitiators, Chap chap) {
        boolean allows(String initiator) {
            return allowedInitiators.isEmpty() || allowedInitiators.contains(initiator);
        }
    }

    /** CHAP credentials: the initiator proves {@code user}/{@code secret}; with mutual ones, the target proves its own. */
    public record Chap(String user, String secret, String mutualUser, String mutualSecret) {
        boolean mutual() {
            return mutualUser != null;
        }

        @Override
        public String toString() {
            return "CHAP user " + user + (mutual() ? ", mutual user " + mutualUser : "");
        }
    }

    private static final Set<String> CHAP_KEYS = Set.of("chap.user", "chap.secret", "chap.mutual.user", "chap.mutual.secret");

    /** The CHAP settings of a share's properties, checked; null without them. */
    static Chap chap(Map<String, String> properties) {
        for (String key : properties.keySet()) {
            if (!CHAP_KEYS.contains(key)) {
                throw MayastorException.invalidArgument("iscsi shares take chap.user, chap.secret, chap.mutual.user and "
                        + "chap.mutual.secret; not %s", key);
            }
        }
        String user = properties.get("chap.user");
        String secret = properties.get("chap.secret");
        String mutualUser = properties.get("chap.mutual.user");
        String mutualSecret = properties.get("chap.mutual.secret");
        if (user == null && secret == null && mutualUser == null && mutualSecret == null) {
            return null;
        }
        if (user == null || user.isBlank() || secret == null) {
            throw MayastorException.invalidArgument("CHAP needs both chap.user and chap.secret");
        }
        checkSecret(secret, "chap.secret");
        if ((mutualUser == null) != (mutualSecret == null) || mutualUser != null && mutualUser.isBlank()) {
            throw MayastorException.invalidArgument("mutual CHAP needs both chap.mutual.user and chap.mutual.secret");
        }
        if (mutualSecret != null) {
            checkSecret(mutualSecret, "chap.mutual.secret");
            if (mutualSecret.equals(secret)) {
                throw MayastorException.invalidArgument("the mutual CHAP secret must differ from the initiator's (RFC 7143 §12.1.3)");
            }
        }
        return new Chap(user, secret, mutualUser, mutualSecret);
    }

    private static void checkSecret(String secret, String key) {
        int length = secret.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
        if (length < 12 || length > 255) {
            throw MayastorException.invalidArgument("%s must be 12 to 255 bytes long (it is %d)", key, length);
        }
    }

    /** A connection, for the shell. */
    public record ConnectionView(String peer, int reactor, String initiator, String target, int inFlight) {
    }

    private final ReactorGroup reactors;
    private final BufferPool buffers;
    /**
     * Pool bytes the tasks of all connections may hold at once: half the pool. Each connection's own
     * budget let a few sessions whose write data never comes hold the whole pool, and every other
     * transport's I/O and the rebuilds on the node waited for buffers; past this iSCSI answers BUSY.
     */
    private final long bufferBudget;
    private final java.util.concurrent.atomic.AtomicLong held = new java.util.concurrent.atomic.AtomicLong();

    /**
     * What one connection's tasks may hold: its {@link IscsiConnection#BUFFER_BUDGET} (32 MiB, as with
     * the default 128 MiB pool), and no more than half the target's, so that no one connection takes
     * the target's budget and leaves every other session BUSY (2 MiB at least: a command's buffer
     * and a compare's).
     */
    private final int connectionBudget;

    int connectionBudget() {
        return connectionBudget;
    }

    /**
     * Whether the target's connections may take {@code bytes} more of the pool (counted by
     * {@link #hold}): within half the pool, or for a connection that holds nothing ({@code first}),
     * within three quarters — its one command goes while others hold the budget, and the node's
     * other transports always keep a quarter.
     */
    boolean mayHold(int bytes, boolean first) {
        return held.get() + bytes <= (first ? bufferBudget + bufferBudget / 2 : bufferBudget);
    }

    void hold(int bytes) {
        held.addAndGet(bytes);
    }

    /** Pool bytes all connections' tasks hold (tests). */
    long held() {
        return held.get();
    }
    private final Listener listener;
    private final InetSocketAddress bound;
    private final String advertisedHost;
    private final Map<String, Target> targets = new ConcurrentHashMap<>();
    /** Where APTPL keeps each LUN's persistent reservations, in the node's state directory. */
    static final String RESERVATIONS_DIR = "iscsi-reservations";
    private final Path reservationDir;
    private final Set<IscsiConnection> connections = ConcurrentHashMap.newKeySet();
    /** Closed connections whose tasks the bdev still has. */
    private final Set<IscsiConnection> draining = ConcurrentHashMap.newKeySet();
    private final AtomicInteger tsih = new AtomicInteger();
    /** A quiet session is pinged after this long, and dropped when the ping goes unanswered this long. */
    private volatile long nopIntervalMillis = 10_000;
    private volatile long nopTimeoutMillis = 15_000;

    @Activate
    public IscsiTarget(@Reference ReactorGroup reactors, @Reference BufferPool buffers, @Reference Node node,
                       IscsiConfig config) throws IOException {
        this(reactors, buffers, listenAddress(node, config), node.stateDir().resolve(RESERVATIONS_DIR));
    }

    /** A target listening on {@code listen} (port 0: any free port), without APTPL. */
    public IscsiTarget(ReactorGroup reactors, BufferPool buffers, InetSocketAddress listen) throws IOException {
        this(reactors, buffers, listen, null);
    }

    /**
     * A target listening on {@code listen} that keeps persistent reservations with APTPL in
     * {@code reservationDir} (one file per LUN, named by the bdev's UUID; null: APTPL is refused).
     * Not public: SCR picks the public constructor with the @Activate one's arity, and this has it.
     */
    IscsiTarget(ReactorGroup reactors, BufferPool buffers, InetSocketAddress listen, Path reservationDir)
            throws IOException {
        this.reactors = reactors;
        this.buffers = buffers;
        this.bufferBudget = buffers.stats().totalBytes() / 2;
        this.connectionBudget = (int) Math.max(Math.min(IscsiConnection.BUFFER_BUDGET, bufferBudget / 2), 2 << 20);
        this.reservationDir = reservationDir;
        try {
            this.listener = Listener.open(reactors, listen, "the iSCSI target", this::serve);
        } catch (IOException e) {
            LOG.log(Level.ERROR, e.getMessage());
            throw e;
        }
        this.bound = listener.address();
        this.advertisedHost = listener.advertisedHost();
        LOG.log(Level.INFO, "iSCSI target listening on {0}", Listener.hostPort(bound));
    }

    private static InetSocketAddress listenAddress(Node node, IscsiConfig config) throws IOException {
        String address = config.iscsi_address();
        InetAddress host = address == null || address.isBlank() ? node.address() : InetAddress.getByName(address.strip());
        int port = config.iscsi_port();
        if (port < 0 || port > 65535) {
            throw new IOException("iscsi.port=" + port + " is not a TCP port");
        }
        return new InetSocketAddress(host, port);
    }


    /**
     * Connections not logged in yet, at most {@link #MAX_LOGINS}: each costs a few hundred KiB of heap
     * before it said who it is, and a client opening them without end ran the node out of memory.
     */
    final java.util.concurrent.atomic.AtomicInteger loggingIn = new java.util.concurrent.atomic.AtomicInteger();
    static final int MAX_LOGINS = 128;
    /** ... and at most this many from one address: one client holding the cap locked every initiator out. */
    static final int MAX_LOGINS_PER_PEER = 16;
    private final Map<InetAddress, Integer> loggingInFrom = new ConcurrentHashMap<>();
    private final java.util.concurrent.atomic.AtomicBoolean loginsFullSaid = new java.util.concurrent.atomic.AtomicBoolean();

    /** Counts a connection that begins its login; false (counting nothing) past either cap. */
    private boolean loginBegins(InetAddress peer) {
        int fromPeer = loggingInFrom.merge(peer, 1, Integer::sum);
        int all = loggingIn.incrementAndGet();
        if (fromPeer > MAX_LOGINS_PER_PEER || all > MAX_LOGINS) {
            loginEnded(peer);
            if (loginsFullSaid.compareAndSet(false, true)) {
                LOG.log(Level.WARNING, "{0} connections are logging in already ({1} from {2} at most): new ones are closed "
                        + "until they are fewer", MAX_LOGINS, MAX_LOGINS_PER_PEER, peer.getHostAddress());
            }
            return false;
        }
        loginsFullSaid.set(false);
        return true;
    }

    /** A connection counted by {@link #loginBegins} left its login phase (logged in, or closed). */
    void loginEnded(InetAddress peer) {
        loggingIn.decrementAndGet();
        loggingInFrom.computeIfPresent(peer, (a, n) -> n <= 1 ? null : n - 1);
    }

    private static InetAddress peerOf(SocketChannel socket) {
        try {
            return ((InetSocketAddress) socket.getRemoteAddress()).getAddress();
        } catch (IOException | RuntimeException e) {
            return InetAddress.getLoopbackAddress(); // gone already: it is closed soon anyway
        }
    }

    /**
     * Connections in all, logged in or not, at most this many: each holds about 330 KiB of heap and a
     * file descriptor for its life, and a login takes one PDU (a discovery session, a target open to
     * any initiator), so one client logging in without end ran the node out of both.
     */
    static final int MAX_CONNECTIONS = 2048;
    /** ... and at most this many from one address: room for a host with hundreds of volumes, not the whole node. */
    static final int MAX_CONNECTIONS_PER_PEER = 1024;
    private final java.util.concurrent.atomic.AtomicBoolean connectionsFullSaid = new java.util.concurrent.atomic.AtomicBoolean();
    private volatile int maxConnections = MAX_CONNECTIONS;
    private volatile int maxConnectionsPerPeer = MAX_CONNECTIONS_PER_PEER;

    /** Lower caps, for tests (the real ones take a thousand sessions to reach). */
    void connectionCaps(int all, int perPeer) {
        maxConnections = all;
        maxConnectionsPerPeer = perPeer;
    }

    /** Whether one more connection from {@code peer} is within the caps (counted from the live ones). */
    private boolean roomFor(InetAddress peer) {
        int all = maxConnections;
        int perPeer = maxConnectionsPerPeer;
        if (connections.size() < Math.min(all, perPeer)) {
            return true; // both caps are far: no count per address needed
        }
        long fromPeer = connections.stream().filter(c -> peer.equals(c.peerAddress())).count();
        if (connections.size() >= all || fromPeer >= perPeer) {
            if (connectionsFullSaid.compareAndSet(false, true)) {
                LOG.log(Level.WARNING, "{0} iSCSI connections ({1} from {2}): new ones are closed until they are fewer",
                        connections.size(), fromPeer, peer.getHostAddress());
            }
            return false;
        }
        connectionsFullSaid.set(false);
        return true;
    }

    private void serve(SocketChannel socket, Reactor reactor) {
        InetAddress peer = peerOf(socket);
        if (!roomFor(peer) || !loginBegins(peer)) {
            try {
                socket.close();
            } catch (IOException ignored) {
                // it is gone either way
            }
            return;
        }
        IscsiConnection connection;
        try {
            connection = new IscsiConnection(this, socket, reactor, buffers, peer);
        } catch (RuntimeException | OutOfMemoryError e) {
            loginEnded(peer);
            LOG.log(Level.WARNING, "cannot serve a new iSCSI connection: {0}", e.toString());
            try {
                socket.close();
            } catch (IOException ignored) {
                // it is gone either way
            }
            return;
        }
        try {
            connections.add(connection);
            connection.start();
        } catch (IOException e) {
            LOG.log(Level.WARNING, "cannot serve the iSCSI connection from {0}: {1}", connection.peer(), e.getMessage());
            connection.close(null);
        }
    }

    // ---------------------------------------------------------------- Transport

    @Override
    public String protocol() {
        return PROTOCOL;
    }

    @Override
    public String share(BlockDevice device, ShareOptions options) {
        Chap chap = chap(options.properties());
        for (String initiator : options.allowedHosts()) {
            if (!initiator.startsWith("iqn.") && !initiator.startsWith("eui.") && !initiator.startsWith("naa.")) {
                throw MayastorException.invalidArgument("'%s' is not an iSCSI initiator name (iqn.…, eui.… or naa.…)", initiator);
            }
        }
        String iqn = iqn(device);
        Target t = new Target(iqn, device, List.copyOf(options.allowedHosts()), chap);
        if (targets.putIfAbsent(iqn, t) != null) {
            throw MayastorException.alreadyExists("iSCSI target %s exists already", iqn);
        }
        LOG.log(Level.INFO, "iSCSI target {0} serves bdev {1} as LUN 0{2}{3}", iqn, device.name(),
                options.allowedHosts().isEmpty() ? " to any initiator" : " to " + String.join(", ", options.allowedHosts()),
                chap == null ? "" : ", " + chap);
        return "iscsi://" + advertisedHost + ":" + bound.getPort() + "/" + iqn + "/0";
    }

    @Override
    public void unshare(BlockDevice device) {
        Target t = targets.remove(iqn(device));
        if (t == null) {
            return;
        }
        for (IscsiConnection c : connections) {
            if (c.serves(device)) {
                c.reactor().execute(() -> c.close("target " + t.iqn() + " is no longer shared"));
            }
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (connections.stream().anyMatch(c -> c.serves(device)) && System.nanoTime() < deadline) {
            java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);
        }
        atomicSections.remove(device);
        // its reservations are kept (by its uuid) for a share again: dropped, a host preempted by fencing could
        // write once the LUN was shared again, while the one that fenced it still believed it held the LUN
        LOG.log(Level.INFO, "iSCSI target {0} removed", t.iqn());
    }

    /** {@code iqn.2019-05.io.openebs:<name>}, or {@code <uuid>} for a name that is no plain word. */
    public static String iqn(BlockDevice device) {
        String name = device.name();
        return IQN_PREFIX + (name.matches("[a-z0-9][a-z0-9.-]*") ? name : device.uuid().toString());
    }

    // ---------------------------------------------------------------- for connections

    long nopIntervalMillis() {
        return nopIntervalMillis;
    }

    long nopTimeoutMillis() {
        return nopTimeoutMillis;
    }

    /** How long a write may wait for its data (Data-Out) before its connection is closed: four NOP timeouts. */
    long dataTimeoutMillis() {
        return 4 * nopTimeoutMillis;
    }

    /** For tests: shorter liveness checks. */
    void nopTimes(long intervalMillis, long timeoutMillis) {
        this.nopIntervalMillis = intervalMillis;
        this.nopTimeoutMillis = timeoutMillis;
    }

    Target target(String iqn) {
        return targets.get(iqn);
    }

    List<Target> targets() {
        return targets.values().stream().sorted(Comparator.comparing(Target::iqn)).toList();
    }

    /**
     * The CID of the logged-in normal session of this initiator port (name and ISID) on {@code lun}
     * with this TSIH, or -1. Read from other reactors: TSIH is written last, volatile, at the login.
     */
    int sessionCid(String initiatorName, long isid, int tsih, Target lun) {
        for (IscsiConnection c : connections) {
            Session s = c.session();
            if (s.tsih == tsih && !s.discovery && s.lunTarget == lun && s.isid == isid && initiatorName.equals(s.initiatorName)) {
                return s.cid;
            }
        }
        return -1;
    }

    int newTsih() {
        int t;
        do {
            t = tsih.incrementAndGet() & 0xFFFF;
        } while (t == 0);
        return t;
    }

    /**
     * COMPARE AND WRITE is atomic per LUN: one runs at a time, whichever session and reactor it
     * comes from; the others wait in order and are handed the LUN on their own reactor. No other
     * write lands between its read and its write: from the moment one waits, new writes of the LUN
     * that overlap its blocks park here ({@link #park}; UNMAP and WRITE SAME whatever their range),
     * and it starts only once the writes admitted before have left the bdev on every connection
     * ({@link #writesQuiet}) — else a write acknowledged meanwhile was overwritten by a compare it
     * never took part in (a lost update of a VMFS ATS lock block, say). Writes elsewhere on the LUN
     * go on: parked for the whole LUN, they starved while hosts' ATS heartbeats kept coming.
     */
    static final class AtomicSection {
        private final IscsiTarget target;
        private final BlockDevice device;
        private final java.util.concurrent.ConcurrentLinkedQueue<Task> waiting = new java.util.concurrent.ConcurrentLinkedQueue<>();
        private final java.util.concurrent.atomic.AtomicBoolean busy = new java.util.concurrent.atomic.AtomicBoolean();
        /** Atomic commands holding the LUN or waiting for it; writes park while any. Read on every write. */
        private final java.util.concurrent.atomic.AtomicInteger atomics = new java.util.concurrent.atomic.AtomicInteger();
        /** Each parked write's way back to its reactor, where it looks again. */
        private final java.util.concurrent.ConcurrentLinkedQueue<Runnable> parked = new java.util.concurrent.ConcurrentLinkedQueue<>();
        /**
         * EXTENDED COPY writes to this LUN at the bdev, done when they leave it: a copy runs on its own
         * session's connection, which need not serve this LUN, so {@link #writesQuiet} asks these too.
         */
        private final Map<Object, CompletableFuture<Void>> copyWrites = new ConcurrentHashMap<>();
        /** The atomic commands holding or waiting for the LUN, whose blocks writes must not touch meanwhile. */
        private final java.util.concurrent.ConcurrentLinkedQueue<Task> fenced = new java.util.concurrent.ConcurrentLinkedQueue<>();

        AtomicSection(IscsiTarget target, BlockDevice device) {
            this.target = target;
            this.device = device;
        }

        void enter(Task task) {
            // an abort while it waits leaves the task to compareAndWrite to drop: released at once, it could
            // be reused for the connection's next command before its turn came
            task.awaitingFence = true;
            fenced.add(task); // before the count: a write that sees the count finds its blocks
            atomics.incrementAndGet();
            waiting.add(task);
            drain();
        }

        /** The atomic command {@code task} is done with the LUN (or dropped); the writes it held back go on. */
        void leave(Task task) {
            fenced.remove(task);
            busy.set(false);
            atomics.decrementAndGet();
            resumeParked(); // each looks again: another atomic command may hold its blocks now
            drain();
        }

        /** Whether a write of {@code blocks} blocks at {@code lba} must wait: an atomic command holds or waits for some of them. */
        boolean excludes(long lba, long blocks) {
            if (atomics.get() == 0) {
                return false; // every write pays this one volatile read, and nothing more while no atomic command runs
            }
            for (Task a : fenced) {
                if (lba < a.lba + a.blocks && a.lba - lba < blocks) {
                    return true;
                }
            }
            return false;
        }

        /** A write {@link #excludes} held back ({@link Task#fenceLba}, {@link Task#fenceBlocks}): it goes on after. */
        void park(Task task) {
            park(() -> task.connection.reactor().execute(() -> task.connection.media().resumeParked(task)),
                    task.fenceLba, task.fenceBlocks);
        }

        /** A write of {@code blocks} at {@code lba} that {@link #excludes} held back: {@code resume} once it may look again. */
        void park(Runnable resume, long lba, long blocks) {
            parked.add(resume);
            if (!excludes(lba, blocks)) {
                resumeParked(); // what held it back left as it was parked
            }
        }

        private void resumeParked() {
            for (Runnable resume; (resume = parked.poll()) != null; ) {
                resume.run();
            }
        }

        /**
         * An EXTENDED COPY is about to write {@code blocks} at {@code lba}: false, and nothing counted, when
         * an atomic command holds or waits for some of them (the copy parks). Counted before it looks, as
         * {@link #enter} fences before it counts: whichever comes second sees the other.
         */
        boolean copyWriteStarts(Object copy, long lba, long blocks) {
            copyWrites.put(copy, new CompletableFuture<>());
            if (excludes(lba, blocks)) {
                copyWriteEnded(copy);
                return false;
            }
            return true;
        }

        /** The copy's write left the bdev (or never went): a COMPARE AND WRITE waiting for it may go. */
        void copyWriteEnded(Object copy) {
            CompletableFuture<Void> atBdev = copyWrites.remove(copy);
            if (atBdev != null) {
                atBdev.complete(null);
            }
        }

        private void drain() {
            while (!waiting.isEmpty() && busy.compareAndSet(false, true)) {
                Task next = waiting.poll();
                if (next == null) {
                    busy.set(false);
                    continue;
                }
                Runnable run = () -> next.connection.reactor().execute(() -> next.connection.media().compareAndWrite(next));
                if (next.aborted || next.connection.isClosed()) {
                    run.run(); // dropped at once, without waiting for the LUN's writes: an abort's answer waits for it
                } else {
                    target.writesQuiet(device).whenComplete((quiet, failed) -> run.run());
                }
                return;
            }
        }
    }

    /**
     * Completes once the writes admitted to {@code device} so far are done with the bdev, on every
     * connection — those closed with writes still there included. Writes admitted later (to other
     * blocks: those to the asker's park, see {@link AtomicSection}) are not waited for.
     */
    CompletableFuture<Void> writesQuiet(BlockDevice device) {
        List<CompletableFuture<Void>> quiet = new ArrayList<>();
        for (IscsiConnection c : connections) {
            if (c.serves(device)) {
                CompletableFuture<Void> q = new CompletableFuture<>();
                c.reactor().execute(() -> c.media().whenWritesQuiet(q));
                quiet.add(q);
            }
        }
        for (IscsiConnection gone : draining) {
            if (gone.serves(device)) {
                quiet.add(gone.drained());
            }
        }
        quiet.addAll(atomicSection(device).copyWrites.values());
        return CompletableFuture.allOf(quiet.toArray(CompletableFuture[]::new));
    }

    private final Map<BlockDevice, AtomicSection> atomicSections = new ConcurrentHashMap<>();
    /** Each LUN's reservations (SPC-2 and persistent) by its bdev's uuid, shared by all its sessions, kept across shares. */
    private final Map<java.util.UUID, Reservations> reservations = new ConcurrentHashMap<>();

    Reservations reservations(BlockDevice device) {
        return reservations.computeIfAbsent(device.uuid(), u -> new Reservations((nexus, ascq) -> unitAttention(u, nexus, ascq),
                reservationDir == null ? null : reservationDir.resolve(u + ".pr")));
    }

    /**
     * TARGET COLD RESET: every other session of the LUN goes at once; completes once none of their
     * tasks is at the bdev (the reset is answered then, its SPC-2 reservation ended just before, and
     * its own session goes after).
     */
    CompletableFuture<Void> coldReset(BlockDevice device, IscsiConnection requester) {
        String prefix = device.uuid() + " ";
        synchronized (leftUnitAttentions) { // a hard reset: the nexuses away are told of it, and nothing from before
            leftUnitAttentions.replaceAll((key, left) -> key.startsWith(prefix) ? UnitAttentions.afterReset() : left);
        }
        List<CompletableFuture<Void>> ends = new ArrayList<>();
        for (IscsiConnection c : connections) {
            if (c != requester && c.serves(device)) {
                // closed at once (aborted and left open, it ran a write that came meanwhile, after the answer);
                // its tasks at the bdev are waited for
                c.coldReset();
                c.reactor().execute(() -> c.close("target cold reset"));
                ends.add(c.drained());
            } else if (c != requester && c.copiesRunning.get() > 0) {
                ends.add(c.abortCopiesInto(device));
            }
        }
        for (IscsiConnection gone : draining) {
            if (gone.serves(device) || gone.copiesRunning.get() > 0) {
                ends.add(gone.drained());
            }
        }
        return CompletableFuture.allOf(ends.toArray(CompletableFuture[]::new));
    }

    AtomicSection atomicSection(BlockDevice device) {
        return atomicSections.computeIfAbsent(device, d -> new AtomicSection(this, d));
    }

    /** Posts a unit attention to the sessions of one I_T nexus on {@code device}. */
    private void unitAttention(java.util.UUID device, String nexus, int ascq) {
        for (IscsiConnection c : connections) {
            if (c.serves(device) && nexus.equals(c.nexus())) {
                c.reactor().execute(() -> c.unitAttention(ascq));
            }
        }
        synchronized (leftUnitAttentions) {
            UnitAttentions left = leftUnitAttentions.get(device + " " + nexus);
            if (left != null) {
                left.add(ascq);
            }
        }
    }

    /** Posts a unit attention to every session of {@code device}, on each session's reactor. */
    void unitAttention(BlockDevice device, int ascq) {
        for (IscsiConnection c : connections) {
            if (c.serves(device)) {
                c.reactor().execute(() -> c.unitAttention(ascq));
            }
        }
        String prefix = device.uuid() + " ";
        synchronized (leftUnitAttentions) {
            leftUnitAttentions.forEach((key, left) -> {
                if (key.startsWith(prefix)) {
                    left.add(ascq);
                }
            });
        }
    }

    /**
     * What sessions that closed other than by logout had not told their I_T nexus, by LUN (bdev
     * uuid) and nexus, until the nexus logs in to that LUN again; the most recent ones only.
     */
    private final Map<String, UnitAttentions> leftUnitAttentions = new java.util.LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, UnitAttentions> eldest) {
            return size() > MAX_LEFT_UNIT_ATTENTIONS;
        }
    };
    private static final int MAX_LEFT_UNIT_ATTENTIONS = 256;

    private static String nexusKey(IscsiConnection connection) {
        return connection.session().lunTarget.device().uuid() + " " + connection.nexus();
    }

    /** From a closing connection of a normal session: what its I_T nexus was not told. */
    void leaveUnitAttentions(IscsiConnection connection, UnitAttentions left) {
        if (connection.nexus() == null || connection.session().lunTarget == null) {
            return;
        }
        synchronized (leftUnitAttentions) {
            UnitAttentions older = leftUnitAttentions.put(nexusKey(connection), left); // kept blank too: attentions
            if (older != null) { // posted while the nexus is away land in it. Left by a session before, told first
                left.takeOver(older);
            }
        }
    }

    /** A unit attention that reached a connection after its close: its I_T nexus's next session has it. */
    void leftUnitAttention(IscsiConnection connection, int ascq) {
        if (connection.nexus() == null || connection.session().lunTarget == null) {
            return;
        }
        synchronized (leftUnitAttentions) {
            UnitAttentions left = leftUnitAttentions.get(nexusKey(connection));
            if (left != null) {
                left.add(ascq);
            }
        }
    }

    /** At a login of a normal session: what an earlier session of its I_T nexus to its LUN left untold, or null. */
    UnitAttentions takeUnitAttentions(IscsiConnection connection) {
        if (connection.nexus() == null || connection.session().lunTarget == null) {
            return null;
        }
        synchronized (leftUnitAttentions) {
            return leftUnitAttentions.remove(nexusKey(connection));
        }
    }

    /**
     * A normal session is in full feature phase. A session of the same I_T nexus (initiator name
     * and ISID) to the same LUN is the one this login reinstates (RFC 7143 §6.3.5: an initiator
     * recovering from a lost connection logs in again with its ISID and TSIH 0): it is closed, and
     * its SPC-2 reservation ends now — not whenever its dead connection is noticed, which would end
     * the reservation the new session has taken meanwhile. Completes once none of the closed
     * sessions' tasks is at the bdev any more: the new session's login is answered only then, or a
     * write of the old one (the initiator gave it up, and sends it again on the new session, then
     * newer ones) would land late over the newer data. LIO waits for them as well.
     */
    CompletableFuture<Void> reinstate(IscsiConnection connection, boolean sameSession) {
        String nexus = connection.nexus();
        if (nexus == null) {
            return CompletableFuture.completedFuture(null); // a discovery session
        }
        List<CompletableFuture<Void>> older = new ArrayList<>();
        for (IscsiConnection old : connections) {
            if (old != connection && nexus.equals(old.nexus()) && connection.sameLun(old)) {
                old.reinstated();
                old.reactor().execute(() -> old.close("its session is reinstated by a new login of " + nexus));
                older.add(old.drained());
            }
        }
        boolean reinstates = !older.isEmpty();
        for (IscsiConnection gone : draining) {
            if (nexus.equals(gone.nexus()) && connection.sameLun(gone)) {
                older.add(gone.drained());
            }
        }
        CompletableFuture<Void> all = CompletableFuture.allOf(older.toArray(CompletableFuture[]::new));
        // the old session's SPC-2 reservation ends once its writes have (another host must not reserve and
        // write before they land), and before the new session is answered (which may reserve again)
        // (a connection reinstated in its session keeps the session's reservation: the I_T nexus goes on)
        return reinstates && !sameSession ? all.whenComplete((done, failed) -> connection.session().reservations.endSpc2(nexus)) : all;
    }

    /**
     * PREEMPT AND ABORT (SPC-4 §5.13.11.2.6): the tasks of the preempted nexuses on this device's LUN
     * are aborted; completes once none of them is at the bdev, so that no write of a fenced host
     * lands after the preempting one is told GOOD. Connections closed with writes at the bdev count too.
     */
    CompletableFuture<Void> abortTasksOf(BlockDevice device, java.util.Collection<String> nexuses) {
        List<CompletableFuture<Void>> ends = new ArrayList<>();
        for (IscsiConnection c : connections) {
            if (c.serves(device) && nexuses.contains(c.nexus())) {
                ends.add(c.abortAllTasks());
            } else if (c.copiesRunning.get() > 0 && nexuses.contains(c.nexus())) {
                ends.add(c.abortCopiesInto(device)); // an EXTENDED COPY from its own LUN into this one
            }
        }
        for (IscsiConnection gone : draining) {
            if ((gone.serves(device) || gone.copiesRunning.get() > 0) && nexuses.contains(gone.nexus())) {
                ends.add(gone.drained());
            }
        }
        return CompletableFuture.allOf(ends.toArray(CompletableFuture[]::new));
    }

    /**
     * Every task on {@code device} of every connection but {@code except} aborted (a LOGICAL UNIT
     * RESET aborts the tasks of every I_T nexus, SAM-5 §7.8); completes once none of them is at the
     * bdev any more, and once connections closed with writes there have drained.
     */
    CompletableFuture<Void> abortOthersOn(BlockDevice device, IscsiConnection except) {
        List<CompletableFuture<Void>> ends = new ArrayList<>();
        for (IscsiConnection c : connections) {
            if (c != except && c.serves(device)) {
                ends.add(c.abortAllTasks());
            } else if (c != except && c.copiesRunning.get() > 0) {
                ends.add(c.abortCopiesInto(device)); // an EXTENDED COPY from another LUN into this one
            }
        }
        for (IscsiConnection gone : draining) {
            if (gone.serves(device) || gone.copiesRunning.get() > 0) {
                ends.add(gone.drained());
            }
        }
        return CompletableFuture.allOf(ends.toArray(CompletableFuture[]::new));
    }

    void closed(IscsiConnection connection) {
        if (!connection.drained().isDone()) {
            // closed with writes still at the bdev (its peer went, a timeout, a refused reinstatement):
            // a login of its nexus waits for them all the same. In draining before it leaves connections,
            // so that a fence or a login on another reactor never sees it in neither
            draining.add(connection);
            connection.drained().whenComplete((done, failed) -> draining.remove(connection));
        }
        connections.remove(connection);
    }

    /** The portal a connection reached, for SendTargets: the address it dialled. */
    String portal(SocketChannel channel) {
        try {
            InetSocketAddress local = (InetSocketAddress) channel.getLocalAddress();
            return Listener.hostPort(local);
        } catch (IOException e) {
            return advertisedHost + ":" + bound.getPort();
        }
    }

    // ---------------------------------------------------------------- inspection

    public InetSocketAddress address() {
        return bound;
    }

    public List<Target> sharedTargets() {
        return targets();
    }

    /** The LUN's reservations in a line, for the shell. */
    public String reservationsOf(BlockDevice device) {
        Reservations r = reservations.get(device.uuid());
        return r == null ? "none" : r.describe();
    }

    @Override
    public List<String> connectedHosts(BlockDevice device) {
        return connections.stream().filter(c -> c.serves(device))
                .map(c -> c.initiatorName() + " from " + (c.peer().startsWith("/") ? c.peer().substring(1) : c.peer()))
                .sorted().toList();
    }

    /** The live connections serving {@code device} (tests look at their state on their reactors). */
    List<IscsiConnection> connectionsServing(BlockDevice device) {
        return connections.stream().filter(c -> c.serves(device)).toList();
    }

    public List<ConnectionView> connections() {
        return connections.stream()
                .map(c -> new ConnectionView(c.peer(), c.reactor().id(), c.initiatorName(), c.targetName(), c.tasksInFlight()))
                .sorted(Comparator.comparing(ConnectionView::peer)).toList();
    }

    @Deactivate
    public void close() {
        listener.close();
        for (IscsiConnection c : connections) {
            c.reactor().execute(() -> c.close("the iSCSI target is stopping"));
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!connections.isEmpty() && System.nanoTime() < deadline) {
            java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);
        }
        targets.clear();
        LOG.log(Level.INFO, "iSCSI target on {0} stopped", Listener.hostPort(bound));
    }
}
