package io.mayastorj.iscsi.internal.scsi;

import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.IoType;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.UUID;

/**
 * The data of the SCSI commands that describe a LUN rather than move its blocks (SPC-4, SBC-3):
 * INQUIRY and its VPD pages, READ CAPACITY, MODE SENSE, REPORT LUNS, REQUEST SENSE. Each answer is
 * the whole data; the transport truncates it to the allocation length and the expected transfer
 * length. A bad field is a {@link Check} with the sense to send.
 */
public final class ScsiLun {

    public static final int INQUIRY = 0x12;
    public static final int TEST_UNIT_READY = 0x00;
    public static final int REQUEST_SENSE = 0x03;
    public static final int READ_6 = 0x08;
    public static final int WRITE_6 = 0x0A;
    public static final int MODE_SENSE_6 = 0x1A;
    public static final int START_STOP_UNIT = 0x1B;
    public static final int READ_CAPACITY_10 = 0x25;
    public static final int READ_10 = 0x28;
    public static final int WRITE_10 = 0x2A;
    public static final int SYNCHRONIZE_CACHE_10 = 0x35;
    public static final int MODE_SENSE_10 = 0x5A;
    public static final int READ_16 = 0x88;
    public static final int WRITE_16 = 0x8A;
    public static final int SYNCHRONIZE_CACHE_16 = 0x91;
    public static final int SERVICE_ACTION_IN_16 = 0x9E;
    public static final int READ_CAPACITY_16 = 0x10; // service action of 9Eh
    public static final int REPORT_LUNS = 0xA0;
    public static final int READ_12 = 0xA8;
    public static final int WRITE_12 = 0xAA;
    public static final int WRITE_VERIFY_10 = 0x2E;
    public static final int VERIFY_10 = 0x2F;
    public static final int WRITE_VERIFY_16 = 0x8E;
    public static final int VERIFY_16 = 0x8F;
    public static final int WRITE_VERIFY_12 = 0xAE;
    public static final int VERIFY_12 = 0xAF;
    public static final int UNMAP = 0x42;
    public static final int COMPARE_AND_WRITE = 0x89;
    public static final int MODE_SELECT_6 = 0x15;
    public static final int MODE_SELECT_10 = 0x55;
    public static final int RESERVE_6 = 0x16;
    public static final int RELEASE_6 = 0x17;
    public static final int RESERVE_10 = 0x56;
    public static final int RELEASE_10 = 0x57;
    public static final int PERSISTENT_RESERVE_IN = 0x5E;
    public static final int PERSISTENT_RESERVE_OUT = 0x5F;
    /** The most blocks one COMPARE AND WRITE may cover (Block Limits byte 5). */
    public static final int MAX_COMPARE_AND_WRITE_BLOCKS = 128;
    public static final int WRITE_SAME_10 = 0x41;
    public static final int WRITE_SAME_16 = 0x93;
    /**
     * The most blocks one WRITE SAME may cover (Block Limits, MAXIMUM WRITE SAME LENGTH): 16 MiB of
     * 512-byte blocks, 16 writes of a pattern, well within the recommended timeout. Below 65536 on
     * purpose: libiscsi's WriteSame16.Unmap, for a limit of 65536 or more, first writes 65536 blocks
     * in one WRITE (16) — 32 times the MAXIMUM TRANSFER LENGTH, which SBC-4 says must be refused.
     */
    public static final int MAX_WRITE_SAME_BLOCKS = 1 << 15;
    public static final int GET_LBA_STATUS = 0x12; // service action of 9Eh
    public static final int PRE_FETCH_10 = 0x34;
    public static final int PRE_FETCH_16 = 0x90;
    public static final int READ_DEFECT_DATA_10 = 0x37;
    public static final int READ_DEFECT_DATA_12 = 0xB7;
    public static final int ORWRITE_16 = 0x8B;
    public static final int EXTENDED_COPY = 0x83;
    public static final int RECEIVE_COPY_RESULTS = 0x84;
    public static final int MAINTENANCE_IN = 0xA3;
    public static final int REPORT_SUPPORTED_OPERATION_CODES = 0x0C; // service action of A3h

    /** UNMAP limits we declare in the Block Limits page (blocks per descriptor, descriptors per command). */
    public static final int MAX_UNMAP_BLOCKS = 1 << 20;
    public static final int MAX_UNMAP_DESCRIPTORS = 256;

    /** The largest transfer one command may ask for, in bytes: what the Block Limits page says. */
    public static final int MAX_TRANSFER_BYTES = 1 << 20;

