package io.mayastorj.iscsi.internal.target;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.internal.bdev.MallocBdevFactory;
import io.mayastorj.iscsi.internal.protocol.Bhs;
import io.mayastorj.iscsi.internal.scsi.Sense;
import java.util.Arrays;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * ABORT TASK of a write the bdev already has: "function complete" only once the write is done
 * with the medium — answered at once, a retry or a later write to the same blocks could be
 * overwritten by the aborted one when it lands.
 */
class TaskManagementTest {

    private IscsiFixture fx;
    private ControlledDisk disk;

    @BeforeEach
    void setUp() throws Exception {
        disk = new ControlledDisk(new MallocBdevFactory().create(BdevUri.parse("malloc:///ram?size_mb=8&blk_size=512")));
        fx = new IscsiFixture("slow", disk);
    }

    @AfterEach
    void tearDown() {
        disk.release();
        fx.close();
    }

    /** ABORT TASK of {@code itt}, whose one write the disk holds: no answer until the write is let go, then "function complete". */
    private void abortWaitsForTheWrite(ScsiSession s, int itt, String held) throws Exception {
        for (int i = 0; i < 500 && disk.held.isEmpty(); i++) {
            Thread.sleep(10);
        }
        assertEquals(1, disk.held.size(), held);
        s.abortTask(itt);
        assertNull(s.receive(300), "no answer while the aborted write may still land");
        disk.release();
        RawInitiator.Pdu answer = s.receive(5000);
        assertNotNull(answer, "answered once the write is done");
        assertEquals(Bhs.TASK_MANAGEMENT_RESPONSE, answer.opcode(), "no SCSI Response for the aborted write");
        assertEquals(0, answer.bhs().get(2), "function complete");
    }

    /**
     * Review finding: COMPARE AND WRITE was atomic only against other atomic commands. A WRITE at the
     * bdev when it started landed between its read and its write and was lost, though both were told
     * GOOD (SBC-3: the read, compare and write are "an uninterrupted series of actions"). It waits
     * now for the writes admitted before it: here its compare then fails, and the block keeps the
     * WRITE's data.
     */
    @Test
    void aCompareAndWriteWaitsForTheWritesAdmittedBeforeIt() throws Exception {
        withWriterAndCompare((writer, atomic, threads) -> {
            byte[] z = new byte[512];
            Arrays.fill(z, (byte) 'Z');
            var written = threads.submit(() -> writer.command(ScsiSession.write16(0, 1), z, 0));
            awaitHeld(1, "the WRITE is at the bdev");
            byte[] data = new byte[1024]; // compare with the zeros that were there, then write 'Y'
            Arrays.fill(data, 512, 1024, (byte) 'Y');
            byte[] caw = cawOfBlock0();
            var compared = threads.submit(() -> atomic.command(caw, data, 0));
            Thread.sleep(500); // time for the compare to read the zeros and write, were it not waiting
            disk.release();
            assertEquals(0, written.get(10, java.util.concurrent.TimeUnit.SECONDS).status());
            ScsiSession.Result r = compared.get(10, java.util.concurrent.TimeUnit.SECONDS);
            assertEquals(2, r.status(), "the compare sees the WRITE's data: " + r);
            assertEquals(Sense.MISCOMPARE, r.senseKey());
            ScsiSession.Result back = writer.command(ScsiSession.read16(0, 1), null, 512);
            assertArrayEquals(z, back.data(), "the WRITE acknowledged is what the block holds");
        });
    }

    /**
     * ... but only writes to its blocks wait for it: held back for the whole LUN, writes starved while
     * hosts' ATS heartbeats kept coming. A write elsewhere reaches the bdev while the compare's write
     * is held there; one to its block waits, and lands after it.
     */
    @Test
    void onlyWritesToTheBlocksOfACompareAndWriteWaitForIt() throws Exception {
        withWriterAndCompare((writer, atomic, threads) -> {
            byte[] data = new byte[1024]; // compare with the zeros there, then write 'Y'
            Arrays.fill(data, 512, 1024, (byte) 'Y');
            byte[] caw = cawOfBlock0();
            var compared = threads.submit(() -> atomic.command(caw, data, 0));
            awaitHeld(1, "the compare's write is at the bdev");
            byte[] elsewhere = new byte[512];
            Arrays.fill(elsewhere, (byte) 'E');
            var far = threads.submit(() -> writer.command(ScsiSession.write16(100, 1), elsewhere, 0));
            awaitHeld(2, "a write to another block reaches the bdev meanwhile");
            disk.release(); // both go; the compare's block is written once it answered
            assertEquals(0, compared.get(10, java.util.concurrent.TimeUnit.SECONDS).status());
            assertEquals(0, far.get(10, java.util.concurrent.TimeUnit.SECONDS).status());
            byte[] z = new byte[512];
            Arrays.fill(z, (byte) 'Z');
            disk.hold = true;
            var compared2 = threads.submit(() -> atomic.command(cawOfBlock0(), data2(), 0));
            awaitHeld(1, "the second compare's write is at the bdev");
            var near = threads.submit(() -> writer.command(ScsiSession.write16(0, 1), z, 0));
            Thread.sleep(300);
            assertEquals(1, disk.held.size(), "a write to the compare's block waits for it");
            disk.release();
            assertEquals(0, compared2.get(10, java.util.concurrent.TimeUnit.SECONDS).status());
            assertEquals(0, near.get(10, java.util.concurrent.TimeUnit.SECONDS).status());
            assertArrayEquals(z, writer.command(ScsiSession.read16(0, 1), null, 512).data(), "the waiting write landed last");
        });
    }

