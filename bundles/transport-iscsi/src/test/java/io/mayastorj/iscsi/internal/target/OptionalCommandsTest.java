package io.mayastorj.iscsi.internal.target;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.internal.bdev.MallocBdevFactory;
import io.mayastorj.core.transport.ShareOptions;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.TreeSet;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The optional commands, byte by byte over a real session: REPORT SUPPORTED OPERATION CODES against
 * what the dispatcher actually serves, EXTENDED COPY between two LUNs of the target checked block
 * by block (libiscsi's suite copies only within one LUN), and its refusals.
 */
class OptionalCommandsTest {

    private static final int BLOCK = 512;
    private IscsiFixture fx;
    private BlockDevice second;

    @BeforeEach
    void setUp() throws Exception {
        fx = new IscsiFixture("xsource", 8);
        second = new MallocBdevFactory().create(BdevUri.parse("malloc:///xdest?size_mb=8&blk_size=512"));
        fx.target.share(second, ShareOptions.DEFAULT);
    }

    @AfterEach
    void tearDown() throws InterruptedException {
        if (fx != null) {
            for (int i = 0; i < 300 && !fx.target.connections().isEmpty(); i++) {
                Thread.sleep(10); // the sessions' ends reach the target
            }
            fx.target.unshare(second);
            second.close();
            long inUse = fx.buffers.stats().classes().stream().mapToLong(c -> c.inUse()).sum();
            fx.close();
            assertEquals(0, inUse, "buffers leaked");
        }
    }

    private ScsiSession session(String iqn) throws Exception {
        return new ScsiSession(fx.target.address().getPort(), iqn);
    }

    /**
     * Review finding: an INQUIRY to a LUN with no logical unit was answered CHECK CONDITION; SPC-4
     * §6.6.2 says standard INQUIRY data with peripheral qualifier 011b and type 1Fh ("none here"),
     * which hosts scanning LUN by LUN expect. REPORT LUNS may be sent to any LUN, REQUEST SENSE there
     * answers GOOD with the sense data as its data; other commands fail as LOGICAL UNIT NOT SUPPORTED.
     */
    @Test
    void aLunWithNoLogicalUnitAnswersInquiryAndReportLuns() throws Exception {
        try (ScsiSession s = session(fx.iqn)) {
            ScsiSession.Result none = s.command(1, new byte[] {0x12, 0, 0, 0, 96, 0}, null, 96);
            assertEquals(0, none.status(), none.toString());
            assertEquals(0x7F, none.data()[0] & 0xFF, "peripheral qualifier 011b, device type 1Fh");
            byte[] luns = new byte[12];
            luns[0] = (byte) 0xA0;
            luns[9] = 16; // allocation length
            ScsiSession.Result report = s.command(1, luns, null, 16);
            assertEquals(0, report.status(), report.toString());
            assertEquals(8, java.nio.ByteBuffer.wrap(report.data()).getInt(0), "one LUN listed: 0");
            ScsiSession.Result sense = s.command(1, new byte[] {0x03, 0, 0, 0, 18, 0}, null, 18);
            assertEquals(0, sense.status(), "REQUEST SENSE there: GOOD, " + sense);
            assertEquals(0x05, sense.data()[2] & 0x0F, "its data: ILLEGAL REQUEST");
            assertEquals(0x25, sense.data()[12] & 0xFF, "LOGICAL UNIT NOT SUPPORTED");
            ScsiSession.Result read = s.command(1, ScsiSession.read16(0, 1), null, 512);
            assertEquals(io.mayastorj.iscsi.internal.scsi.Sense.ILLEGAL_REQUEST, read.senseKey(), read.toString());
            assertEquals(io.mayastorj.iscsi.internal.scsi.Sense.LOGICAL_UNIT_NOT_SUPPORTED, read.ascq(), read.toString());
        }
    }

    /**
     * Review finding: only bytes 0-1 of the LUN field were read, and the address method's bits dropped:
     * a second-level LUN (bytes 2-3), or a LUN in the logical unit or extended addressing methods, was
     * served as LUN 0 — a write meant for another logical unit landed on this volume.
     */
    @Test
    void aLunFieldNamingAnotherLogicalUnitAnywhereInItsEightBytesIsNotLunZero() throws Exception {
        try (ScsiSession s = session(fx.iqn)) {
            long writes = fx.disk.stats().writeOps();
            byte[][] others = {
                    {0, 0, 0, 1, 0, 0, 0, 0}, // LUN 0, then second level LUN 1
                    {0, 0, 0, 0, 0, 0, 0, 1},
                    {(byte) 0x80, 0, 0, 0, 0, 0, 0, 0}, // logical unit addressing
                    {(byte) 0xC0, 0, 0, 0, 0, 0, 0, 0}, // extended addressing
            };
            byte[] write = {0x2A, 0, 0, 0, 0, 0, 0, 0, 1, 0}; // WRITE(10), LBA 0, one block
            for (byte[] lun : others) {
                ScsiSession.Result r = s.command(lun, write, new byte[BLOCK], 0);
                assertEquals(io.mayastorj.iscsi.internal.scsi.Sense.ILLEGAL_REQUEST, r.senseKey(), java.util.Arrays.toString(lun));
                assertEquals(io.mayastorj.iscsi.internal.scsi.Sense.LOGICAL_UNIT_NOT_SUPPORTED, r.ascq(), r.toString());
            }
            assertEquals(writes, fx.disk.stats().writeOps(), "nothing written");
            assertEquals(0, s.command(new byte[] {0x40, 0, 0, 0, 0, 0, 0, 0}, write, new byte[BLOCK], 0).status(),
                    "LUN 0 in flat addressing is LUN 0");
        }
    }

    /** Review finding: WRITE AND VERIFY was acknowledged from the volatile cache (WCE is on): it writes to the medium. */
    @Test
    void writeAndVerifyIsDurableBeforeItsStatus() throws Exception {
        try (ScsiSession s = session(fx.iqn)) {
            long flushes = fx.disk.stats().flushOps();
            byte[] cdb = new byte[10];
            cdb[0] = 0x2E; // WRITE AND VERIFY(10), LBA 0, one block, BYTCHK 0
            cdb[8] = 1;
            assertEquals(0, s.command(cdb, new byte[BLOCK], 0).status());
            assertEquals(flushes + 1, fx.disk.stats().flushOps(), "flushed before GOOD");
        }
    }

    /**
     * Review finding: WRITE SAME filled the blocks of the buffer it asked for with the pattern, then
     * wrote as many blocks as the buffer it was given holds; the pool hands out a larger buffer when
     * the size asked for has none free, and the rest of it (another transfer's data) was written.
     */
    @Test
    void writeSameWritesThePatternAlsoFromALargerBufferThanItAskedFor() throws Exception {
        try (ScsiSession s = session(fx.iqn)) {
            byte[] one = new byte[10];
            one[0] = 0x2A; // WRITE(10) of one block: the buffers of the small sizes it takes are carved now
            one[8] = 1;
            assertEquals(0, s.command(one, new byte[BLOCK], 0).status());
            DmaBuffer dirty = fx.buffers.allocate(2 << 20);
            for (int i = 0; i < dirty.capacity(); i++) {
                dirty.bytes().put(i, (byte) 0xAA);
            }
            dirty.release();
            List<DmaBuffer> held = new ArrayList<>(); // the 1 MiB buffers, until the pool offers the dirty 2 MiB one
            while (true) {
                DmaBuffer b = fx.buffers.allocate(1 << 20);
                if (b == null || b.capacity() > (1 << 20)) {
                    if (b != null) {
                        b.release();
                    }
                    break;
                }
                held.add(b);
            }
            byte[] block = new byte[BLOCK];
            Arrays.fill(block, (byte) 0x5A);
            byte[] cdb = new byte[16];
            cdb[0] = (byte) 0x93; // WRITE SAME(16), LBA 0
            ByteBuffer.wrap(cdb).putInt(10, 4096); // 2 MiB of 512-byte blocks: more than one 1 MiB chunk
            ScsiSession.Result written = s.command(cdb, block, 0);
            held.forEach(DmaBuffer::release);
            assertEquals(0, written.status(), written.toString());
            for (int from = 0; from < 4096; from += 2048) {
                byte[] read = new byte[16];
                read[0] = (byte) 0x88; // READ(16)
                ByteBuffer.wrap(read).putLong(2, from).putInt(10, 2048);
                ScsiSession.Result r = s.command(read, null, 2048 * BLOCK);
                assertEquals(0, r.status(), r.toString());
                for (int i = 0; i < r.data().length; i++) {
                    if (r.data()[i] != 0x5A) {
                        throw new AssertionError("byte " + (from * BLOCK + i) + " is " + (r.data()[i] & 0xFF) + ", not the pattern");
                    }
                }
            }
        }
    }

    /**
     * Every opcode, and every service action of the opcodes that have them, sent with a CDB of
     * zeros otherwise: exactly those REPORT SUPPORTED OPERATION CODES lists are served (anything but
     * INVALID COMMAND OPERATION CODE, or INVALID FIELD IN CDB at the service action), and the report
     * for one command agrees with the list.
     */
    @Test
    void theReportListsExactlyTheCommandsTheTargetServes() throws Exception {
        try (ScsiSession s = session(fx.iqn)) {
            ScsiSession.Result all = s.command(rsoc(0, 0, 0), null, 65536);
            assertEquals(0, all.status(), all.toString());
            ByteBuffer list = ByteBuffer.wrap(all.data());
            assertEquals(all.data().length - 4, list.getInt(0));
            TreeSet<Integer> reported = new TreeSet<>();
            TreeSet<Integer> withActions = new TreeSet<>();
            for (int at = 4; at < all.data().length; at += 8) {
                int opcode = list.get(at) & 0xFF;
                boolean servactv = (list.get(at + 5) & 0x01) != 0;
                reported.add(opcode << 8 | (servactv ? list.getShort(at + 2) & 0xFFFF : 0));
                if (servactv) {
                    withActions.add(opcode);
                }
            }
            TreeSet<Integer> served = new TreeSet<>();
            for (int opcode = 0; opcode < 256; opcode++) {
                int actions = withActions.contains(opcode) ? 32 : 1;
                for (int sa = 0; sa < actions; sa++) {
                    byte[] cdb = new byte[16];
                    cdb[0] = (byte) opcode;
                    cdb[1] = (byte) sa;
                    ScsiSession.Result r = s.command(cdb);
                    boolean refused = r.status() == 2 && r.senseKey() == 5
                            && (r.ascq() == 0x2000 || withActions.contains(opcode) && r.ascq() == 0x2400 && r.sense()[16] == 0
                                && r.sense()[17] == 1);
                    if (!refused) {
                        served.add(opcode << 8 | sa);
                    }
                }
            }
            assertEquals(reported, served, "reported (opcode << 8 | service action) vs served");

            for (int key : reported) {
                int opcode = key >>> 8;
                boolean actions = withActions.contains(opcode);
                ScsiSession.Result one = s.command(rsoc(actions ? 2 : 1, opcode, key & 0xFF), null, 512);
                assertEquals(0, one.status(), Integer.toHexString(key) + ": " + one);
                assertEquals(0x03, one.data()[1] & 0x07, "SUPPORT: as the standard says");
                assertEquals(opcode, one.data()[4] & 0xFF, "usage data begins with the opcode");
                ScsiSession.Result wrong = s.command(rsoc(actions ? 1 : 2, opcode, key & 0xFF), null, 512);
                assertEquals(0x2400, wrong.ascq(), "the other reporting option is refused for " + Integer.toHexString(key));
            }
            ScsiSession.Result unknown = s.command(rsoc(1, 0xC0, 0), null, 512);
            assertEquals(0x01, unknown.data()[1] & 0x07, "a vendor opcode: SUPPORT 001b, not supported");
        }
    }

    /**
     * Review findings: UNMAP's limit (MAXIMUM UNMAP LBA COUNT, SBC-3) is for the whole list, and was
     * checked per descriptor only — 256 descriptors of the limit each were taken as one command; and a
     * transfer over the limit named byte 7 as the bad field whatever the CDB's size.
     */
    @Test
    void unmapCountsTheWholeListAgainstItsLimitAndATooLongTransferNamesItsOwnLengthField() throws Exception {
        BlockDevice big = new io.mayastorj.core.internal.bdev.NullBdevFactory().create(BdevUri.parse("null:///big?size_mb=2048"));
        fx.target.share(big, ShareOptions.DEFAULT);
        try (ScsiSession s = session(IscsiTarget.iqn(big))) {
            int limit = io.mayastorj.iscsi.internal.scsi.ScsiLun.MAX_UNMAP_BLOCKS;
            ScsiSession.Result within = s.command(unmap(0, limit / 2, limit, limit / 2), unmapList(0, limit / 2, limit, limit / 2), 0);
            assertEquals(0, within.status(), within.toString());
            ScsiSession.Result over = s.command(unmap(0, limit / 2, limit, limit / 2 + 1),
                    unmapList(0, limit / 2, limit, limit / 2 + 1), 0);
            assertEquals(2, over.status(), over.toString());
            assertEquals(0x2600, over.ascq(), "INVALID FIELD IN PARAMETER LIST");

            int blocks = io.mayastorj.iscsi.internal.scsi.ScsiLun.MAX_TRANSFER_BYTES / BLOCK + 1;
            ScsiSession.Result tooLong = s.command(ScsiSession.read16(0, blocks), null, blocks * BLOCK);
            assertEquals(0x2400, tooLong.ascq(), tooLong.toString());
            assertEquals(10, tooLong.sense()[17], "READ(16)'s TRANSFER LENGTH starts at byte 10");
            byte[] read10 = {0x28, 0, 0, 0, 0, 0, 0, (byte) (blocks >> 8), (byte) blocks, 0};
            assertEquals(7, s.command(read10, null, blocks * BLOCK).sense()[17]);
        } finally {
            fx.target.unshare(big);
            big.close();
        }
    }

    /** Review finding: SYNCHRONIZE CACHE's range was not checked; a range off the medium is LBA OUT OF RANGE (SBC-4 §5.29) and flushes nothing. */
    @Test
    void synchronizeCacheRefusesARangeOffTheMedium() throws Exception {
        long blocks = 8L * 1024 * 1024 / BLOCK;
        try (ScsiSession s = session(fx.iqn)) {
            long flushes = fx.disk.stats().flushOps();
            byte[] whole = {0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0}; // LBA 0, 0 blocks: to the end
            assertEquals(0, s.command(whole, null, 0).status());
            byte[] last = sync16(blocks - 1, 1);
            assertEquals(0, s.command(last, null, 0).status());
            assertEquals(flushes + 2, fx.disk.stats().flushOps());

            ScsiSession.Result past = s.command(sync16(blocks - 1, 2), null, 0);
            assertEquals(2, past.status(), past.toString());
            assertEquals(0x2100, past.ascq(), "LOGICAL BLOCK ADDRESS OUT OF RANGE");
            byte[] beyond = {0x35, 0, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, 0, 0, 0, 0};
            assertEquals(0x2100, s.command(beyond, null, 0).ascq());
            assertEquals(0x2100, s.command(sync16(blocks, 0), null, 0).ascq(), "just past the last block, to the end");
            assertEquals(flushes + 2, fx.disk.stats().flushOps(), "a refused range flushes nothing");
        }
    }

    private static byte[] sync16(long lba, int blocks) {
        ByteBuffer cdb = ByteBuffer.allocate(16);
        cdb.put(0, (byte) 0x91).putLong(2, lba).putInt(10, blocks);
        return cdb.array();
    }

    private static byte[] unmap(long... ranges) {
        int length = 8 + 16 * (ranges.length / 2);
        return new byte[] {0x42, 0, 0, 0, 0, 0, 0, (byte) (length >> 8), (byte) length, 0};
    }

    /** UNMAP's parameter list: pairs of LBA and block count. */
    private static byte[] unmapList(long... ranges) {
        ByteBuffer list = ByteBuffer.allocate(8 + 16 * (ranges.length / 2));
        list.putShort(0, (short) (list.capacity() - 2)).putShort(2, (short) (list.capacity() - 8));
        for (int i = 0; i < ranges.length / 2; i++) {
            list.putLong(8 + 16 * i, ranges[2 * i]).putInt(16 + 16 * i, (int) ranges[2 * i + 1]);
        }
        return list.array();
    }

    /** EXTENDED COPY from one LUN to another: two segments, every block compared, the status kept for RECEIVE COPY RESULTS. */
    @Test
    void extendedCopyMovesBlocksBetweenTwoLunsWithoutTheInitiator() throws Exception {
        String destination = IscsiTarget.iqn(second);
        try (ScsiSession src = session(fx.iqn); ScsiSession dst = session(destination)) {
            byte[] pattern = write(src, 4096, 7);
            byte[] before = read(dst, 0, 8192);

            byte[] parameters = copyList(5, 0, List.of(src.naa(), dst.naa()),
                    segment(0, 1, 2048, 0, 100), segment(0, 1, 1000, 3000, 5000));
            ScsiSession.Result copy = src.command(xcopy(parameters.length), parameters, 0);
            assertEquals(0, copy.status(), copy.toString());

            byte[] after = read(dst, 0, 8192);
            byte[] expected = before.clone();
            System.arraycopy(pattern, 0, expected, 100 * BLOCK, 2048 * BLOCK);
            System.arraycopy(pattern, 3000 * BLOCK, expected, 5000 * BLOCK, 1000 * BLOCK);
            for (int lba = 0; lba < 8192; lba++) {
                assertTrue(Arrays.equals(expected, lba * BLOCK, (lba + 1) * BLOCK, after, lba * BLOCK, (lba + 1) * BLOCK),
                        "destination block " + lba);
            }

            ScsiSession.Result status = src.command(receiveCopyResults(0x00, 5), null, 1024);
            assertEquals(0, status.status(), status.toString());
            ByteBuffer b = ByteBuffer.wrap(status.data());
            assertEquals(0x01, b.get(4), "completed without errors");
            assertEquals(2, b.getShort(5), "segments processed");
            assertEquals(3048L * BLOCK, b.getInt(8) & 0xFFFFFFFFL, "bytes copied");
            assertEquals(0x2400, src.command(receiveCopyResults(0x00, 6), null, 1024).ascq(), "no copy with list id 6");
        }
    }

    /**
     * Review finding: EXTENDED COPY found its targets among every LUN the node shares, so an
     * initiator admitted only to one could copy another target's blocks into it (and read them),
     * past that target's allowed initiators and CHAP.
     */
    @Test
    void extendedCopyReachesNoTargetTheInitiatorIsNotAdmittedTo() throws Exception {
        BlockDevice secret = new MallocBdevFactory().create(BdevUri.parse("malloc:///xsecret?size_mb=1&blk_size=512"));
        String other = "iqn.2026-12.example:other";
        fx.target.share(secret, new ShareOptions(List.of(other), java.util.Map.of()));
        try {
            byte[] secretNaa;
            try (ScsiSession owner = new ScsiSession(fx.target.address().getPort(), IscsiTarget.iqn(secret), other)) {
                write(owner, 8, 3);
                secretNaa = owner.naa();
            }
            try (ScsiSession s = session(fx.iqn)) {
                byte[] before = read(s, 0, 8);
                byte[] parameters = copyList(7, 0, List.of(secretNaa, s.naa()), segment(0, 1, 8, 0, 0));
                ScsiSession.Result copy = s.command(xcopy(parameters.length), parameters, 0);
                assertEquals(2, copy.status(), copy.toString());
                assertEquals(io.mayastorj.iscsi.internal.scsi.Sense.UNREACHABLE_COPY_TARGET, copy.ascq());
                assertArrayEquals(before, read(s, 0, 8), "nothing of the other target's came over");
            }
        } finally {
            for (int i = 0; i < 300 && !fx.target.connections().isEmpty(); i++) {
                Thread.sleep(10);
            }
            fx.target.unshare(secret);
            secret.close();
        }
    }

    /** Source and destination overlap on one LUN, destination after the source: copied as a memmove would. */
    @Test
    void anOverlappingCopyOnOneLunIsAMemmove() throws Exception {
        try (ScsiSession s = session(fx.iqn)) {
            byte[] pattern = write(s, 4096, 11);
            byte[] parameters = copyList(1, 2, List.of(s.naa()), segment(0, 0, 3000, 0, 1024)); // two runs of up to 1 MiB
            ScsiSession.Result copy = s.command(xcopy(parameters.length), parameters, 0);
            assertEquals(0, copy.status(), copy.toString());
            assertArrayEquals(Arrays.copyOfRange(pattern, 0, 3000 * BLOCK), Arrays.copyOfRange(read(s, 0, 4096), 1024 * BLOCK,
                    4024 * BLOCK), "blocks 0-2999 now at 1024-4023");
        }
    }

    /** A copy target this node does not serve, and a segment past the end: COPY ABORTED, and no block moved. */
    @Test
    void aCopyThatCannotCompleteIsAbortedBeforeAnyBlockMoves() throws Exception {
        try (ScsiSession s = session(fx.iqn)) {
            byte[] before = write(s, 64, 13);
            byte[] stranger = new byte[16];
            stranger[0] = 0x60;
            stranger[15] = 0x42;
            byte[] parameters = copyList(1, 0, List.of(s.naa(), stranger), segment(0, 0, 8, 32, 0), segment(0, 1, 8, 0, 0));
            ScsiSession.Result r = s.command(xcopy(parameters.length), parameters, 0);
            assertEquals(2, r.status());
            assertEquals(0x0A, r.senseKey(), "COPY ABORTED");
            assertEquals(0x0804, r.ascq(), "UNREACHABLE COPY TARGET");
            assertEquals(16 + 2 * 32 + 28, ByteBuffer.wrap(r.sense()).getShort(16), "the segment pointer: the second segment");

            parameters = copyList(1, 0, List.of(s.naa()), segment(0, 0, 8, 32, 0), segment(0, 0, 8, 0, 8L * 2048 * 1024 / BLOCK - 4));
            r = s.command(xcopy(parameters.length), parameters, 0);
            assertEquals(0x0A, r.senseKey(), "past the end: " + r);
            assertArrayEquals(before, read(s, 0, 64), "the first segment did not run");

            parameters = copyList(1, 0, List.of(s.naa()), segment(0, 0, 8, 0, 8));
            parameters[16] = (byte) 0xE0; // a CSCD type this copy manager lacks
            r = s.command(xcopy(parameters.length), parameters, 0);
            assertEquals(0x2607, r.ascq(), "UNSUPPORTED TARGET DESCRIPTOR TYPE CODE: " + r);
            assertEquals(16, ByteBuffer.wrap(r.sense()).getShort(16), "pointing at the descriptor");
            assertNotEquals(0, r.sense()[15] & 0x80, "SKSV");
        }
    }

    /** Random blocks written from LBA 0, returned. */
    private static byte[] write(ScsiSession s, int blocks, long seed) throws Exception {
        byte[] pattern = new byte[blocks * BLOCK];
        new Random(seed).nextBytes(pattern);
        for (int lba = 0; lba < blocks; lba += 2048) {
            int n = Math.min(2048, blocks - lba);
            ScsiSession.Result w = s.command(ScsiSession.write16(lba, n), Arrays.copyOfRange(pattern, lba * BLOCK, (lba + n) * BLOCK), 0);
            assertEquals(0, w.status(), w.toString());
        }
        return pattern;
    }

    /** Blocks from {@code lba}, in reads of at most the target's maximum transfer (1 MiB). */
    private static byte[] read(ScsiSession s, long lba, int blocks) throws Exception {
        byte[] all = new byte[blocks * BLOCK];
        for (int at = 0; at < blocks; at += 2048) {
            int n = Math.min(2048, blocks - at);
            ScsiSession.Result r = s.command(ScsiSession.read16(lba + at, n), null, n * BLOCK);
            assertEquals(0, r.status(), r.toString());
            System.arraycopy(r.data(), 0, all, at * BLOCK, n * BLOCK);
        }
        return all;
    }

    // ---------------------------------------------------------------- CDBs and parameter lists

    private static byte[] rsoc(int options, int opcode, int serviceAction) {
        return new byte[] {(byte) 0xA3, 0x0C, (byte) options, (byte) opcode, (byte) (serviceAction >>> 8), (byte) serviceAction,
                0, 1, 0, 0, 0, 0};
    }

    static byte[] xcopy(int length) {
        return ByteBuffer.allocate(16).put(0, (byte) 0x83).putInt(10, length).array();
    }

    private static byte[] receiveCopyResults(int serviceAction, int listId) {
        return ByteBuffer.allocate(16).put(0, (byte) 0x84).put(1, (byte) serviceAction).put(2, (byte) listId)
                .putInt(10, 1024).array();
    }

    /** An EXTENDED COPY (LID1) parameter list: identification CSCDs for these NAA designators, then the segments. */
    static byte[] copyList(int listId, int usage, List<byte[]> naas, byte[]... segments) {
        int segmentBytes = segments.length * 28;
        ByteBuffer b = ByteBuffer.allocate(16 + naas.size() * 32 + segmentBytes);
        b.put(0, (byte) listId).put(1, (byte) (usage << 3)).putShort(2, (short) (naas.size() * 32)).putInt(8, segmentBytes);
        int at = 16;
        for (byte[] naa : naas) {
            b.put(at, (byte) 0xE4).put(at + 4, (byte) 0x01).put(at + 5, (byte) 0x03).put(at + 7, (byte) naa.length);
            b.put(at + 8, naa);
            b.put(at + 30, (byte) (BLOCK >>> 8)).put(at + 31, (byte) BLOCK);
            at += 32;
        }
        List<byte[]> all = new ArrayList<>(List.of(segments));
        for (byte[] s : all) {
            b.put(at, s);
            at += 28;
        }
        return b.array();
    }

    static byte[] segment(int source, int destination, int blocks, long sourceLba, long destinationLba) {
        return ByteBuffer.allocate(28).put(0, (byte) 0x02).putShort(2, (short) 0x18).putShort(4, (short) source)
                .putShort(6, (short) destination).putShort(10, (short) blocks).putLong(12, sourceLba)
                .putLong(20, destinationLba).array();
    }
}
