package io.mayastorj.core.node;

/**
 * Whether the control plane hears this node: its registration's beats reach it. A node it does not
 * hear for its grace is taken for lost and its volumes' nexuses are made elsewhere; a nexus that
 * cannot read its record either then has nothing left that says it is still the volume's.
 *
 * @since 1.2
 */
public interface Heartbeat {

    /**
     * A beat reached the control plane (a gRPC call it answered, a publish on a live NATS
     * connection) within the beat interval and a margin; true when the node registers nowhere.
     */
    boolean heard();
}