    /**
     * Review finding: a COMPARE AND WRITE waited until a connection had no write at the bdev at all, and
     * writes to other blocks, admitted meanwhile, kept one busy under steady load: the compare never
     * ran. It waits only for the writes admitted before it.
     */
    @Test
    void aCompareAndWriteDoesNotWaitForWritesAdmittedAfterIt() throws Exception {
        withWriterAndCompare((writer, atomic, threads) -> {
            byte[] block = new byte[512];
            ScsiSession.Held first = writer.writeUntilR2t(ScsiSession.write16(100, 1), block.length);
            writer.sendHeldData(first, block);
            awaitHeld(1, "a write before the compare is at the bdev");
            byte[] data = new byte[1024];
            byte[] caw = cawOfBlock0();
            var compared = threads.submit(() -> atomic.command(caw, data, 0));
            awaitEpochFlip(); // the compare asked the writer's connection: its later writes count apart
            ScsiSession.Held second = writer.writeUntilR2t(ScsiSession.write16(200, 1), block.length);
            writer.sendHeldData(second, block);
            awaitHeld(2, "a write to another block, after the compare, reaches the bdev");
            disk.held.remove(0).run(); // the first write is done; the second stays at the bdev
            awaitHeld(2, "the compare's write reaches the bdev while the later write is still there");
            disk.release();
            assertEquals(0, compared.get(10, java.util.concurrent.TimeUnit.SECONDS).status());
            for (int i = 0; i < 2; i++) {
                RawInitiator.Pdu answer = writer.receive(5000);
                assertNotNull(answer, "both writes answered");
            }
        });
    }

    /**
     * Review finding: EXTENDED COPY's writes were not fenced. A copy into the block of a COMPARE AND
     * WRITE between its read and its write was lost, though both were told GOOD. The copy's write
     * waits for the compare now, and lands after it.
     */
    @Test
    void anExtendedCopyWaitsForACompareAndWriteOfItsBlocks() throws Exception {
        withWriterAndCompare((writer, atomic, threads) -> {
            byte[] c = blockOf('C');
            disk.hold = false;
            assertEquals(0, writer.command(ScsiSession.write16(100, 1), c, 0).status());
            disk.hold = true;
            byte[] data = new byte[1024]; // compare with the zeros there, then write 'Y'
            Arrays.fill(data, 512, 1024, (byte) 'Y');
            var compared = threads.submit(() -> atomic.command(cawOfBlock0(), data, 0));
            awaitHeld(1, "the compare's write is at the bdev");
            byte[] copyList = copyBlock100To0(writer);
            var copied = threads.submit(() -> writer.command(OptionalCommandsTest.xcopy(copyList.length), copyList, 0));
            Thread.sleep(300);
            assertEquals(1, disk.held.size(), "the copy's write waits for the compare of its block");
            disk.release();
            assertEquals(0, compared.get(10, java.util.concurrent.TimeUnit.SECONDS).status());
            ScsiSession.Result copy = copied.get(10, java.util.concurrent.TimeUnit.SECONDS);
            assertEquals(0, copy.status(), copy.toString());
            assertArrayEquals(c, writer.command(ScsiSession.read16(0, 1), null, 512).data(), "the copy landed last");
        });
    }

    /** ... and a COMPARE AND WRITE waits for a copy's write already at the bdev, then compares what it wrote. */
    @Test
    void aCompareAndWriteWaitsForAnExtendedCopysWriteAtTheBdev() throws Exception {
        withWriterAndCompare((writer, atomic, threads) -> {
            byte[] c = blockOf('C');
            disk.hold = false;
            assertEquals(0, writer.command(ScsiSession.write16(100, 1), c, 0).status());
            disk.hold = true;
            byte[] copyList = copyBlock100To0(writer);
            var copied = threads.submit(() -> writer.command(OptionalCommandsTest.xcopy(copyList.length), copyList, 0));
            awaitHeld(1, "the copy's write is at the bdev");
            byte[] data = new byte[1024]; // compare with the zeros that were there, then write 'Y'
            Arrays.fill(data, 512, 1024, (byte) 'Y');
            var compared = threads.submit(() -> atomic.command(cawOfBlock0(), data, 0));
            Thread.sleep(500); // time for the compare to read the zeros and write, were it not waiting
            assertEquals(1, disk.held.size(), "the compare waits for the copy's write");
            disk.release();
            assertEquals(0, copied.get(10, java.util.concurrent.TimeUnit.SECONDS).status());
            ScsiSession.Result r = compared.get(10, java.util.concurrent.TimeUnit.SECONDS);
            assertEquals(2, r.status(), "the compare sees the copy's data: " + r);
            assertEquals(Sense.MISCOMPARE, r.senseKey());
            assertArrayEquals(c, writer.command(ScsiSession.read16(0, 1), null, 512).data(), "the copy is what the block holds");
        });
    }

