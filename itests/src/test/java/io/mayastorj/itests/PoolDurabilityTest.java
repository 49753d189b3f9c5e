package io.mayastorj.itests;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A pool made by one node process survives {@code kill -9} of that process: a new process on the
 * same state directory imports it by itself, with its replicas and every flushed write.
 */
class PoolDurabilityTest {

    private static final String THIN = "5e0a0b1c-0000-4000-8000-000000000001";
    private static final String THICK = "5e0a0b1c-0000-4000-8000-000000000002";

    @Test
    void aKilledNodesPoolIsImportedByTheNextProcessWithAllItsData() throws Exception {
        Path work = Scratch.dir("mayastor-pool-kill");
        Path disk = work.resolve("pool.img");
        try (RandomAccessFile f = new RandomAccessFile(disk.toFile(), "rw")) {
            f.setLength(256L << 20);
        }
        String endpoint = "127.0.0.4:" + DistributionTest.freePort("127.0.0.4");
        String[] node = {"--node-id", "durable", "--grpc-endpoint", endpoint, "--state-dir", work.resolve("state").toString(),
                "--buffers-mb", "32"};
        byte[] thinData = random(1 << 20, 1);
        byte[] thickData = random(256 << 10, 2);
        Path thinFile = work.resolve("thin.bin");
        Path thickFile = work.resolve("thick.bin");
        Files.write(thinFile, thinData);
        Files.write(thickFile, thickData);

        try (Mayastor.NodeProcess first = new Mayastor.NodeProcess(node)) {
            assertNotNull(first.await(l -> l.startsWith("mayastor node durable ready"), 60), first.output());
            ok(ctl(endpoint, "pool", "create", "p0", disk.toString()));
            ok(ctl(endpoint, "replica", "create", "p0", "64MiB", "--thin", "--uuid", THIN, "--name", "thin"));
            ok(ctl(endpoint, "replica", "create", "p0", "32MiB", "--uuid", THICK, "--name", "thick"));
            ok(ctl(endpoint, "bdev", "write", THIN, "--offset", String.valueOf(40L << 20), "--input", thinFile.toString(), "--flush"));
            ok(ctl(endpoint, "bdev", "write", THICK, "--offset", "8192", "--input", thickFile.toString(), "--flush"));
            first.process.toHandle().destroyForcibly(); // kill -9
            assertTrue(first.process.waitFor(20, TimeUnit.SECONDS));
            assertEquals(137, first.process.exitValue(), "killed by SIGKILL");
        }

        try (Mayastor.NodeProcess second = new Mayastor.NodeProcess(node)) {
            assertNotNull(second.await(l -> l.startsWith("mayastor node durable ready"), 60), second.output());
            assertNotNull(second.await(l -> l.contains("imported pool p0"), 5), second.output());
            String pools = ok(ctl(endpoint, "pool", "list")).out();
            assertTrue(pools.contains("p0") && pools.contains("online"), pools);
            String replicas = ok(ctl(endpoint, "replica", "list")).out();
            assertTrue(replicas.contains(THIN) && replicas.contains(THICK), replicas);
            Path back = work.resolve("back.bin");
            ok(ctl(endpoint, "bdev", "read", THIN, "--offset", String.valueOf(40L << 20), "--length",
                    String.valueOf(thinData.length), "--output", back.toString()));
            assertArrayEquals(thinData, Files.readAllBytes(back));
            ok(ctl(endpoint, "bdev", "read", THICK, "--offset", "8192", "--length", String.valueOf(thickData.length),
                    "--output", back.toString()));
            assertArrayEquals(thickData, Files.readAllBytes(back));
            Mayastor.Result refused = ctl(endpoint, "pool", "destroy", "p0");
            assertEquals(1, refused.exit(), refused.out());
            assertEquals("error: FAILED_PRECONDITION: pool p0 holds 2 replica(s) (thin, thick); destroy them first, "
                    + "or destroy the pool with force\n", refused.err());
            ok(ctl(endpoint, "pool", "destroy", "p0", "--force"));
        }
    }

