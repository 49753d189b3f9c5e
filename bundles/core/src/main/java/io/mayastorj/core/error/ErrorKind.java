package io.mayastorj.core.error;

/**
 * What went wrong, in terms a caller can act on. The names follow gRPC's status codes on purpose:
 * the RPC layer maps each kind to the code of the same name.
 */
public enum ErrorKind {
    /** The request itself is wrong: a malformed URI, an unknown parameter, a size of zero. */
    INVALID_ARGUMENT,
    /** The named object does not exist. */
    NOT_FOUND,
    /** An object of that name or identity exists already. */
    ALREADY_EXISTS,
    /** The node lacks what the request needs: memory, buffers, space. */
    RESOURCE_EXHAUSTED,
    /** The object is in a state that forbids the request, e.g. a bdev in use. */
    FAILED_PRECONDITION,
    /** A needed service or peer is not there now; retrying later may work. */
    UNAVAILABLE,
    /** A concurrent change won: the object changed since it was read; read it again and retry. */
    ABORTED,
    /** The node does not implement the request. */
    UNIMPLEMENTED,
    /** The caller may not do this. */
    PERMISSION_DENIED,
    /** A value outside what is supported: a size larger than any pool can hold. */
    OUT_OF_RANGE,
    /** Something the request waits for did not happen in time (a device that never appeared). */
    DEADLINE_EXCEEDED,
    /** A fault of the node or its devices. */
    INTERNAL
}
