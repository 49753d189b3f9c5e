package io.mayastorj.pool.internal.format;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Which superblock an import takes, from what the slots hold (FORMAT.md, "Import: the
 * superblock"). Pure: the caller reads the blocks.
 *
 * <p>In format version 2 a commit writes its superblock to the first copy of slot {@code seq mod 2},
 * flushes, then to the second copy, and is acknowledged after a flush. So a crash tears at most one
 * superblock block, and an acknowledged commit is in both copies of its slot until the commit after
 * the next overwrites them. Hence: the newest valid superblock is always a complete state (its pages
 * were flushed before it), and a newer acknowledged commit can only be missing if both copies of one
 * slot fail their checks — which no crash can cause, and which the import cannot see past.
 */
public final class SuperblockChoice {

    /**
     * One superblock block as read.
     *
     * @param slot       0 or 1
     * @param copy       {@link Superblock#FIRST_COPY} or {@link Superblock#SECOND_COPY}
     * @param offset     its byte offset on the device
     * @param superblock what it holds when it checks out, else null
     * @param failure    why it does not check out, else null
     * @param signature  it starts with the pool signature (whether or not it checks out)
     */
    public record Block(int slot, int copy, long offset, Superblock superblock, String failure, boolean signature) {

        public static Block valid(int slot, int copy, long offset, Superblock superblock) {
            return new Block(slot, copy, offset, superblock, null, true);
        }

        public static Block failed(int slot, int copy, long offset, String failure, boolean signature) {
            return new Block(slot, copy, offset, null, failure, signature);
        }

        public String label() {
            return "superblock slot " + slot + ", " + (copy == Superblock.FIRST_COPY ? "first" : "second")
                    + " copy (byte " + offset + ")";
        }

        boolean ok() {
            return superblock != null;
        }
    }

    /** The outcome. */
    public sealed interface Result {
        /** No block carries the pool signature. */
        record Empty() implements Result {
        }

        /**
         * No superblock can be trusted to be the newest acknowledged state.
         *
         * @param reason   which blocks failed which check, and why that cannot be decided
         * @param fallback the newest readable superblock, which a person may choose knowingly; null when none
         */
        record Undecided(String reason, Superblock fallback) implements Result {
        }

        /**
         * @param superblock the state to import
         * @param findings   blocks that failed their checks or hold an older commit than their slot's
         *                   other copy: a crash's torn write, or damage; the import rewrites them
         */
        record Chosen(Superblock superblock, List<String> findings, List<Heal> heals) implements Result {
        }
    }

    /**
     * A superblock block to rewrite before the import commits: the bad copy of a slot whose other
     * copy is its only valid block. A commit writes a slot's first copy first; over the only valid
     * block of a slot, a crash tearing that write would leave the slot with none, and the pool
     * refused (a newer commit may have been lost) though nothing acknowledged was.
     *
     * @param copy   the copy to write ({@link Superblock#FIRST_COPY} or {@link Superblock#SECOND_COPY})
     * @param offset its byte offset
     * @param from   what its slot's valid copy holds, written there again
     */
    public record Heal(int copy, long offset, Superblock from) {
    }

    private SuperblockChoice() {
    }

    /** Chooses among the blocks read: both slots of the first copy, and (version 2) of the second. */
    public static Result choose(List<Block> blocks) {
        List<Block> valid = new ArrayList<>();
        List<String> findings = new ArrayList<>();
        Superblock reference = reference(blocks);
        if (reference == null) {
            if (blocks.stream().noneMatch(Block::signature)) {
                return new Result.Empty();
            }
            return new Result.Undecided(String.join("; ", blocks.stream().map(b -> b.label() + ": " + b.failure()).toList()),
                    null);
        }
        for (Block b : blocks) {
            if (!b.ok()) {
                if (b.signature() || reference.layout().mirrored()) {
                    findings.add(b.label() + ": " + b.failure());
                }
                continue;
            }
            String foreign = foreign(reference, b.superblock());
            if (foreign != null) {
                findings.add(b.label() + ": " + foreign);
                continue;
            }
            valid.add(b);
        }
        Superblock best = valid.stream().map(Block::superblock).reduce((a, c) -> c.sequence() > a.sequence() ? c : a)
                .orElseThrow();
        if (!best.layout().mirrored()) {
            return new Result.Chosen(best, findings, List.of()); // one copy: the newest valid slot, as version 1 always did
        }
        List<Heal> heals = new ArrayList<>();
        for (int slot = 0; slot < 2; slot++) {
            int s = slot;
            List<Block> slotBlocks = valid.stream().filter(b -> b.slot() == s).toList();
            // commit 1 and 2 (the pool's creation) hold the same state: nothing acknowledged is beyond 1
            if (slotBlocks.isEmpty() && best.sequence() >= 2) {
                String reason = "superblock slot " + slot + " fails its checks in both copies ("
                        + String.join("; ", blocks.stream().filter(b -> b.slot() == s)
                        .map(b -> (b.copy() == Superblock.FIRST_COPY ? "first" : "second") + " copy at byte "
                                + b.offset() + ": " + (b.ok() ? foreign(reference, b.superblock()) : b.failure()))
                        .toList())
                        + "), so a commit newer than " + best.sequence()
                        + ", the newest readable, may have been acknowledged and lost";
                return new Result.Undecided(reason, best);
            }
            if (slotBlocks.size() == 1) {
                for (Block b : blocks) {
                    // failed its checks, or another pool's or geometry's: at this pool's own offset either way
                    if (b.slot() == s && b.copy() != slotBlocks.get(0).copy() && !valid.contains(b)) {
                        heals.add(new Heal(b.copy(), b.offset(), slotBlocks.get(0).superblock()));
                    }
                }
            }
            long newest = slotBlocks.stream().mapToLong(b -> b.superblock().sequence()).max().orElse(-1);
            for (Block b : slotBlocks) {
                if (b.superblock().sequence() != newest) {
                    findings.add(b.label() + ": holds commit " + b.superblock().sequence() + ", its other copy commit "
                            + newest);
                }
            }
        }
        return new Result.Chosen(best, findings, heals);
    }

    /** The pool the blocks describe: the newest valid first copy, else the newest valid second copy. */
    private static Superblock reference(List<Block> blocks) {
        Superblock first = null;
        Superblock second = null;
        for (Block b : blocks) {
            if (!b.ok()) {
                continue;
            }
            if (b.copy() == Superblock.FIRST_COPY) {
                first = first == null || b.superblock().sequence() > first.sequence() ? b.superblock() : first;
            } else {
                second = second == null || b.superblock().sequence() > second.sequence() ? b.superblock() : second;
            }
        }
        return first != null ? first : second;
    }

    /** Why a valid superblock does not belong with the reference, or null when it does. */
    private static String foreign(Superblock reference, Superblock other) {
        if (!reference.poolUuid().equals(other.poolUuid())) {
            return "it belongs to pool " + other.name() + " (uuid " + other.poolUuid() + ")";
        }
        if (!Objects.equals(reference.layout(), other.layout())) {
            return "its geometry differs from the other copies'";
        }
        return null;
    }
}
