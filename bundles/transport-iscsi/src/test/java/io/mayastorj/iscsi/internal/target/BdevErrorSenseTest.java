package io.mayastorj.iscsi.internal.target;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.internal.bdev.MallocBdevFactory;
import io.mayastorj.iscsi.internal.scsi.Sense;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What a bdev's failure tells the initiator. Review finding: a path that is away (a nexus being
 * taken over: UNAVAILABLE; a replica timing out) answered MEDIUM ERROR, which Linux neither retries
 * nor fails over — the file system got EIO; and a failed SYNCHRONIZE CACHE said "unrecovered read error".
 */
class BdevErrorSenseTest {

    private IscsiFixture fx;
    private ControlledDisk disk;

    @BeforeEach
    void setUp() throws Exception {
        disk = new ControlledDisk(new MallocBdevFactory().create(BdevUri.parse("malloc:///ram?size_mb=1&blk_size=512")));
        fx = new IscsiFixture("failing", disk);
    }

    @AfterEach
    void tearDown() {
        fx.close();
    }

    private static int senseKey(ScsiSession.Result r) {
        return r.sense()[2] & 0x0F;
    }

    @Test
    void aPathThatIsAwayIsAbortedCommandForTheHostToRetry() throws Exception {
        try (ScsiSession s = new ScsiSession(fx.target.address().getPort(), fx.iqn)) {
            for (IoStatus away : new IoStatus[] {IoStatus.UNAVAILABLE, IoStatus.TIMED_OUT, IoStatus.DEVICE_CLOSED}) {
                disk.failure = away;
                ScsiSession.Result read = s.command(ScsiSession.read16(0, 8), null, 4096);
                assertEquals(Sense.CHECK_CONDITION, read.status(), away.toString());
                assertEquals(Sense.ABORTED_COMMAND, senseKey(read), away + " on a read");
                ScsiSession.Result write = s.command(ScsiSession.write16(0, 8), new byte[4096], 0);
                assertEquals(Sense.ABORTED_COMMAND, senseKey(write), away + " on a write");
            }
            disk.failure = IoStatus.MEDIA_ERROR;
            ScsiSession.Result read = s.command(ScsiSession.read16(0, 8), null, 4096);
            assertEquals(Sense.MEDIUM_ERROR, senseKey(read), "the medium failing is a medium error");
            assertEquals(Sense.UNRECOVERED_READ_ERROR, read.ascq());
            ScsiSession.Result sync = s.command(new byte[] {0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0}, null, 0);
            assertEquals(Sense.MEDIUM_ERROR, senseKey(sync));
            assertEquals(Sense.WRITE_ERROR, sync.ascq(), "a failed cache flush is a write error");
            // review finding: the target's own failures were medium errors too (bad sectors to the file system)
            for (IoStatus own : new IoStatus[] {IoStatus.FAILED, IoStatus.UNSUPPORTED, IoStatus.MISALIGNED_BUFFER}) {
                disk.failure = own;
                ScsiSession.Result write = s.command(ScsiSession.write16(0, 8), new byte[4096], 0);
                assertEquals(Sense.HARDWARE_ERROR, senseKey(write), own.toString());
                assertEquals(Sense.INTERNAL_TARGET_FAILURE, write.ascq(), own.toString());
            }
        }
    }

    /**
     * Review finding: a write whose expected data length is over the 1 MiB a command takes (its CDB's
     * within it) got no buffer and was answered BUSY, which the initiator retried until its timeout.
     */
    @Test
    void aWriteExpectingMoreDataThanACommandTakesIsRefusedNotBusy() throws Exception {
        try (ScsiSession s = new ScsiSession(fx.target.address().getPort(), fx.iqn)) {
            ScsiSession.Result r = s.command(ScsiSession.write16(0, 1), new byte[2 << 20], 0);
            assertEquals(Sense.CHECK_CONDITION, r.status(), r.toString());
            assertEquals(Sense.ILLEGAL_REQUEST, senseKey(r));
            assertEquals(Sense.INVALID_FIELD_IN_CDB, r.ascq());
            assertEquals(Sense.GOOD, s.command(ScsiSession.write16(0, 1), new byte[512], 0).status(), "the session goes on");
        }
    }

    /** Review finding: WRITE SAME of zeros on a device without write-zeroes was refused as a medium error. */
    @Test
    void writeSameOfZerosOnADeviceWithoutWriteZeroesWritesThem() throws Exception {
        try (ScsiSession s = new ScsiSession(fx.target.address().getPort(), fx.iqn)) {
            byte[] ones = new byte[8 * 512];
            java.util.Arrays.fill(ones, (byte) 1);
            assertEquals(Sense.GOOD, s.command(ScsiSession.write16(0, 8), ones, 0).status());
            byte[] cdb = new byte[16];
            cdb[0] = (byte) 0x93; // WRITE SAME(16) of a block of zeros over the 8
            cdb[13] = 8;
            ScsiSession.Result same = s.command(cdb, new byte[512], 0);
            assertEquals(Sense.GOOD, same.status(), same.toString());
            assertArrayEquals(new byte[8 * 512], s.command(ScsiSession.read16(0, 8), null, 4096).data());
        }
    }
}
