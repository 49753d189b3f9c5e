package io.mayastorj.iscsi.internal.target;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.mayastorj.iscsi.internal.protocol.Bhs;
import io.mayastorj.iscsi.internal.protocol.TextParameters;
import java.io.EOFException;
import java.io.IOException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
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
 * Seeded random PDUs against the target for a bounded time: plausible PDUs of every opcode with
 * random fields, random CDBs, random text, damaged lengths and truncations, before and after login.
 * Meanwhile a well-behaved session keeps echoing data (a TARGET COLD RESET, which ends every
 * session by design, is left out); afterwards no connection or
 * buffer is left and nothing was logged as an internal error. {@code -Discsi.fuzz.seconds=N},
 * {@code -Discsi.fuzz.seed=S}.
 */
class PduFuzzTest {

    private static final int[] OPCODES = {Bhs.NOP_OUT, Bhs.SCSI_COMMAND, Bhs.TASK_MANAGEMENT_REQUEST, Bhs.LOGIN_REQUEST,
        Bhs.TEXT_REQUEST, Bhs.DATA_OUT, Bhs.LOGOUT_REQUEST, Bhs.SNACK_REQUEST, 0x1C, 0x3F};
    private static final int[] SCSI = {0x00, 0x03, 0x08, 0x0A, 0x12, 0x1A, 0x1B, 0x25, 0x28, 0x2A, 0x35, 0x5A, 0x88, 0x8A,
        0x91, 0x9E, 0xA0, 0xA8, 0xAA, 0x41, 0x42, 0x89, 0x5E, 0x5F, 0xFF};

    private static final class Severe extends Handler {
        final List<String> seen = new ArrayList<>();
        final java.util.concurrent.atomic.AtomicInteger coldResets = new java.util.concurrent.atomic.AtomicInteger();

