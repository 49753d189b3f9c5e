package io.mayastorj.iscsi.internal.scsi;

/**
 * The logical block address and transfer length of the media-access CDBs in their 6, 10, 12 and 16
 * byte forms (SBC-3), and the range check every one of them needs. LBAs are unsigned 64-bit
 * numbers: the check neither overflows nor trusts a sign.
 */
public final class Cdb {

    private Cdb() {
    }

    public static int u8(byte[] cdb, int at) {
        return cdb[at] & 0xFF;
    }

    public static int u16(byte[] cdb, int at) {
        return (cdb[at] & 0xFF) << 8 | cdb[at + 1] & 0xFF;
    }

    public static int u24(byte[] cdb, int at) {
        return (cdb[at] & 0xFF) << 16 | u16(cdb, at + 1);
    }

    public static long u32(byte[] cdb, int at) {
        return ((long) u16(cdb, at) << 16 | u16(cdb, at + 2)) & 0xFFFFFFFFL;
    }

    public static long u64(byte[] cdb, int at) {
        return u32(cdb, at) << 32 | u32(cdb, at + 4);
    }

    /** The group of an operation code: its CDB's length (0 for the variable-length, reserved and vendor groups). */
    public static int length(int opcode) {
        return switch (opcode >>> 5) {
            case 0 -> 6;
            case 1, 2 -> 10;
            case 4 -> 16;
            case 5 -> 12;
            default -> 0;
        };
    }

    /** The LBA of a READ/WRITE-style CDB of this length; 6-byte CDBs carry 21 bits. */
    public static long lba(byte[] cdb) {
        return switch (length(cdb[0] & 0xFF)) {
            case 6 -> u24(cdb, 1) & 0x1FFFFF;
            case 10, 12 -> u32(cdb, 2);
            case 16 -> u64(cdb, 2);
            default -> throw new IllegalArgumentException("no LBA in opcode " + (cdb[0] & 0xFF));
        };
    }

    /** The transfer length in blocks; a 6-byte READ/WRITE's 0 means 256. */
    public static long transferLength(byte[] cdb) {
        return switch (length(cdb[0] & 0xFF)) {
            case 6 -> u8(cdb, 4) == 0 ? 256 : u8(cdb, 4);
            case 10 -> u16(cdb, 7);
            case 12 -> u32(cdb, 6);
            case 16 -> u32(cdb, 10);
            default -> throw new IllegalArgumentException("no transfer length in opcode " + (cdb[0] & 0xFF));
        };
    }

    /** True when blocks [lba, lba + blocks) lie within a device of {@code capacity} blocks. */
    public static boolean inRange(long lba, long blocks, long capacity) {
        return Long.compareUnsigned(lba, capacity) <= 0 && Long.compareUnsigned(blocks, capacity - lba) <= 0;
    }
}
