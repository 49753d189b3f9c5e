package io.mayastorj.iscsi.internal.scsi;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * The parameter list of EXTENDED COPY (LID1), SPC-4 §6.4, and the copy manager's limits that
 * RECEIVE COPY RESULTS (OPERATING PARAMETERS) reports. The copy manager copies block to block
 * (segment descriptor 02h) between LUNs named by identification descriptors (CSCD E4h), which is
 * what ESXi's XCOPY offload sends. A list that breaks a limit or names a descriptor type this
 * copy manager lacks is refused whole, before any block moves.
 */
public final class CopyParameters {

    /** CSCD descriptors in one list: a source and a destination, and room for a few more. */
    public static final int MAX_TARGETS = 8;
    /** Segment descriptors in one list. */
    public static final int MAX_SEGMENTS = 32;
    /** Bytes of CSCD and segment descriptors together. */
    public static final int MAX_DESCRIPTOR_LIST_LENGTH = 2048;
    /** Copies one I_T nexus may have held or running at once. */
    public static final int MAX_CONCURRENT = 16;

    public static final int IDENTIFICATION = 0xE4;
    public static final int BLOCK_TO_BLOCK = 0x02;
    private static final int HEADER = 16;
    private static final int CSCD_LENGTH = 32;
    private static final int SEGMENT_LENGTH = 28;

    /** LIST ID USAGE: 00b and 01b keep the copy's status for RECEIVE COPY RESULTS; 10b discards it; 11b has no list id. */
    public record CopyList(int listId, int listIdUsage, List<Target> targets, List<Segment> segments) {
        public boolean held() {
            return listIdUsage < 2;
        }
    }

    /** A copy target: the designator that names the LUN, and the block length the initiator expects of it. */
    public record Target(int offset, int designatorType, byte[] designator, int blockLength) {
    }

    /** Block to block: {@code blocks} from the source's {@code sourceLba} to the destination's {@code destinationLba}. */
    public record Segment(int offset, int source, int destination, int blocks, long sourceLba, long destinationLba) {
    }

    private CopyParameters() {
    }

    /** The list of {@code length} bytes (more than 0); a {@link ScsiLun.Check} for anything this copy manager refuses. */
    public static CopyList parse(ByteBuffer list, int length) throws ScsiLun.Check {
        if (length < HEADER) {
            throw lengthError();
        }
        int listId = list.get(0) & 0xFF;
        int usage = (list.get(1) >>> 3) & 0x03;
        int targetBytes = list.getShort(2) & 0xFFFF;
        long segmentBytes = list.getInt(8) & 0xFFFFFFFFL;
        long inline = list.getInt(12) & 0xFFFFFFFFL;
        if (targetBytes + segmentBytes > MAX_DESCRIPTOR_LIST_LENGTH || HEADER + targetBytes + segmentBytes + inline > length) {
            throw lengthError();
        }
        if (inline != 0) { // the limits say 0: nothing is copied from or to the list itself
            throw invalidParameter(12);
        }
        if (usage == 3 && listId != 0) {
            throw invalidParameter(0);
        }
        if (targetBytes / CSCD_LENGTH > MAX_TARGETS) {
            throw new ScsiLun.Check(Sense.illegal(Sense.TOO_MANY_TARGET_DESCRIPTORS, false, 2, -1));
        }
        List<Integer> segmentOffsets = new ArrayList<>();
        for (int at = HEADER + targetBytes; at < HEADER + targetBytes + segmentBytes; ) {
            if (at + 4 > HEADER + targetBytes + segmentBytes) {
                throw lengthError();
            }
            segmentOffsets.add(at);
            at += 4 + (list.getShort(at + 2) & 0xFFFF);
        }
        if (segmentOffsets.size() > MAX_SEGMENTS) {
            throw new ScsiLun.Check(Sense.illegal(Sense.TOO_MANY_SEGMENT_DESCRIPTORS, false, 8, -1));
        }
        if (targetBytes % CSCD_LENGTH != 0) {
            throw lengthError();
        }
        List<Target> targets = new ArrayList<>();
        for (int at = HEADER; at < HEADER + targetBytes; at += CSCD_LENGTH) {
            targets.add(target(list, at));
        }
        List<Segment> segments = new ArrayList<>();
        for (int at : segmentOffsets) {
            segments.add(segment(list, at, HEADER + targetBytes + (int) segmentBytes));
        }
        return new CopyList(listId, usage, List.copyOf(targets), List.copyOf(segments));
    }

