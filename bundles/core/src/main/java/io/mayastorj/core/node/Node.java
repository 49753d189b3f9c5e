package io.mayastorj.core.node;

import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Instant;

/** The node as other bundles see it: who it is, where it listens, where it keeps state. */
public interface Node {

    /** The node's name, unique in the cluster. */
    String id();

    /** The gRPC endpoint as {@code ip:port}. */
    String grpcEndpoint();

    /** The address the node's listeners bind (that of the gRPC endpoint). */
    InetAddress address();

    /** A directory that survives restarts, for what the node must remember (pools, shares). */
    Path stateDir();

    /** The version of Mayastor-J. */
    String version();

    Instant startedAt();

    /**
     * Tells the node's start that a long step of a component's activation moves (an import zeroing
     * a destroyed replica's clusters): the start is failed when nothing moves for a while
     * ({@code mayastor.startup.timeout.seconds}), and a component busy in its constructor shows none.
     *
     * @since 1.2
     */
    default void startupProgress(String what) {
    }
}
