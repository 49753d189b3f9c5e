package io.mayastorj.nvmf.internal.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.mayastorj.core.bdev.IoStatus;
import org.junit.jupiter.api.Test;

/**
 * What a replica's failure looks like to the nexus across NVMe/TCP: its own device's trouble must
 * reach the host as the replica's fault, not as a bad request, or the nexus answers the application
 * with an error instead of reading another copy.
 */
class StatusTest {

    /** Review finding: a replica's misaligned or too small buffer against its device went back as Invalid Field. */
    @Test
    void aReplicasOwnBufferTroubleIsItsFaultNotTheRequests() {
        for (IoStatus own : new IoStatus[] {IoStatus.BUFFER_TOO_SMALL, IoStatus.MISALIGNED_BUFFER}) {
            assertEquals(IoStatus.FAILED, Status.toIo(Status.of(own, false)), own + " on a read");
            assertEquals(IoStatus.FAILED, Status.toIo(Status.of(own, true)), own + " on a write");
        }
        assertEquals(IoStatus.INVALID_LENGTH, Status.toIo(Status.of(IoStatus.INVALID_LENGTH, true)), "the request's own fault");
        assertEquals(IoStatus.MEDIA_ERROR, Status.toIo(Status.of(IoStatus.MEDIA_ERROR, false)));
        assertEquals(IoStatus.UNAVAILABLE, Status.toIo(Status.of(IoStatus.UNAVAILABLE, false)));
        assertEquals(IoStatus.NO_SPACE, Status.toIo(Status.of(IoStatus.NO_SPACE, true)));
    }

    /**
     * Review finding: a command the target aborts because its controller is being reset or ended
     * (a keep-alive timeout) went back with Do Not Retry, and Linux fails such a command to the
     * application (EIO) instead of sending it again on the next association. Our own host took it
     * for the replica's failure.
     */
    @Test
    void aCommandAbortedAsItsQueueGoesIsTriedAgain() {
        org.junit.jupiter.api.Assertions.assertFalse(Status.permanent(Status.ABORT_SQ_DELETION));
        assertEquals(IoStatus.UNAVAILABLE, Status.toIo(Status.ABORT_SQ_DELETION));
        org.junit.jupiter.api.Assertions.assertTrue(Status.permanent(Status.INVALID_FIELD), "a bad request stays final");
    }
}
