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
}
