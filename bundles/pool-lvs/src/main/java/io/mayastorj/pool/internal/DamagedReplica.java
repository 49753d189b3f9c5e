package io.mayastorj.pool.internal;

import java.util.UUID;

/**
 * A replica whose metadata failed its checks at import: listed, never served, kept on disk until
 * destroyed (nothing is repaired by wiping).
 *
 * @param page   its descriptor page
 * @param uuid   its UUID when the descriptor could be read, else null
 * @param name   its name when known, else null
 * @param reason what is wrong
 */
public record DamagedReplica(int page, UUID uuid, String name, String reason) {

    /**
     * What listings call it and a destroy names: its UUID, or — when its descriptor cannot be read —
     * one derived from the pool's UUID and the descriptor page, stable across imports, so that it
     * can be destroyed like any replica (an empty UUID could be neither listed usefully nor named).
     */
    public UUID id(UUID poolUuid) {
        return uuid != null ? uuid
                : UUID.nameUUIDFromBytes(("damaged replica " + poolUuid + " " + page).getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }
}
