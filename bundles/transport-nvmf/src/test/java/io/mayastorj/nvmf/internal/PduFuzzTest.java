package io.mayastorj.nvmf.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.BlockingIo;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.transport.ShareOptions;
import io.mayastorj.nvmf.internal.protocol.Pdu;
import io.mayastorj.nvmf.internal.protocol.Sqe;
import io.mayastorj.nvmf.internal.protocol.Status;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.TreeMap;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.Test;

/**
 * A seeded random PDU generator against the target, for a bounded time: well-formed PDUs with
 * random fields and random damage (flipped bytes, wrong lengths, truncation, trailing garbage),
 * sent at every stage of a connection (before ICReq, before Connect, on a live admin or I/O
 * queue). Throughout, a well-behaved host keeps reading and writing verified data through the
 * same target, on the same reactors; afterwards no fuzz connection is left, no buffer is leaked and nothing was logged
 * as an internal error.
 *
 * <p>{@code -Dnvmf.fuzz.seconds=N} runs longer (default 10), {@code -Dnvmf.fuzz.seed=S} replays a
 * run (the seed is printed).
 */
class PduFuzzTest {

    private static final String HOST = NvmfFixture.HOST_NQN;
    private static final String NQN = "nqn.2019-05.io.openebs:victim";
    private static final int[] PDU_TYPES = {Pdu.IC_REQ, Pdu.H2C_TERM_REQ, Pdu.CAPSULE_CMD, Pdu.H2C_DATA, 0x01, 0x03, 0x05, 0x07, 0x09, 0x0A, 0x7F, 0xFF};
    private static final int[] OPCODES = {0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x08, 0x09, 0x0C, 0x0D, 0x18, 0x7F, 0x80, 0xFF,
        Sqe.FABRICS_OPCODE};

    /** SEVERE records: a handler that threw, an unexpected reactor error. */
    private static final class Severe extends Handler {
        final List<String> seen = new ArrayList<>();

        @Override
        public synchronized void publish(LogRecord r) {
            if (r.getLevel().intValue() >= Level.SEVERE.intValue()) {
                seen.add(r.getLoggerName() + ": " + r.getMessage() + (r.getThrown() == null ? "" : " " + r.getThrown()));
            }
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
        }
    }

    @Test
    void randomPdusNeitherCrashNorLeakNorDisturbAnotherHost() throws Exception {
        long seed = Long.getLong("nvmf.fuzz.seed", System.nanoTime());
        long seconds = Long.getLong("nvmf.fuzz.seconds", 10);
        System.out.println("PduFuzzTest seed " + seed + " (replay with -Dnvmf.fuzz.seed=" + seed + ")");
        Random random = new Random(seed);
        Severe severe = new Severe();
        Logger root = Logger.getLogger("");
        root.addHandler(severe);
        try (NvmfFixture fx = new NvmfFixture()) {
            fx.target.share(fx.malloc("victim", 8, 512), ShareOptions.DEFAULT);
            // the well-behaved host has a disk of its own: fuzzed writes to the victim are legitimate
            fx.target.share(fx.malloc("bystander", 8, 512), ShareOptions.DEFAULT);
            BlockDevice healthy = fx.connect("nvmf://127.0.0.1:" + fx.port() + "/nqn.2019-05.io.openebs:bystander");
            verifiedIo(fx, healthy, random, 0);
            int queuesBefore = fx.target.queues().size();
            long buffersBefore = settledInUse(fx);

            TreeMap<String, Integer> outcomes = new TreeMap<>();
            long deadline = System.nanoTime() + seconds * 1_000_000_000L;
            int cases = 0;
            while (System.nanoTime() < deadline && cases < 100_000) {
                outcomes.merge(oneCase(fx.port(), random), 1, Integer::sum);
                cases++;
                if (cases % 25 == 0) {
                    verifiedIo(fx, healthy, random, cases);
                }
            }
            verifiedIo(fx, healthy, random, cases);
            System.out.println("PduFuzzTest: " + cases + " cases in " + seconds + " s: " + outcomes);

            long wait = System.nanoTime() + 5_000_000_000L;
            while ((fx.target.queues().size() != queuesBefore || inUse(fx) != buffersBefore) && System.nanoTime() < wait) {
                Thread.sleep(10);
            }
            assertEquals(queuesBefore, fx.target.queues().size(), "fuzz connections left behind: " + fx.target.queues());
            assertEquals(buffersBefore, inUse(fx), "buffers leaked");
            assertTrue(cases > 100, "the fuzzer ran only " + cases + " cases");
        } finally {
            root.removeHandler(severe);
        }
        assertEquals(List.of(), severe.seen, "internal errors logged while fuzzing (seed " + seed + ")");
    }