    /**
     * Review finding: an EXTENDED COPY run from a session on another LUN into this one was no task of
     * this LUN's sessions: a LOGICAL UNIT RESET here (or a PREEMPT AND ABORT, which fences a host) was
     * answered while its write was at the bdev, and its later runs went on writing. It is aborted with
     * this LUN's tasks, and the reset is answered once its run is done.
     */
    @Test
    void aResetAbortsAnExtendedCopyFromAnotherLunIntoIts() throws Exception {
        io.mayastorj.core.bdev.BlockDevice source = new MallocBdevFactory().create(BdevUri.parse("malloc:///xsrc?size_mb=8&blk_size=512"));
        fx.target.share(source, io.mayastorj.core.transport.ShareOptions.DEFAULT);
        int port = fx.target.address().getPort();
        java.util.concurrent.ExecutorService threads = java.util.concurrent.Executors.newCachedThreadPool();
        try (ScsiSession src = new ScsiSession(port, IscsiTarget.iqn(source), "iqn.2026-12.io.mayastorj.test:copier");
             ScsiSession resetter = new ScsiSession(port, fx.iqn, "iqn.2026-12.io.mayastorj.test:resetter")) {
            byte[] pattern = new byte[1500 * 512];
            Arrays.fill(pattern, (byte) 'P');
            assertEquals(0, src.command(ScsiSession.write16(0, 1500), pattern, 0).status()); // a transfer is 1 MiB at most
            assertEquals(0, src.command(ScsiSession.write16(1500, 1500), pattern, 0).status());
            byte[] list = OptionalCommandsTest.copyList(1, 0, java.util.List.of(src.naa(), resetter.naa()),
                    OptionalCommandsTest.segment(0, 1, 3000, 0, 0)); // two runs: 2048 blocks, then 952
            disk.hold = true;
            threads.submit(() -> src.command(OptionalCommandsTest.xcopy(list.length), list, 0));
            awaitHeld(1, "the copy's first run is at the bdev");
            resetter.lunReset();
            assertNull(resetter.receive(300), "no answer while the copy's write may still land");
            disk.release();
            RawInitiator.Pdu answer = resetter.receive(5000);
            assertNotNull(answer, "answered once the copy's run is done");
            assertEquals(Bhs.TASK_MANAGEMENT_RESPONSE, answer.opcode());
            assertEquals(0, answer.bhs().get(2), "function complete");
            Thread.sleep(300);
            assertEquals(Sense.UNIT_ATTENTION, resetter.command(ScsiSession.read16(2048, 952), null, 952 * 512).senseKey());
            byte[] tail = resetter.command(ScsiSession.read16(2048, 952), null, 952 * 512).data();
            assertArrayEquals(new byte[952 * 512], tail, "no run of the aborted copy after the reset");
        } finally {
            disk.release();
            threads.shutdownNow();
            fx.target.unshare(source);
            source.close();
        }
    }

    /**
     * Unit attentions queue (SAM-5 §5.14), each told once: a LUN reset and then a volume that grew
     * are both reported, oldest first. Before, the target kept one (the latest) and told no host of a
     * capacity change, so the Linux host never logged "Capacity data has changed".
     */
    @Test
    void aResetAndAGrowthAreBothToldOnceOldestFirst() throws Exception {
        try (ScsiSession s = new ScsiSession(fx.target.address().getPort(), fx.iqn, "iqn.2026-12.io.mayastorj.test:attentive")) {
            assertEquals(0, s.command(ScsiSession.read16(0, 1), null, 512).status());
            s.lunReset();
            assertEquals(Bhs.TASK_MANAGEMENT_RESPONSE, s.receive(5000).opcode());
            s.lunReset(); // the same condition again: told once
            assertEquals(Bhs.TASK_MANAGEMENT_RESPONSE, s.receive(5000).opcode());
            Thread.sleep(300); // the attentions reach the connection on its reactor
            disk.growTo(disk.blockCount() * 2);

            ScsiSession.Result first = s.command(ScsiSession.read16(0, 1), null, 512);
            assertEquals(Sense.UNIT_ATTENTION, first.senseKey(), first.toString());
            assertEquals(Sense.LUN_RESET_OCCURRED, first.ascq(), first.toString());
            ScsiSession.Result second = s.command(readCapacity16(), null, 32);
            assertEquals(Sense.UNIT_ATTENTION, second.senseKey(), second.toString());
            assertEquals(Sense.CAPACITY_DATA_HAS_CHANGED, second.ascq(), second.toString());
            ScsiSession.Result capacity = s.command(readCapacity16(), null, 32);
            assertEquals(0, capacity.status(), capacity.toString());
            assertEquals(disk.blockCount() - 1, java.nio.ByteBuffer.wrap(capacity.data()).getLong(0), "the new last LBA");
        }
    }

