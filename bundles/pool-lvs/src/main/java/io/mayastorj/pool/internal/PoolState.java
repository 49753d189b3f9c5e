package io.mayastorj.pool.internal;

/** A pool's health, as Mayastor reports it. */
public enum PoolState {
    /** Every replica imported; space can be allocated. */
    ONLINE,
    /** Some replica's metadata is damaged: the others serve I/O, but nothing new is allocated. */
    DEGRADED,
    /** The device failed a metadata write, or the pool could not be imported: no I/O. */
    FAULTED
}
