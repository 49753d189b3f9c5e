package io.mayastorj.nvmf.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.BlockDeviceBase;
import io.mayastorj.core.bdev.BlockingIo;
import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.transport.ShareOptions;
import io.mayastorj.nvmf.internal.protocol.Identify;
import io.mayastorj.nvmf.internal.protocol.LbaStatus;
import io.mayastorj.nvmf.internal.protocol.Pdu;
import io.mayastorj.nvmf.internal.protocol.Sqe;
import io.mayastorj.nvmf.internal.protocol.Status;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.BitSet;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The allocation report a rebuild relies on to keep thin replicas thin: the target advertises it
 * (RALBAS, TLBAAG) and answers Get LBA Status action 02h from the bdev's own map, sent here byte for
 * byte as a host sends it (the command layout of NVM Command Set 1.2 §4.2.1, and nvme-cli's
 * {@code get-lba-status}); the {@code nvmf://} bdev loads it at connect and answers {@code holdsData}
 * from it and from its own writes.
 */
class AllocationReportTest {

    private static final String HOST = NvmfFixture.HOST_NQN;
    private static final String NQN = "nqn.2019-05.io.openebs:thin";
    private static final int UNIT = 2048; // blocks: 1 MiB units of 512-byte blocks
    private static final Duration T = Duration.ofSeconds(10);
    private NvmfFixture fx;
    private ThinDisk thin;

    /** A disk that tracks which 1 MiB units were written, as a thin replica tracks its clusters. */
    private static final class ThinDisk extends BlockDeviceBase {
        final BlockDevice backing;
        final BitSet written = new BitSet();

        ThinDisk(BlockDevice backing) {
            super("thin", UUID.fromString("7e1e0000-0000-4000-8000-000000000001"), backing.blockSize(), backing.blockCount());
            this.backing = backing;
        }

        @Override
        public String productName() {
            return "thin test disk";
        }

        @Override
        public int bufferAlignment() {
            return backing.bufferAlignment();
        }

        @Override
        public boolean supports(IoType type) {
            return type != IoType.UNMAP && type != IoType.WRITE_ZEROES;
        }

        @Override
        public synchronized boolean holdsData(long lba, long blocks) {
            int first = (int) (lba / UNIT);
            int last = (int) ((lba + blocks - 1) / UNIT);
            int next = written.nextSetBit(first);
            return next >= 0 && next <= last;
        }

        @Override
        public long allocationUnit() {
            return UNIT;
        }

        @Override
        protected <C> void doRead(DmaBuffer buffer, int bufferOffset, long lba, int blocks,
                                  IoCompletion<? super C> done, C context) {
            backing.read(buffer, bufferOffset, lba, blocks, (status, c) -> complete(IoType.READ, (long) blocks * blockSize(),
                    status, done, context), null);
        }

        @Override
        protected <C> void doWrite(DmaBuffer buffer, int bufferOffset, long lba, int blocks,
                                   IoCompletion<? super C> done, C context) {
            synchronized (this) {
                written.set((int) (lba / UNIT), (int) ((lba + blocks - 1) / UNIT) + 1);
            }
            backing.write(buffer, bufferOffset, lba, blocks, (status, c) -> complete(IoType.WRITE,
                    (long) blocks * blockSize(), status, done, context), null);
        }

        @Override
        protected <C> void doFlush(IoCompletion<? super C> done, C context) {
            complete(IoType.FLUSH, 0, IoStatus.SUCCESS, done, context);
        }

        @Override
        protected void doClose() {
        }

        void writeUnits(int... units) {
            synchronized (this) {
                for (int u : units) {
                    written.set(u);
                }
            }
        }
    }

    @BeforeEach
    void setUp() throws Exception {
        fx = new NvmfFixture();
        thin = new ThinDisk(fx.malloc("backing", 64, 512)); // 64 units
        fx.target.share(thin, ShareOptions.DEFAULT);
    }

    @AfterEach
    void tearDown() {
        fx.close();
        thin.close();
    }

    private RawClient admin(String subnqn) throws Exception {
        RawClient admin = new RawClient(fx.port());
        admin.initialize(false, false);
        assertEquals(Status.SUCCESS, admin.connect(subnqn, HOST, 0, 31, 0xFFFF, 0).cqeStatus());
        assertEquals(Status.SUCCESS, admin.enable().cqeStatus());
        return admin;
    }

    /** Sends an admin command with a {@code length}-byte data buffer; returns the data, or the failed response. */
    private static Object call(RawClient c, ByteBuffer sqe, int length) throws Exception {
        sqe.putInt(Sqe.SGL_LENGTH, length);
        c.send(c.capsule(sqe, null));
        RawClient.Received first = c.receive();
        if (first.type() == Pdu.CAPSULE_RESP) {
            return first;
        }
        ByteBuffer bytes = ByteBuffer.allocate(length).order(ByteOrder.LITTLE_ENDIAN);
        bytes.put(first.data());
        while (bytes.hasRemaining()) {
            bytes.put(c.receive().data());
        }
        RawClient.Received response = c.receive();
        if (response.type() == Pdu.CAPSULE_RESP) {
            assertEquals(Status.SUCCESS, response.cqeStatus());
        }
        return bytes.flip();
    }

    /** Get LBA Status as nvme-cli sends it: SLBA in CDW10-11, MNDW in CDW12, ATYPE and RL in CDW13. */
    private static ByteBuffer getLbaStatus(int cid, long slba, int bytes, int atype, int rangeLength) {
        ByteBuffer sqe = RawClient.sqe(LbaStatus.OPCODE, cid);
        sqe.putInt(Sqe.NSID, 1);
        sqe.putInt(Sqe.CDW10, (int) slba);
        sqe.putInt(Sqe.CDW11, (int) (slba >>> 32));
        sqe.putInt(Sqe.CDW12, bytes / 4 - 1);
        sqe.putInt(Sqe.CDW13, atype << 24 | rangeLength);
        return sqe;
    }

    private static String ranges(ByteBuffer data) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < LbaStatus.count(data); i++) {
            s.append(LbaStatus.start(data, i)).append('+').append(LbaStatus.length(data, i))
                    .append(data.get(LbaStatus.HEADER + i * LbaStatus.DESCRIPTOR + LbaStatus.OFF_STATUS) == LbaStatus.LBARS_ALLOCATED
                            ? "" : "?").append(' ');
        }
        return s.toString().strip() + (LbaStatus.complete(data) ? "" : " ...");
    }

    @Test
    void theTargetAdvertisesAndAnswersItsAllocatedRanges() throws Exception {
        thin.writeUnits(0, 1, 2, 7, 40, 63);
        try (RawClient admin = admin(NQN)) {
            ByteBuffer idc = RawClient.sqe(Sqe.ADMIN_IDENTIFY, 1);
            idc.putInt(Sqe.CDW10, Identify.CNS_CSI_CONTROLLER);
            ByteBuffer nvmController = (ByteBuffer) call(admin, idc, 4096);
            assertEquals(1, nvmController.getShort(LbaStatus.AOCS) & 1, "RALBAS");
            ByteBuffer idn = RawClient.sqe(Sqe.ADMIN_IDENTIFY, 2);
            idn.putInt(Sqe.NSID, 1);
            idn.putInt(Sqe.CDW10, Identify.CNS_CSI_NAMESPACE);
            assertEquals(UNIT, ((ByteBuffer) call(admin, idn, 4096)).getInt(LbaStatus.TLBAAG), "TLBAAG in blocks");

            ByteBuffer all = (ByteBuffer) call(admin, getLbaStatus(3, 0, 4096, LbaStatus.ATYPE_ALLOCATED, 0), 4096);
            assertEquals("0+6144 14336+2048 81920+2048 129024+2048", ranges(all), "adjacent units merge, gaps split");

            ByteBuffer from = (ByteBuffer) call(admin, getLbaStatus(4, 5000, 4096, LbaStatus.ATYPE_ALLOCATED, 20000), 4096);
            assertEquals("5000+1144 14336+2048", ranges(from), "clipped to [SLBA, SLBA + RL)");

            ByteBuffer two = (ByteBuffer) call(admin, getLbaStatus(5, 0, LbaStatus.HEADER + 2 * LbaStatus.DESCRIPTOR,
                    LbaStatus.ATYPE_ALLOCATED, 0), LbaStatus.HEADER + 2 * LbaStatus.DESCRIPTOR);
            assertEquals("0+6144 14336+2048 ...", ranges(two), "MNDW reached: CMPC says incomplete");
            ByteBuffer rest = (ByteBuffer) call(admin, getLbaStatus(6, 16384, 4096, LbaStatus.ATYPE_ALLOCATED, 0), 4096);
            assertEquals("81920+2048 129024+2048", ranges(rest));

            ByteBuffer none = (ByteBuffer) call(admin, getLbaStatus(7, 20000, 4096, LbaStatus.ATYPE_ALLOCATED, 1000), 4096);
            assertEquals("", ranges(none), "no descriptor, complete");
        }
    }

    @Test
    void whatItCannotAnswerIsRefusedWithTheStatusTheSpecNames() throws Exception {
        try (RawClient admin = admin(NQN)) {
            RawClient.Received scan = (RawClient.Received) call(admin, getLbaStatus(1, 0, 4096, 0x10, 0), 4096);
            assertEquals(Status.INVALID_FIELD, scan.cqeStatus(), "action 10h (unrecoverable LBAs) is not supported");
            assertTrue(scan.dnr());
            // nvme-cli 2.3 (Debian 12) sends MNDW but no data buffer (libnvme issue 753)
            RawClient.Received noBuffer = (RawClient.Received) call(admin,
                    getLbaStatus(2, 0, 4096, LbaStatus.ATYPE_ALLOCATED, 0), 0);
            assertEquals(Status.DATA_SGL_LENGTH_INVALID, noBuffer.cqeStatus());
            RawClient.Received beyond = (RawClient.Received) call(admin,
                    getLbaStatus(3, thin.blockCount(), 4096, LbaStatus.ATYPE_ALLOCATED, 0), 4096);
            assertEquals(Status.LBA_OUT_OF_RANGE, beyond.cqeStatus());
            ByteBuffer wrongNs = getLbaStatus(4, 0, 4096, LbaStatus.ATYPE_ALLOCATED, 0);
            wrongNs.putInt(Sqe.NSID, 2);
            assertEquals(Status.INVALID_NAMESPACE, ((RawClient.Received) call(admin, wrongNs, 4096)).cqeStatus());
        }
        BlockDevice plain = fx.malloc("plain", 4, 512);
        fx.target.share(plain, ShareOptions.DEFAULT);
        try (RawClient admin = admin("nqn.2019-05.io.openebs:plain")) {
            ByteBuffer idc = RawClient.sqe(Sqe.ADMIN_IDENTIFY, 1);
            idc.putInt(Sqe.CDW10, Identify.CNS_CSI_CONTROLLER);
            assertEquals(0, ((ByteBuffer) call(admin, idc, 4096)).getShort(LbaStatus.AOCS) & 1,
                    "a RAM disk cannot tell what it holds: no RALBAS");
            RawClient.Received refused = (RawClient.Received) call(admin,
                    getLbaStatus(2, 0, 4096, LbaStatus.ATYPE_ALLOCATED, 0), 4096);
            assertEquals(Status.INVALID_FIELD, refused.cqeStatus());
        }
    }

    @Test
    void theNvmfBdevKnowsWhatTheRemoteReplicaHoldsAndWhatItWroteSince() throws Exception {
        thin.writeUnits(3, 4, 30);
        BlockDevice remote = fx.connect("nvmf://127.0.0.1:" + fx.port() + "/" + NQN);
        assertEquals(UNIT, remote.allocationUnit());
        assertTrue(remote.holdsData(3 * UNIT, UNIT));
        assertTrue(remote.holdsData(5 * UNIT - 1, 2), "a range reaching into unit 4");
        assertFalse(remote.holdsData(5 * UNIT, 25 * UNIT), "units 5..29 never written");
        assertTrue(remote.holdsData(30 * UNIT + 100, 1));
        assertFalse(remote.holdsData(31 * UNIT, 33 * UNIT));

        DmaBuffer buffer = fx.buffers.allocate(4096);
        try {
            assertEquals(IoStatus.SUCCESS, BlockingIo.write(remote, buffer, 0, 10L * UNIT + 8, 8, T));
        } finally {
            buffer.release();
        }
        assertTrue(remote.holdsData(10L * UNIT, UNIT), "its own write, known at once");
        assertFalse(remote.holdsData(11L * UNIT, 19L * UNIT));

        BlockDevice plain = fx.malloc("plain2", 4, 512);
        fx.target.share(plain, ShareOptions.DEFAULT);
        BlockDevice untracked = fx.connect("nvmf://127.0.0.1:" + fx.port() + "/nqn.2019-05.io.openebs:plain2");
        assertEquals(0, untracked.allocationUnit());
        assertTrue(untracked.holdsData(0, 8), "a target without a report: every range may hold data");
    }
}
