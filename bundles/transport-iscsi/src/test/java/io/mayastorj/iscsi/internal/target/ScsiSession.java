package io.mayastorj.iscsi.internal.target;

import io.mayastorj.iscsi.internal.protocol.Bhs;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * A logged-in session that runs one SCSI command at a time and returns its status, sense and
 * data: the initiator side of the tests that check commands byte by byte. Write data goes out
 * only when the target asks for it (InitialR2T=Yes, no immediate data), in 8 KiB Data-Out PDUs.
 */
final class ScsiSession implements AutoCloseable {

    /** A command's outcome: SCSI status, the sense data (empty without), the Data-In bytes. */
    record Result(int status, byte[] sense, byte[] data) {
        int senseKey() {
            return sense.length > 2 ? sense[2] & 0x0F : -1;
        }

        int ascq() {
            return sense.length > 13 ? (sense[12] & 0xFF) << 8 | sense[13] & 0xFF : -1;
        }

        @Override
        public String toString() {
            return "status " + status + (sense.length > 0 ? String.format(", sense %X/%04X", senseKey(), ascq()) : "")
                    + ", " + data.length + " bytes in";
        }
    }

    private static final int SEGMENT = 8192;
    private final RawInitiator raw;

    ScsiSession(int port, String iqn) throws IOException {
        this(port, iqn, RawInitiator.NAME);
    }

    /** As initiator {@code initiator}: another name is another I_T nexus (for reservations). */
    ScsiSession(int port, String iqn, String initiator) throws IOException {
        this(port, iqn, initiator, -1);
    }

    /** With ISID {@code isid} (its low 16 bits; -1: one of its own): the same name and ISID is the same I_T nexus. */
    ScsiSession(int port, String iqn, String initiator, int isid, String... keys) throws IOException {
        raw = new RawInitiator(port);
        if (isid >= 0) {
            raw.isid = isid;
        }
        raw.socket.setSoTimeout(30_000);
        String[] all = java.util.stream.Stream.concat(java.util.stream.Stream.of("InitialR2T", "Yes", "ImmediateData", "No",
                "InitiatorName", initiator), java.util.Arrays.stream(keys)).toArray(String[]::new);
        RawInitiator.Pdu login = raw.loginTo(iqn, all);
        if ((login.bhs().get(Bhs.STATUS_CLASS) & 0xFF) != 0) {
            throw new IOException("login to " + iqn + " refused: class " + login.bhs().get(Bhs.STATUS_CLASS));
        }
        tsih = login.bhs().getShort(Bhs.TSIH) & 0xFFFF;
    }

    /** The TSIH the target gave this session. */
    final int tsih;

    /** A command with no data either way. */
    Result command(byte[] cdb) throws IOException {
        return command(cdb, null, 0);
    }

    /** A command that sends {@code out} (or null) and expects up to {@code in} bytes back. */
    Result command(byte[] cdb, byte[] out, int in) throws IOException {
        return command(0, cdb, out, in);
    }

    /** ... addressed to {@code lun} (peripheral addressing). */
    Result command(int lun, byte[] cdb, byte[] out, int in) throws IOException {
        byte[] field = new byte[8];
        field[1] = (byte) lun;
        return command(field, cdb, out, in);
    }

    /** ... with {@code lunField} as the PDU's 8-byte LUN field. */
    Result command(byte[] lunField, byte[] cdb, byte[] out, int in) throws IOException {
        int itt = raw.itt++;
        ByteBuffer cmd = RawInitiator.bhs(Bhs.SCSI_COMMAND, Bhs.FINAL | (out != null ? Bhs.WRITE : 0) | (in > 0 ? Bhs.READ : 0));
        cmd.put(Bhs.LUN, lunField);
        cmd.putInt(Bhs.ITT, itt);
        cmd.putInt(Bhs.CMD_SN, raw.cmdSn++);
        cmd.putInt(Bhs.EXPECTED_LENGTH, out != null ? out.length : in);
        cmd.put(Bhs.CDB, cdb, 0, Math.min(cdb.length, Bhs.CDB_LENGTH));
        raw.send(cmd, null);
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        byte[] read = new byte[in];
        int readTo = 0;
        while (true) {
            RawInitiator.Pdu pdu = raw.receive();
            switch (pdu.opcode()) {
                case Bhs.R2T -> sendData(itt, pdu.bhs(), out);
                case Bhs.DATA_IN -> {
                    int offset = pdu.bhs().getInt(Bhs.BUFFER_OFFSET);
                    System.arraycopy(pdu.data(), 0, read, offset, pdu.data().length);
                    readTo = Math.max(readTo, offset + pdu.data().length);
                    if ((Bhs.flags(pdu.bhs()) & Bhs.STATUS) != 0) {
                        return new Result(pdu.bhs().get(3) & 0xFF, new byte[0], Arrays.copyOf(read, readTo));
                    }
                }
                case Bhs.SCSI_RESPONSE -> {
                    byte[] sense = pdu.data().length < 2 ? new byte[0]
                            : Arrays.copyOfRange(pdu.data(), 2, 2 + ((pdu.data()[0] & 0xFF) << 8 | pdu.data()[1] & 0xFF));
                    data.write(read, 0, readTo);
                    return new Result(pdu.bhs().get(3) & 0xFF, sense, data.toByteArray());
                }
                case Bhs.NOP_IN -> { } // a ping the target sent on its own: nothing to answer for a reserved tag
                default -> throw new IOException("unexpected PDU 0x" + Integer.toHexString(pdu.opcode()));
            }
        }
    }

