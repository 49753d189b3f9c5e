package io.mayastorj.pool.internal.format;

import java.io.Serial;

/** A metadata block that does not check out: wrong magic, checksum, version or identity. */
public final class DamagedMetadataException extends Exception {
    @Serial
    private static final long serialVersionUID = 1L;

    public DamagedMetadataException(String message) {
        super(message);
    }
}
