package io.mayastorj.control.internal.store;

import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.mayastorj.control.internal.model.Kinds;
import io.mayastorj.core.error.MayastorException;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.EventBuilder;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.net.HttpURLConnection;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * Resources in the Kubernetes API (fabric8's client): reads and writes go to the API server,
 * status through the status subresource, every write with the resourceVersion it read (a conflict
 * is ABORTED), deletion with Kubernetes' own finalizer handling; informers tell the operators of
 * every change.
 */
public final class KubeStore implements ResourceStore {

    private static final Logger LOG = System.getLogger("mayastor.control");

    private final KubernetesClient client;
    private final String namespace;
    private final ClassLoader loader;
    private final List<Listener> listeners = new CopyOnWriteArrayList<>();
    private final List<SharedIndexInformer<?>> informers = new ArrayList<>();

    public KubeStore(KubernetesClient client, String namespace) {
        this.client = client;
        this.namespace = namespace;
        this.loader = KubeStore.class.getClassLoader();
        try {
            for (Kinds.Kind kind : Kinds.ALL) {
                informers.add(inform(kind.type()));
            }
        } catch (RuntimeException | Error e) {
            close(); // the informers started before the one that failed would watch on, for nobody
            throw e;
        }
    }

    private <T extends CustomResource<?, ?>> SharedIndexInformer<T> inform(Class<T> kind) {
        return call(() -> client.resources(kind).inNamespace(namespace).inform(new ResourceEventHandler<T>() {
            @Override
            public void onAdd(T obj) {
                changed(kind, obj);
            }

            @Override
            public void onUpdate(T oldObj, T newObj) {
                changed(kind, newObj);
            }

            @Override
            public void onDelete(T obj, boolean deletedFinalStateUnknown) {
                changed(kind, obj);
            }
        }, 0));
    }

    private void changed(Class<?> kind, CustomResource<?, ?> r) {
        for (Listener l : listeners) {
            try {
                l.changed(kind, r.getMetadata().getName());
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "a store listener failed: {0}", e.toString());
            }
        }
    }

    /**
     * Runs a client call with this bundle's class loader as the context loader (fabric8 finds its
     * HTTP client and model types through ServiceLoader) and its errors as MayastorExceptions.
     */
    private <R> R call(Supplier<R> work) {
        Thread thread = Thread.currentThread();
        ClassLoader previous = thread.getContextClassLoader();
        thread.setContextClassLoader(loader);
        try {
            return work.get();
        } catch (KubernetesClientException e) {
            throw translate(e);
        } finally {
            thread.setContextClassLoader(previous);
        }
    }

    /** The I/O failure or timeout that kept a request from an answer, or null (a failure on this side). */
    private static Throwable unreached(Throwable e) {
        for (Throwable t = e.getCause(); t != null; t = t.getCause()) {
            if (t.getClass().getName().startsWith("tools.jackson.") || t.getClass().getName().startsWith("com.fasterxml.jackson.")) {
                return null; // an answer that came and could not be read (Jackson 2's exceptions are IOExceptions too)
            }
            if (t instanceof java.io.IOException || t instanceof java.util.concurrent.TimeoutException) {
                return t;
            }
        }
        return null;
    }

    private static MayastorException translate(KubernetesClientException e) {
        String message = e.getStatus() != null && e.getStatus().getMessage() != null ? e.getStatus().getMessage()
                : e.getMessage();
        Throwable unreached = e.getCode() <= 0 ? unreached(e) : null;
        if (unreached != null) {
            // no answer: fabric8 says -1 (0 in older versions) for a refused connection or a request timed out, and
            // also for what failed on this side (an answer it could not read), which stays INTERNAL below
            return MayastorException.unavailable("the Kubernetes API cannot be reached: %s (%s)", message, unreached);
        }
        if (e.getCode() <= 0) {
            return MayastorException.internal("the Kubernetes client failed: %s", message);
        }
        return switch (e.getCode()) {
            case HttpURLConnection.HTTP_NOT_FOUND -> MayastorException.notFound("%s", message);
            case HttpURLConnection.HTTP_CONFLICT -> message != null && message.contains("already exists")
                    ? MayastorException.alreadyExists("%s", message) : MayastorException.aborted("%s", message);
            case 422, HttpURLConnection.HTTP_BAD_REQUEST -> MayastorException.invalidArgument("%s", message);
            case HttpURLConnection.HTTP_FORBIDDEN, HttpURLConnection.HTTP_UNAUTHORIZED ->
                    new MayastorException(io.mayastorj.core.error.ErrorKind.PERMISSION_DENIED, message);
            // throttled (priority and fairness) or failing for now: UNAVAILABLE, which CSI sidecars retry; as
            // INTERNAL the provisioner took a CreateVolume for failed for good, and a volume it had made leaked
            case 429, 500, 502, 503, 504 -> MayastorException.unavailable("the Kubernetes API answered %d: %s", e.getCode(),
                    message);
            default -> MayastorException.internal("the Kubernetes API answered %d: %s", e.getCode(), message);
        };
    }

    @Override
    public <T extends CustomResource<?, ?>> List<T> list(Class<T> kind) {
        return call(() -> client.resources(kind).inNamespace(namespace).list().getItems());
    }

    @Override
    public <T extends CustomResource<?, ?>> Optional<T> get(Class<T> kind, String name) {
        return call(() -> Optional.ofNullable(client.resources(kind).inNamespace(namespace).withName(name).get()));
    }

    @Override
    public <T extends CustomResource<?, ?>> T create(T resource) {
        resource.getMetadata().setNamespace(namespace);
        return call(() -> client.resource(resource).inNamespace(namespace).create());
    }

    @Override
    public <T extends CustomResource<?, ?>> T update(T resource) {
        return call(() -> client.resource(resource).inNamespace(namespace).update());
    }

    @Override
    public <T extends CustomResource<?, ?>> T updateStatus(T resource) {
        return call(() -> client.resource(resource).inNamespace(namespace).updateStatus());
    }

    @Override
    public void delete(Class<? extends CustomResource<?, ?>> kind, String name) {
        boolean deleted = call(() -> deleteOne(kind, name));
        if (!deleted) {
            throw MayastorException.notFound("%s %s not found", Kinds.of(kind).singular(), name);
        }
    }

    private <T extends CustomResource<?, ?>> boolean deleteOne(Class<T> kind, String name) {
        return !client.resources(kind).inNamespace(namespace).withName(name).delete().isEmpty();
    }

    @Override
    public void addListener(Listener listener) {
        listeners.add(listener);
    }

    /** The client, for what else the control plane asks of the same API server (its leader election). */
    public KubernetesClient client() {
        return client;
    }

    @Override
    public String describe() {
        return "Kubernetes at " + client.getMasterUrl() + ", namespace " + namespace;
    }

    @Override
    public void close() {
        informers.forEach(SharedIndexInformer::stop);
        client.close();
    }

    /** An event recorded lately: the same one again within {@link #CORRELATION_NANOS} counts on it. */
    private record EventKey(String uid, String type, String reason, String message) {
    }

    private static final class Recorded {
        final String name;
        int count = 1;
        long atNanos;

        Recorded(String name, long atNanos) {
            this.name = name;
            this.atNanos = atNanos;
        }
    }

    /** As client-go's event correlator: a repeat within ten minutes raises the count of the event it repeats. */
    static final long CORRELATION_NANOS = TimeUnit.MINUTES.toNanos(10);
    private final Map<EventKey, Recorded> recent = new LinkedHashMap<>(64, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<EventKey, Recorded> eldest) {
            return size() > 1024;
        }
    };

    /**
     * A core/v1 Event about the resource, from the component mayastor-control; a failure is logged, not
     * thrown. The same event again (a node flapping, a volume going degraded and back) is not a new
     * object each time: the earlier one's count and lastTimestamp go up, as kubectl describe shows them.
     */
    @Override
    public void event(CustomResource<?, ?> about, String type, String reason, String message) {
        String now = OffsetDateTime.now(ZoneOffset.UTC).truncatedTo(ChronoUnit.SECONDS)
                .format(DateTimeFormatter.ISO_OFFSET_DATE_TIME).replace("+00:00", "Z");
        EventKey key = new EventKey(about.getMetadata().getUid(), type, reason, message);
        long nanos = System.nanoTime();
        Recorded seen;
        int count;
        synchronized (recent) {
            seen = recent.get(key);
            if (seen != null && nanos - seen.atNanos < CORRELATION_NANOS) {
                count = ++seen.count;
                seen.atNanos = nanos;
            } else {
                seen = null;
                count = 1;
            }
        }
        if (seen != null) {
            try {
                // a merge patch, no read first: the role may patch events (and a GET per repeat would double the calls)
                Event repeated = client.v1().events().inNamespace(namespace).withName(seen.name).patch(
                        io.fabric8.kubernetes.client.dsl.base.PatchContext.of(io.fabric8.kubernetes.client.dsl.base.PatchType.JSON_MERGE),
                        "{\"count\":" + count + ",\"lastTimestamp\":\"" + now + "\"}");
                if (repeated != null) {
                    return;
                }
            } catch (RuntimeException e) {
                // gone (events expire after an hour) or refused: recorded anew below
            }
        }
        Event event = new EventBuilder()
                .withNewMetadata()
                    .withName(about.getMetadata().getName() + "." + Long.toHexString(System.nanoTime()))
                    .withNamespace(namespace)
                .endMetadata()
                .withNewInvolvedObject()
                    .withApiVersion(about.getApiVersion()).withKind(about.getKind()).withName(about.getMetadata().getName())
                    .withNamespace(namespace).withUid(about.getMetadata().getUid())
                    .withResourceVersion(about.getMetadata().getResourceVersion())
                .endInvolvedObject()
                .withType(type).withReason(reason).withMessage(message)
                .withNewSource().withComponent("mayastor-control").endSource()
                .withReportingComponent("mayastor-control").withReportingInstance("mayastor-control")
                .withFirstTimestamp(now).withLastTimestamp(now).withCount(1)
                .build();
        try {
            client.v1().events().inNamespace(namespace).resource(event).create();
            synchronized (recent) {
                recent.put(key, new Recorded(event.getMetadata().getName(), nanos));
            }
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "cannot record the event {0} for {1} {2}: {3}", reason, about.getKind(),
                    about.getMetadata().getName(), e.getMessage());
        }
    }
}
