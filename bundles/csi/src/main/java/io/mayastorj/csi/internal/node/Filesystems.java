package io.mayastorj.csi.internal.node;

import io.mayastorj.core.error.MayastorException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/** File systems on attached devices: what is there (blkid), make one, mount, bind, grow, measure. */
final class Filesystems {

    /** What a volume may be formatted with; the first is the default. */
    static final List<String> SUPPORTED = List.of("ext4", "xfs");
    private static final Logger LOG = System.getLogger("mayastor.csi");
    private static final Duration TIMEOUT = Duration.ofMinutes(5);
    private static final Set<String> MOUNT_FLAG_FORBIDDEN = Set.of("bind", "rbind", "remount", "loop", "offset", "sizelimit");

    private final Commands commands;

    Filesystems(Commands commands) {
        this.commands = commands;
    }

    /**
     * The file system on a device, or empty when blkid finds nothing on it (exit 2). A device that
     * holds a partition table and no file system is not blank: FAILED_PRECONDITION, so it is never
     * formatted ({@code -s TYPE} alone prints nothing for one, and exits 0).
     */
    Optional<String> probe(Path device) {
        Commands.Result r = blkid(device);
        if (r.exitStatus() == 2) {
            // blkid says 2, and nothing at all, also when a read failed part-way through its probing (libblkid
            // gives up and reports nothing found): a nexus failing I/O while it moves, an iSCSI session
            // timing out. Blank only when the device then reads at both ends, past the page cache, and a
            // second look still finds nothing — else a retry, never mkfs over a file system it could not see
            readable(device);
            r = blkid(device);
            if (r.exitStatus() == 2) {
                return Optional.empty();
            }
        }
        if (!r.ok()) {
            throw MayastorException.internal("cannot tell what %s holds: %s", device, r.describe());
        }
        String type = null;
        String partitions = null;
        for (String line : r.stdout().split("\n")) {
            if (line.startsWith("TYPE=")) {
                type = line.substring("TYPE=".length()).strip();
            } else if (line.startsWith("PTTYPE=")) {
                partitions = line.substring("PTTYPE=".length()).strip();
            }
        }
        if ("xfs".equals(type) && xfsUnfinished(device)) {
            // an mkfs.xfs killed midway (past its deadline, the plugin restarted) leaves its superblock
            // marked in progress: blkid names it, and the kernel refuses to mount it, for good. (xfs_copy
            // marks its target so too; one cut short onto a volume is no file system the kernel mounts either)
            LOG.log(Level.WARNING, "{0} holds an XFS file system whose making never finished: it is made again", device);
            return Optional.empty();
        }
        if (type != null && !type.isEmpty()) {
            return Optional.of(type);
        }
        if (partitions != null) {
            throw MayastorException.failedPrecondition("%s holds a partition table (%s) and no file system: it is not "
                    + "formatted", device, partitions);
        }
        throw MayastorException.internal("cannot tell what %s holds: blkid found something and named no file system: %s",
                device, r.stdout().strip());
    }

    /** blkid's look; its exit 2 with anything on stderr (it could not open the device) is UNAVAILABLE. */
    private Commands.Result blkid(Path device) {
        Commands.Result r = commands.run(TIMEOUT, "blkid", "-p", "-s", "TYPE", "-s", "PTTYPE", "-o", "export", device.toString());
        if (r.exitStatus() == 2 && (!r.stderr().isBlank() || !r.stdout().isBlank())) {
            throw MayastorException.unavailable("cannot tell what %s holds, so it is not formatted: %s", device, r.describe());
        }
        return r;
    }

    private static final int PROBED_BYTES = 1 << 20;
    private static final int XFS_SB_INPROGRESS = 126; // the byte mkfs.xfs sets first and clears last

