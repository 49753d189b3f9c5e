package io.mayastorj.core.internal.nativeio;

import com.sun.jna.Native;
import com.sun.jna.Platform;

/**
 * The few libc calls the node needs, bound by JNA direct mapping: a call costs a native transition
 * and nothing on the heap. Pointers travel as {@code long} addresses. A call that fails returns -1
 * and leaves its errno in {@link #errno()}.
 *
 * <p>{@code open}, {@code ioctl} and {@code syscall} are variadic in C; they are bound here with
 * fixed integer arguments, which on the Linux x86-64 and AArch64 ABIs is how variadic integer
 * arguments are passed as well.
 */
public final class LibC {

    static {
        Native.register(LibC.class, Platform.C_LIBRARY_NAME);
    }

    private static final boolean AARCH64 = Platform.isARM() && Platform.is64Bit();

    // fcntl.h
    public static final int O_RDONLY = 0;
    public static final int O_RDWR = 2;
    public static final int O_CLOEXEC = 0x80000;
    public static final int O_DIRECT = AARCH64 ? 0x10000 : 0x4000;

    // sys/mman.h
    public static final int PROT_READ = 1;
    public static final int PROT_WRITE = 2;
    public static final int MAP_SHARED = 1;
    public static final int MAP_PRIVATE = 2;
    public static final int MAP_ANONYMOUS = 0x20;
    public static final int MAP_POPULATE = 0x8000;
    public static final long MAP_FAILED = -1L;
    public static final int MADV_DONTNEED = 4;
    public static final int MFD_CLOEXEC = 1;
    public static final int MFD_HUGETLB = 4;

    // linux/falloc.h
    public static final int FALLOC_FL_KEEP_SIZE = 0x01;
    public static final int FALLOC_FL_PUNCH_HOLE = 0x02;
    public static final int FALLOC_FL_ZERO_RANGE = 0x10;

    // linux/fs.h: _IO(0x12, n) and _IOR(0x12, 114, size_t)
    public static final long BLKSSZGET = 0x1268;
    public static final long BLKDISCARD = 0x1277;
    public static final long BLKZEROOUT = 0x127f;
    public static final long BLKGETSIZE64 = 0x80081272L;

    // sys/file.h
    public static final int LOCK_EX = 2;
    public static final int LOCK_NB = 4;

    // asm/unistd.h: the Linux AIO system calls (glibc has no wrappers for them)
    public static final long SYS_IO_SETUP = AARCH64 ? 0 : 206;
    public static final long SYS_IO_DESTROY = AARCH64 ? 1 : 207;
    public static final long SYS_IO_SUBMIT = AARCH64 ? 2 : 209;
    public static final long SYS_IO_GETEVENTS = AARCH64 ? 4 : 208;

    // the io_uring system calls: asm-generic numbers, the same on x86-64 and AArch64
    public static final long SYS_IO_URING_SETUP = 425;
    public static final long SYS_IO_URING_ENTER = 426;
    public static final long SYS_IO_URING_REGISTER = 427;

    // sys/eventfd.h
    public static final int EFD_CLOEXEC = 0x80000;
    public static final int EFD_NONBLOCK = 0x800;

    private LibC() {
    }

    public static native int open(String path, int flags, int mode);

    public static native int close(int fd);

    public static native long read(int fd, long buf, long count);

    public static native long pread(int fd, long buf, long count, long offset);

    public static native long pwrite(int fd, long buf, long count, long offset);

    public static native int fdatasync(int fd);

    public static native int fallocate(int fd, int mode, long offset, long length);

    public static native int ioctl(int fd, long request, long arg);

    public static native int flock(int fd, int operation);

    public static native long mmap(long addr, long length, int prot, int flags, int fd, long offset);

    public static native int munmap(long addr, long length);


    public static native int madvise(long addr, long length, int advice);

    public static native long memset(long addr, int value, long length);

    public static native int memfd_create(String name, int flags);

    public static native int eventfd(int initval, int flags);

    public static native int ftruncate(int fd, long length);

    public static native long syscall(long number, long a1, long a2, long a3, long a4, long a5);

    public static native String strerror(int errnum);

    /** The errno of this thread's last failed call. */
    public static int errno() {
        return Native.getLastError();
    }

    /** "No such file or directory (errno 2)". */
    public static String describe(int errno) {
        return strerror(errno) + " (errno " + errno + ")";
    }
}