    /** A write sent as far as the target's R2T; its data goes with {@link #sendHeld}. */
    record Held(int itt, ByteBuffer r2t) {
    }

    /** A write command sent without waiting: its R2T (then {@link #sendHeldData}) or its response come with {@link #receive}. */
    int sendWrite(byte[] cdb, int length) throws IOException {
        int itt = raw.itt++;
        ByteBuffer cmd = RawInitiator.bhs(Bhs.SCSI_COMMAND, Bhs.FINAL | Bhs.WRITE);
        cmd.putInt(Bhs.ITT, itt);
        cmd.putInt(Bhs.CMD_SN, raw.cmdSn++);
        cmd.putInt(Bhs.EXPECTED_LENGTH, length);
        cmd.put(Bhs.CDB, cdb, 0, Math.min(cdb.length, Bhs.CDB_LENGTH));
        raw.send(cmd, null);
        return itt;
    }

    Held writeUntilR2t(byte[] cdb, int length) throws IOException {
        int itt = sendWrite(cdb, length);
        while (true) {
            RawInitiator.Pdu pdu = raw.receive();
            if (pdu.opcode() == Bhs.R2T) {
                return new Held(itt, pdu.bhs());
            }
            if (pdu.opcode() != Bhs.NOP_IN) {
                throw new IOException("unexpected PDU 0x" + Integer.toHexString(pdu.opcode()) + " before the R2T");
            }
        }
    }

    /** The held write's data (one R2T's worth), without waiting for its outcome. */
    void sendHeldData(Held held, byte[] out) throws IOException {
        sendData(held.itt(), held.r2t(), out);
    }

    /**
     * The held write's data as one Data-Out PDU, of which only the first {@code bytes} go now; the
     * rest goes when the returned action runs (the target meanwhile is in the middle of its data segment).
     */
    IoAction sendHeldDataInPart(Held held, byte[] out, int bytes) throws IOException {
        ByteBuffer pdu = RawInitiator.bhs(Bhs.DATA_OUT, Bhs.FINAL);
        pdu.putInt(Bhs.ITT, held.itt());
        pdu.putInt(Bhs.TTT, held.r2t().getInt(Bhs.TTT));
        pdu.putInt(Bhs.BUFFER_OFFSET, held.r2t().getInt(Bhs.BUFFER_OFFSET));
        Bhs.dataSegmentLength(pdu, out.length);
        byte[] wire = raw.wire(pdu, out);
        int split = Bhs.LENGTH + (raw.headerDigest ? 4 : 0) + bytes; // the BHS (and its digest) and {@code bytes} of data
        raw.socket.getOutputStream().write(wire, 0, split);
        raw.socket.getOutputStream().flush();
        return () -> raw.socket.getOutputStream().write(wire, split, wire.length - split);
    }

    /** What a test runs later that may fail with an I/O error. */
    interface IoAction {
        void run() throws IOException;
    }

    /** ABORT TASK for the task {@code itt}; the Task Management Function Response comes with {@link #receive}. */
    void abortTask(int itt) throws IOException {
        ByteBuffer tmf = RawInitiator.bhs(Bhs.TASK_MANAGEMENT_REQUEST | Bhs.IMMEDIATE, Bhs.FINAL | 1);
        tmf.putInt(Bhs.ITT, raw.itt++);
        tmf.putInt(Bhs.REFERENCED_TASK_TAG, itt);
        tmf.putInt(Bhs.CMD_SN, raw.cmdSn);
        tmf.putInt(Bhs.REF_CMD_SN, raw.cmdSn - 1);
        raw.send(tmf, null);
    }

    /** Logout (close the session), immediate; its response comes with {@link #receive}. */
    void logout() throws IOException {
        ByteBuffer logout = RawInitiator.bhs(Bhs.LOGOUT_REQUEST | Bhs.IMMEDIATE, Bhs.FINAL);
        logout.putInt(Bhs.ITT, raw.itt++);
        logout.putInt(Bhs.CMD_SN, raw.cmdSn);
        raw.send(logout, null);
    }

    /** The answer to the target's NOP-In ping {@code ping}: a NOP-Out with its TTT, immediate. */
    void answerPing(RawInitiator.Pdu ping) throws IOException {
        ByteBuffer nop = RawInitiator.bhs(Bhs.NOP_OUT | Bhs.IMMEDIATE, Bhs.FINAL);
        nop.putInt(Bhs.ITT, Bhs.RESERVED_TAG);
        nop.putInt(Bhs.TTT, ping.bhs().getInt(Bhs.TTT));
        nop.putInt(Bhs.CMD_SN, raw.cmdSn);
        raw.send(nop, null);
    }

