package io.mayastorj.core.internal.bdev;

import com.sun.jna.Native;
import io.mayastorj.core.bdev.BdevFactory;
import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.error.ErrorKind;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.core.internal.nativeio.Errno;
import io.mayastorj.core.internal.nativeio.LibC;
import io.mayastorj.core.internal.nativeio.NativeMemory;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.UUID;

/**
 * {@code SCHEME:///PATH[?blk_size=512|4096][&uuid=U]}: a file or block device, for the bdevs that
 * drive one (aio, uring). The file must exist; it is opened with O_DIRECT where the file system
 * allows (else with a warning: writes then sit in the page cache until a flush), locked against a
 * second opener, and a block device is opened exclusively.
 */
public abstract class FileBdevFactory implements BdevFactory {

    private static final Logger LOG = System.getLogger("mayastor.bdev");
    private static final Set<String> PARAMS = Set.of("blk_size", "uuid");
    private static final int S_IFMT = 0170000;
    private static final int S_IFBLK = 0060000;
    private static final int S_IFREG = 0100000;
    private static final int O_EXCL = 0x80;

    private final String scheme;

    /** Tests turn O_DIRECT off to exercise the page-cache path that some file systems force. */
    boolean directIo = true;

    FileBdevFactory(String scheme) {
        this.scheme = scheme;
    }

    @Override
    public Set<String> schemes() {
        return Set.of(scheme);
    }

    /** Makes the bdev over a file this factory opened; it owns {@code file.fd()} from then on. */
    abstract BlockDevice make(FileBdev.OpenFile file) throws IOException;

    @Override
    public String nameOf(BdevUri uri) {
        uri.requireNoHost().requireKnownParams(PARAMS);
        if (!uri.path().startsWith("/") || uri.path().length() < 2) {
            throw MayastorException.invalidArgument("'%s': %s needs an absolute path: %s:///PATH", uri, scheme, scheme);
        }
        if (uri.path().indexOf('\0') >= 0) { // %00: no file has it in its name (it was an internal error, logged as a bug)
            throw MayastorException.invalidArgument("'%s': a path cannot hold a NUL character", uri);
        }
        try {
            Path.of(uri.path());
        } catch (java.nio.file.InvalidPathException e) { // a name this JVM's file encoding cannot hold (the C locale)
            throw MayastorException.invalidArgument("'%s': the path cannot be encoded on this node: %s", uri, e.getMessage());
        }
        return uri.path();
    }

    @Override
    public BlockDevice create(BdevUri uri) {
        String name = nameOf(uri);
        Path path = Path.of(uri.path());
        int mode = fileMode(uri, path);
        boolean blockDevice = (mode & S_IFMT) == S_IFBLK;
        if (!blockDevice && (mode & S_IFMT) != S_IFREG) {
            throw MayastorException.invalidArgument("'%s': %s is neither a regular file nor a block device", uri, path);
        }
        int flags = LibC.O_RDWR | LibC.O_CLOEXEC | (blockDevice ? O_EXCL : 0);
        boolean direct = directIo;
        int fd = openWaiting(path, flags | (direct ? LibC.O_DIRECT : 0));
        if (fd < 0 && direct && LibC.errno() == Errno.EINVAL) {
            direct = false;
            fd = openWaiting(path, flags);
        }
        if (fd < 0) {
            throw openError(uri, path, LibC.errno());
        }
        try {
            if (!blockDevice && !lockWaiting(fd)) {
                throw MayastorException.failedPrecondition(
                        "'%s': %s is in use by another process (it holds a lock on the file)", uri, path);
            }
            long size = blockDevice ? blockDeviceSize(fd) : Files.size(path);
            int alignment = blockDevice ? sectorSize(fd) : direct ? Math.max(probeDirectAlignment(fd), backingBlockSize(path)) : 1;
            int blockSize = SizeParams.blockSize(uri, Math.max(512, alignment));
            if (blockSize < alignment) {
                throw MayastorException.invalidArgument(
                        "'%s': blk_size=%d is below the %d-byte alignment the device needs for direct I/O",
                        uri, blockSize, alignment);
            }
            long blockCount = size / blockSize;
            if (blockCount == 0) {
                throw MayastorException.invalidArgument(
                        "'%s': %s holds %d bytes, less than one %d-byte block; give it a size first (truncate -s 1G %s)",
                        uri, path, size, blockSize, path);
            }
            if (!direct) {
                LOG.log(Level.WARNING, "bdev {0}: the file system does not support O_DIRECT; the page cache holds "
                        + "writes until a flush", name);
            }
            UUID uuid = uri.uuidParam().orElseGet(UUID::randomUUID);
            return make(new FileBdev.OpenFile(name, uuid, blockSize, blockCount, path.toString(), fd, direct,
                    blockDevice, direct ? alignment : 1));
        } catch (MayastorException e) {
            LibC.close(fd);
            throw e;
        } catch (RuntimeException e) {
            LibC.close(fd); // kept, its lock made every later create of the path "in use" until a restart
            throw new MayastorException(ErrorKind.INTERNAL, "'" + uri + "': " + e, e);
        } catch (IOException e) {
            LibC.close(fd);
            throw new MayastorException(ErrorKind.INTERNAL, "'" + uri + "': " + e.getMessage(), e);
        }
    }

