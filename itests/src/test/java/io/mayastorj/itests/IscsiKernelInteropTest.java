package io.mayastorj.itests;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.api.parallel.ResourceLock;

/**
 * The Linux kernel's iSCSI initiator (open-iscsi) against our target: a replica of a pool on a
 * node process, shared over iscsi on 127.0.0.1, and a QEMU guest (../shared/tools/vm) that
 * discovers it, logs in, writes a raw pattern that this test then reads through the node's API,
 * makes and checks an ext4 file system, logs out and in again and finds its files. Runs when QEMU
 * and the guest image are there (CI builds them); installs nothing itself.
 */
@Execution(ExecutionMode.CONCURRENT) // beside the classes that need no guest: see junit-platform.properties
@ResourceLock(KernelGuest.LOCK)
class IscsiKernelInteropTest {

    private static final String REPLICA = "a1e0c0de-0000-4000-8000-0000000000e2";
    private static final int PATTERN_AT_MIB = 64;

    @Test
    void theLinuxKernelInitiatorUsesAReplicaOverIscsi() throws Exception {
        KernelGuest.assumeAvailable();

        Path work = Scratch.dir("mayastor-iscsi-interop");
        Path disk = work.resolve("pool.img");
        try (RandomAccessFile f = new RandomAccessFile(disk.toFile(), "rw")) {
            f.setLength(160L << 20);
        }
        String endpoint = "127.0.0.7:" + DistributionTest.freePort("127.0.0.7");
        int iscsiPort = DistributionTest.freePort("127.0.0.1");
        String seed = "interop-" + Long.toHexString(System.nanoTime());
        try (Mayastor.NodeProcess node = new Mayastor.NodeProcess("--node-id", "interop", "--grpc-endpoint", endpoint,
                "--iscsi-address", "127.0.0.1", "--iscsi-port", String.valueOf(iscsiPort),
                "--nvmf-address", "127.0.0.1", "--nvmf-port", String.valueOf(DistributionTest.freePort("127.0.0.1")),
                "--nvmf-nexus-port", String.valueOf(DistributionTest.freePort("127.0.0.1")),
                "--state-dir", work.resolve("state").toString(), "--buffers-mb", "64")) {
            assertNotNull(node.await(l -> l.startsWith("mayastor node interop ready"), 60), node.output());
            PoolDurabilityTest.ok(PoolDurabilityTest.ctl(endpoint, "pool", "create", "p0", disk.toString()));
            String uri = PoolDurabilityTest.ok(PoolDurabilityTest.ctl(endpoint, "replica", "create", "p0", "96MiB",
                    "--thin", "--uuid", REPLICA, "--share", "iscsi")).out();
            String iqn = "iqn.2019-05.io.openebs:" + REPLICA;
            assertTrue(uri.contains("iscsi://127.0.0.1:" + iscsiPort + "/" + iqn + "/0"), uri);

            String console = KernelGuest.run("iscsi-interop-guest.sh", Map.of(
                    "GUEST_PORT", String.valueOf(iscsiPort),
                    "GUEST_IQN", iqn,
                    "GUEST_SEED", seed,
                    "GUEST_FS_MB", "48",
                    "GUEST_PATTERN_AT", String.valueOf(PATTERN_AT_MIB)));
            assertTrue(console.contains("ISCSI-INTEROP: PASS"), console);
            assertTrue(console.contains("vendor 'OpenEBS' model 'Mayastor-J'"), console);

            // what the guest wrote is on the replica: read it through the node's API
            KernelGuest.assertPattern(endpoint, REPLICA, PATTERN_AT_MIB, seed, work);
            String log = node.output();
            assertFalse(log.contains(" ERROR "), log);
            assertFalse(log.contains("WARN  [iscsi]"), "the initiator sent nothing the target complained of:\n" + log);
        }
    }
}
