package io.mayastorj.nvmf.internal.host;

import io.mayastorj.core.bdev.BdevFactory;
import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.buffer.BufferPool;
import io.mayastorj.core.error.ErrorKind;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.core.node.Node;
import io.mayastorj.core.reactor.Reactor;
import io.mayastorj.core.reactor.ReactorGroup;
import io.mayastorj.nvmf.internal.protocol.Status;
import io.mayastorj.nvmf.internal.target.NvmfConfig;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;

/**
 * {@code nvmf://host[:8420]/<subsystem-nqn>[?uuid=U][&hostnqn=NQN]}: a namespace of a remote
 * NVMe-oF/TCP subsystem as a bdev (this is how a nexus reaches a replica on another node). With
 * {@code uuid} the namespace must have that UUID; {@code hostnqn} defaults to the node's
 * {@code nqn.2019-05.io.openebs:node-name:<node>}.
 */
@Component(service = {BdevFactory.class, NvmfBdevFactory.class}, configurationPid = NvmfConfig.PID,
        configurationPolicy = ConfigurationPolicy.OPTIONAL)
public final class NvmfBdevFactory implements BdevFactory, Host {

    public static final int DEFAULT_PORT = 8420;
    private static final Set<String> PARAMS = Set.of("uuid", "hostnqn");

    private final List<Reactor> reactors;
    private final BufferPool buffers;
    private final String defaultHostNqn;
    private final long ioTimeoutNanos;
    private final ScheduledExecutorService connector;
    private static final int CONNECT_THREADS = 16;
    private final Set<NvmfBdev> bdevs = ConcurrentHashMap.newKeySet();
    private volatile boolean headerDigest;
    private volatile boolean dataDigest;

    @Activate
    public NvmfBdevFactory(@Reference ReactorGroup reactors, @Reference BufferPool buffers, @Reference Node node,
                           NvmfConfig config) {
        this(reactors.reactors(), buffers, hostNqn(node.id()), TimeUnit.SECONDS.toNanos(Math.max(1, config.nvmf_io_timeout())));
    }

    /** A factory outside the framework (tests, the CLI's bench and demo): its host NQN and I/O timeout given. */
    public static NvmfBdevFactory of(List<Reactor> reactors, BufferPool buffers, String hostNqn, long ioTimeoutNanos) {
        return new NvmfBdevFactory(reactors, buffers, hostNqn, ioTimeoutNanos);
    }

    /**
     * Private: SCR picks the activation constructor by its count of arguments, and a second public one
     * of four could be taken first (an ERROR in the node's log, as NvmfTarget's did).
     */
    private NvmfBdevFactory(List<Reactor> reactors, BufferPool buffers, String hostNqn, long ioTimeoutNanos) {
        this.reactors = List.copyOf(reactors);
        this.buffers = buffers;
        this.defaultHostNqn = hostNqn;
        this.ioTimeoutNanos = ioTimeoutNanos;
        // a reconnect blocks its thread for up to ~30 s (TCP connect, ICResp, admin commands, 10 s each)
        // against a target that is gone: with one thread, every other bdev's reconnect waited in line
        // behind those. Threads up to CONNECT_THREADS, made as needed and ended when idle
        java.util.concurrent.ScheduledThreadPoolExecutor pool = new java.util.concurrent.ScheduledThreadPoolExecutor(
                CONNECT_THREADS, task -> {
                    Thread thread = new Thread(task, "nvmf-connect");
                    thread.setDaemon(true);
                    return thread;
                });
        pool.setKeepAliveTime(30, TimeUnit.SECONDS);
        pool.allowCoreThreadTimeOut(true);
        this.connector = pool;
    }

    /** The host NQN Mayastor gives a node. */
    public static String hostNqn(String nodeId) {
        return "nqn.2019-05.io.openebs:node-name:" + nodeId;
    }

    /** Header and data digests on the connections of bdevs made from now on (off by default). */
    public void digests(boolean header, boolean data) {
        this.headerDigest = header;
        this.dataDigest = data;
    }

    @Override
    public Set<String> schemes() {
        return Set.of("nvmf", "nvmf+tcp");
    }

    @Override
    public String nameOf(BdevUri uri) {
        return parse(uri).name();
    }

    private record Parsed(String name, String host, int port, String nqn, UUID uuid, String hostnqn) {
    }

    private Parsed parse(BdevUri uri) {
        uri.requireKnownParams(PARAMS);
        if (uri.host() == null || uri.host().isEmpty()) {
            throw MayastorException.invalidArgument("'%s': an nvmf URI names its target: nvmf://HOST[:PORT]/NQN", uri);
        }
        String nqn = uri.pathName();
        if (!nqn.startsWith("nqn.") || nqn.contains("/") || nqn.getBytes(StandardCharsets.UTF_8).length > 223) {
            throw MayastorException.invalidArgument("'%s': the path must be a subsystem NQN (nqn.yyyy-mm.domain:name, "
                    + "at most 223 bytes)", uri);
        }
        UUID uuid = null;
        if (uri.param("uuid").isPresent()) {
            try {
                uuid = UUID.fromString(uri.param("uuid").get());
            } catch (IllegalArgumentException e) {
                throw MayastorException.invalidArgument("'%s': uuid '%s' is not a UUID", uri, uri.param("uuid").get());
            }
        }
        String hostnqn = uri.param("hostnqn").orElse(defaultHostNqn);
        if (!hostnqn.startsWith("nqn.") || hostnqn.length() > 223) {
            throw MayastorException.invalidArgument("'%s': hostnqn '%s' is not an NQN", uri, hostnqn);
        }
        int port = uri.port() == -1 ? DEFAULT_PORT : uri.port();
        String host = uri.host();
        String name = "nvmf://" + host + ":" + port + "/" + nqn;
        return new Parsed(name, host, port, nqn, uuid, hostnqn);
    }

