package io.mayastorj.nvmf.internal.protocol;

/** Controller properties (NVMe Base 2.0, §3.1.4) read and written with Property Get/Set. */
public final class ControllerRegisters {

    public static final int CAP = 0x00;
    public static final int VS = 0x08;
    public static final int CC = 0x14;
    public static final int CSTS = 0x1C;

    public static final int CC_EN = 1;
    public static final int CC_SHN_SHIFT = 14;
    public static final int CSTS_RDY = 1;
    public static final int CSTS_SHST_PROCESSING = 1 << 2;
    public static final int CSTS_SHST_COMPLETE = 2 << 2;

    /** MQES (0-based) = {@code maxQueueEntries - 1}, CQR, TO = 15 × 500 ms, CSS = NVM, MPSMIN = 0. */
    public static long capabilities(int maxQueueEntries) {
        return (long) (maxQueueEntries - 1) | (1L << 16) | (15L << 24) | (1L << 37);
    }

    public static final int VERSION = 0x00010300;

    private ControllerRegisters() {
    }
}
