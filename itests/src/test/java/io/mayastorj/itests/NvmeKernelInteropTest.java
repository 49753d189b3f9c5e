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
 * The Linux kernel's NVMe/TCP host against our target: a replica of a pool on a node process,
 * shared over nvmf on 127.0.0.1, and a QEMU guest (../shared/tools/vm) that discovers it,
 * connects, makes and checks an ext4 file system, reconnects with header and data digests, and
 * writes a raw pattern that this test then reads through the node's API. Runs when QEMU and the
 * guest image are there (CI builds them); installs nothing itself.
 */
@Execution(ExecutionMode.CONCURRENT) // beside the classes that need no guest: see junit-platform.properties
@ResourceLock(KernelGuest.LOCK)
class NvmeKernelInteropTest {

    private static final String REPLICA = "a1e0c0de-0000-4000-8000-0000000000e1";
    private static final int PATTERN_AT_MIB = 64;

    @Test
    void theLinuxKernelHostUsesAReplicaOverNvmeTcp() throws Exception {
        KernelGuest.assumeAvailable();

        Path work = Scratch.dir("mayastor-nvme-interop");
        Path disk = work.resolve("pool.img");
        try (RandomAccessFile f = new RandomAccessFile(disk.toFile(), "rw")) {
            f.setLength(160L << 20);
        }
        String endpoint = "127.0.0.7:" + DistributionTest.freePort("127.0.0.7");
        int nvmfPort = DistributionTest.freePort("127.0.0.1");
        String seed = "interop-" + Long.toHexString(System.nanoTime());
        try (Mayastor.NodeProcess node = new Mayastor.NodeProcess("--node-id", "interop", "--grpc-endpoint", endpoint,
                "--nvmf-address", "127.0.0.1", "--nvmf-port", String.valueOf(nvmfPort),
                "--nvmf-nexus-port", String.valueOf(DistributionTest.freePort("127.0.0.1")),
                "--state-dir", work.resolve("state").toString(), "--buffers-mb", "64")) {
            assertNotNull(node.await(l -> l.startsWith("mayastor node interop ready"), 60), node.output());
            PoolDurabilityTest.ok(PoolDurabilityTest.ctl(endpoint, "pool", "create", "p0", disk.toString()));
            String uri = PoolDurabilityTest.ok(PoolDurabilityTest.ctl(endpoint, "replica", "create", "p0", "96MiB",
                    "--thin", "--uuid", REPLICA, "--share", "nvmf")).out();
            String nqn = "nqn.2019-05.io.openebs:" + REPLICA;
            assertTrue(uri.contains("nvmf://127.0.0.1:" + nvmfPort + "/" + nqn), uri);

            String console = KernelGuest.run("nvme-interop-guest.sh", Map.of(
                    "GUEST_PORT", String.valueOf(nvmfPort),
                    "GUEST_NQN", nqn,
                    "GUEST_SEED", seed,
                    "GUEST_FS_MB", "48",
                    "GUEST_PATTERN_AT", String.valueOf(PATTERN_AT_MIB)));
            assertTrue(console.contains("NVME-INTEROP: PASS"), console);
            assertTrue(console.contains("model 'Mayastor NVMe controller'"), console);

            // what the guest wrote is on the replica: read it through the node's API
            KernelGuest.assertPattern(endpoint, REPLICA, PATTERN_AT_MIB, seed, work);

            // the allocation report the kernel host fetched (Get LBA Status, action 02h) is the replica's
            long allocated = Long.parseLong(PoolDurabilityTest.ok(PoolDurabilityTest.ctl(endpoint, "--json", "replica", "list"))
                    .out().replaceAll("(?s).*\"allocated\": \"?([0-9]+)\"?.*", "$1"));
            assertTrue(console.contains("LBA-STATUS: descriptors ") && console.contains("completion 2"), console);
            long reported = 0;
            boolean pattern = false;
            for (String line : console.lines().filter(l -> l.startsWith("LBA-RANGE: ")).toList()) {
                String[] f = line.substring("LBA-RANGE: ".length()).trim().split(" ");
                long start = Long.parseLong(f[0]);
                long blocks = Long.parseLong(f[1]);
                assertTrue(f[2].equals("2"), "LBARS 010b, allocated: " + line);
                reported += blocks;
                pattern |= start <= (PATTERN_AT_MIB << 11) && start + blocks >= ((PATTERN_AT_MIB + 8L) << 11);
            }
            assertTrue(pattern, "the raw pattern's clusters are reported allocated:\n" + console);
            assertTrue(reported * 512 == allocated, "reported " + reported * 512 + " bytes, the replica has " + allocated);
            String log = node.output();
            assertFalse(log.contains(" ERROR "), log);
            assertFalse(log.contains("WARN  [nvmf]"), "the kernel host sent nothing the target complained of:\n" + log);
            assertFalse(log.contains("[nvmf]") && log.contains("terminating the connection"), log);
        }
    }
}
