package io.mayastorj.iscsi.internal.target;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.BlockDeviceBase;
import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.internal.bdev.MallocBdevFactory;
import io.mayastorj.iscsi.internal.protocol.Bhs;
import io.mayastorj.iscsi.internal.scsi.Sense;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * ABORT TASK of a write the bdev already has: "function complete" only once the write is done
 * with the medium — answered at once, a retry or a later write to the same blocks could be
 * overwritten by the aborted one when it lands.
 */
class TaskManagementTest {

    /** A RAM disk whose writes wait, while {@link #hold} is set, until the test lets them go. */
    private static final class SlowDisk extends BlockDeviceBase {
        private final BlockDevice ram;
        volatile boolean hold;
        final List<Runnable> held = new CopyOnWriteArrayList<>();

        SlowDisk(BlockDevice ram) {
            super("slow", UUID.randomUUID(), ram.blockSize(), ram.blockCount());
            this.ram = ram;
        }

        @Override
        public String productName() {
            return "Slow disk";
        }

        @Override
        public int bufferAlignment() {
            return 1;
        }

        @Override
        public boolean supports(IoType type) {
            return type == IoType.READ || type == IoType.WRITE || type == IoType.FLUSH;
        }

        @Override
        protected <C> void doRead(DmaBuffer buffer, int bufferOffset, long lba, int blocks, IoCompletion<? super C> done,
                                  C context) {
            ram.read(buffer, bufferOffset, lba, blocks, (s, c) -> complete(IoType.READ, (long) blocks * blockSize(), s, done,
                    context), null);
        }

        @Override
        protected <C> void doWrite(DmaBuffer buffer, int bufferOffset, long lba, int blocks, IoCompletion<? super C> done,
                                   C context) {
            Runnable write = () -> ram.write(buffer, bufferOffset, lba, blocks, (s, c) -> complete(IoType.WRITE,
                    (long) blocks * blockSize(), s, done, context), null);
            if (hold) {
                held.add(write);
            } else {
                write.run();
            }
        }

        @Override
        protected <C> void doFlush(IoCompletion<? super C> done, C context) {
            complete(IoType.FLUSH, 0, io.mayastorj.core.bdev.IoStatus.SUCCESS, done, context);
        }

        @Override
        protected void doClose() {
            ram.close();
        }
    }

    private IscsiFixture fx;
    private SlowDisk disk;

    @BeforeEach
    void setUp() throws Exception {
        disk = new SlowDisk(new MallocBdevFactory().create(BdevUri.parse("malloc:///ram?size_mb=8&blk_size=512")));
        fx = new IscsiFixture("slow", disk);
    }

    @AfterEach
    void tearDown() {
        disk.hold = false;
        disk.held.forEach(Runnable::run);
        fx.close();
    }

    @Test
    void anAbortOfAWriteTheBdevHasIsAnsweredOnceTheWriteIsDone() throws Exception {
        try (ScsiSession s = new ScsiSession(fx.target.address().getPort(), fx.iqn)) {
            byte[] old = new byte[4096];
            Arrays.fill(old, (byte) 'O');
            disk.hold = true;
            ScsiSession.Held write = s.writeUntilR2t(ScsiSession.write16(0, 8), old.length);
            s.sendHeldData(write, old);
            for (int i = 0; i < 500 && disk.held.isEmpty(); i++) {
                Thread.sleep(10);
            }
            assertEquals(1, disk.held.size(), "the write is at the bdev");
            s.abortTask(write.itt());
            assertNull(s.receive(300), "no answer while the aborted write may still land");
            disk.hold = false;
            disk.held.forEach(Runnable::run);
            RawInitiator.Pdu answer = s.receive(5000);
            assertNotNull(answer, "answered once the write is done");
            assertEquals(Bhs.TASK_MANAGEMENT_RESPONSE, answer.opcode(), "no SCSI Response for the aborted write");
            assertEquals(0, answer.bhs().get(2), "function complete");

            byte[] retry = new byte[4096];
            Arrays.fill(retry, (byte) 'R');
            assertEquals(Sense.GOOD, s.command(ScsiSession.write16(0, 8), retry, 0).status());
            ScsiSession.Result read = s.command(ScsiSession.read16(0, 8), null, 4096);
            assertArrayEquals(retry, read.data(), "the retry is what the medium holds");
            assertTrue(disk.held.size() == 1, "nothing else was held");
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
            byte[] caw = java.nio.ByteBuffer.allocate(16).put(0, (byte) 0x89).putLong(2, 0).put(13, (byte) 1).array();
            ScsiSession.Held write = s.writeUntilR2t(caw, data.length);
            s.sendHeldData(write, data);
            for (int i = 0; i < 500 && disk.held.isEmpty(); i++) {
                Thread.sleep(10);
            }
            assertEquals(1, disk.held.size(), "the compare matched and the write is at the bdev");
            s.abortTask(write.itt());
            assertNull(s.receive(300), "no answer while the aborted write may still land");
            disk.hold = false;
            disk.held.forEach(Runnable::run);
            RawInitiator.Pdu answer = s.receive(5000);
            assertNotNull(answer, "answered once the write is done");
            assertEquals(Bhs.TASK_MANAGEMENT_RESPONSE, answer.opcode());
        }
    }
}