        @Override
        public synchronized void publish(LogRecord r) {
            if (r.getLevel().intValue() >= Level.SEVERE.intValue()) {
                seen.add(r.getMessage() + (r.getThrown() == null ? "" : " " + r.getThrown()));
            }
            if (r.getParameters() != null && java.util.Arrays.asList(r.getParameters()).contains("target cold reset")) {
                coldResets.incrementAndGet();
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
    void randomPdusNeitherCrashNorLeakNorDisturbAnotherSession() throws Exception {
        long seed = Long.getLong("iscsi.fuzz.seed", System.nanoTime());
        long seconds = Long.getLong("iscsi.fuzz.seconds", 10);
        System.out.println("iSCSI PduFuzzTest seed " + seed + " (replay with -Discsi.fuzz.seed=" + seed + ")");
        Random random = new Random(seed);
        Severe severe = new Severe();
        Logger.getLogger("").addHandler(severe);
        TreeMap<String, Integer> outcomes = new TreeMap<>();
        int cases = 0;
        try (IscsiFixture fx = new IscsiFixture("fuzzed", 8)) {
            int port = fx.target.address().getPort();
            RawInitiator healthy = healthy(port, fx.iqn);
            try {
                long deadline = System.nanoTime() + seconds * 1_000_000_000L;
                while (System.nanoTime() < deadline && cases < 50_000) {
                    outcomes.merge(oneCase(port, fx.iqn, random), 1, Integer::sum);
                    if (++cases % 20 == 0) {
                        healthy = echoOrRejoin(healthy, port, fx.iqn, random, severe, outcomes);
                    }
                }
                healthy = echoOrRejoin(healthy, port, fx.iqn, random, severe, outcomes);
            } finally {
                healthy.close();
            }
            System.out.println("iSCSI PduFuzzTest: " + cases + " cases: " + outcomes);
            long wait = System.nanoTime() + 5_000_000_000L;
            while (!fx.target.connections().isEmpty() && System.nanoTime() < wait) {
                Thread.sleep(10);
            }
            assertEquals(List.of(), fx.target.connections(), "connections left behind");
            wait = System.nanoTime() + 5_000_000_000L;
            while (inUse(fx) != 0 && System.nanoTime() < wait) {
                Thread.sleep(10);
            }
            assertEquals(0, inUse(fx), "buffers leaked");
        } finally {
            Logger.getLogger("").removeHandler(severe);
        }
        assertTrue(cases > 100, "only " + cases + " cases ran");
        assertEquals(List.of(), severe.seen, "internal errors while fuzzing (seed " + seed + ")");
    }

    private static long inUse(IscsiFixture fx) {
        return fx.buffers.stats().classes().stream().mapToLong(c -> c.inUse()).sum();
    }

    private static RawInitiator healthy(int port, String iqn) throws IOException {
        RawInitiator healthy = new RawInitiator(port);
        assertEquals(0, healthy.loginTo(iqn).bhs().get(Bhs.STATUS_CLASS));
        return healthy;
    }

    /**
     * The healthy session's echo; ended only by a TARGET COLD RESET, which ends every session by
     * design. The fuzzer never sends one itself, but a header misframed by a fake AHS or data
     * length can read as one (it happened in CI, seed 5669623887136): then it logs in again.
     */
    private static RawInitiator echoOrRejoin(RawInitiator healthy, int port, String iqn, Random random, Severe log,
                                             TreeMap<String, Integer> outcomes) throws Exception {
        int before = log.coldResets.get();
        try {
            echo(healthy, random);
            return healthy;
        } catch (EOFException e) {
            long wait = System.nanoTime() + 2_000_000_000L;
            while (log.coldResets.get() == before && System.nanoTime() < wait) {
                Thread.sleep(10);
            }
            if (log.coldResets.get() == before) {
                throw e; // closed for another reason: what this test is for
            }
            healthy.close();
            outcomes.merge("healthy session ended by a cold reset from misframed data", 1, Integer::sum);
            return healthy(port, iqn);
        }
    }

    /** The healthy session: a NOP-Out with random data comes back as it went. */
    private static void echo(RawInitiator healthy, Random random) throws IOException {
        byte[] data = new byte[1 + random.nextInt(512)];
        random.nextBytes(data);
        healthy.send(healthy.nopOut(data.length), data);
        RawInitiator.Pdu nop = healthy.receive();
        while (nop.opcode() == Bhs.NOP_IN && nop.bhs().getInt(Bhs.ITT) == Bhs.RESERVED_TAG) {
            ByteBuffer answer = healthy.nopOut(0); // the target's liveness ping: answer it like an initiator
            answer.putInt(Bhs.ITT, Bhs.RESERVED_TAG);
            answer.putInt(Bhs.TTT, nop.bhs().getInt(Bhs.TTT));
            healthy.send(answer, null);
            nop = healthy.receive();
        }
        assertEquals(Bhs.NOP_IN, nop.opcode());
        assertArrayEquals(data, nop.data());
    }

    private static String oneCase(int port, String iqn, Random random) throws IOException {
        boolean login = random.nextInt(3) != 0;
        try (RawInitiator c = new RawInitiator(port)) {
            c.socket.setSoTimeout(100);
            if (login) {
                try {
                    c.socket.setSoTimeout(5000);
                    if (c.loginTo(iqn).bhs().get(Bhs.STATUS_CLASS) != 0) {
                        return "login refused";
                    }
                    c.socket.setSoTimeout(100);
                } catch (IOException e) {
                    return "login failed";
                }
            }
            try {
                for (int i = 1 + random.nextInt(4); i > 0; i--) {
                    send(c, random);
                }
            } catch (IOException e) {
                return (login ? "after login" : "before login") + ": closed while sending";
            }
            String last = "no answer";
            for (int i = 0; i < 16; i++) {
                try {
                    last = Bhs.opcodeName(c.receive().opcode());
                } catch (EOFException e) {
                    return (login ? "after login" : "before login") + ": " + last + ", closed";
                } catch (SocketTimeoutException e) {
                    break;
                } catch (IOException e) {
                    return (login ? "after login" : "before login") + ": reset";
                }
            }
            return (login ? "after login" : "before login") + ": " + last;
        }
    }

    private static void send(RawInitiator c, Random random) throws IOException {
        int opcode = OPCODES[random.nextInt(OPCODES.length)];
        ByteBuffer bhs = RawInitiator.bhs(opcode | (random.nextBoolean() ? Bhs.IMMEDIATE : 0), random.nextInt(256));
        for (int i = 8; i < Bhs.LENGTH; i += 4) {
            if (random.nextInt(3) == 0) {
                bhs.putInt(i, random.nextInt());
            }
        }
        bhs.putInt(Bhs.CMD_SN, random.nextInt(4) == 0 ? random.nextInt() : c.cmdSn + random.nextInt(3));
        if (opcode == Bhs.TASK_MANAGEMENT_REQUEST && (bhs.get(1) & 0x7F) == 7) {
            bhs.put(1, (byte) (bhs.get(1) & 0x80 | 6)); // a cold reset ends every session by design, the healthy one too
        }
        if (opcode == Bhs.SCSI_COMMAND) {
            bhs.put(Bhs.CDB, (byte) SCSI[random.nextInt(SCSI.length)]);
            bhs.putInt(Bhs.EXPECTED_LENGTH, random.nextInt(4) == 0 ? random.nextInt() : random.nextInt(3) * 4096);
            if (random.nextBoolean()) {
                bhs.putInt(Bhs.CDB + 2, random.nextInt(20000)); // an LBA near the disk
                bhs.putShort(Bhs.CDB + 7, (short) random.nextInt(64));
            }
        }
        byte[] data = new byte[0];
        switch (random.nextInt(4)) {
            case 0 -> data = TextParameters.encode(RawInitiator.keys("SendTargets", random.nextBoolean() ? "All" : "",
                    "MaxBurstLength", String.valueOf(random.nextInt()), "X-junk", "1"));
            case 1 -> {
                data = new byte[random.nextInt(9000)];
                random.nextBytes(data);
            }
            case 2 -> data = "NoEqualsSign\0=\0K=V".getBytes(StandardCharsets.UTF_8);
            default -> {
            }
        }
        Bhs.dataSegmentLength(bhs, data.length);
        switch (random.nextInt(6)) {
            case 0 -> bhs.put(Bhs.TOTAL_AHS_LENGTH, (byte) random.nextInt(256));                  // AHS that is not there
            case 1 -> Bhs.dataSegmentLength(bhs, random.nextInt(0x1000000));                      // a wrong length
            case 2 -> {                                                                            // cut short
                int n = random.nextInt(Bhs.LENGTH + data.length);
                byte[] all = new byte[Bhs.LENGTH + data.length];
                System.arraycopy(bhs.array(), 0, all, 0, Bhs.LENGTH);
                System.arraycopy(data, 0, all, Bhs.LENGTH, data.length);
                c.socket.getOutputStream().write(all, 0, n);
                return;
            }
            default -> {
            }
        }
        c.send(bhs, data);
    }
}
