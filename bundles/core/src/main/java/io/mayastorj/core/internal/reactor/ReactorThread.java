package io.mayastorj.core.internal.reactor;

import io.mayastorj.core.concurrent.MpscRing;
import io.mayastorj.core.reactor.Reactor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.util.PriorityQueue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A reactor's thread and everything it owns. The loop runs posted tasks, due timers, its
 * {@linkplain Poller pollers} (I/O rings) and ready channels, and sleeps in the selector when there
 * is nothing to do (no busy polling: an idle node burns no CPU).
 */
public final class ReactorThread extends Thread implements Reactor {

    /**
     * Work the reactor drives every turn besides its channels and tasks: an I/O ring whose
     * submissions it batches and whose completions it reaps on this thread. A poller that has I/O in
     * flight keeps a channel registered with the selector (an eventfd) to wake the reactor from
     * sleep.
     */
    public interface Poller {
        /**
         * Reaps the completions that arrived and submits what was queued since the last turn.
         *
         * @return true while it holds work that a sleep would delay
         */
        boolean poll();

        /**
         * The reactor is about to sleep: arrange to be woken when I/O in flight completes.
         *
         * @return how long the reactor may sleep, in milliseconds: 0 for as long as it likes, -1 not
         *         at all (something arrived meanwhile)
         */
        long prepareToSleep();

        /** The reactor is stopping. */
        void close();
    }

    private static final Logger LOG = System.getLogger("mayastor.reactor");
    private static final int TASK_RING = 16384;

    final ReactorGroupImpl group;
    private final int id;
    private final Selector selector;
    /** Made once: a method reference in the loop would be a new object per turn. */
    private final java.util.function.Consumer<java.nio.channels.SelectionKey> dispatcher = this::dispatch;
    private final MpscRing<Runnable> tasks = new MpscRing<>(TASK_RING);
    /**
     * Takes what the ring cannot hold; allocates, but only under overload. While it holds anything,
     * new tasks go here too, so that each thread's tasks still run in the order it posted them.
     */
    private final ConcurrentLinkedQueue<Runnable> overflow = new ConcurrentLinkedQueue<>();
    /** Tasks in {@link #overflow} (its size() walks it); touched only while it is in use. */
    private final java.util.concurrent.atomic.AtomicLong overflowed = new java.util.concurrent.atomic.AtomicLong();
    private final AtomicBoolean sleeping = new AtomicBoolean();
    private final PriorityQueue<TimerTask> timers = new PriorityQueue<>();
    private Poller[] pollers = new Poller[0];
    /** Pollers whose prepareToSleep threw, said once each; on the reactor thread. */
    private final java.util.Set<Poller> failedPollers = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
    private volatile boolean running = true;
    /** The loop has ended: tasks posted from now on run on the poster's thread. */
    private volatile boolean finished;
    private final Object finalDrain = new Object();
    private boolean drainingAfterStop; // guarded by finalDrain

    // statistics, written on the reactor thread only
    private volatile long tasksRun;
    private volatile long wakeups;
    private volatile long readyEvents;

    private final class TimerTask implements Timer, Comparable<TimerTask>, Runnable {
        final long deadline;
        /** Null once cancelled: the entry stays in the heap until its deadline, what it would run does not. */
        volatile Runnable task;
        volatile boolean cancelled;

        TimerTask(long deadline, Runnable task) {
            this.deadline = deadline;
            this.task = task;
        }

        @Override
        public void cancel() {
            cancelled = true;
            // a connection's 40 s connect deadline, cancelled when it connects or closes, kept the connection
            // and its buffers reachable until then: connect-and-close churn grew the heap with them
            task = null;
        }

        @Override
        public int compareTo(TimerTask other) {
            return Long.compare(deadline, other.deadline);
        }

        @Override
        public void run() { // adds the timer on the reactor thread
            timers.add(this);
        }
    }

    ReactorThread(ReactorGroupImpl group, int id) {
        super("reactor-" + id);
        this.group = group;
        this.id = id;
        try {
            this.selector = Selector.open();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open a selector for reactor " + id, e);
        }
        setDaemon(true);
    }

    /** The reactor of {@code group} whose thread this is, or null. */
    public static ReactorThread current(ReactorGroupImpl group) {
        return Thread.currentThread() instanceof ReactorThread thread && thread.group == group ? thread : null;
    }

