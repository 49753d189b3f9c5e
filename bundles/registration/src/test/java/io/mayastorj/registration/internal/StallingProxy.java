package io.mayastorj.registration.internal;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A TCP relay to a server whose connections the test can stall: open, yet passing nothing either
 * way, as after the server's host lost power or the network between parted (no reset comes). New
 * connections are relayed as before, as to a server that came back elsewhere behind the same address.
 */
final class StallingProxy implements AutoCloseable {

    private final ServerSocket listener;
    private final InetSocketAddress target;
    private final List<Link> links = new CopyOnWriteArrayList<>();

    private static final class Link {
        final Socket client;
        final Socket server;
        volatile boolean stalled;

        Link(Socket client, Socket server) {
            this.client = client;
            this.server = server;
        }
    }

    StallingProxy(InetSocketAddress target) throws IOException {
        this.target = target;
        this.listener = new ServerSocket(0, 16, InetAddress.getLoopbackAddress());
        Thread accept = new Thread(this::accept, "proxy-accept");
        accept.setDaemon(true);
        accept.start();
    }

    int port() {
        return listener.getLocalPort();
    }

    /** Every connection open now passes nothing more; later ones are relayed. */
    void stallAll() {
        links.forEach(l -> l.stalled = true);
    }

    /** Connections that are relayed now. */
    long live() {
        return links.stream().filter(l -> !l.stalled && !l.client.isClosed()).count();
    }

    private void accept() {
        while (!listener.isClosed()) {
            try {
                Socket client = listener.accept();
                Socket server = new Socket(target.getAddress(), target.getPort());
                Link link = new Link(client, server);
                links.add(link);
                pump(link, client.getInputStream(), server.getOutputStream());
                pump(link, server.getInputStream(), client.getOutputStream());
            } catch (IOException e) {
                return;
            }
        }
    }

    private static void pump(Link link, InputStream in, OutputStream out) {
        Thread t = new Thread(() -> {
            byte[] buf = new byte[8192];
            try {
                for (int n; (n = in.read(buf)) >= 0; ) {
                    while (link.stalled) { // hold the bytes; the sockets stay open
                        Thread.sleep(50);
                        if (link.client.isClosed()) {
                            return;
                        }
                    }
                    out.write(buf, 0, n);
                    out.flush();
                }
            } catch (IOException | InterruptedException e) {
                // the link ends
            } finally {
                if (!link.stalled) {
                    close(link);
                }
            }
        }, "proxy-pump");
        t.setDaemon(true);
        t.start();
    }

    private static void close(Link link) {
        try {
            link.client.close();
        } catch (IOException ignored) {
            // closing
        }
        try {
            link.server.close();
        } catch (IOException ignored) {
            // closing
        }
    }

    @Override
    public void close() throws IOException {
        listener.close();
        links.forEach(StallingProxy::close);
    }
}
