package io.mayastorj.pool.internal.format;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.UUID;

/**
 * The header every metadata page carries (FORMAT.md, "Metadata pages"): magic, checksum, the
 * commit sequence that wrote it, its own page number, its kind, and the pool and replica it
 * belongs to, so a page from another pool or another life of the slot is never taken for this one.
 */
public final class MetaPage {

    public static final int MAGIC = ByteBuffer.wrap("MJMP".getBytes(StandardCharsets.US_ASCII))
            .order(ByteOrder.LITTLE_ENDIAN).getInt();
    public static final short KIND_REPLICA = 1;
    public static final short KIND_CLUSTER_MAP = 2;
    public static final int HEADER = 64;

    static final int OFF_MAGIC = 0;
    static final int OFF_CRC = 4;
    static final int OFF_SEQUENCE = 8;
    static final int OFF_PAGE = 16;
    static final int OFF_KIND = 20;
    static final int OFF_POOL = 24;
    static final int OFF_OWNER = 40;

    private MetaPage() {
    }

    /** Clears the page and writes the header; {@link #seal} adds the checksum after the payload. */
    public static void begin(ByteBuffer page, long sequence, int pageNumber, short kind, UUID pool, UUID owner) {
        page.order(ByteOrder.LITTLE_ENDIAN);
        page.put(0, new byte[Layout.PAGE]);
        page.putInt(OFF_MAGIC, MAGIC);
        page.putLong(OFF_SEQUENCE, sequence);
        page.putInt(OFF_PAGE, pageNumber);
        page.putShort(OFF_KIND, kind);
        Strings.putUuid(page, OFF_POOL, pool);
        Strings.putUuid(page, OFF_OWNER, owner);
    }

    public static void seal(ByteBuffer page) {
        page.putInt(OFF_CRC, Crc.of(page, OFF_CRC));
    }

    /** The sequence of a valid page of this identity, or -1 when the slot holds anything else. */
    public static long validSequence(ByteBuffer page, int pageNumber, short kind, UUID pool, UUID owner) {
        return check(page, pageNumber, kind, pool, owner) == null ? page.getLong(OFF_SEQUENCE) : -1;
    }

    /** Why a block is not a valid page of this identity, or null when it is. */
    public static String check(ByteBuffer page, int pageNumber, short kind, UUID pool, UUID owner) {
        page.order(ByteOrder.LITTLE_ENDIAN);
        if (page.getInt(OFF_MAGIC) != MAGIC) {
            return "no page signature";
        }
        if (page.getInt(OFF_CRC) != Crc.of(page, OFF_CRC)) {
            return "checksum mismatch";
        }
        if (page.getInt(OFF_PAGE) != pageNumber) {
            return "it is page " + page.getInt(OFF_PAGE) + ", not " + pageNumber;
        }
        if (page.getShort(OFF_KIND) != kind) {
            return "it is a page of kind " + page.getShort(OFF_KIND) + ", not " + kind;
        }
        if (!Strings.getUuid(page, OFF_POOL).equals(pool)) {
            return "it belongs to pool " + Strings.getUuid(page, OFF_POOL);
        }
        if (owner != null && !Strings.getUuid(page, OFF_OWNER).equals(owner)) {
            return "it belongs to replica " + Strings.getUuid(page, OFF_OWNER) + ", not " + owner;
        }
        return null;
    }

    public static long sequence(ByteBuffer page) {
        return page.order(ByteOrder.LITTLE_ENDIAN).getLong(OFF_SEQUENCE);
    }

    public static UUID owner(ByteBuffer page) {
        return Strings.getUuid(page, OFF_OWNER);
    }
}