    private static final String VENDOR = "OpenEBS ";
    private static final String PRODUCT = "Mayastor-J      ";
    private static final String REVISION = "0001";

    /** A command that ends in CHECK CONDITION with this sense. */
    public static final class Check extends Exception {
        private final byte[] sense;

        public Check(byte[] sense) {
            super(null, null, false, false);
            this.sense = sense;
        }

        public byte[] sense() {
            return sense;
        }
    }

    private final BlockDevice device;
    private final byte[] naa;
    private final String serial;

    public ScsiLun(BlockDevice device) {
        this.device = device;
        this.naa = naa(device.uuid());
        this.serial = device.uuid().toString().replace("-", "");
    }

    public BlockDevice device() {
        return device;
    }

    /** NAA 6 (IEEE registered extended) from the UUID's bits: stable for the life of the bdev. */
    static byte[] naa(UUID uuid) {
        ByteBuffer b = ByteBuffer.allocate(16).putLong(uuid.getMostSignificantBits()).putLong(uuid.getLeastSignificantBits());
        byte[] id = b.array();
        id[0] = (byte) (0x60 | (id[0] & 0x0F));
        return id;
    }

    private boolean volatileCache() {
        return device.supports(IoType.FLUSH);
    }

    /** Logical block provisioning (LBPME): the bdev can give blocks back, so UNMAP works. */
    public boolean provisioning() {
        return device.supports(IoType.UNMAP);
    }

