package io.mayastorj.nats;

import io.nats.client.Connection;
import io.nats.client.Nats;
import io.nats.client.Options;
import java.io.IOException;
import java.time.Duration;
import java.util.function.Consumer;
import java.util.function.Predicate;

/**
 * Connects to NATS on a thread of its own, trying again every {@code retry} until a server answers,
 * and hands the connection over; {@link #close} ends it. jnats' own loop for this
 * ({@code Nats.connectReconnectOnConnect}) swallows interrupts: a component closed while NATS was
 * away left it running for good, one more at each restart of its bundle.
 */
public final class NatsConnector implements AutoCloseable {

    private final Thread thread;
    private volatile boolean closed;

    /**
     * @param name         the thread's name
     * @param firstFailure told the first failure only (the caller says once that it keeps trying)
     * @param connected    takes the connection, or refuses it (false: its owner was closed meanwhile);
     *                     a refused connection is closed here, outside whatever lock {@code connected}
     *                     took (jnats' close waits for its listener thread, which may want that lock)
     */
    public NatsConnector(String name, Options options, Duration retry, Consumer<Exception> firstFailure,
                         Predicate<Connection> connected) {
        thread = new Thread(() -> connect(options, retry, firstFailure, connected), name);
        thread.setDaemon(true);
        thread.start();
    }

    private void connect(Options options, Duration retry, Consumer<Exception> firstFailure, Predicate<Connection> connected) {
        boolean told = false;
        while (!closed) {
            try {
                Connection c = Nats.connect(options);
                boolean kept = false;
                try {
                    kept = !closed && connected.test(c);
                } finally {
                    if (!kept) {
                        Thread.interrupted(); // a close's interrupt would cut jnats' close short, its threads left running
                        c.close();
                    }
                }
                if (kept || closed) {
                    return;
                }
            } catch (InterruptedException e) {
                return; // closed meanwhile
            } catch (IOException | RuntimeException e) {
                if (!told) {
                    told = true;
                    firstFailure.accept(e);
                }
            }
            try {
                Thread.sleep(retry.toMillis());
            } catch (InterruptedException e) {
                return; // closed
            }
        }
    }

    /** Stops trying; a connection made meanwhile is closed. */
    @Override
    public void close() {
        closed = true;
        thread.interrupt();
    }
}