    @Override
    public BlockDevice create(BdevUri uri) {
        Parsed p = parse(uri);
        InetSocketAddress address;
        try {
            String host = p.host().startsWith("[") ? p.host().substring(1, p.host().length() - 1) : p.host();
            address = new InetSocketAddress(InetAddress.getByName(host), p.port());
        } catch (UnknownHostException e) {
            throw MayastorException.invalidArgument("'%s': unknown host %s", uri, p.host());
        }
        return open(p.name(), new Session.Target(address, p.nqn(), p.hostnqn(),
                UUID.nameUUIDFromBytes(p.hostnqn().getBytes(StandardCharsets.UTF_8)), headerDigest, dataDigest), p.uuid());
    }

    /**
     * Targets a connection was lost to with writes unanswered, and until when they may still land
     * there: a nexus faults such a child and destroys its bdev, then adds it again as a new one —
     * connected at once, the old writes could land after its rebuild, a replica in sync with old data.
     */
    private final java.util.concurrent.ConcurrentHashMap<String, Long> fencedUntil = new java.util.concurrent.ConcurrentHashMap<>();

    private static String fenceKey(Session.Target target) {
        return target.address() + "/" + target.subnqn() + "/" + target.hostnqn();
    }

    @Override
    public void fence(Session.Target target, long untilNanos) {
        fencedUntil.merge(fenceKey(target), untilNanos, Math::max);
    }

    @Override
    public long fenceLeftNanos(Session.Target target) {
        Long until = fencedUntil.get(fenceKey(target));
        return until == null ? 0 : Math.max(0, until - System.nanoTime());
    }

    private BlockDevice open(String name, Session.Target target, UUID expected) {
        Long until = fencedUntil.get(fenceKey(target));
        if (until != null) {
            long left = until - System.nanoTime();
            if (left > 0) {
                // (no countdown in the text: a caller's status that changed with every look would be rewritten each time)
                throw MayastorException.unavailable("%s: writes of an earlier connection to it may still land there; it is "
                        + "connected again once its keep-alive timeout has passed", name);
            }
            fencedUntil.remove(fenceKey(target), until);
        }
        Session session;
        Sink sink = new Sink();
        try {
            session = Session.connect(this, target, sink);
        } catch (Session.RefusedException e) {
            ErrorKind kind = switch (e.status) {
                case Status.CONNECT_INVALID_HOST -> ErrorKind.PERMISSION_DENIED;
                case Status.CONNECT_INVALID_PARAMETERS -> ErrorKind.NOT_FOUND;
                default -> ErrorKind.UNAVAILABLE;
            };
            throw new MayastorException(kind, e.getMessage());
        } catch (ConnectException e) {
            throw MayastorException.unavailable("cannot connect to %s: %s", Session.hostPort(target.address()),
                    e.getMessage());
        } catch (IOException e) {
            throw MayastorException.unavailable("cannot open %s: %s", name, e.getMessage());
        }
        if (expected != null && !expected.equals(session.identity().uuid())) {
            session.close();
            throw MayastorException.failedPrecondition("%s: namespace 1 has uuid %s, not %s", name,
                    session.identity().uuid(), expected);
        }
        NvmfBdev bdev;
        try {
            bdev = new NvmfBdev(name, this, session);
        } catch (RuntimeException e) {
            session.close(); // or its sockets and keep-alives stay for good
            throw e;
        }
        sink.bdev = bdev;
        bdevs.add(bdev);
        return bdev;
    }

    /** Until the bdev exists, no I/O can complete through the session: only admin commands run. */
    private static final class Sink implements HostQueue.IoSink {
        volatile NvmfBdev bdev;

        @Override
        public void ioDone(io.mayastorj.core.bdev.IoType type, long bytes, io.mayastorj.core.bdev.IoStatus status,
                           io.mayastorj.core.bdev.IoCompletion<Object> done, Object context) {
            bdev.ioDone(type, bytes, status, done, context);
        }

        @Override
        public void slotFreed(HostQueue queue) {
            NvmfBdev b = bdev;
            if (b != null) {
                b.slotFreed(queue);
            }
        }
    }

    // ---------------------------------------------------------------- Host

    @Override
    public List<Reactor> reactors() {
        return reactors;
    }

    @Override
    public BufferPool buffers() {
        return buffers;
    }

    @Override
    public ScheduledExecutorService connector() {
        return connector;
    }

    @Override
    public long ioTimeoutNanos() {
        return ioTimeoutNanos;
    }

    @Override
    public int connectTimeoutMillis() {
        return 10_000;
    }

    @Override
    public int keepAliveMillis() {
        return 10_000;
    }

    @Override
    public int queueDepth() {
        return 128;
    }

    /** The nvmf bdevs open now, for the shell. */
    public List<NvmfBdevView> bdevs() {
        List<NvmfBdevView> views = new ArrayList<>();
        for (NvmfBdev bdev : bdevs) {
            views.add(bdev.view());
        }
        views.sort(java.util.Comparator.comparing(NvmfBdevView::name));
        return views;
    }

    @Override
    public void closed(NvmfBdev bdev) {
        bdevs.remove(bdev);
    }

    @Deactivate
    public void close() {
        connector.shutdownNow();
    }
}
