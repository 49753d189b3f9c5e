package io.mayastorj.iscsi.internal.scsi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

class CdbTest {

    private static byte[] cdb(int opcode, int length) {
        byte[] c = new byte[length];
        c[0] = (byte) opcode;
        return c;
    }

    @Test
    void lbaAndLengthOfEveryForm() {
        byte[] read6 = cdb(0x08, 6);
        read6[1] = (byte) 0xFF; // the top 3 bits are not LBA
        read6[2] = 0x12;
        read6[3] = 0x34;
        assertEquals(0x1F1234, Cdb.lba(read6));
        assertEquals(256, Cdb.transferLength(read6), "READ(6) length 0 is 256 blocks");

        byte[] read10 = cdb(0x28, 10);
        ByteBuffer.wrap(read10).putInt(2, 0xFFFFFFFF).putShort(7, (short) 0xFFFF);
        assertEquals(0xFFFFFFFFL, Cdb.lba(read10), "unsigned");
        assertEquals(65535, Cdb.transferLength(read10));

        byte[] read12 = cdb(0xA8, 12);
        ByteBuffer.wrap(read12).putInt(2, 7).putInt(6, 0x80000000);
        assertEquals(7, Cdb.lba(read12));
        assertEquals(0x80000000L, Cdb.transferLength(read12));

        byte[] read16 = cdb(0x88, 16);
        ByteBuffer.wrap(read16).putLong(2, -1L).putInt(10, 8);
        assertEquals(-1L, Cdb.lba(read16));
        assertEquals(8, Cdb.transferLength(read16));
    }

    @Test
    void theRangeCheckNeitherOverflowsNorTrustsASign() {
        long capacity = 16384;
        assertTrue(Cdb.inRange(0, capacity, capacity));
        assertTrue(Cdb.inRange(capacity - 1, 1, capacity));
        assertTrue(Cdb.inRange(capacity, 0, capacity), "zero blocks at the end");
        assertFalse(Cdb.inRange(capacity - 1, 2, capacity), "overlaps the end");
        assertFalse(Cdb.inRange(capacity + 1, 0, capacity), "zero blocks past the end");
        assertFalse(Cdb.inRange(-1L, 1, capacity), "LBA 2^64-1");
        assertFalse(Cdb.inRange(1L << 63, 0, capacity), "LBA 2^63");
        assertFalse(Cdb.inRange(1, -1L, capacity), "a length that wraps");
        assertFalse(Cdb.inRange(capacity - 8, 0xFFFFFFFFL, capacity));
    }

    @Test
    void cdbLengthsByGroup() {
        assertEquals(6, Cdb.length(0x12));   // INQUIRY
        assertEquals(10, Cdb.length(0x25));  // READ CAPACITY(10)
        assertEquals(10, Cdb.length(0x5E));  // PERSISTENT RESERVE IN
        assertEquals(16, Cdb.length(0x9E));  // SERVICE ACTION IN(16)
        assertEquals(12, Cdb.length(0xA0));  // REPORT LUNS
        assertEquals(0, Cdb.length(0x7F));   // variable length
    }

    @Test
    void senseCarriesKeyAscAndTheFieldPointer() {
        byte[] s = Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 1, 3);
        assertEquals(0x70, s[0]);
        assertEquals(Sense.ILLEGAL_REQUEST, Sense.key(s));
        assertEquals(Sense.INVALID_FIELD_IN_CDB, Sense.ascq(s));
        assertEquals(10, s[7]);
        assertEquals((byte) 0xCB, s[15], "SKSV, C/D = CDB, BPV, bit 3");
        assertEquals(0, s[16]);
        assertEquals(1, s[17]);
        byte[] range = Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.LBA_OUT_OF_RANGE);
        assertEquals(0x21, range[12]);
        assertEquals(0x00, range[13]);
        assertEquals(0, range[15], "no sense-key-specific data");
    }
}
