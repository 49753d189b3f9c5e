package io.mayastorj.core.transport;

import java.util.List;
import java.util.Optional;

/**
 * Owns the node's desired shares: which bdev is shared over which protocol, with which options.
 * It claims each shared bdev (so it cannot be destroyed under its hosts) and re-establishes the
 * shares of a transport that goes away and comes back (a bundle update). Errors are
 * {@link io.mayastorj.core.error.MayastorException}s.
 */
public interface ShareManager {

    /**
     * Shares a bdev and returns its URI. Sharing a bdev again with the same protocol and options
     * returns the existing URI, or null while that share waits for its transport (or the transport
     * failed to start: {@link #status} says why).
     *
     * @throws io.mayastorj.core.error.MayastorException NOT_FOUND (no such bdev), ALREADY_EXISTS
     *     (shared over another protocol or with other options), UNAVAILABLE (no such transport on
     *     the node), or the transport's own error
     */
    String share(String bdev, String protocol, ShareOptions options);

    /**
     * Records a share that existed before a restart (kept with the bdev, e.g. in a replica's
     * metadata): shared now when its transport is on the node, else as soon as it arrives. Failures
     * are recorded on the share, not thrown, except for a bdev that does not exist.
     *
     * @throws io.mayastorj.core.error.MayastorException NOT_FOUND, or FAILED_PRECONDITION when the
     *     bdev is in use
     */
    void restore(String bdev, String protocol, ShareOptions options);

    /**
     * Stops sharing a bdev.
     *
     * @throws io.mayastorj.core.error.MayastorException NOT_FOUND when it is not shared
     */
    void unshare(String bdev);

    /**
     * Stops sharing a bdev when it is shared, and is no error when not: a destroy that saw the share
     * a moment ago answered NOT_FOUND for the object itself when a concurrent call unshared it first
     * (and a control plane takes NOT_FOUND from a destroy as "gone").
     *
     * @since 1.4
     */
    default void unshareIfShared(String bdev) {
        if (status(bdev).isEmpty()) {
            return; // without the manager's lock, which an unshare of another bdev may hold for seconds
        }
        try {
            unshare(bdev);
        } catch (io.mayastorj.core.error.MayastorException e) {
            if (e.kind() != io.mayastorj.core.error.ErrorKind.NOT_FOUND) {
                throw e;
            }
        }
    }

    Optional<ShareStatus> status(String bdev);

    /**
     * The hosts connected to a bdev's share now ({@link Transport#connectedHosts}); empty when it is
     * not shared or nobody is connected.
     */
    List<String> connectedHosts(String bdev);

    /** Every desired share, sorted by bdev name. */
    List<ShareStatus> shares();

    /** The protocols of the transports on the node now. */
    List<String> protocols();
}