    /** Whether the XFS superblock at the device's head is still marked as being made. */
    private static boolean xfsUnfinished(Path device) {
        java.nio.ByteBuffer head = java.nio.ByteBuffer.allocateDirect(2 * 4096).alignedSlice(4096);
        try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(device, readOptions(device))) {
            readAt(channel, head, 0);
        } catch (java.io.IOException e) {
            throw MayastorException.unavailable("cannot read %s's XFS superblock: %s", device, e.getMessage());
        }
        return head.position() > XFS_SB_INPROGRESS && head.getInt(0) == 0x58465342 /* "XFSB" */
                && head.get(XFS_SB_INPROGRESS) != 0;
    }

    private static java.util.Set<java.nio.file.OpenOption> readOptions(Path device) {
        return java.nio.file.Files.isRegularFile(device)
                ? java.util.Set.of(java.nio.file.StandardOpenOption.READ)
                : java.util.Set.of(java.nio.file.StandardOpenOption.READ, com.sun.nio.file.ExtendedOpenOption.DIRECT);
    }

    /**
     * Reads the device's first MiB (where ext4's and XFS's superblocks are) and its last (where RAID
     * and LVM signatures are, which blkid reads first), with O_DIRECT on a block device: served from
     * the page cache, the pages blkid has just read would pass whatever the device does now. An I/O
     * error is UNAVAILABLE.
     */
    private static void readable(Path device) {
        java.nio.ByteBuffer buffer = java.nio.ByteBuffer.allocateDirect(PROBED_BYTES + 4096).alignedSlice(4096);
        try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(device, readOptions(device))) {
            long size = bytes(channel, device);
            readAt(channel, buffer, 0);
            if (size > PROBED_BYTES) {
                readAt(channel, buffer, Math.max(0, (size - PROBED_BYTES) & ~4095L));
            }
        } catch (java.io.IOException e) {
            throw MayastorException.unavailable("cannot read %s, so it is not formatted: %s", device, e.getMessage());
        }
    }

    private static void readAt(java.nio.channels.FileChannel channel, java.nio.ByteBuffer buffer, long at) throws java.io.IOException {
        buffer.clear();
        while (buffer.hasRemaining()) {
            int n = channel.read(buffer, at + buffer.position());
            if (n <= 0) {
                return; // the device ends
            }
        }
    }

    /** The device's size: the channel's, or for a block device whose stat says 0, what sysfs says. */
    private static long bytes(java.nio.channels.FileChannel channel, Path device) throws java.io.IOException {
        long size = channel.size();
        if (size > 0) {
            return size;
        }
        Path sectors = Path.of("/sys/class/block").resolve(device.toRealPath().getFileName().toString()).resolve("size");
        try {
            return Long.parseLong(java.nio.file.Files.readString(sectors).strip()) * 512;
        } catch (java.io.IOException | NumberFormatException e) {
            return 0; // the head is read all the same
        }
    }

    /**
     * Without a discard of the whole device first (both tools' default): a new volume reads zeros
     * already, and the discard of a large one outlasted {@link #TIMEOUT}, so mkfs was killed and the
     * next NodeStage began it again, for ever. Forced, as {@link #probe} found nothing to keep: what
     * mkfs.xfs would still refuse is an XFS whose making never finished.
     */
    void make(Path device, String fsType) {
        Commands.Result r = fsType.equals("xfs")
                ? commands.run(TIMEOUT, "mkfs.xfs", "-q", "-f", "-K", device.toString())
                : commands.run(TIMEOUT, "mkfs." + fsType, "-q", "-F", "-E", "nodiscard", device.toString());
        if (!r.ok()) {
            throw MayastorException.internal("cannot make %s on %s: %s", fsType, device, r.describe());
        }
    }

    /** Refuses the mount flags a volume's mount may not take (INVALID_ARGUMENT, naming the flag). */
    static void checkFlags(List<String> flags) {
        for (String f : flags) {
            for (String one : f.split(",")) { // a flag of "rw,remount" is two to mount
                String flag = one.strip();
                int eq = flag.indexOf('=');
                // loop, and offset or sizelimit, which make mount set up a loop device too: the staging mount
                // would name a loop device, not the volume's, and no check before its disconnect would see it
                if (MOUNT_FLAG_FORBIDDEN.contains(eq < 0 ? flag : flag.substring(0, eq))) {
                    throw MayastorException.invalidArgument("mount flag '%s' is not allowed", flag);
                }
            }
        }
    }

    void mount(Path device, Path point, String fsType, List<String> flags, boolean readOnly) {
        checkFlags(flags);
        List<String> options = new ArrayList<>(flags);
        if (readOnly) {
            options.add("ro");
        }
        List<String> command = new ArrayList<>(List.of("mount", "-t", fsType));
        if (!options.isEmpty()) {
            command.addAll(List.of("-o", String.join(",", options)));
        }
        command.addAll(List.of(device.toString(), point.toString()));
        Commands.Result r = commands.run(TIMEOUT, command);
        if (!r.ok()) {
            throw MayastorException.internal("cannot mount %s on %s: %s", device, point, r.describe());
        }
    }

    /** A bind mount of {@code source} on {@code target}, made read-only afterwards when asked. */
    void bind(Path source, Path target, boolean readOnly) {
        Commands.Result r = commands.run(TIMEOUT, "mount", "--bind", source.toString(), target.toString());
        if (!r.ok()) {
            throw MayastorException.internal("cannot bind %s on %s: %s", source, target, r.describe());
        }
        if (readOnly) {
            try {
                remountReadOnly(target);
            } catch (MayastorException e) {
                commands.run(TIMEOUT, "umount", target.toString());
                throw e;
            }
        }
    }

    /** Makes a bind mount read-only. */
    void remountReadOnly(Path target) {
        Commands.Result r = commands.run(TIMEOUT, "mount", "-o", "remount,bind,ro", target.toString());
        if (!r.ok()) {
            throw MayastorException.internal("cannot make %s read-only: %s", target, r.describe());
        }
    }

    void unmount(Path point) {
        Commands.Result r = commands.run(TIMEOUT, "umount", point.toString());
        if (!r.ok()) {
            throw MayastorException.failedPrecondition("cannot unmount %s: %s", point, r.describe());
        }
    }

    /** Grows the file system on {@code device}, mounted at {@code point}, to the device's size. */
    void grow(Path device, Path point, String fsType) {
        Commands.Result r = fsType.equals("xfs")
                ? commands.run(TIMEOUT, "xfs_growfs", point.toString())
                : commands.run(TIMEOUT, "resize2fs", device.toString());
        if (!r.ok()) {
            throw MayastorException.internal("cannot grow %s on %s: %s", fsType, device, r.describe());
        }
    }

    long sizeBytes(Path device) {
        Commands.Result r = commands.run(TIMEOUT, "blockdev", "--getsize64", device.toString());
        if (!r.ok()) {
            throw MayastorException.internal("cannot read the size of %s: %s", device, r.describe());
        }
        return Long.parseLong(r.stdout().strip());
    }

    /** Bytes and inodes of the file system mounted at {@code point}: total, used, available. */
    record Usage(long totalBytes, long usedBytes, long availableBytes, long totalInodes, long usedInodes, long freeInodes) {
    }

    Usage usage(Path point) {
        Commands.Result r = commands.run(TIMEOUT, "stat", "-f", "-c", "%S %b %f %a %c %d", point.toString());
        if (!r.ok()) {
            throw MayastorException.internal("cannot measure %s: %s", point, r.describe());
        }
        String[] f = r.stdout().strip().split("\\s+");
        long block = Long.parseLong(f[0]);
        long blocks = Long.parseLong(f[1]);
        long free = Long.parseLong(f[2]);
        long available = Long.parseLong(f[3]);
        long inodes = Long.parseLong(f[4]);
        long freeInodes = Long.parseLong(f[5]);
        return new Usage(blocks * block, (blocks - free) * block, available * block, inodes, inodes - freeInodes, freeInodes);
    }
}
