package io.mayastorj.pool.internal.format;

import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

/** CRC32C over a page with its own checksum field counted as zero. */
final class Crc {

    private Crc() {
    }

    static int of(ByteBuffer page, int crcOffset) {
        CRC32C crc = new CRC32C();
        crc.update(page.duplicate().position(0).limit(crcOffset));
        crc.update(new byte[4]);
        crc.update(page.duplicate().position(crcOffset + 4).limit(Layout.PAGE));
        return (int) crc.getValue();
    }
}
