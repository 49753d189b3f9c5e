package io.mayastorj.nvmf.internal.target;

import io.mayastorj.nvmf.internal.protocol.PduChannel;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;

/**
 * One connection's log lines about the commands it refuses: the first of each status at WARNING,
 * the rest not (a host that repeats a mistake must not flood the log); optional features the host
 * asked for and this target lacks at DEBUG. Made with the queue and shared by reference with its
 * command sets, which refuse most commands; only error paths come here.
 */
final class CommandLog {

    private static final Logger LOG = System.getLogger("mayastor.nvmf");

    private final PduChannel connection;
    private final long[] loggedStatuses = new long[0x400 / 64];

    CommandLog(PduChannel connection) {
        this.connection = connection;
    }

    /** A host asking for something optional that this target does not have: normal, logged for debugging. */
    int unsupported(int status, String what) {
        LOG.log(Level.DEBUG, "{0}: {1} is not supported: status {2}", connection.peer(), what, hex(status));
        return status;
    }

    int logged(int status, String what) {
        logOnce(status, what);
        return status;
    }

    /** Logs the first command error of each status on this connection; later ones only count. */
    void logOnce(int status, String what) {
        int index = status & 0x3FF;
        long bit = 1L << index;
        if ((loggedStatuses[index >>> 6] & bit) == 0) {
            loggedStatuses[index >>> 6] |= bit;
            LOG.log(Level.WARNING, "{0}: {1}: status {2} (further ones on this connection are not logged)",
                    connection.peer(), what, hex(status));
        }
    }

    static String hex(int value) {
        return "0x" + Integer.toHexString(value);
    }
}
