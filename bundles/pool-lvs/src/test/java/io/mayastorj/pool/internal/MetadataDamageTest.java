package io.mayastorj.pool.internal;

import static io.mayastorj.pool.internal.PoolFixture.T;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.mayastorj.core.bdev.BlockingIo;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.error.ErrorKind;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.pool.internal.format.Layout;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Damage to any one metadata block never loses an acknowledged state. A seeded sequence of
 * acknowledged operations (creates, resizes, destroys, thin and thick writes each followed by a
 * flush) builds a pool; then each metadata block in turn — both superblock slots in both copies,
 * both slots of every page in use in both copies — is overwritten with random bytes, with zeros, and
 * with a half-torn copy (its first half from the other slot), and the pool imported. The import
 * must either serve every acknowledged replica with its name, size and flushed data (and leave no
 * damage behind for the next import), or refuse and leave the device byte for byte as it was. With
 * two copies of every block, this format always manages the first. {@code -Ddamage.seed=N} repeats
 * a run.
 */
class MetadataDamageTest {

    private static final long SEED = Long.getLong("damage.seed", System.nanoTime());
    private static final int MIB = 1 << 20;
    private static final long DEVICE = 24L * MIB;
    private static final int BLOCK = 512;

    @TempDir
    Path dir;
    private PoolFixture fx;
    private LvStore pool;

    /** What the pool acknowledged about one replica. */
    private static final class Model {
        final String name;
        final boolean thin;
        final long tag;
        long size;
        final Map<Long, Long> stamps = new TreeMap<>(); // lba → seq of the last flushed write

        Model(String name, boolean thin, long tag, long size) {
            this.name = name;
            this.thin = thin;
            this.tag = tag;
            this.size = size;
        }
    }

    private enum Damage { RANDOM, ZEROES, HALF_TORN }

    /**
     * RAM when the machine has it (/dev/shm): some 200 imports, each with several device flushes,
     * would otherwise wait on the disk; what is tested is the metadata, not the disk.
     */
    private Path scratch() throws IOException {
        Path shm = Path.of("/dev/shm");
        if (Files.isDirectory(shm) && Files.isWritable(shm)) {
            Path d = Files.createTempDirectory(shm, "damage-");
            shmDir = d;
            return d;
        }
        return dir;
    }

    private Path shmDir;

    @AfterEach
    void close() throws IOException {
        if (pool != null) {
            pool.export();
        }
        if (fx != null) {
            fx.close();
        }
        if (shmDir != null) {
            Files.deleteIfExists(shmDir.resolve("pool.img"));
            Files.deleteIfExists(shmDir);
        }
    }

    @Test
    void damageToAnyOneMetadataBlockNeverLosesAnAcknowledgedState() throws IOException {
        String context = "damage.seed=" + SEED;
        Random random = new Random(SEED);
        fx = new PoolFixture(scratch().resolve("pool.img"), DEVICE);
        pool = LvStore.create("p0", UUID.randomUUID(), fx.device, MIB, fx.buffers);
        Map<UUID, Model> model = build(random);
        pool.export();
        pool = null;

        byte[] snapshot = Files.readAllBytes(fx.file);
        List<LvStoreProbe.Block> blocks;
        try (RandomAccessFile f = new RandomAccessFile(fx.file.toFile(), "r")) {
            blocks = new LvStoreProbe(f).metadataBlocks();
        }
        // the superblock's four copies, and four per replica's descriptor at least (thin ones add maps)
        assertTrue(!model.isEmpty() && blocks.size() >= 4 + 4 * model.size(),
                context + ": " + model.size() + " replicas, yet only these metadata blocks: " + blocks);
        int repaired = 0;
        int clean = 0;
        for (LvStoreProbe.Block block : blocks) {
            for (Damage damage : Damage.values()) {
                String what = context + ", " + block.label() + " (byte " + block.offset() + "), " + damage;
                long noise = random.nextLong();
                byte[] damaged = new byte[Layout.PAGE];
                fx.reopenAfter(f -> {
                    restore(f, snapshot);
                    byte[] written = damage(f, block, damage, noise);
                    System.arraycopy(written, 0, damaged, 0, Layout.PAGE);
                });
                try {
                    pool = LvStore.open(fx.device, fx.buffers);
                } catch (MayastorException e) {
                    assertEquals(ErrorKind.FAILED_PRECONDITION, e.kind(), what + ": " + e.getMessage());
                    byte[] expected = snapshot.clone();
                    System.arraycopy(damaged, 0, expected, (int) block.offset(), Layout.PAGE);
                    fx.reopenAfter(f -> { });
                    assertTrue(Arrays.equals(expected, Files.readAllBytes(fx.file)), what + ": a refused import wrote to the device");
                    fail(what + ": one damaged block faulted the pool: " + e.getMessage());
                }
                assertEquals(PoolState.ONLINE, pool.state(), what + ": " + pool.reason());
                check(model, what);
                if (pool.reason() != null) {
                    repaired++;
                } else {
                    clean++; // the block was a spare slot, or held what import does not read
                }
                pool.export();
                pool = LvStore.open(fx.device, fx.buffers);
                assertNull(pool.reason(), what + ": the repair left damage behind");
                check(model, what + ", imported again");
                pool.export();
                pool = null;
            }
        }
        System.out.printf("metadata damage (%s): %d blocks x %d kinds: %d repaired, %d needed nothing, 0 faulted%n",
                context, blocks.size(), Damage.values().length, repaired, clean);
        assertTrue(repaired > 0, context);
    }

