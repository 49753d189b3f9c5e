package io.mayastorj.nvmf.internal.target;

import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.buffer.BufferPool;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.core.node.Node;
import io.mayastorj.core.reactor.Listener;
import io.mayastorj.core.reactor.Reactor;
import io.mayastorj.core.reactor.ReactorGroup;
import io.mayastorj.core.transport.ShareOptions;
import io.mayastorj.core.transport.Transport;
import io.mayastorj.nvmf.internal.protocol.Discovery;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.metatype.annotations.Designate;

/**
 * The NVMe-oF/TCP target: the {@code nvmf} transport. Each shared bdev becomes a subsystem
 * {@code nqn.2019-05.io.openebs:<bdev name or uuid>} with the bdev as namespace 1; the discovery subsystem
 * lists them. Connections are spread over the reactors; each queue lives on one reactor for its
 * whole life.
 */
@Component(service = {Transport.class, NvmfTarget.class}, immediate = true, property = Transport.PROTOCOL + "=nvmf",
        configurationPid = NvmfConfig.PID, configurationPolicy = ConfigurationPolicy.OPTIONAL)
@Designate(ocd = NvmfConfig.class)
public final class NvmfTarget implements Transport {

    public static final String PROTOCOL = "nvmf";
    public static final String NQN_PREFIX = "nqn.2019-05.io.openebs:";
    public static final int DEFAULT_PORT = 8420;
    /** Mayastor's port for nexus frontends: a volume's host connects here, replicas' nexuses to {@link #DEFAULT_PORT}. */
    public static final int DEFAULT_NEXUS_PORT = 4421;

    private static final Logger LOG = System.getLogger("mayastor.nvmf");

    private final ReactorGroup reactors;
    private final BufferPool buffers;
    private final Listener listener;
    private final InetSocketAddress bound;
    /** The nexus frontends' listener (Mayastor's 4421), or null when nexuses share {@link #listener}. */
    private final Listener nexusListener;
    private final InetSocketAddress nexusBound;
    private final String advertisedHost;
    private final Map<String, Subsystem> subsystems = new ConcurrentHashMap<>();
    private final Subsystem discovery;
    private final Set<TargetQueue> queues = ConcurrentHashMap.newKeySet();
    /**
     * How long a write may wait for its H2CData before its connection ends: past the Linux host's
     * I/O timeout (30 s), by which a live host has given up on the command itself.
     */
    private volatile long dataTimeoutNanos = TimeUnit.SECONDS.toNanos(40);
    /** GENCTR of the discovery log: changes whenever the set of subsystems does. */
    private final AtomicLong generation = new AtomicLong();

    @Activate
    public NvmfTarget(@Reference ReactorGroup reactors, @Reference BufferPool buffers, @Reference Node node,
                      NvmfConfig config) throws IOException {
        this(reactors, buffers, new InetSocketAddress[] {listenAddress(node, config, config.nvmf_port(), "nvmf.port"),
                config.nvmf_nexus_port() == config.nvmf_port() ? null
                        : listenAddress(node, config, config.nvmf_nexus_port(), "nvmf.nexus.port")});
    }

    /** A target listening on {@code listen} (port 0: any free port), nexuses included. */
    public NvmfTarget(ReactorGroup reactors, BufferPool buffers, InetSocketAddress listen) throws IOException {
        this(reactors, buffers, new InetSocketAddress[] {listen, null});
    }

    /**
     * A target listening on {@code listen}, and for nexus frontends on {@code nexusListen} (null: on
     * {@code listen} too). Both serve every subsystem and the discovery service; the URI of a share,
     * and its discovery entry, name the port its kind is served on.
     */
    public static NvmfTarget withNexusPort(ReactorGroup reactors, BufferPool buffers, InetSocketAddress listen,
                                           InetSocketAddress nexusListen) throws IOException {
        return new NvmfTarget(reactors, buffers, new InetSocketAddress[] {listen, nexusListen});
    }

