package io.mayastorj.control.internal.operator;

import io.mayastorj.core.error.ErrorKind;
import io.mayastorj.core.error.MayastorException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Worker threads that run the operators' reconcile steps for keys (kind and name) put on a queue —
 * by store events, node events, and a resync of everything every sync period. A key waits on the
 * queue at most once, and is worked on by one thread at a time: an event for a key in progress
 * makes it run once more afterwards, so a burst of events costs one or two passes and two steps of
 * one resource never race. A step that fails is retried after a backoff (1 s, doubling, at most the
 * sync period). Level-triggered: a step reads the resource and the nodes afresh, it never relies on
 * what an event said.
 */
public final class Reconciler implements AutoCloseable {

    private static final Logger LOG = System.getLogger("mayastor.control");
    private static final long FIRST_RETRY_MILLIS = 1000;

    /** What to reconcile. */
    public record Key(String kind, String name) {
    }

    private final Map<String, Consumer<String>> handlers = new ConcurrentHashMap<>();
    private final Map<String, Runnable> resyncs = new ConcurrentHashMap<>();
    private final Deque<Key> queue = new ArrayDeque<>();
    private final Set<Key> waiting = new HashSet<>();
    /** Passes of a key that lost a race to another writer, one after another (under the lock). */
    private final Map<Key, Integer> racedInARow = new HashMap<>();
    /** Passes that may lose a race in a row before the next waits as after a failure. */
    private static final int RACES_BEFORE_BACKOFF = 10;
    private final Set<Key> working = new HashSet<>();
    private final Map<Key, Long> backoffMillis = new HashMap<>();
    private final List<Thread> workers = new ArrayList<>();
    private final ScheduledExecutorService retries;
    private final long syncNanos;
    private volatile boolean running = true;
    private boolean started;
    private long lastSync;
    private volatile long passes;
    private volatile long failures;
    private volatile long busyNanos;

