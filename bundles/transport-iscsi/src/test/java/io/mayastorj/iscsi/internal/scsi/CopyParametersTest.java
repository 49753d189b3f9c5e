package io.mayastorj.iscsi.internal.scsi;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

/** The EXTENDED COPY (LID1) parameter list: what is taken, and the exact sense of each refusal. */
class CopyParametersTest {

    private static final byte[] NAA = {0x60, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

    /** A list with {@code targets} identification CSCDs and {@code segments} block-to-block segments. */
    private static ByteBuffer list(int targets, int segments) {
        ByteBuffer b = ByteBuffer.allocate(16 + targets * 32 + segments * 28);
        b.put(0, (byte) 9).put(1, (byte) 0x08).putShort(2, (short) (targets * 32)).putInt(8, segments * 28);
        for (int i = 0; i < targets; i++) {
            int at = 16 + 32 * i;
            b.put(at, (byte) 0xE4).put(at + 4, (byte) 1).put(at + 5, (byte) 3).put(at + 7, (byte) 16).put(at + 8, NAA);
            b.put(at + 30, (byte) 2); // 512-byte blocks
        }
        for (int i = 0; i < segments; i++) {
            int at = 16 + 32 * targets + 28 * i;
            b.put(at, (byte) 0x02).putShort(at + 2, (short) 0x18).putShort(at + 6, (short) 1).putShort(at + 10, (short) 64)
                    .putLong(at + 12, 100 + i).putLong(at + 20, 900 + i);
        }
        return b;
    }

    private static int ascq(ByteBuffer list, int length) {
        ScsiLun.Check c = assertThrows(ScsiLun.Check.class, () -> CopyParameters.parse(list, length));
        return Sense.key(c.sense()) << 16 | Sense.ascq(c.sense());
    }

    private static int fieldPointer(ByteBuffer list, int length) {
        ScsiLun.Check c = assertThrows(ScsiLun.Check.class, () -> CopyParameters.parse(list, length));
        assertTrue((c.sense()[15] & 0x80) != 0, "SKSV");
        return (c.sense()[16] & 0xFF) << 8 | c.sense()[17] & 0xFF;
    }

    @Test
    void aListOfTargetsAndSegmentsIsTakenAsSent() throws Exception {
        ByteBuffer b = list(2, 3);
        CopyParameters.CopyList l = CopyParameters.parse(b, b.capacity());
        assertEquals(9, l.listId());
        assertEquals(1, l.listIdUsage());
        assertTrue(l.held());
        assertEquals(2, l.targets().size());
        assertEquals(3, l.targets().get(1).designatorType());
        assertArrayEquals(NAA, l.targets().get(0).designator());
        assertEquals(512, l.targets().get(0).blockLength());
        CopyParameters.Segment s = l.segments().get(2);
        assertEquals(0, s.source());
        assertEquals(1, s.destination());
        assertEquals(64, s.blocks());
        assertEquals(102, s.sourceLba());
        assertEquals(902, s.destinationLba());
        assertEquals(16 + 64 + 56, s.offset());
    }

    @Test
    void eachRefusalHasItsSense() {
        ByteBuffer b = list(1, 1);
        assertEquals(0x05_1A00, ascq(b, 15), "shorter than the header");
        assertEquals(0x05_1A00, ascq(b, b.capacity() - 1), "the lengths in the header run past the list");
        assertEquals(0x05_2606, ascq(list(9, 1), 16 + 9 * 32 + 28), "nine CSCDs, eight at most");
        assertEquals(0x05_2608, ascq(list(1, 33), 16 + 32 + 33 * 28), "33 segments, 32 at most");
        assertEquals(0x05_1A00, ascq(list(9, 70), 16 + 9 * 32 + 70 * 28), "more descriptor bytes than 2048: before the counts");

        ByteBuffer inline = list(1, 1);
        inline.putInt(12, 4);
        assertEquals(0x05_2600, ascq(ByteBuffer.allocate(inline.capacity() + 4).put(inline.array()).flip(), inline.capacity() + 4));

        ByteBuffer type = list(1, 1);
        type.put(16, (byte) 0xE0);
        assertEquals(0x05_2607, ascq(type, type.capacity()));
        assertEquals(16, fieldPointer(type, type.capacity()), "at the CSCD");

        ByteBuffer segment = list(1, 1);
        segment.put(48, (byte) 0x03);
        assertEquals(0x05_2609, ascq(segment, segment.capacity()));
        assertEquals(48, fieldPointer(segment, segment.capacity()), "at the segment");

        ByteBuffer nul = list(1, 1);
        nul.put(17, (byte) 0x20);
        assertEquals(0x05_2600, ascq(nul, nul.capacity()), "a NUL target: nothing to copy to");

        ByteBuffer noListId = list(1, 1);
        noListId.put(1, (byte) 0x18);
        assertEquals(0x05_2600, ascq(noListId, noListId.capacity()), "LIST ID USAGE 11b with a list id");
    }

    @Test
    void operatingParametersSayTheLimits() {
        ByteBuffer p = ByteBuffer.wrap(CopyParameters.operatingParameters(512));
        assertTrue(p.getInt(0) >= 40, "AVAILABLE DATA");
        assertEquals(CopyParameters.MAX_TARGETS, p.getShort(8));
        assertEquals(CopyParameters.MAX_SEGMENTS, p.getShort(10));
        assertEquals(CopyParameters.MAX_DESCRIPTOR_LIST_LENGTH, p.getInt(12));
        assertEquals(0, p.getInt(20), "no inline data");
        assertEquals(9, p.get(37), "data segment granularity: 2^9 bytes");
        assertEquals(2, p.get(43));
        assertEquals(0x02, p.get(44));
        assertEquals((byte) 0xE4, p.get(45));
    }
}
