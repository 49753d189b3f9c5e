package io.mayastorj.pool.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

class ReplicaShareTest {

    /**
     * Review finding: allowed hosts are checked now (one name or address each), and a share an older
     * version kept as "a, b" or "a,,b" would have been refused whole at its restore — the replica
     * came back unshared. What is kept is read trimmed, blanks dropped.
     */
    @Test
    void sharesKeptByEarlierVersionsAreReadTrimmed() {
        assertEquals(List.of("nqn.a", "nqn.b"), ReplicaShare.parse("share=nvmf\nallowed_hosts=nqn.a, nqn.b").allowedHosts());
        assertEquals(List.of("nqn.a", "nqn.b"), ReplicaShare.parse("share=nvmf\nallowed_hosts=nqn.a,,nqn.b,").allowedHosts());
        ReplicaShare share = ReplicaShare.parse("share=iscsi\nallowed_hosts=iqn.2026-12.test:a");
        assertEquals(share.allowedHosts(), ReplicaShare.parse(share.format()).allowedHosts(), "round trip");
    }
}
