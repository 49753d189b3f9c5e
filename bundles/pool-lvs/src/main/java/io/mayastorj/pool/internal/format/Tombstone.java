package io.mayastorj.pool.internal.format;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32C;

/**
 * What a pool's destroy writes over the first copy of superblock slot 0 before it erases the other
 * superblock blocks (FORMAT.md, "Destroy"). No order of plain erasures of four blocks avoids a state
 * that reads as damage (one slot gone in both copies, the other readable); with this page first, a
 * destroy cut short at any point leaves a device that reads as free.
 */
public final class Tombstone {

    static final byte[] MAGIC = "MJ-POOL-DESTROYED".getBytes(StandardCharsets.US_ASCII);
    private static final int OFF_CRC = 4092;

    private Tombstone() {
    }

    /** Fills {@code page} (one metadata page) with the tombstone. */
    public static void encode(ByteBuffer page, int pageBytes) {
        ByteBuffer b = page.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < pageBytes; i++) {
            b.put(i, (byte) 0);
        }
        b.put(0, MAGIC);
        b.putInt(OFF_CRC, crc(b));
    }

    /** True when {@code page} holds a tombstone, checksum and all. */
    public static boolean is(ByteBuffer page) {
        ByteBuffer b = page.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < MAGIC.length; i++) {
            if (b.get(i) != MAGIC[i]) {
                return false;
            }
        }
        return b.getInt(OFF_CRC) == crc(b);
    }

    private static int crc(ByteBuffer b) {
        CRC32C crc = new CRC32C();
        crc.update(b.duplicate().position(0).limit(OFF_CRC));
        return (int) crc.getValue();
    }
}
