package io.mayastorj.core.bdev;

/**
 * Exclusive use of a bdev by one owner (a pool, a nexus, a share). While claimed, the bdev cannot
 * be destroyed or claimed by another owner. Closing the claim releases it.
 */
public interface BdevClaim extends AutoCloseable {

    BlockDevice device();

    String owner();

    @Override
    void close();
}
