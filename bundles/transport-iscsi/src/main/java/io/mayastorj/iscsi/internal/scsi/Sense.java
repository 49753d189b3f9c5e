package io.mayastorj.iscsi.internal.scsi;

/**
 * SCSI status codes and fixed-format sense data (SPC-4 §4.5.3): what a CHECK CONDITION carries.
 * Initiators and libiscsi's tests read the key from byte 2 and ASC/ASCQ from bytes 12/13.
 */
public final class Sense {

    // status
    public static final int GOOD = 0x00;
    public static final int CHECK_CONDITION = 0x02;
    public static final int BUSY = 0x08;
    public static final int RESERVATION_CONFLICT = 0x18;
    public static final int TASK_SET_FULL = 0x28;

    // sense keys
    public static final int NO_SENSE = 0x0;
    public static final int NOT_READY = 0x2;
    public static final int MEDIUM_ERROR = 0x3;
    public static final int HARDWARE_ERROR = 0x4;
    public static final int ILLEGAL_REQUEST = 0x5;
    public static final int UNIT_ATTENTION = 0x6;
    public static final int DATA_PROTECT = 0x7;
    public static final int ABORTED_COMMAND = 0xB;
    public static final int COPY_ABORTED = 0xA;
    public static final int MISCOMPARE = 0xE;

    // ASC << 8 | ASCQ
    public static final int INVALID_COMMAND_OPERATION_CODE = 0x2000;
    public static final int LBA_OUT_OF_RANGE = 0x2100;
    public static final int INVALID_FIELD_IN_CDB = 0x2400;
    public static final int LOGICAL_UNIT_NOT_SUPPORTED = 0x2500;
    public static final int INVALID_FIELD_IN_PARAMETER_LIST = 0x2600;
    public static final int PARAMETER_LIST_LENGTH_ERROR = 0x1A00;
    public static final int MISCOMPARE_DURING_VERIFY = 0x1D00;
    public static final int WRITE_ERROR = 0x0C00;
    public static final int UNRECOVERED_READ_ERROR = 0x1100;
    public static final int POWER_ON_OR_RESET = 0x2900;
    public static final int LUN_RESET_OCCURRED = 0x2903;
    public static final int NEXUS_LOSS = 0x2907;
    public static final int RESERVATIONS_PREEMPTED = 0x2A03;
    public static final int RESERVATIONS_RELEASED = 0x2A04;
    public static final int REGISTRATIONS_PREEMPTED = 0x2A05;
    public static final int CAPACITY_DATA_HAS_CHANGED = 0x2A09;
    public static final int INVALID_RELEASE_OF_PERSISTENT_RESERVATION = 0x2604;
    public static final int INTERNAL_TARGET_FAILURE = 0x4400;
    public static final int SPACE_ALLOCATION_FAILED = 0x2707;
    public static final int COMMAND_TIMEOUT = 0x2E02;
    public static final int DATA_PHASE_ERROR = 0x4B00;
    public static final int NO_ADDITIONAL_SENSE = 0x0000;
    public static final int OPERATION_IN_PROGRESS = 0x0016;
    public static final int UNREACHABLE_COPY_TARGET = 0x0804;
    public static final int TOO_MANY_TARGET_DESCRIPTORS = 0x2606;
    public static final int UNSUPPORTED_TARGET_DESCRIPTOR_TYPE_CODE = 0x2607;
    public static final int TOO_MANY_SEGMENT_DESCRIPTORS = 0x2608;
    public static final int UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE_CODE = 0x2609;

    public static final int LENGTH = 18;

    private Sense() {
    }

    /** Fixed-format current sense: key, ASC/ASCQ. */
    public static byte[] fixed(int key, int ascq) {
        byte[] sense = new byte[LENGTH];
        sense[0] = 0x70;
        sense[2] = (byte) key;
        sense[7] = LENGTH - 8;
        sense[12] = (byte) (ascq >>> 8);
        sense[13] = (byte) ascq;
        return sense;
    }

    /**
     * ILLEGAL REQUEST with the sense-key-specific field pointer: the byte (and bit, or -1) of the CDB
     * ({@code inCdb}) or of the parameter list that is wrong.
     */
    public static byte[] illegal(int ascq, boolean inCdb, int fieldByte, int bit) {
        byte[] sense = fixed(ILLEGAL_REQUEST, ascq);
        sense[15] = (byte) (0x80 | (inCdb ? 0x40 : 0) | (bit >= 0 ? 0x08 | (bit & 7) : 0));
        sense[16] = (byte) (fieldByte >>> 8);
        sense[17] = (byte) fieldByte;
        return sense;
    }

    public static int key(byte[] sense) {
        return sense[2] & 0x0F;
    }

    public static int ascq(byte[] sense) {
        return (sense[12] & 0xFF) << 8 | sense[13] & 0xFF;
    }
}
