package io.mayastorj.nvmf.internal.protocol;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.UUID;

/**
 * Identify data structures (NVMe Base 2.0, §5.17.2) as the Linux host reads them: the controller
 * (CNS 01h), a namespace (CNS 00h), the active namespace list (CNS 02h) and the namespace
 * identification descriptors (CNS 03h). Field offsets are named where they are written.
 */
public final class Identify {

    public static final int SIZE = 4096;
    public static final int CNS_NAMESPACE = 0x00;
    public static final int CNS_CONTROLLER = 0x01;
    public static final int CNS_ACTIVE_NAMESPACES = 0x02;
    public static final int CNS_DESCRIPTORS = 0x03;
    /** I/O command set specific Identify Namespace and Controller (CSI in CDW11 bits 31:24; 0: NVM). */
    public static final int CNS_CSI_NAMESPACE = 0x05;
    public static final int CNS_CSI_CONTROLLER = 0x06;
    public static final int CSI_NVM = 0x00;
    public static final int ONCS_DSM = 1 << 2;
    public static final int ONCS_WRITE_ZEROES = 1 << 3;

    public static final String MODEL = "Mayastor NVMe controller";
    public static final int MDTS = 5; // 2^5 * 4 KiB = 128 KiB per command
    public static final int MAX_TRANSFER = (1 << MDTS) * 4096;
    /** In-capsule data the target accepts, in 16-byte units with the SQE: up to MDTS. */
    public static final int IOCCSZ = (64 + MAX_TRANSFER) / 16;
    public static final int IN_CAPSULE_DATA = IOCCSZ * 16 - 64;

    private Identify() {
    }

    /**
     * @param discovery a discovery controller (CNTRLTYPE 2)
     * @param vwc       a volatile write cache: the host sends flushes
     * @param oncs      optional NVM commands: {@link #ONCS_DSM}, {@link #ONCS_WRITE_ZEROES}
     */
    public static void controller(ByteBuffer page, int cntlid, String serial, String subnqn, boolean discovery,
                                  boolean vwc, int oncs, int maxCommands) {
        clear(page);
        page.putShort(0, (short) 0x1d0f);                 // VID: the PCI-SIG id Mayastor uses (Amazon)
        page.putShort(2, (short) 0x1d0f);                 // SSVID
        ascii(page, 4, 20, serial);                       // SN
        ascii(page, 24, 40, MODEL);                       // MN
        ascii(page, 64, 8, "0.1");                        // FR
        page.put(72, (byte) 0);                           // RAB
        // CMIC: ports and controllers may be many (a volume's nexus moves between nodes under one
        // NQN, and a host keeps a path to each), ANA reported; Linux makes a multipath head from it
        page.put(76, (byte) (discovery ? 0 : 0x0B));
        page.put(77, (byte) (discovery ? 0 : MDTS));      // MDTS
        page.putShort(78, (short) cntlid);                // CNTLID, as returned by Connect
        page.putInt(80, 0x00010300);                      // VER 1.3
        // OAES: ANA change and namespace attribute (size) notices
        page.putInt(92, discovery ? 0 : Ana.NOTICE_ENABLE | ChangedNamespaces.NOTICE_ENABLE);
        page.putInt(96, 0);                               // CTRATT
        page.put(111, (byte) (discovery ? 2 : 1));        // CNTRLTYPE
        page.putShort(256, (short) 0);                    // OACS
        page.put(258, (byte) 3);                          // ACL (0-based)
        page.put(259, (byte) 3);                          // AERL (0-based)
        page.put(260, (byte) 0x3);                        // FRMW: slot 1 read-only, one slot
        page.put(261, (byte) 0x04);                       // LPA: EDLP, log pages read at an offset (SPDK reads the discovery log so)
        page.put(262, (byte) 0);                          // ELPE: one error log entry (0-based)
        page.putShort(320, (short) 10);                   // KAS: keep-alive granularity 10 × 100 ms
        if (!discovery) {
            page.put(342, (byte) Ana.TRANSITION_SECONDS);  // ANATT
            page.put(343, (byte) Ana.CAPABILITIES);        // ANACAP
            page.putInt(344, 1);                           // ANAGRPMAX
            page.putInt(348, 1);                           // NANAGRPID
        }
        page.put(512, (byte) 0x66);                       // SQES
        page.put(513, (byte) 0x44);                       // CQES
        page.putShort(514, (short) maxCommands);          // MAXCMD
        page.putInt(516, discovery ? 0 : 1);              // NN: one namespace
        page.putShort(520, (short) oncs);                 // ONCS
        page.put(525, (byte) (vwc ? 1 : 0));              // VWC
        page.putInt(536, 0x00100001);                     // SGLS: supported, with offsets for in-capsule data
        page.putInt(540, discovery ? 0 : 1);              // MNAN: one namespace (sizes the host's ANA log buffer)
        ascii(page, 768, 256, subnqn, (byte) 0);          // SUBNQN, NUL padded
        page.putInt(1792, IOCCSZ);                        // IOCCSZ
        page.putInt(1796, 1);                             // IORCSZ
        page.putShort(1800, (short) 0);                   // ICDOFF
        page.put(1802, (byte) 0);                         // FCATT: dynamic controllers
        page.put(1803, (byte) 1);                         // MSDBD
    }

