package io.mayastorj.core.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.mayastorj.core.error.MayastorException;
import org.junit.jupiter.api.Test;

class ErrorMappingTest {

    @Test
    void eachErrorKeepsItsCode() {
        Status refused = ErrorMapping.statusOf(MayastorException.notFound("replica %s not found", "r1"));
        assertEquals(Status.Code.NOT_FOUND, refused.getCode());
        assertEquals("replica r1 not found", refused.getDescription());
        // a status passed on (another node's answer, a caller that went away) keeps its code: it once became INTERNAL
        Status passed = ErrorMapping.statusOf(new StatusRuntimeException(Status.UNAVAILABLE.withDescription("node n2 is away")));
        assertEquals(Status.Code.UNAVAILABLE, passed.getCode());
        assertEquals("node n2 is away", passed.getDescription());
        assertEquals(Status.Code.CANCELLED, ErrorMapping.statusOf(new StatusRuntimeException(Status.CANCELLED)).getCode());
        Status bug = ErrorMapping.statusOf(new IllegalStateException("oops"));
        assertEquals(Status.Code.INTERNAL, bug.getCode());
        assertEquals("internal error: java.lang.IllegalStateException: oops", bug.getDescription());
    }
}
