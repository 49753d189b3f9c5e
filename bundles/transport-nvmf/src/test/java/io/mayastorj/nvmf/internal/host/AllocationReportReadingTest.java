package io.mayastorj.nvmf.internal.host;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.mayastorj.nvmf.internal.protocol.LbaStatus;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;

/**
 * How the host reads a Get LBA Status answer from a target that is not ours (or has a bug): an
 * answer it cannot know covers the namespace is never taken for complete — the map would lack what
 * the answer never said, and a thin rebuild from that replica would skip data it holds. Review
 * findings: NLSD 0 with "more available" ended the walk as complete; descriptors past what the
 * buffer holds were dropped and the answer still taken for whole; "no indication" with the buffer
 * full counted as complete.
 */
class AllocationReportReadingTest {

    private static final long BLOCKS = 1 << 20;
    private static final int UNIT = 2048;

    /** An answer with NLSD {@code reported}, CMPC {@code condition}, and one descriptor of {@code unit}s per entry. */
    private static ByteBuffer answer(long reported, int condition, int fit, long... startUnits) {
        ByteBuffer b = ByteBuffer.allocate(LbaStatus.HEADER + fit * LbaStatus.DESCRIPTOR).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(LbaStatus.OFF_NLSD, (int) reported);
        b.put(LbaStatus.OFF_CMPC, (byte) condition);
        for (int i = 0; i < startUnits.length && i < fit; i++) {
            int at = LbaStatus.HEADER + i * LbaStatus.DESCRIPTOR;
            b.putLong(at + LbaStatus.OFF_DSLBA, startUnits[i] * UNIT);
            b.putInt(at + LbaStatus.OFF_NLB, UNIT - 1);
        }
        return b;
    }

    @Test
    void aCompleteAnswerEndsTheWalk() throws IOException {
        AllocationMap map = new AllocationMap(BLOCKS, UNIT);
        assertEquals(-1, Session.absorbReport(answer(2, LbaStatus.CMPC_COMPLETE, 4, 3, 7), 4, 0, BLOCKS, map));
        map.loaded();
        assertTrue(map.holdsData(3L * UNIT, 1));
        assertFalse(map.holdsData(4L * UNIT, UNIT));
    }

    @Test
    void moreAvailableWithNoDescriptorIsAnError() {
        AllocationMap map = new AllocationMap(BLOCKS, UNIT);
        IOException e = assertThrows(IOException.class,
                () -> Session.absorbReport(answer(0, LbaStatus.CMPC_INCOMPLETE, 4), 4, 0, BLOCKS, map));
        assertEquals("Get LBA Status reported nothing and not the end past block 0", e.getMessage());
    }

    @Test
    void descriptorsPastTheBufferAreAskedForAgain() throws IOException {
        AllocationMap map = new AllocationMap(BLOCKS, UNIT);
        // five reported, four fit, "complete": the fifth is asked for from where the fourth ended
        long next = Session.absorbReport(answer(5, LbaStatus.CMPC_COMPLETE, 4, 1, 2, 3, 4), 4, 0, BLOCKS, map);
        assertEquals(5L * UNIT, next);
    }

    @Test
    void noIndicationWithTheBufferFullIsAskedForAgain() throws IOException {
        AllocationMap map = new AllocationMap(BLOCKS, UNIT);
        assertEquals(3L * UNIT, Session.absorbReport(answer(2, 0, 2, 1, 2), 2, 0, BLOCKS, map));
        assertEquals(-1, Session.absorbReport(answer(1, 0, 2, 1), 2, 0, BLOCKS, map), "not full: the end");
    }

    /**
     * Review finding: the map was sized from the target's allocation unit (TLBAAG): a unit of one
     * block on a 4 TiB namespace was 1 GiB of heap, and larger namespaces wrapped the array size.
     * The unit grows instead; a coarser map can only say "holds data" more often.
     */
    @Test
    void aTinyUnitOnAHugeNamespaceMakesACoarserMapNotAHugeOne() throws IOException {
        long blocks = 1L << 43; // 4 PiB of 512-byte blocks
        AllocationMap map = new AllocationMap(blocks, 1);
        assertTrue(map.unit() >= blocks / AllocationMap.MAX_UNITS, "unit " + map.unit());
        map.reported(blocks - 1, 1);
        map.loaded();
        assertTrue(map.holdsData(blocks - 1, 1));
        assertFalse(map.holdsData(0, 1));
    }
}
