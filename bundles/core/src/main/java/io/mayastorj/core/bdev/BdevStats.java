package io.mayastorj.core.bdev;

/** Counters of one bdev since it was created; a snapshot. */
public record BdevStats(
        long readOps, long bytesRead,
        long writeOps, long bytesWritten,
        long unmapOps, long bytesUnmapped,
        long writeZeroesOps, long bytesZeroed,
        long flushOps, long errors, long inFlight) {
}
