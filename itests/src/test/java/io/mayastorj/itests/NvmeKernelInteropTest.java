package io.mayastorj.itests;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The Linux kernel's NVMe/TCP host against our target: a replica of a pool on a node process,
 * shared over nvmf on 127.0.0.1, and a QEMU guest (../shared/tools/vm) that discovers it,
 * connects, makes and checks an ext4 file system, reconnects with header and data digests, and
 * writes a raw pattern that this test then reads through the node's API. Runs when QEMU and the
 * guest image are there (CI builds them); installs nothing itself.
 */
class NvmeKernelInteropTest {

    private static final Path VM = Path.of(System.getProperty("mayastor.vm", "../../shared/tools/vm"));
    private static final Path IMAGE = Path.of(System.getProperty("user.home"), ".cache/kernel-vm/initramfs.img");
    private static final String REPLICA = "a1e0c0de-0000-4000-8000-0000000000e1";
    private static final int PATTERN_AT_MIB = 64;

    @Test
    void theLinuxKernelHostUsesAReplicaOverNvmeTcp() throws Exception {
        assumeTrue(Files.isExecutable(VM.resolve("run.sh")), "no VM tool at " + VM);
        assumeTrue(onPath("qemu-system-x86_64"), "QEMU is not installed");
        assumeTrue(Files.exists(IMAGE), "the guest image is not built (" + VM + "/build.sh)");

        Path work = Files.createTempDirectory("mayastor-nvme-interop");
        Path disk = work.resolve("pool.img");
        try (RandomAccessFile f = new RandomAccessFile(disk.toFile(), "rw")) {
            f.setLength(160L << 20);
        }
        String endpoint = "127.0.0.7:" + DistributionTest.freePort("127.0.0.7");
        int nvmfPort = DistributionTest.freePort("127.0.0.1");
        String seed = "interop-" + Long.toHexString(System.nanoTime());
        try (Mayastor.NodeProcess node = new Mayastor.NodeProcess("--node-id", "interop", "--grpc-endpoint", endpoint,
                "--nvmf-address", "127.0.0.1", "--nvmf-port", String.valueOf(nvmfPort),
                "--state-dir", work.resolve("state").toString(), "--buffers-mb", "64")) {
            assertNotNull(node.await(l -> l.startsWith("mayastor node interop ready"), 60), node.output());
            PoolDurabilityTest.ok(PoolDurabilityTest.ctl(endpoint, "pool", "create", "p0", disk.toString()));
            String uri = PoolDurabilityTest.ok(PoolDurabilityTest.ctl(endpoint, "replica", "create", "p0", "96MiB",
                    "--thin", "--uuid", REPLICA, "--share", "nvmf")).out();
            String nqn = "nqn.2019-05.io.openebs:" + REPLICA;
            assertTrue(uri.contains("nvmf://127.0.0.1:" + nvmfPort + "/" + nqn), uri);

            List<String> command = List.of(VM.resolve("run.sh").toString(),
                    Path.of("src/test/resources/vm/nvme-interop-guest.sh").toAbsolutePath().toString());
            ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
            Map<String, String> env = builder.environment();
            env.put("VM_NO_APT", "1");
            env.put("VM_TIMEOUT", "300");
            env.put("GUEST_PORT", String.valueOf(nvmfPort));
            env.put("GUEST_NQN", nqn);
            env.put("GUEST_SEED", seed);
            env.put("GUEST_FS_MB", "48");
            env.put("GUEST_PATTERN_AT", String.valueOf(PATTERN_AT_MIB));
            Process vm = builder.start();
            String console = new String(vm.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(vm.waitFor(330, TimeUnit.SECONDS), console);
            System.out.println("---- guest console ----\n" + console + "---- end of guest console ----");
            assertEquals(0, vm.exitValue(), console);
            assertTrue(console.contains("NVME-INTEROP: PASS"), console);
            assertTrue(console.contains("model 'Mayastor NVMe controller'"), console);

            // what the guest wrote is on the replica: read it through the node's API
            byte[] expected = pattern(seed, 8 << 20);
            Path back = work.resolve("back.bin");
            for (int mib = 0; mib < 8; mib++) {
                PoolDurabilityTest.ok(PoolDurabilityTest.ctl(endpoint, "bdev", "read", REPLICA, "--offset",
                        String.valueOf((long) (PATTERN_AT_MIB + mib) << 20), "--length", String.valueOf(1 << 20),
                        "--output", back.toString()));
                byte[] got = Files.readAllBytes(back);
                byte[] want = java.util.Arrays.copyOfRange(expected, mib << 20, (mib + 1) << 20);
                assertArrayEquals(want, got, "MiB " + mib + " of the pattern");
            }
            String log = node.output();
            assertFalse(log.contains(" ERROR "), log);
            assertFalse(log.contains("WARN  [nvmf]"), "the kernel host sent nothing the target complained of:\n" + log);
            assertFalse(log.contains("[nvmf]") && log.contains("terminating the connection"), log);
        }
    }

    /** What {@code yes SEED | head -c N} writes. */
    private static byte[] pattern(String seed, int length) {
        byte[] line = (seed + "\n").getBytes(StandardCharsets.US_ASCII);
        byte[] out = new byte[length];
        for (int i = 0; i < length; i++) {
            out[i] = line[i % line.length];
        }
        return out;
    }

    private static boolean onPath(String program) throws IOException {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (Files.isExecutable(Path.of(dir, program))) {
                return true;
            }
        }
        return false;
    }
}