    /**
     * Review finding: unit attentions and the size told were the connection's, not the I_T nexus's.
     * An initiator whose connection dropped logs in again with its ISID (open-iscsi's session
     * recovery); a reset or a growth before or during that was never told to it, and Linux kept the
     * old size. The new session of the nexus is told now; a logout ends what is left.
     */
    @org.junit.jupiter.params.ParameterizedTest(name = "old connection closed first: {0}")
    @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
    void aReinstatedSessionIsToldWhatTheOldOneWasNot(boolean closeFirst) throws Exception {
        int port = fx.target.address().getPort();
        String initiator = "iqn.2026-12.io.mayastorj.test:blip";
        ScsiSession old = new ScsiSession(port, fx.iqn, initiator, 0x4545);
        try {
            assertEquals(0, old.command(ScsiSession.read16(0, 1), null, 512).status(), "the size it knows");
            if (closeFirst) { // the target noticed the dead connection before the initiator came back
                old.close();
                for (int i = 0; i < 500 && !fx.target.connections().isEmpty(); i++) {
                    Thread.sleep(10);
                }
                assertEquals(0, fx.target.connections().size(), "the old connection is closed");
            }
            try (ScsiSession other = new ScsiSession(port, fx.iqn, "iqn.2026-12.io.mayastorj.test:resetter")) {
                other.lunReset(); // closeFirst: while the nexus has no session, into what its old one left
                assertEquals(Bhs.TASK_MANAGEMENT_RESPONSE, other.receive(5000).opcode());
            }
            Thread.sleep(300); // the attention reaches the old connection on its reactor
            disk.growTo(disk.blockCount() * 2); // while the initiator is away

            try (ScsiSession again = new ScsiSession(port, fx.iqn, initiator, 0x4545)) {
                ScsiSession.Result first = again.command(ScsiSession.read16(0, 1), null, 512);
                assertEquals(Sense.UNIT_ATTENTION, first.senseKey(), first.toString());
                assertEquals(Sense.LUN_RESET_OCCURRED, first.ascq(), first.toString());
                ScsiSession.Result second = again.command(readCapacity16(), null, 32);
                assertEquals(Sense.UNIT_ATTENTION, second.senseKey(), second.toString());
                assertEquals(Sense.CAPACITY_DATA_HAS_CHANGED, second.ascq(), second.toString());
                assertEquals(0, again.command(readCapacity16(), null, 32).status());
                again.lunReset(); // left untold at the logout: a logout ends the I_T nexus
                assertEquals(Bhs.TASK_MANAGEMENT_RESPONSE, again.receive(5000).opcode());
                again.logout();
                again.receive(5000);
            }
            try (ScsiSession later = new ScsiSession(port, fx.iqn, initiator, 0x4545)) {
                ScsiSession.Result fresh = later.command(ScsiSession.read16(0, 1), null, 512);
                assertEquals(0, fresh.status(), "nothing left from a session that logged out: " + fresh);
            }
        } finally {
            old.close();
        }
    }

    /**
     * Review finding: sessions closed by a TARGET COLD RESET, and nexuses away at the time, kept what
     * they had not been told from before it. A hard reset clears that (SAM-5): the next session of
     * each nexus is told POWER ON OR RESET, and nothing older.
     */
    @Test
    void aColdResetLeavesEveryNexusTheResetAlone() throws Exception {
        int port = fx.target.address().getPort();
        String away = "iqn.2026-12.io.mayastorj.test:away";
        ScsiSession gone = new ScsiSession(port, fx.iqn, away, 0x4747);
        assertEquals(0, gone.command(ScsiSession.read16(0, 1), null, 512).status());
        try (ScsiSession resetter = new ScsiSession(port, fx.iqn, "iqn.2026-12.io.mayastorj.test:resetter")) {
            resetter.lunReset(); // told to the nexus about to go away
            assertEquals(Bhs.TASK_MANAGEMENT_RESPONSE, resetter.receive(5000).opcode());
            Thread.sleep(300);
            gone.close();
            for (int i = 0; i < 500 && fx.target.connections().size() > 1; i++) {
                Thread.sleep(10);
            }
            resetter.taskManagement(7); // TARGET COLD RESET
            assertEquals(Bhs.TASK_MANAGEMENT_RESPONSE, resetter.receive(5000).opcode());
        }
        try (ScsiSession back = new ScsiSession(port, fx.iqn, away, 0x4747)) {
            ScsiSession.Result first = back.command(ScsiSession.read16(0, 1), null, 512);
            assertEquals(Sense.UNIT_ATTENTION, first.senseKey(), first.toString());
            assertEquals(Sense.POWER_ON_OR_RESET, first.ascq(), "the hard reset, not the LUN reset before it: " + first);
            assertEquals(0, back.command(ScsiSession.read16(0, 1), null, 512).status(), "nothing older");
        } finally {
            gone.close();
        }
    }

    private static byte[] readCapacity16() {
        byte[] cdb = new byte[16];
        cdb[0] = (byte) 0x9E;
        cdb[1] = 0x10; // service action READ CAPACITY (16)
        cdb[13] = 32;  // allocation length
        return cdb;
    }

