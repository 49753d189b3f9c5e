package io.mayastorj.core.concurrent;

import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntFunction;

/**
 * A lock-free stack of preallocated items (buffers, I/O slots), addressed by index. Push and pop are
 * one CAS on a head word that holds the top index and a version; the version changes on every update,
 * so a thread that was preempted mid-pop cannot be fooled by an index that left and came back (ABA).
 * A stalled thread never blocks the others, and nothing is allocated after construction.
 *
 * <p>Each item has a fixed index in {@code 0..capacity-1}; {@link #push(int)} takes that index back.
 */
public final class FreeList<E> {

    private static final int NONE = -1;

    private final Object[] items;
    private final AtomicIntegerArray next;
    /** Version in the high 32 bits, the top item's index (or NONE) in the low 32. */
    private final AtomicLong head = new AtomicLong(pack(0, NONE));
    private int added;

    public FreeList(int capacity) {
        if (capacity < 1) {
            throw new IllegalArgumentException("capacity must be positive: " + capacity);
        }
        items = new Object[capacity];
        next = new AtomicIntegerArray(capacity);
    }

    private static long pack(int version, int index) {
        return ((long) version << 32) | (index & 0xffffffffL);
    }

    /**
     * Creates an item for the next free index (the factory gets the index) and pushes it. Items are
     * made once each, off the hot path.
     */
    public synchronized E add(IntFunction<E> factory) {
        if (added == items.length) {
            throw new IllegalStateException("free list full: " + items.length + " items");
        }
        int index = added;
        E item = factory.apply(index);
        items[index] = item;
        added++;
        push(index);
        return item;
    }

    /**
     * Creates an item for the next free index and hands it out at once (not on the list): for lists
     * that grow on demand up to their capacity. Null when the list is at capacity.
     */
    public synchronized E addTaken(IntFunction<E> factory) {
        if (added == items.length) {
            return null;
        }
        int index = added;
        E item = factory.apply(index);
        items[index] = item;
        added++;
        return item;
    }

    /** Returns the item of {@code index} to the list. */
    public void push(int index) {
        while (true) {
            long h = head.get();
            next.set(index, (int) h);
            if (head.compareAndSet(h, pack((int) (h >>> 32) + 1, index))) {
                return;
            }
        }
    }

    /** Takes an item, or null when there is none. */
    @SuppressWarnings("unchecked")
    public E pop() {
        while (true) {
            long h = head.get();
            int top = (int) h;
            if (top == NONE) {
                return null;
            }
            if (head.compareAndSet(h, pack((int) (h >>> 32) + 1, next.get(top)))) {
                return (E) items[top];
            }
        }
    }

    public boolean isEmpty() {
        return (int) head.get() == NONE;
    }

    public int capacity() {
        return items.length;
    }

    /** Items added so far. */
    public synchronized int added() {
        return added;
    }
}