    private static Check invalidField(int fieldByte, int bit) {
        return new Check(Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, fieldByte, bit));
    }

    // ------------------------------------------------------------------ INQUIRY

    public byte[] inquiry(byte[] cdb) throws Check {
        boolean evpd = (cdb[1] & 0x01) != 0;
        int page = cdb[2] & 0xFF;
        if ((cdb[1] & 0xFE) != 0) {
            throw invalidField(1, -1);
        }
        if (!evpd) {
            if (page != 0) {
                throw invalidField(2, -1);
            }
            return standardInquiry();
        }
        return switch (page) {
            case 0x00 -> vpd(0x00, provisioning()
                    ? new byte[] {0x00, (byte) 0x80, (byte) 0x83, (byte) 0xB0, (byte) 0xB1, (byte) 0xB2}
                    : new byte[] {0x00, (byte) 0x80, (byte) 0x83, (byte) 0xB0, (byte) 0xB1});
            case 0x80 -> vpd(0x80, serial.getBytes(StandardCharsets.US_ASCII));
            case 0x83 -> vpd(0x83, deviceIdentification());
            case 0xB0 -> vpd(0xB0, blockLimits());
            case 0xB1 -> vpd(0xB1, blockCharacteristics());
            case 0xB2 -> {
                if (!provisioning()) {
                    throw invalidField(2, -1);
                }
                yield vpd(0xB2, logicalBlockProvisioning());
            }
            default -> throw invalidField(2, -1);
        };
    }

    /** The standard INQUIRY data (a fresh array: the caller may change it). */
    public byte[] standardInquiry() {
        byte[] data = new byte[74];
        data[0] = 0x00;                 // peripheral qualifier 0, direct-access block device
        data[2] = 0x06;                 // SPC-4
        data[3] = 0x12;                 // HISUP, response data format 2
        data[5] = 0x08;                 // 3PC: EXTENDED COPY, between the LUNs this node serves
        data[4] = (byte) (data.length - 5);
        data[7] = 0x02;                 // CMDQUE
        ascii(data, 8, VENDOR);
        ascii(data, 16, PRODUCT);
        ascii(data, 32, REVISION);
        putShort(data, 58, 0x0960);     // iSCSI
        putShort(data, 60, 0x0460);     // SPC-4
        putShort(data, 62, 0x04C0);     // SBC-3
        return data;
    }

    private static byte[] vpd(int page, byte[] payload) {
        byte[] data = new byte[4 + payload.length];
        data[1] = (byte) page;
        putShort(data, 2, payload.length);
        System.arraycopy(payload, 0, data, 4, payload.length);
        return data;
    }

    /**
     * True when this LUN is the one a designation descriptor names (an EXTENDED COPY target): the
     * designator type and bytes of one of the descriptors in VPD 83h; code set, association and
     * the protocol identifier are not compared, as initiators copy them loosely.
     */
    public boolean identifiedBy(int designatorType, byte[] designator) {
        return switch (designatorType) {
            case 0x3 -> java.util.Arrays.equals(naa, designator);
            case 0x1 -> java.util.Arrays.equals((VENDOR + device.uuid()).getBytes(StandardCharsets.US_ASCII), designator);
            default -> false;
        };
    }

    private byte[] deviceIdentification() {
        byte[] t10 = (VENDOR + device.uuid()).getBytes(StandardCharsets.US_ASCII);
        ByteBuffer b = ByteBuffer.allocate(4 + naa.length + 4 + t10.length);
        b.put((byte) 0x01).put((byte) 0x03).put((byte) 0).put((byte) naa.length).put(naa); // binary, LU, NAA
        b.put((byte) 0x02).put((byte) 0x01).put((byte) 0).put((byte) t10.length).put(t10); // ASCII, LU, T10 vendor ID
        return b.array();
    }

    private byte[] blockLimits() {
        byte[] p = new byte[0x3C];
        int bs = device.blockSize();
        putShort(p, 2, Math.max(1, 4096 / bs));                 // optimal transfer length granularity
        putInt(p, 4, MAX_TRANSFER_BYTES / bs);                  // maximum transfer length
        putInt(p, 8, (128 << 10) / bs);                         // optimal transfer length
        // WSNZ 0: WRITE SAME with 0 blocks means to the end of the medium (within the maximum below)
        p[1] = (byte) Math.min(MAX_COMPARE_AND_WRITE_BLOCKS, MAX_TRANSFER_BYTES / 2 / bs); // max COMPARE AND WRITE
        putInt(p, 36, MAX_WRITE_SAME_BLOCKS);                   // maximum write same length (low 32 bits)
        if (provisioning()) {
            putInt(p, 16, MAX_UNMAP_BLOCKS);                    // maximum unmap LBA count
            putInt(p, 20, MAX_UNMAP_DESCRIPTORS);               // maximum unmap block descriptor count
            putInt(p, 24, Math.max(1, 4096 / bs));              // optimal unmap granularity
        }
        return p;
    }

    /**
     * VPD B2: UNMAP (LBPU) and WRITE SAME (16)/(10) with the UNMAP bit (LBPWS, LBPWS10); no anchored
     * state; blocks unmapped by UNMAP are not promised to read as zeros (a WRITE SAME of zeros with the
     * UNMAP bit is, since it becomes the bdev's write-zeroes).
     */
    private static byte[] logicalBlockProvisioning() {
        byte[] p = new byte[4];
        p[1] = (byte) 0xE0;                                      // LBPU, LBPWS, LBPWS10
        p[2] = 0x02;                                             // thin provisioned
        return p;
    }

    private static byte[] blockCharacteristics() {
        byte[] p = new byte[0x3C];
        putShort(p, 0, 1);                                      // non-rotating medium
        return p;
    }

    // ------------------------------------------------------------------ capacity

    public byte[] readCapacity10(byte[] cdb) throws Check {
        if ((cdb[8] & 0x01) != 0) {
            throw invalidField(8, 0); // PMI is obsolete
        }
        byte[] data = new byte[8];
        long last = device.blockCount() - 1;
        putInt(data, 0, (int) Math.min(last, 0xFFFFFFFFL));
        putInt(data, 4, device.blockSize());
        return data;
    }

    public byte[] readCapacity16() {
        byte[] data = new byte[32];
        ByteBuffer.wrap(data).putLong(0, device.blockCount() - 1).putInt(8, device.blockSize());
        if (provisioning()) {
            data[14] = (byte) 0x80; // LBPME
        }
        return data;
    }

    /**
     * GET LBA STATUS: one descriptor from the LBA asked to the end, "mapped" — this target does not
     * track allocation below the bdev, and mapped is the answer that promises nothing.
     */
    public byte[] getLbaStatus(byte[] cdb) throws Check {
        long lba = Cdb.u64(cdb, 2);
        if (Long.compareUnsigned(lba, device.blockCount()) >= 0) {
            throw new Check(Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.LBA_OUT_OF_RANGE));
        }
        byte[] data = new byte[24];
        putInt(data, 0, 20);
        ByteBuffer.wrap(data).putLong(8, lba).putInt(16, (int) Math.min(device.blockCount() - lba, 0xFFFFFFFFL));
        return data;
    }

    /**
     * PRE-FETCH (10)/(16), SBC-4 §5.9: the range is checked; there is no cache below this target to
     * fill (a malloc bdev is memory, a file or replica is read when asked), so the answer is GOOD —
     * the status SBC-4 gives when the blocks do not all go to cache — whether IMMED is set or not.
     */
    public void preFetch(byte[] cdb) throws Check {
        boolean ten = (cdb[0] & 0xFF) == PRE_FETCH_10;
        long lba = ten ? Cdb.u32(cdb, 2) : Cdb.u64(cdb, 2);
        long blocks = ten ? Cdb.u16(cdb, 7) : Cdb.u32(cdb, 10);
        if (!Cdb.inRange(lba, blocks, device.blockCount())) {
            throw new Check(Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.LBA_OUT_OF_RANGE));
        }
    }

    /**
     * SYNCHRONIZE CACHE (10)/(16), SBC-4 §5.29/5.30: the range must lie on the medium (LOGICAL BLOCK
     * ADDRESS OUT OF RANGE otherwise, as for every command that names blocks). The whole device is
     * flushed whatever the range: a bdev flush has no range, and more than asked is never less safe.
     */
    public void checkSyncCacheRange(byte[] cdb) throws Check {
        boolean ten = (cdb[0] & 0xFF) == SYNCHRONIZE_CACHE_10;
        long lba = ten ? Cdb.u32(cdb, 2) : Cdb.u64(cdb, 2);
        long blocks = ten ? Cdb.u16(cdb, 7) : Cdb.u32(cdb, 10);
        // 0 blocks is "to the end": the LBA itself must be a block of the medium then
        if (!Cdb.inRange(lba, blocks, device.blockCount()) || Long.compareUnsigned(lba, device.blockCount()) >= 0) {
            throw new Check(Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.LBA_OUT_OF_RANGE));
        }
    }

    /**
     * READ DEFECT DATA (10)/(12), SBC-4 §5.18/5.19: an empty list in the format asked for — a RAM
     * disk, a file or a replica has no defects the initiator could map around. The PLISTV and
     * GLISTV bits say which lists were asked for (and are both empty).
     */
    public byte[] readDefectData(byte[] cdb) {
        boolean ten = (cdb[0] & 0xFF) == READ_DEFECT_DATA_10;
        int flags = (ten ? cdb[2] : cdb[1]) & 0x1F; // REQ_PLIST, REQ_GLIST, DEFECT LIST FORMAT
        byte[] data = new byte[ten ? 4 : 8];
        data[1] = (byte) flags;                       // PLISTV, GLISTV, and the format, where REQ_* are
        return data;                                  // the list length (bytes 2-3, or 4-7) is 0
    }

    // ------------------------------------------------------------------ mode pages

    public byte[] modeSense(byte[] cdb) throws Check {
        boolean ten = (cdb[0] & 0xFF) == MODE_SENSE_10;
        boolean dbd = (cdb[1] & 0x08) != 0;
        int pc = (cdb[2] & 0xC0) >>> 6;
        int page = cdb[2] & 0x3F;
        int subpage = cdb[3] & 0xFF;
        if (pc == 3) {
            throw new Check(Sense.fixed(Sense.ILLEGAL_REQUEST, 0x3900)); // saving parameters not supported
        }
        if (subpage != 0 && subpage != 0xFF) {
            throw invalidField(3, -1);
        }
        boolean changeable = pc == 1;
        ByteBuffer pages = ByteBuffer.allocate(64);
        switch (page) {
            case 0x08 -> caching(pages, changeable);
            case 0x0A -> control(pages, changeable);
            case 0x3F -> {
                caching(pages, changeable);
                control(pages, changeable);
            }
            default -> throw invalidField(2, 5);
        }
        int header = ten ? 8 : 4;
        int descriptor = dbd ? 0 : 8;
        byte[] data = new byte[header + descriptor + pages.position()];
        if (ten) {
            putShort(data, 0, data.length - 2);
            putShort(data, 6, descriptor);
        } else {
            data[0] = (byte) (data.length - 1);
            data[3] = (byte) descriptor;
        }
        data[ten ? 3 : 2] = 0x10; // DPOFUA: DPO is accepted (and ignored), FUA flushes the write
        if (descriptor > 0) {
            long blocks = device.blockCount();
            putInt(data, header, (int) Math.min(blocks, 0xFFFFFFFFL)); // SBC's short descriptor: 32 bits, saturated
            putInt(data, header + 4, device.blockSize());
            data[header + 4] = 0;
        }
        System.arraycopy(pages.array(), 0, data, header + descriptor, pages.position());
        return data;
    }

    /**
     * MODE SELECT (6)/(10): no mode parameter of this LUN is changeable, so a list is accepted when
     * it restates the current values and refused (INVALID FIELD IN PARAMETER LIST, pointing at the
     * byte) when it would change one; saving (SP) is not supported.
     */
    public void modeSelect(byte[] cdb, ByteBuffer list, int length) throws Check {
        boolean ten = (cdb[0] & 0xFF) == MODE_SELECT_10;
        if ((cdb[1] & 0x01) != 0) {
            throw invalidField(1, 0);
        }
        if (length == 0) {
            return;
        }
        int header = ten ? 8 : 4;
        if (length < header) {
            throw new Check(Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.PARAMETER_LIST_LENGTH_ERROR));
        }
        int descriptors = ten ? list.getShort(6) & 0xFFFF : list.get(3) & 0xFF;
        int at = header;
        if (descriptors != 0 && descriptors != 8 || at + descriptors > length) {
            throw invalidParameter(ten ? 6 : 3);
        }
        if (descriptors == 8) {
            int blockLength = (list.get(at + 5) & 0xFF) << 16 | (list.get(at + 6) & 0xFF) << 8 | list.get(at + 7) & 0xFF;
            if (blockLength != device.blockSize()) {
                throw invalidParameter(at + 5);
            }
            at += 8;
        }
        byte[] current = modeSense(new byte[] {MODE_SENSE_6, 0x08, 0x3F, 0, (byte) 0xFF, 0});
        while (at < length) {
            if (at + 2 > length) {
                throw new Check(Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.PARAMETER_LIST_LENGTH_ERROR));
            }
            int code = list.get(at) & 0xFF;
            int pageLength = list.get(at + 1) & 0xFF;
            if (at + 2 + pageLength > length) {
                throw new Check(Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.PARAMETER_LIST_LENGTH_ERROR));
            }
            int mine = findPage(current, code & 0x3F);
            if ((code & 0xC0) != 0 || mine < 0 || (current[mine + 1] & 0xFF) != pageLength) {
                throw invalidParameter(at);
            }
            for (int i = 2; i < 2 + pageLength; i++) {
                if (list.get(at + i) != current[mine + i]) {
                    throw invalidParameter(at + i);
                }
            }
            at += 2 + pageLength;
        }
    }

    private static int findPage(byte[] modeSense6, int code) {
        for (int at = 4; at + 1 < modeSense6.length; at += 2 + (modeSense6[at + 1] & 0xFF)) {
            if ((modeSense6[at] & 0x3F) == code) {
                return at;
            }
        }
        return -1;
    }

    private static Check invalidParameter(int fieldByte) {
        return new Check(Sense.illegal(Sense.INVALID_FIELD_IN_PARAMETER_LIST, false, fieldByte, -1));
    }

    private void caching(ByteBuffer pages, boolean changeable) {
        int at = pages.position();
        pages.put((byte) 0x08).put((byte) 0x12);
        pages.put(new byte[0x12]);
        if (!changeable && volatileCache()) {
            pages.put(at + 2, (byte) 0x04); // WCE: writes are durable after SYNCHRONIZE CACHE
        }
    }

    private static void control(ByteBuffer pages, boolean changeable) {
        int at = pages.position();
        pages.put((byte) 0x0A).put((byte) 0x0A);
        pages.put(new byte[0x0A]);
        if (!changeable) {
            // QAM 1, unrestricted reordering: commands run as their data arrives, not in CmdSN order (0, restricted,
            // promised an order the target does not keep — as LIO says by default)
            pages.put(at + 3, (byte) 0x10);
            pages.put(at + 8, (byte) 0xFF).put(at + 9, (byte) 0xFF); // busy timeout period: unlimited
        }
    }

    // ------------------------------------------------------------------ LUNs and sense

    public byte[] reportLuns(byte[] cdb) throws Check {
        int select = cdb[2] & 0xFF;
        if (select > 2 && select != 0x10 && select != 0x11 && select != 0x12) {
            throw invalidField(2, -1);
        }
        byte[] data = new byte[16];
        putInt(data, 0, 8); // one LUN: LUN 0, all zeros
        return data;
    }

    public byte[] requestSense(byte[] cdb) throws Check {
        if ((cdb[1] & 0x01) != 0) {
            throw invalidField(1, 0); // descriptor format is not offered
        }
        return Sense.fixed(Sense.NO_SENSE, 0);
    }

    // ------------------------------------------------------------------ helpers

    private static void ascii(byte[] data, int at, String text) {
        byte[] b = text.getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(b, 0, data, at, b.length);
    }

    static void putShort(byte[] data, int at, int value) {
        data[at] = (byte) (value >>> 8);
        data[at + 1] = (byte) value;
    }

    static void putInt(byte[] data, int at, int value) {
        data[at] = (byte) (value >>> 24);
        data[at + 1] = (byte) (value >>> 16);
        data[at + 2] = (byte) (value >>> 8);
        data[at + 3] = (byte) value;
    }
}