    /** Adds a poller; on this reactor's thread only. */
    public void addPoller(Poller poller) {
        if (!inReactor()) {
            throw new IllegalStateException("addPoller must be called on " + getName());
        }
        Poller[] more = java.util.Arrays.copyOf(pollers, pollers.length + 1);
        more[pollers.length] = poller;
        pollers = more;
    }

    /** Removes a poller; on this reactor's thread only. */
    public void removePoller(Poller poller) {
        if (!inReactor()) {
            throw new IllegalStateException("removePoller must be called on " + getName());
        }
        pollers = java.util.Arrays.stream(pollers).filter(p -> p != poller).toArray(Poller[]::new);
        failedPollers.remove(poller);
    }

    @Override
    public int id() {
        return id;
    }

    @Override
    public boolean inReactor() {
        return Thread.currentThread() == this;
    }

    @Override
    public void execute(Runnable task) {
        if (!overflow.isEmpty() || !tasks.offer(task)) {
            overflowed.incrementAndGet();
            overflow.add(task);
        }
        if (finished) {
            // the reactor has stopped: nobody else drains the queue, and a completion handed over now
            // (an I/O's callback) would never run — its caller waiting for ever; it runs here instead
            drainAfterStop();
            return;
        }
        // The reactor sets 'sleeping' before its last look at the queues, so either it sees this
        // task or this thread sees it asleep and wakes it.
        if (sleeping.get() && sleeping.compareAndSet(true, false)) {
            selector.wakeup();
        }
    }

    @Override
    public Timer schedule(long delay, TimeUnit unit, Runnable task) {
        // at most ~73 years: a longer delay ("never") would wrap the deadline negative, sort it first and
        // hold every timer behind it
        TimerTask timer = new TimerTask(System.nanoTime() + Math.min(unit.toNanos(delay), Long.MAX_VALUE >> 2), task);
        if (inReactor()) {
            timers.add(timer);
        } else {
            execute(timer);
        }
        return timer;
    }

    @Override
    public SelectionKey register(SelectableChannel channel, int ops, ReadyHandler handler) throws IOException {
        if (!inReactor()) {
            throw new IllegalStateException("register must be called on " + getName());
        }
        channel.configureBlocking(false);
        return channel.register(selector, ops, handler);
    }

    @Override
    public void run() {
        while (running) {
            try {
                runTasks();
                boolean busy = runPollers(); // before the timers: a completion may schedule one
                long timeoutMillis = runTimers();
                sleeping.set(true);
                if (!busy && !hasTasks() && running) {
                    timeoutMillis = pollersReadyToSleep(timeoutMillis);
                }
                if (busy || hasTasks() || !running || timeoutMillis < 0) {
                    sleeping.set(false);
                    selector.selectNow(dispatcher);
                } else {
                    wakeups++;
                    selector.select(dispatcher, timeoutMillis);
                    sleeping.set(false);
                }
            } catch (Throwable t) {
                LOG.log(Level.ERROR, getName() + ": unexpected error in the reactor loop", t);
            }
        }
        for (Poller poller : pollers) {
            try {
                poller.close();
            } catch (Throwable t) { // an Error too: it would skip 'finished', and every task posted later wait for ever
                LOG.log(Level.WARNING, getName() + ": a poller failed to close", t);
            }
        }
        try {
            runTasks(); // still the queue's only consumer
            selector.close();
        } catch (Throwable t) {
            LOG.log(Level.WARNING, getName() + ": error while stopping", t);
        } finally {
            finished = true; // from now on execute() drains, one drainer at a time
            drainAfterStop(); // what came meanwhile
        }
    }

    private void dispatch(SelectionKey key) {
        readyEvents++;
        // A task posted before this channel became ready runs before its handler: a sleeping
        // reactor can wake to find both the wake-up and the readiness, and the task may be what the
        // event depends on (an iSCSI unit attention posted before the reset's response went out).
        if (hasTasks()) {
            runTasks();
        }
        if (!key.isValid()) {
            // its owner closed since the select (a task just run, or another handler of this batch): the
            // selector still reports the key, and its handler would use what the close freed (an eventfd's scratch)
            return;
        }
        try {
            ((ReadyHandler) key.attachment()).ready(key);
        } catch (Throwable t) {
            LOG.log(Level.ERROR, getName() + ": channel handler failed; closing its channel", t);
            key.cancel();
            try {
                key.channel().close();
            } catch (IOException ignored) {
                // closing after a failure: nothing more to do
            }
        }
    }