    /**
     * Buffers in use once the healthy host's last I/O has fully ended: the target gives a read's
     * buffer back only after its data left the socket, which can be just after the host saw the read
     * complete.
     */
    private static long settledInUse(NvmfFixture fx) throws InterruptedException {
        long value = inUse(fx);
        long stableSince = System.nanoTime();
        long deadline = stableSince + 5_000_000_000L;
        while (System.nanoTime() - stableSince < 200_000_000L && System.nanoTime() < deadline) {
            Thread.sleep(10);
            long now = inUse(fx);
            if (now != value) {
                value = now;
                stableSince = System.nanoTime();
            }
        }
        return value;
    }

    private static long inUse(NvmfFixture fx) {
        return fx.buffers.stats().classes().stream().mapToLong(c -> c.inUse()).sum();
    }

    /** The well-behaved host: a write and a read-back of random data at a random place. */
    private static void verifiedIo(NvmfFixture fx, BlockDevice device, Random random, int round) {
        byte[] data = new byte[4096];
        random.nextBytes(data);
        long lba = random.nextInt((int) (device.blockCount() - 8));
        DmaBuffer buffer = fx.buffers.allocate(4096);
        try {
            buffer.bytes().put(0, data);
            BlockingIo.write(device, buffer, 0, lba, 8, Duration.ofSeconds(10));
            buffer.bytes().put(0, new byte[4096]);
            BlockingIo.read(device, buffer, 0, lba, 8, Duration.ofSeconds(10));
            byte[] back = new byte[4096];
            buffer.bytes().get(0, back);
            assertArrayEquals(data, back, "the healthy host read back something else after fuzz case " + round);
        } finally {
            buffer.release();
        }
    }

    /** One connection: reach a random stage properly, then send random and damaged PDUs. */
    private static String oneCase(int port, Random random) throws IOException {
        int stage = random.nextInt(4); // 0 nothing, 1 after ICReq, 2 admin queue up, 3 I/O queue up
        boolean hd = random.nextInt(4) == 0;
        boolean dd = random.nextInt(4) == 0;
        try (RawClient c = new RawClient(port)) {
            c.channel.socket().setSoTimeout(5000);
            try {
                if (stage >= 1) {
                    c.initialize(hd, dd);
                }
                if (stage == 2) {
                    if (c.connect(NQN, HOST, 0, 31, 0xFFFF, 0).cqeStatus() != Status.SUCCESS) {
                        return "setup refused";
                    }
                    c.enable();
                } else if (stage == 3) {
                    try (RawClient admin = new RawClient(port)) {
                        admin.initialize(false, false);
                        RawClient.Received r = admin.connect(NQN, HOST, 0, 31, 0xFFFF, 0);
                        admin.enable();
                        if (c.connect(NQN, HOST, 1, 15, r.dw0() & 0xFFFF, 0).cqeStatus() != Status.SUCCESS) {
                            return "setup refused";
                        }
                        return fuzz(c, random, stage);
                    }
                }
            } catch (IOException e) {
                return "setup failed: " + e.getMessage();
            }
            return fuzz(c, random, stage);
        }
    }

    private static String fuzz(RawClient c, Random random, int stage) throws IOException {
        c.channel.socket().setSoTimeout(150);
        int pdus = 1 + random.nextInt(4);
        try {
            for (int i = 0; i < pdus; i++) {
                c.send(randomPdu(c, random));
            }
        } catch (IOException e) {
            return "stage " + stage + ": closed while sending";
        }
        String last = "no answer";
        for (int i = 0; i < 8; i++) {
            try {
                RawClient.Received r = c.receive();
                last = r.type() == Pdu.C2H_TERM_REQ ? "terminated" : r.type() == Pdu.CAPSULE_RESP
                        ? (r.cqeStatus() == 0 ? "success" : "status") : "pdu " + r.type();
            } catch (java.io.EOFException e) {
                return "stage " + stage + ": " + (last.equals("no answer") ? "closed" : last + ", closed");
            } catch (IOException e) {
                break; // nothing more within the timeout
            }
        }
        return "stage " + stage + ": " + last;
    }

