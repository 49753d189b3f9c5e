package io.mayastorj.core.bdev;

import java.util.List;
import java.util.Optional;

/**
 * The node's bdevs by name: those created from URIs through the factories, and those that
 * subsystems (pools, nexuses) register themselves. Errors are
 * {@link io.mayastorj.core.error.MayastorException}s with a kind and a message for the user.
 */
public interface BdevRegistry {

    /**
     * Creates a bdev from a URI through the factory of its scheme.
     *
     * @throws io.mayastorj.core.error.MayastorException INVALID_ARGUMENT (malformed URI, unknown
     *     scheme or parameter), ALREADY_EXISTS (name taken), RESOURCE_EXHAUSTED, NOT_FOUND (a
     *     device path that does not exist)
     */
    BlockDevice create(String uri);

    /**
     * Closes and forgets a bdev created from a URI, named by its name or that URI.
     *
     * @throws io.mayastorj.core.error.MayastorException NOT_FOUND, or FAILED_PRECONDITION while
     *     claimed or when a subsystem owns it
     */
    void destroy(String nameOrUri);

    /** Adds a bdev that a subsystem made (a replica, a nexus); the subsystem closes it. */
    void register(BlockDevice device);

    /** Removes a bdev added with {@link #register}; false when it was not registered. */
    boolean unregister(BlockDevice device);

    Optional<BlockDevice> lookup(String name);

    /**
     * The bdev a URI names, if it exists: {@code bdev:///NAME} names it directly, any other URI
     * through the name its factory gives it ({@code aio:///dev/sdb} is the bdev {@code /dev/sdb}).
     *
     * @throws io.mayastorj.core.error.MayastorException INVALID_ARGUMENT for a malformed URI or an
     *     unknown scheme
     */
    Optional<BlockDevice> findByUri(String uri);

    /** Every bdev, sorted by name. */
    List<BdevInfo> list();

    /**
     * Claims a bdev for exclusive use.
     *
     * @throws io.mayastorj.core.error.MayastorException NOT_FOUND, or FAILED_PRECONDITION when
     *     already claimed (the message names the owner)
     */
    BdevClaim claim(String name, String owner);
}
