package io.mayastorj.nexus.internal;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Which children an I/O goes to, fixed for that I/O: the nexus publishes a new one (a volatile
 * write) on every change of its children, so the I/O path reads one field and takes no lock.
 *
 * @param readable      ONLINE children: in sync, they serve reads
 * @param writable      ONLINE and REBUILDING children: every write goes to all of them
 * @param logs          partial-rebuild logs of faulted children: every write marks them
 * @param locks         the rebuild's segment locks while a rebuild runs, else null
 * @param mustPersist   the health generation that must be on record before a write through this
 *                      topology completes (it left out a child the record still calls healthy)
 * @param writesInFlight writes submitted through this topology and not yet finished: a rebuild
 *                      starts copying only when the topologies before its child joined have none.
 *                      One counter, not a LongAdder: its sum is no snapshot, and a thread whose
 *                      increment and decrement landed in different cells could show 0 while a
 *                      write was in flight (a review finding; the copy then missed that write)
 */
record Topology(Child[] readable, Child[] writable, SegmentMap[] logs, RangeLocks locks, long mustPersist,
                AtomicLong writesInFlight) {

    static final Topology EMPTY = new Topology(new Child[0], new Child[0], new SegmentMap[0], null, 0, new AtomicLong());
}
