package io.mayastorj.itests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.api.parallel.ResourceLock;

/**
 * The optional SCSI commands as the Linux kernel's iSCSI initiator and sg3-utils use them, against
 * two replicas of a node process, and a persistent reservation that outlives {@code kill -9}. The
 * guest (VM_HOSTROOT=1: sg3-utils from this machine) reads the limits the kernel took from the LUN,
 * lists the opcodes with sg_opcodes, copies 4 MiB between the two LUNs with sg_xcopy (EXTENDED COPY:
 * the target moves the data) and compares, then registers a key with APTPL and takes a Write
 * Exclusive reservation. The node is killed and started again on its state directory; a second
 * guest, another initiator, finds the reservation (PTPL_A, the key, the type) and is refused a write.
 */
@Execution(ExecutionMode.CONCURRENT) // beside the classes that need no guest: see junit-platform.properties
@ResourceLock(KernelGuest.LOCK)
class IscsiReservationTest {

    private static final String FIRST = "a1e0c0de-0000-4000-8000-0000000000f1";
    private static final String SECOND = "a1e0c0de-0000-4000-8000-0000000000f2";
    private static final String IQN = "iqn.2019-05.io.openebs:";

    @Test
    void aReservationWithAptplOutlivesKill9AndTheKernelUsesTheOptionalCommands() throws Exception {
        KernelGuest.assumeAvailable();
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/sg_persist")), "sg3-utils is not installed");

        Path work = Scratch.dir("mayastor-iscsi-reservation");
        Path disk = work.resolve("pool.img");
        try (RandomAccessFile f = new RandomAccessFile(disk.toFile(), "rw")) {
            f.setLength(160L << 20);
        }
        String endpoint = "127.0.0.7:" + DistributionTest.freePort("127.0.0.7");
        int iscsiPort = DistributionTest.freePort("127.0.0.1");
        String[] node = {"--node-id", "fence", "--grpc-endpoint", endpoint,
            "--iscsi-address", "127.0.0.1", "--iscsi-port", String.valueOf(iscsiPort),
            "--nvmf-address", "127.0.0.1", "--nvmf-port", String.valueOf(DistributionTest.freePort("127.0.0.1")),
            "--nvmf-nexus-port", String.valueOf(DistributionTest.freePort("127.0.0.1")),
            "--state-dir", work.resolve("state").toString(), "--buffers-mb", "64"};
        Map<String, String> guest = Map.of("VM_HOSTROOT", "1", "GUEST_PORT", String.valueOf(iscsiPort),
                "GUEST_IQN1", IQN + FIRST, "GUEST_IQN2", IQN + SECOND, "GUEST_KEY", "0xabc123");

        try (Mayastor.NodeProcess first = new Mayastor.NodeProcess(node)) {
            assertNotNull(first.await(l -> l.startsWith("mayastor node fence ready"), 60), first.output());
            PoolDurabilityTest.ok(PoolDurabilityTest.ctl(endpoint, "pool", "create", "p0", disk.toString()));
            for (String uuid : new String[] {FIRST, SECOND}) {
                PoolDurabilityTest.ok(PoolDurabilityTest.ctl(endpoint, "replica", "create", "p0", "32MiB", "--uuid", uuid,
                        "--share", "iscsi"));
            }
            String console = KernelGuest.run("iscsi-reservation-guest.sh", with(guest, "GUEST_PHASE", "take",
                    "VM_ISCSI_INITIATOR", "iqn.2026-12.io.test:fence-a"));
            assertTrue(console.contains("ISCSI-RESERVATION: PASS"), console);
            // the limits the kernel took from VPD B0/B2: UNMAP of up to 2^20 blocks, WRITE SAME of up to 32768
            assertTrue(console.contains("queue/discard_max_bytes=536870912"), console);
            assertTrue(console.contains("queue/write_zeroes_max_bytes=16777216"), console);
            assertTrue(console.contains("provisioning_mode=unmap"), console);
            for (String command : new String[] {"Extended copy(LID1)", "Receive copy operating parameters", "Orwrite(16)",
                "Pre-fetch(16)", "Read defect data(12)", "Report supported operation codes", "Write same(16)"}) {
                assertTrue(console.contains(command), "sg_opcodes lists " + command + ":\n" + console);
            }
            assertTrue(console.contains("sg_xcopy: 8192 blocks, 1 command"), console);
            assertTrue(console.contains("XCOPY-COMPARED: 4194304 bytes"), console);
            assertTrue(console.contains("Persist Through Power Loss Active(PTPL_A): 1"), console);
            assertTrue(Files.exists(work.resolve("state/iscsi-reservations/" + FIRST + ".pr")));

            first.process.toHandle().destroyForcibly(); // kill -9
            assertTrue(first.process.waitFor(20, TimeUnit.SECONDS));
            assertEquals(137, first.process.exitValue(), "killed by SIGKILL");
        }

        try (Mayastor.NodeProcess second = new Mayastor.NodeProcess(node)) {
            assertNotNull(second.await(l -> l.startsWith("mayastor node fence ready"), 60), second.output());
            assertNotNull(second.await(l -> l.contains("re-shared " + FIRST + " over iscsi"), 10), second.output());
            String console = KernelGuest.run("iscsi-reservation-guest.sh", with(guest, "GUEST_PHASE", "check",
                    "VM_ISCSI_INITIATOR", "iqn.2026-12.io.test:fence-b"));
            assertTrue(console.contains("ISCSI-RESERVATION: PASS"), console);
            assertTrue(console.contains("Key=0xabc123"), console);
            assertTrue(console.contains("type: Write Exclusive"), console);
            assertTrue(console.contains("RESERVATION-HELD"), console);
        }
    }

    private static Map<String, String> with(Map<String, String> base, String... kv) {
        Map<String, String> m = new java.util.HashMap<>(base);
        for (int i = 0; i < kv.length; i += 2) {
            m.put(kv[i], kv[i + 1]);
        }
        return m;
    }
}
