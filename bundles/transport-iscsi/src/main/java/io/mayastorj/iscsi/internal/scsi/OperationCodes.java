package io.mayastorj.iscsi.internal.scsi;

import java.util.List;
import java.util.function.Predicate;

/**
 * Every command this target serves, with what REPORT SUPPORTED OPERATION CODES says of it: the
 * dispatcher admits a command only if {@link #find} knows it (anything else is INVALID COMMAND
 * OPERATION CODE, or INVALID FIELD IN CDB for an unknown service action of a known opcode), and
 * {@link #report} is generated from the same list, so the report cannot promise a command the
 * dispatcher refuses, nor miss one it serves. A test sends every entry and checks it is served.
 *
 * <p>CDB usage data (SPC-4 §6.35.3): a bit is set where the device server looks at it — to act on
 * it or to refuse it when set. Timeouts are in seconds: no nominal time is promised (0); the
 * recommended timeout covers a bdev under load.
 */
public final class OperationCodes {

    /** Seconds an initiator should allow before it gives up on a command (a replica over the network under load). */
    private static final int RECOMMENDED_TIMEOUT = 30;
    /** EXTENDED COPY moves up to the copy manager's limits inside one command. */
    private static final int COPY_TIMEOUT = 120;

    /** One command: its operation code, its service action (or -1), and its CDB usage data. */
    public record Operation(int opcode, int serviceAction, String name, byte[] usage, int timeout,
                            Predicate<ScsiLun> available) {

        public boolean hasServiceAction() {
            return serviceAction >= 0;
        }

        public int cdbLength() {
            return usage.length;
        }
    }

    private static final Predicate<ScsiLun> ALWAYS = lun -> true;