    /**
     * How long a lock or an exclusive open held by someone else is waited for. A process killed with
     * I/O in flight on an io_uring keeps its files open until the kernel has ended that I/O, after
     * the process is gone: a node restarted at once would otherwise find its own disk "in use"
     * (the crash torture on uring saw it).
     */
    private static final long BUSY_WAIT_NANOS = java.util.concurrent.TimeUnit.SECONDS.toNanos(2);

    /** open(2), retried while a block device is held exclusively elsewhere (EBUSY), for a short while. */
    private static int openWaiting(Path path, int flags) {
        long deadline = System.nanoTime() + BUSY_WAIT_NANOS;
        while (true) {
            int fd = LibC.open(path.toString(), flags, 0);
            if (fd >= 0 || LibC.errno() != Errno.EBUSY || System.nanoTime() - deadline > 0) {
                return fd;
            }
            java.util.concurrent.locks.LockSupport.parkNanos(50_000_000);
        }
    }

    /** An exclusive lock on the file, waited for a short while; false when someone else keeps it. */
    private static boolean lockWaiting(int fd) {
        long deadline = System.nanoTime() + BUSY_WAIT_NANOS;
        while (LibC.flock(fd, LibC.LOCK_EX | LibC.LOCK_NB) != 0) {
            if (System.nanoTime() - deadline > 0) {
                return false;
            }
            java.util.concurrent.locks.LockSupport.parkNanos(50_000_000);
        }
        return true;
    }

    private static int fileMode(BdevUri uri, Path path) {
        try {
            return (Integer) Files.getAttribute(path, "unix:mode");
        } catch (java.nio.file.NoSuchFileException e) {
            throw MayastorException.notFound("'%s': no such file or device %s", uri, path);
        } catch (IOException | UnsupportedOperationException e) {
            throw MayastorException.invalidArgument("'%s': cannot inspect %s: %s", uri, path, e.getMessage());
        }
    }

    private static MayastorException openError(BdevUri uri, Path path, int errno) {
        String why = LibC.describe(errno);
        return switch (errno) {
            case Errno.ENOENT -> MayastorException.notFound("'%s': no such file or device %s", uri, path);
            case Errno.EBUSY -> MayastorException.failedPrecondition(
                    "'%s': %s is in use (mounted, or opened exclusively by another process)", uri, path);
            case Errno.EACCES, Errno.EPERM, Errno.EROFS -> MayastorException.failedPrecondition(
                    "'%s': cannot open %s for reading and writing: %s", uri, path, why);
            case Errno.EISDIR -> MayastorException.invalidArgument("'%s': %s is a directory", uri, path);
            default -> MayastorException.internal("'%s': cannot open %s: %s", uri, path, why);
        };
    }

    private static long blockDeviceSize(int fd) throws IOException {
        return ioctlOut(fd, LibC.BLKGETSIZE64, "BLKGETSIZE64").getLong(0);
    }

    private static int sectorSize(int fd) throws IOException {
        return ioctlOut(fd, LibC.BLKSSZGET, "BLKSSZGET").getInt(0);
    }

    /** Runs an ioctl that writes up to 8 bytes and returns them. */
    private static ByteBuffer ioctlOut(int fd, long request, String name) throws IOException {
        long out = Native.malloc(8);
        try {
            if (LibC.ioctl(fd, request, out) != 0) {
                throw new IOException(name + " failed: " + LibC.describe(LibC.errno()));
            }
            return ByteBuffer.allocate(8).order(ByteOrder.nativeOrder()).put(0, NativeMemory.view(out, 8), 0, 8);
        } finally {
            Native.free(out);
        }
    }

    /**
     * The logical block size of the block device a file lives on (sysfs), or 0 when it has none (tmpfs)
     * or it cannot be read. The probe alone is fooled by a sparse file: a direct read of a hole is
     * answered without the alignment check, so a file on a 4 KiB-sector device looked like 512 — its
     * writes failed, and once block 0 was written the next open saw 4096 and refused the pool.
     */
    static int backingBlockSize(Path file) {
        try {
            long dev = ((Number) Files.getAttribute(file, "unix:dev")).longValue();
            long major = ((dev >>> 8) & 0xfff) | ((dev >>> 32) & ~0xfffL);
            long minor = (dev & 0xff) | ((dev >>> 12) & ~0xffL);
            Path sys = Path.of("/sys/dev/block/" + major + ":" + minor);
            Path queue = sys.resolve("queue/logical_block_size");
            if (!Files.exists(queue)) {
                queue = sys.resolve("../queue/logical_block_size"); // a partition: its disk's queue
            }
            return Files.exists(queue) ? Integer.parseInt(Files.readString(queue).strip()) : 0;
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    /** The smallest direct read the file system takes: 512 bytes, else 4096. */
    private static int probeDirectAlignment(int fd) throws IOException {
        long page = NativeMemory.mapAnonymous(4096);
        try {
            for (int size : new int[] {512, 4096}) {
                if (LibC.pread(fd, page, size, 0) >= 0) {
                    return size;
                }
                if (LibC.errno() != Errno.EINVAL) {
                    throw new IOException("reading the first block failed: " + LibC.describe(LibC.errno()));
                }
            }
            throw new IOException("the file system refuses direct reads of 512 and 4096 bytes");
        } finally {
            NativeMemory.unmap(page, 4096);
        }
    }
}