    /** LOGICAL UNIT RESET; its response comes with {@link #receive}. */
    void lunReset() throws IOException {
        taskManagement(5);
    }

    /** A task management function on the whole LUN or target (5 LUN reset, 6 warm, 7 cold), immediate. */
    void taskManagement(int function) throws IOException {
        taskManagement(function, 0);
    }

    /** ... addressed to {@code lun} (peripheral addressing). */
    void taskManagement(int function, int lun) throws IOException {
        ByteBuffer tmf = RawInitiator.bhs(Bhs.TASK_MANAGEMENT_REQUEST | Bhs.IMMEDIATE, Bhs.FINAL | function);
        tmf.put(Bhs.LUN + 1, (byte) lun);
        tmf.putInt(Bhs.ITT, raw.itt++);
        tmf.putInt(Bhs.REFERENCED_TASK_TAG, Bhs.RESERVED_TAG);
        tmf.putInt(Bhs.CMD_SN, raw.cmdSn);
        raw.send(tmf, null);
    }

    /** ABORT TASK sent in order (no I bit): it takes a CmdSN, as a command does. */
    void abortTaskInOrder(int itt) throws IOException {
        ByteBuffer tmf = RawInitiator.bhs(Bhs.TASK_MANAGEMENT_REQUEST, Bhs.FINAL | 1);
        tmf.putInt(Bhs.ITT, raw.itt++);
        tmf.putInt(Bhs.REFERENCED_TASK_TAG, itt);
        tmf.putInt(Bhs.REF_CMD_SN, raw.cmdSn - 1);
        tmf.putInt(Bhs.CMD_SN, raw.cmdSn++);
        raw.send(tmf, null);
    }

    /** The next PDU, or null when none comes within {@code millis}. */
    RawInitiator.Pdu receive(int millis) throws IOException {
        raw.socket.setSoTimeout(millis);
        try {
            return raw.receive();
        } catch (java.net.SocketTimeoutException e) {
            return null;
        } finally {
            raw.socket.setSoTimeout(30_000);
        }
    }

    /** The held write's data (one R2T's worth), and its outcome. */
    Result sendHeld(Held held, byte[] out) throws IOException {
        sendData(held.itt(), held.r2t(), out);
        while (true) {
            RawInitiator.Pdu pdu = raw.receive();
            if (pdu.opcode() == Bhs.SCSI_RESPONSE) {
                byte[] sense = pdu.data().length < 2 ? new byte[0]
                        : Arrays.copyOfRange(pdu.data(), 2, 2 + ((pdu.data()[0] & 0xFF) << 8 | pdu.data()[1] & 0xFF));
                return new Result(pdu.bhs().get(3) & 0xFF, sense, new byte[0]);
            }
            if (pdu.opcode() != Bhs.NOP_IN && pdu.opcode() != Bhs.R2T) {
                throw new IOException("unexpected PDU 0x" + Integer.toHexString(pdu.opcode()));
            }
        }
    }

    private void sendData(int itt, ByteBuffer r2t, byte[] out) throws IOException {
        int ttt = r2t.getInt(Bhs.TTT);
        int offset = r2t.getInt(Bhs.BUFFER_OFFSET);
        int length = r2t.getInt(Bhs.DESIRED_LENGTH);
        int dataSn = 0;
        for (int at = offset; at < offset + length; at += SEGMENT) {
            int n = Math.min(SEGMENT, offset + length - at);
            ByteBuffer pdu = RawInitiator.bhs(Bhs.DATA_OUT, at + n == offset + length ? Bhs.FINAL : 0);
            pdu.putInt(Bhs.ITT, itt);
            pdu.putInt(Bhs.TTT, ttt);
            pdu.putInt(Bhs.DATA_SN, dataSn++);
            pdu.putInt(Bhs.BUFFER_OFFSET, at);
            Bhs.dataSegmentLength(pdu, n);
            raw.send(pdu, Arrays.copyOfRange(out, at, at + n));
        }
    }

    // ---------------------------------------------------------------- CDBs the tests use

    static byte[] read16(long lba, int blocks) {
        return ByteBuffer.allocate(16).put(0, (byte) 0x88).putLong(2, lba).putInt(10, blocks).array();
    }

    static byte[] write16(long lba, int blocks) {
        return ByteBuffer.allocate(16).put(0, (byte) 0x8A).putLong(2, lba).putInt(10, blocks).array();
    }

    /** The LUN's NAA designator, from INQUIRY VPD 83h (the target's first descriptor). */
    byte[] naa() throws IOException {
        Result r = command(new byte[] {0x12, 0x01, (byte) 0x83, 0x01, 0x00, 0}, null, 256);
        if (r.status() != 0 || (r.data()[5] & 0x0F) != 3) {
            throw new IOException("no NAA designator first in VPD 83h: " + r);
        }
        return Arrays.copyOfRange(r.data(), 8, 8 + (r.data()[7] & 0xFF));
    }

    @Override
    public void close() throws IOException {
        raw.close();
    }
}
