package io.mayastorj.pool.internal.format;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.UUID;

/** Length-prefixed strings and UUIDs in metadata pages. */
final class Strings {

    private Strings() {
    }

    static void put(ByteBuffer page, int offset, int lengthBytes, int max, String value) {
        byte[] bytes = value.getBytes(StandardCharsets.UTF_8);
        if (bytes.length > max) {
            throw new IllegalArgumentException("'" + value + "' is longer than " + max + " bytes");
        }
        if (lengthBytes == 1) {
            page.put(offset, (byte) bytes.length);
        } else {
            page.putShort(offset, (short) bytes.length);
        }
        page.put(offset + lengthBytes, bytes);
    }

    static String get(ByteBuffer page, int offset, int lengthBytes, int max) throws DamagedMetadataException {
        int length = lengthBytes == 1 ? Byte.toUnsignedInt(page.get(offset)) : Short.toUnsignedInt(page.getShort(offset));
        if (length > max) {
            throw new DamagedMetadataException("a string of " + length + " bytes where at most " + max + " fit");
        }
        byte[] bytes = new byte[length];
        page.get(offset + lengthBytes, bytes);
        return new String(bytes, StandardCharsets.UTF_8);
    }

    static void putUuid(ByteBuffer page, int offset, UUID uuid) {
        page.putLong(offset, uuid.getMostSignificantBits());
        page.putLong(offset + 8, uuid.getLeastSignificantBits());
    }

    static UUID getUuid(ByteBuffer page, int offset) {
        return new UUID(page.getLong(offset), page.getLong(offset + 8));
    }
}