    /** A plausible PDU, then (usually) damaged. */
    private static ByteBuffer randomPdu(RawClient c, Random random) {
        ByteBuffer pdu = switch (random.nextInt(5)) {
            case 0 -> RawClient.icReq(random.nextInt(4));
            case 1 -> c.capsule(randomSqe(random), random.nextInt(3) == 0 ? bytes(random, random.nextInt(9000)) : null);
            case 2 -> c.h2cData(random.nextInt(40), random.nextInt(40), random.nextInt(3) * 512, bytes(random, 1 + random.nextInt(4096)),
                    random.nextBoolean());
            case 3 -> {
                ByteBuffer term = RawClient.buffer(24);
                Pdu.header(term, Pdu.H2C_TERM_REQ, 0, 24, 0, 24);
                term.putShort(8, (short) random.nextInt(8));
                yield term;
            }
            default -> ByteBuffer.wrap(bytes(random, 1 + random.nextInt(200)));
        };
        pdu.order(java.nio.ByteOrder.LITTLE_ENDIAN);
        int damage = pdu.capacity() < 8 ? 7 : random.nextInt(8); // header damage needs a common header
        switch (damage) {
            case 0 -> pdu.put(0, (byte) PDU_TYPES[random.nextInt(PDU_TYPES.length)]);
            case 1 -> pdu.put(2, (byte) random.nextInt(256)); // HLEN
            case 2 -> pdu.put(3, (byte) random.nextInt(256)); // PDO
            case 3 -> pdu.putInt(4, random.nextBoolean() ? random.nextInt() : pdu.capacity() + random.nextInt(64) - 32); // PLEN
            case 4 -> { // flipped bytes anywhere
                for (int n = 1 + random.nextInt(4); n > 0 && pdu.capacity() > 0; n--) {
                    int at = random.nextInt(pdu.capacity());
                    pdu.put(at, (byte) (pdu.get(at) ^ (1 << random.nextInt(8))));
                }
            }
            case 5 -> { // truncated
                ByteBuffer cut = RawClient.buffer(random.nextInt(pdu.capacity()) + 1);
                cut.put(0, pdu, 0, cut.capacity());
                pdu = cut;
            }
            default -> {
                // well-formed: the fields alone are random
            }
        }
        return pdu;
    }

    private static ByteBuffer randomSqe(Random random) {
        int opcode = OPCODES[random.nextInt(OPCODES.length)];
        ByteBuffer s = RawClient.sqe(opcode, random.nextInt(64));
        if (opcode == Sqe.FABRICS_OPCODE) {
            s.put(Sqe.FCTYPE, (byte) (random.nextBoolean() ? random.nextInt(5) : random.nextInt(256)));
            s.putInt(Sqe.PROPERTY_OFFSET, random.nextInt(0x40));
        }
        s.putInt(Sqe.NSID, random.nextInt(3) == 0 ? random.nextInt() : 1);
        s.putLong(Sqe.CDW10, random.nextInt(3) == 0 ? random.nextLong() : random.nextInt(20000));
        s.putInt(Sqe.CDW12, random.nextInt(3) == 0 ? random.nextInt() : random.nextInt(64));
        s.putInt(Sqe.SGL_LENGTH, random.nextInt(3) == 0 ? random.nextInt() : random.nextInt(9) * 512);
        s.put(Sqe.SGL_IDENTIFIER, (byte) (random.nextInt(3) == 0 ? random.nextInt(256)
                : random.nextBoolean() ? Sqe.SGL_DATA_BLOCK_OFFSET : Sqe.SGL_TRANSPORT_DATA_BLOCK));
        if (random.nextInt(4) == 0) {
            s.put(Sqe.FLAGS, (byte) random.nextInt(256));
        }
        return s;
    }

    private static byte[] bytes(Random random, int n) {
        byte[] b = new byte[n];
        random.nextBytes(b);
        return b;
    }
}
