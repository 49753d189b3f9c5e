package io.mayastorj.core.internal.bdev;

import io.mayastorj.core.bdev.BdevClaim;
import io.mayastorj.core.bdev.BdevFactory;
import io.mayastorj.core.bdev.BdevInfo;
import io.mayastorj.core.bdev.BdevRegistry;
import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.core.text.Sizes;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;

/**
 * The node's bdevs by name. Creation dispatches on the URI scheme to the factory that owns it; a
 * name is reserved before the factory allocates anything, so a duplicate costs nothing. Mutations
 * are serialized on the registry (they are rare); lookups are lock-free.
 */
@Component(service = BdevRegistry.class)
public final class BdevRegistryImpl implements BdevRegistry {

    private static final Logger LOG = System.getLogger("mayastor.bdev");
    /** Schemes that name an existing bdev instead of creating one. */
    private static final List<String> LOCAL_SCHEMES = List.of("bdev", "loopback");

    private final Map<String, BdevFactory> factories = new ConcurrentHashMap<>();
    private final Map<String, Entry> bdevs = new ConcurrentHashMap<>();

    /**
     * @param device  null while the factory is creating it
     * @param factory null for a bdev a subsystem registered
     */
    private record Entry(BlockDevice device, String uri, BdevFactory factory, String claimedBy) {
        Entry withClaim(String owner) {
            return new Entry(device, uri, factory, owner);
        }
    }

    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC)
    public void addFactory(BdevFactory factory) {
        for (String scheme : factory.schemes()) {
            BdevFactory previous = factories.putIfAbsent(scheme, factory);
            if (previous != null && previous != factory) {
                LOG.log(Level.WARNING, "two factories claim the bdev scheme {0}; keeping {1}", scheme, previous);
            }
        }
    }

    public void removeFactory(BdevFactory factory) {
        factories.values().removeIf(f -> f == factory);
        List<BlockDevice> orphans = new ArrayList<>();
        synchronized (this) {
            bdevs.values().removeIf(e -> {
                if (e.factory() == factory && e.device() != null) {
                    orphans.add(e.device());
                    return true;
                }
                return false;
            });
        }
        for (BlockDevice device : orphans) {
            LOG.log(Level.WARNING, "bdev {0} closed: the bundle that provides it stopped", device.name());
            device.close();
        }
    }

    /**
     * A bare path means {@code uring://}, as in Mayastor, always (never "uring if that factory is
     * bound yet", which could give one path two URIs depending on the order DS binds factories in):
     * the uring factory opens it with io_uring where the kernel allows, else as an aio bdev and says
     * why once. (It was aio for a while: a CsiGuestTest failure blamed on uring turned out to be the
     * control plane's view of a restarted node, and happened with aio too.)
     */
    private BdevUri parse(String text) {
        return BdevUri.parse(text, BARE_PATH_SCHEME);
    }

    private static final String BARE_PATH_SCHEME = "uring";

    @Override
    public BlockDevice create(String text) {
        BdevUri uri = parse(text);
        if (LOCAL_SCHEMES.contains(uri.scheme())) {
            throw MayastorException.invalidArgument(
                    "'%s' names an existing bdev; there is nothing to create", uri);
        }
        BdevFactory factory = factories.get(uri.scheme());
        if (factory == null) {
            throw MayastorException.invalidArgument("'%s': unknown bdev scheme '%s' (this node knows: %s)",
                    uri, uri.scheme(), String.join(", ", new TreeSet<>(factories.keySet())));
        }
        String name = factory.nameOf(uri);
        Entry placeholder = new Entry(null, uri.toString(), factory, null);
        synchronized (this) {
            if (bdevs.containsKey(name)) {
                throw MayastorException.alreadyExists("bdev %s exists already", name);
            }
            bdevs.put(name, placeholder);
        }
        BlockDevice device = null;
        try {
            device = factory.create(uri);
            synchronized (this) {
                if (bdevs.get(name) != placeholder || factories.get(uri.scheme()) != factory) {
                    // its factory went away (its bundle stopped), or the registry closed, while it was made:
                    // registered, it outlived them (queues closed under it, or its file's lock held for good)
                    throw MayastorException.unavailable("bdev %s: the factory of '%s' went away while it was made",
                            name, uri.scheme());
                }
                checkUnique(device);
                bdevs.put(name, new Entry(device, uri.toString(), factory, null));
            }
        } catch (RuntimeException | Error e) { // an Error too (a native library that cannot bind): the name stays free
            synchronized (this) {
                bdevs.remove(name, placeholder);
            }
            if (device != null) {
                device.close();
            }
            throw e;
        }
        LOG.log(Level.INFO, "created bdev {0}: {1}, {2} in {3} blocks of {4} B, uuid {5}", name,
                device.productName(), Sizes.human(device.sizeBytes()), String.valueOf(device.blockCount()),
                String.valueOf(device.blockSize()), device.uuid());
        return device;
    }

    private void checkUnique(BlockDevice device) {
        for (Entry e : bdevs.values()) {
            if (e.device() != null && e.device() != device && e.device().uuid().equals(device.uuid())) {
                throw MayastorException.alreadyExists("uuid %s is taken by bdev %s", device.uuid(), e.device().name());
            }
        }
    }

    @Override
    public void destroy(String nameOrUri) {
        BlockDevice device;
        synchronized (this) {
            String name = resolveName(nameOrUri);
            Entry entry = bdevs.get(name);
            if (entry == null || entry.device() == null) {
                throw MayastorException.notFound("bdev %s not found", nameOrUri);
            }
            if (entry.factory() == null) {
                throw MayastorException.failedPrecondition("bdev %s is a %s managed by its subsystem; %s", name,
                        entry.device().productName(), destroyHint(name, entry.device().productName()));
            }
            if (entry.claimedBy() != null) {
                throw MayastorException.failedPrecondition("bdev %s is in use by %s; %s", name, entry.claimedBy(),
                        releaseHint(name, entry.claimedBy()));
            }
            bdevs.remove(name);
            device = entry.device();
        }
        device.close();
        LOG.log(Level.INFO, "destroyed bdev {0}", device.name());
    }

    /** A name, or the URI a bdev was created from. */
    private String resolveName(String nameOrUri) {
        if (nameOrUri == null || nameOrUri.isBlank()) {
            throw MayastorException.invalidArgument("a bdev name or URI is required");
        }
        if (bdevs.containsKey(nameOrUri)) {
            return nameOrUri;
        }
        for (Map.Entry<String, Entry> e : bdevs.entrySet()) {
            if (nameOrUri.equals(e.getValue().uri())) {
                return e.getKey();
            }
        }
        if (nameOrUri.contains(":/")) {
            BdevUri uri = BdevUri.parse(nameOrUri);
            BdevFactory factory = factories.get(uri.scheme());
            if (factory != null) {
                return factory.nameOf(uri);
            }
        }
        return nameOrUri;
    }

    @Override
    public synchronized void register(BlockDevice device) {
        Entry existing = bdevs.get(device.name());
        if (existing != null) {
            throw MayastorException.alreadyExists("bdev %s exists already", device.name());
        }
        checkUnique(device);
        bdevs.put(device.name(), new Entry(device, null, null, null));
        LOG.log(Level.DEBUG, "registered bdev {0} ({1})", device.name(), device.productName());
    }

    @Override
    public synchronized boolean unregister(BlockDevice device) {
        Entry entry = bdevs.get(device.name());
        if (entry == null || entry.device() != device || entry.factory() != null) {
            return false;
        }
        bdevs.remove(device.name());
        return true;
    }

    /** How to destroy a bdev its subsystem made, in the command line's words. */
    private static String destroyHint(String name, String product) {
        String p = product.toLowerCase(java.util.Locale.ROOT);
        return p.contains("replica") || p.contains("logical volume") ? "destroy the replica (mayastor ctl replica destroy " + name + ")"
                : p.contains("nexus") ? "destroy the nexus (mayastor ctl nexus destroy " + name + ")"
                : "destroy it there";
    }

    /** How to end a claim, in the command line's words: "pool p0", "share nvmf", "nexus n1". */
    private static String releaseHint(String name, String claimedBy) {
        String owner = claimedBy.contains(" ") ? claimedBy.substring(claimedBy.indexOf(' ') + 1) : claimedBy;
        return claimedBy.startsWith("pool ") ? "destroy the pool first (mayastor ctl pool destroy " + owner + ")"
                : claimedBy.startsWith("share ") ? "unshare it first (mayastor ctl bdev unshare " + name + "), or destroy it "
                    + "with --force"
                : claimedBy.startsWith("nexus ") ? "remove it from the nexus first (mayastor ctl nexus remove-child " + owner
                    + " URI)"
                : "release it there first";
    }

    @Override
    public Optional<BlockDevice> lookup(String name) {
        Entry entry = name == null ? null : bdevs.get(name);
        return entry == null ? Optional.empty() : Optional.ofNullable(entry.device());
    }

    @Override
    public Optional<BlockDevice> findByUri(String text) {
        BdevUri uri = parse(text);
        if (LOCAL_SCHEMES.contains(uri.scheme())) {
            return lookup(uri.pathName());
        }
        BdevFactory factory = factories.get(uri.scheme());
        if (factory == null) {
            throw MayastorException.invalidArgument("'%s': unknown bdev scheme '%s' (this node knows: %s)",
                    uri, uri.scheme(), String.join(", ", new TreeSet<>(factories.keySet())));
        }
        return lookup(factory.nameOf(uri));
    }

    @Override
    public List<BdevInfo> list() {
        TreeMap<String, Entry> sorted = new TreeMap<>(bdevs);
        List<BdevInfo> infos = new ArrayList<>(sorted.size());
        for (Entry e : sorted.values()) {
            if (e.device() != null) {
                infos.add(new BdevInfo(e.device(), e.uri(), e.claimedBy()));
            }
        }
        infos.sort(Comparator.comparing(i -> i.device().name()));
        return infos;
    }

    @Override
    public synchronized BdevClaim claim(String name, String owner) {
        Entry entry = bdevs.get(name);
        if (entry == null || entry.device() == null) {
            throw MayastorException.notFound("bdev %s not found", name);
        }
        if (entry.claimedBy() != null) {
            throw MayastorException.failedPrecondition("bdev %s is in use by %s", name, entry.claimedBy());
        }
        bdevs.put(name, entry.withClaim(owner));
        return new Claim(entry.device(), owner);
    }

    private synchronized void release(Claim claim) {
        Entry entry = bdevs.get(claim.device.name());
        if (entry != null && entry.device() == claim.device && claim.owner.equals(entry.claimedBy())) {
            bdevs.put(claim.device.name(), entry.withClaim(null));
        }
    }

    private final class Claim implements BdevClaim {
        private final BlockDevice device;
        private final String owner;
        private boolean released;

        Claim(BlockDevice device, String owner) {
            this.device = device;
            this.owner = owner;
        }

        @Override
        public BlockDevice device() {
            return device;
        }

        @Override
        public String owner() {
            return owner;
        }

        @Override
        public void close() {
            synchronized (BdevRegistryImpl.this) {
                if (released) {
                    return;
                }
                released = true;
            }
            release(this);
        }
    }

    /** Closes the bdevs created from URIs; subsystems close their own. */
    @Deactivate
    public void closeAll() {
        List<BlockDevice> devices = new ArrayList<>();
        synchronized (this) {
            for (Entry e : bdevs.values()) {
                if (e.device() != null && e.factory() != null) {
                    devices.add(e.device());
                }
            }
            bdevs.clear();
        }
        for (BlockDevice device : devices) {
            device.close();
        }
    }
}
