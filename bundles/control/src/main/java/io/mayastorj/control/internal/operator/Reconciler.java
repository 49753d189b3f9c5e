package io.mayastorj.control.internal.operator;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * One worker thread that runs the operators' reconcile steps for keys (kind and name) put on its
 * queue — by store events, node events, and a resync of everything every sync period. A key is on
 * the queue at most once, so a burst of events costs one pass; a step that fails is retried at the
 * next resync. Level-triggered: a step reads the resource and the nodes afresh, it never relies on
 * what an event said.
 */
public final class Reconciler implements AutoCloseable {

    private static final Logger LOG = System.getLogger("mayastor.control");

    /** What to reconcile. */
    public record Key(String kind, String name) {
    }

    private final Map<String, Consumer<String>> handlers = new ConcurrentHashMap<>();
    private final Map<String, Runnable> resyncs = new ConcurrentHashMap<>();
    private final Set<Key> queued = new LinkedHashSet<>();
    private final Deque<Key> queue = new ArrayDeque<>();
    private final Thread worker;
    private final long syncNanos;
    private volatile boolean running = true;
    private long lastSync;
    private volatile long passes;

    public Reconciler(Duration syncPeriod) {
        this.syncNanos = syncPeriod.toNanos();
        this.worker = new Thread(this::work, "reconciler");
        worker.setDaemon(true);
    }

    /** The step for a kind; and what a resync enqueues for it (every resource of the kind). */
    public void handle(String kind, Consumer<String> step, Runnable resync) {
        handlers.put(kind, step);
        resyncs.put(kind, resync);
    }

    public void start() {
        lastSync = System.nanoTime();
        resyncs.values().forEach(Runnable::run);
        worker.start();
    }

    public synchronized void enqueue(String kind, String name) {
        Key key = new Key(kind, name);
        if (queued.add(key)) {
            queue.add(key);
            notifyAll();
        }
    }

    /** Every resource, now (a node came or went: placement and repair may change). */
    public void resyncNow() {
        resyncs.values().forEach(Runnable::run);
    }

    /** Passes made since start: each reconcile step counts one (for tests and the shell). */
    public long passes() {
        return passes;
    }

    private void work() {
        while (running) {
            Key key;
            boolean resync = false;
            synchronized (this) {
                long now = System.nanoTime();
                if (now - lastSync >= syncNanos) {
                    lastSync = now;
                    resync = true;
                }
            }
            if (resync) {
                resyncNow(); // outside the lock: it reads the store, whose listeners enqueue
            }
            synchronized (this) {
                long now = System.nanoTime();
                if (queue.isEmpty()) {
                    try {
                        long wait = Math.max(1, TimeUnit.NANOSECONDS.toMillis(syncNanos - (now - lastSync)));
                        wait(wait);
                    } catch (InterruptedException e) {
                        return;
                    }
                    continue;
                }
                key = queue.poll();
                queued.remove(key);
            }
            Consumer<String> step = handlers.get(key.kind());
            if (step == null) {
                continue;
            }
            try {
                step.accept(key.name());
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "reconciling {0} {1} failed (retried at the next sync): {2}", key.kind(),
                        key.name(), e.getMessage() == null ? e.toString() : e.getMessage());
                LOG.log(Level.DEBUG, "the failure", e);
            }
            passes++;
        }
    }

    @Override
    public void close() {
        running = false;
        worker.interrupt();
        try {
            worker.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
