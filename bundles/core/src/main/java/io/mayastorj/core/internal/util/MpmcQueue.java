package io.mayastorj.core.internal.util;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * A bounded multi-producer multi-consumer queue on a ring (Dmitry Vyukov's design): each cell has a
 * sequence number that says whether it is free for the producer of a given turn or full for its
 * consumer, so offer and poll are one CAS each and allocate nothing.
 *
 * <p>A cell is free again only when the consumer that took it has finished, so an almost full ring
 * can refuse an offer while a slow consumer is mid-poll. A ring that must take back every element
 * it ever held (a free list) needs headroom: twice the number of elements.
 */
public final class MpmcQueue<E> {

    private final int mask;
    private final Object[] cells;
    private final AtomicLongArray sequence;
    private final AtomicLong tail = new AtomicLong();
    private final AtomicLong head = new AtomicLong();

    /** @param capacity rounded up to a power of two */
    public MpmcQueue(int capacity) {
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

    /** Adds {@code element}; false when the queue is full. */
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
                return false;
            } else {
                pos = tail.get();
            }
        }
    }

    /** Takes the oldest element, or null when the queue is empty. */
    @SuppressWarnings("unchecked")
    public E poll() {
        long pos = head.get();
        while (true) {
            int index = (int) (pos & mask);
            long diff = sequence.get(index) - (pos + 1);
            if (diff == 0) {
                if (head.compareAndSet(pos, pos + 1)) {
                    E element = (E) cells[index];
                    cells[index] = null;
                    sequence.set(index, pos + mask + 1); // frees the cell for the next lap
                    return element;
                }
                pos = head.get();
            } else if (diff < 0) {
                return null;
            } else {
                pos = head.get();
            }
        }
    }

    /** The number of elements; exact only when nobody is offering or polling. */
    public int size() {
        long size = tail.get() - head.get();
        return (int) Math.max(0, Math.min(size, mask + 1));
    }

    public boolean isEmpty() {
        return tail.get() == head.get();
    }
}
