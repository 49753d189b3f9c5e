package io.mayastorj.load;

import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.BlockingIo;
import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.buffer.BufferPool;
import io.mayastorj.core.buffer.DmaBuffer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * A load that knows what the device must hold: random 4 KiB writes and reads at a fixed queue
 * depth, every 512-byte sector stamped with a magic number, its block and a sequence number and
 * filled with a pattern of those (every byte is checked), and a flush every 50 ms. It records the last acknowledged write of each block, the last one a completed
 * flush made durable, and the writes whose fate is unknown (they failed or were cut off: the block
 * may hold them or what it held before), and checks every read — during the load and over the
 * whole device after it — against that: strictly (the last acknowledged write) while nothing
 * crashed, or after a crash, where a block may hold its last durable write or any acknowledged
 * since (a disk with a volatile cache promises no more). One write per block is in flight at a
 * time, so "the last acknowledged write" is well defined.
 */
public final class VerifyingLoad implements AutoCloseable {

    public static final int BLOCK = 4096;
    private static final long MAGIC = 0x4d53594a5645524cL; // "MSYJVERL"

    private final BlockDevice device;
    private final BufferPool buffers;
    private final int blocks;
    private final int queueDepth;
    private final long seed;
    private final AtomicLongArray acked;
    private final AtomicLongArray durable;
    /** Acknowledged since the block's last durable write (what a crash may leave). */
    private final Map<Integer, List<Long>> since;
    private final Map<Integer, List<Long>> uncertain;
    private final AtomicIntegerArray busy;
    private final AtomicLong sequence;
    public final AtomicLong flushesOk = new AtomicLong();
    private Thread flusher;
    private final AtomicBoolean running = new AtomicBoolean();
    private final ExecutorService hop;
    private final List<Slot> slots = new ArrayList<>();

    public final AtomicLong writesOk = new AtomicLong();
    public final AtomicLong readsOk = new AtomicLong();
    public final AtomicLong writeErrors = new AtomicLong();
    public final AtomicLong readErrors = new AtomicLong();
    private final List<String> mismatches = new ArrayList<>();
    private final List<String> errors = new ArrayList<>();

    public VerifyingLoad(BlockDevice device, BufferPool buffers, int queueDepth, long seed) {
        this(device, buffers, queueDepth, seed, null);
    }

    private VerifyingLoad(BlockDevice device, BufferPool buffers, int queueDepth, long seed, VerifyingLoad before) {
        if (BLOCK % device.blockSize() != 0) {
            throw new IllegalArgumentException("block size " + device.blockSize() + " does not divide " + BLOCK);
        }
        this.device = device;
        this.buffers = buffers;
        this.blocks = (int) Math.min(Integer.MAX_VALUE, device.sizeBytes() / BLOCK);
        this.queueDepth = queueDepth;
        this.seed = seed;
        this.acked = before == null ? new AtomicLongArray(blocks) : before.acked;
        this.durable = before == null ? new AtomicLongArray(blocks) : before.durable;
        this.since = before == null ? new ConcurrentHashMap<>() : before.since;
        this.uncertain = before == null ? new ConcurrentHashMap<>() : before.uncertain;
        this.sequence = before == null ? new AtomicLong() : before.sequence;
        this.busy = new AtomicIntegerArray(blocks);
        this.hop = Executors.newFixedThreadPool(2, r -> {
            Thread t = new Thread(r, "verifying-load");
            t.setDaemon(true);
            return t;
        });
    }

    /** The same knowledge of what the volume holds, over another device (the volume opened again). */
    public VerifyingLoad reopen(BlockDevice device) throws InterruptedException {
        stop();
        hop.shutdownNow();
        return new VerifyingLoad(device, buffers, queueDepth, seed + 1, this);
    }

    /** Starts the slots; each keeps one I/O in flight until {@link #stop}. */
    public void start() {
        if (!running.compareAndSet(false, true)) {
            return;
        }
        slots.clear();
        for (int i = 0; i < queueDepth; i++) {
            Slot s = new Slot(new Random(seed * 1000 + i + sequence.get()));
            slots.add(s);
            hop.execute(s::next);
        }
        flusher = new Thread(this::flushes, "verifying-load-flusher");
        flusher.setDaemon(true);
        flusher.start();
    }

