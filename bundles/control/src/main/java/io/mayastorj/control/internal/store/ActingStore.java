package io.mayastorj.control.internal.store;

import io.fabric8.kubernetes.client.CustomResource;
import io.mayastorj.core.error.MayastorException;
import java.util.List;
import java.util.Optional;
import java.util.function.BooleanSupplier;

/**
 * The store as the operators write it: reads pass, writes only while this control plane acts. A
 * leader whose process was paused past its lease, or whose reconciling outlived its leadership,
 * resumes in the middle of a pass; its next write would land beside the new leader's.
 */
public final class ActingStore implements ResourceStore {

    private final ResourceStore store;
    private volatile BooleanSupplier acting = () -> true;

    public ActingStore(ResourceStore store) {
        this.store = store;
    }

    /** From now on writes go through only while {@code acting} says so. */
    public void actingWhile(BooleanSupplier acting) {
        this.acting = acting;
    }

    private void mayWrite(String what, String name) {
        if (!acting.getAsBoolean()) {
            throw MayastorException.unavailable("this control plane no longer leads: %s of %s not written", what, name);
        }
    }

    @Override
    public <T extends CustomResource<?, ?>> List<T> list(Class<T> kind) {
        return store.list(kind);
    }

    @Override
    public <T extends CustomResource<?, ?>> Optional<T> get(Class<T> kind, String name) {
        return store.get(kind, name);
    }

    @Override
    public <T extends CustomResource<?, ?>> T create(T resource) {
        mayWrite("a create", resource.getMetadata().getName());
        return store.create(resource);
    }

    @Override
    public <T extends CustomResource<?, ?>> T update(T resource) {
        mayWrite("an update", resource.getMetadata().getName());
        return store.update(resource);
    }

    @Override
    public <T extends CustomResource<?, ?>> T updateStatus(T resource) {
        mayWrite("the status", resource.getMetadata().getName());
        return store.updateStatus(resource);
    }

    @Override
    public void delete(Class<? extends CustomResource<?, ?>> kind, String name) {
        mayWrite("a delete", name);
        store.delete(kind, name);
    }

    @Override
    public void addListener(Listener listener) {
        store.addListener(listener);
    }

    @Override
    public String describe() {
        return store.describe();
    }

    @Override
    public void event(CustomResource<?, ?> about, String type, String reason, String message) {
        if (acting.getAsBoolean()) {
            store.event(about, type, reason, message);
        }
    }

    @Override
    public void close() {
        // the store is the control plane's to close
    }
}