    /**
     * Review finding: a WRITE SAME takes one block of data and a megabyte of pattern, and only the
     * block counted against the connection's buffer budget: one initiator with WRITE SAMEs at a slow
     * disk held the node's whole pool, and every other volume was answered BUSY. The pattern (and a
     * compare's or a copy's buffer) counts now: past the budget, this initiator is the one told BUSY.
     */
    @Test
    void aWriteSamesPatternCountsAgainstItsConnectionsBudget() throws Exception {
        int port = fx.target.address().getPort();
        try (ScsiSession s = new ScsiSession(port, fx.iqn)) {
            s.command(new byte[6]); // TEST UNIT READY: the session's first unit attention
            disk.hold = true;
            int atBdev = 0;
            int busy = 0;
            for (int i = 0; i < 40; i++) {
                byte[] cdb = new byte[16];
                cdb[0] = (byte) 0x93; // WRITE SAME(16) of one 'S' block over 2048 blocks: a 1 MiB pattern
                java.nio.ByteBuffer.wrap(cdb).putLong(2, (i % 7) * 2048L).putInt(10, 2048); // the disk has 8 MiB
                int itt = s.sendWrite(cdb, 512);
                RawInitiator.Pdu answer = s.receive(5000);
                assertNotNull(answer);
                if (answer.opcode() == Bhs.R2T) { // its block of data is taken; the pattern is made once it is in
                    s.sendHeldData(new ScsiSession.Held(itt, answer.bhs()), blockOf('S'));
                    answer = null;
                    for (int wait = 0; wait < 500 && answer == null && disk.held.size() == atBdev; wait++) {
                        answer = s.receive(10); // its answer (BUSY), or its first chunk at the bdev
                    }
                }
                if (answer == null) {
                    assertEquals(atBdev + 1, disk.held.size(), "at the bdev");
                    atBdev++;
                } else {
                    assertEquals(Bhs.SCSI_RESPONSE, answer.opcode());
                    assertEquals(0x08, answer.bhs().get(3) & 0xFF, "BUSY at " + i + ": " + java.util.HexFormat.of().formatHex(answer.data()));
                    busy++;
                }
            }
            assertEquals(atBdev, disk.held.size());
            assertTrue(atBdev <= IscsiConnection.BUFFER_BUDGET >> 20, atBdev + " patterns of 1 MiB at the bdev");
            assertEquals(40 - atBdev, busy);
            disk.release();
            for (int i = 0; i < atBdev; i++) {
                RawInitiator.Pdu done = s.receive(5000);
                assertNotNull(done, "the held WRITE SAMEs finish");
                assertEquals(0, done.bhs().get(3) & 0xFF);
            }
        }
    }

    /**
     * Review finding: a Logout was answered at once, with a write still at the bdev; RFC 7143 has the
     * commands in progress terminated first. The write landed after the logout, when another host may
     * own the volume already. The Logout Response now waits for it, and the write gets no response.
     */
    @Test
    void aLogoutIsAnsweredOnceItsSessionsWritesAreDone() throws Exception {
        logoutWithAWriteAtTheBdev(300);
    }

    /** A session whose one write (a block of {@code fill}) the disk holds. */
    private ScsiSession sessionWithAWriteAtTheBdev(char fill) throws Exception {
        ScsiSession s = new ScsiSession(fx.target.address().getPort(), fx.iqn);
        try {
            s.command(new byte[6]); // TEST UNIT READY: the session's first unit attention
            disk.hold = true;
            ScsiSession.Held held = s.writeUntilR2t(ScsiSession.write16(0, 1), 512);
            s.sendHeldData(held, blockOf(fill));
            awaitHeld(1, "the write is at the bdev");
            return s;
        } catch (Exception | AssertionError e) {
            s.close();
            throw e;
        }
    }

    /** A session logs out with its write held at the bdev: no answer for {@code silentMillis}, then the Logout Response. */
    private void logoutWithAWriteAtTheBdev(int silentMillis) throws Exception {
        try (ScsiSession s = sessionWithAWriteAtTheBdev('L')) {
            s.logout();
            assertNull(s.receive(silentMillis), "no Logout Response while the write may still land");
            disk.release();
            RawInitiator.Pdu answer = s.receive(5000);
            assertNotNull(answer, "answered once the write is done");
            assertEquals(Bhs.LOGOUT_RESPONSE, answer.opcode(), "no SCSI Response for the terminated write");
            assertEquals(0, answer.bhs().get(2), "closed successfully");
        }
    }

    /**
     * Review finding on the change above: a logged-out connection was closed a NOP timeout after its
     * last PDU, its answer still waiting for a slow write: the initiator saw the connection drop instead
     * of its Logout Response. While the answer waits it stays as long as a write may wait for its data.
     */
    @Test
    void aLogoutWaitingForASlowWriteIsStillAnswered() throws Exception {
        fx.target.nopTimes(60_000, 300); // ends unread after 0.3 s; a waiting answer, after 1.2 s
        try {
            logoutWithAWriteAtTheBdev(700);
        } finally {
            fx.target.nopTimes(10_000, 15_000);
        }
    }

    /**
     * Review finding: a Logout that crossed the target's NOP-In ping on the wire, its answer waiting
     * for a slow write: the initiator's answer to the ping, coming after the Logout, was not looked at,
     * and the connection was closed for an unanswered ping before the Logout Response went out.
     */
    @Test
    void aLogoutThatCrossedAPingIsStillAnswered() throws Exception {
        try (ScsiSession s = sessionWithAWriteAtTheBdev('P')) {
            fx.target.nopTimes(1000, 1500); // set now: no ping goes unanswered before the one this is about
            RawInitiator.Pdu ping = s.receive(10_000);
            assertNotNull(ping, "a ping while idle");
            assertEquals(Bhs.NOP_IN, ping.opcode());
            s.logout();
            s.answerPing(ping); // behind the Logout
            assertNull(s.receive(2500), "no Logout Response while the write may still land, and the connection stays");
            disk.release();
            RawInitiator.Pdu answer = s.receive(5000);
            assertNotNull(answer, "answered once the write is done");
            assertEquals(Bhs.LOGOUT_RESPONSE, answer.opcode());
        } finally {
            fx.target.nopTimes(10_000, 15_000);
        }
    }

