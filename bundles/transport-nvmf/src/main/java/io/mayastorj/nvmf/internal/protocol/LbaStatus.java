package io.mayastorj.nvmf.internal.protocol;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Get LBA Status (admin opcode 86h; NVM Command Set Specification 1.2, §4.2.1) with action type
 * 02h, "return tracked allocated LBAs": which ranges of a namespace hold data. A controller that
 * supports it says so with RALBAS (bit 0 of AOCS in the NVM command set's Identify Controller,
 * CNS 06h) and gives its unit in TLBAAG (NVM command set's Identify Namespace, CNS 05h); a unit
 * that holds any data is reported allocated, one that holds none never is.
 *
 * <p>Command: SLBA in CDW10-11, MNDW (dwords to return, 0's based) in CDW12, RL (blocks, 0: to the
 * end of the namespace) in CDW13 bits 15:0, ATYPE in CDW13 bits 31:24. Data: an 8-byte header
 * (NLSD, the number of descriptors, in bytes 3:0; CMPC, whether all qualifying ranges fit, in byte
 * 4) then 16-byte descriptors (DSLBA in bytes 7:0, NLB 0's based in bytes 11:8, LBARS 010b in bits
 * 2:0 of byte 13), in increasing LBA order.
 */
public final class LbaStatus {

    public static final int OPCODE = 0x86;
    public static final int ATYPE_ALLOCATED = 0x02;
    public static final int HEADER = 8;
    public static final int DESCRIPTOR = 16;
    public static final int OFF_NLSD = 0;
    public static final int OFF_CMPC = 4;
    public static final int OFF_DSLBA = 0;
    public static final int OFF_NLB = 8;
    public static final int OFF_STATUS = 13;
    public static final int CMPC_INCOMPLETE = 1;
    public static final int CMPC_COMPLETE = 2;
    public static final int LBARS_ALLOCATED = 0b010;
    /** Identify Controller, NVM command set (CNS 06h): AOCS, bit 0 RALBAS. */
    public static final int AOCS = 18;
    /** Identify Namespace, NVM command set (CNS 05h): TLBAAG, in blocks. */
    public static final int TLBAAG = 292;

    /** Whether a range of blocks may hold data (a bdev's {@code holdsData}). */
    @FunctionalInterface
    public interface Allocation {
        boolean holdsData(long lba, long blocks);
    }

    private LbaStatus() {
    }

    /** The longest range one descriptor holds: NLB is 32 bits, 0's based. */
    static final long MAX_RANGE = 1L << 32;

    /**
     * Writes the allocated ranges of {@code [slba, end)} into {@code out} ({@code bytes} long: what
     * MNDW asked for), as many descriptors as fit, walking the namespace unit by unit.
     */
    public static void allocated(ByteBuffer out, int bytes, Allocation allocation, long unit, long slba, long end) {
        ByteBuffer data = out.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < bytes; i++) {
            data.put(i, (byte) 0);
        }
        Descriptors descriptors = new Descriptors(data, bytes);
        long rangeStart = -1;
        long rangeEnd = -1;
        for (long u = slba / unit * unit; u < end && !descriptors.full; u += unit) {
            if (!allocation.holdsData(u, Math.min(unit, end - u))) {
                continue;
            }
            long from = Math.max(u, slba);
            long to = Math.min(u + unit, end);
            if (rangeStart >= 0 && from == rangeEnd) {
                rangeEnd = to; // adjacent: one descriptor, as large as possible
                continue;
            }
            if (rangeStart >= 0) {
                descriptors.add(rangeStart, rangeEnd);
            }
            rangeStart = from;
            rangeEnd = to;
        }
        if (rangeStart >= 0) {
            descriptors.add(rangeStart, rangeEnd);
        }
        if (bytes >= 4) {
            data.putInt(OFF_NLSD, descriptors.count);
        }
        if (bytes > OFF_CMPC) {
            data.put(OFF_CMPC, (byte) (descriptors.full ? CMPC_INCOMPLETE : CMPC_COMPLETE));
        }
    }

    /** Descriptors written so far; full once one more did not fit (so more ranges qualify). */
    private static final class Descriptors {
        private final ByteBuffer data;
        private final int room;
        int count;
        boolean full;

        Descriptors(ByteBuffer data, int bytes) {
            this.data = data;
            this.room = Math.max(0, (bytes - HEADER) / DESCRIPTOR);
        }

        void add(long start, long end) {
            for (long at = start; at < end && !full; at += MAX_RANGE) {
                if (count == room) {
                    full = true;
                    return;
                }
                int offset = HEADER + count++ * DESCRIPTOR;
                data.putLong(offset + OFF_DSLBA, at);
                data.putInt(offset + OFF_NLB, (int) (Math.min(end - at, MAX_RANGE) - 1));
                data.put(offset + OFF_STATUS, (byte) LBARS_ALLOCATED);
            }
        }
    }

    /** Reads the descriptors of a Get LBA Status answer: {@code [dslba, dslba + nlb + 1)} each. */
    public static int count(ByteBuffer data) {
        return data.order(ByteOrder.LITTLE_ENDIAN).getInt(OFF_NLSD);
    }

    /** The completion condition (CMPC): 0 no indication, 1 more descriptors are available, 2 the range is covered. */
    public static int condition(ByteBuffer data) {
        return data.get(OFF_CMPC) & 0xFF;
    }

    public static boolean complete(ByteBuffer data) {
        return (data.get(OFF_CMPC) & 0xFF) != CMPC_INCOMPLETE;
    }

    public static long start(ByteBuffer data, int index) {
        return data.order(ByteOrder.LITTLE_ENDIAN).getLong(HEADER + index * DESCRIPTOR + OFF_DSLBA);
    }

    /** Blocks in descriptor {@code index} (NLB + 1). */
    public static long length(ByteBuffer data, int index) {
        return (data.order(ByteOrder.LITTLE_ENDIAN).getInt(HEADER + index * DESCRIPTOR + OFF_NLB) & 0xFFFF_FFFFL) + 1;
    }
}
