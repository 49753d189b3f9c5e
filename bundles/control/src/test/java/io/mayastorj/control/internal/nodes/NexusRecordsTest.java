package io.mayastorj.control.internal.nodes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The control plane's reading of a nexus record. */
class NexusRecordsTest {

    @Test
    void theInSyncChildrenAreReadByReplica() throws IOException {
        NexusRecords.Record r = NexusRecords.parse(("incarnation=3\nchildren=2\nchild.0.healthy=true\nchild.0.replica=R1\n"
                + "child.1.healthy=false\nchild.1.replica=R2\nclean_shutdown=true\n").getBytes(StandardCharsets.UTF_8), 7);
        assertEquals(Set.of("R1"), r.inSync());
        assertEquals(3, r.incarnation());
    }

    /**
     * Review finding: a malformed unicode escape was an IllegalArgumentException no caller caught (the
     * volume's every pass failed); a child count of 2^31-1 looped that many times a pass.
     */
    @Test
    void aMalformedEscapeOrAnImpossibleChildCountIsADamagedRecord() {
        IOException escape = assertThrows(IOException.class,
                () -> NexusRecords.parse("incarnation=1\nchild.0.replica=\\u00zz\n".getBytes(StandardCharsets.UTF_8), 1));
        assertEquals("a damaged nexus record: Malformed \\uxxxx encoding.", escape.getMessage());
        IOException count = assertThrows(IOException.class,
                () -> NexusRecords.parse("incarnation=1\nchildren=2147483647\n".getBytes(StandardCharsets.UTF_8), 1));
        assertEquals("a damaged nexus record: children=2147483647 with 2 keys in all", count.getMessage());
    }
}