    /**
     * {@code listens}: the main address and the nexus frontends' (or null). Not a public constructor of
     * four arguments: SCR picks the activation constructor by its count, and took such a one first
     * (an ERROR in every node's log, "unsupported type InetSocketAddress").
     */
    private NvmfTarget(ReactorGroup reactors, BufferPool buffers, InetSocketAddress[] listens) throws IOException {
        InetSocketAddress listen = listens[0];
        InetSocketAddress nexusListen = listens[1];
        this.reactors = reactors;
        this.buffers = buffers;
        this.discovery = new Subsystem(this, Discovery.NQN, null, List.of());
        try {
            this.listener = Listener.open(reactors, listen, "the nvmf target", this::startQueue);
        } catch (IOException e) {
            LOG.log(Level.ERROR, e.getMessage());
            throw e;
        }
        Listener nexuses = null;
        if (nexusListen != null) {
            try {
                nexuses = Listener.open(reactors, nexusListen, "the nvmf target's nexus frontends", this::startQueue);
            } catch (IOException | RuntimeException e) {
                listener.close(); // not left bound by a target that did not start
                LOG.log(Level.ERROR, e.getMessage());
                throw e;
            }
        }
        this.nexusListener = nexuses;
        this.bound = listener.address();
        this.nexusBound = nexuses == null ? null : nexuses.address();
        this.advertisedHost = listener.advertisedHost();
        LOG.log(Level.INFO, "nvmf target listening on {0}{1}", Listener.hostPort(bound),
                nexusBound == null ? "" : " (nexus frontends on " + Listener.hostPort(nexusBound) + ")");
    }

    private static InetSocketAddress listenAddress(Node node, NvmfConfig config, int port, String key) throws IOException {
        String address = config.nvmf_address();
        InetAddress host = address == null || address.isBlank() ? node.address() : InetAddress.getByName(address.strip());
        if (port < 0 || port > 65535) {
            throw new IOException(key + "=" + port + " is not a TCP port");
        }
        return new InetSocketAddress(host, port);
    }



    /**
     * Queues not connected yet (no Fabrics Connect), at most {@link #MAX_CONNECTING}: each holds about
     * 72 KiB of direct memory for up to the data timeout before it has said who it is, and a client
     * opening connections without end ran the node out of memory and file descriptors. A Linux host
     * opens all of a controller's I/O queues (one per CPU) before it connects any, hence the room.
     */
    static final int MAX_CONNECTING = 1024;
    /** ... and at most this many from one address: one client holding the cap locked every host out. */
    static final int MAX_CONNECTING_PER_PEER = 512;
    private volatile int maxConnecting = MAX_CONNECTING;
    private volatile int maxConnectingPerPeer = MAX_CONNECTING_PER_PEER;
    private final java.util.concurrent.atomic.AtomicInteger connecting = new java.util.concurrent.atomic.AtomicInteger();
    private final Map<InetAddress, Integer> connectingFrom = new ConcurrentHashMap<>();
    private final java.util.concurrent.atomic.AtomicBoolean connectingFullSaid = new java.util.concurrent.atomic.AtomicBoolean();

    private void startQueue(SocketChannel socket, Reactor reactor) {
        InetAddress peer = peerOf(socket);
        if (!connectingBegins(peer)) {
            closeQuietly(socket);
            return;
        }
        TargetQueue queue;
        try {
            queue = new TargetQueue(this, socket, reactor, peer);
        } catch (RuntimeException | OutOfMemoryError e) { // no direct memory for its buffers: the client goes, not the fd
            connectingEnded(peer);
            LOG.log(Level.WARNING, "cannot serve the nvmf connection from {0}: {1}", peer.getHostAddress(), e.toString());
            closeQuietly(socket);
            return;
        }
        try {
            queues.add(queue);
            queue.start();
            long timeout = dataTimeoutNanos;
            reactor.execute(() -> queue.connectWithin(timeout));
        } catch (IOException | RuntimeException e) { // a reactor stopping refuses the registration: closed, and counted off
            LOG.log(Level.WARNING, "cannot serve the nvmf connection from {0}: {1}", queue.peer(), e.getMessage());
            queue.close(null);
        }
    }

    /** Counts a queue that begins to connect; false (counting nothing) past either cap. */
    private boolean connectingBegins(InetAddress peer) {
        int fromPeer = connectingFrom.merge(peer, 1, Integer::sum);
        int all = connecting.incrementAndGet();
        if (fromPeer > maxConnectingPerPeer || all > maxConnecting) {
            connectingEnded(peer);
            if (connectingFullSaid.compareAndSet(false, true)) {
                LOG.log(Level.WARNING, "{0} nvmf connections are not connected yet ({1} from {2} at most): new ones are "
                        + "closed until they are fewer", maxConnecting, maxConnectingPerPeer, peer.getHostAddress());
            }
            return false;
        }
        connectingFullSaid.set(false);
        return true;
    }

