package io.mayastorj.core.internal.bdev;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.bdev.IoType;
import org.junit.jupiter.api.Test;

/** What a file or disk bdev makes of the kernel's answer to a read or write, for uring and aio alike. */
class FileBdevStatusTest {

    /**
     * Review finding: the block layer's own errors (a medium error comes as ENODATA, a protection error
     * as EILSEQ, a timeout as ETIMEDOUT) were "failed", and a short write to a block device "no space".
     */
    @Test
    void theKernelsAnswersMapToWhatTheyMean() {
        assertEquals(IoStatus.MEDIA_ERROR, FileBdev.statusOf(IoType.READ, 4096, -61, true), "ENODATA: BLK_STS_MEDIUM");
        assertEquals(IoStatus.MEDIA_ERROR, FileBdev.statusOf(IoType.WRITE, 4096, -84, true), "EILSEQ: BLK_STS_PROTECTION");
        assertEquals(IoStatus.TIMED_OUT, FileBdev.statusOf(IoType.READ, 4096, -110, true), "ETIMEDOUT: BLK_STS_TIMEOUT");
        assertEquals(IoStatus.MEDIA_ERROR, FileBdev.statusOf(IoType.READ, 4096, -5, false));
        assertEquals(IoStatus.NO_SPACE, FileBdev.statusOf(IoType.WRITE, 4096, -28, false));
        assertEquals(IoStatus.FAILED, FileBdev.statusOf(IoType.WRITE, 4096, -9, false), "EBADF: ours, not the device's");
        assertEquals(IoStatus.NO_SPACE, FileBdev.statusOf(IoType.WRITE, 4096, 2048, false), "a file's short write: out of room");
        assertEquals(IoStatus.MEDIA_ERROR, FileBdev.statusOf(IoType.WRITE, 4096, 2048, true), "a disk's: it failed part-way");
        assertEquals(IoStatus.MEDIA_ERROR, FileBdev.statusOf(IoType.READ, 4096, 2048, false));
        assertEquals(IoStatus.SUCCESS, FileBdev.statusOf(IoType.WRITE, 4096, 4096, true));
    }
}