    private static byte[] blockOf(char fill) {
        byte[] block = new byte[512];
        Arrays.fill(block, (byte) fill);
        return block;
    }

    /** An EXTENDED COPY list moving block 100 of the session's LUN to its block 0. */
    private static byte[] copyBlock100To0(ScsiSession s) throws java.io.IOException {
        return OptionalCommandsTest.copyList(1, 0, java.util.List.of(s.naa()), OptionalCommandsTest.segment(0, 0, 1, 100, 0));
    }

    private interface CompareScenario {
        void run(ScsiSession writer, ScsiSession atomic, java.util.concurrent.ExecutorService threads) throws Exception;
    }

    /** A writer's session and a second initiator's for compares, the disk holding writes, threads to send on. */
    private void withWriterAndCompare(CompareScenario scenario) throws Exception {
        int port = fx.target.address().getPort();
        try (ScsiSession writer = new ScsiSession(port, fx.iqn);
             ScsiSession atomic = new ScsiSession(port, fx.iqn, "iqn.2026-12.io.mayastorj.test:atomic")) {
            disk.hold = true;
            java.util.concurrent.ExecutorService threads = java.util.concurrent.Executors.newCachedThreadPool();
            try {
                scenario.run(writer, atomic, threads);
            } finally {
                disk.release();
                threads.shutdownNow();
            }
        }
    }

    /** Waits until a connection with a write at the bdev counts new ones in epoch 1 (a compare asked it). */
    private void awaitEpochFlip() throws Exception {
        for (int i = 0; i < 500; i++) {
            boolean flipped = false;
            for (IscsiConnection c : fx.target.connectionsServing(disk)) {
                java.util.concurrent.CompletableFuture<Integer> epoch = new java.util.concurrent.CompletableFuture<>();
                c.reactor().execute(() -> epoch.complete(c.media().writeEpoch()));
                flipped |= epoch.get(5, java.util.concurrent.TimeUnit.SECONDS) == 1;
            }
            if (flipped) {
                return;
            }
            Thread.sleep(10);
        }
        throw new AssertionError("the compare never asked the connections for their writes");
    }

    /** COMPARE AND WRITE of block 0 (its data: the block expected, then the block to write). */
    private static byte[] cawOfBlock0() {
        return java.nio.ByteBuffer.allocate(16).put(0, (byte) 0x89).putLong(2, 0).put(13, (byte) 1).array();
    }

    /** Block 0 expected to hold 'Y', to be written 'W'. */
    private static byte[] data2() {
        byte[] data = new byte[1024];
        Arrays.fill(data, 0, 512, (byte) 'Y');
        Arrays.fill(data, 512, 1024, (byte) 'W');
        return data;
    }

    private void awaitHeld(int writes, String what) throws InterruptedException {
        for (int i = 0; i < 500 && disk.held.size() < writes; i++) {
            Thread.sleep(10);
        }
        assertEquals(writes, disk.held.size(), what);
    }

    /**
     * Review finding: the LUN of a LOGICAL UNIT RESET or ABORT TASK SET was not looked at: one
     * addressed to LUN 1 (which no target has) aborted another session's write on LUN 0 and gave
     * every session a unit attention. It is answered "LUN does not exist", and touches nothing.
     */
    @Test
    void aResetOfALunTheTargetDoesNotHaveTouchesNothing() throws Exception {
        int port = fx.target.address().getPort();
        try (ScsiSession a = new ScsiSession(port, fx.iqn, "iqn.2026-12.test:node-a");
             ScsiSession b = new ScsiSession(port, fx.iqn, "iqn.2026-12.test:node-b")) {
            disk.hold = true;
            ScsiSession.Held write = b.writeUntilR2t(ScsiSession.write16(0, 8), 4096);
            byte[] data = new byte[4096];
            Arrays.fill(data, (byte) 'B');
            b.sendHeldData(write, data);
            awaitHeld(1, "B's write is at the bdev");
            for (int function : new int[] {5, 2}) {
                a.taskManagement(function, 1);
                RawInitiator.Pdu answer = a.receive(5000);
                assertNotNull(answer);
                assertEquals(Bhs.TASK_MANAGEMENT_RESPONSE, answer.opcode());
                assertEquals(2, answer.bhs().get(2), "LUN does not exist (function " + function + ")");
            }
            disk.release();
            RawInitiator.Pdu done = b.receive(5000);
            assertNotNull(done);
            assertEquals(Bhs.SCSI_RESPONSE, done.opcode(), "B's write was not aborted");
            assertEquals(Sense.GOOD, done.bhs().get(3) & 0xFF);
            assertEquals(Sense.GOOD, b.command(new byte[6], null, 0).status(), "no unit attention: nothing was reset");
        }
    }

