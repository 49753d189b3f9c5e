package io.mayastorj.core.text;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class TableTest {

    @Test
    void padsColumnsAndRightAlignsNumbers() {
        String table = new Table("NAME", "SIZE", "OWNER").alignRight("SIZE")
                .row("m0", 64, null)
                .row("a-longer-name", 1048576, "pool p0")
                .toString();
        assertEquals("""
                NAME              SIZE  OWNER
                m0                  64  -
                a-longer-name  1048576  pool p0
                """, table);
    }

    /** Review finding: a multi-line reason (a log's cause, a stack's first lines) broke every column after it. */
    @Test
    void aCellWithLineBreaksStaysOnItsRow() {
        assertEquals("NAME  REASON\nm0    it failed: timed out\n",
                new Table("NAME", "REASON").row("m0", "it failed:\n  timed out\r\n").toString());
    }

    @Test
    void sizesReadLikePeopleWriteThem() {
        assertEquals("512 B", Sizes.human(512));
        assertEquals("64 MiB", Sizes.human(64L << 20));
        assertEquals("1.5 GiB", Sizes.human(3L << 29));
        assertEquals("8 EiB", Sizes.human(Long.MAX_VALUE));
    }
}