    /** A flush every 50 ms: what was acknowledged before it is durable when it completes. */
    private void flushes() {
        long[] covered = new long[blocks];
        while (running.get()) {
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                return;
            }
            for (int b = 0; b < blocks; b++) {
                covered[b] = acked.get(b);
            }
            IoStatus status = BlockingIo.flush(device, Duration.ofSeconds(60));
            if (!status.isSuccess()) {
                writeErrors.incrementAndGet();
                error("flush: " + status);
                continue;
            }
            flushesOk.incrementAndGet();
            for (int b = 0; b < blocks; b++) {
                long c = covered[b];
                if (c > durable.get(b)) {
                    durable.set(b, c);
                    List<Long> l = since.get(b);
                    if (l != null) {
                        l.removeIf(x -> x <= c);
                    }
                }
            }
        }
    }

    /** Stops and waits for the I/O in flight. */
    public void stop() throws InterruptedException {
        running.set(false);
        if (flusher != null) {
            flusher.join(120_000);
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        for (Slot s : slots) {
            while (!s.idle && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
        }
    }

    public long errors() {
        return writeErrors.get() + readErrors.get();
    }

    public synchronized List<String> mismatches() {
        return List.copyOf(mismatches);
    }

    public synchronized List<String> errorMessages() {
        return List.copyOf(errors);
    }

    /** Blocks written at least once with an acknowledgement. */
    public long blocksWritten() {
        long n = 0;
        for (int i = 0; i < blocks; i++) {
            if (acked.get(i) != 0) {
                n++;
            }
        }
        return n;
    }

    private synchronized void mismatch(String what) {
        if (mismatches.size() < 20) {
            mismatches.add(what);
        }
    }

    private synchronized void error(String what) {
        if (errors.size() < 20) {
            errors.add(what);
        }
    }

    /**
     * Every byte of every sector: the stamp, then a pattern of block, write and sector, so that a
     * sector changed anywhere, or one moved to another place of the block, does not pass.
     */
    private static void stamp(ByteBuffer data, int block, long seq) {
        for (int s = 0; s < BLOCK; s += 512) {
            data.putLong(s, MAGIC).putLong(s + 8, block).putLong(s + 16, seq);
            for (int i = 24; i < 512; i += 8) {
                data.putLong(s + i, fill(block, seq, s + i));
            }
        }
    }

    private static long fill(int block, long seq, int offset) {
        long x = seq * 0x9E3779B97F4A7C15L ^ ((long) block << 32 | offset);
        x ^= x >>> 31;
        return x * 0xBF58476D1CE4E5B9L;
    }

    /** The sequence number in a sector; 0 when it reads as zeros. */
    private static long seqOf(ByteBuffer data, int sector) {
        return data.getLong(sector + 16);
    }

    private static boolean zeros(ByteBuffer data, int sector) {
        for (int i = 0; i < 512; i += 8) {
            if (data.getLong(sector + i) != 0) {
                return false;
            }
        }
        return true;
    }

    /** Null when the block holds what it may hold, else what is wrong. */
    private String check(ByteBuffer data, int block, boolean afterCrash) {
        long expected = afterCrash ? durable.get(block) : acked.get(block);
        List<Long> maybe = new ArrayList<>(uncertain.getOrDefault(block, List.of()));
        if (afterCrash) {
            maybe.addAll(since.getOrDefault(block, List.of()));
        }
        for (int s = 0; s < BLOCK; s += 512) {
            long magic = data.getLong(s);
            long at = data.getLong(s + 8);
            long seq = data.getLong(s + 16);
            if (zeros(data, s)) {
                if (expected == 0) {
                    continue; // never acknowledged: zeros are right (a failed first write may not have landed)
                }
                return "block " + block + " sector " + s / 512 + ": zeros, but write " + expected + " was "
                        + (afterCrash ? "flushed" : "acknowledged");
            }
            if (magic != MAGIC || at != block) {
                return "block " + block + " sector " + s / 512 + ": holds a stamp for block " + at + " (magic " + Long.toHexString(magic) + ")";
            }
            if (seq != expected && !maybe.contains(seq)) {
                return "block " + block + " sector " + s / 512 + ": write " + seq + ", but " + expected + " was the last "
                        + (afterCrash ? "flushed" : "acknowledged") + (maybe.isEmpty() ? "" : " (or one of " + maybe + ")");
            }
            for (int i = 24; i < 512; i += 8) {
                if (data.getLong(s + i) != fill(block, seq, s + i)) {
                    return "block " + block + " sector " + s / 512 + ": write " + seq + "'s stamp, but byte " + i
                            + " of the sector is not what that write put there";
                }
            }
        }
        return null;
    }

    /**
     * After a crash, what a block was found to hold becomes what it holds (a later check is strict
     * again): the write its first sector holds, or none when a sector reads as zeros, and any other
     * write a sector holds (sectors are atomic, a 4 KiB write is not) as one it may hold.
     */
    private void settle(ByteBuffer data, int block) {
        List<Long> found = new ArrayList<>();
        boolean anyZero = false;
        for (int s = 0; s < BLOCK; s += 512) {
            if (zeros(data, s)) {
                anyZero = true;
            } else if (!found.contains(seqOf(data, s))) {
                found.add(seqOf(data, s));
            }
        }
        long holds = anyZero || found.isEmpty() ? 0 : found.get(0);
        found.remove(holds);
        acked.set(block, holds);
        durable.set(block, holds);
        since.remove(block);
        if (found.isEmpty()) {
            uncertain.remove(block);
        } else {
            uncertain.put(block, new java.util.concurrent.CopyOnWriteArrayList<>(found));
        }
    }

    /**
     * Reads every block and checks it; returns the number of blocks that hold something they must
     * not: each holds its last acknowledged write (or a later one whose fate was unknown) — or, after
     * a crash, its last flushed write or one acknowledged since.
     */
    public long verifyAll(Duration timeout) {
        return verifyAll(timeout, false);
    }

    public long verifyAll(Duration timeout, boolean afterCrash) {
        DmaBuffer buffer = buffers.allocate(64 * BLOCK);
        long bad = 0;
        try {
            ByteBuffer view = buffer.bytes().duplicate().order(ByteOrder.BIG_ENDIAN);
            int perRead = 64;
            int sectors = BLOCK / device.blockSize();
            for (int first = 0; first < blocks; first += perRead) {
                int n = Math.min(perRead, blocks - first);
                IoStatus status = BlockingIo.read(device, buffer, 0, (long) first * sectors, n * sectors, timeout);
                if (status != IoStatus.SUCCESS) {
                    mismatch("reading blocks " + first + ".." + (first + n - 1) + ": " + status);
                    bad += n;
                    continue;
                }
                for (int i = 0; i < n; i++) {
                    ByteBuffer data = view.slice(i * BLOCK, BLOCK).order(ByteOrder.BIG_ENDIAN);
                    String wrong = check(data, first + i, afterCrash);
                    if (wrong != null) {
                        mismatch(wrong);
                        bad++;
                    } else if (afterCrash) {
                        settle(data, first + i);
                    }
                }
            }
        } finally {
            buffer.release();
        }
        return bad;
    }

    @Override
    public void close() throws InterruptedException {
        stop();
        hop.shutdownNow();
    }

    /** One I/O in flight: a write or a read of a random block no other slot is using. */
    private final class Slot implements IoCompletion<Object> {
        private final Random random;
        private DmaBuffer buffer;
        private int block;
        private long seq;
        private boolean writing;
        volatile boolean idle;

        Slot(Random random) {
            this.random = random;
        }

        void next() {
            if (!running.get()) {
                release();
                return;
            }
            idle = false;
            if (buffer == null) {
                buffer = buffers.allocate(BLOCK);
                if (buffer == null) {
                    hop.execute(this::next);
                    return;
                }
            }
            do {
                block = random.nextInt(blocks);
            } while (!busy.compareAndSet(block, 0, 1));
            writing = random.nextBoolean();
            long lba = (long) block * (BLOCK / device.blockSize());
            int sectors = BLOCK / device.blockSize();
            if (writing) {
                seq = sequence.incrementAndGet();
                stamp(buffer.bytes().duplicate().order(ByteOrder.BIG_ENDIAN), block, seq);
                device.write(buffer, 0, lba, sectors, this, null);
            } else {
                device.read(buffer, 0, lba, sectors, this, null);
            }
        }

        @Override
        public void ioDone(IoStatus status, Object unused) {
            boolean failed = !status.isSuccess();
            if (writing) {
                if (failed) {
                    uncertain.computeIfAbsent(block, b -> new java.util.concurrent.CopyOnWriteArrayList<>()).add(seq);
                    writeErrors.incrementAndGet();
                    error("write of block " + block + ": " + status);
                } else {
                    acked.set(block, seq);
                    List<Long> before = uncertain.remove(block);
                    List<Long> mayHold = since.computeIfAbsent(block, b -> new java.util.concurrent.CopyOnWriteArrayList<>());
                    if (before != null) {
                        mayHold.addAll(before); // a failed write may have landed: a crash before the next flush may leave it
                    }
                    mayHold.add(seq);
                    writesOk.incrementAndGet();
                }
            } else if (failed) {
                readErrors.incrementAndGet();
                error("read of block " + block + ": " + status);
            } else {
                String wrong = check(buffer.bytes().duplicate().order(ByteOrder.BIG_ENDIAN), block, false);
                if (wrong != null) {
                    mismatch(wrong);
                }
                readsOk.incrementAndGet();
            }
            busy.set(block, 0);
            if (failed) { // the device is down or reconnecting: do not spin
                hop.execute(() -> {
                    try {
                        Thread.sleep(20);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    next();
                });
            } else {
                hop.execute(this::next);
            }
        }

        private void release() {
            if (buffer != null) {
                buffer.release();
                buffer = null;
            }
            idle = true;
        }
    }
}
