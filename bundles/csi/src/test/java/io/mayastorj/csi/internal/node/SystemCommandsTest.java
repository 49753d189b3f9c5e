package io.mayastorj.csi.internal.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Real processes: what the CSI node runs (nvme, iscsiadm, mkfs, mount) through {@link SystemCommands}. */
class SystemCommandsTest {

    private final SystemCommands commands = new SystemCommands();

    @Test
    void outputAndStatusAreCollected() {
        Commands.Result r = commands.run(Duration.ofSeconds(10), List.of("sh", "-c", "echo out; echo err >&2; exit 3"));
        assertEquals(3, r.exitStatus());
        assertEquals("out\n", r.stdout());
        assertEquals("err\n", r.stderr());
    }

    /**
     * Review finding: the output was read on the common ForkJoinPool and joined without a bound — a
     * command that left a child holding its pipes (or whose reads queued behind a slow command's on
     * the pool's few threads) held its caller, and the volume's call, for as long as that child ran.
     */
    @Test
    void aChildHoldingThePipesDoesNotHoldTheCaller() {
        long start = System.nanoTime();
        Commands.Result r = commands.run(Duration.ofSeconds(10), List.of("sh", "-c", "sleep 30 & echo started"));
        long tookMillis = (System.nanoTime() - start) / 1_000_000;
        assertEquals(0, r.exitStatus());
        assertEquals("started\n", r.stdout(), "what came before the command ended");
        assertTrue(tookMillis < 10_000, "returned after " + tookMillis + " ms");
    }

    @Test
    void aCommandPastItsDeadlineIsKilledAndSaysSo() {
        long start = System.nanoTime();
        Commands.Result r = commands.run(Duration.ofSeconds(1), List.of("sh", "-c", "echo begun; exec sleep 30"));
        long tookMillis = (System.nanoTime() - start) / 1_000_000;
        assertEquals(Commands.TIMED_OUT, r.exitStatus());
        assertEquals("begun\n", r.stdout());
        assertTrue(tookMillis < 8_000, "returned after " + tookMillis + " ms");
    }
}
