package io.mayastorj.pool.internal.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import io.mayastorj.pool.internal.format.SuperblockChoice.Block;
import io.mayastorj.pool.internal.format.SuperblockChoice.Result;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/** The superblock rules of FORMAT.md, one case each: what a crash can leave, and what only damage can. */
class SuperblockChoiceTest {

    private static final UUID POOL = UUID.fromString("11111111-2222-4333-8444-555555555555");
    private static final Layout V2 = Layout.compute(2, 64L << 20, 512, 1 << 20);
    private static final Layout V1 = Layout.compute(1, 64L << 20, 512, 1 << 20);

    private static Superblock sb(Layout layout, long seq, UUID pool) {
        return new Superblock(seq, pool, "p0", layout, 0, new int[0], new byte[0], new int[0]);
    }

    private static Block ok(int slot, int copy, long seq) {
        return Block.valid(slot, copy, offset(slot, copy), sb(V2, seq, POOL));
    }

    private static Block bad(int slot, int copy, String why) {
        return Block.failed(slot, copy, offset(slot, copy), why, !why.equals("no pool signature"));
    }

    private static long offset(int slot, int copy) {
        return copy == 0 ? Layout.superblockOffset(slot) : V2.mirrorSuperblockOffset(slot);
    }

    private static Result.Chosen chosen(Result result, long seq) {
        Result.Chosen c = assertInstanceOf(Result.Chosen.class, result, String.valueOf(result));
        assertEquals(seq, c.superblock().sequence());
        return c;
    }

    @Test
    void aCleanPoolTakesTheNewestCommitWithNothingToRepair() {
        Result r = SuperblockChoice.choose(List.of(ok(0, 0, 8), ok(1, 0, 9), ok(0, 1, 8), ok(1, 1, 9)));
        assertEquals(List.of(), chosen(r, 9).findings());
        assertEquals(List.of(), chosen(r, 9).heals());
    }

    @Test
    void aCommitTornInItsFirstCopyRollsBackToTheLastAcknowledgedOne() {
        // commit 10 (slot 0) died while writing its first copy: never acknowledged
        Result r = SuperblockChoice.choose(List.of(bad(0, 0, "checksum mismatch"), ok(1, 0, 9), ok(0, 1, 8), ok(1, 1, 9)));
        assertEquals(List.of("superblock slot 0, first copy (byte 0): checksum mismatch"), chosen(r, 9).findings());
        // the torn block is rewritten from its slot's valid copy (commit 8) before the import commits
        List<SuperblockChoice.Heal> heals = chosen(r, 9).heals();
        assertEquals(1, heals.size());
        assertEquals(0, heals.get(0).copy());
        assertEquals(Layout.superblockOffset(0), heals.get(0).offset());
        assertEquals(8, heals.get(0).from().sequence());
    }

    @Test
    void aCommitTornInItsSecondCopyIsTakenForItsFirstCopyIsWhole() {
        Result r = SuperblockChoice.choose(List.of(ok(0, 0, 10), ok(1, 0, 9), bad(0, 1, "checksum mismatch"), ok(1, 1, 9)));
        assertEquals(1, chosen(r, 10).findings().size());
    }

    @Test
    void aCrashBeforeTheSecondCopyLeavesItACommitBehindAndThatIsRepaired() {
        Result r = SuperblockChoice.choose(List.of(ok(0, 0, 10), ok(1, 0, 9), ok(0, 1, 8), ok(1, 1, 9)));
        assertEquals(List.of("superblock slot 0, second copy (byte " + V2.mirrorSuperblockOffset(0)
                + "): holds commit 8, its other copy commit 10"), chosen(r, 10).findings());
    }

    @Test
    void theAcknowledgedCommitDamagedInOneCopyIsReadFromTheOther() {
        Result r = SuperblockChoice.choose(List.of(ok(0, 0, 8), ok(1, 0, 9), ok(0, 1, 8), bad(1, 1, "checksum mismatch")));
        chosen(r, 9);
        r = SuperblockChoice.choose(List.of(ok(0, 0, 8), bad(1, 0, "no pool signature"), ok(0, 1, 8), ok(1, 1, 9)));
        chosen(r, 9);
    }

    @Test
    void bothFirstCopiesOverwrittenReadsTheSecondCopiesAtTheEnd() {
        Result r = SuperblockChoice.choose(List.of(bad(0, 0, "no pool signature"), bad(1, 0, "no pool signature"),
                ok(0, 1, 8), ok(1, 1, 9)));
        assertEquals(2, chosen(r, 9).findings().size());
    }

    @Test
    void bothCopiesOfOneSlotDamagedCannotBeDecided() {
        Result r = SuperblockChoice.choose(List.of(ok(0, 0, 8), bad(1, 0, "checksum mismatch"), ok(0, 1, 8),
                bad(1, 1, "checksum mismatch")));
        Result.Undecided u = assertInstanceOf(Result.Undecided.class, r);
        assertEquals(8, u.fallback().sequence(), "the newest readable, for a person to choose");
        assertEquals("superblock slot 1 fails its checks in both copies (first copy at byte 4096: checksum mismatch; "
                + "second copy at byte " + V2.mirrorSuperblockOffset(1) + ": checksum mismatch), so a commit newer than 8, "
                + "the newest readable, may have been acknowledged and lost", u.reason());
    }

    @Test
    void aPoolWhoseCreationStoppedAfterItsFirstCommitImports() {
        Result r = SuperblockChoice.choose(List.of(bad(0, 0, "no pool signature"), ok(1, 0, 1),
                bad(0, 1, "no pool signature"), ok(1, 1, 1)));
        chosen(r, 1);
    }

    @Test
    void aBlockOfAnotherPoolIsNotTakenForThisOne() {
        Block other = Block.valid(1, 1, offset(1, 1), sb(V2, 50, UUID.randomUUID()));
        Result r = SuperblockChoice.choose(List.of(ok(0, 0, 8), ok(1, 0, 9), ok(0, 1, 8), other));
        Result.Chosen c = chosen(r, 9);
        assertEquals(1, c.findings().size());
        assertEquals(true, c.findings().get(0).contains("it belongs to pool p0 (uuid "), c.findings().get(0));
    }

    @Test
    void nothingWithASignatureIsNoPoolAndDamageEverywhereIsUndecided() {
        assertInstanceOf(Result.Empty.class, SuperblockChoice.choose(List.of(bad(0, 0, "no pool signature"),
                bad(1, 0, "no pool signature"), bad(0, 1, "no pool signature"), bad(1, 1, "no pool signature"))));
        Result.Undecided u = assertInstanceOf(Result.Undecided.class, SuperblockChoice.choose(List.of(
                bad(0, 0, "checksum mismatch"), bad(1, 0, "no pool signature"))));
        assertEquals(null, u.fallback());
    }

    @Test
    void aVersion1PoolTakesTheNewestValidSlotAsItAlwaysDid() {
        Block newest = Block.failed(1, 0, 4096, "checksum mismatch", true);
        Block older = Block.valid(0, 0, 0, sb(V1, 8, POOL));
        Result.Chosen c = chosen(SuperblockChoice.choose(List.of(older, newest)), 8);
        assertEquals(List.of("superblock slot 1, first copy (byte 4096): checksum mismatch"), c.findings());
    }
}
