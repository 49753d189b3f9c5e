package io.mayastorj.core.internal.bdev;

import com.sun.jna.Native;
import io.mayastorj.core.bdev.BlockDeviceBase;
import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.internal.nativeio.Errno;
import io.mayastorj.core.internal.nativeio.LibC;
import io.mayastorj.core.internal.nativeio.NativeMemory;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * What the aio and uring bdevs share: an open file or block device, and the operations the kernel
 * has no asynchronous form of on every device (unmap and write-zeroes through fallocate or the
 * block-device ioctls, and fdatasync where the asynchronous one is refused), which run on a helper
 * thread: they are rare.
 */
abstract class FileBdev extends BlockDeviceBase {

    private static final Logger LOG = System.getLogger("mayastor.bdev");
    private static final int ZERO_CHUNK = 1 << 20;
    private static volatile long zeroRegion;

    /** An opened file and what was learnt about it, ready to become a bdev. */
    record OpenFile(String name, UUID uuid, int blockSize, long blockCount, String path, int fd, boolean direct,
                    boolean blockDevice, int alignment) {
    }

    protected final String path;
    protected final int fd;
    private final boolean direct;
    private final boolean blockDevice;
    /** A file in memory (tmpfs, ramfs): reads and writes are copies, made at once on the caller's thread. */
    protected final boolean inMemory;
    private final int alignment;
    private final ExecutorService helper;
    private volatile Thread helperThread;
    private volatile boolean unmapSupported = true;
    /**
     * A flush of buffered writes that failed: the kernel says a writeback error once, and the pages it
     * could not write are dropped — a later flush would succeed without them. Every flush fails from
     * then on (PostgreSQL's rule after an fsync failure), until the device is opened again.
     */
    private volatile IoStatus flushFailure;
    /** False once the kernel refused an asynchronous fdatasync on this file: flushes go to the helper. */
    private volatile boolean asyncFlush = true;
    private volatile boolean zeroRangeSupported = true;