    static final List<Operation> ALL = List.of(
            op(ScsiLun.TEST_UNIT_READY, "TEST UNIT READY", 0, 0, 0, 0, 0),
            op(ScsiLun.REQUEST_SENSE, "REQUEST SENSE", 0x01, 0, 0, 0xFF, 0),
            op(ScsiLun.READ_6, "READ(6)", 0x1F, 0xFF, 0xFF, 0xFF, 0),
            op(ScsiLun.WRITE_6, "WRITE(6)", 0x1F, 0xFF, 0xFF, 0xFF, 0),
            op(ScsiLun.INQUIRY, "INQUIRY", 0x01, 0xFF, 0xFF, 0xFF, 0),
            op(ScsiLun.MODE_SELECT_6, "MODE SELECT(6)", 0x11, 0, 0, 0xFF, 0),
            op(ScsiLun.RESERVE_6, "RESERVE(6)", 0x1F, 0, 0, 0, 0),
            op(ScsiLun.RELEASE_6, "RELEASE(6)", 0, 0, 0, 0, 0),
            op(ScsiLun.MODE_SENSE_6, "MODE SENSE(6)", 0x08, 0xFF, 0xFF, 0xFF, 0),
            op(ScsiLun.START_STOP_UNIT, "START STOP UNIT", 0, 0, 0, 0, 0),
            op(ScsiLun.READ_CAPACITY_10, "READ CAPACITY(10)", 0, 0, 0, 0, 0, 0, 0, 0x01, 0),
            op(ScsiLun.READ_10, "READ(10)", 0xF8, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0xFF, 0xFF, 0),
            op(ScsiLun.WRITE_10, "WRITE(10)", 0xF8, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0xFF, 0xFF, 0),
            op(ScsiLun.WRITE_VERIFY_10, "WRITE AND VERIFY(10)", 0xF6, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0xFF, 0xFF, 0),
            op(ScsiLun.VERIFY_10, "VERIFY(10)", 0xF6, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0xFF, 0xFF, 0),
            op(ScsiLun.PRE_FETCH_10, "PRE-FETCH(10)", 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0xFF, 0xFF, 0),
            op(ScsiLun.SYNCHRONIZE_CACHE_10, "SYNCHRONIZE CACHE(10)", 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0xFF, 0xFF, 0), // its range checked
            op(ScsiLun.READ_DEFECT_DATA_10, "READ DEFECT DATA(10)", 0, 0x1F, 0, 0, 0, 0, 0xFF, 0xFF, 0),
            op(ScsiLun.WRITE_SAME_10, "WRITE SAME(10)", 0xF8, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0xFF, 0xFF, 0),
            when(ScsiLun::provisioning, op(ScsiLun.UNMAP, "UNMAP", 0x01, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0)),
            op(ScsiLun.MODE_SELECT_10, "MODE SELECT(10)", 0x11, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0),
            op(ScsiLun.RESERVE_10, "RESERVE(10)", 0x13, 0, 0, 0, 0, 0, 0, 0, 0),
            op(ScsiLun.RELEASE_10, "RELEASE(10)", 0, 0, 0, 0, 0, 0, 0, 0, 0),
            op(ScsiLun.MODE_SENSE_10, "MODE SENSE(10)", 0x08, 0xFF, 0xFF, 0, 0, 0, 0xFF, 0xFF, 0),
            op(ScsiLun.PERSISTENT_RESERVE_IN, "PERSISTENT RESERVE IN", 0x1F, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0),
            op(ScsiLun.PERSISTENT_RESERVE_OUT, "PERSISTENT RESERVE OUT", 0x1F, 0xFF, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0),
            timed(COPY_TIMEOUT, sa(ScsiLun.EXTENDED_COPY, 0x00, "EXTENDED COPY(LID1)",
                    0x1F, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0)),
            sa(ScsiLun.RECEIVE_COPY_RESULTS, 0x00, "RECEIVE COPY RESULTS(COPY STATUS)",
                    0x1F, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0),
            sa(ScsiLun.RECEIVE_COPY_RESULTS, 0x03, "RECEIVE COPY RESULTS(OPERATING PARAMETERS)",
                    0x1F, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0),
            op(ScsiLun.READ_16, "READ(16)", 0xF8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0),
            op(ScsiLun.COMPARE_AND_WRITE, "COMPARE AND WRITE", 0xF8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0xFF, 0, 0),
            op(ScsiLun.WRITE_16, "WRITE(16)", 0xF8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0),
            op(ScsiLun.ORWRITE_16, "ORWRITE(16)", 0xF8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0),
            op(ScsiLun.WRITE_VERIFY_16, "WRITE AND VERIFY(16)", 0xF6, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0),
            op(ScsiLun.VERIFY_16, "VERIFY(16)", 0xF6, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0),
            op(ScsiLun.PRE_FETCH_16, "PRE-FETCH(16)", 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0),
            op(ScsiLun.SYNCHRONIZE_CACHE_16, "SYNCHRONIZE CACHE(16)", 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                    0xFF, 0xFF, 0xFF, 0, 0),
            op(ScsiLun.WRITE_SAME_16, "WRITE SAME(16)", 0xF9, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0),
            sa(ScsiLun.SERVICE_ACTION_IN_16, ScsiLun.READ_CAPACITY_16, "READ CAPACITY(16)",
                    0x1F, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0),
            sa(ScsiLun.SERVICE_ACTION_IN_16, ScsiLun.GET_LBA_STATUS, "GET LBA STATUS",
                    0x1F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0),
            op(ScsiLun.REPORT_LUNS, "REPORT LUNS", 0, 0xFF, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0),
            sa(ScsiLun.MAINTENANCE_IN, ScsiLun.REPORT_SUPPORTED_OPERATION_CODES, "REPORT SUPPORTED OPERATION CODES",
                    0x1F, 0x87, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0),
            op(ScsiLun.READ_12, "READ(12)", 0xF8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0),
            op(ScsiLun.WRITE_12, "WRITE(12)", 0xF8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0),
            op(ScsiLun.WRITE_VERIFY_12, "WRITE AND VERIFY(12)", 0xF6, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0),
            op(ScsiLun.VERIFY_12, "VERIFY(12)", 0xF6, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0),
            op(ScsiLun.READ_DEFECT_DATA_12, "READ DEFECT DATA(12)", 0x1F, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0));

    private OperationCodes() {
    }

    private static Operation op(int opcode, String name, int... rest) {
        return new Operation(opcode, -1, name, usage(opcode, rest), RECOMMENDED_TIMEOUT, ALWAYS);
    }

    private static Operation sa(int opcode, int serviceAction, String name, int... rest) {
        byte[] usage = usage(opcode, rest);
        return new Operation(opcode, serviceAction, name, usage, RECOMMENDED_TIMEOUT, ALWAYS);
    }

    private static Operation when(Predicate<ScsiLun> available, Operation o) {
        return new Operation(o.opcode(), o.serviceAction(), o.name(), o.usage(), o.timeout(), available);
    }

    private static Operation timed(int timeout, Operation o) {
        return new Operation(o.opcode(), o.serviceAction(), o.name(), o.usage(), timeout, o.available());
    }

    private static byte[] usage(int opcode, int[] rest) {
        byte[] usage = new byte[1 + rest.length];
        usage[0] = (byte) opcode;
        for (int i = 0; i < rest.length; i++) {
            usage[1 + i] = (byte) rest[i];
        }
        if (usage.length != Cdb.length(opcode)) {
            throw new IllegalStateException("usage data of opcode " + Integer.toHexString(opcode) + " is not its CDB's length");
        }
        return usage;
    }

