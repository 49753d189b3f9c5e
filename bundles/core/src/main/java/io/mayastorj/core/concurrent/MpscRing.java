package io.mayastorj.core.concurrent;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * A bounded ring for many producers and one consumer (a reactor's task queue). Producers claim a
 * cell with one CAS and publish it with its sequence number (Dmitry Vyukov's scheme); nothing is
 * allocated. The consumer never skips a claimed cell: if a producer was preempted between claiming
 * and publishing, the consumer waits for it, so each producer's elements come out in the order it
 * offered them.
 */
public final class MpscRing<E> {

    private final int mask;
    private final Object[] cells;
    private final AtomicLongArray sequence;
    private final AtomicLong tail = new AtomicLong();
    private final AtomicLong head = new AtomicLong();

    /** @param capacity rounded up to a power of two */
    public MpscRing(int capacity) {
        if (capacity < 1 || capacity > (1 << 30)) {
            throw new IllegalArgumentException("capacity out of range: " + capacity);
        }
        int size = Integer.highestOneBit(Math.max(2, capacity) * 2 - 1);
        mask = size - 1;
        cells = new Object[size];
        sequence = new AtomicLongArray(size);
        for (int i = 0; i < size; i++) {
            sequence.set(i, i);
        }
    }

    public int capacity() {
        return mask + 1;
    }

    /** Adds {@code element}; false when the ring is full. Any thread. */
    public boolean offer(E element) {
        long pos = tail.get();
        while (true) {
            int index = (int) (pos & mask);
            long diff = sequence.get(index) - pos;
            if (diff == 0) {
                if (tail.compareAndSet(pos, pos + 1)) {
                    cells[index] = element;
                    sequence.set(index, pos + 1); // publishes the element
                    return true;
                }
                pos = tail.get();
            } else if (diff < 0) {
                return false; // the consumer has not freed this cell: full
            } else {
                pos = tail.get();
            }
        }
    }

    /** Takes the oldest element, or null when the ring is empty. The consumer thread only. */
    @SuppressWarnings("unchecked")
    public E poll() {
        long pos = head.get();
        int index = (int) (pos & mask);
        int spins = 0;
        while (sequence.get(index) != pos + 1) {
            if (tail.get() == pos) {
                return null;
            }
            // claimed but not yet published: its producer is between two instructions
            if (++spins > 64) {
                Thread.yield();
            } else {
                Thread.onSpinWait();
            }
        }
        E element = (E) cells[index];
        cells[index] = null;
        sequence.set(index, pos + mask + 1); // frees the cell for the next lap
        head.set(pos + 1);
        return element;
    }

    public boolean isEmpty() {
        return tail.get() == head.get();
    }

    /** The number of elements; exact only when nobody is offering or polling. */
    public int size() {
        return (int) Math.max(0, Math.min(tail.get() - head.get(), mask + 1));
    }
}
