package io.mayastorj.pool.internal;

import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.pool.internal.format.DamagedMetadataException;
import io.mayastorj.pool.internal.format.Layout;
import io.mayastorj.pool.internal.format.MetaPage;
import io.mayastorj.pool.internal.format.Superblock;
import io.mayastorj.pool.internal.format.SuperblockChoice;
import io.mayastorj.pool.internal.format.Tombstone;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * Reads metadata blocks from the device and checks them, writing nothing (FORMAT.md "Import: the
 * superblock" and "Import: the pages"): {@link #probe} reads the superblock blocks and lets
 * {@link SuperblockChoice} decide; {@link #readCommitted} reads a page's committed version — the
 * slot its parent names, in either copy (version 2), or the newest valid slot (version 1). What to
 * make of a page that cannot be read is {@link PoolImport}'s decision.
 */
final class MetadataReader {

    private final PoolDevice deviceIo;
    private final Layout layout;
    private final UUID poolUuid;
    /** Slots that a commit which never completed wrote: invalidated at import (version 1, see {@link PoolImport}). */
    private final List<long[]> orphans = new ArrayList<>();

    MetadataReader(PoolDevice deviceIo, Layout layout, UUID poolUuid) {
        this.deviceIo = deviceIo;
        this.layout = layout;
        this.poolUuid = poolUuid;
    }

    // ------------------------------------------------------------------ the superblock

    /**
     * Reads the superblock blocks — both slots, and from format version 2 both copies of each — and
     * decides which state to import ({@link SuperblockChoice}). Reads only.
     */
    static LvStore.Probe probe(PoolDevice deviceIo) {
        BlockDevice device = deviceIo.device;
        if (device.blockSize() > Layout.PAGE || device.sizeBytes() < 2L * Layout.PAGE) {
            return new LvStore.Probe.Empty();
        }
        DmaBuffer page = deviceIo.page();
        try {
            deviceIo.readPage(page, Layout.superblockOffset(0));
            if (Tombstone.is(page.bytes())) {
                return new LvStore.Probe.Empty(); // a destroy got this far: nothing is left to import
            }
            List<SuperblockChoice.Block> blocks = new ArrayList<>();
            Superblock first = null;
            for (int slot = 0; slot < 2; slot++) {
                SuperblockChoice.Block b = readSuperblock(deviceIo, page, slot, Superblock.FIRST_COPY,
                        Layout.superblockOffset(slot), -1);
                blocks.add(b);
                if (b.superblock() != null && (first == null || b.superblock().sequence() > first.sequence())) {
                    first = b.superblock();
                }
            }
            // The second copy lies where the first copy's geometry says; when no first copy is
            // readable, at the device's end (where it is unless the device grew since).
            if (first == null || first.layout().mirrored()) {
                long deviceBytes = first != null ? first.layout().deviceBytes() : device.sizeBytes();
                for (int slot = 0; slot < 2; slot++) {
                    long offset = Layout.mirrorSuperblockOffset(deviceBytes, slot);
                    if (offset < Layout.METADATA_START || offset + Layout.PAGE > device.sizeBytes()) {
                        if (first != null) {
                            blocks.add(SuperblockChoice.Block.failed(slot, Superblock.SECOND_COPY, offset,
                                    "it lies beyond the device's end (" + device.sizeBytes() + " bytes)", false));
                        }
                        continue;
                    }
                    blocks.add(readSuperblock(deviceIo, page, slot, Superblock.SECOND_COPY, offset, deviceBytes));
                }
            }
            return switch (SuperblockChoice.choose(blocks)) {
                case SuperblockChoice.Result.Empty e -> new LvStore.Probe.Empty();
                case SuperblockChoice.Result.Undecided u -> new LvStore.Probe.Damaged(u.reason(), u.fallback());
                case SuperblockChoice.Result.Chosen c -> new LvStore.Probe.Valid(c.superblock(), c.findings(), c.heals());
            };
        } catch (IOException e) {
            return new LvStore.Probe.Damaged("cannot read the superblock: " + e.getMessage(), null);
        } finally {
            page.release();
        }
    }

    /** Reads one superblock block; a second copy must also lie where its own geometry puts it. */
    private static SuperblockChoice.Block readSuperblock(PoolDevice deviceIo, DmaBuffer page, int slot, int copy,
                                                         long offset, long assumedDeviceBytes) throws IOException {
        deviceIo.readPage(page, offset);
        ByteBuffer view = page.bytes().duplicate().order(ByteOrder.LITTLE_ENDIAN);
        if (!Superblock.hasMagic(view)) {
            return SuperblockChoice.Block.failed(slot, copy, offset, "no pool signature", false);
        }
        try {
            Superblock sb = Superblock.decode(view, copy);
            if (copy == Superblock.SECOND_COPY && sb.layout().mirrorSuperblockOffset(slot) != offset) {
                return SuperblockChoice.Block.failed(slot, copy, offset, "its pool keeps this copy at byte "
                        + sb.layout().mirrorSuperblockOffset(slot) + ", not here", true);
            }
            return SuperblockChoice.Block.valid(slot, copy, offset, sb);
        } catch (DamagedMetadataException e) {
            return SuperblockChoice.Block.failed(slot, copy, offset, e.getMessage(), true);
        }
    }

    // ------------------------------------------------------------------ the pages

    /**
     * The committed version of a page, or (view null) why there is none.
     *
     * @param problem with a view: a copy that failed its checks, to rewrite; without: what failed
     */
    record PageRead(ByteBuffer view, int slot, String problem) {
    }

    PageRead readCommitted(DmaBuffer page, int number, byte slot, short kind, UUID owner, long importedSeq)
            throws IOException {
        return layout.mirrored() ? readNamedSlot(page, number, slot, kind, owner, importedSeq)
                : readNewestSlot(page, number, kind, owner, importedSeq);
    }

    /** Version 1: slots (page, slot) newer than the imported commit, which the import erases. */
    List<long[]> orphans() {
        return orphans;
    }

    /**
     * Version 2: the slot the parent names holds the committed version, in two copies written by the
     * same commit before the superblock that names them. Either valid copy will do; when both fail,
     * nothing else on the device is that version.
     */
    private PageRead readNamedSlot(DmaBuffer page, int number, byte slot, short kind, UUID owner, long importedSeq)
            throws IOException {
        ByteBuffer[] images = new ByteBuffer[2];
        long[] seqs = {-1, -1};
        String[] failures = new String[2];
        String[] where = new String[2];
        for (int copy = 0; copy < 2; copy++) {
            long offset = copy == 0 ? layout.pageOffset(number, slot) : layout.mirrorPageOffset(number, slot);
            where[copy] = (copy == 0 ? "first" : "second") + " copy (byte " + offset + ")";
            deviceIo.readPage(page, offset);
            ByteBuffer view = page.bytes().duplicate().order(ByteOrder.LITTLE_ENDIAN).limit(Layout.PAGE);
            failures[copy] = MetaPage.check(view, number, kind, poolUuid, owner);
            if (failures[copy] == null && MetaPage.sequence(view) > importedSeq) {
                failures[copy] = "written by commit " + MetaPage.sequence(view) + ", after the superblock's " + importedSeq;
            }
            if (failures[copy] == null) {
                seqs[copy] = MetaPage.sequence(view);
                images[copy] = ByteBuffer.allocate(Layout.PAGE).order(ByteOrder.LITTLE_ENDIAN).put(0, view, 0, Layout.PAGE);
            }
        }
        if (images[0] == null && images[1] == null) {
            return new PageRead(null, slot, "fails its checks in both copies of slot " + slot + " (" + where[0] + ": "
                    + failures[0] + "; " + where[1] + ": " + failures[1] + ")");
        }
        // One commit wrote both copies; a copy older than the other was a lost or misdirected write.
        int chosen = images[0] == null || (images[1] != null && seqs[1] > seqs[0]) ? 1 : 0;
        int other = 1 - chosen;
        String problem = null;
        if (images[other] == null) {
            problem = where[other] + ": " + failures[other];
        } else if (seqs[other] != seqs[chosen]) {
            problem = where[other] + ": holds commit " + seqs[other] + ", its other copy commit " + seqs[chosen];
        }
        return new PageRead(images[chosen], slot, problem == null ? null : "slot " + slot + ", " + problem);
    }

    /** Version 1: the valid slot with the higher sequence not above the commit's. */
    private PageRead readNewestSlot(DmaBuffer page, int number, short kind, UUID owner, long importedSeq)
            throws IOException {
        ByteBuffer best = null;
        long bestSeq = -1;
        int bestSlot = -1;
        for (int slot = 0; slot < 2; slot++) {
            deviceIo.readPage(page, layout.pageOffset(number, slot));
            ByteBuffer view = page.bytes().duplicate().order(ByteOrder.LITTLE_ENDIAN).limit(Layout.PAGE);
            long seq = MetaPage.validSequence(view, number, kind, poolUuid, owner);
            if (seq > importedSeq) {
                orphans.add(new long[] {number, slot});
            }
            if (seq >= 0 && seq <= importedSeq && seq > bestSeq) {
                best = ByteBuffer.allocate(Layout.PAGE).order(ByteOrder.LITTLE_ENDIAN).put(0, view, 0, Layout.PAGE);
                bestSeq = seq;
                bestSlot = slot;
            }
        }
        return best == null ? new PageRead(null, -1, "fails its checks in both slots")
                : new PageRead(best, bestSlot, null);
    }
}
