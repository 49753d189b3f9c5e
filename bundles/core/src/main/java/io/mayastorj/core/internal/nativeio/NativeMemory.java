package io.mayastorj.core.internal.nativeio;

import com.sun.jna.Pointer;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Mappings of native memory and direct-buffer views of them. */
public final class NativeMemory {

    public static final long HUGEPAGE_SIZE = 2L * 1024 * 1024;

    private NativeMemory() {
    }

    /** A direct buffer over {@code length} bytes at {@code address}, in the platform's byte order. */
    public static ByteBuffer view(long address, int length) {
        return new Pointer(address).getByteBuffer(0, length).order(ByteOrder.nativeOrder());
    }

    /** Anonymous private memory, zero-filled, committed as it is first touched. */
    public static long mapAnonymous(long length) throws IOException {
        long address = LibC.mmap(0, length, LibC.PROT_READ | LibC.PROT_WRITE,
                LibC.MAP_PRIVATE | LibC.MAP_ANONYMOUS, -1, 0);
        if (address == LibC.MAP_FAILED) {
            throw new IOException("mmap of " + length + " bytes failed: " + LibC.describe(LibC.errno()));
        }
        return address;
    }

    /**
     * Memory on 2 MiB hugepages (memfd_create with MFD_HUGETLB), reserved and populated now so
     * that a shortage shows at start-up rather than as a fault under I/O.
     */
    public static long mapHugepages(long length) throws IOException {
        int fd = LibC.memfd_create("mayastor-dma", LibC.MFD_HUGETLB | LibC.MFD_CLOEXEC);
        if (fd < 0) {
            throw new IOException("memfd_create(MFD_HUGETLB) failed: " + LibC.describe(LibC.errno()));
        }
        try {
            if (LibC.ftruncate(fd, length) != 0) {
                throw new IOException("sizing the hugepage file to " + length + " bytes failed: "
                        + LibC.describe(LibC.errno()));
            }
            long address = LibC.mmap(0, length, LibC.PROT_READ | LibC.PROT_WRITE,
                    LibC.MAP_SHARED | LibC.MAP_POPULATE, fd, 0);
            if (address == LibC.MAP_FAILED) {
                throw new IOException("mapping " + length / HUGEPAGE_SIZE + " hugepages failed: "
                        + LibC.describe(LibC.errno()));
            }
            return address;
        } finally {
            LibC.close(fd); // the mapping keeps the memory
        }
    }

    public static void unmap(long address, long length) {
        if (LibC.munmap(address, length) != 0) {
            throw new IllegalStateException("munmap failed: " + LibC.describe(LibC.errno()));
        }
    }
}
