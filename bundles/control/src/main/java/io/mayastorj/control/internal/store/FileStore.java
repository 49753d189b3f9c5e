package io.mayastorj.control.internal.store;

import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.mayastorj.control.internal.model.Kinds;
import io.mayastorj.core.error.MayastorException;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;

/**
 * The embedded default store: one YAML file per resource under {@code DIR/<plural>/<name>.yaml},
 * the same documents the Kubernetes API would hold. A write goes to a temporary file, is synced,
 * renamed over the old one and the directory synced, so a {@code kill -9} leaves either the old or
 * the new version, never a torn one. Resource versions are one counter for the whole store,
 * restored at start from the highest on disk. Callers get copies: nothing they change reaches the
 * store except through a write.
 */
public final class FileStore implements ResourceStore {

    private static final Logger LOG = System.getLogger("mayastor.control");
    private static final String SUFFIX = ".yaml";

    private final Path dir;
    private final KubernetesSerialization serialization = new KubernetesSerialization();
    private final Map<Class<?>, Map<String, CustomResource<?, ?>>> resources = new HashMap<>();
    private final List<Listener> listeners = new CopyOnWriteArrayList<>();
    private final FileChannel lockFile;
    private long version;

    /**
     * Opens (or makes) the store in {@code dir}. FAILED_PRECONDITION when another control plane has
     * it open; INTERNAL, naming the file, when a resource cannot be read: the store refuses to start
     * rather than forget a volume and let the sweep destroy its replicas.
     */
    /** Guarded by this. */
    private boolean closed;

    public FileStore(Path dir) {
        this.dir = dir;
        this.lockFile = lock(dir);
        try {
            for (Kinds.Kind kind : Kinds.ALL) {
                Path kindDir = Files.createDirectories(dir.resolve(kind.plural()));
                Map<String, CustomResource<?, ?>> byName = new TreeMap<>();
                try (Stream<Path> files = Files.list(kindDir)) {
                    for (Path file : files.sorted().toList()) {
                        String name = file.getFileName().toString();
                        if (name.endsWith(SUFFIX + ".tmp")) {
                            Files.deleteIfExists(file); // a write that a crash cut short: the old version stands
                            continue;
                        }
                        if (!name.endsWith(SUFFIX)) {
                            LOG.log(Level.WARNING, "{0} is not a resource of this store (not *{1}); left alone", file, SUFFIX);
                            continue;
                        }
                        CustomResource<?, ?> r = read(file, kind.type());
                        byName.put(r.getMetadata().getName(), r);
                        version = Math.max(version, Long.parseLong(r.getMetadata().getResourceVersion()));
                    }
                }
                resources.put(kind.type(), byName);
            }
        } catch (IOException | RuntimeException e) {
            closeQuietly(lockFile);
            throw MayastorException.internal("cannot read the resource store in %s: %s", dir, e.getMessage());
        }
        LOG.log(Level.INFO, "resource store: {0} ({1} nodes, {2} pools, {3} volumes)", dir,
                resources.get(Kinds.NODE.type()).size(), resources.get(Kinds.POOL.type()).size(),
                resources.get(Kinds.VOLUME.type()).size());
    }

