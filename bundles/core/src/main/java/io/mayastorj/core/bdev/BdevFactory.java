package io.mayastorj.core.bdev;

import java.util.Set;

/**
 * Opens bdevs from URIs of the schemes it owns. Bundles register factories as services; the
 * {@link BdevRegistry} dispatches each URI to the factory of its scheme. When a factory's bundle
 * stops, the registry closes the bdevs it created.
 */
public interface BdevFactory {

    /** The URI schemes this factory owns, e.g. {@code malloc}. */
    Set<String> schemes();

    /**
     * The name the bdev for {@code uri} will have, so the registry can refuse a duplicate before
     * anything is allocated. Also validates the URI.
     *
     * @throws io.mayastorj.core.error.MayastorException INVALID_ARGUMENT for a bad URI
     */
    String nameOf(BdevUri uri);

    /**
     * Creates the bdev. The registry has checked that the name is free.
     *
     * @throws io.mayastorj.core.error.MayastorException with a kind and a message for the user
     */
    BlockDevice create(BdevUri uri);
}
