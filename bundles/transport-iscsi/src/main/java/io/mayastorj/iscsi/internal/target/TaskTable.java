package io.mayastorj.iscsi.internal.target;

import java.util.ArrayList;
import java.util.List;

/**
 * A connection's tasks by tag (ITT, or TTT): open addressing on int keys, so finding and filing a
 * task allocates nothing (a HashMap boxes each tag and makes a node per entry). Linear probing;
 * removal shifts the entries that follow back into the hole, so lookups never need tombstones.
 * Grows when half full. One thread (the connection's reactor) uses it.
 */
final class TaskTable {

    private int[] keys;
    private Task[] values;
    private int mask;
    private int size;

    TaskTable(int expected) {
        int capacity = Integer.highestOneBit(Math.max(4, expected) * 4 - 1);
        keys = new int[capacity];
        values = new Task[capacity];
        mask = capacity - 1;
    }

    private static int slot(int key, int mask) {
        int h = key * 0x9E3779B9; // Fibonacci hashing: tags are often sequential
        return (h ^ (h >>> 16)) & mask;
    }

    Task get(int key) {
        for (int i = slot(key, mask); values[i] != null; i = (i + 1) & mask) {
            if (keys[i] == key) {
                return values[i];
            }
        }
        return null;
    }

    boolean containsKey(int key) {
        return get(key) != null;
    }

    /** Files {@code task} under {@code key}, replacing what was there. */
    void put(int key, Task task) {
        if (task == null) {
            throw new IllegalArgumentException("null task");
        }
        int i = slot(key, mask);
        for (; values[i] != null; i = (i + 1) & mask) {
            if (keys[i] == key) {
                values[i] = task;
                return;
            }
        }
        keys[i] = key;
        values[i] = task;
        if (++size * 2 > values.length) {
            grow();
        }
    }

    /** Removes the task filed under {@code key}; returns it, or null. */
    Task remove(int key) {
        int i = slot(key, mask);
        for (; values[i] != null; i = (i + 1) & mask) {
            if (keys[i] == key) {
                Task removed = values[i];
                shiftBack(i);
                size--;
                return removed;
            }
        }
        return null;
    }

    /**
     * Removes {@code task} if it is the one filed under {@code key}: a task ended late (aborted, its
     * bdev step came back) must not take out a newer command the initiator gave its freed tag.
     */
    boolean remove(int key, Task task) {
        int i = slot(key, mask);
        for (; values[i] != null; i = (i + 1) & mask) {
            if (keys[i] == key) {
                if (values[i] != task) {
                    return false;
                }
                shiftBack(i);
                size--;
                return true;
            }
        }
        return false;
    }

    /** Fills the hole at {@code hole} with a later entry of its probe run that may live there. */
    private void shiftBack(int hole) {
        int i = hole;
        while (true) {
            i = (i + 1) & mask;
            if (values[i] == null) {
                break;
            }
            int home = slot(keys[i], mask);
            // the entry at i may move to the hole when its home is not in (hole, i] (cyclically)
            boolean stays = hole <= i ? hole < home && home <= i : hole < home || home <= i;
            if (!stays) {
                keys[hole] = keys[i];
                values[hole] = values[i];
                hole = i;
            }
        }
        values[hole] = null;
    }

    private void grow() {
        int[] oldKeys = keys;
        Task[] oldValues = values;
        keys = new int[oldKeys.length * 2];
        values = new Task[oldValues.length * 2];
        mask = keys.length - 1;
        size = 0;
        for (int i = 0; i < oldValues.length; i++) {
            if (oldValues[i] != null) {
                put(oldKeys[i], oldValues[i]);
            }
        }
    }

    int size() {
        return size;
    }

    boolean isEmpty() {
        return size == 0;
    }

    /** A copy of the tasks, for the rare walks over all of them (task management, closing). */
    List<Task> tasks() {
        List<Task> all = new ArrayList<>(size);
        for (Task t : values) {
            if (t != null) {
                all.add(t);
            }
        }
        return all;
    }

    void clear() {
        java.util.Arrays.fill(values, null);
        size = 0;
    }
}
