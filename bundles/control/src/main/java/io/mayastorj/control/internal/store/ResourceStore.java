package io.mayastorj.control.internal.store;

import io.fabric8.kubernetes.client.CustomResource;
import io.mayastorj.core.error.ErrorKind;
import io.mayastorj.core.error.MayastorException;
import java.util.List;
import java.util.Optional;
import java.util.function.Predicate;

/**
 * Where the control plane keeps its resources: the Kubernetes API ({@link KubeStore}) or a
 * directory of YAML files ({@link FileStore}, the embedded default). The operators never know
 * which. Every write names the resourceVersion it read: a write over a newer one is refused
 * (ABORTED), and the operator reads again. Errors are {@code MayastorException}s.
 */
public interface ResourceStore extends AutoCloseable {

    /** Something changed: a resource of this kind and name (created, updated, deleted). */
    @FunctionalInterface
    interface Listener {
        void changed(Class<?> kind, String name);
    }

    <T extends CustomResource<?, ?>> List<T> list(Class<T> kind);

    <T extends CustomResource<?, ?>> Optional<T> get(Class<T> kind, String name);

    /** ALREADY_EXISTS when the name is taken. Assigns uid, resourceVersion and creationTimestamp. */
    <T extends CustomResource<?, ?>> T create(T resource);

    /**
     * Writes metadata (labels, annotations, finalizers) and spec, not status. A resource marked for
     * deletion whose last finalizer this removes is gone afterwards.
     */
    <T extends CustomResource<?, ?>> T update(T resource);

    /** Writes of one {@linkplain #change change} that may lose a race before the caller hears ABORTED. */
    int CHANGE_ATTEMPTS = 20;

    /**
     * Reads a resource, lets {@code edit} change it (false: nothing to write; it refuses by
     * throwing; null when there is none) and writes its metadata and spec. An operator writes the
     * same resource's status meanwhile, and a write based on an older version is refused (ABORTED):
     * the edit is then made again on what is there now, as Kubernetes' clients retry a conflict, so
     * that a caller never sees the race. ABORTED only after {@value #CHANGE_ATTEMPTS} lost races.
     * Returns the resource as written, or as read when there was nothing to write.
     */
    default <T extends CustomResource<?, ?>> T change(Class<T> kind, String name, Predicate<T> edit) {
        for (int attempt = 1; ; attempt++) {
            T resource = get(kind, name).orElse(null);
            if (!edit.test(resource)) {
                return resource;
            }
            try {
                return update(resource);
            } catch (MayastorException e) {
                if (e.kind() != ErrorKind.ABORTED || attempt == CHANGE_ATTEMPTS) {
                    throw e;
                }
            }
            try {
                Thread.sleep(attempt); // the other writer's pass may write more than once: let it finish
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw MayastorException.unavailable("interrupted while changing %s", name);
            }
        }
    }

    /** Writes the status only. */
    <T extends CustomResource<?, ?>> T updateStatus(T resource);

    /**
     * Deletes a resource: at once when it has no finalizers, else marked (deletionTimestamp) until
     * the last is removed. NOT_FOUND when there is none.
     */
    void delete(Class<? extends CustomResource<?, ?>> kind, String name);

    void addListener(Listener listener);

    /** For people: "files in DIR", "Kubernetes at URL, namespace NS". */
    String describe();

    /**
     * Tells a person what happened to a resource, as Kubernetes Events do ({@code kubectl describe},
     * {@code kubectl get events}): TYPE Normal or Warning, REASON a CamelCase word, MESSAGE a
     * sentence. Best effort: a store without events (the YAML files) logs nothing more.
     */
    default void event(CustomResource<?, ?> about, String type, String reason, String message) {
    }

    @Override
    void close();
}
