package io.mayastorj.iscsi.internal.protocol;

import java.nio.ByteBuffer;

/**
 * The 48-byte Basic Header Segment of every iSCSI PDU (RFC 7143 §11.2): opcodes, the offsets of
 * the fields, and accessors over a big-endian buffer. Offsets that several PDUs share are named
 * once (the sequence numbers sit at 24/28/32 in every PDU that has them).
 */
public final class Bhs {

    public static final int LENGTH = 48;

    // initiator opcodes
    public static final int NOP_OUT = 0x00;
    public static final int SCSI_COMMAND = 0x01;
    public static final int TASK_MANAGEMENT_REQUEST = 0x02;
    public static final int LOGIN_REQUEST = 0x03;
    public static final int TEXT_REQUEST = 0x04;
    public static final int DATA_OUT = 0x05;
    public static final int LOGOUT_REQUEST = 0x06;
    public static final int SNACK_REQUEST = 0x10;
    // target opcodes
    public static final int NOP_IN = 0x20;
    public static final int SCSI_RESPONSE = 0x21;
    public static final int TASK_MANAGEMENT_RESPONSE = 0x22;
    public static final int LOGIN_RESPONSE = 0x23;
    public static final int TEXT_RESPONSE = 0x24;
    public static final int DATA_IN = 0x25;
    public static final int LOGOUT_RESPONSE = 0x26;
    public static final int R2T = 0x31;
    public static final int ASYNC_MESSAGE = 0x32;
    public static final int REJECT = 0x3F;

    // byte 0 and 1
    public static final int IMMEDIATE = 0x40;
    public static final int FINAL = 0x80;
    /** SCSI Command: read and write bits. */
    public static final int READ = 0x40;
    public static final int WRITE = 0x20;
    /** Login: transit and continue bits. */
    public static final int TRANSIT = 0x80;
    public static final int CONTINUE = 0x40;
    /** SCSI Response and Data-In: residual overflow / underflow, status present. */
    public static final int RESIDUAL_OVERFLOW = 0x04;
    public static final int RESIDUAL_UNDERFLOW = 0x02;
    public static final int STATUS = 0x01;
    /** Data-In: acknowledge (ERL > 0 only). */
    public static final int ACKNOWLEDGE = 0x40;

    // field offsets
    public static final int TOTAL_AHS_LENGTH = 4;
    public static final int DATA_SEGMENT_LENGTH = 5;
    public static final int LUN = 8;
    public static final int ISID = 8;
    public static final int TSIH = 14;
    public static final int ITT = 16;
    /** TTT, or the expected data transfer length of a SCSI Command, or the CID of Login/Logout. */
    public static final int TTT = 20;
    public static final int EXPECTED_LENGTH = 20;
    public static final int CID = 20;
    public static final int CMD_SN = 24;
    public static final int STAT_SN = 24;
    public static final int EXP_STAT_SN = 28;
    public static final int EXP_CMD_SN = 28;
    public static final int MAX_CMD_SN = 32;
    public static final int CDB = 32;
    public static final int CDB_LENGTH = 16;
    /** DataSN, R2TSN or ExpDataSN. */
    public static final int DATA_SN = 36;
    public static final int BUFFER_OFFSET = 40;
    public static final int RESIDUAL = 44;
    public static final int DESIRED_LENGTH = 44;
    public static final int REFERENCED_TASK_TAG = 20;
    public static final int REF_CMD_SN = 32;
    /** Login Response: status class and detail. */
    public static final int STATUS_CLASS = 36;
    public static final int STATUS_DETAIL = 37;
    /** Logout Response: Time2Wait and Time2Retain. */
    public static final int TIME2WAIT = 40;
    public static final int TIME2RETAIN = 42;

    /** An ITT or TTT that stands for none. */
    public static final int RESERVED_TAG = 0xFFFFFFFF;

    private Bhs() {
    }

    public static int opcode(ByteBuffer bhs) {
        return bhs.get(0) & 0x3F;
    }

