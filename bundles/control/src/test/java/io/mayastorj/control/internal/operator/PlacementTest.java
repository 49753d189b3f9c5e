package io.mayastorj.control.internal.operator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.mayastorj.control.internal.operator.Placement.Candidate;
import io.mayastorj.control.internal.operator.Placement.Request;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class PlacementTest {

    private static final long GIB = 1L << 30;

    private static List<Candidate> pools() {
        return List.of(
                new Candidate("n1", "p1", true, true, 10 * GIB, 8 * GIB),   // 2 GiB free
                new Candidate("n2", "p2", true, true, 10 * GIB, 1 * GIB),   // 9 GiB free
                new Candidate("n3", "p3", true, true, 10 * GIB, 5 * GIB),   // 5 GiB free
                new Candidate("n4", "p4", false, false, 10 * GIB, 0),       // offline
                new Candidate("n5", "p5", true, false, 10 * GIB, 0));       // pool faulted
    }

    private static List<String> nodes(Placement.Result r) {
        return r.chosen().stream().map(Candidate::node).toList();
    }

    @Test
    void replicasGoToDistinctNodesTheEmptiestFirst() {
        Placement.Result r = Placement.place(new Request(3, GIB, false, List.of(), List.of()), 3, pools(), Set.of());
        assertEquals(List.of("n2", "n3", "n1"), nodes(r));
    }

    /**
     * A pool that refused lately goes after the others with room, but not after a preferred node's (a local
     * volume's replica must be on the node its pod was scheduled to), and it is still taken when nothing
     * else is left.
     */
    @Test
    void aPoolThatRefusedLatelyComesLastButAfterThePreferredOnes() {
        List<Candidate> refusedN2 = List.of(new Candidate("n1", "p1", true, true, 10 * GIB, 8 * GIB, false),
                new Candidate("n2", "p2", true, true, 10 * GIB, 1 * GIB, true),
                new Candidate("n3", "p3", true, true, 10 * GIB, 5 * GIB, false));
        assertEquals(List.of("n3", "n1", "n2"), nodes(Placement.place(new Request(3, GIB, false, List.of(), List.of()), 3,
                refusedN2, Set.of())));
        assertEquals(List.of("n2", "n3"), nodes(Placement.place(new Request(2, GIB, false, List.of(), List.of("n2")), 2,
                refusedN2, Set.of())), "the first preferred node first, refused or not");
        // a local volume's preferred list names every node after its pod's: a refused one there still goes last
        assertEquals(List.of("n1", "n3", "n2"), nodes(Placement.place(new Request(3, GIB, false, List.of(),
                List.of("n1", "n2", "n3")), 3, refusedN2, Set.of())));
        assertEquals(List.of("n2"), nodes(Placement.place(new Request(1, GIB, false, List.of("n2"), List.of()), 1,
                refusedN2, Set.of())), "the only required node, refused or not");
    }

    @Test
    void preferredNodesComeFirstAndRequiredNodesAreTheOnlyOnes() {
        assertEquals(List.of("n1", "n2"), nodes(Placement.place(new Request(2, GIB, false, List.of(), List.of("n1")), 2,
                pools(), Set.of())));
        assertEquals(List.of("n3", "n1"), nodes(Placement.place(new Request(2, GIB, false, List.of("n1", "n3"), List.of()), 2,
                pools(), Set.of())));
    }

    /**
     * Review finding: the preferred list was a set, so a local volume whose CSI request listed every
     * node (the scheduler's choice first) got its replica on the emptiest pool, not the chosen node.
     */
    @Test
    void preferredNodesRankInTheOrderGiven() {
        assertEquals(List.of("n1"), nodes(Placement.place(new Request(1, GIB, false, List.of(), List.of("n1", "n2", "n3")), 1,
                pools(), Set.of())));
        assertEquals(List.of("n3", "n1"), nodes(Placement.place(new Request(2, GIB, false, List.of(), List.of("n3", "n1")), 2,
                pools(), Set.of())));
    }

    @Test
    void aThickVolumeNeedsItsSizeFreeAThinOneAnyRoom() {
        Placement.Result thick = Placement.place(new Request(3, 3 * GIB, false, List.of(), List.of()), 3, pools(), Set.of());
        assertEquals("needs 3 pools on distinct nodes with 3 GiB free, found 2 (n2/p2, n3/p3): n1/p1 has 2 GiB free; n4 is offline; "
                + "n5/p5 is not online", thick.shortfall());
        assertEquals(List.of("n2", "n3", "n1"), nodes(Placement.place(new Request(3, 3 * GIB, true, List.of(), List.of()), 3,
                pools(), Set.of())));
    }

    @Test
    void aRepairAvoidsTheNodesThatHoldTheVolumeAlready() {
        Placement.Result r = Placement.place(new Request(3, GIB, false, List.of(), List.of()), 1, pools(), Set.of("n2", "n3"));
        assertEquals(List.of("n1"), nodes(r));
        Placement.Result none = Placement.place(new Request(3, GIB, false, List.of(), List.of()), 2, pools(), Set.of("n2", "n3"));
        assertTrue(!none.satisfied());
        assertEquals("needs 2 pools on distinct nodes other than n2, n3 with 1 GiB free, found 1 (n1/p1): n4 is offline; "
                + "n5/p5 is not online", none.shortfall());
    }

    @Test
    void aRequiredNodeWithoutAPoolIsNamed() {
        Placement.Result r = Placement.place(new Request(1, GIB, false, List.of("n9"), List.of()), 1, pools(), Set.of());
        assertEquals("needs 1 pool on distinct nodes with 1 GiB free among n9, found 0: required node n9 has no pool",
                r.shortfall());
    }
}