    /** Acknowledged operations at random; returns what each surviving replica must hold. */
    private Map<UUID, Model> build(Random random) {
        Map<UUID, Model> model = new LinkedHashMap<>();
        long seq = 1;
        int made = 0;
        for (int op = 0; op < 40; op++) {
            int kind = random.nextInt(10);
            List<UUID> uuids = new ArrayList<>(model.keySet());
            if (kind < 3 || uuids.isEmpty()) {
                boolean thin = random.nextInt(3) > 0;
                long size = (1 + random.nextInt(thin ? 16 : 3)) * (long) MIB - (random.nextBoolean() ? BLOCK : 0);
                UUID uuid = UUID.randomUUID();
                String name = "r" + made++;
                try {
                    pool.createReplica(uuid, name, size, thin, "");
                    model.put(uuid, new Model(name, thin, made, size));
                } catch (MayastorException e) {
                    assertEquals(ErrorKind.RESOURCE_EXHAUSTED, e.kind(), e.getMessage()); // a full pool: nothing changed
                }
            } else if (kind == 3) {
                UUID uuid = uuids.get(random.nextInt(uuids.size()));
                Model m = model.get(uuid);
                long size = m.size + (1 + random.nextInt(2)) * (long) MIB;
                try {
                    pool.resizeReplica(uuid, size);
                    m.size = size;
                } catch (MayastorException e) {
                    assertEquals(ErrorKind.RESOURCE_EXHAUSTED, e.kind(), e.getMessage());
                }
            } else if (kind == 4 && uuids.size() > 2) {
                UUID uuid = uuids.get(random.nextInt(uuids.size()));
                replica(uuid).close();
                pool.destroyReplica(uuid);
                model.remove(uuid);
            } else {
                UUID uuid = uuids.get(random.nextInt(uuids.size()));
                Model m = model.get(uuid);
                Replica r = replica(uuid);
                int blocks = 1 + random.nextInt(4);
                long lba = (long) (random.nextDouble() * (m.size / BLOCK - blocks));
                DmaStatus status = write(r, lba, blocks, m.tag, seq);
                if (status == DmaStatus.NO_SPACE) {
                    continue; // a thin replica in a full pool: the write failed, nothing acknowledged
                }
                assertEquals(IoStatus.SUCCESS, BlockingIo.flush(r, T));
                for (int i = 0; i < blocks; i++) {
                    m.stamps.put(lba + i, seq);
                }
                seq++;
            }
        }
        return model;
    }

    private enum DmaStatus { OK, NO_SPACE }

    private DmaStatus write(Replica r, long lba, int blocks, long tag, long seq) {
        try {
            fx.writeStamped(r, lba, blocks, tag, seq);
            return DmaStatus.OK;
        } catch (IllegalStateException e) {
            if (e.getMessage().endsWith(IoStatus.NO_SPACE.toString())) {
                return DmaStatus.NO_SPACE;
            }
            throw e;
        }
    }

    private Replica replica(UUID uuid) {
        return pool.replicas().stream().filter(r -> r.uuid().equals(uuid)).findFirst().orElseThrow();
    }

    /** Every acknowledged replica, with its name, size, kind and every flushed write; nothing else. */
    private void check(Map<UUID, Model> model, String what) {
        Set<UUID> present = new HashSet<>();
        for (Replica r : pool.replicas()) {
            present.add(r.uuid());
        }
        assertEquals(model.keySet(), present, what + ": the replicas");
        assertTrue(pool.damagedReplicas().isEmpty(), what);
        for (Map.Entry<UUID, Model> e : model.entrySet()) {
            Replica r = replica(e.getKey());
            Model m = e.getValue();
            assertEquals(m.name, r.replicaName, what);
            assertEquals(m.size, r.sizeBytes(), what + ": the size of " + m.name);
            assertEquals(m.thin, r.thin, what);
            Set<Long> clusters = new HashSet<>();
            for (Map.Entry<Long, Long> stamp : m.stamps.entrySet()) {
                assertEquals(stamp.getValue(), fx.readStamp(r, stamp.getKey(), m.tag),
                        what + ": block " + stamp.getKey() + " of " + m.name);
                clusters.add(stamp.getKey() * BLOCK / MIB);
            }
            if (m.thin) {
                assertEquals(clusters.size(), r.allocatedClusters, what + ": clusters mapped by " + m.name);
            }
        }
    }

    /** Puts the file back as it was, writing only the chunks that differ. */
    private static void restore(RandomAccessFile f, byte[] snapshot) throws IOException {
        byte[] chunk = new byte[64 * 1024];
        f.setLength(snapshot.length);
        for (int offset = 0; offset < snapshot.length; offset += chunk.length) {
            f.seek(offset);
            f.readFully(chunk);
            if (!Arrays.equals(chunk, 0, chunk.length, snapshot, offset, offset + chunk.length)) {
                f.seek(offset);
                f.write(snapshot, offset, chunk.length);
            }
        }
    }

    /** Overwrites the block; returns what it wrote. */
    private static byte[] damage(RandomAccessFile f, LvStoreProbe.Block block, Damage damage, long noise) throws IOException {
        byte[] bytes = new byte[Layout.PAGE];
        switch (damage) {
            case RANDOM -> new Random(noise).nextBytes(bytes);
            case ZEROES -> { }
            case HALF_TORN -> {
                // a write of another version that stopped half way: its first half, this block's second
                f.seek(block.offset());
                f.readFully(bytes);
                byte[] original = bytes.clone();
                byte[] other = new byte[Layout.PAGE];
                f.seek(block.sibling());
                f.readFully(other);
                System.arraycopy(other, 0, bytes, 0, Layout.PAGE / 2);
                if (Arrays.equals(bytes, original)) {
                    bytes[0] ^= 1; // the halves were alike: tear something all the same
                }
            }
        }
        f.seek(block.offset());
        f.write(bytes);
        return bytes;
    }
}
