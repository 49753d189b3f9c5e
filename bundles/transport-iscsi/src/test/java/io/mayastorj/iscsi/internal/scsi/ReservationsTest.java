package io.mayastorj.iscsi.internal.scsi;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class ReservationsTest {

    private static final String A = "iqn.2026-11.test:a,i,0x23d000000001";
    private static final String B = "iqn.2026-11.test:b,i,0x23d000000002";
    private static final String C = "iqn.2026-11.test:c,i,0x23d000000003";

    private final List<String> attentions = new ArrayList<>();
    private final Reservations pr = new Reservations((nexus, ascq) -> attentions.add(nexus + " " + Integer.toHexString(ascq)));

    private static final byte[] READ_10 = cdb(ScsiLun.READ_10);
    private static final byte[] WRITE_10 = cdb(ScsiLun.WRITE_10);

    private static byte[] cdb(int opcode) {
        byte[] cdb = new byte[16];
        cdb[0] = (byte) opcode;
        return cdb;
    }

    private int out(String nexus, int action, int type, long key, long actionKey) throws ScsiLun.Check {
        return out(nexus, action, type, key, actionKey, 0, Reservations.PARAMETER_LIST_LENGTH);
    }

    private int out(String nexus, int action, int type, long key, long actionKey, int flags, int length) throws ScsiLun.Check {
        return out(pr, nexus, action, type, key, actionKey, flags, length);
    }

    private static int out(Reservations pr, String nexus, int action, int type, long key, long actionKey, int flags, int length)
            throws ScsiLun.Check {
        byte[] cdb = cdb(ScsiLun.PERSISTENT_RESERVE_OUT);
        cdb[1] = (byte) action;
        cdb[2] = (byte) type;
        ByteBuffer.wrap(cdb).putInt(5, length);
        ByteBuffer list = ByteBuffer.allocate(Reservations.PARAMETER_LIST_LENGTH).putLong(0, key).putLong(8, actionKey).put(20, (byte) flags);
        return pr.out(nexus, cdb, list, length);
    }

    private ByteBuffer in(int action) throws ScsiLun.Check {
        return in(pr, action);
    }

    private static ByteBuffer in(Reservations pr, int action) throws ScsiLun.Check {
        byte[] cdb = cdb(ScsiLun.PERSISTENT_RESERVE_IN);
        cdb[1] = (byte) action;
        return ByteBuffer.wrap(pr.in(cdb));
    }

    private static int ascq(ScsiLun.Check c) {
        return Sense.key(c.sense()) << 16 | Sense.ascq(c.sense());
    }

    @Test
    void registrationsAreListedWithTheGenerationAndOnlyAGoodRegisterAdvancesIt() throws Exception {
        assertEquals(Sense.GOOD, out(A, Reservations.REGISTER, 0, 0, 0xA1));
        assertEquals(Sense.GOOD, out(B, Reservations.REGISTER, 0, 0, 0xB1));
        assertEquals(Sense.RESERVATION_CONFLICT, out(A, Reservations.REGISTER, 0, 0, 0xA2), "registered: RK 0 is wrong");
        assertEquals(Sense.RESERVATION_CONFLICT, out(C, Reservations.REGISTER, 0, 0x99, 0xC1), "unregistered: RK must be 0");
        ByteBuffer keys = in(0);
        assertEquals(2, keys.getInt(0), "generation: two good registrations");
        assertEquals(16, keys.getInt(4));
        assertEquals(0xA1, keys.getLong(8));
        assertEquals(0xB1, keys.getLong(16));
        assertEquals(Sense.GOOD, out(A, Reservations.REGISTER, 0, 0xA1, 0xA2), "a registrant changes its key");
        assertEquals(Sense.GOOD, out(B, Reservations.REGISTER_AND_IGNORE, 0, 0x5555, 0), "ignore: unregisters whatever the key");
        keys = in(0);
        assertEquals(4, keys.getInt(0));
        assertEquals(8, keys.getInt(4));
        assertEquals(0xA2, keys.getLong(8));
        assertEquals(Sense.GOOD, out(C, Reservations.REGISTER, 0, 0, 0), "unregistered and key 0: nothing to do");
        assertEquals(4, in(0).getInt(0), "...and the generation stays");
    }

    @Test
    void onlyARegistrantWithItsKeyReservesAndAnotherTypeConflicts() throws Exception {
        assertEquals(Sense.RESERVATION_CONFLICT, out(A, Reservations.RESERVE, Reservations.WRITE_EXCLUSIVE, 0, 0));
        out(A, Reservations.REGISTER, 0, 0, 0xA1);
        out(B, Reservations.REGISTER, 0, 0, 0xB1);
        assertEquals(Sense.RESERVATION_CONFLICT, out(A, Reservations.RESERVE, Reservations.WRITE_EXCLUSIVE, 0xA9, 0), "wrong key");
        assertEquals(Sense.GOOD, out(A, Reservations.RESERVE, Reservations.WRITE_EXCLUSIVE, 0xA1, 0));
        assertEquals(Sense.GOOD, out(A, Reservations.RESERVE, Reservations.WRITE_EXCLUSIVE, 0xA1, 0), "again, same type: GOOD");
        assertEquals(Sense.RESERVATION_CONFLICT, out(A, Reservations.RESERVE, Reservations.EXCLUSIVE_ACCESS, 0xA1, 0));
        assertEquals(Sense.RESERVATION_CONFLICT, out(B, Reservations.RESERVE, Reservations.WRITE_EXCLUSIVE, 0xB1, 0));
        ByteBuffer r = in(1);
        assertEquals(16, r.getInt(4));
        assertEquals(0xA1, r.getLong(8));
        assertEquals(Reservations.WRITE_EXCLUSIVE, r.get(21));
        assertEquals(2, r.getInt(0), "RESERVE leaves the generation alone");
        ScsiLun.Check bad = assertThrows(ScsiLun.Check.class, () -> out(A, Reservations.RESERVE, 2, 0xA1, 0));
        assertEquals(0x05_2400, ascq(bad), "type 2 is obsolete");
    }

    /** Access of a second nexus, registered and not, for each type: read, write (the table of SPC-4 §5.13.1). */
    @Test
    void theOtherNexusesGetWhatEachTypeAllows() throws Exception {
        int[][] cases = { // type, registered read, registered write, unregistered read, unregistered write (1 = allowed)
            {Reservations.EXCLUSIVE_ACCESS, 0, 0, 0, 0},
            {Reservations.WRITE_EXCLUSIVE, 1, 0, 1, 0},
            {Reservations.EXCLUSIVE_ACCESS_REGISTRANTS_ONLY, 1, 1, 0, 0},
            {Reservations.EXCLUSIVE_ACCESS_ALL_REGISTRANTS, 1, 1, 0, 0},
            {Reservations.WRITE_EXCLUSIVE_REGISTRANTS_ONLY, 1, 1, 1, 0},
            {Reservations.WRITE_EXCLUSIVE_ALL_REGISTRANTS, 1, 1, 1, 0},
        };
        for (int[] c : cases) {
            Reservations lun = new Reservations((n, a) -> { });
            lun.out(A, prOut(Reservations.REGISTER, 0), list(0, 0xA1), 24);
            lun.out(B, prOut(Reservations.REGISTER, 0), list(0, 0xB1), 24);
            assertEquals(Sense.GOOD, lun.out(A, prOut(Reservations.RESERVE, c[0]), list(0xA1, 0), 24));
            String type = "type " + c[0];
            assertFalse(lun.conflicts(A, WRITE_10), type + ": the holder writes");
            assertEquals(c[1] == 0, lun.conflicts(B, READ_10), type + ": registered read");
            assertEquals(c[2] == 0, lun.conflicts(B, WRITE_10), type + ": registered write");
            assertEquals(c[3] == 0, lun.conflicts(C, READ_10), type + ": unregistered read");
            assertEquals(c[4] == 0, lun.conflicts(C, WRITE_10), type + ": unregistered write");
            assertFalse(lun.conflicts(C, cdb(ScsiLun.INQUIRY)), type + ": INQUIRY always");
            assertFalse(lun.conflicts(C, cdb(ScsiLun.TEST_UNIT_READY)), type + ": TEST UNIT READY always");
            assertFalse(lun.conflicts(C, cdb(ScsiLun.PERSISTENT_RESERVE_IN)), type + ": PR IN always");
        }
    }

    private static byte[] prOut(int action, int type) {
        byte[] cdb = cdb(ScsiLun.PERSISTENT_RESERVE_OUT);
        cdb[1] = (byte) action;
        cdb[2] = (byte) type;
        cdb[8] = Reservations.PARAMETER_LIST_LENGTH;
        return cdb;
    }

    private static ByteBuffer list(long key, long actionKey) {
        return ByteBuffer.allocate(Reservations.PARAMETER_LIST_LENGTH).putLong(0, key).putLong(8, actionKey);
    }

    @Test
    void theHolderUnregisteringReleasesButAnAllRegistrantsReservationStaysWithTheOthers() throws Exception {
        out(A, Reservations.REGISTER, 0, 0, 0xA1);
        out(B, Reservations.REGISTER, 0, 0, 0xB1);
        out(A, Reservations.RESERVE, Reservations.WRITE_EXCLUSIVE_REGISTRANTS_ONLY, 0xA1, 0);
        out(A, Reservations.REGISTER, 0, 0xA1, 0);
        assertEquals(0, in(1).getInt(4), "released");
        assertEquals(List.of(B + " 2a04"), attentions, "registrants-only: the others hear it was released");

        attentions.clear();
        out(A, Reservations.REGISTER, 0, 0, 0xA1);
        out(A, Reservations.RESERVE, Reservations.EXCLUSIVE_ACCESS_ALL_REGISTRANTS, 0xA1, 0);
        assertEquals(0, in(1).getLong(8), "all registrants: READ RESERVATION reports key 0");
        out(A, Reservations.REGISTER, 0, 0xA1, 0);
        assertEquals(Reservations.EXCLUSIVE_ACCESS_ALL_REGISTRANTS, in(1).get(21), "B still holds it");
        assertTrue(pr.conflicts(A, READ_10), "A is out");
        assertEquals(Sense.GOOD, out(B, Reservations.RELEASE, Reservations.EXCLUSIVE_ACCESS_ALL_REGISTRANTS, 0xB1, 0));
        assertEquals(0, in(1).getInt(4));
    }

    @Test
    void releaseByANonHolderIsANoOpAndOfTheWrongTypeIsRefused() throws Exception {
        out(A, Reservations.REGISTER, 0, 0, 0xA1);
        out(B, Reservations.REGISTER, 0, 0, 0xB1);
        out(A, Reservations.RESERVE, Reservations.EXCLUSIVE_ACCESS, 0xA1, 0);
        assertEquals(Sense.GOOD, out(B, Reservations.RELEASE, Reservations.EXCLUSIVE_ACCESS, 0xB1, 0));
        assertEquals(16, in(1).getInt(4), "still held by A");
        assertEquals(Sense.RESERVATION_CONFLICT, out(C, Reservations.RELEASE, Reservations.EXCLUSIVE_ACCESS, 0, 0), "not registered");
        ScsiLun.Check wrong = assertThrows(ScsiLun.Check.class, () -> out(A, Reservations.RELEASE, Reservations.WRITE_EXCLUSIVE, 0xA1, 0));
        assertEquals(0x05_2604, ascq(wrong), "INVALID RELEASE OF PERSISTENT RESERVATION");
        assertEquals(Sense.GOOD, out(A, Reservations.RELEASE, Reservations.EXCLUSIVE_ACCESS, 0xA1, 0));
        assertFalse(pr.conflicts(B, WRITE_10));
        assertEquals(List.of(), attentions, "exclusive access released: no attention");
    }

    @Test
    void preemptTakesTheHoldersReservationAndTellsTheVictim() throws Exception {
        out(A, Reservations.REGISTER, 0, 0, 0xA1);
        out(B, Reservations.REGISTER, 0, 0, 0xB1);
        out(C, Reservations.REGISTER, 0, 0, 0xC1);
        out(A, Reservations.RESERVE, Reservations.WRITE_EXCLUSIVE, 0xA1, 0);
        int generation = in(0).getInt(0);
        assertEquals(Sense.GOOD, out(B, Reservations.PREEMPT, Reservations.EXCLUSIVE_ACCESS, 0xB1, 0xA1)); // the fencing move
        ByteBuffer r = in(1);
        assertEquals(0xB1, r.getLong(8));
        assertEquals(Reservations.EXCLUSIVE_ACCESS, r.get(21));
        assertEquals(generation + 1, in(0).getInt(0));
        assertTrue(pr.conflicts(A, WRITE_10), "the fenced node cannot write");
        assertEquals(Sense.RESERVATION_CONFLICT, out(A, Reservations.REGISTER, 0, 0xA1, 0xA2), "and is no longer registered");
        assertEquals(List.of(A + " 2a05", C + " 2a04"), attentions);
    }

    @Test
    void preemptWithoutAReservationRemovesRegistrationsOnly() throws Exception {
        out(A, Reservations.REGISTER, 0, 0, 0xA1);
        out(B, Reservations.REGISTER, 0, 0, 0xB1);
        assertEquals(Sense.GOOD, out(A, Reservations.PREEMPT, Reservations.WRITE_EXCLUSIVE, 0xA1, 0xB1));
        assertEquals(8, in(0).getInt(4));
        assertEquals(0, in(1).getInt(4), "no reservation was made");
        assertEquals(Sense.RESERVATION_CONFLICT, out(A, Reservations.PREEMPT, Reservations.WRITE_EXCLUSIVE, 0xA1, 0x77), "no such key");
        ScsiLun.Check zero = assertThrows(ScsiLun.Check.class, () -> out(A, Reservations.PREEMPT, Reservations.WRITE_EXCLUSIVE, 0xA1, 0));
        assertEquals(0x05_2600, ascq(zero));
    }

    @Test
    void clearDropsEverythingAndTellsTheOthers() throws Exception {
        out(A, Reservations.REGISTER, 0, 0, 0xA1);
        out(B, Reservations.REGISTER, 0, 0, 0xB1);
        out(B, Reservations.RESERVE, Reservations.EXCLUSIVE_ACCESS, 0xB1, 0);
        assertEquals(Sense.GOOD, out(A, Reservations.CLEAR, 0, 0xA1, 0));
        assertEquals(3, in(0).getInt(0));
        assertEquals(0, in(0).getInt(4));
        assertFalse(pr.conflicts(C, WRITE_10));
        assertEquals(List.of(B + " 2a03"), attentions);
    }

    @Test
    void spc2AndPersistentReservationsExcludeEachOther() throws Exception {
        assertTrue(pr.reserve(A));
        assertEquals(Sense.RESERVATION_CONFLICT, out(B, Reservations.REGISTER, 0, 0, 0xB1), "B meets A's RESERVE");
        assertTrue(pr.conflicts(B, cdb(ScsiLun.TEST_UNIT_READY)), "SPC-2: TUR from another nexus conflicts");
        assertTrue(pr.conflicts(B, cdb(ScsiLun.MODE_SENSE_6)));
        assertFalse(pr.conflicts(B, cdb(ScsiLun.INQUIRY)));
        pr.endSpc2(A); // A logged out
        assertEquals(Sense.GOOD, out(B, Reservations.REGISTER, 0, 0, 0xB1));
        assertFalse(pr.reserve(A), "registrations exist: RESERVE conflicts");
        assertFalse(pr.release(A), "...and so does RELEASE");
    }

    /**
     * Review finding: the holder of an SPC-2 RESERVE could REGISTER, and then its RELEASE conflicted
     * (registrations exist): the LUN stayed reserved until a logout or a LUN reset. While RESERVE
     * holds the LUN, every PERSISTENT RESERVE IN and OUT conflicts, the holder's too.
     */
    @Test
    void whileReserveHoldsTheLunEveryPersistentReserveCommandConflictsTheHoldersToo() throws Exception {
        assertTrue(pr.reserve(A));
        assertTrue(pr.conflicts(A, cdb(ScsiLun.PERSISTENT_RESERVE_OUT)));
        assertTrue(pr.conflicts(A, cdb(ScsiLun.PERSISTENT_RESERVE_IN)));
        assertTrue(pr.conflicts(B, cdb(ScsiLun.PERSISTENT_RESERVE_IN)));
        assertEquals(Sense.RESERVATION_CONFLICT, out(A, Reservations.REGISTER, 0, 0, 0xA1), "the holder cannot register");
        assertFalse(pr.conflicts(A, WRITE_10));
        assertTrue(pr.release(A), "so its RELEASE still works");
        assertFalse(pr.conflicts(A, cdb(ScsiLun.PERSISTENT_RESERVE_OUT)));
        assertEquals(Sense.GOOD, out(A, Reservations.REGISTER, 0, 0, 0xA1));
    }

    /**
     * SPC-4: a PREEMPT whose key names no reservation holder only removes registrations, and the
     * SCOPE and TYPE fields are ignored: TYPE 0 was refused as an invalid field.
     */
    @Test
    void aPreemptThatOnlyRemovesRegistrationsIgnoresScopeAndType() throws Exception {
        assertEquals(Sense.GOOD, out(A, Reservations.REGISTER, 0, 0, 0xA1));
        assertEquals(Sense.GOOD, out(B, Reservations.REGISTER, 0, 0, 0xB1));
        assertEquals(Sense.GOOD, out(A, Reservations.PREEMPT, 0, 0xA1, 0xB1), "no reservation: B's registration goes");
        assertEquals(8, in(0).getInt(4), "A alone is registered");
        assertEquals(List.of(B + " 2a05"), attentions);
        assertEquals(Sense.GOOD, out(A, Reservations.RESERVE, Reservations.WRITE_EXCLUSIVE, 0xA1, 0));
        ScsiLun.Check bad = assertThrows(ScsiLun.Check.class, () -> out(A, Reservations.PREEMPT, 0, 0xA1, 0xA1),
                "taking the reservation: the type counts");
        assertEquals(0x05_2400, ascq(bad));
    }

    @Test
    void badParameterListsAndUnofferedFeaturesAreRefusedWithTheirSense() {
        ScsiLun.Check length = assertThrows(ScsiLun.Check.class, () -> out(A, Reservations.REGISTER, 0, 0, 1, 0, 20));
        assertEquals(0x05_1A00, ascq(length));
        ScsiLun.Check aptpl = assertThrows(ScsiLun.Check.class, () -> out(A, Reservations.REGISTER, 0, 0, 1, 0x01, 24));
        assertEquals(0x05_2600, ascq(aptpl));
        ScsiLun.Check specified = assertThrows(ScsiLun.Check.class, () -> out(A, Reservations.REGISTER, 0, 0, 1, 0x08, 24));
        assertEquals(0x05_2600, ascq(specified));
        ScsiLun.Check move = assertThrows(ScsiLun.Check.class, () -> out(A, 7, 0, 0, 1));
        assertEquals(0x05_2400, ascq(move), "REGISTER AND MOVE");
        ScsiLun.Check action = assertThrows(ScsiLun.Check.class, () -> in(4));
        assertEquals(0x05_2400, ascq(action), "PR IN service action 4");
    }

    @Test
    void reportCapabilitiesAndFullStatusDescribeWhatIsOffered() throws Exception {
        ByteBuffer caps = in(2);
        assertEquals(8, caps.getShort(0));
        assertEquals(0x80, caps.get(3) & 0xFF, "TMV, ALLOW COMMANDS 0, PTPL_A 0");
        assertEquals(0xEA01, caps.getShort(4) & 0xFFFF, "all six types");
        out(A, Reservations.REGISTER, 0, 0, 0xA1);
        out(A, Reservations.RESERVE, Reservations.WRITE_EXCLUSIVE, 0xA1, 0);
        ByteBuffer full = in(3);
        int length = full.getInt(4);
        assertEquals(full.capacity() - 8, length);
        assertEquals(0xA1, full.getLong(8));
        assertEquals(0x03, full.get(8 + 12), "ALL_TG_PT and R_HOLDER");
        assertEquals(Reservations.WRITE_EXCLUSIVE, full.get(8 + 13));
        int idLength = full.getInt(8 + 20);
        assertEquals(0, idLength % 4);
        assertEquals(0x45, full.get(8 + 24), "iSCSI, initiator port format");
        byte[] name = new byte[A.length()];
        full.get(8 + 28, name);
        assertArrayEquals(A.getBytes(StandardCharsets.US_ASCII), name);
        assertEquals(0, full.get(8 + 28 + A.length()), "null-terminated");
    }

    /**
     * APTPL: a REGISTER with APTPL=1 makes the reservations durable in the LUN's file; a new
     * Reservations on that file (a restarted node) has the same keys, holder, type and generation,
     * and fences the same writers; REGISTER with APTPL=0 deletes the file.
     */
    @Test
    void withAptplTheReservationsOutliveTheProcessUntilARegisterClearsIt(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        java.nio.file.Path file = dir.resolve("lun.pr");
        Reservations first = new Reservations((nexus, ascq) -> { }, file);
        assertEquals(0x01, in(first, 2).get(2) & 0x01, "REPORT CAPABILITIES: PTPL_C");
        assertEquals(0x00, in(first, 2).get(3) & 0x01, "PTPL_A: not yet");
        assertEquals(Sense.GOOD, out(first, A, Reservations.REGISTER, 0, 0, 0xA1, 0x01, 24)); // APTPL
        assertEquals(Sense.GOOD, out(first, B, Reservations.REGISTER, 0, 0, 0xB1, 0, 24)); // the bit counts on REGISTER only
        assertEquals(Sense.GOOD, out(first, A, Reservations.RESERVE, Reservations.WRITE_EXCLUSIVE, 0xA1, 0, 0, 24));
        assertFalse(first.persistent(), "B's REGISTER without APTPL turned it off: SPC-4's last one counts");
        assertFalse(java.nio.file.Files.exists(file));
        assertEquals(Sense.GOOD, out(first, B, Reservations.REGISTER, 0, 0xB1, 0xB2, 0x01, 24));
        assertTrue(first.persistent());
        assertEquals(0x01, in(first, 2).get(3) & 0x01, "PTPL_A");

        // an unregistered nexus unregistering does nothing (SPC-4): its APTPL=0 deletes nothing
        assertEquals(Sense.GOOD, out(first, C, Reservations.REGISTER, 0, 0, 0, 0, 24));
        assertTrue(first.persistent(), "a REGISTER that did nothing changed APTPL");
        assertTrue(java.nio.file.Files.exists(file));

        Reservations restarted = new Reservations((nexus, ascq) -> { }, file);
        assertTrue(restarted.persistent());
        assertArrayEquals(in(first, 0).array(), in(restarted, 0).array(), "READ KEYS: generation and keys, in order");
        assertArrayEquals(in(first, 1).array(), in(restarted, 1).array(), "READ RESERVATION: A's write exclusive");
        assertTrue(restarted.conflicts(B, WRITE_10), "B is still fenced from writing");
        assertFalse(restarted.conflicts(A, WRITE_10));
        assertFalse(restarted.conflicts(B, READ_10));

        assertEquals(Sense.GOOD, out(restarted, A, Reservations.REGISTER, 0, 0xA1, 0xA1, 0, 24)); // APTPL=0
        assertFalse(java.nio.file.Files.exists(file), "APTPL=0: nothing kept any more");
        assertTrue(restarted.conflicts(B, WRITE_10), "the reservation itself stays while the process lives");

        java.nio.file.Files.writeString(file, "generation x\n");
        Reservations torn = new Reservations((nexus, ascq) -> { }, file);
        assertEquals(0, in(torn, 0).getInt(4), "an unreadable file: no registrations (and an ERROR in the log)");
    }
}
