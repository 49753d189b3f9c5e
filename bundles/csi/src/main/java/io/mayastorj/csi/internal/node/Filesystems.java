package io.mayastorj.csi.internal.node;

import io.mayastorj.core.error.MayastorException;
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
    private static final Duration TIMEOUT = Duration.ofMinutes(5);
    private static final Set<String> MOUNT_FLAG_FORBIDDEN = Set.of("bind", "rbind", "remount");

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
        Commands.Result r = commands.run(TIMEOUT, "blkid", "-p", "-s", "TYPE", "-s", "PTTYPE", "-o", "export", device.toString());
        if (r.exitStatus() == 2) {
            // blkid says 2 also when it could not open or read the device (a path away, a nexus failing I/O
            // while it moves): blank only when it said nothing else and the device reads — else a retry,
            // never mkfs over a file system it could not see
            if (!r.stderr().isBlank()) {
                throw MayastorException.unavailable("cannot tell what %s holds, so it is not formatted: %s", device, r.describe());
            }
            readable(device);
            return Optional.empty();
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

    /** Reads the device's first MiB (where ext4's and XFS's superblocks are): an I/O error is UNAVAILABLE. */
    private static void readable(Path device) {
        java.nio.ByteBuffer head = java.nio.ByteBuffer.allocate(1 << 20);
        try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(device, java.nio.file.StandardOpenOption.READ)) {
            while (head.hasRemaining() && channel.read(head) > 0) {
                // until the MiB is in, or the device ends
            }
        } catch (java.io.IOException e) {
            throw MayastorException.unavailable("cannot read %s, so it is not formatted: %s", device, e.getMessage());
        }
    }

    void make(Path device, String fsType) {
        Commands.Result r = fsType.equals("xfs")
                ? commands.run(TIMEOUT, "mkfs.xfs", "-q", device.toString())
                : commands.run(TIMEOUT, "mkfs." + fsType, "-q", "-F", device.toString());
        if (!r.ok()) {
            throw MayastorException.internal("cannot make %s on %s: %s", fsType, device, r.describe());
        }
    }

    void mount(Path device, Path point, String fsType, List<String> flags, boolean readOnly) {
        for (String f : flags) {
            for (String one : f.split(",")) { // a flag of "rw,remount" is two to mount
                if (MOUNT_FLAG_FORBIDDEN.contains(one.strip())) {
                    throw MayastorException.invalidArgument("mount flag '%s' is not allowed", one.strip());
                }
            }
        }
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