    @Test
    void anAbortOfAWriteTheBdevHasIsAnsweredOnceTheWriteIsDone() throws Exception {
        try (ScsiSession s = new ScsiSession(fx.target.address().getPort(), fx.iqn)) {
            byte[] old = new byte[4096];
            Arrays.fill(old, (byte) 'O');
            disk.hold = true;
            ScsiSession.Held write = s.writeUntilR2t(ScsiSession.write16(0, 8), old.length);
            s.sendHeldData(write, old);
            abortWaitsForTheWrite(s, write.itt(), "the write is at the bdev");

            byte[] retry = new byte[4096];
            Arrays.fill(retry, (byte) 'R');
            assertEquals(Sense.GOOD, s.command(ScsiSession.write16(0, 8), retry, 0).status());
            ScsiSession.Result read = s.command(ScsiSession.read16(0, 8), null, 4096);
            assertArrayEquals(retry, read.data(), "the retry is what the medium holds");
            assertTrue(disk.held.isEmpty(), "nothing else was held");
        }
    }

    /**
     * Review finding: a TARGET COLD RESET was answered at once and closed the other sessions later,
     * without waiting for their writes: one at the bdev landed after the reset, over what the resetting
     * host wrote once it logged in again. The answer waits for them, as a LOGICAL UNIT RESET's does.
     */
    @Test
    void aColdResetIsAnsweredOnceTheOtherSessionsWritesAreDone() throws Exception {
        int port = fx.target.address().getPort();
        try (ScsiSession a = new ScsiSession(port, fx.iqn, "iqn.2026-12.test:node-a");
             ScsiSession b = new ScsiSession(port, fx.iqn, "iqn.2026-12.test:node-b")) {
            disk.hold = true;
            ScsiSession.Held write = b.writeUntilR2t(ScsiSession.write16(0, 8), 4096);
            b.sendHeldData(write, new byte[4096]);
            awaitHeld(1, "B's write is at the bdev");
            a.taskManagement(7);
            assertNull(a.receive(300), "no answer while B's write may still land");
            disk.release();
            RawInitiator.Pdu answer = a.receive(5000);
            assertNotNull(answer, "answered once B's write is done");
            assertEquals(Bhs.TASK_MANAGEMENT_RESPONSE, answer.opcode());
            assertEquals(0, answer.bhs().get(2), "function complete");
            assertThrows(java.io.IOException.class, () -> a.receive(5000), "then its own session goes");
            assertThrows(java.io.IOException.class, () -> b.receive(5000), "and B's");
        }
    }

    /**
     * Review finding: a LOGICAL UNIT RESET aborted only the resetting session's tasks, and was answered
     * while another session's write was still at the bdev — it landed after the reset, over what the
     * resetting host wrote next. Every session's tasks are aborted, and the answer waits for them.
     */
    @Test
    void aLunResetAbortsEverySessionsTasksAndWaitsForTheirWrites() throws Exception {
        int port = fx.target.address().getPort();
        try (ScsiSession a = new ScsiSession(port, fx.iqn, "iqn.2026-12.test:node-a");
             ScsiSession b = new ScsiSession(port, fx.iqn, "iqn.2026-12.test:node-b")) {
            byte[] late = new byte[4096];
            Arrays.fill(late, (byte) 'L');
            disk.hold = true;
            ScsiSession.Held write = b.writeUntilR2t(ScsiSession.write16(0, 8), late.length);
            b.sendHeldData(write, late);
            for (int i = 0; i < 500 && disk.held.isEmpty(); i++) {
                Thread.sleep(10);
            }
            assertEquals(1, disk.held.size(), "B's write is at the bdev");
            a.lunReset();
            assertNull(a.receive(300), "no answer while B's write may still land");
            disk.release();
            RawInitiator.Pdu answer = a.receive(5000);
            assertNotNull(answer, "answered once B's write is done");
            assertEquals(Bhs.TASK_MANAGEMENT_RESPONSE, answer.opcode());
            assertEquals(0, answer.bhs().get(2), "function complete");
            assertNull(b.receive(300), "B's aborted write gets no SCSI Response");
            // B's error handling asks to abort it: done (not "no such task", which Linux escalates to a reset of its own)
            b.abortTask(write.itt());
            RawInitiator.Pdu abort = b.receive(5000);
            assertNotNull(abort);
            assertEquals(Bhs.TASK_MANAGEMENT_RESPONSE, abort.opcode());
            assertEquals(0, abort.bhs().get(2), "function complete");
        }
    }

    /**
     * Review finding: a LOGICAL UNIT RESET ended the SPC-2 reservation at once, while the holder's
     * aborted write was still at the bdev: a third host reserved and wrote, and the holder's write
     * landed over it (the close of a session waits for its writes before it releases). The
     * reservation ends once the writes are done, just before the reset is answered.
     */
    @Test
    void aResetEndsTheReservationOnlyOnceTheHoldersWritesAreDone() throws Exception {
        int port = fx.target.address().getPort();
        try (ScsiSession a = new ScsiSession(port, fx.iqn, "iqn.2026-12.test:node-a");
             ScsiSession b = new ScsiSession(port, fx.iqn, "iqn.2026-12.test:node-b");
             ScsiSession c = new ScsiSession(port, fx.iqn, "iqn.2026-12.test:node-c")) {
            heldWriteOfAReserverThenAReset(a, c);
            assertEquals(0x18, reserveAfterAnyUnitAttention(b).status(),
                    "A's reservation holds while its write may land: B may not reserve");
            disk.release();
            RawInitiator.Pdu answer = c.receive(5000);
            assertNotNull(answer, "answered once A's write is done");
            assertEquals(0, answer.bhs().get(2), "function complete");
            assertEquals(Sense.GOOD, reserveAfterAnyUnitAttention(b).status(), "the reset ended A's reservation");
        }
    }

