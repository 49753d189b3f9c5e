package io.mayastorj.iscsi.internal.target;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.mayastorj.iscsi.internal.scsi.Sense;
import java.nio.ByteBuffer;
import java.util.Arrays;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Fencing with persistent reservations (what fence_scsi and cluster managers do): a node that is
 * preempted must not write once the preempting command has completed — also a write it had sent
 * before, whose data was still on its way.
 */
class ReservationFencingTest {

    private static final int REGISTER = 0x00;
    private static final int RESERVE = 0x01;
    private static final int PREEMPT_AND_ABORT = 0x05;
    private static final int WRITE_EXCLUSIVE = 0x01;
    private IscsiFixture fx;

    @BeforeEach
    void setUp() throws Exception {
        fx = new IscsiFixture("fenced", 8);
    }

    @AfterEach
    void tearDown() {
        fx.close();
    }

    private ScsiSession session(String initiator) throws Exception {
        return new ScsiSession(fx.target.address().getPort(), fx.iqn, initiator);
    }

    /** PERSISTENT RESERVE OUT with a 24-byte parameter list: reservation key, service action key. */
    private static ScsiSession.Result out(ScsiSession s, int action, int type, long key, long actionKey) throws Exception {
        byte[] cdb = new byte[10];
        cdb[0] = 0x5F;
        cdb[1] = (byte) action;
        cdb[2] = (byte) type;
        cdb[8] = 24;
        byte[] list = ByteBuffer.allocate(24).putLong(0, key).putLong(8, actionKey).array();
        return s.command(cdb, list, 0);
    }

    /**
     * An initiator that lost its connection logs in again with the same ISID (session reinstatement)
     * and reserves again; the old connection, once the target notices it is dead, must not end the
     * new session's reservation — the old session goes when the new one logs in.
     */
    @Test
    void aReinstatedSessionKeepsTheReservationItTookAfterTheOldConnectionCloses() throws Exception {
        byte[] reserve6 = {0x16, 0, 0, 0, 0, 0};
        int port = fx.target.address().getPort();
        ScsiSession first = new ScsiSession(port, fx.iqn, "iqn.2026-12.test:node-a", 0x4242);
        assertEquals(Sense.GOOD, first.command(reserve6).status());
        try (ScsiSession again = new ScsiSession(port, fx.iqn, "iqn.2026-12.test:node-a", 0x4242);
             ScsiSession other = session("iqn.2026-12.test:node-b")) {
            assertEquals(Sense.GOOD, again.command(reserve6).status(), "the same I_T nexus: its reservation");
            first.close(); // the old connection's end reaches the target now
            for (int i = 0; i < 300 && fx.target.connections().size() > 2; i++) {
                Thread.sleep(10);
            }
            assertEquals(2, fx.target.connections().size(), "the old session is gone");
            assertEquals(Sense.RESERVATION_CONFLICT, other.command(reserve6).status(), "node-a still holds the LUN");
            assertEquals(Sense.GOOD, again.command(ScsiSession.write16(0, 1), new byte[512], 0).status());
        }
    }

    @Test
    void aWriteWhoseDataArrivesAfterItsSenderWasPreemptedIsNotWritten() throws Exception {
        try (ScsiSession a = session("iqn.2026-12.test:node-a"); ScsiSession b = session("iqn.2026-12.test:node-b")) {
            assertEquals(Sense.GOOD, out(a, REGISTER, 0, 0, 0xA1).status());
            assertEquals(Sense.GOOD, out(a, RESERVE, WRITE_EXCLUSIVE, 0xA1, 0).status());
            assertEquals(Sense.GOOD, out(b, REGISTER, 0, 0, 0xB1).status());

            byte[] data = new byte[4096];
            Arrays.fill(data, (byte) 'A');
            ScsiSession.Held held = a.writeUntilR2t(ScsiSession.write16(0, 8), data.length); // allowed: A holds it
            assertEquals(Sense.GOOD, out(b, PREEMPT_AND_ABORT, WRITE_EXCLUSIVE, 0xB1, 0xA1).status(), "B fences A");
            ScsiSession.Result late = a.sendHeld(held, data);
            assertEquals(Sense.RESERVATION_CONFLICT, late.status(), "A's data came after it was fenced: " + late);

            ScsiSession.Result read = b.command(ScsiSession.read16(0, 8), null, 4096);
            assertEquals(Sense.GOOD, read.status());
            assertArrayEquals(new byte[4096], read.data(), "nothing of A's write reached the medium");
        }
    }
}