    public static boolean immediate(ByteBuffer bhs) {
        return (bhs.get(0) & IMMEDIATE) != 0;
    }

    public static int flags(ByteBuffer bhs) {
        return bhs.get(1) & 0xFF;
    }

    /** AHS bytes after the BHS (the field counts 4-byte words). */
    public static int ahsLength(ByteBuffer bhs) {
        return (bhs.get(TOTAL_AHS_LENGTH) & 0xFF) * 4;
    }

    public static int dataSegmentLength(ByteBuffer bhs) {
        return (bhs.get(DATA_SEGMENT_LENGTH) & 0xFF) << 16 | (bhs.get(DATA_SEGMENT_LENGTH + 1) & 0xFF) << 8
                | bhs.get(DATA_SEGMENT_LENGTH + 2) & 0xFF;
    }

    public static void dataSegmentLength(ByteBuffer bhs, int length) {
        if (length < 0 || length > 0xFFFFFF) {
            throw new IllegalArgumentException("data segment length " + length);
        }
        bhs.put(DATA_SEGMENT_LENGTH, (byte) (length >>> 16));
        bhs.put(DATA_SEGMENT_LENGTH + 1, (byte) (length >>> 8));
        bhs.put(DATA_SEGMENT_LENGTH + 2, (byte) length);
    }

    /** Data segments are padded to a multiple of 4 bytes on the wire. */
    public static int padded(int length) {
        return (length + 3) & ~3;
    }

    /**
     * The LUN of an 8-byte LUN field in the peripheral or flat addressing methods (SAM-5): Linux puts
     * a LUN below 256 in byte 1, libiscsi writes 14 bits over bytes 0–1. -1 for a field that names a
     * logical unit some other way (the other address methods, a second level in bytes 2–7): never
     * this target's LUN 0, where a write meant for it would land.
     */
    public static int lun(ByteBuffer bhs) {
        int method = (bhs.get(LUN) & 0xC0) >>> 6;
        for (int i = 2; i < 8; i++) {
            if (bhs.get(LUN + i) != 0) {
                return -1;
            }
        }
        return method > 1 ? -1 : (bhs.get(LUN) & 0x3F) << 8 | bhs.get(LUN + 1) & 0xFF;
    }

    /** The 6-byte ISID as a number, for keying sessions. */
    public static long isid(ByteBuffer bhs) {
        long isid = 0;
        for (int i = 0; i < 6; i++) {
            isid = isid << 8 | bhs.get(ISID + i) & 0xFF;
        }
        return isid;
    }

    /** Serial number arithmetic (RFC 1982, 32 bits): true when {@code a} comes before {@code b}. */
    public static boolean before(int a, int b) {
        return a != b && a - b < 0;
    }

    public static String opcodeName(int opcode) {
        return switch (opcode) {
            case NOP_OUT -> "NOP-Out";
            case SCSI_COMMAND -> "SCSI Command";
            case TASK_MANAGEMENT_REQUEST -> "Task Management Request";
            case LOGIN_REQUEST -> "Login Request";
            case TEXT_REQUEST -> "Text Request";
            case DATA_OUT -> "SCSI Data-Out";
            case LOGOUT_REQUEST -> "Logout Request";
            case SNACK_REQUEST -> "SNACK Request";
            case NOP_IN -> "NOP-In";
            case SCSI_RESPONSE -> "SCSI Response";
            case TASK_MANAGEMENT_RESPONSE -> "Task Management Response";
            case LOGIN_RESPONSE -> "Login Response";
            case TEXT_RESPONSE -> "Text Response";
            case DATA_IN -> "SCSI Data-In";
            case LOGOUT_RESPONSE -> "Logout Response";
            case R2T -> "R2T";
            case ASYNC_MESSAGE -> "Asynchronous Message";
            case REJECT -> "Reject";
            default -> String.format("opcode 0x%02x", opcode);
        };
    }
}
