package io.mayastorj.control.internal.nodes;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.grpc.Status;
import io.mayastorj.core.error.ErrorKind;
import io.mayastorj.core.error.MayastorException;
import org.junit.jupiter.api.Test;

class NodeClientsTest {

    private static MayastorException translated(Status status) {
        return NodeClients.translate("s1", status.asRuntimeException());
    }

    /**
     * Review finding: a node's ABORTED ("being created by another call; ask again") came through as
     * ABORTED, which the reconciler takes for a write that lost a race in the store and reruns at
     * once, ten times in a row, asking every node each time; it is retried after a backoff now.
     */
    @Test
    void aBusyNodeIsAskedAgainLaterNotAtOnce() {
        MayastorException e = translated(Status.ABORTED.withDescription("nexus n1 is being created by another call; ask again"));
        assertEquals(ErrorKind.UNAVAILABLE, e.kind());
        assertEquals("node s1: nexus n1 is being created by another call; ask again", e.getMessage());
    }

    @Test
    void refusalsKeepTheirKindAndSlowNodesAreAway() {
        assertEquals(ErrorKind.FAILED_PRECONDITION, translated(Status.FAILED_PRECONDITION.withDescription("x")).kind());
        assertEquals(ErrorKind.NOT_FOUND, translated(Status.NOT_FOUND).kind());
        MayastorException late = translated(Status.DEADLINE_EXCEEDED.withDescription("deadline exceeded after 9.99s"));
        assertEquals(ErrorKind.UNAVAILABLE, late.kind());
        assertEquals("node s1: did not answer in time", late.getMessage());
        assertEquals("node s1: not found", translated(Status.NOT_FOUND).getMessage());
    }
}
