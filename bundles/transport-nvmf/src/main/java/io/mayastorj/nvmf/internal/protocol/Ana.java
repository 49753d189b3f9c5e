package io.mayastorj.nvmf.internal.protocol;

import io.mayastorj.core.bdev.AccessState;
import java.nio.ByteBuffer;

/**
 * Asymmetric namespace access (NVMe Base 2.0, §8.1): each subsystem has one namespace in one ANA
 * group (ID 1), whose state is the bdev's {@link AccessState}. A volume's nexus may run on another
 * node under the same subsystem NQN, so a multipath host sees one namespace with a path to each
 * node and uses the one that is optimized.
 */
public final class Ana {

    /** Get Log Page identifier of the ANA log. */
    public static final int LOG_PAGE = 0x0C;
    /** The one ANA group of a subsystem. */
    public static final int GROUP = 1;
    /** Seconds a host waits for a path in transition before giving up on it (ANATT). */
    public static final int TRANSITION_SECONDS = 30;
    /** ANACAP: optimized, non-optimized, inaccessible, persistent loss and change reported; ANAGRPID fixed. */
    public static final int CAPABILITIES = 0x1F | 1 << 6;
    /** OAES bit and Set Features 0Bh bit of ANA change notices. */
    public static final int NOTICE_ENABLE = 1 << 11;
    /** Asynchronous event completion DW0: type notice (2), info ANA change (3), log page 0Ch. */
    public static final int CHANGE_EVENT = 0x02 | 0x03 << 8 | LOG_PAGE << 16;
    /** Log Specific Field bit 0 (CDW10 bit 8): return groups only, no namespace list. */
    public static final int RGO = 1 << 8;

    private static final int HEADER = 16;
    private static final int DESCRIPTOR = 32;

    private Ana() {
    }

    /** Bytes of the log page: the header, one group descriptor, and its one NSID unless {@code groupsOnly}. */
    public static int size(boolean groupsOnly) {
        return HEADER + DESCRIPTOR + (groupsOnly ? 0 : 4);
    }

    /** The ANA log (§5.16.1.12) of a subsystem whose namespace 1 is in {@code state}. */
    public static void log(ByteBuffer page, long changeCount, AccessState state, boolean groupsOnly) {
        page.putLong(0, changeCount);                     // CHGCNT
        page.putShort(8, (short) 1);                      // NUMANAGD: one group descriptor
        page.putInt(HEADER, GROUP);                       // ANAGRPID
        page.putInt(HEADER + 4, groupsOnly ? 0 : 1);      // NNSID
        page.putLong(HEADER + 8, changeCount);            // CHGCNT of the group
        page.put(HEADER + 16, (byte) state.anaCode());    // ANAS
        if (!groupsOnly) {
            page.putInt(HEADER + DESCRIPTOR, 1);          // NSID 1
        }
    }
}
