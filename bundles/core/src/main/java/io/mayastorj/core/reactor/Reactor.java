package io.mayastorj.core.reactor;

import java.io.IOException;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;

/**
 * One I/O thread: a selector for the connections it owns, a task queue that other threads post to,
 * and timers. Everything a reactor owns is touched only on its thread, so it needs no locks.
 */
public interface Reactor extends Executor {

    /** Called on the reactor thread when a registered channel is ready. */
    @FunctionalInterface
    interface ReadyHandler {
        void ready(SelectionKey key);
    }

    /** A scheduled task that has not run yet can be cancelled. */
    interface Timer {
        void cancel();
    }

    int id();

    /** True when called on this reactor's thread. */
    boolean inReactor();

    /**
     * Runs {@code task} on the reactor thread, after the tasks posted before it. Safe from any
     * thread; does not allocate on the fast path.
     */
    @Override
    void execute(Runnable task);

    /** Runs {@code task} on the reactor thread after {@code delay}. */
    Timer schedule(long delay, TimeUnit unit, Runnable task);

    /**
     * Registers a non-blocking channel with the reactor's selector. Must be called on the reactor
     * thread; the key's attachment is the handler.
     */
    SelectionKey register(SelectableChannel channel, int ops, ReadyHandler handler) throws IOException;
}