    /** The bdev owns {@code file.fd()} from now on. */
    FileBdev(OpenFile file, String kind) {
        super(file.name(), file.uuid(), file.blockSize(), file.blockCount());
        this.path = file.path();
        this.fd = file.fd();
        this.direct = file.direct();
        this.blockDevice = file.blockDevice();
        this.inMemory = !blockDevice && inMemory(path);
        this.alignment = file.alignment();
        helper = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, kind + "-helper " + file.name());
            t.setDaemon(true);
            helperThread = t;
            return t;
        });
    }

    /** Not on the helper: what it has queued behind the running callback cannot run while that waits. */
    @Override
    protected boolean mayWaitHere() {
        return Thread.currentThread() != helperThread;
    }

    @Override
    public int bufferAlignment() {
        return alignment;
    }

    @Override
    public boolean supports(IoType type) {
        return true; // an unmap the device cannot do is zeros written (see doUnmap)
    }

    String path() {
        return path;
    }

    boolean direct() {
        return direct;
    }

    private static boolean inMemory(String path) {
        try {
            String type = Files.getFileStore(Path.of(path)).type();
            return type.equals("tmpfs") || type.equals("ramfs");
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * A read or write of a file in memory, done now on this thread: it is a copy, as a malloc bdev's
     * is. Through a ring it would cost far more — tmpfs cannot promise that a request will not block,
     * so io_uring hands every one to a worker thread (a wake-up and two context switches per I/O),
     * and Linux AIO makes a buffered request synchronously inside io_submit anyway.
     */
    protected final <C> void copyInMemory(IoType type, long address, long length, long offset,
                                          IoCompletion<? super C> done, C context) {
        long moved = 0;
        long n;
        do { // a short transfer goes on for the rest: a full file system says ENOSPC only then
            n = type == IoType.READ ? LibC.pread(fd, address + moved, length - moved, offset + moved)
                    : LibC.pwrite(fd, address + moved, length - moved, offset + moved);
            if (n > 0) {
                moved += n;
            }
        } while (n > 0 && moved < length);
        complete(type, length, statusOf(type, length, n < 0 ? -LibC.errno() : moved, blockDevice), done, context);
    }

    static IoStatus statusOf(int errno) {
        return switch (errno) {
            // the block layer's medium error (BLK_STS_MEDIUM) and protection error come as ENODATA and EILSEQ
            case Errno.EIO, Errno.ENODATA, Errno.EILSEQ -> IoStatus.MEDIA_ERROR;
            case Errno.ETIMEDOUT -> IoStatus.TIMED_OUT; // BLK_STS_TIMEOUT
            case Errno.ENOSPC, 122 /* EDQUOT */ -> IoStatus.NO_SPACE;
            case Errno.ECANCELED -> IoStatus.ABORTED;
            case Errno.EOPNOTSUPP -> IoStatus.UNSUPPORTED;
            default -> IoStatus.FAILED;
        };
    }

    /** The status of a read, write or flush that the kernel answered with {@code result}. */
    static IoStatus statusOf(IoType type, long bytes, long result, boolean blockDevice) {
        if (result < 0) {
            return statusOf((int) -result);
        }
        if (type == IoType.FLUSH || result == bytes) {
            return IoStatus.SUCCESS;
        }
        // a short transfer on a range the base class checked: a write to a file that stopped short ran out
        // of room (ENOSPC, a quota, the size limit, said only to the next call); a read, or a write to a
        // block device (which has no room to run out of), the device failed part-way
        return type == IoType.WRITE && !blockDevice ? IoStatus.NO_SPACE : IoStatus.MEDIA_ERROR;
    }

    /** Whether a flush may go through the ring or aio context (else {@link #syncOnHelper}). */
    protected final boolean asyncFlush() {
        // buffered writes on a disk: one fdatasync at a time, each outcome recorded before the next — the kernel
        // reports a writeback error to one fdatasync only, and a second flush reaped first on another ring
        // succeeded over the lost pages (files in memory have no writeback to lose)
        return asyncFlush && (direct || inMemory);
    }

    /**
     * On the thread that reaped it: the kernel answered a read, write or flush with {@code result}
     * (bytes, or -errno).
     */
    final void finish(IoType type, long length, long result, IoCompletion<Object> done, Object context) {
        if (type == IoType.FLUSH && result == -Errno.EINVAL) {
            asyncFlush = false; // this kernel or file system has no asynchronous fdatasync
            syncOnHelper(done, context);
            return;
        }
        IoStatus status = statusOf(type, length, result, blockDevice);
        complete(type, length, type == IoType.FLUSH ? flushed(status) : status, done, context);
    }

    protected final <C> void syncOnHelper(IoCompletion<? super C> done, C context) {
        helper.execute(() -> complete(IoType.FLUSH, 0,
                flushed(LibC.fdatasync(fd) == 0 ? IoStatus.SUCCESS : statusOf(LibC.errno())), done, context));
    }

    /** A flush's outcome, once buffered writes failed to reach the device: that failure, for good (see flushFailure). */
    private IoStatus flushed(IoStatus status) {
        if (!direct && !status.isSuccess() && flushFailure == null) {
            flushFailure = status;
            LOG.log(Level.ERROR, "bdev {0}: a flush of its buffered writes failed ({1}): writes may be lost, and every "
                    + "flush fails from now on; open the device again once it is sound", name(), status);
        }
        IoStatus failed = flushFailure;
        return failed != null ? failed : status;
    }

    @Override
    protected <C> void doUnmap(long lba, long blocks, IoCompletion<? super C> done, C context) {
        long offset = lba * blockSize();
        long length = blocks * blockSize();
        helper.execute(() -> {
            // a hole punched in a block device is a zero-out without fallback (it reads zeros, or the call fails):
            // a discard (BLKDISCARD) may leave old data to read, where targets tell hosts unmapped blocks read zeros
            int rc = unmapSupported ? LibC.fallocate(fd, LibC.FALLOC_FL_PUNCH_HOLE | LibC.FALLOC_FL_KEEP_SIZE, offset, length) : -1;
            IoStatus status = IoStatus.SUCCESS;
            if (rc != 0) {
                int errno = unmapSupported ? LibC.errno() : Errno.EOPNOTSUPP;
                if (errno == Errno.EOPNOTSUPP) {
                    if (unmapSupported) {
                        unmapSupported = false;
                        LOG.log(Level.INFO, "bdev {0}: the device cannot deallocate; unmapped ranges are written as zeros", name());
                    }
                    status = zeroRange(offset, length); // what an unmap promises, the slow way (a failure faulted a replica)
                } else {
                    status = statusOf(errno);
                }
            }
            complete(IoType.UNMAP, length, status, done, context);
        });
    }

    @Override
    protected <C> void doWriteZeroes(long lba, long blocks, IoCompletion<? super C> done, C context) {
        long offset = lba * blockSize();
        long length = blocks * blockSize();
        helper.execute(() -> complete(IoType.WRITE_ZEROES, length, zeroRange(offset, length), done, context));
    }

    /** On the helper thread: the cheapest way the device offers to make a range read as zeros. */
    private IoStatus zeroRange(long offset, long length) {
        if (blockDevice) {
            return blockRangeIoctl(LibC.BLKZEROOUT, offset, length) == 0 ? IoStatus.SUCCESS : statusOf(LibC.errno());
        }
        if (zeroRangeSupported) {
            if (LibC.fallocate(fd, LibC.FALLOC_FL_ZERO_RANGE | LibC.FALLOC_FL_KEEP_SIZE, offset, length) == 0) {
                return IoStatus.SUCCESS;
            }
            int errno = LibC.errno();
            if (errno != Errno.EOPNOTSUPP) {
                return statusOf(errno);
            }
            zeroRangeSupported = false; // e.g. tmpfs: write the zeros instead
        }
        long zeros = zeroRegion();
        if (zeros == 0) {
            return IoStatus.FAILED; // thrown here, the helper task ended without completing the I/O
        }
        for (long done = 0; done < length; ) {
            long n = Math.min(ZERO_CHUNK, length - done);
            long written = LibC.pwrite(fd, zeros, n, offset + done);
            if (written <= 0) {
                return written < 0 ? statusOf(LibC.errno()) : IoStatus.MEDIA_ERROR;
            }
            done += written;
        }
        return IoStatus.SUCCESS;
    }

    /** The shared region of zeros to write from; 0 when it cannot be mapped (ENOMEM, vm.max_map_count). */
    private static long zeroRegion() {
        long region = zeroRegion;
        if (region == 0) {
            synchronized (FileBdev.class) {
                region = zeroRegion;
                if (region == 0) {
                    try {
                        region = NativeMemory.mapAnonymous(ZERO_CHUNK); // never written: stays zero
                    } catch (IOException e) {
                        LOG.log(Level.ERROR, "no memory for a region of zeros: {0}", e.getMessage());
                        return 0;
                    }
                    zeroRegion = region;
                }
            }
        }
        return region;
    }

    private int blockRangeIoctl(long request, long offset, long length) {
        long range = Native.malloc(16);
        try {
            ByteBuffer view = NativeMemory.view(range, 16);
            view.putLong(0, offset);
            view.putLong(8, length);
            return LibC.ioctl(fd, request, range);
        } finally {
            Native.free(range);
        }
    }

    /** Stops the helper (its work is done: nothing is in flight) and closes the file. */
    protected final void closeFile() {
        helper.shutdown();
        try {
            helper.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        LibC.close(fd);
    }
}