    /** A queue counted by {@link #connectingBegins} was connected, or closed first; once per queue. */
    void connectingEnded(InetAddress peer) {
        connecting.decrementAndGet();
        connectingFrom.computeIfPresent(peer, (a, n) -> n <= 1 ? null : n - 1);
    }

    /** Queues counted as not connected yet, for tests. */
    public int connecting() {
        return connecting.get();
    }

    /** Lower caps, for tests (the real ones take a thousand sockets to reach). */
    public void connectingCaps(int all, int perPeer) {
        maxConnecting = all;
        maxConnectingPerPeer = perPeer;
    }

    private static InetAddress peerOf(SocketChannel socket) {
        try {
            return ((InetSocketAddress) socket.getRemoteAddress()).getAddress();
        } catch (IOException | RuntimeException e) {
            return InetAddress.getLoopbackAddress(); // gone already: it is closed soon anyway
        }
    }

    private static void closeQuietly(SocketChannel socket) {
        try {
            socket.close();
        } catch (IOException ignored) {
            // it is gone either way
        }
    }

    // ---------------------------------------------------------------- Transport

    @Override
    public String protocol() {
        return PROTOCOL;
    }

    @Override
    public String share(BlockDevice device, ShareOptions options) {
        for (String key : options.properties().keySet()) {
            if (!key.equals("cntlid.min") && !key.equals("cntlid.max")) {
                throw MayastorException.invalidArgument("nvmf shares take the properties cntlid.min and cntlid.max only (given: %s)",
                        String.join(", ", options.properties().keySet()));
            }
        }
        int[] cntlids = Subsystem.cntlidRange(options.properties().get("cntlid.min"), options.properties().get("cntlid.max"));
        for (String host : options.allowedHosts()) {
            if (!host.startsWith("nqn.") || host.length() > 223) {
                throw MayastorException.invalidArgument("'%s' is not a host NQN (nqn.yyyy-mm.domain:name, at most 223 bytes)",
                        host);
            }
        }
        String nqn = nqn(device);
        if (nqn.length() > 223) {
            throw MayastorException.invalidArgument("bdev name %s makes an NQN longer than 223 bytes", device.name());
        }
        Subsystem subsystem = new Subsystem(this, nqn, device, options.allowedHosts(), cntlids[0], cntlids[1]);
        if (subsystems.putIfAbsent(nqn, subsystem) != null) {
            throw MayastorException.alreadyExists("subsystem %s exists already", nqn);
        }
        generation.incrementAndGet();
        LOG.log(Level.INFO, "subsystem {0} serves bdev {1}{2}", nqn, device.name(), options.allowedHosts().isEmpty()
                ? " to any host" : " to " + String.join(", ", options.allowedHosts()));
        return uri(subsystem);
    }

    @Override
    public void unshare(BlockDevice device) {
        Subsystem subsystem = subsystems.remove(nqn(device));
        if (subsystem == null) {
            return;
        }
        generation.incrementAndGet();
        subsystem.shutdown("subsystem " + subsystem.nqn() + " is no longer shared");
        subsystem.awaitIdle(10, TimeUnit.SECONDS);
        LOG.log(Level.INFO, "subsystem {0} removed", subsystem.nqn());
    }

    @Override
    public List<String> connectedHosts(BlockDevice device) {
        Subsystem subsystem = subsystems.get(nqn(device));
        return subsystem == null ? List.of() : subsystem.connectedHosts();
    }

    /**
     * The subsystem NQN of a bdev: {@code nqn.2019-05.io.openebs:<name>}, or {@code <uuid>} for a
     * name that is no plain word (a path such as /dev/sdb), so that the NQN is also a URI path.
     */
    public static String nqn(BlockDevice device) {
        String name = device.name();
        return NQN_PREFIX + (name.matches("[A-Za-z0-9][A-Za-z0-9._-]*") ? name : device.uuid().toString());
    }

    private String uri(Subsystem subsystem) {
        return "nvmf://" + advertisedHost + ":" + portOf(subsystem) + "/" + subsystem.nqn()
                + "?uuid=" + subsystem.device().uuid();
    }