    /**
     * Review finding (of the fix above): the reset ended whatever SPC-2 reservation there was once the
     * writes were done, also one the holder took again after hearing of the reset (a cluster defends
     * its disk so): dropped unsaid, another host reserved and wrote while the holder believed it held
     * the disk. A reservation taken after the reset stays.
     */
    @Test
    void aReservationTakenAgainAfterTheResetStays() throws Exception {
        int port = fx.target.address().getPort();
        try (ScsiSession a = new ScsiSession(port, fx.iqn, "iqn.2026-12.test:node-a");
             ScsiSession b = new ScsiSession(port, fx.iqn, "iqn.2026-12.test:node-b");
             ScsiSession c = new ScsiSession(port, fx.iqn, "iqn.2026-12.test:node-c")) {
            heldWriteOfAReserverThenAReset(a, c);
            assertEquals(Sense.GOOD, reserveAfterAnyUnitAttention(a).status(), "A, told of the reset, reserves again");
            disk.release();
            RawInitiator.Pdu answer = c.receive(5000);
            assertNotNull(answer, "answered once A's write is done");
            assertEquals(0x18, reserveAfterAnyUnitAttention(b).status(), "A's new reservation stands");
        }
    }

    /**
     * Review finding: on a device without a flush (nothing volatile to write back: a plugin's), a
     * SYNCHRONIZE CACHE failed with its UNSUPPORTED, and a FUA write too, after its data had landed;
     * the NVMe target answers both as done. So does this one now.
     */
    @Test
    void aDeviceWithoutAFlushIsSynchronizedAlready() throws Exception {
        disk.noFlush = true;
        try (ScsiSession s = new ScsiSession(fx.target.address().getPort(), fx.iqn)) {
            ScsiSession.Result sync = s.command(new byte[] {0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0});
            assertEquals(Sense.GOOD, sync.status(), sync.toString());
            byte[] fua = {0x2A, 0x08, 0, 0, 0, 0, 0, 0, 1, 0}; // WRITE(10), FUA, LBA 0, one block
            ScsiSession.Result written = s.command(fua, new byte[512], 0);
            assertEquals(Sense.GOOD, written.status(), written.toString());
        }
    }

    /** A reserves and has a write at the bdev (held); C sends a LOGICAL UNIT RESET, unanswered while it is. */
    private void heldWriteOfAReserverThenAReset(ScsiSession a, ScsiSession c) throws Exception {
        assertEquals(Sense.GOOD, reserveAfterAnyUnitAttention(a).status(), "A reserves");
        disk.hold = true;
        ScsiSession.Held write = a.writeUntilR2t(ScsiSession.write16(0, 8), 4096);
        a.sendHeldData(write, new byte[4096]);
        awaitHeld(1, "A's write is at the bdev");
        c.lunReset();
        assertNull(c.receive(300), "no answer while A's write may still land");
    }

    /** RESERVE(6), sent again when the first answer is the reset's unit attention. */
    private static ScsiSession.Result reserveAfterAnyUnitAttention(ScsiSession s) throws java.io.IOException {
        byte[] reserve = {0x16, 0, 0, 0, 0, 0};
        ScsiSession.Result r = s.command(reserve);
        return r.status() == Sense.CHECK_CONDITION && r.senseKey() == Sense.UNIT_ATTENTION ? s.command(reserve) : r;
    }

    /**
     * Review finding: a task management request sent without the I bit took no CmdSN, so every
     * command after it (with the next CmdSN) was dropped as out of order and the session hung. It
     * takes one now, as RFC 7143 has it.
     */
    @Test
    void aTaskManagementRequestSentInOrderTakesItsCmdSn() throws Exception {
        try (ScsiSession s = new ScsiSession(fx.target.address().getPort(), fx.iqn)) {
            s.abortTaskInOrder(0x7777);
            RawInitiator.Pdu answer = s.receive(5000);
            assertNotNull(answer);
            assertEquals(Bhs.TASK_MANAGEMENT_RESPONSE, answer.opcode());
            assertEquals(1, answer.bhs().get(2), "no such task");
            assertEquals(Sense.GOOD, s.command(new byte[] {0x00, 0, 0, 0, 0, 0}).status(), "a TEST UNIT READY after it runs");
        }
    }

    /**
     * Review finding: a COMPARE AND WRITE's write step (and a FUA flush after a write) went to the
     * bdev with the task marked as not there, so an ABORT TASK freed its buffers at once — the
     * bdev still writing from one, which the next command could be given — and answered at once.
     */
    @Test
    void anAbortOfACompareAndWriteInItsWriteStepWaitsForTheWrite() throws Exception {
        try (ScsiSession s = new ScsiSession(fx.target.address().getPort(), fx.iqn)) {
            byte[] data = new byte[1024]; // compare with the zeros there, then write 'N'
            Arrays.fill(data, 512, 1024, (byte) 'N');
            disk.hold = true;
            byte[] caw = cawOfBlock0();
            ScsiSession.Held write = s.writeUntilR2t(caw, data.length);
            s.sendHeldData(write, data);
            abortWaitsForTheWrite(s, write.itt(), "the compare matched and the write is at the bdev");
        }
    }
}
