package io.mayastorj.nexus.internal.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** A damaged record is an IOException that names it, whatever the damage. */
class RecordFormatTest {

    private static final String GOOD = "uuid=00000000-0000-4000-8000-000000000001\nname=vol\nsize=1048576\nincarnation=2\n";

    /**
     * Review finding: a malformed unicode escape made Properties throw an IllegalArgumentException
     * outside the decoder's try: the nexus took its record for unreachable (and stopped checking it
     * is still its own). A count of children past the record's keys is refused before any child is
     * read (the control plane's reading looped 2^31 times on one; here the first missing child failed).
     */
    @Test
    void aMalformedEscapeOrAnImpossibleChildCountIsADamagedRecord() {
        IOException escape = assertThrows(IOException.class,
                () -> RecordFormat.decode((GOOD + "name=\\u00zz\n").getBytes(StandardCharsets.UTF_8), "of vol"));
        assertEquals("the nexus record of vol is damaged: Malformed \\uxxxx encoding.", escape.getMessage());
        IOException count = assertThrows(IOException.class,
                () -> RecordFormat.decode((GOOD + "children=2147483647\n").getBytes(StandardCharsets.UTF_8), "of vol"));
        assertEquals("the nexus record of vol is damaged: children=2147483647 with 5 keys in all", count.getMessage());
        assertThrows(IOException.class, () -> RecordFormat.revision("revision=\\u12\n".getBytes(StandardCharsets.UTF_8)));
        assertEquals(0, assertThrows(IOException.class, () -> RecordFormat.decode(
                (GOOD + "children=-1\n").getBytes(StandardCharsets.UTF_8), "of vol")).getMessage().indexOf("the nexus record"));
    }
}
