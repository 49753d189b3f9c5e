package io.mayastorj.pool.internal.grpc;

import io.mayastorj.core.error.MayastorException;
import java.util.UUID;

/** UUIDs from requests, with a clear error for a bad one. */
final class Ids {

    private Ids() {
    }

    static UUID uuid(String text) {
        try {
            UUID uuid = UUID.fromString(text);
            if (uuid.toString().equalsIgnoreCase(text)) {
                return uuid;
            }
        } catch (IllegalArgumentException e) {
            // reported below
        }
        throw MayastorException.invalidArgument("'%s' is not a UUID", text);
    }
}
