package io.mayastorj.core.bdev;

/** The kinds of I/O a bdev may support. */
public enum IoType {
    READ,
    WRITE,
    FLUSH,
    /** Deallocate (TRIM, DISCARD): afterwards the range reads as zeros or stale data, per device. */
    UNMAP,
    /** Afterwards the range reads as zeros. */
    WRITE_ZEROES
}
