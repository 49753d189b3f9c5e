package io.mayastorj.iscsi.internal.target;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.mayastorj.core.internal.reactor.ReactorGroupImpl;
import io.mayastorj.core.reactor.Reactor;
import io.mayastorj.iscsi.internal.protocol.Bhs;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The send side of a connection: what a flush writes, and when it waits for the socket. */
class PduSenderTest {

    /**
     * More PDUs than one gathering write takes (a burst of Data-In, a header and data each), all of
     * which the socket accepts: one flush writes them all and leaves the connection waiting only to
     * read. It used to stop after the first gather as if the socket were full and wait for the
     * selector to say it was writable, holding the rest back for a reactor turn.
     */
    @Test
    void oneFlushWritesMoreThanOneGatherWhenTheSocketTakesIt() throws Exception {
        ReactorGroupImpl reactors = new ReactorGroupImpl(1);
        try (ServerSocketChannel server = ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", 0));
             SocketChannel client = SocketChannel.open(server.getLocalAddress());
             SocketChannel peer = server.accept()) {
            Reactor reactor = reactors.reactors().get(0);
            IscsiConnection connection = new IscsiConnection(null, client, reactor, null, null);
            PduSender sender = new PduSender(connection, client, reactor);
            int pdus = 100;
            int dataLength = 512;
            CompletableFuture<Integer> interest = new CompletableFuture<>();
            reactor.execute(() -> {
                try {
                    SelectionKey key = reactor.register(client, SelectionKey.OP_READ, k -> { });
                    sender.registered(key);
                    for (int i = 0; i < pdus; i++) {
                        ByteBuffer data = ByteBuffer.allocateDirect(dataLength);
                        data.put(0, (byte) i);
                        sender.send(sender.newHeader(0x25, dataLength), data); // SCSI Data-In
                    }
                    sender.flush();
                    interest.complete(key.interestOps());
                } catch (Exception e) {
                    interest.completeExceptionally(e);
                }
            });
            assertEquals(SelectionKey.OP_READ, interest.get(10, TimeUnit.SECONDS),
                    "interest after a flush that wrote everything");

            int pdu = Bhs.LENGTH + dataLength;
            ByteBuffer received = ByteBuffer.allocate(pdus * pdu);
            peer.socket().setSoTimeout(10_000);
            while (received.hasRemaining() && peer.read(received) >= 0) {
                // every PDU arrives, in order
            }
            for (int i = 0; i < pdus; i++) {
                assertEquals(0x25, received.get(i * pdu), "PDU " + i + " header");
                assertEquals((byte) i, received.get(i * pdu + Bhs.LENGTH), "PDU " + i + " data");
            }
        } finally {
            reactors.stop();
        }
    }
}