    /** One control plane per store: two would each believe the other's replicas are orphans. */
    private static FileChannel lock(Path dir) {
        FileChannel channel = null;
        try {
            Files.createDirectories(dir);
            channel = FileChannel.open(dir.resolve(".lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            if (channel.tryLock() == null) {
                throw MayastorException.failedPrecondition("the resource store in %s is in use by another control plane", dir);
            }
            return channel;
        } catch (java.nio.channels.OverlappingFileLockException e) {
            closeQuietly(channel);
            throw MayastorException.failedPrecondition("the resource store in %s is in use by another control plane", dir);
        } catch (IOException e) {
            closeQuietly(channel);
            throw MayastorException.internal("cannot lock the resource store in %s: %s", dir, e.getMessage());
        } catch (RuntimeException e) {
            closeQuietly(channel);
            throw e;
        }
    }

    private static void closeQuietly(FileChannel channel) {
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException ignored) {
                // closing a lock file we only held
            }
        }
    }

    private CustomResource<?, ?> read(Path file, Class<? extends CustomResource<?, ?>> type) throws IOException {
        CustomResource<?, ?> r;
        try {
            r = serialization.unmarshal(Files.readString(file, StandardCharsets.UTF_8), type);
        } catch (RuntimeException e) {
            throw new IOException(file + " cannot be read (" + e.getMessage().lines().findFirst().orElse("") + ")", e);
        }
        if (r == null || r.getMetadata() == null || r.getMetadata().getName() == null
                || r.getMetadata().getResourceVersion() == null) {
            throw new IOException(file + " is not a resource of this store");
        }
        return r;
    }

    private <T extends CustomResource<?, ?>> T copy(T r) {
        return serialization.clone(r); // a deep copy through Jackson's tree, without YAML text
    }

    private Map<String, CustomResource<?, ?>> of(Class<?> kind) {
        Map<String, CustomResource<?, ?>> byName = resources.get(kind);
        if (byName == null) {
            throw new IllegalArgumentException(kind + " is not kept here");
        }
        return byName;
    }

    @Override
    @SuppressWarnings("unchecked")
    public synchronized <T extends CustomResource<?, ?>> List<T> list(Class<T> kind) {
        List<T> list = new ArrayList<>();
        for (CustomResource<?, ?> r : of(kind).values()) {
            list.add(copy((T) r));
        }
        return list;
    }

    @Override
    @SuppressWarnings("unchecked")
    public synchronized <T extends CustomResource<?, ?>> Optional<T> get(Class<T> kind, String name) {
        CustomResource<?, ?> r = of(kind).get(name);
        return r == null ? Optional.empty() : Optional.of(copy((T) r));
    }

    @Override
    public <T extends CustomResource<?, ?>> T create(T resource) {
        T stored;
        synchronized (this) {
            String name = name(resource);
            Kinds.Kind kind = Kinds.of(resource.getClass());
            if (of(resource.getClass()).containsKey(name)) {
                throw MayastorException.alreadyExists("%s %s exists already", kind.singular(), name);
            }
            stored = copy(resource);
            ObjectMeta meta = stored.getMetadata();
            meta.setNamespace(Kinds.NAMESPACE);
            meta.setUid(UUID.randomUUID().toString());
            meta.setCreationTimestamp(now());
            meta.setGeneration(1L);
            meta.setResourceVersion(String.valueOf(++version));
            meta.setDeletionTimestamp(null);
            write(stored);
        }
        notify(stored);
        return copy(stored);
    }

    @Override
    public <T extends CustomResource<?, ?>> T update(T resource) {
        T stored;
        boolean gone;
        synchronized (this) {
            T current = current(resource);
            stored = copy(current);
            ObjectMeta meta = stored.getMetadata();
            meta.setLabels(resource.getMetadata().getLabels());
            meta.setAnnotations(resource.getMetadata().getAnnotations());
            meta.setFinalizers(resource.getMetadata().getFinalizers());
            String before = serialization.asJson(current.getSpec());
            setSpec(stored, resource.getSpec());
            boolean specChanged = !before.equals(serialization.asJson(stored.getSpec()));
            if (!specChanged && sameMetadata(current.getMetadata(), meta)) {
                return copy(current); // as the API server does: a write that changes nothing is no event
            }
            if (specChanged) {
                meta.setGeneration(meta.getGeneration() == null ? 1 : meta.getGeneration() + 1);
            }
            meta.setResourceVersion(String.valueOf(++version));
            gone = meta.getDeletionTimestamp() != null && (meta.getFinalizers() == null || meta.getFinalizers().isEmpty());
            if (gone) {
                remove(stored);
            } else {
                write(stored);
            }
        }
        notify(stored);
        return copy(stored);
    }

    private static boolean sameMetadata(ObjectMeta a, ObjectMeta b) {
        return Objects.equals(orEmpty(a.getLabels()), orEmpty(b.getLabels()))
                && Objects.equals(orEmpty(a.getAnnotations()), orEmpty(b.getAnnotations()))
                && Objects.equals(a.getFinalizers() == null ? List.of() : a.getFinalizers(),
                        b.getFinalizers() == null ? List.of() : b.getFinalizers());
    }

    private static Map<String, String> orEmpty(Map<String, String> map) {
        return map == null ? Map.of() : map;
    }

    @Override
    public <T extends CustomResource<?, ?>> T updateStatus(T resource) {
        T stored;
        synchronized (this) {
            T current = current(resource);
            if (serialization.asJson(current.getStatus()).equals(serialization.asJson(resource.getStatus()))) {
                return copy(current);
            }
            stored = copy(current);
            setStatus(stored, resource.getStatus());
            stored.getMetadata().setResourceVersion(String.valueOf(++version));
            write(stored);
        }
        notify(stored);
        return copy(stored);
    }

    @Override
    public void delete(Class<? extends CustomResource<?, ?>> kind, String name) {
        CustomResource<?, ?> stored;
        synchronized (this) {
            CustomResource<?, ?> current = of(kind).get(name);
            if (current == null) {
                throw MayastorException.notFound("%s %s not found", Kinds.of(kind).singular(), name);
            }
            stored = copy(current);
            ObjectMeta meta = stored.getMetadata();
            if (meta.getFinalizers() == null || meta.getFinalizers().isEmpty()) {
                remove(stored);
            } else {
                if (meta.getDeletionTimestamp() != null) {
                    return; // marked already
                }
                meta.setDeletionTimestamp(now());
                meta.setResourceVersion(String.valueOf(++version));
                write(stored);
            }
        }
        notify(stored);
    }

    /** The stored version a write is based on: NOT_FOUND, or ABORTED when it changed since it was read. */
    @SuppressWarnings("unchecked")
    private <T extends CustomResource<?, ?>> T current(T resource) {
        String name = name(resource);
        CustomResource<?, ?> current = of(resource.getClass()).get(name);
        if (current == null) {
            throw MayastorException.notFound("%s %s not found", Kinds.of(resource.getClass()).singular(), name);
        }
        String read = resource.getMetadata().getResourceVersion();
        if (read != null && !read.equals(current.getMetadata().getResourceVersion())) {
            throw MayastorException.aborted("%s %s was changed meanwhile (version %s, not %s): read it again",
                    Kinds.of(resource.getClass()).singular(), name, current.getMetadata().getResourceVersion(), read);
        }
        return (T) current;
    }

    private static String name(CustomResource<?, ?> resource) {
        String name = resource.getMetadata() == null ? null : resource.getMetadata().getName();
        if (name == null || !name.matches("[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")) {
            throw MayastorException.invalidArgument("'%s' is not a valid resource name: lower-case letters, digits, '-' "
                    + "and '.', starting and ending with a letter or digit", name);
        }
        return name;
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static void setSpec(CustomResource target, Object spec) {
        target.setSpec(spec);
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static void setStatus(CustomResource target, Object status) {
        target.setStatus(status);
    }

    private static String now() {
        return Instant.now().truncatedTo(ChronoUnit.SECONDS).toString();
    }

    private Path file(CustomResource<?, ?> r) {
        return dir.resolve(Kinds.of(r.getClass()).plural()).resolve(r.getMetadata().getName() + SUFFIX);
    }

    /** Temp file, sync, rename over the old one, sync the directory. */
    private void write(CustomResource<?, ?> r) {
        mayWrite();
        Path target = file(r);
        Path temp = target.resolveSibling(target.getFileName() + ".tmp");
        try {
            byte[] bytes = serialization.asYaml(r).getBytes(StandardCharsets.UTF_8);
            try (FileChannel out = FileChannel.open(temp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer buffer = ByteBuffer.wrap(bytes);
                while (buffer.hasRemaining()) {
                    out.write(buffer);
                }
                out.force(true);
            }
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            // renamed: what is read from now on is the new version, whether or not the sync below succeeds
            of(r.getClass()).put(r.getMetadata().getName(), copy(r));
            syncDirectory(target.getParent());
        } catch (IOException e) {
            throw MayastorException.internal("cannot write %s: %s", target, e.getMessage());
        }
    }

    private void remove(CustomResource<?, ?> r) {
        mayWrite();
        Path target = file(r);
        try {
            Files.deleteIfExists(target);
            syncDirectory(target.getParent());
        } catch (IOException e) {
            throw MayastorException.internal("cannot delete %s: %s", target, e.getMessage());
        }
        of(r.getClass()).remove(r.getMetadata().getName());
    }

    private static void syncDirectory(Path directory) throws IOException {
        try (FileChannel d = FileChannel.open(directory, StandardOpenOption.READ)) {
            d.force(true);
        }
    }

    private void notify(CustomResource<?, ?> r) {
        for (Listener l : listeners) {
            try {
                l.changed(r.getClass(), r.getMetadata().getName());
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "a store listener failed: {0}", e.toString());
            }
        }
    }

    @Override
    public void addListener(Listener listener) {
        listeners.add(Objects.requireNonNull(listener));
    }

    @Override
    public String describe() {
        return "files in " + dir;
    }

    /**
     * Closed, the directory's lock is given up and the next store on it (a reactivation in this JVM)
     * may write there: a write of this one, from a pass that outlived its control plane, would then
     * race it from a cache of its own.
     */
    private void mayWrite() {
        if (closed) {
            throw MayastorException.unavailable("the store in %s is closed", dir);
        }
    }

    @Override
    public synchronized void close() {
        closed = true;
        listeners.clear();
        closeQuietly(lockFile);
    }
}