    /**
     * The pool issue's case, as a user met it: replicas a, b and c created, the node killed with
     * SIGKILL, the device's first 4 KiB overwritten with random bytes (dd), the node started again:
     * the pool comes back with all three replicas, says what it repaired, and a second restart finds
     * nothing left to repair.
     */
    @Test
    void aDeviceWhoseFirstBlockIsOverwrittenAfterKill9ComesBackWithEveryReplica() throws Exception {
        Path work = Scratch.dir("mayastor-pool-damage");
        Path disk = work.resolve("pool.img");
        try (RandomAccessFile f = new RandomAccessFile(disk.toFile(), "rw")) {
            f.setLength(256L << 20);
        }
        String endpoint = "127.0.0.4:" + DistributionTest.freePort("127.0.0.4");
        String[] node = {"--node-id", "damaged", "--grpc-endpoint", endpoint, "--state-dir", work.resolve("state").toString(),
                "--buffers-mb", "32"};
        try (Mayastor.NodeProcess first = new Mayastor.NodeProcess(node)) {
            assertNotNull(first.await(l -> l.startsWith("mayastor node damaged ready"), 60), first.output());
            ok(ctl(endpoint, "pool", "create", "p0", disk.toString()));
            for (String name : new String[] {"a", "b", "c"}) {
                ok(ctl(endpoint, "replica", "create", "p0", "16MiB", "--thin", "--name", name));
            }
            first.process.toHandle().destroyForcibly();
            assertTrue(first.process.waitFor(20, TimeUnit.SECONDS));
        }
        byte[] noise = random(4096, 3);
        try (RandomAccessFile f = new RandomAccessFile(disk.toFile(), "rw")) {
            f.write(noise); // dd if=/dev/urandom of=pool.img bs=4096 count=1 conv=notrunc
        }
        try (Mayastor.NodeProcess second = new Mayastor.NodeProcess(node)) {
            assertNotNull(second.await(l -> l.startsWith("mayastor node damaged ready"), 60), second.output());
            String pools = ok(ctl(endpoint, "pool", "list")).out();
            assertTrue(pools.contains(" online ") && pools.contains("repaired at import: superblock slot 0, first copy "
                    + "(byte 0): no pool signature"), pools);
            String replicas = ok(ctl(endpoint, "replica", "list")).out();
            for (String name : new String[] {"a", "b", "c"}) {
                assertTrue(replicas.lines().anyMatch(l -> l.trim().split("\\s+")[1].equals(name)), replicas);
            }
            assertNotNull(second.await(l -> l.contains("WARNING") || l.contains("repaired at import"), 5), second.output());
            second.process.toHandle().destroyForcibly();
            assertTrue(second.process.waitFor(20, TimeUnit.SECONDS));
        }
        try (Mayastor.NodeProcess third = new Mayastor.NodeProcess(node)) {
            assertNotNull(third.await(l -> l.startsWith("mayastor node damaged ready"), 60), third.output());
            String pools = ok(ctl(endpoint, "pool", "list")).out();
            assertTrue(pools.contains(" online ") && !pools.contains("repaired"), pools);
            ok(ctl(endpoint, "pool", "destroy", "p0", "--force"));
        }
    }

