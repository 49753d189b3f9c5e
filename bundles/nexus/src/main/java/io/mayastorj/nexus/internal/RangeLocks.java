package io.mayastorj.nexus.internal;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * The rebuild's segment locks against application writes, present only while a rebuild runs.
 * Copying a segment (read from a healthy child, write to the rebuilding one) must not interleave
 * with an application write to that segment, or the copy could overwrite newer data on the new
 * child with older data: so a segment is locked only once the writes in flight on it have finished,
 * and writes that arrive while it is locked wait and are resubmitted when it is unlocked.
 *
 * <p>Synchronised: it exists only during a rebuild, holds at most one lock per copy task, and the
 * in-flight set is bounded by the application's queue depth.
 */
final class RangeLocks {

    /** One copy task's lock on a run of segments; reused from run to run. */
    static final class Lock {
        long segment = -1;
        long count;
        int waitingFor;
        boolean held;
        Runnable onHeld;
        final ArrayDeque<NexusIo> queued = new ArrayDeque<>();
    }

    private final int segmentBlocks;
    private final List<Lock> active = new ArrayList<>();
    private final List<NexusIo> inFlight = new ArrayList<>();

    RangeLocks(int segmentBlocks) {
        this.segmentBlocks = segmentBlocks;
    }

    private boolean overlaps(NexusIo io, long segment, long count) {
        long start = segment * segmentBlocks;
        return io.lba < start + count * segmentBlocks && start < io.lba + io.blocks;
    }

    /** An application write wants to start: true when it may (it is now tracked), false when it waits. */
    synchronized boolean beginWrite(NexusIo io) {
        for (Lock l : active) {
            if (overlaps(io, l.segment, l.count)) {
                l.queued.add(io);
                return false;
            }
        }
        inFlight.add(io);
        io.locks = this;
        return true;
    }

    /** A tracked write finished: locks waiting for it may now be held. */
    void endWrite(NexusIo io) {
        Runnable run1 = null;
        List<Runnable> more = null;
        synchronized (this) {
            io.locks = null;
            for (int i = inFlight.size() - 1; i >= 0; i--) {
                if (inFlight.get(i) == io) {
                    inFlight.set(i, inFlight.get(inFlight.size() - 1));
                    inFlight.remove(inFlight.size() - 1);
                    break;
                }
            }
            for (Lock l : active) {
                if (!l.held && overlaps(io, l.segment, l.count) && --l.waitingFor == 0) {
                    l.held = true;
                    if (run1 == null) {
                        run1 = l.onHeld;
                    } else {
                        (more == null ? more = new ArrayList<>() : more).add(l.onHeld);
                    }
                }
            }
        }
        if (run1 != null) {
            run1.run();
        }
        if (more != null) {
            more.forEach(Runnable::run);
        }
    }

    /**
     * Locks {@code count} segments from {@code segment} for a copy: true when no write is in flight
     * on them (held now: the caller goes on); else false, and {@code onHeld} runs once the last of
     * them ends, on the thread that ends it.
     */
    boolean lock(Lock l, long segment, long count, Runnable onHeld) {
        synchronized (this) {
            l.segment = segment;
            l.count = count;
            l.onHeld = onHeld;
            l.held = false;
            int n = 0;
            for (NexusIo io : inFlight) {
                if (overlaps(io, segment, count)) {
                    n++;
                }
            }
            l.waitingFor = n;
            active.add(l);
            if (n > 0) {
                return false;
            }
            l.held = true;
        }
        return true;
    }

    /** Unlocks; returns the writes that waited, for the caller to resubmit. */
    synchronized List<NexusIo> unlock(Lock l) {
        active.remove(l);
        l.segment = -1;
        if (l.queued.isEmpty()) {
            return List.of();
        }
        List<NexusIo> waiting = new ArrayList<>(l.queued);
        l.queued.clear();
        return waiting;
    }

    synchronized int writesInFlight() {
        return inFlight.size();
    }
}
