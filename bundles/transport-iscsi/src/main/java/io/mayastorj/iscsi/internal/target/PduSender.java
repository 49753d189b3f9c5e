package io.mayastorj.iscsi.internal.target;

import io.mayastorj.core.reactor.Reactor;
import io.mayastorj.iscsi.internal.protocol.Bhs;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import java.util.ArrayDeque;
import java.util.zip.CRC32C;

/**
 * The send side of a connection: PDU headers from a reused arena, each PDU queued with its header
 * digest, padding and data digest, and the queue gathered into socket writes once per reactor turn
 * (a posted flush), OP_WRITE when the socket is full. Apart from the reading side because the two
 * share nothing but the socket and the digest settings, and every piece that answers the initiator
 * sends through here.
 */
final class PduSender {

    /** PDU headers a connection keeps for reuse: a window of commands with a response each, and more. */
    private static final int HEADERS = 2 * IscsiConnection.WINDOW;
    private static final int GATHER = 64;
    /** Unsent bytes beyond which no more PDUs are read: four times a window of 128 KiB reads at QD 16, far above what a reading host leaves. */
    static final long BACKLOG = 8L << 20;

    private final IscsiConnection connection;
    private final SocketChannel channel;
    private final Reactor reactor;
    private SelectionKey key;
    private final ArrayDeque<ByteBuffer> sendQueue = new ArrayDeque<>();
    /** Headers of PDUs being sent, made once: slices of one array, so a sent one is known by it. */
    private final byte[] headerArena = new byte[HEADERS * Bhs.LENGTH];
    private final ArrayDeque<ByteBuffer> freeHeaders = new ArrayDeque<>(HEADERS);
    private final ByteBuffer[] gather = new ByteBuffer[GATHER];
    private boolean flushPosted;
    private final Runnable flusher = this::postedFlush;
    private boolean closeAfterFlush;
    private boolean headerDigest;
    private boolean dataDigest;
    private final CRC32C crc = new CRC32C();
    /** Bytes queued and bytes written since the connection began: a PDU queued when {@code queued} was Q is out once {@code written >= Q}. */
    private long queued;
    private long written;

    PduSender(IscsiConnection connection, SocketChannel channel, Reactor reactor) {
        this.connection = connection;
        this.channel = channel;
        this.reactor = reactor;
        for (int i = 0; i < HEADERS; i++) {
            freeHeaders.add(ByteBuffer.wrap(headerArena, i * Bhs.LENGTH, Bhs.LENGTH).slice());
        }
    }

    /** The connection's registration with its reactor, for OP_WRITE. */
    void registered(SelectionKey key) {
        this.key = key;
    }

    /** The digests negotiated at login, for every PDU queued from now on. */
    void digests(boolean header, boolean data) {
        headerDigest = header;
        dataDigest = data;
    }

    /** The connection ends once what is queued has gone out (a refused login, a logout, an ERL 0 error). */
    void closeAfterFlush() {
        closeAfterFlush = true;
    }

    /**
     * True while more than {@link #BACKLOG} bytes wait to be sent: the connection reads no PDU meanwhile.
     * An initiator that sends commands and reads no answers would otherwise have the node's buffer
     * pool queued for it.
     */
    boolean backlogged() {
        return queued - written > BACKLOG;
    }

    /** True once the connection is to end after what is queued. */
    boolean closing() {
        return closeAfterFlush;
    }

    /** A zeroed BHS, from the connection's own headers while any is free (they come back once sent). */
    ByteBuffer newHeader(int opcode, int dataLength) {
        ByteBuffer b = freeHeaders.pollFirst();
        if (b == null) {
            b = ByteBuffer.allocate(Bhs.LENGTH);
        } else {
            java.util.Arrays.fill(headerArena, b.arrayOffset(), b.arrayOffset() + Bhs.LENGTH, (byte) 0);
            b.clear();
        }
        b.put(0, (byte) opcode);
        Bhs.dataSegmentLength(b, dataLength);
        return b;
    }

    /** Queues a PDU: its header (digest added here) and its data (padded, digest added here). */
    void send(ByteBuffer header, ByteBuffer data) {
        if (connection.isClosed()) {
            return;
        }
        sendQueue.add(header);
        queued += Bhs.LENGTH + (headerDigest ? 4 : 0);
        if (headerDigest) {
            crc.reset();
            crc.update(header.array(), header.arrayOffset(), Bhs.LENGTH);
            sendQueue.add(ByteBuffer.allocate(4).putInt(0, Integer.reverseBytes((int) crc.getValue())));
        }
        int length = data == null ? 0 : data.remaining();
        if (length > 0) {
            sendQueue.add(data);
            int pad = Bhs.padded(length) - length;
            queued += length + pad + (dataDigest ? 4 : 0);
            if (dataDigest) {
                crc.reset();
                crc.update(data.duplicate());
                for (int i = 0; i < pad; i++) {
                    crc.update(0);
                }
                ByteBuffer t = ByteBuffer.allocate(pad + 4);
                t.putInt(pad, Integer.reverseBytes((int) crc.getValue()));
                sendQueue.add(t);
            } else if (pad > 0) {
                sendQueue.add(ByteBuffer.allocate(pad));
            }
        }
    }

    /** How far the queue reaches now, in bytes since the connection began: what is queued so far is out once {@link #written} passes it. */
    long queuedMark() {
        return queued;
    }

    void postFlush() {
        if (!flushPosted) {
            flushPosted = true;
            reactor.execute(flusher);
        }
    }

    private void postedFlush() {
        flushPosted = false;
        try {
            flush();
        } catch (IOException e) {
            connection.close("the connection failed: " + e.getMessage());
        }
    }

    void flush() throws IOException {
        if (connection.isClosed()) {
            return;
        }
        while (!sendQueue.isEmpty()) {
            int n = 0;
            long wanted = 0;
            for (ByteBuffer b : sendQueue) {
                if (n == GATHER) {
                    break;
                }
                gather[n++] = b;
                wanted += b.remaining();
            }
            long out = channel.write(gather, 0, n);
            written += out;
            while (!sendQueue.isEmpty() && !sendQueue.peek().hasRemaining()) {
                ByteBuffer sent = sendQueue.poll();
                if (sent.hasArray() && sent.array() == headerArena) {
                    freeHeaders.addFirst(sent);
                }
            }
            // the tasks whose PDUs are out give their buffers back now, not once the whole queue is out:
            // under reads faster than the network it may never be, and they held the node's whole pool
            connection.sentUpTo(written);
            if (out < wanted) {
                break; // the socket is full: OP_WRITE brings us back
            }
            // everything gathered went: more than one gather's worth was queued, go on with it
        }
        java.util.Arrays.fill(gather, null);
        if (sendQueue.isEmpty()) {
            connection.allSent();
            if (key.isValid()) {
                key.interestOps(SelectionKey.OP_READ);
            }
            if (closeAfterFlush) {
                connection.close(null);
            }
        } else if (key.isValid()) {
            key.interestOps(backlogged() ? SelectionKey.OP_WRITE : SelectionKey.OP_READ | SelectionKey.OP_WRITE);
        }
    }

    /** The connection is closed: what is queued will not go. */
    void discard() {
        sendQueue.clear();
    }
}
