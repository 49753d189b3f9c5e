package io.mayastorj.core.transport;

/** Where a desired share stands. */
public enum ShareState {
    /** The transport serves it. */
    ACTIVE,
    /** The transport is not on the node (yet, or any more); the share returns with it. */
    WAITING_FOR_TRANSPORT,
    /** The transport refused it; the reason is recorded. */
    FAILED
}
