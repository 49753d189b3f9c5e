package io.mayastorj.nexus.internal;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Tells whether this process stood still lately (SIGSTOP, a paused VM, a long safepoint): a thread
 * that wakes every 100 ms and notes when it found a gap of more than {@link #PAUSE_NANOS}. A nexus that cannot
 * read its record goes on serving — but not right after such a pause, when another nexus may have
 * taken the volume over meanwhile: a look that fails then (one issued before the pause, timed out
 * during it, or any later one while the store stays out of reach) proves nothing, and the I/O
 * waits for a look that succeeds.
 */
final class PauseClock implements AutoCloseable {

    /**
     * A pause that may have let another nexus take over: as long as a nexus trusts its last look.
     * A switch-over needs the node silent for its grace (at least its heartbeat + 3 s + 1 s), and
     * its beats come from this process; a shorter stop (a GC pause) cannot make that alone, and
     * counted, it held the I/O of every nexus here for as long as NATS was away.
     */
    static final long PAUSE_NANOS = Nexus.OWNERSHIP_STALE_NANOS;
    private static final long TICK_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

    private volatile long lastTick = System.nanoTime();
    /** Whether the control plane hears the node's beats ({@link io.mayastorj.core.node.Heartbeat}); yes when unknown. */
    private volatile java.util.function.BooleanSupplier heard = () -> true;
    private volatile long lastPauseEnd = System.nanoTime() - TimeUnit.DAYS.toNanos(1);
    private volatile boolean stopped;
    private final Thread thread;

    PauseClock() {
        thread = new Thread(this::run, "nexus-pause-clock");
        thread.setDaemon(true);
        thread.start();
    }

    private void run() {
        while (!stopped) {
            LockSupport.parkNanos(TICK_NANOS);
            long now = System.nanoTime();
            if (now - lastTick > PAUSE_NANOS) {
                lastPauseEnd = now;
            }
            lastTick = now;
        }
    }

    /**
     * The process stood still after {@code since} (a pause that ended after it), or may be standing
     * still as far as this clock knows: it has not ticked for longer than such a pause (it has not
     * run since a thaw yet). Not "within the last few seconds": a nexus that stood still and cannot
     * read its record after the thaw knows no more ten seconds later than at once.
     */
    boolean pausedSince(long since, long now) {
        return now - lastTick > PAUSE_NANOS || lastPauseEnd - since > 0;
    }

    /** Where to learn whether the control plane hears the node; null: it does not say (taken as heard). */
    void hearing(java.util.function.BooleanSupplier heard) {
        this.heard = heard == null ? () -> true : heard;
    }

    /**
     * The control plane may be taking the node for lost: its beats do not reach it. A nexus that
     * cannot read its record then cannot tell whether another took the volume over (the node cut off
     * from NATS and the control plane, its volume's host still reaching it); it stops serving until
     * a look succeeds or the beats are heard again, before the other may start.
     */
    boolean unheard() {
        return !heard.getAsBoolean();
    }

    /** Tests: as if the clock found a pause just now. */
    void pausedNow() {
        lastPauseEnd = System.nanoTime();
    }

    @Override
    public void close() {
        stopped = true;
        LockSupport.unpark(thread);
    }
}
