package io.mayastorj.core.internal.bdev;

import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoType;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;

/**
 * The requests a ring or aio context has in flight, by slot number — which device, what kind, how
 * long, whom to tell — and its free slots: plain arrays, no object per request. A reactor's queue
 * owns its table; a device's own ring or context guards its table with its lock and finishes the
 * requests outside it.
 */
final class Slots {

    private static final Logger LOG = System.getLogger("mayastor.bdev");

    /** A request that found no free slot (allocated only then), kept in order until one frees. */
    record Waiting(FileBdev bdev, int opcode, IoType type, long address, long length, long offset, int opFlags,
                   IoCompletion<Object> done, Object context) {
    }

    private final FileBdev[] bdevs;
    private final IoType[] types;
    private final long[] lengths;
    private final IoCompletion<?>[] dones;
    private final Object[] contexts;
    private final int[] free;
    private int freeCount;

    Slots(int count) {
        bdevs = new FileBdev[count];
        types = new IoType[count];
        lengths = new long[count];
        dones = new IoCompletion<?>[count];
        contexts = new Object[count];
        free = new int[count];
        for (int i = 0; i < count; i++) {
            free[i] = count - 1 - i;
        }
        freeCount = count;
    }

    boolean anyFree() {
        return freeCount > 0;
    }

    int inFlight() {
        return free.length - freeCount;
    }

    /** Takes a free slot (the caller checked {@link #anyFree()}) for the request; returns its number. */
    int take(FileBdev bdev, IoType type, long length, IoCompletion<?> done, Object context) {
        int slot = free[--freeCount];
        bdevs[slot] = bdev;
        types[slot] = type;
        lengths[slot] = length;
        dones[slot] = done;
        contexts[slot] = context;
        return slot;
    }

    FileBdev bdev(int slot) {
        return bdevs[slot];
    }

    IoType type(int slot) {
        return types[slot];
    }

    long length(int slot) {
        return lengths[slot];
    }

    @SuppressWarnings("unchecked")
    IoCompletion<Object> done(int slot) {
        return (IoCompletion<Object>) dones[slot];
    }

    Object context(int slot) {
        return contexts[slot];
    }

    /** The slot is free again (read what finishing it needs first). */
    void release(int slot) {
        bdevs[slot] = null;
        dones[slot] = null;
        contexts[slot] = null;
        free[freeCount++] = slot;
    }

    /** Frees the slot and finishes its request with the kernel's {@code result}; on the table's owner. */
    void complete(int slot, long result) {
        FileBdev bdev = bdevs[slot];
        IoType type = types[slot];
        long length = lengths[slot];
        IoCompletion<Object> done = done(slot);
        Object context = contexts[slot];
        release(slot);
        finish(bdev, type, length, result, done, context);
    }

    /** Ends a request: a callback that throws is logged and does not stop the reaping. */
    static void finish(FileBdev bdev, IoType type, long length, long result, IoCompletion<Object> done, Object context) {
        try {
            bdev.finish(type, length, result, done, context);
        } catch (Throwable t) {
            LOG.log(Level.ERROR, "bdev " + bdev.name() + ": an I/O completion failed", t);
        }
    }
}
