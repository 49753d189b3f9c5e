package io.mayastorj.core.text;

import io.mayastorj.core.error.MayastorException;
import java.util.UUID;

/** UUIDs from requests: only the canonical form, with a clear INVALID_ARGUMENT for anything else. */
public final class Uuids {

    private Uuids() {
    }

    public static UUID parse(String text) {
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
