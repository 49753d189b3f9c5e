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
 * The Linux kernel's iSCSI initiator (open-iscsi) against our target: a replica of a pool on a
 * node process, shared over iscsi on 127.0.0.1, and a QEMU guest (../shared/tools/vm) that
 * discovers it, logs in, writes a raw pattern that this test then reads through the node's API,
 * makes and checks an ext4 file system, logs out and in again and finds its files. Runs when QEMU
 * and the guest image are there (CI builds them); installs nothing itself.
 */
class IscsiKernelInteropTest {

    private static final Path VM = Path.of(System.getProperty("mayastor.vm", "../../shared/tools/vm"));
    private static final Path IMAGE = Path.of(System.getProperty("user.home"), ".cache/kernel-vm/initramfs.img");
    private static final String REPLICA = "a1e0c0de-0000-4000-8000-0000000000e2";
    private static final int PATTERN_AT_MIB = 64;

    @Test
    void theLinuxKernelInitiatorUsesAReplicaOverIscsi() throws Exception {
        assumeTrue(Files.isExecutable(VM.resolve("run.sh")), "no VM tool at " + VM);
        assumeTrue(onPath("qemu-system-x86_64"), "QEMU is not installed");
        assumeTrue(Files.exists(IMAGE), "the guest image is not built (" + VM + "/build.sh)");

        Path work = Files.createTempDirectory("mayastor-iscsi-interop");
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
                "--state-dir", work.resolve("state").toString(), "--buffers-mb", "64")) {
            assertNotNull(node.await(l -> l.startsWith("mayastor node interop ready"), 60), node.output());
            PoolDurabilityTest.ok(PoolDurabilityTest.ctl(endpoint, "pool", "create", "p0", disk.toString()));
            String uri = PoolDurabilityTest.ok(PoolDurabilityTest.ctl(endpoint, "replica", "create", "p0", "96MiB",
                    "--thin", "--uuid", REPLICA, "--share", "iscsi")).out();
            String iqn = "iqn.2019-05.io.openebs:" + REPLICA;
            assertTrue(uri.contains("iscsi://127.0.0.1:" + iscsiPort + "/" + iqn + "/0"), uri);

            List<String> command = List.of(VM.resolve("run.sh").toString(),
                    Path.of("src/test/resources/vm/iscsi-interop-guest.sh").toAbsolutePath().toString());
            ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
            Map<String, String> env = builder.environment();
            env.put("VM_NO_APT", "1");
            env.put("VM_TIMEOUT", "300");
            env.put("GUEST_PORT", String.valueOf(iscsiPort));
            env.put("GUEST_IQN", iqn);
            env.put("GUEST_SEED", seed);
            env.put("GUEST_FS_MB", "48");
            env.put("GUEST_PATTERN_AT", String.valueOf(PATTERN_AT_MIB));
            Process vm = builder.start();
            String console = new String(vm.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(vm.waitFor(330, TimeUnit.SECONDS), console);
            System.out.println("---- guest console ----\n" + console + "---- end of guest console ----");
            assertEquals(0, vm.exitValue(), console);
            assertTrue(console.contains("ISCSI-INTEROP: PASS"), console);
            assertTrue(console.contains("vendor 'OpenEBS' model 'Mayastor-J'"), console);

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
            assertFalse(log.contains("WARN  [iscsi]"), "the initiator sent nothing the target complained of:\n" + log);
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
