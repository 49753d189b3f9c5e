package io.mayastorj.iscsi.internal.target;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import io.mayastorj.iscsi.internal.protocol.Bhs;
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
    private static final int PREEMPT = 0x04;
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

    /**
     * Review finding: the TSIH of a Login Request was not read. A login naming an existing session (a
     * second connection of it, MC/S, or connection reinstatement) was answered as a new session with
     * another TSIH, and the session it named was reinstated under it: closed, its tasks with it. A
     * second connection is refused now (one per session here), as is a session that does not
     * exist; the same CID reinstates the connection in its session, under its TSIH, keeping its
     * reservation.
     */
    @Test
    void aLoginForAnExistingSessionIsRefusedOrReinstatesItsConnection() throws Exception {
        byte[] reserve6 = {0x16, 0, 0, 0, 0, 0};
        int port = fx.target.address().getPort();
        String initiator = "iqn.2026-12.test:mcs";
        ScsiSession session = new ScsiSession(port, fx.iqn, initiator, 0x4646);
        try {
            assertNotEquals(0, session.tsih);
            assertEquals(Sense.GOOD, session.command(reserve6).status());
            int[][] cases = {{session.tsih, 1, 0x06}, {session.tsih ^ 0x4000, 0, 0x0A}}; // TSIH, CID, detail
            for (int[] c : cases) {
                try (RawInitiator connection = new RawInitiator(port)) {
                    connection.isid = 0x4646;
                    connection.tsih = c[0];
                    connection.cid = c[1];
                    RawInitiator.Pdu answer = connection.loginTo(fx.iqn, "InitiatorName", initiator);
                    assertEquals(2, answer.bhs().get(Bhs.STATUS_CLASS), "refused, initiator error");
                    assertEquals(c[2], answer.bhs().get(Bhs.STATUS_DETAIL), "TSIH " + c[0] + ", CID " + c[1]);
                    assertEquals(0, answer.bhs().getShort(Bhs.TSIH), "no session given");
                }
            }
            assertEquals(Sense.GOOD, session.command(ScsiSession.read16(0, 1), null, 512).status(), "the session goes on");

            try (RawInitiator again = new RawInitiator(port); ScsiSession other = session("iqn.2026-12.test:other")) {
                again.isid = 0x4646;
                again.tsih = session.tsih; // its connection reinstated: the same session, the same CID
                RawInitiator.Pdu answer = again.loginTo(fx.iqn, "InitiatorName", initiator);
                assertEquals(0, answer.bhs().get(Bhs.STATUS_CLASS), "accepted");
                assertEquals(session.tsih, answer.bhs().getShort(Bhs.TSIH) & 0xFFFF, "in its session, under its TSIH");
                for (int i = 0; i < 300 && fx.target.connections().size() > 2; i++) {
                    Thread.sleep(10);
                }
                assertEquals(2, fx.target.connections().size(), "the old connection is closed");
                assertEquals(Sense.RESERVATION_CONFLICT, other.command(reserve6).status(), "the session keeps its reservation");
            }
        } finally {
            session.close();
        }
    }

    /**
     * Review finding: the login that reinstates a session was answered at once, while a write of the
     * old session was still at the bdev. Linux logs in again after its error handling gave up on that
     * write, sends it again and then newer ones — and the old write landed late, over the newer
     * data. The login is answered only once the old session's writes at the bdev have ended.
     */
    @org.junit.jupiter.params.ParameterizedTest(name = "old connection closed first: {0}")
    @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
    void aReinstatingLoginIsAnsweredOnlyOnceTheOldSessionsWritesHaveEnded(boolean closeFirst) throws Exception {
        ControlledDisk disk = new ControlledDisk(new io.mayastorj.core.internal.bdev.MallocBdevFactory()
                .create(io.mayastorj.core.bdev.BdevUri.parse("malloc:///reinstated?size_mb=8&blk_size=512")));
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newCachedThreadPool();
        try (IscsiFixture held = new IscsiFixture("reinstated", disk)) {
            int port = held.target.address().getPort();
            ScsiSession old = new ScsiSession(port, held.iqn, "iqn.2026-12.test:node-a", 0x4343);
            byte[] oldData = new byte[512];
            Arrays.fill(oldData, (byte) 'O');
            disk.hold = true;
            pool.submit(() -> old.command(ScsiSession.write16(0, 1), oldData, 0)); // never answered: its session goes
            for (int i = 0; i < 500 && disk.held.isEmpty(); i++) {
                Thread.sleep(10);
            }
            assertEquals(1, disk.held.size(), "the old session's write is at the bdev");
            if (closeFirst) { // open-iscsi drops the socket before it logs in again: the target closes the old session first
                old.close();
                for (int i = 0; i < 500 && !held.target.connections().isEmpty(); i++) {
                    Thread.sleep(10);
                }
                assertEquals(0, held.target.connections().size(), "the old connection is closed");
            }
            java.util.concurrent.Future<ScsiSession> again = pool.submit(
                    () -> new ScsiSession(port, held.iqn, "iqn.2026-12.test:node-a", 0x4343));
            Thread.sleep(500);
            org.junit.jupiter.api.Assertions.assertFalse(again.isDone(), "no Login Response while the old write is at the bdev");
            disk.release(); // the old write lands now, before the new session can write
            try (ScsiSession s = again.get(10, java.util.concurrent.TimeUnit.SECONDS)) {
                byte[] newData = new byte[512];
                Arrays.fill(newData, (byte) 'N');
                assertEquals(Sense.GOOD, s.command(ScsiSession.write16(0, 1), newData, 0).status());
                ScsiSession.Result read = s.command(ScsiSession.read16(0, 1), null, 512);
                assertArrayEquals(newData, read.data(), "the newer write stands");
            }
            old.close();
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * Review finding: a login that reinstates a session, cut while it waits for the old session's
     * writes, ended the nexus's SPC-2 reservation at its own close — the old connection, marked
     * reinstated, ends none — while the old write was still at the bdev: another host could reserve
     * and write, and the old write land over it. A login that did not end ends no reservation.
     */
    @Test
    void aReinstatingLoginCutWhileItWaitsEndsNoReservation() throws Exception {
        byte[] reserve6 = {0x16, 0, 0, 0, 0, 0};
        ControlledDisk disk = new ControlledDisk(new io.mayastorj.core.internal.bdev.MallocBdevFactory()
                .create(io.mayastorj.core.bdev.BdevUri.parse("malloc:///cut?size_mb=8&blk_size=512")));
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newCachedThreadPool();
        try (IscsiFixture held = new IscsiFixture("cut", disk)) {
            int port = held.target.address().getPort();
            ScsiSession old = new ScsiSession(port, held.iqn, "iqn.2026-12.test:node-a", 0x4848);
            assertEquals(Sense.GOOD, old.command(reserve6).status());
            disk.hold = true;
            pool.submit(() -> old.command(ScsiSession.write16(0, 1), new byte[512], 0)); // at the bdev, unanswered
            for (int i = 0; i < 500 && disk.held.isEmpty(); i++) {
                Thread.sleep(10);
            }
            assertEquals(1, disk.held.size(), "the old session's write is at the bdev");
            RawInitiator again = new RawInitiator(port);
            again.isid = 0x4848;
            byte[] text = io.mayastorj.iscsi.internal.protocol.TextParameters.encode(RawInitiator.keys("InitiatorName",
                    "iqn.2026-12.test:node-a", "SessionType", "Normal", "TargetName", held.iqn));
            again.send(again.login(text), text); // waits for the old write: no answer yet
            Thread.sleep(300);
            again.close(); // the initiator gives up on this login
            Thread.sleep(300);
            try (ScsiSession other = new ScsiSession(port, held.iqn, "iqn.2026-12.test:node-b")) {
                assertEquals(Sense.RESERVATION_CONFLICT, other.command(reserve6).status(),
                        "node-a's reservation stands while its write may still land");
            }
            disk.release();
            old.close();
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * Review finding: a lost connection ended its SPC-2 reservation at once, while a write of it was
     * still at the bdev: another host reserved, wrote, and the late write landed over its data. The
     * reservation ends once the closed session's writes have.
     */
    @Test
    void aClosedSessionsReservationEndsOnlyOnceItsWritesAtTheBdevHave() throws Exception {
        ControlledDisk disk = new ControlledDisk(new io.mayastorj.core.internal.bdev.MallocBdevFactory()
                .create(io.mayastorj.core.bdev.BdevUri.parse("malloc:///spc2?size_mb=8&blk_size=512")));
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newCachedThreadPool();
        byte[] reserve6 = {0x16, 0, 0, 0, 0, 0};
        try (IscsiFixture held = new IscsiFixture("spc2", disk)) {
            int port = held.target.address().getPort();
            ScsiSession a = new ScsiSession(port, held.iqn, "iqn.2026-12.test:node-a");
            assertEquals(Sense.GOOD, a.command(reserve6).status());
            byte[] old = new byte[512];
            Arrays.fill(old, (byte) 'A');
            disk.hold = true;
            pool.submit(() -> a.command(ScsiSession.write16(0, 1), old, 0)); // at the bdev when its connection goes
            for (int i = 0; i < 500 && disk.held.isEmpty(); i++) {
                Thread.sleep(10);
            }
            assertEquals(1, disk.held.size());
            a.close();
            for (int i = 0; i < 500 && !held.target.connections().isEmpty(); i++) {
                Thread.sleep(10);
            }
            try (ScsiSession b = new ScsiSession(port, held.iqn, "iqn.2026-12.test:node-b")) {
                assertEquals(Sense.RESERVATION_CONFLICT, b.command(reserve6).status(), "node-a's write is still at the bdev");
                disk.release();
                int status = Sense.RESERVATION_CONFLICT; // released on node-a's reactor as its write lands
                for (int i = 0; i < 250 && status == Sense.RESERVATION_CONFLICT; i++) {
                    Thread.sleep(20);
                    status = b.command(reserve6).status();
                }
                assertEquals(Sense.GOOD, status, "released once it landed");
                byte[] mine = new byte[512];
                Arrays.fill(mine, (byte) 'B');
                assertEquals(Sense.GOOD, b.command(ScsiSession.write16(0, 1), mine, 0).status());
                assertArrayEquals(mine, b.command(ScsiSession.read16(0, 1), null, 512).data());
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * Review finding: an unshare dropped the LUN's reservations, so once it was shared again (a nexus
     * published again on its node) the host that had been fenced could write, while the one that
     * fenced it still believed it held the LUN.
     */
    @Test
    void aFenceHoldsAcrossAnUnshareAndAShareAgain() throws Exception {
        int port = fx.target.address().getPort();
        try (ScsiSession a = new ScsiSession(port, fx.iqn, "iqn.2026-12.test:node-a", 0x4A);
             ScsiSession b = new ScsiSession(port, fx.iqn, "iqn.2026-12.test:node-b", 0x4B)) {
            assertEquals(Sense.GOOD, out(a, REGISTER, 0, 0, 0xA1).status());
            assertEquals(Sense.GOOD, out(a, RESERVE, WRITE_EXCLUSIVE, 0xA1, 0).status());
            assertEquals(Sense.GOOD, out(b, REGISTER, 0, 0, 0xB1).status());
            assertEquals(Sense.GOOD, out(b, PREEMPT, WRITE_EXCLUSIVE, 0xB1, 0xA1).status(), "B fences A");
        }
        fx.target.unshare(fx.disk);
        fx.target.share(fx.disk, io.mayastorj.core.transport.ShareOptions.DEFAULT);
        // the same I_T nexuses (initiator name and ISID) log in again
        try (ScsiSession a = new ScsiSession(port, fx.iqn, "iqn.2026-12.test:node-a", 0x4A);
             ScsiSession b = new ScsiSession(port, fx.iqn, "iqn.2026-12.test:node-b", 0x4B)) {
            assertEquals(Sense.RESERVATION_CONFLICT, a.command(ScsiSession.write16(0, 1), new byte[512], 0).status(),
                    "A is still fenced");
            assertEquals(Sense.GOOD, b.command(ScsiSession.write16(0, 1), new byte[512], 0).status(), "B holds the LUN");
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
            // PREEMPT (without abort, which would end A's write before its data came): the data is checked as it comes
            assertEquals(Sense.GOOD, out(b, PREEMPT, WRITE_EXCLUSIVE, 0xB1, 0xA1).status(), "B fences A");
            ScsiSession.Result late = a.sendHeld(held, data);
            assertEquals(Sense.RESERVATION_CONFLICT, late.status(), "A's data came after it was fenced: " + late);

            ScsiSession.Result read = b.command(ScsiSession.read16(0, 8), null, 4096);
            assertEquals(Sense.GOOD, read.status());
            assertArrayEquals(new byte[4096], read.data(), "nothing of A's write reached the medium");
        }
    }

    /**
     * Review finding: a PREEMPT AND ABORT that came while the reactor was in the middle of the fenced
     * host's Data-Out freed that write's buffer at once; the rest of the segment, read after, went
     * into the freed buffer — by then the buffer of another host's write, whose data on the disk it
     * replaced. The buffer is freed only once the segment has been read.
     */
    @Test
    void aPreemptAndAbortInTheMiddleOfADataOutLeavesTheBufferUntilTheSegmentIsRead() throws Exception {
        ControlledDisk disk = new ControlledDisk(new io.mayastorj.core.internal.bdev.MallocBdevFactory()
                .create(io.mayastorj.core.bdev.BdevUri.parse("malloc:///midpdu?size_mb=8&blk_size=512")));
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newCachedThreadPool();
        try (IscsiFixture held = new IscsiFixture("midpdu", disk)) {
            int port = held.target.address().getPort();
            try (ScsiSession a = new ScsiSession(port, held.iqn, "iqn.2026-12.test:node-a");
                 ScsiSession b = new ScsiSession(port, held.iqn, "iqn.2026-12.test:node-b")) {
                assertEquals(Sense.GOOD, out(a, REGISTER, 0, 0, 0xA1).status());
                assertEquals(Sense.GOOD, out(a, RESERVE, WRITE_EXCLUSIVE, 0xA1, 0).status());
                assertEquals(Sense.GOOD, out(b, REGISTER, 0, 0, 0xB1).status());
                byte[] fenced = new byte[64 << 10]; // a size class of its own: the buffer B's write takes next
                Arrays.fill(fenced, (byte) 'A');
                ScsiSession.Held write = a.writeUntilR2t(ScsiSession.write16(0, 128), fenced.length);
                ScsiSession.IoAction rest = a.sendHeldDataInPart(write, fenced, 1024);
                Thread.sleep(300); // the target has read the first 1 KiB into the write's buffer
                assertEquals(Sense.GOOD, out(b, PREEMPT_AND_ABORT, WRITE_EXCLUSIVE, 0xB1, 0xA1).status(), "B fences A");

                byte[] mine = new byte[64 << 10];
                Arrays.fill(mine, (byte) 'B');
                disk.hold = true; // B's write waits at the disk with its buffer ...
                java.util.concurrent.Future<ScsiSession.Result> bWrite = pool.submit(() -> b.command(
                        ScsiSession.write16(256, 128), mine, 0));
                for (int i = 0; i < 500 && disk.held.isEmpty(); i++) {
                    Thread.sleep(10);
                }
                assertEquals(1, disk.held.size(), "B's write is at the disk");
                rest.run(); // ... while the rest of A's segment comes
                Thread.sleep(300);
                disk.release();
                assertEquals(Sense.GOOD, bWrite.get(10, java.util.concurrent.TimeUnit.SECONDS).status());
                assertArrayEquals(mine, b.command(ScsiSession.read16(256, 128), null, mine.length).data(), "B's data, as B sent it");
                assertArrayEquals(new byte[fenced.length], b.command(ScsiSession.read16(0, 128), null, fenced.length).data(),
                        "nothing of A's aborted write");
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /** What runs once A holds WRITE EXCLUSIVE, B is registered, and A's write of 'A' to LBA 0 is held at the bdev. */
    private interface Fenced {
        void run(IscsiFixture held, ControlledDisk disk, ScsiSession b, java.util.concurrent.ExecutorService pool) throws Exception;
    }

    /** B's ISID: a login of B with it again reinstates B's session. */
    private static final int B_ISID = 0x4b4b;

    private static void withAsWriteHeld(String name, Fenced body) throws Exception {
        ControlledDisk disk = new ControlledDisk(new io.mayastorj.core.internal.bdev.MallocBdevFactory()
                .create(io.mayastorj.core.bdev.BdevUri.parse("malloc:///" + name + "?size_mb=8&blk_size=512")));
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newCachedThreadPool();
        try (IscsiFixture held = new IscsiFixture(name, disk)) {
            int port = held.target.address().getPort();
            ScsiSession a = new ScsiSession(port, held.iqn, "iqn.2026-12.test:node-a");
            try (ScsiSession b = new ScsiSession(port, held.iqn, "iqn.2026-12.test:node-b", B_ISID)) {
                assertEquals(Sense.GOOD, out(a, REGISTER, 0, 0, 0xA1).status());
                assertEquals(Sense.GOOD, out(a, RESERVE, WRITE_EXCLUSIVE, 0xA1, 0).status());
                assertEquals(Sense.GOOD, out(b, REGISTER, 0, 0, 0xB1).status());
                byte[] old = new byte[512];
                Arrays.fill(old, (byte) 'A');
                disk.hold = true;
                pool.submit(() -> a.command(ScsiSession.write16(0, 1), old, 0)); // aborted: never answered
                for (int i = 0; i < 500 && disk.held.isEmpty(); i++) {
                    Thread.sleep(10);
                }
                assertEquals(1, disk.held.size(), "A's write is at the bdev");
                body.run(held, disk, b, pool);
            }
            a.close();
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * Review finding: PREEMPT AND ABORT was a PREEMPT — no task of the preempted host was aborted, and
     * GOOD came at once, while a write of the fenced host was still at the bdev: it landed after the
     * new owner was told it had the LUN, over what the new owner wrote (fence_scsi preempts and aborts).
     */
    @Test
    void preemptAndAbortCompletesOnlyOnceThePreemptedHostsWritesAtTheBdevHaveEnded() throws Exception {
        withAsWriteHeld("aborted", (held, disk, b, pool) -> {
            java.util.concurrent.Future<ScsiSession.Result> fence = pool.submit(
                    () -> out(b, PREEMPT_AND_ABORT, WRITE_EXCLUSIVE, 0xB1, 0xA1));
            Thread.sleep(500);
            org.junit.jupiter.api.Assertions.assertFalse(fence.isDone(), "no GOOD while A's write is at the bdev");
            disk.hold = false;
            disk.release(); // A's write lands now, before B is told it has the LUN
            assertEquals(Sense.GOOD, fence.get(10, java.util.concurrent.TimeUnit.SECONDS).status());
            byte[] newer = new byte[512];
            Arrays.fill(newer, (byte) 'B');
            assertEquals(Sense.GOOD, b.command(ScsiSession.write16(0, 1), newer, 0).status());
            assertArrayEquals(newer, b.command(ScsiSession.read16(0, 1), null, 512).data(), "the new owner's write stands");
        });
    }

    /**
     * Review of the fix above: the PREEMPT AND ABORT waiting for the fenced host's write was not at
     * work as far as an ABORT TASK was concerned — aborted, it was released at once, and its response
     * went out later for an ITT the initiator had given up (or reused). It is dropped now, and the
     * abort is answered once the wait ends.
     */
    @Test
    void aPreemptAndAbortThatWaitsAndIsAbortedIsDroppedNotAnswered() throws Exception {
        withAsWriteHeld("dropped", (held, disk, b, pool) -> {
            byte[] cdb = new byte[10];
            cdb[0] = 0x5F;
            cdb[1] = PREEMPT_AND_ABORT;
            cdb[2] = WRITE_EXCLUSIVE;
            cdb[8] = 24;
            ScsiSession.Held fence = b.writeUntilR2t(cdb, 24);
            b.sendHeldData(fence, ByteBuffer.allocate(24).putLong(0, 0xB1).putLong(8, 0xA1).array());
            Thread.sleep(300);
            b.abortTask(fence.itt());
            org.junit.jupiter.api.Assertions.assertNull(b.receive(300), "the abort waits for the fenced write as well");
            disk.hold = false;
            disk.release();
            RawInitiator.Pdu answer = b.receive(5000);
            org.junit.jupiter.api.Assertions.assertNotNull(answer);
            assertEquals(io.mayastorj.iscsi.internal.protocol.Bhs.TASK_MANAGEMENT_RESPONSE, answer.opcode(),
                    "no SCSI Response for the aborted PERSISTENT RESERVE OUT");
            org.junit.jupiter.api.Assertions.assertNull(b.receive(500), "nor after");
        });
    }

    /**
     * Review of the fix above: the waiting PREEMPT AND ABORT counted as at the bdev, so the preempting
     * host, its connection lost and logging in again, was held for the fenced host's stuck write —
     * the survivor lost the LUN to the fenced node's I/O. Its login is answered at once.
     */
    @Test
    void thePreemptingHostLogsInAgainWhileItsPreemptAndAbortWaits() throws Exception {
        withAsWriteHeld("relogin", (held, disk, b, pool) -> {
            pool.submit(() -> out(b, PREEMPT_AND_ABORT, WRITE_EXCLUSIVE, 0xB1, 0xA1)); // waits for A's write
            Thread.sleep(300);
            b.close(); // its connection goes; it logs in again (same initiator, same ISID: a reinstatement)
            java.util.concurrent.Future<ScsiSession> again = pool.submit(
                    () -> new ScsiSession(held.target.address().getPort(), held.iqn, "iqn.2026-12.test:node-b", B_ISID));
            try (ScsiSession s = again.get(5, java.util.concurrent.TimeUnit.SECONDS)) {
                assertEquals(Sense.GOOD, s.command(new byte[] {0x00, 0, 0, 0, 0, 0}).status(), "TEST UNIT READY");
            }
            disk.hold = false;
            disk.release();
        });
    }
}