    private boolean runPollers() {
        boolean busy = false;
        for (Poller poller : pollers) {
            try {
                busy |= poller.poll();
            } catch (Throwable t) {
                LOG.log(Level.ERROR, getName() + ": poller failed", t);
            }
        }
        return busy;
    }

    /** Arms every poller's wake-up; returns the sleep's limit in milliseconds (0: none, -1: do not sleep). */
    private long pollersReadyToSleep(long timeoutMillis) {
        long limit = timeoutMillis;
        for (Poller poller : pollers) {
            long mine;
            try {
                mine = poller.prepareToSleep(); // every poller arms its wake-up, even after one says no
            } catch (Throwable t) {
                // its wake-up is not armed: the reactor looks again within 100 ms (a throw out of here ended the
                // turn, every turn — a spinning reactor and an error line per turn)
                if (failedPollers.add(poller)) {
                    LOG.log(Level.ERROR, getName() + ": a poller failed to prepare for sleep; it is looked at every 100 ms", t);
                }
                mine = 100;
            }
            if (mine < 0) {
                limit = -1;
            } else if (mine > 0 && limit >= 0) {
                limit = limit == 0 ? mine : Math.min(limit, mine);
            }
        }
        return limit;
    }

    /**
     * Runs the tasks posted so far, now: for a wait on this reactor (a device closing) that a
     * posted task must end. On this reactor's thread only.
     */
    public void runPostedTasks() {
        if (!inReactor()) {
            throw new IllegalStateException("runPostedTasks must be called on " + getName());
        }
        runTasks();
    }

    /**
     * Runs what is posted, once the loop has ended, on the caller's thread: one drainer at a time
     * (the queue has one consumer), and a task that posts another (a copy loop's next step) leaves
     * it to the drainer's loop instead of recursing.
     */
    private void drainAfterStop() {
        synchronized (finalDrain) {
            if (drainingAfterStop) {
                return; // the drainer (maybe this thread, further down its stack) takes it
            }
            drainingAfterStop = true;
        }
        while (true) {
            runTasks();
            synchronized (finalDrain) {
                if (!hasTasks()) {
                    drainingAfterStop = false;
                    return;
                }
            }
        }
    }

    private Runnable pollOverflow() {
        Runnable task = overflow.poll();
        if (task != null) {
            overflowed.decrementAndGet();
        }
        return task;
    }

    private boolean hasTasks() {
        return !tasks.isEmpty() || !overflow.isEmpty();
    }

    private void runTasks() {
        // the tasks posted so far, not those they post: a chain that posts its next step (a rebuild's or an
        // EXTENDED COPY's copy over a device that answers at once) held the reactor — its sockets, pollers and
        // timers (NVMe/TCP keep-alive checks) — for the whole copy
        // (the overflow counted apart: ConcurrentLinkedQueue.size() walks the whole queue, and under overload
        // this ran before every ready key — the reactor slowed down exactly when it was behind)
        long budget = tasks.size() + overflowed.get();
        Runnable task;
        long run = 0;
        while (run < budget && ((task = tasks.poll()) != null || (task = pollOverflow()) != null)) {
            run++;
            try {
                task.run();
            } catch (Throwable t) {
                LOG.log(Level.ERROR, getName() + ": task failed", t);
            }
        }
        if (run > 0) {
            tasksRun += run;
        }
    }

    /** Runs the timers that are due; returns how long the selector may sleep (0 = no limit). */
    private long runTimers() {
        while (!timers.isEmpty()) {
            TimerTask next = timers.peek();
            if (next.cancelled) {
                timers.poll();
                continue;
            }
            long wait = next.deadline - System.nanoTime();
            if (wait > 0) {
                return Math.max(1, TimeUnit.NANOSECONDS.toMillis(wait + 999_999));
            }
            timers.poll();
            Runnable task = next.task;
            if (task == null) {
                continue; // cancelled meanwhile
            }
            try {
                task.run();
            } catch (Throwable t) {
                LOG.log(Level.ERROR, getName() + ": timer task failed", t);
            }
        }
        return 0;
    }

    void shutdown() {
        running = false;
        selector.wakeup();
    }

    int channels() {
        try {
            return selector.keys().size();
        } catch (java.nio.channels.ClosedSelectorException e) { // closed as the reactor stops (the shell asks from its thread)
            return 0;
        }
    }

    long tasksRun() {
        return tasksRun;
    }

    long wakeups() {
        return wakeups;
    }

    long readyEvents() {
        return readyEvents;
    }

    int pendingTimers() {
        return timers.size();
    }
}
