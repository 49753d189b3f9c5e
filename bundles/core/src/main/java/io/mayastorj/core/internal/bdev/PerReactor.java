package io.mayastorj.core.internal.bdev;

import io.mayastorj.core.internal.reactor.ReactorGroupImpl;
import io.mayastorj.core.internal.reactor.ReactorThread;
import io.mayastorj.core.reactor.Reactor;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** One poller per reactor of a group (a ring, an aio context), each made and closed on its own reactor's thread. */
final class PerReactor {

    @FunctionalInterface
    interface Maker<Q> {
        Q make(ReactorThread reactor) throws IOException;
    }

    private PerReactor() {
    }

    /** The pollers, indexed by reactor id; if one cannot be made, those made are closed and the reason thrown. */
    static <Q extends ReactorThread.Poller> List<Q> make(ReactorGroupImpl group, Maker<Q> maker) throws IOException {
        List<Reactor> all = group.reactors();
        Object[] made = new Object[all.size()];
        try {
            for (Reactor reactor : all) {
                ReactorThread thread = (ReactorThread) reactor;
                CompletableFuture<Q> poller = new CompletableFuture<>();
                thread.execute(() -> {
                    try {
                        poller.complete(maker.make(thread));
                    } catch (IOException | RuntimeException e) {
                        poller.completeExceptionally(e);
                    }
                });
                try {
                    made[thread.id()] = poller.get(10, TimeUnit.SECONDS);
                } catch (TimeoutException e) {
                    poller.thenAccept(late -> thread.execute(late::close)); // should it come after all
                    throw new IOException("reactor " + thread.getName() + " did not set it up within 10 s");
                }
            }
        } catch (ExecutionException e) {
            closeAll(group, made);
            throw new IOException(e.getCause().getMessage(), e.getCause());
        } catch (IOException e) {
            closeAll(group, made);
            throw e;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            closeAll(group, made);
            throw new IllegalStateException("interrupted while setting up per-reactor queues", e);
        }
        List<Q> list = new ArrayList<>(made.length);
        for (Object poller : made) {
            @SuppressWarnings("unchecked")
            Q q = (Q) poller;
            list.add(q);
        }
        return List.copyOf(list);
    }

    /** Closes each on its reactor; a request that still comes is cancelled. */
    static void closeAll(ReactorGroupImpl group, List<? extends ReactorThread.Poller> pollers) {
        closeAll(group, pollers.toArray());
    }

    private static void closeAll(ReactorGroupImpl group, Object[] pollers) {
        List<Reactor> all = group.reactors();
        for (int i = 0; i < pollers.length; i++) {
            if (pollers[i] instanceof ReactorThread.Poller poller) {
                ((ReactorThread) all.get(i)).execute(poller::close);
            }
        }
    }
}
