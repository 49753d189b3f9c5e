package io.mayastorj.pool.internal;

import io.mayastorj.core.error.MayastorException;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Collection;

/**
 * The metadata area in memory, page by page (FORMAT.md "Metadata pages"): which logical pages are in
 * use, which replica each belongs to (its descriptor, or which of its cluster-map pages), the slot
 * that holds each page's committed version, and what changed since the last commit — the pages and
 * the superblock. It holds no page contents: {@link MetadataCommitter} encodes them from the
 * replicas when it commits. Everything here is guarded by the pool's lock.
 */
final class MetadataPageTable {

    private final String poolName;
    private final int pageCount;
    /** The slot (0, 1) of each page's committed version; -1 for none yet (or unknown, version 1 damage). */
    private final byte[] latestSlot;
    private final BitSet usedPages;
    private final Replica[] pageReplica;
    /** For a cluster-map page, its index in its replica's map directory; -1 for a descriptor. */
    private final int[] pageMapIndex;
    private final BitSet dirtyPages = new BitSet();
    private boolean superDirty;
    /**
     * Changes a write depends on (a cluster mapped), counted before each is made: a write acknowledged
     * waits until a commit that began after them is done (see {@link MetadataCommitter#durableMappings}).
     */
    private volatile long mappings;

    MetadataPageTable(String poolName, int pageCount) {
        this.poolName = poolName;
        this.pageCount = pageCount;
        this.latestSlot = new byte[pageCount];
        Arrays.fill(latestSlot, (byte) -1);
        this.usedPages = new BitSet(pageCount);
        this.pageReplica = new Replica[pageCount];
        this.pageMapIndex = new int[pageCount];
    }

    // ---- which pages are in use, and whose

    int allocate() {
        int page = usedPages.nextClearBit(0);
        if (page >= pageCount) {
            throw MayastorException.resourceExhausted("pool %s has no metadata room left", poolName);
        }
        usedPages.set(page);
        return page;
    }

    void release(int page) {
        usedPages.clear(page);
        pageReplica[page] = null;
        dirtyPages.clear(page);
    }

    /** A page is {@code replica}'s descriptor ({@code mapIndex} -1) or its cluster-map page {@code mapIndex}. */
    void assign(int page, Replica replica, int mapIndex) {
        pageReplica[page] = replica;
        pageMapIndex[page] = mapIndex;
    }

    void markUsed(int page) {
        usedPages.set(page);
    }

    boolean isUsed(int page) {
        return usedPages.get(page);
    }

    Replica owner(int page) {
        return pageReplica[page];
    }

    int mapIndex(int page) {
        return pageMapIndex[page];
    }

    int free() {
        return pageCount - usedPages.cardinality();
    }

    int used() {
        return usedPages.cardinality();
    }

    /** In use again: exactly the pages {@code replicas} name (after damaged replicas were forgotten). */
    void rebuildUsed(Collection<Replica> replicas) {
        usedPages.clear();
        for (Replica r : replicas) {
            usedPages.set(r.descriptorPage);
            for (int page : r.mapPageNumbers) {
                if (page >= 0) {
                    usedPages.set(page);
                }
            }
        }
    }

    // ---- committed slots

    /** The slot that holds a page's committed version (-1 for none yet). */
    byte committedSlot(int page) {
        return latestSlot[page];
    }

    void setCommittedSlot(int page, byte slot) {
        latestSlot[page] = slot;
    }

    /** The slot a page holds its committed version in once the commit writing {@code moving} is done. */
    int slotAfter(int page, BitSet moving) {
        int now = latestSlot[page];
        return moving.get(page) ? (now == 0 ? 1 : 0) : now;
    }

    // ---- changes since the last commit

    void markDirty(int page) {
        dirtyPages.set(page);
    }

    /** Under the pool's lock, before a cluster is mapped; the count after it. */
    long mapping() {
        long n = mappings + 1;
        mappings = n;
        return n;
    }

    long mappings() {
        return mappings;
    }

    void markSuperblockDirty() {
        superDirty = true;
    }

    boolean hasChanges() {
        return !dirtyPages.isEmpty() || superDirty;
    }

    /**
     * The pages the next commit writes. With named slots (version 2) a cluster-map page that moves
     * to its other slot rewrites its descriptor, which names that slot; it is marked changed too.
     */
    BitSet changedPages(boolean namedSlots) {
        if (namedSlots) {
            for (int p = dirtyPages.nextSetBit(0); p >= 0; p = dirtyPages.nextSetBit(p + 1)) {
                if (pageMapIndex[p] >= 0 && pageReplica[p] != null) {
                    dirtyPages.set(pageReplica[p].descriptorPage);
                }
            }
        }
        return (BitSet) dirtyPages.clone();
    }

    /** A commit has taken every change. */
    void clearChanges() {
        dirtyPages.clear();
        superDirty = false;
    }

    /** A commit that failed: its pages and the superblock are still to be written. */
    void restoreChanges(int[] pages) {
        for (int p : pages) {
            dirtyPages.set(p);
        }
        superDirty = true;
    }
}