    private static Target target(ByteBuffer list, int at) throws ScsiLun.Check {
        if ((list.get(at) & 0xFF) != IDENTIFICATION) {
            throw new ScsiLun.Check(Sense.illegal(Sense.UNSUPPORTED_TARGET_DESCRIPTOR_TYPE_CODE, false, at, -1));
        }
        int flags = list.get(at + 1) & 0xFF;
        // LU ID TYPE 01b is a proxy token (not kept here); 10b and 11b are reserved in SPC-4 and ignored
        if ((flags >>> 6) == 1 || (flags & 0x20) != 0 || (flags & 0x1F) != 0) { // proxy, NUL, not a block device
            throw invalidParameter(at + 1);
        }
        int designatorType = list.get(at + 5) & 0x0F;
        int designatorLength = list.get(at + 7) & 0xFF;
        if (designatorLength > 20) {
            throw invalidParameter(at + 7);
        }
        byte[] designator = new byte[designatorLength];
        list.get(at + 8, designator);
        int blockLength = (list.get(at + 29) & 0xFF) << 16 | (list.get(at + 30) & 0xFF) << 8 | list.get(at + 31) & 0xFF;
        return new Target(at, designatorType, designator, blockLength);
    }

    private static Segment segment(ByteBuffer list, int at, int end) throws ScsiLun.Check {
        if ((list.get(at) & 0xFF) != BLOCK_TO_BLOCK) {
            throw new ScsiLun.Check(Sense.illegal(Sense.UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE_CODE, false, at, -1));
        }
        if ((list.getShort(at + 2) & 0xFFFF) != SEGMENT_LENGTH - 4 || at + SEGMENT_LENGTH > end) {
            throw invalidParameter(at + 2);
        }
        return new Segment(at, list.getShort(at + 4) & 0xFFFF, list.getShort(at + 6) & 0xFFFF,
                list.getShort(at + 10) & 0xFFFF, list.getLong(at + 12), list.getLong(at + 20));
    }

    /**
     * RECEIVE COPY RESULTS, OPERATING PARAMETERS (SPC-4 §6.18.4): the limits above; no inline or
     * held data, no stream devices; segments move whole blocks; descriptor types 02h and E4h.
     */
    public static byte[] operatingParameters(int blockSize) {
        byte[] data = new byte[44 + 2];
        ByteBuffer b = ByteBuffer.wrap(data);
        b.putInt(0, data.length - 4);
        data[4] = 0x01;                                          // SNLID: LIST ID USAGE 11b is taken
        b.putShort(8, (short) MAX_TARGETS);
        b.putShort(10, (short) MAX_SEGMENTS);
        b.putInt(12, MAX_DESCRIPTOR_LIST_LENGTH);
        b.putInt(16, 0xFFFF * blockSize);                        // what one segment's 16-bit block count can say
        b.putShort(34, (short) MAX_CONCURRENT);                  // total concurrent copies
        data[36] = (byte) MAX_CONCURRENT;                        // maximum concurrent copies
        data[37] = (byte) Integer.numberOfTrailingZeros(blockSize); // data segment granularity (log2)
        data[43] = 2;                                            // implemented descriptor list length
        data[44] = BLOCK_TO_BLOCK;
        data[45] = (byte) IDENTIFICATION;
        return data;
    }

    private static ScsiLun.Check lengthError() {
        return new ScsiLun.Check(Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.PARAMETER_LIST_LENGTH_ERROR));
    }

    private static ScsiLun.Check invalidParameter(int fieldByte) {
        return new ScsiLun.Check(Sense.illegal(Sense.INVALID_FIELD_IN_PARAMETER_LIST, false, fieldByte, -1));
    }
}
