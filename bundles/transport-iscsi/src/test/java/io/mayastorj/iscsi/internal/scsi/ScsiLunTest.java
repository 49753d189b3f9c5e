package io.mayastorj.iscsi.internal.scsi;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.internal.bdev.MallocBdevFactory;
import java.nio.ByteBuffer;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ScsiLunTest {

    private final BlockDevice disk = new MallocBdevFactory().create(BdevUri.parse(
            "malloc:///lun?size_mb=8&uuid=6c1a4b5e-0d2f-4a7b-9c3e-112233445566"));
    private final ScsiLun lun = new ScsiLun(disk);

    @AfterEach
    void close() {
        disk.close();
    }

    @Test
    void theNaaDesignatorIsStableAndOfType6() {
        byte[] naa = ScsiLun.naa(UUID.fromString("6c1a4b5e-0d2f-4a7b-9c3e-112233445566"));
        assertEquals(0x6C, naa[0] & 0xFF, "NAA 6, then the UUID's bits");
        assertArrayEquals(naa, ScsiLun.naa(UUID.fromString("6c1a4b5e-0d2f-4a7b-9c3e-112233445566")));
    }

    /** MODE SELECT(6) of exactly what MODE SENSE(6) reported (header and block descriptor included). */
    private static ByteBuffer restated(byte[] sense) {
        ByteBuffer list = ByteBuffer.wrap(sense.clone());
        list.put(0, (byte) 0); // mode data length is reserved in MODE SELECT
        return list;
    }

    /** SBC's short block descriptor counts blocks in 32 bits: an 8 GiB LUN of 512-byte blocks said 16,777,215. */
    @Test
    void theModeBlockDescriptorCountsBlocksIn32Bits() throws Exception {
        BlockDevice big = new io.mayastorj.core.internal.bdev.NullBdevFactory().create(BdevUri.parse("null:///big?size_mb=16384"));
        try {
            byte[] sense = new ScsiLun(big).modeSense(new byte[] {ScsiLun.MODE_SENSE_6, 0, 0x3F, 0, (byte) 255, 0});
            assertEquals(8, sense[3], "a block descriptor follows the header");
            assertEquals(16L << 30 >> 9, ByteBuffer.wrap(sense).getInt(4) & 0xFFFFFFFFL);
        } finally {
            big.close();
        }
    }

    /**
     * Review finding: the Control page said QAM 0 (restricted reordering) while commands run as their
     * data arrives, not in CmdSN order. It says 1 (unrestricted), as LIO does by default.
     */
    @Test
    void theControlPageSaysCommandsMayBeReordered() throws Exception {
        byte[] sense = lun.modeSense(new byte[] {ScsiLun.MODE_SENSE_6, 0, 0x0A, 0, (byte) 255, 0});
        int control = 4 + sense[3]; // after the header and the block descriptor
        assertEquals(0x0A, sense[control]);
        assertEquals(0x10, sense[control + 3] & 0xF0, "QAM 1");
        byte[] changeable = lun.modeSense(new byte[] {ScsiLun.MODE_SENSE_6, 0, 0x4A, 0, (byte) 255, 0});
        assertEquals(0, changeable[4 + changeable[3] + 3], "and it cannot be changed");
    }

    @Test
    void modeSelectTakesTheCurrentValuesAndRefusesChanges() throws Exception {
        byte[] sense = lun.modeSense(new byte[] {ScsiLun.MODE_SENSE_6, 0, 0x3F, 0, (byte) 255, 0});
        byte[] select = {ScsiLun.MODE_SELECT_6, 0x10, 0, 0, (byte) sense.length, 0};
        lun.modeSelect(select, restated(sense), sense.length);
        lun.modeSelect(select, ByteBuffer.allocate(0), 0);

        ByteBuffer changed = restated(sense);
        int caching = 4 + 8; // after the header and the block descriptor
        assertEquals(0x08, changed.get(caching));
        changed.put(caching + 2, (byte) (changed.get(caching + 2) ^ 0x04)); // flip WCE
        ScsiLun.Check c = assertThrows(ScsiLun.Check.class, () -> lun.modeSelect(select, changed, sense.length));
        assertEquals(Sense.ILLEGAL_REQUEST, Sense.key(c.sense()));
        assertEquals(Sense.INVALID_FIELD_IN_PARAMETER_LIST, Sense.ascq(c.sense()));
        assertEquals(caching + 2, c.sense()[17], "the field pointer names the byte");

        ByteBuffer otherBlockSize = restated(sense);
        otherBlockSize.put(4 + 6, (byte) 0x10); // 4096-byte blocks
        assertThrows(ScsiLun.Check.class, () -> lun.modeSelect(select, otherBlockSize, sense.length));

        byte[] save = select.clone();
        save[1] |= 0x01;
        ScsiLun.Check sp = assertThrows(ScsiLun.Check.class, () -> lun.modeSelect(save, restated(sense), sense.length));
        assertEquals(Sense.INVALID_FIELD_IN_CDB, Sense.ascq(sp.sense()));

        ScsiLun.Check unknown = assertThrows(ScsiLun.Check.class, () -> lun.modeSelect(select,
                ByteBuffer.wrap(new byte[] {0, 0, 0, 0, 0x1C, 0x0A, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}), 16));
        assertEquals(4, unknown.sense()[17], "a page this LUN does not have");
        ScsiLun.Check cut = assertThrows(ScsiLun.Check.class, () -> lun.modeSelect(select,
                ByteBuffer.wrap(new byte[] {0, 0, 0, 0, 0x08, 0x12, 0}), 7));
        assertEquals(Sense.PARAMETER_LIST_LENGTH_ERROR, Sense.ascq(cut.sense()));
    }

    @Test
    void readCapacityAndInquiryDescribeTheBdev() throws Exception {
        byte[] rc16 = lun.readCapacity16();
        assertEquals(disk.blockCount() - 1, ByteBuffer.wrap(rc16).getLong(0));
        assertEquals(512, ByteBuffer.wrap(rc16).getInt(8));
        assertEquals(0x80, rc16[14] & 0x80, "LBPME: malloc can unmap");
        byte[] std = lun.inquiry(new byte[] {ScsiLun.INQUIRY, 0, 0, 0, (byte) 255, 0});
        assertEquals(std.length - 5, std[4], "ADDITIONAL LENGTH");
        assertEquals(6, std[2], "SPC-4");
        ScsiLun.Check c = assertThrows(ScsiLun.Check.class, () -> lun.inquiry(new byte[] {ScsiLun.INQUIRY, 0, (byte) 0x80, 0, 1, 0}));
        assertEquals(Sense.INVALID_FIELD_IN_CDB, Sense.ascq(c.sense()), "a page code without EVPD");
        byte[] b0 = lun.inquiry(new byte[] {ScsiLun.INQUIRY, 1, (byte) 0xB0, 0, (byte) 255, 0});
        assertEquals(0x3C, b0[3], "Block Limits page length with SBC-3 claimed");
    }
}