    /** True when this LUN serves this opcode with service actions (byte 1, bits 0-4). */
    static boolean hasServiceActions(int opcode, ScsiLun lun) {
        for (Operation o : ALL) {
            if (o.opcode() == opcode && o.hasServiceAction() && o.available().test(lun)) {
                return true;
            }
        }
        return false;
    }

    /** The entry for this CDB on this LUN, or null when the LUN does not serve it. */
    public static Operation find(byte[] cdb, ScsiLun lun) {
        return find(cdb[0] & 0xFF, cdb[1] & 0x1F, lun);
    }

    private static Operation find(int opcode, int serviceAction, ScsiLun lun) {
        for (Operation o : ALL) {
            if (o.opcode() == opcode && (!o.hasServiceAction() || o.serviceAction() == serviceAction)
                    && o.available().test(lun)) {
                return o;
            }
        }
        return null;
    }

    /** The sense for a CDB {@link #find} does not know: an unknown service action of a known opcode, or an unknown opcode. */
    public static byte[] refusal(byte[] cdb, ScsiLun lun) {
        return hasServiceActions(cdb[0] & 0xFF, lun)
                ? Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 1, 4)
                : Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.INVALID_COMMAND_OPERATION_CODE);
    }

    /**
     * REPORT SUPPORTED OPERATION CODES (SPC-4 §6.35): reporting options 0 (every command), 1 (one
     * opcode without service actions), 2 (one opcode and service action), 3 (one opcode, with its
     * service action if it has them); RCTD adds the command timeouts descriptors. The whole data;
     * the caller truncates to the allocation length.
     */
    public static byte[] report(byte[] cdb, ScsiLun lun) throws ScsiLun.Check {
        boolean rctd = (cdb[2] & 0x80) != 0;
        int options = cdb[2] & 0x07;
        int opcode = cdb[3] & 0xFF;
        int serviceAction = Cdb.u16(cdb, 4);
        if (options == 0) {
            return all(lun, rctd);
        }
        boolean withActions = hasServiceActions(opcode, lun);
        if (options == 1 && withActions || options == 2 && !withActions && find(opcode, 0, lun) != null) {
            throw new ScsiLun.Check(Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 2, 2));
        }
        if (options > 3) {
            throw new ScsiLun.Check(Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 2, 2));
        }
        Operation o = (options == 2 || options == 3 && withActions)
                ? (serviceAction > 0x1F ? null : find(opcode, serviceAction, lun))
                : withActions ? null : find(opcode, 0, lun);
        return one(o, opcode, rctd);
    }

    private static byte[] all(ScsiLun lun, boolean rctd) {
        int each = rctd ? 20 : 8;
        List<Operation> served = ALL.stream().filter(o -> o.available().test(lun)).toList();
        byte[] data = new byte[4 + served.size() * each];
        ScsiLun.putInt(data, 0, data.length - 4);
        int at = 4;
        for (Operation o : served) {
            data[at] = (byte) o.opcode();
            if (o.hasServiceAction()) {
                ScsiLun.putShort(data, at + 2, o.serviceAction());
            }
            data[at + 5] = (byte) ((rctd ? 0x02 : 0) | (o.hasServiceAction() ? 0x01 : 0)); // CTDP, SERVACTV
            ScsiLun.putShort(data, at + 6, o.cdbLength());
            if (rctd) {
                timeouts(data, at + 8, o);
            }
            at += each;
        }
        return data;
    }

    private static byte[] one(Operation o, int opcode, boolean rctd) {
        if (o == null) { // SUPPORT 001b: not supported; no usage data
            byte[] data = new byte[4];
            data[1] = 0x01;
            return data;
        }
        int length = o.cdbLength();
        byte[] data = new byte[4 + length + (rctd ? 12 : 0)];
        data[1] = (byte) ((rctd ? 0x80 : 0) | 0x03); // CTDP, SUPPORT 011b: supported as the standard says
        ScsiLun.putShort(data, 2, length);
        System.arraycopy(o.usage(), 0, data, 4, length);
        if (o.hasServiceAction()) {
            data[5] = (byte) ((o.usage()[1] & 0xE0) | o.serviceAction()); // the service action's own bits
        }
        if (rctd) {
            timeouts(data, 4 + length, o);
        }
        return data;
    }

    /** A command timeouts descriptor: length 0Ah, no nominal time, the recommended timeout. */
    private static void timeouts(byte[] data, int at, Operation o) {
        ScsiLun.putShort(data, at, 0x0A);
        ScsiLun.putInt(data, at + 8, o.timeout());
    }
}
