package io.mayastorj.csi.internal.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Real blkid, mkfs.xfs and xfs_db on a file: what {@link Filesystems} makes of what they leave. */
class FilesystemsTest {

    private final SystemCommands commands = new SystemCommands();
    private final Filesystems filesystems = new Filesystems(commands);

    @TempDir
    Path dir;

    /**
     * Review finding: an mkfs.xfs killed midway (past its 5-minute deadline, or the plugin restarted)
     * leaves a superblock marked in progress. blkid names it xfs, so it was mounted, and the kernel
     * refuses such a file system: the volume could never be staged again. It is made again now.
     */
    @Test
    void anXfsWhoseMakingNeverFinishedIsMadeAgain() throws Exception {
        Path device = blank(dir.resolve("disk"));
        filesystems.make(device, "xfs");
        assertEquals(Optional.of("xfs"), filesystems.probe(device), "a finished XFS is kept");
        assertEquals("inprogress = 0", xfsDb(device, "p inprogress"));

        // a real mkfs.xfs killed (SIGKILL) at its 30th write of about 65, as its deadline or a plugin restart would
        assumeTrue(commands.run(Duration.ofSeconds(10), List.of("strace", "-qq", "true")).ok(),
                "strace cannot trace here (not installed, or ptrace denied)");
        Commands.Result killed = commands.run(Duration.ofSeconds(60), List.of("strace", "-qq", "-f", "-e", "trace=pwrite64",
                "-e", "inject=pwrite64:signal=SIGKILL:when=30", "mkfs.xfs", "-q", "-f", "-K", device.toString()));
        assertTrue(!killed.ok(), "mkfs.xfs made fewer than 30 writes? " + killed.describe());
        assertEquals("inprogress = 1", xfsDb(device, "p inprogress"), "what the killed mkfs left");
        assertEquals(Optional.empty(), filesystems.probe(device), "an unfinished XFS is nothing to keep");
        filesystems.make(device, "xfs");
        assertEquals("inprogress = 0", xfsDb(device, "p inprogress"), "made again, to the end");
        assertEquals(Optional.of("xfs"), filesystems.probe(device));
    }

    @Test
    void aBlankDeviceHoldsNothingAndExt4IsKept() throws Exception {
        Path device = blank(dir.resolve("disk"));
        assertEquals(Optional.empty(), filesystems.probe(device));
        filesystems.make(device, "ext4");
        assertEquals(Optional.of("ext4"), filesystems.probe(device));
    }

    private static Path blank(Path file) throws Exception {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(320L << 20); // mkfs.xfs's smallest is 300 MiB
        }
        return file;
    }

    private String xfsDb(Path device, String command) {
        List<String> args = List.of("xfs_db", "-x", "-c", "sb 0", "-c", command, device.toString());
        Commands.Result r = commands.run(Duration.ofSeconds(30), args);
        assertTrue(r.ok(), r.describe());
        return r.stdout().strip();
    }
}
