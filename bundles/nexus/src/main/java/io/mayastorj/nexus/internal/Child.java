package io.mayastorj.nexus.internal;

import io.mayastorj.core.bdev.BdevClaim;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.IoStatus;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One child of a nexus: a replica (local {@code bdev:///} or remote {@code nvmf://}) or any bdev.
 * Its lifecycle and sync state are kept apart, as in Mayastor: an {@link State#ONLINE} child is in
 * sync and serves reads; a {@link State#REBUILDING} one receives every write but serves no read
 * until its rebuild ends; a {@link State#FAULTED} one gets no I/O and says why.
 *
 * <p>State changes happen on the nexus's control thread; the I/O path reads them through the
 * nexus's immutable {@code Topology}.
 */
final class Child {

    enum State {
        ONLINE, REBUILDING, FAULTED
    }

    /** Why a child is faulted (Mayastor's reasons, those that apply). */
    enum Reason {
        NONE, IO_FAILURE, TIMED_OUT, NO_SPACE, UNREACHABLE, BY_CLIENT, REBUILD_FAILED, OUT_OF_SYNC, CANNOT_OPEN;

        static Reason of(IoStatus status) {
            return switch (status) {
                case TIMED_OUT -> TIMED_OUT;
                case NO_SPACE -> NO_SPACE;
                case UNAVAILABLE, DEVICE_CLOSED -> UNREACHABLE;
                default -> IO_FAILURE;
            };
        }
    }

    /** At most this many children, so that an I/O can keep its per-child results in an int mask. */
    static final int MAX = 16;

    final String uri;
    /** Its bit in an I/O's masks; unique among the nexus's children for their lifetime. */
    final int slot;

    /** Open while ONLINE or REBUILDING; null while FAULTED (the device is closed then). */
    volatile BlockDevice device;
    /** The device's reattachments when it was opened: one that reattached since may have lost unflushed writes. */
    volatile long attachedAs;
    BdevClaim claim;
    /** The nexus opened the bdev from the URI (nvmf://…), so it destroys it again. */
    boolean created;

    volatile State state;
    volatile Reason reason = Reason.NONE;
    volatile long sinceMillis = System.currentTimeMillis();
    /** The error that faulted it, for people. */
    volatile String cause = "";

    final AtomicInteger outstanding = new AtomicInteger();

    /** While FAULTED after being in sync: the segments written since (its partial-rebuild map). */
    SegmentMap log;
    long faultedAtNanos;

    /** Closing its bdev after a fault (off the control thread): a return waits for it. */
    volatile java.util.concurrent.CompletableFuture<Void> closing = java.util.concurrent.CompletableFuture.completedFuture(null);

    /** While REBUILDING, and the last one afterwards (for its statistics). */
    volatile Rebuild rebuild;

    Child(String uri, int slot, State state) {
        this.uri = uri;
        this.slot = slot;
        this.state = state;
    }

    int bit() {
        return 1 << slot;
    }

    void moveTo(State next, Reason why, String cause) {
        state = next;
        reason = why;
        this.cause = cause == null ? "" : cause;
        sinceMillis = System.currentTimeMillis();
    }

    @Override
    public String toString() {
        return uri;
    }
}