    /**
     * The port a subsystem is offered on: a nexus's on the nexus frontends' (Mayastor's 4421, apart
     * from the replicas' so that a node's volumes and the replicas it serves to other nexuses can be
     * told apart by firewalls and hosts). Either port serves it: a host given the other one before
     * (an upgrade) still connects.
     */
    private int portOf(Subsystem subsystem) {
        return onNexusPort(subsystem) ? nexusBound.getPort() : bound.getPort();
    }

    private boolean onNexusPort(Subsystem subsystem) {
        return nexusBound != null && subsystem.device() != null && "Nexus".equals(subsystem.device().productName());
    }

    // ---------------------------------------------------------------- for queues

    BufferPool buffers() {
        return buffers;
    }

    /** The subsystem of an NQN (the discovery one included), or null. */
    Subsystem subsystem(String nqn) {
        return Discovery.NQN.equals(nqn) ? discovery : subsystems.get(nqn);
    }

    long generation() {
        return generation.get();
    }

    /** Discovery entries for a host: the subsystems it may connect to, at the address it dialled. */
    List<Discovery.Entry> discoveryEntries(String hostNqn, InetSocketAddress dialled) {
        List<Discovery.Entry> entries = new ArrayList<>();
        String address = dialled == null ? advertisedHost : dialled.getAddress().getHostAddress();
        boolean ipv6 = dialled != null && dialled.getAddress() instanceof Inet6Address;
        for (Subsystem subsystem : subsystems.values()) {
            if (subsystem.allows(hostNqn)) {
                // the two ports are two ports of the subsystem: each its own ID (1 the main one, 2 the nexus frontends')
                entries.add(new Discovery.Entry(subsystem.nqn(), address, ipv6, portOf(subsystem), onNexusPort(subsystem) ? 2 : 1));
            }
        }
        entries.sort(Comparator.comparing(Discovery.Entry::subnqn));
        return entries;
    }

    void closed(TargetQueue queue) {
        queues.remove(queue);
    }

    // ---------------------------------------------------------------- inspection

    public InetSocketAddress address() {
        return bound;
    }

    /** Where nexus frontends are served: {@link #address} when they have no port of their own. */
    public InetSocketAddress nexusAddress() {
        return nexusBound == null ? bound : nexusBound;
    }

    public long connectionsAccepted() {
        return listener.connectionsAccepted() + (nexusListener == null ? 0 : nexusListener.connectionsAccepted());
    }

    /** The shared subsystems, by NQN (the discovery subsystem first). */
    public List<SubsystemView> subsystems() {
        List<SubsystemView> views = new ArrayList<>();
        views.add(discovery.view());
        subsystems.values().stream().sorted(Comparator.comparing(Subsystem::nqn)).forEach(s -> views.add(s.view()));
        return views;
    }

    /** Every connection, with its state. */
    public List<QueueView> queues() {
        List<QueueView> views = new ArrayList<>();
        for (TargetQueue queue : queues) {
            views.add(queue.view());
        }
        views.sort(Comparator.comparing(QueueView::subsystem).thenComparingInt(QueueView::cntlid)
                .thenComparingInt(QueueView::qid));
        return views;
    }

    // ---------------------------------------------------------------- stop

    @Deactivate
    public void close() {
        listener.close();
        if (nexusListener != null) {
            nexusListener.close();
        }
        for (Subsystem subsystem : subsystems.values()) {
            subsystem.shutdown("the nvmf target is stopping");
        }
        discovery.shutdown("the nvmf target is stopping");
        for (TargetQueue queue : queues) {
            queue.reactor().execute(() -> queue.close("the nvmf target is stopping"));
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!queues.isEmpty() && System.nanoTime() < deadline) {
            java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);
        }
        for (Subsystem subsystem : subsystems.values()) {
            subsystem.awaitIdle(10, TimeUnit.SECONDS);
        }
        subsystems.clear();
        LOG.log(Level.INFO, "nvmf target on {0} stopped", Listener.hostPort(bound));
    }

    long dataTimeoutNanos() {
        return dataTimeoutNanos;
    }

    /** For tests: a shorter wait for a write's data. */
    public void dataTimeout(java.time.Duration timeout) {
        dataTimeoutNanos = timeout.toNanos();
    }
}
