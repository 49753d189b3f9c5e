package io.mayastorj.pool.internal.format;

/**
 * A reference from a parent block to a metadata page (FORMAT.md, "Named slots"): a 31-bit value
 * and, from format version 2, the slot that holds the page's committed version in bit 31. Naming the
 * slot in the parent is what lets an import tell a damaged committed page (both copies fail:
 * nothing to fall back to safely) from the spare slot a crashed commit tore (never read).
 */
public final class PageRef {

    private static final int SLOT_BIT = 31;
    private static final int VALUE_MASK = 0x7fff_ffff;

    private PageRef() {
    }

    public static int encode(Layout layout, int value, byte slot) {
        if (!layout.mirrored() || slot < 0) {
            return value;
        }
        return value | (slot << SLOT_BIT);
    }

    public static int page(Layout layout, int ref) {
        return layout.mirrored() ? ref & VALUE_MASK : ref;
    }

    /** The slot named, or -1 in version 1. */
    public static byte slot(Layout layout, int ref) {
        return layout.mirrored() ? (byte) (ref >>> SLOT_BIT) : -1;
    }
}
