package io.mayastorj.nvmf.internal.protocol;

import java.nio.ByteBuffer;

/**
 * Namespace attribute notices (NVMe Base 2.0, §5.2, §5.16.1.5): a volume that grew tells the hosts
 * connected to it, which read the Changed Namespace List and identify the namespace again — the
 * Linux host then resizes its disk without being asked to rescan.
 */
public final class ChangedNamespaces {

    /** Get Log Page identifier of the Changed Namespace List. */
    public static final int LOG_PAGE = 0x04;
    /** Bytes of the log: 1024 namespace IDs. */
    public static final int SIZE = 4096;
    /** OAES bit and Set Features 0Bh bit of namespace attribute notices. */
    public static final int NOTICE_ENABLE = 1 << 8;
    /** Asynchronous event completion DW0: type notice (2), info namespace attribute changed (0), log page 04h. */
    public static final int CHANGE_EVENT = 0x02 | LOG_PAGE << 16;
    /** Get Log Page CDW10 bit 15, Retain Asynchronous Event: the read does not clear the log. */
    public static final int RAE = 1 << 15;

    private ChangedNamespaces() {
    }

    /** The log of a subsystem with its one namespace: NSID 1 when it changed since the host last read the log. */
    public static void log(ByteBuffer page, boolean changed) {
        if (changed) {
            page.putInt(0, 1);
        }
    }
}
