package io.mayastorj.csi.internal.node;

import java.time.Duration;
import java.util.List;

/**
 * The system commands the Node service runs (nvme, iscsiadm, blkid, mkfs, mount, ...), all through
 * this one door: logged, bounded in time, their exit status and stderr kept for the error a caller
 * gets. Tests put a scripted one in its place; the real one is {@link SystemCommands}.
 */
public interface Commands {

    /** What a command did. */
    record Result(List<String> command, int exitStatus, String stdout, String stderr, Duration took) {

        public boolean ok() {
            return exitStatus == 0;
        }

        /** "`mount -t ext4 /dev/x /y` exited with 32: mount: /y: wrong fs type" — for errors. */
        public String describe() {
            String err = stderr.isBlank() ? stdout.strip() : stderr.strip();
            return "`" + String.join(" ", command) + "` " + (exitStatus == TIMED_OUT ? "did not finish in time"
                    : "exited with " + exitStatus) + (err.isEmpty() ? "" : ": " + err.lines().findFirst().orElse(""));
        }
    }

    /** The exit status of a command that was killed because it ran too long. */
    int TIMED_OUT = -1;

    /** Runs a command, waiting at most {@code timeout}. Never throws for a non-zero exit. */
    Result run(Duration timeout, List<String> command);

    default Result run(Duration timeout, String... command) {
        return run(timeout, List.of(command));
    }
}
