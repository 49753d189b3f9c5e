package io.mayastorj.nvmf.internal.host;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * Which units of a remote namespace may hold data, for {@code holdsData}: loaded from the target's
 * allocation report (Get LBA Status, action 02h) after each connect, and marked by every write this
 * host sends from the moment the map exists — a replica is written through one nexus, so nothing
 * else allocates in it. Bits are only ever set: a unit unmapped since reads as holding data, which
 * costs a rebuild a read of zeros, never a lost write. Until the first report is in, every range
 * may hold data.
 */
final class AllocationMap {

    private static final VarHandle WORD = MethodHandles.arrayElementVarHandle(long[].class);

    private final long unit;
    private final long units;
    private final long[] words;
    private volatile boolean loaded;

    /** The namespace's size when the map was made: a namespace grown since may hold data beyond it. */
    private final long coveredBlocks;

    /** The most units a map tracks (2 MiB of bits): a coarser unit beyond, which can only say "holds data" more often. */
    static final long MAX_UNITS = 1L << 24;

    AllocationMap(long blockCount, long unitBlocks) {
        this.coveredBlocks = blockCount;
        // the unit comes from the target (TLBAAG): a unit of 1 block on a 4 TiB namespace was 1 GiB of heap,
        // and past 2^37 units the array size wrapped
        long u = Math.max(1, unitBlocks);
        while ((blockCount + u - 1) / u > MAX_UNITS) {
            u *= 2;
        }
        this.unit = u;
        this.units = (blockCount + u - 1) / u;
        this.words = new long[(int) ((units + 63) / 64)];
    }

    long unit() {
        return unit;
    }

    /** The units of {@code [lba, lba + blocks)} hold data now. The I/O path: no allocation, no lock. */
    void mark(long lba, long blocks) {
        if (blocks <= 0) {
            return;
        }
        long last = Math.min(units - 1, (lba + blocks - 1) / unit);
        for (long u = lba / unit; u <= last; u++) {
            int word = (int) (u >>> 6);
            long bit = 1L << (u & 63);
            if (((long) WORD.getAcquire(words, word) & bit) == 0) {
                WORD.getAndBitwiseOr(words, word, bit);
            }
        }
    }

    /** From the target's report: {@code blocks} blocks from {@code lba} are allocated. */
    void reported(long lba, long blocks) {
        mark(lba, blocks);
    }

    void loaded() {
        loaded = true;
    }

    /** The report no longer holds (the connection that read it is gone): every range holds data until the next. */
    void unload() {
        loaded = false;
    }

    boolean isLoaded() {
        return loaded;
    }

    boolean holdsData(long lba, long blocks) {
        if (!loaded || lba + blocks > coveredBlocks) {
            return true;
        }
        if (blocks <= 0) {
            return false;
        }
        long last = Math.min(units - 1, (lba + blocks - 1) / unit);
        for (long u = Math.max(0, lba / unit); u <= last; u++) {
            if (((long) WORD.getAcquire(words, (int) (u >>> 6)) & (1L << (u & 63))) != 0) {
                return true;
            }
        }
        return false;
    }

    /** Units marked as holding data (for the shell and tests). */
    long unitsHoldingData() {
        long n = 0;
        for (int i = 0; i < words.length; i++) {
            n += Long.bitCount((long) WORD.getAcquire(words, i));
        }
        return n;
    }
}
