package io.mayastorj.nvmf.internal.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.mayastorj.core.internal.reactor.ReactorGroupImpl;
import io.mayastorj.core.reactor.Reactor;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The send side of a connection: what a flush writes, and when it waits for the socket. */
class PduChannelSendTest {

    /** A channel that only sends. */
    private static class Sender extends PduChannel {
        Sender(SocketChannel channel, Reactor reactor) {
            super(channel, reactor);
        }

        @Override
        protected void onHeader(int type, int flags, ByteBuffer header, int dataLength) {
        }

        @Override
        protected void onPduEnd(int type, boolean dataDigestOk) {
        }

        @Override
        protected void onClosed() {
        }

        @Override
        protected int maxPduLength(int type) {
            return -1;
        }

        @Override
        protected int terminationType() {
            return Pdu.C2H_TERM_REQ;
        }
    }

    /**
     * Review finding: a RuntimeException while handling a PDU (a bug of ours) went up to the reactor,
     * which cancelled the key and closed the socket itself — onClosed never ran, and the queue's
     * buffers, commands and controller were left behind. The channel closes itself now.
     */
    @Test
    void aFailureWhileHandlingAPduClosesTheChannelThroughItsOwnClose() throws Exception {
        ReactorGroupImpl reactors = new ReactorGroupImpl(1);
        try (ServerSocketChannel server = ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", 0));
             SocketChannel client = SocketChannel.open(server.getLocalAddress());
             SocketChannel peer = server.accept()) {
            Reactor reactor = reactors.reactors().get(0);
            CompletableFuture<Void> closed = new CompletableFuture<>();
            PduChannel receiver = new Sender(client, reactor) {
                @Override
                protected int maxPduLength(int type) {
                    return type == Pdu.IC_REQ ? 128 : -1;
                }

                @Override
                protected void onHeader(int type, int flags, ByteBuffer header, int dataLength) {
                    throw new IllegalStateException("a bug");
                }

                @Override
                protected void onClosed() {
                    closed.complete(null);
                }
            };
            reactor.execute(() -> {
                try {
                    receiver.start();
                } catch (IOException e) {
                    closed.completeExceptionally(e);
                }
            });
            ByteBuffer icReq = ByteBuffer.allocate(128).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            icReq.put(0, (byte) Pdu.IC_REQ).put(2, (byte) 128).putInt(4, 128);
            peer.write(icReq);
            closed.get(10, TimeUnit.SECONDS);
        } finally {
            reactors.stop();
        }
    }

    /**
     * More buffers than one gathering write takes (a burst of read responses: header, data and
     * response for each), all of which the socket accepts: one flush writes them all and leaves the
     * connection waiting only to read. It used to stop after the first gather as if the socket were
     * full, and wait for the selector to say it was writable: two epoll_ctl calls and a reactor turn
     * per burst, with the rest of the responses held back meanwhile.
     */
    @Test
    void oneFlushWritesMoreThanOneGatherWhenTheSocketTakesIt() throws Exception {
        ReactorGroupImpl reactors = new ReactorGroupImpl(1);
        try (ServerSocketChannel server = ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", 0));
             SocketChannel client = SocketChannel.open(server.getLocalAddress());
             SocketChannel peer = server.accept()) {
            Reactor reactor = reactors.reactors().get(0);
            Sender sender = new Sender(client, reactor);
            int buffers = 100;
            int[] sent = new int[1];
            CompletableFuture<int[]> after = new CompletableFuture<>();
            reactor.execute(() -> {
                try {
                    sender.start();
                    for (int i = 0; i < buffers; i++) {
                        ByteBuffer b = ByteBuffer.allocateDirect(24);
                        b.put(0, (byte) i);
                        sender.send(b, () -> sent[0]++);
                    }
                    sender.flushQuietly();
                    after.complete(new int[] {sent[0], sender.key.interestOps()});
                } catch (IOException | RuntimeException e) {
                    after.completeExceptionally(e);
                }
            });
            int[] state = after.get(10, TimeUnit.SECONDS);
            assertEquals(buffers, state[0], "buffers written by one flush");
            assertEquals(SelectionKey.OP_READ, state[1], "interest after a flush that wrote everything");

            ByteBuffer received = ByteBuffer.allocate(buffers * 24);
            peer.socket().setSoTimeout(10_000);
            while (received.hasRemaining() && peer.read(received) >= 0) {
                // the bytes are on their way: read them all, in order
            }
            for (int i = 0; i < buffers; i++) {
                assertEquals((byte) i, received.get(i * 24), "buffer " + i + " in its place");
            }
            reactor.execute(() -> sender.close(null));
        } finally {
            reactors.stop();
        }
    }

    /**
     * Review finding: responses of commands that ended at the bdev after a termination request, while
     * it still waited for a peer that did not read, went out behind it: nothing may follow a
     * C2HTermReq. They are dropped now, and their listeners run, so their slots are freed as if written.
     */
    @Test
    void nothingFollowsATerminationRequest() throws Exception {
        ReactorGroupImpl reactors = new ReactorGroupImpl(1);
        try (ServerSocketChannel server = ServerSocketChannel.open()) {
            server.setOption(java.net.StandardSocketOptions.SO_RCVBUF, 64 << 10);
            server.bind(new InetSocketAddress("127.0.0.1", 0));
            try (SocketChannel client = SocketChannel.open(server.getLocalAddress()); SocketChannel peer = server.accept()) {
                client.setOption(java.net.StandardSocketOptions.SO_SNDBUF, 64 << 10);
                Reactor reactor = reactors.reactors().get(0);
                Sender sender = new Sender(client, reactor);
                int fillers = 200;
                CompletableFuture<Boolean> after = new CompletableFuture<>();
                reactor.execute(() -> {
                    try {
                        sender.start();
                        for (int i = 0; i < fillers; i++) { // more than the socket takes: the peer does not read yet
                            sender.send(ByteBuffer.allocateDirect(64 << 10), null);
                        }
                        sender.flushQuietly();
                        sender.terminate(Pdu.FES_INVALID_HEADER_FIELD, 2, "a test");
                        boolean[] sent = new boolean[1];
                        ByteBuffer late = ByteBuffer.allocateDirect(24);
                        late.put(0, (byte) 0x55);
                        sender.send(late, () -> sent[0] = true); // a read the bdev completed just after
                        after.complete(sent[0]);
                    } catch (IOException | RuntimeException e) {
                        after.completeExceptionally(e);
                    }
                });
                assertEquals(true, after.get(10, TimeUnit.SECONDS), "the dropped response's listener ran");
                ByteBuffer received = ByteBuffer.allocate(fillers * (64 << 10) + 4096).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                peer.socket().setSoTimeout(10_000);
                while (peer.read(received) >= 0) {
                    // to the end of the stream: the channel closes once the termination request is written
                }
                int term = fillers * (64 << 10);
                assertEquals(Pdu.C2H_TERM_REQ, received.get(term));
                assertEquals(term + received.getInt(term + 4), received.position(), "the termination request, and nothing after it");
            }
        } finally {
            reactors.stop();
        }
    }
}
