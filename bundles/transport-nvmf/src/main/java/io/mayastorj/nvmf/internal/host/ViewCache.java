package io.mayastorj.nvmf.internal.host;

import io.mayastorj.core.buffer.DmaBuffer;
import java.nio.ByteBuffer;

/**
 * Socket I/O needs a ByteBuffer whose position and limit it may move, but a caller's
 * {@link DmaBuffer#bytes()} is not ours to move (the same buffer may feed several devices at once).
 * So each queue keeps one private view per pool buffer it has seen, made once: after warm-up an
 * I/O allocates no view. A buffer that is already in use on this queue gets a fresh view.
 * Reactor thread only.
 */
final class ViewCache {

    static final class View {
        final DmaBuffer owner;
        final ByteBuffer bytes;
        boolean inUse;
        final boolean cached;

        View(DmaBuffer owner, boolean cached) {
            this.owner = owner;
            this.bytes = owner.bytes().duplicate();
            this.cached = cached;
        }
    }

    private static final int SIZE_CLASSES = 16;
    private static final int MAX_INDEX = 1 << 16;
    private final View[][] views = new View[SIZE_CLASSES][];

    View acquire(DmaBuffer buffer) {
        int sizeClass = buffer.sizeClass();
        int index = buffer.index();
        if (sizeClass < 0 || sizeClass >= SIZE_CLASSES || index < 0 || index >= MAX_INDEX) {
            return take(new View(buffer, false));
        }
        View[] row = views[sizeClass];
        if (row == null || index >= row.length) {
            View[] grown = new View[Math.min(MAX_INDEX, Math.max(64, Integer.highestOneBit(index) << 1))];
            if (row != null) {
                System.arraycopy(row, 0, grown, 0, row.length);
            }
            views[sizeClass] = row = grown;
        }
        View view = row[index];
        if (view == null || view.owner != buffer) {
            view = new View(buffer, true);
            row[index] = view;
        } else if (view.inUse) {
            return take(new View(buffer, false));
        }
        return take(view);
    }

    private static View take(View view) {
        view.inUse = true;
        view.bytes.clear(); // its last I/O left its limit short: a later, larger one slices it from 0 to capacity
        return view;
    }

    static void release(View view) {
        if (view != null) {
            view.inUse = false;
        }
    }
}
