package io.mayastorj.itests;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The QEMU guest of ../shared/tools/vm for the kernel-initiator tests: skips a test when QEMU or
 * the image is missing, runs a guest script with its environment, and checks what the guest wrote
 * through the node's API.
 */
final class KernelGuest {

    /**
     * The classes that boot a guest hold this lock: they run one after another, and beside the classes
     * that need none (junit-platform.properties). Both streams slow down while they overlap (a guest's
     * emulated CPU keeps about a core busy), but the suite has finished sooner than one class at a time
     * (README, Tests); two guests at once would only slow each other.
     */
    static final String LOCK = "qemu-guest";

    static final Path VM = Path.of(System.getProperty("mayastor.vm", "../../shared/tools/vm"));
    private static final Path IMAGE = Path.of(System.getProperty("user.home"), ".cache/kernel-vm/initramfs.img");

    private KernelGuest() {
    }

    /** Skips the calling test unless the VM tool, QEMU and the guest image are there. */
    static void assumeAvailable() throws IOException {
        assumeTrue(Files.isExecutable(VM.resolve("run.sh")), "no VM tool at " + VM);
        assumeTrue(onPath("qemu-system-x86_64"), "QEMU is not installed");
        assumeTrue(Files.exists(IMAGE), "the guest image is not built (" + VM + "/build.sh)");
    }

    /** The VM tool's command for {@code script} (under src/test/resources/vm). */
    static List<String> command(String script) {
        return List.of(VM.resolve("run.sh").toString(),
                Path.of("src/test/resources/vm", script).toAbsolutePath().toString());
    }

    /** Runs {@code script} (under src/test/resources/vm) in the guest; returns its console, which must end in success. */
    static String run(String script, Map<String, String> guestEnv) throws IOException, InterruptedException {
        ProcessBuilder builder = new ProcessBuilder(command(script)).redirectErrorStream(true);
        Map<String, String> env = builder.environment();
        env.put("VM_NO_APT", "1");
        env.put("VM_TIMEOUT", "300");
        env.putAll(guestEnv);
        Process vm = builder.start();
        String console = new String(vm.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(vm.waitFor(330, TimeUnit.SECONDS), console);
        System.out.println("---- guest console ----\n" + console + "---- end of guest console ----");
        assertEquals(0, vm.exitValue(), console);
        return console;
    }

    /** Checks that {@code bdev} holds, from {@code atMib}, the 8 MiB the guest wrote with {@code yes SEED}. */
    static void assertPattern(String endpoint, String bdev, int atMib, String seed, Path work) throws Exception {
        byte[] expected = pattern(seed, 8 << 20);
        Path back = work.resolve("back.bin");
        for (int mib = 0; mib < 8; mib++) {
            PoolDurabilityTest.ok(PoolDurabilityTest.ctl(endpoint, "bdev", "read", bdev, "--offset",
                    String.valueOf((long) (atMib + mib) << 20), "--length", String.valueOf(1 << 20),
                    "--output", back.toString()));
            byte[] got = Files.readAllBytes(back);
            byte[] want = java.util.Arrays.copyOfRange(expected, mib << 20, (mib + 1) << 20);
            assertArrayEquals(want, got, "MiB " + mib + " of the pattern");
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

    private static boolean onPath(String program) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (Files.isExecutable(Path.of(dir, program))) {
                return true;
            }
        }
        return false;
    }
}
