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

    @Test
    void sizesReadLikePeopleWriteThem() {
        assertEquals("512 B", Sizes.human(512));
        assertEquals("64 MiB", Sizes.human(64L << 20));
        assertEquals("1.5 GiB", Sizes.human(3L << 29));
        assertEquals("8 EiB", Sizes.human(Long.MAX_VALUE));
    }
}