    public Reconciler(Duration syncPeriod, int workers) {
        this.syncNanos = syncPeriod.toNanos();
        for (int i = 0; i < workers; i++) {
            Thread t = new Thread(this::work, "reconciler-" + i);
            t.setDaemon(true);
            this.workers.add(t);
        }
        this.retries = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "reconciler-retries");
            t.setDaemon(true);
            return t;
        });
    }

    /** The step for a kind; and what a resync enqueues for it (every resource of the kind). */
    public void handle(String kind, Consumer<String> step, Runnable resync) {
        handlers.put(kind, step);
        resyncs.put(kind, resync);
    }

    /** Once: a second call, or one after {@link #close}, does nothing (a control plane that leads again, or no more). */
    public void start() {
        synchronized (this) {
            if (started || !running) {
                return;
            }
            started = true;
            lastSync = System.nanoTime();
        }
        resyncNow(); // a listing that fails is logged; the workers list again in the next sync period
        workers.forEach(Thread::start);
    }

    public synchronized void enqueue(String kind, String name) {
        Key key = new Key(kind, name);
        if (waiting.add(key) && !working.contains(key)) {
            queue.add(key);
            notify();
        }
    }

    /** The key once more after {@code delay} (a grace period that ends then). */
    public void enqueueAfter(String kind, String name, Duration delay) {
        retries.schedule(() -> enqueue(kind, name), Math.max(1, delay.toMillis()), TimeUnit.MILLISECONDS);
    }

    /** Every resource, now, on this thread. */
    private void resyncNow() {
        resyncs.forEach((kind, resync) -> {
            try {
                resync.run();
            } catch (RuntimeException e) {
                // the store unreachable (an API server restarting): the next period lists again; a
                // worker that let this through would end, and with the last one all reconciling
                LOG.log(Level.WARNING, "listing every {0} failed (tried again in the next sync period): {1}", kind,
                        e.getMessage() == null ? e.toString() : e.getMessage());
            }
        });
    }

    /**
     * A resync by a worker as soon as one is free, not on the caller's thread: node events come on
     * the heartbeat paths (NATS's dispatcher, the registry's ticker), which a listing blocked on an
     * API server that restarts would hold up, and with them every other node's beats.
     */
    public synchronized void resyncSoon() {
        lastSync = System.nanoTime() - syncNanos;
        notifyAll();
    }

    /** Reconcile steps that failed (and were retried). */
    public long failures() {
        return failures;
    }

    /** Seconds spent in reconcile steps, all workers together. */
    public double busySeconds() {
        return busyNanos / 1e9;
    }

    /** Steps run since start (for tests and the shell). */
    public long passes() {
        return passes;
    }

    /** The next key to work on, or null when stopping; resyncs when the period is up. */
    private Key take() throws InterruptedException {
        while (running) {
            boolean resync = false;
            synchronized (this) {
                long now = System.nanoTime();
                if (now - lastSync >= syncNanos) {
                    lastSync = now;
                    resync = true;
                } else if (!queue.isEmpty()) {
                    Key key = queue.poll();
                    waiting.remove(key);
                    working.add(key);
                    return key;
                } else {
                    wait(Math.max(1, TimeUnit.NANOSECONDS.toMillis(syncNanos - (now - lastSync))));
                    continue;
                }
            }
            if (resync) {
                resyncNow(); // outside the lock: it reads the store, whose listeners enqueue
            }
        }
        return null;
    }

    private synchronized void done(Key key, boolean failed, boolean raced) {
        working.remove(key);
        if (waiting.contains(key)) {
            queue.add(key); // an event came meanwhile: once more
            notify();
        } else if (raced && racedInARow.merge(key, 1, Integer::sum) <= RACES_BEFORE_BACKOFF) {
            waiting.add(key); // its change event may still be on its way: once more now, on what is there
            queue.add(key);
            notify();
            return;
        } else if (raced) {
            LOG.log(Level.WARNING, "{0} {1} changed under {2} passes in a row; trying again later", key.kind(), key.name(),
                    RACES_BEFORE_BACKOFF);
            failed = true;
        }
        if (!raced) {
            racedInARow.remove(key);
        }
        if (!failed) {
            backoffMillis.remove(key);
            return;
        }
        long delay = backoffMillis.merge(key, FIRST_RETRY_MILLIS,
                (old, first) -> Math.min(old * 2, TimeUnit.NANOSECONDS.toMillis(syncNanos)));
        if (running) {
            retries.schedule(() -> enqueue(key.kind(), key.name()), delay, TimeUnit.MILLISECONDS);
        }
    }

    private void work() {
        while (running) {
            Key key;
            try {
                key = take();
            } catch (InterruptedException e) {
                return;
            }
            if (key == null) {
                return;
            }
            boolean failed = false;
            boolean raced = false;
            Consumer<String> step = handlers.get(key.kind());
            long start = System.nanoTime();
            try {
                if (step != null) {
                    step.accept(key.name());
                }
                if (LOG.isLoggable(Level.DEBUG)) {
                    LOG.log(Level.DEBUG, "{0} {1} reconciled in {2} ms", key.kind(), key.name(),
                            String.format("%.1f", (System.nanoTime() - start) / 1e6));
                }
            } catch (RuntimeException | Error e) { // an Error too: a worker that died of one left its key and its share of the work undone
                if (e instanceof MayastorException m && m.kind() == ErrorKind.ABORTED) {
                    // another writer changed the resource since this pass read it (a caller's publish
                    // beside the status this pass wrote): not a failure, the pass runs again at once
                    raced = true;
                    LOG.log(Level.DEBUG, "{0} {1} changed meanwhile; reconciling it again: {2}", key.kind(), key.name(),
                            m.getMessage());
                } else {
                    failed = true;
                    LOG.log(Level.WARNING, "reconciling {0} {1} failed (retried shortly): {2}", key.kind(), key.name(),
                            e.getMessage() == null ? e.toString() : e.getMessage());
                    LOG.log(Level.DEBUG, "the failure", e);
                }
            } finally {
                done(key, failed, raced);
            }
            long took = System.nanoTime() - start;
            synchronized (this) {
                passes++;
                failures += failed ? 1 : 0;
                busyNanos += took;
            }
        }
    }

    @Override
    public void close() {
        stop();
    }

    /**
     * Stops the workers, waiting up to 10 s for each pass under way; false when one is still running
     * (a node call or a write it is in may yet land: the lease is then not given back early).
     */
    public boolean stop() {
        running = false;
        retries.shutdownNow();
        workers.forEach(Thread::interrupt);
        for (Thread t : workers) {
            try {
                t.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return workers.stream().noneMatch(Thread::isAlive);
    }
}
