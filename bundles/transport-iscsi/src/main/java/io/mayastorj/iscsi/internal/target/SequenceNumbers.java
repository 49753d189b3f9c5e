package io.mayastorj.iscsi.internal.target;

import io.mayastorj.iscsi.internal.protocol.Bhs;
import java.nio.ByteBuffer;

/**
 * The session's sequence numbers (RFC 7143 §4.2.2): StatSN of the target's responses, the command
 * window (ExpCmdSN, MaxCmdSN) that admits commands in CmdSN order, and the target transfer tags of
 * R2Ts and NOP-In pings. Its own class because every piece that answers a PDU stamps these numbers
 * and several admit commands, while the counters must advance in one place, in one order.
 */
final class SequenceNumbers {

    private final IscsiConnection connection;
    /** The commands in progress: the window's width is what is left of WINDOW beside them. */
    private final TaskTable tasks;
    private int statSn = 1;
    private int expCmdSn;
    /** The MaxCmdSN last announced: it never moves back (initiators ignore a smaller one), and commands past it are dropped. */
    private int maxCmdSn;
    private int nextTtt = 1;

    SequenceNumbers(IscsiConnection connection, TaskTable tasks) {
        this.connection = connection;
        this.tasks = tasks;
    }

    /** The first Login PDU's CmdSN: the first command the session expects. */
    void expect(int cmdSn) {
        expCmdSn = cmdSn;
        maxCmdSn = cmdSn + IscsiConnection.WINDOW - 1;
    }

    /** CmdSN in order; outside the window dropped without a word (RFC 7143 §4.2.2.1). */
    boolean acceptCmdSn(ByteBuffer req) {
        int cmdSn = req.getInt(Bhs.CMD_SN);
        if (Bhs.immediate(req)) {
            return true;
        }
        if (cmdSn == expCmdSn && maxCmdSn - cmdSn >= 0) {
            expCmdSn++;
            return true;
        }
        connection.logOnce("cmdsn", "dropped a command with CmdSN " + Integer.toUnsignedString(cmdSn) + " (expected "
                + Integer.toUnsignedString(expCmdSn) + ", window up to " + Integer.toUnsignedString(maxCmdSn) + ")");
        return false;
    }

    /**
     * StatSN (advanced when the PDU carries a status, RFC 7143 §4.2.2.2), then ExpCmdSN and MaxCmdSN,
     * which every target PDU that has them reports.
     */
    void numbers(ByteBuffer pdu, boolean status) {
        pdu.putInt(Bhs.STAT_SN, status ? statSn++ : statSn);
        window(pdu);
    }

    /**
     * ExpCmdSN and MaxCmdSN: the command window the initiator may use. ExpCmdSN moves when a command
     * is admitted, not when it ends, so a window of a fixed width past it let an initiator have any
     * number of commands in progress (each holding a buffer, a write's until its data comes): the
     * window is WINDOW less the commands in progress.
     */
    void window(ByteBuffer pdu) {
        int max = expCmdSn + Math.max(0, IscsiConnection.WINDOW - tasks.size()) - 1;
        if (max - maxCmdSn > 0) {
            maxCmdSn = max;
        }
        pdu.putInt(Bhs.EXP_CMD_SN, expCmdSn);
        pdu.putInt(Bhs.MAX_CMD_SN, maxCmdSn);
    }

    /** The StatSN of a status the caller writes itself (the last Data-In, a Logout Response); advances it. */
    int nextStatSn() {
        return statSn++;
    }

    /** A new target transfer tag (an R2T's, a ping's): never the reserved 0xFFFFFFFF. */
    int nextTtt() {
        return nextTtt++ & 0x7FFFFFFF;
    }
}