    /**
     * A pool is known by its uuid, not its path: its file renamed between two runs of a node, it is
     * listed faulted (the old path is gone) until `pool import NEW-PATH` puts it back in place of the
     * faulted entry, with its replicas and data; renamed again, a node started with
     * --pool-devices finds it by itself.
     */
    @Test
    void aPoolWhoseDiskWasRenamedComesBackByImportAndByTheDevicePatterns() throws Exception {
        Path work = Scratch.dir("mayastor-pool-moved");
        Path first = work.resolve("disk-a.img");
        try (RandomAccessFile f = new RandomAccessFile(first.toFile(), "rw")) {
            f.setLength(128L << 20);
        }
        String endpoint = "127.0.0.4:" + DistributionTest.freePort("127.0.0.4");
        String[] node = {"--node-id", "moved", "--grpc-endpoint", endpoint, "--state-dir", work.resolve("state").toString(),
                "--buffers-mb", "32"};
        byte[] data = random(64 << 10, 4);
        Path dataFile = work.resolve("data.bin");
        Files.write(dataFile, data);
        try (Mayastor.NodeProcess run = new Mayastor.NodeProcess(node)) {
            assertNotNull(run.await(l -> l.startsWith("mayastor node moved ready"), 60), run.output());
            ok(ctl(endpoint, "pool", "create", "p0", first.toString()));
            ok(ctl(endpoint, "replica", "create", "p0", "16MiB", "--thin", "--uuid", THIN, "--name", "r1"));
            ok(ctl(endpoint, "bdev", "write", THIN, "--offset", "1048576", "--input", dataFile.toString(), "--flush"));
        }
        Path second = work.resolve("disk-b.img");
        Files.move(first, second);
        Path back = work.resolve("back.bin");
        try (Mayastor.NodeProcess run = new Mayastor.NodeProcess(node)) {
            assertNotNull(run.await(l -> l.startsWith("mayastor node moved ready"), 60), run.output());
            String pools = ok(ctl(endpoint, "pool", "list")).out();
            assertTrue(pools.contains("faulted") && pools.contains("no such file or device " + first), pools);
            String imported = ok(ctl(endpoint, "pool", "import", second.toString())).out();
            assertTrue(imported.contains(" online ") && imported.contains(second.toString()), imported);
            assertEquals(1, ok(ctl(endpoint, "pool", "list")).out().lines().filter(l -> l.startsWith("p0 ")).count());
            ok(ctl(endpoint, "bdev", "read", THIN, "--offset", "1048576", "--length", String.valueOf(data.length),
                    "--output", back.toString()));
            assertArrayEquals(data, Files.readAllBytes(back));
        }
        Path disks = Files.createDirectories(work.resolve("disks"));
        Path third = disks.resolve("wwn-0x5000c500a1b2c3d4");
        Files.move(second, third);
        String[] withPatterns = java.util.stream.Stream.concat(java.util.Arrays.stream(node),
                java.util.stream.Stream.of("--pool-devices", disks + "/wwn-*")).toArray(String[]::new);
        try (Mayastor.NodeProcess run = new Mayastor.NodeProcess(withPatterns)) {
            assertNotNull(run.await(l -> l.startsWith("mayastor node moved ready"), 60), run.output());
            assertNotNull(run.await(l -> l.contains("found by its uuid on " + third), 5), run.output());
            String pools = ok(ctl(endpoint, "pool", "list")).out();
            assertTrue(pools.contains(" online ") && pools.contains(third.toString()), pools);
            ok(ctl(endpoint, "bdev", "read", THIN, "--offset", "1048576", "--length", String.valueOf(data.length),
                    "--output", back.toString()));
            assertArrayEquals(data, Files.readAllBytes(back));
            ok(ctl(endpoint, "pool", "destroy", "p0", "--force"));
        }
    }

    private static byte[] random(int length, long seed) {
        byte[] data = new byte[length];
        new Random(seed).nextBytes(data);
        return data;
    }

    static Mayastor.Result ctl(String endpoint, String... words) throws Exception {
        String[] args = new String[words.length + 3];
        args[0] = "ctl";
        args[1] = "--node";
        args[2] = endpoint;
        System.arraycopy(words, 0, args, 3, words.length);
        return Mayastor.run(args);
    }

    static Mayastor.Result ok(Mayastor.Result r) {
        assertEquals(0, r.exit(), "stderr: " + r.err() + "\nstdout: " + r.out());
        return r;
    }
}
