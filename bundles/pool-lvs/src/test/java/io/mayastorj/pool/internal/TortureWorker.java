package io.mayastorj.pool.internal;

import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.BlockingIo;
import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.internal.bdev.AioBdevFactory;
import io.mayastorj.core.internal.bdev.UringBdevFactory;
import io.mayastorj.core.internal.reactor.ReactorGroupImpl;
import io.mayastorj.core.internal.buffer.DmaBufferPool;
import io.mayastorj.core.internal.buffer.HugepageMode;
import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The child JVM of the crash-torture test: imports (or creates) a pool on a file and changes it
 * at random until it is killed — replicas created, destroyed and grown, stamped writes (alone and
 * several at once), whole-cluster unmaps and flushes. Every operation is announced on stdout before
 * it is issued ({@code ?}) and again when it is acknowledged ({@code !}), so that the parent knows
 * exactly what it may expect after the kill.
 *
 * <pre>TortureWorker FILE SEED FIRST_SEQ uring|aio [OPERATIONS]</pre>
 *
 * With OPERATIONS it stops by itself after that many (the parent's warm-up run, which records the
 * classes a worker loads in a class-data archive at exit, so that the killed ones start faster).
 */
public final class TortureWorker {

    static final int MIB = 1 << 20;
    static final int BLOCK = 512;
    static final int MAX_REPLICAS = 4;
    static final long MAX_SIZE = 3L * MIB;
    private static final Duration T = Duration.ofSeconds(30);

    private final PrintStream out;
    private final Random random;
    private final DmaBufferPool buffers = new DmaBufferPool(16L * MIB, HugepageMode.OFF);
    private final LvStore pool;
    private final List<Replica> replicas = new ArrayList<>();
    private long seq;

    private TortureWorker(String file, long seed, long firstSeq, String scheme) {
        this.out = new PrintStream(System.out, true);
        this.random = new Random(seed);
        this.seq = firstSeq;
        // uring completes on a reactor: the pool's calls from this thread are handed to it
        BlockDevice device = (scheme.equals("uring") ? new UringBdevFactory(new ReactorGroupImpl(1)) : new AioBdevFactory())
                .create(BdevUri.parse(scheme + "://" + file));
        if (LvStore.probe(device, buffers) instanceof LvStore.Probe.Valid) {
            pool = LvStore.open(device, buffers);
        } else {
            pool = LvStore.create("torture", UUID.randomUUID(), device, MIB, buffers);
        }
        replicas.addAll(pool.replicas());
        for (Replica r : replicas) {
            out.println("HAVE " + r.uuid() + " " + r.sizeBytes());
        }
        out.println("READY " + pool.state() + " on " + device.productName());
    }

    public static void main(String[] args) {
        new TortureWorker(args[0], Long.parseLong(args[1]), Long.parseLong(args[2]), args[3])
                .run(args.length > 4 ? Long.parseLong(args[4]) : Long.MAX_VALUE);
        System.exit(0);
    }

    static long tag(UUID replica) {
        return replica.getMostSignificantBits() ^ replica.getLeastSignificantBits();
    }

    private void run(long operations) {
        for (long op = 0; op < operations; op++) {
            int dice = random.nextInt(100);
            if (replicas.isEmpty() || (dice < 4 && replicas.size() < MAX_REPLICAS)) {
                create();
            } else if (dice < 6 && replicas.size() > 1) {
                destroy();
            } else if (dice < 9) {
                grow();
            } else if (dice < 13) {
                unmapCluster();
            } else if (dice < 30) {
                flush();
            } else if (dice < 45) {
                writeBatch();
            } else {
                write();
            }
        }
    }

    private Replica pick() {
        return replicas.get(random.nextInt(replicas.size()));
    }

    private void create() {
        UUID uuid = UUID.randomUUID();
        long size = (1 + random.nextInt(3)) * MIB / 2;
        boolean thin = random.nextBoolean();
        out.println("C? " + uuid);
        Replica replica = pool.createReplica(uuid, uuid.toString(), size, thin, "");
        replicas.add(replica);
        out.println("C! " + uuid + " " + size);
    }

    private void destroy() {
        Replica replica = pick();
        out.println("D? " + replica.uuid());
        replicas.remove(replica);
        replica.close();
        pool.destroyReplica(replica.uuid());
        out.println("D! " + replica.uuid());
    }

    private void grow() {
        Replica replica = pick();
        long size = replica.sizeBytes() + MIB / 2;
        if (size > MAX_SIZE) {
            return;
        }
        out.println("R? " + replica.uuid() + " " + size);
        pool.resizeReplica(replica.uuid(), size);
        out.println("R! " + replica.uuid() + " " + size);
    }

    private void unmapCluster() {
        Replica replica = pick();
        long blocksPerCluster = MIB / BLOCK;
        long clusters = replica.blockCount() / blocksPerCluster;
        if (clusters == 0) {
            return;
        }
        long lba = random.nextInt((int) clusters) * blocksPerCluster;
        long s = ++seq;
        out.println("W? " + replica.uuid() + " " + lba + " " + blocksPerCluster + " " + s + " Z");
        check(BlockingIo.unmap(replica, lba, blocksPerCluster, T), "unmap");
        out.println("W! " + s);
    }

    private void flush() {
        Replica replica = pick();
        out.println("F? " + replica.uuid());
        check(BlockingIo.flush(replica, T), "flush");
        out.println("F! " + replica.uuid());
    }

    private void write() {
        Replica replica = pick();
        int blocks = 1 + random.nextInt(16);
        long lba = random.nextLong(replica.blockCount() - blocks + 1);
        long s = ++seq;
        DmaBuffer buffer = stamped(replica, lba, blocks, s);
        out.println("W? " + replica.uuid() + " " + lba + " " + blocks + " " + s);
        IoStatus status = BlockingIo.write(replica, buffer, 0, lba, blocks, T);
        buffer.release();
        check(status, "write");
        out.println("W! " + s);
    }

    /** Several writes in flight at once, to distinct ranges of one replica. */
    private void writeBatch() {
        Replica replica = pick();
        int count = 2 + random.nextInt(6);
        long slice = replica.blockCount() / count;
        CountDownLatch done = new CountDownLatch(count);
        List<DmaBuffer> held = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int blocks = 1 + random.nextInt((int) Math.min(16, slice));
            long lba = i * slice + random.nextLong(slice - blocks + 1);
            long s = ++seq;
            DmaBuffer buffer = stamped(replica, lba, blocks, s);
            held.add(buffer);
            out.println("W? " + replica.uuid() + " " + lba + " " + blocks + " " + s);
            IoCompletion<Long> ack = (status, written) -> {
                check(status, "write");
                out.println("W! " + written);
                done.countDown();
            };
            replica.write(buffer, 0, lba, blocks, ack, s);
        }
        try {
            if (!done.await(30, TimeUnit.SECONDS)) {
                throw new IllegalStateException("writes did not complete");
            }
        } catch (InterruptedException e) {
            throw new IllegalStateException(e);
        }
        held.forEach(DmaBuffer::release);
    }

    private DmaBuffer stamped(Replica replica, long lba, int blocks, long s) {
        DmaBuffer buffer = buffers.allocate(blocks * BLOCK);
        for (int i = 0; i < blocks; i++) {
            PoolFixture.stamp(buffer.bytes(), i * BLOCK, BLOCK, tag(replica.uuid()), lba + i, s);
        }
        return buffer;
    }

    private static void check(IoStatus status, String what) {
        if (status != IoStatus.SUCCESS) {
            System.out.println("FAIL " + what + " " + status);
            System.exit(3);
        }
    }
}
