package io.mayastorj.nvmf.internal.host;

import io.mayastorj.core.buffer.BufferPool;
import io.mayastorj.core.reactor.Reactor;
import java.util.List;
import java.util.concurrent.ScheduledExecutorService;

/** What the host side needs from the node, and its settings. */
interface Host {

    List<Reactor> reactors();

    BufferPool buffers();

    /** Where connects and reconnects run: they block, so never on a reactor. */
    ScheduledExecutorService connector();

    /** A command without an answer for this long fails its queue. */
    long ioTimeoutNanos();

    int connectTimeoutMillis();

    int keepAliveMillis();

    /** Entries per I/O queue the host asks for (at most what the controller offers). */
    int queueDepth();

    /** The bdev closed. */
    void closed(NvmfBdev bdev);

    /**
     * {@code target} may still make writes of a connection lost until {@code untilNanos} (System.nanoTime):
     * no new bdev connects to it before (see {@link NvmfBdev}'s reconnect, which waits as long).
     */
    default void fence(Session.Target target, long untilNanos) {
    }

    /** How long {@code target} stays fenced (see {@link #fence}), in ns; 0 when it is not. */
    default long fenceLeftNanos(Session.Target target) {
        return 0;
    }
}
