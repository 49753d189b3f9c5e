package io.mayastorj.core.bdev;

/**
 * How a host should use the path to a device through this node (NVMe's asymmetric namespace
 * access states, ANA). A volume served from one node at a time is {@link #OPTIMIZED} there; a
 * nexus that another node's nexus has taken over is {@link #INACCESSIBLE}, so a host with paths to
 * both sends its I/O to the other; {@link #CHANGE} while it moves.
 */
public enum AccessState {
    OPTIMIZED(0x01),
    NON_OPTIMIZED(0x02),
    INACCESSIBLE(0x03),
    PERSISTENT_LOSS(0x04),
    CHANGE(0x0F);

    private final int ana;

    AccessState(int ana) {
        this.ana = ana;
    }

    /** The ANA state's code in NVMe's ANA log page (Base 2.0, §5.16.1.9). */
    public int anaCode() {
        return ana;
    }

    /** I/O may be sent here. */
    public boolean usable() {
        return this == OPTIMIZED || this == NON_OPTIMIZED;
    }
}
