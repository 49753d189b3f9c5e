package io.mayastorj.core.transport.tcp;

import io.mayastorj.core.bdev.BlockDevice;
import java.io.EOFException;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.channels.SocketChannel;

/**
 * One client of a {@link TcpServer}, served on a thread of its own: subclasses write the protocol in
 * {@link #serve()} with blocking reads and writes on {@link #channel}, and everything else — the
 * thread, logging why the connection ended, closing the socket, leaving the server's registry — is
 * done here.
 *
 * <p>How a connection ends: {@link #serve()} returns (the client said goodbye), or throws
 * ({@link EOFException}: the client went away; any other {@link IOException}: its message is logged
 * as the reason), or another thread calls {@link #close(String)} (an unshare, the server stopping),
 * which makes the blocked read or write in {@link #serve()} fail. In every case {@link #ending} runs,
 * then the socket is closed, then {@link #ended()} runs — the place to wait for I/O this connection
 * submitted to a bdev, whose completions may still be running.
 */
public abstract class TcpConnection implements Runnable {

    private static final Logger LOG = System.getLogger("mayastor.transport");

    /** The client's socket, blocking. Only this connection's thread reads it. */
    protected final SocketChannel channel;
    private final TcpServer<?> server;
    private final InetAddress client;
    private final String peer;
    private volatile TcpServer.Export export;
    private volatile boolean closed;
    private static final java.lang.invoke.VarHandle CLOSED;

    static {
        try {
            CLOSED = java.lang.invoke.MethodHandles.lookup().findVarHandle(TcpConnection.class, "closed", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }
    /** Why the server asked this connection to stop taking requests ({@link #stop}), or null. */
    private volatile String stopping;
    private final Object stopLock = new Object();
    /** After a stop's last replies, how long the socket stays before it closes (see {@link #run}). */
    private static final long STOP_LINGER_NANOS = java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(200);

    protected TcpConnection(TcpServer<?> server, SocketChannel channel) throws IOException {
        this.server = server;
        this.channel = channel;
        InetSocketAddress remote = (InetSocketAddress) channel.getRemoteAddress();
        this.client = remote.getAddress();
        this.peer = remote.getAddress().getHostAddress() + ":" + remote.getPort();
    }

    /** The client's address (the server caps the connections from one). */
    final InetAddress clientAddress() {
        return client;
    }

    /** The protocol, from the first byte to the last; returns when the client ends the session. */
    protected abstract void serve() throws IOException;

    /**
     * Before the socket closes. {@code clean}: the client ended the session or went away (replies
     * to what it asked may still go out); otherwise the connection is being torn down.
     */
    protected void ending(boolean clean) {
    }

    /** After the socket closed: wait here for bdev I/O still in flight and free what it holds. */
    protected void ended() {
    }

    @Override
    public final void run() {
        String why = null;
        boolean stopped = false; // the protocol saw the end of input that stop() made
        try {
            serve();
        } catch (EOFException e) {
            stopped = stopping != null;
            why = stopping; // the client went away, or the server shut the connection's reading side (stop)
        } catch (IOException e) {
            why = closed ? null : e.getMessage();
        } catch (RuntimeException e) {
            why = "an internal error: " + e; // this connection ends; the node and its other clients go on
            LOG.log(Level.ERROR, server.protocol() + " client " + peer, e);
        } finally {
            try {
                ending((why == null || stopped) && !closed);
                if (stopped && !closed) {
                    // input the client sent after the stop is unread, and a close with unread input is a reset,
                    // which drops what is still in the send queue: the replies ending() just wrote. The FIN goes
                    // after them; a moment lets them leave before the reset
                    try {
                        channel.shutdownOutput();
                        java.util.concurrent.locks.LockSupport.parkNanos(STOP_LINGER_NANOS);
                    } catch (IOException ignored) {
                        // closing anyway
                    }
                }
            } finally {
                close(why);
                try {
                    ended();
                } finally {
                    server.closed(this);
                }
            }
        }
    }

    /**
     * Binds this connection to the export {@code name} if this client may use it, before the
     * protocol tells the client it may: from then on an unshare of that bdev disconnects it.
     *
     * @return the export, or null when there is none by that name for this client
     */
    protected final TcpServer.Export use(String name) {
        TcpServer.Export e = server.export(name, client);
        if (e != null) {
            export = e;
        }
        return e;
    }

    /**
     * True while the export this connection uses is still shared as it was when {@link #use} bound
     * it; check once the protocol has told the client, to close the gap with an unshare meanwhile.
     */
    protected final boolean stillShared() {
        TcpServer.Export e = export;
        return e != null && server.export(e.device().name()) == e;
    }

    /** The export bound by {@link #use}, or null while the client has not chosen one. */
    public final TcpServer.Export export() {
        return export;
    }

    public final boolean serves(BlockDevice device) {
        TcpServer.Export e = export;
        return e != null && e.device() == device;
    }

    /**
     * Stops taking requests, and lets what is in flight be answered: the socket's reading side is
     * shut, so the protocol sees the client's end at its next read and {@link #ending} runs as for a
     * clean end — the replies of I/O in flight still go out, then the socket closes. An unshare and a
     * server stopping do this first (NBD: the server "SHOULD wait for inflight requests to be serviced
     * prior to initiating a hard disconnect"); {@link #close} after a grace. Idempotent.
     */
    final void stop(String why) {
        synchronized (stopLock) { // an unshare and a server stop at once: one reason (not this: subclasses may lock it)
            if (closed || stopping != null) {
                return;
            }
            stopping = why;
        }
        try {
            channel.shutdownInput();
        } catch (IOException e) {
            close(why);
        }
    }

    /** Ends the connection: the socket is closed, so the thread's blocked read or write fails. Idempotent. */
    public final void close(String why) {
        if (closed || !CLOSED.compareAndSet(this, false, true)) {
            return; // closed by the server's stop and the connection's own end at once: logged and closed once
        }
        TcpServer.Export e = export;
        if (why != null) {
            LOG.log(Level.WARNING, "{0} client {1}: {2}; closing the connection", server.protocol(), peer, why);
        } else if (e != null) {
            LOG.log(Level.INFO, "{0} client {1} disconnected from {2}", server.protocol(), peer, e.device().name());
        }
        try {
            channel.close();
        } catch (IOException ignored) {
            // closing anyway
        }
    }

    public final boolean isClosed() {
        return closed;
    }

    /** The client's address, which is its identity for a share's allowed hosts. */
    public final InetAddress client() {
        return client;
    }

    /** "address:port", for messages. */
    public final String peer() {
        return peer;
    }

    /** The server this connection belongs to. */
    protected final TcpServer<?> server() {
        return server;
    }
}