    /** A namespace of {@code blocks} blocks of 2^{@code lbads} bytes; ids derive from the bdev's UUID. */
    public static void namespace(ByteBuffer page, long blocks, int lbads, UUID uuid, boolean thin) {
        clear(page);
        page.putLong(0, blocks);                          // NSZE
        page.putLong(8, blocks);                          // NCAP
        page.putLong(16, blocks);                         // NUSE
        page.put(24, (byte) (thin ? 1 : 0));              // NSFEAT: thin provisioning
        page.put(25, (byte) 0);                           // NLBAF: one format (0-based)
        page.put(26, (byte) 0);                           // FLBAS: format 0, no metadata
        page.put(30, (byte) 1);                           // NMIC: shared (one namespace behind several controllers)
        page.put(33, (byte) 0x09);                        // DLFEAT: deallocated blocks read zeros; write zeroes deallocates
        putUuid(page, 104, uuid);                         // NGUID
        page.putInt(92, Ana.GROUP);                       // ANAGRPID
        page.putShort(128, (short) 0);                    // LBAF0.MS
        page.put(130, (byte) lbads);                      // LBAF0.LBADS
        page.put(131, (byte) 0);                          // LBAF0.RP
    }

    /**
     * The NVM command set's Identify Controller (CNS 06h): limits left at 0 (none beyond MDTS),
     * and RALBAS when the namespace reports its allocated ranges (Get LBA Status, action 02h).
     */
    public static void nvmController(ByteBuffer page, boolean allocatedRanges) {
        clear(page);
        page.putShort(LbaStatus.AOCS, (short) (allocatedRanges ? 1 : 0)); // AOCS.RALBAS
    }

    /** The NVM command set's Identify Namespace (CNS 05h): TLBAAG, the unit of allocation reports. */
    public static void nvmNamespace(ByteBuffer page, long allocationUnitBlocks) {
        clear(page);
        page.putInt(LbaStatus.TLBAAG, (int) Math.min(allocationUnitBlocks, 0xFFFF_FFFFL)); // TLBAAG
    }

    /** Active namespace IDs greater than {@code after} (unsigned): ours is 1. */
    public static void activeNamespaces(ByteBuffer page, int after) {
        clear(page);
        if (after == 0) {
            page.putInt(0, 1);
        }
    }

    /** Descriptors: the NGUID and the UUID (NIDT 2 and 3), both from the bdev's UUID. */
    public static void descriptors(ByteBuffer page, UUID uuid) {
        clear(page);
        page.put(0, (byte) 2);                            // NIDT NGUID
        page.put(1, (byte) 16);                           // NIDL
        putUuid(page, 4, uuid);
        page.put(20, (byte) 3);                           // NIDT UUID
        page.put(21, (byte) 16);
        putUuid(page, 24, uuid);
    }

    private static void putUuid(ByteBuffer page, int offset, UUID uuid) {
        ByteBuffer big = page.duplicate().order(java.nio.ByteOrder.BIG_ENDIAN);
        big.putLong(offset, uuid.getMostSignificantBits());
        big.putLong(offset + 8, uuid.getLeastSignificantBits());
    }

    static void clear(ByteBuffer page) {
        for (int i = 0; i < SIZE; i += 8) {
            page.putLong(i, 0);
        }
    }

    static void ascii(ByteBuffer page, int offset, int length, String text) {
        ascii(page, offset, length, text, (byte) ' ');
    }

    static void ascii(ByteBuffer page, int offset, int length, String text, byte pad) {
        byte[] bytes = text.getBytes(StandardCharsets.US_ASCII);
        for (int i = 0; i < length; i++) {
            page.put(offset + i, i < bytes.length ? bytes[i] : pad);
        }
    }

    /** A fixed-width ASCII field, trailing spaces and NULs removed. */
    public static String readAscii(ByteBuffer page, int offset, int length) {
        byte[] bytes = new byte[length];
        page.get(offset, bytes);
        int end = length;
        while (end > 0 && (bytes[end - 1] == ' ' || bytes[end - 1] == 0)) {
            end--;
        }
        return new String(bytes, 0, end, StandardCharsets.US_ASCII);
    }
}
