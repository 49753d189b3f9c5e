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
}
