package io.mayastorj.nvmf.internal.protocol;

import io.mayastorj.core.reactor.Reactor;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;

/**
 * One NVMe/TCP connection, either end: frames PDUs off the socket and queues PDUs onto it. Owned by
 * one reactor thread: every method runs there. Subclasses (the target's queue, the host's queue) get
 * each PDU header through {@link #onHeader}, say where its data goes with {@link #dataInto} (straight
 * into a command's buffer: small payloads are copied from the receive buffer, large ones read from the
 * socket into place), and hear of the PDU's end through {@link #onPduEnd}.
 *
 * <p>The receive buffer holds whatever the socket gave; headers are validated (type, lengths,
 * digests) before anything in them is trusted, and a malformed one ends the connection with a
 * termination request carrying the offending header.
 */
public abstract class PduChannel implements Reactor.ReadyHandler {

    private static final Logger LOG = System.getLogger("mayastor.nvmf");
    private static final int RECEIVE_BUFFER = 64 * 1024;
    private static final int DIRECT_READ = 8 * 1024;
    private static final int SEND_RING = 1024;
    private static final int GATHER = 32;

    protected final SocketChannel channel;
    protected final Reactor reactor;
    protected SelectionKey key;
    protected boolean headerDigest;
    protected boolean dataDigest;

    private final ByteBuffer rx = Pdu.allocate(RECEIVE_BUFFER).flip();
    /** The current PDU's header (and header digest), copied out of the receive buffer. */
    protected final ByteBuffer header = Pdu.allocate(256);
    private final CRC32C crc = new CRC32C();
    private final ByteBuffer digestBytes = Pdu.allocate(4);

    // the PDU being received
    private boolean inData;
    private int pduType;
    private int padRemaining;
    private ByteBuffer dataBuffer;
    private int dataStart;
    private int dataLength;
    private int dataReceived;
    private int digestRemaining;
    /** A PDU the receiver cannot take now (no buffer for its data): nothing is read until it resumes. */
    private boolean held;
    private boolean closing;
    private boolean closed;
    /** The socket kept open past the close (see {@link #socketOutlivesClose}). */
    private boolean socketHeld;
    private String closedBecause;
    private volatile boolean byPeer;
    private String peer;

    // the send ring: buffers in order, each with what to tell when it has gone out
    private final ByteBuffer[] sendBuffers = new ByteBuffer[SEND_RING];
    private final Sent[] sendListeners = new Sent[SEND_RING];
    private int sendHead;
    private int sendTail;
    private final ByteBuffer[] gather = new ByteBuffer[GATHER];
    /** The interest the key has: reading until closing, writing while sends wait for the socket. */
    private int interest = SelectionKey.OP_READ;
    /** How long a termination request may wait for a peer that does not read before the socket closes. */
    private static final long TERMINATE_WAIT_SECONDS = 5;
    private boolean flushPosted;
    private final Runnable flusher = this::postedFlush;

    /** Told when a buffer queued with {@link #send} has been written to the socket. */
    public interface Sent {
        void sent();
    }

    protected PduChannel(SocketChannel channel, Reactor reactor) {
        this.channel = channel;
        this.reactor = reactor;
    }

    /** Registers with the reactor; call on the reactor thread. */
    public void start() throws IOException {
        peer = String.valueOf(channel.getRemoteAddress());
        channel.configureBlocking(false);
        key = reactor.register(channel, SelectionKey.OP_READ, this);
    }

    // ---------------------------------------------------------------- receive

    /**
     * A PDU's header arrived, checked: {@code header} holds it from position 0 (common header
     * first). Call {@link #dataInto} or {@link #discardData} when it carries data.
     */
    protected abstract void onHeader(int type, int flags, ByteBuffer header, int dataLength);

    /** The PDU ended; {@code dataDigestOk} is false when its data failed the digest. */
    protected abstract void onPduEnd(int type, boolean dataDigestOk);

    /** The connection closed (by the peer, an error, or {@link #close}). */
    protected abstract void onClosed();

    /**
     * The longest PDU of this type this end accepts now (bytes, digests included): 0 when the type
     * is out of sequence now, -1 when this end never accepts it.
     */
    protected abstract int maxPduLength(int type);

    /** The termination request this end sends: C2H for a target, H2C for a host. */
    protected abstract int terminationType();

    /**
     * The PDU's data goes into {@code buffer} at {@code offset}. The channel moves the buffer's
     * position and limit while it reads, so give it a view that nobody else uses meanwhile.
     */
    protected final void dataInto(ByteBuffer buffer, int offset) {
        buffer.limit(buffer.capacity());
        dataBuffer = buffer;
        dataStart = offset;
    }

    /** The PDU's data is read and dropped (a command refused before its data arrived). */
    protected final void discardData() {
        dataBuffer = null;
    }

    /**
     * Called from {@link #onHeader}: this PDU is not taken now. Its header is kept unread and
     * nothing more is read from the socket — the host's sends back up, as TCP's flow control
     * means them to — until {@link #resumeReceive}, which offers the same header again.
     */
    protected final void holdPdu() {
        held = true;
    }

    /** Takes up a held PDU again (on the reactor thread). */
    protected final void resumeReceive() {
        if (!held || closing) {
            return;
        }
        held = false;
        updateInterest();
        try {
            receive();
        } catch (IOException e) {
            broken(e);
        } catch (RuntimeException e) {
            failed(e);
        }
    }

    @Override
    public final void ready(SelectionKey selected) {
        try {
            if (selected.isValid() && selected.isWritable()) {
                flush();
            }
            if (selected.isValid() && selected.isReadable()) {
                receive();
            }
        } catch (IOException e) {
            broken(e);
        } catch (RuntimeException e) {
            failed(e);
        }
    }

    /**
     * A bug of ours while handling the connection: said, and the connection closed through
     * {@link #close} — left to the reactor, the socket went without {@link #onClosed}, and the
     * queue's buffers, its commands and (an admin queue) its controller stayed behind for good.
     */
    private void failed(RuntimeException e) {
        LOG.log(Level.ERROR, peer() + ": internal error handling the connection; closing it", e);
        close("internal error: " + e);
    }

    private void receive() throws IOException {
        while (!closing && !held) {
            if (inData && rx.remaining() == 0 && dataBuffer != null && padRemaining == 0
                    && dataLength - dataReceived >= DIRECT_READ) {
                dataBuffer.limit(dataStart + dataLength).position(dataStart + dataReceived);
                int n = channel.read(dataBuffer);
                if (n < 0) {
                    peerClosed();
                    return;
                }
                if (n == 0) {
                    return;
                }
                dataReceived += n;
                continue;
            }
            boolean progress = parse();
            if (closing || held) {
                return;
            }
            if (!progress) {
                rx.compact();
                int n = channel.read(rx);
                rx.flip();
                if (n < 0) {
                    peerClosed();
                    return;
                }
                if (n == 0) {
                    return;
                }
            }
        }
    }

    /** Consumes what it can of the receive buffer; false when it needs more bytes. */
    private boolean parse() {
        if (!inData) {
            return parseHeader();
        }
        if (padRemaining > 0) {
            int n = Math.min(padRemaining, rx.remaining());
            rx.position(rx.position() + n);
            padRemaining -= n;
            return n > 0;
        }
        if (dataReceived < dataLength) {
            int n = Math.min(dataLength - dataReceived, rx.remaining());
            if (n == 0) {
                return false;
            }
            if (dataBuffer != null) {
                dataBuffer.put(dataStart + dataReceived, rx, rx.position(), n);
            }
            rx.position(rx.position() + n);
            dataReceived += n;
            return true;
        }
        if (digestRemaining > 0) {
            if (rx.remaining() < digestRemaining) {
                return false;
            }
            int expected = rx.getInt();
            digestRemaining = 0;
            boolean ok = true;
            if (dataBuffer != null) {
                ok = digest(dataBuffer, dataStart, dataLength) == expected;
            }
            endPdu(ok);
            return true;
        }
        endPdu(true);
        return true;
    }

    private void peerClosed() {
        if (closedBecause == null) {
            closedBecause = "the peer closed the connection";
        }
        byPeer = true;
        close(null);
    }

    /** The socket failed: a reset is the peer's kernel ending the connection (its side is gone, as after a close). */
    private void broken(IOException e) {
        String m = e.getMessage();
        if (m != null && (m.startsWith("Connection reset") || m.contains("Broken pipe"))) {
            byPeer = true; // read side (SocketException) or write side (an IOException with the errno's text)
        }
        close("the connection failed: " + e.getMessage());
    }

    /**
     * Whether the peer's side ended the connection (a close, or a reset by its kernel: a process that
     * died), not this side (a timeout, a protocol error) or the network between.
     */
    protected final boolean closedByPeer() {
        return byPeer;
    }

    private void endPdu(boolean digestOk) {
        inData = false;
        dataBuffer = null;
        onPduEnd(pduType, digestOk);
    }

    private boolean parseHeader() {
        if (rx.remaining() < Pdu.COMMON_HEADER) {
            return false;
        }
        int at = rx.position();
        int type = rx.get(at + Pdu.OFF_TYPE) & 0xFF;
        int flags = rx.get(at + Pdu.OFF_FLAGS) & 0xFF;
        int hlen = rx.get(at + Pdu.OFF_HLEN) & 0xFF;
        int pdo = rx.get(at + Pdu.OFF_PDO) & 0xFF;
        long plen = Integer.toUnsignedLong(rx.getInt(at + Pdu.OFF_PLEN));
        int expected = Pdu.headerLength(type);
        if (expected < 0 || type == terminationType() || maxPduLength(type) < 0) {
            copyOffendingHeader(Pdu.COMMON_HEADER);
            terminate(Pdu.FES_INVALID_HEADER_FIELD, Pdu.OFF_TYPE, "PDU type " + type + " is not valid from this peer");
            return false;
        }
        if (maxPduLength(type) == 0) {
            copyOffendingHeader(Pdu.COMMON_HEADER);
            terminate(Pdu.FES_PDU_SEQUENCE_ERROR, Pdu.OFF_TYPE, "PDU type " + type + " is out of sequence");
            return false;
        }
        if (hlen != expected) {
            copyOffendingHeader(Pdu.COMMON_HEADER);
            terminate(Pdu.FES_INVALID_HEADER_FIELD, Pdu.OFF_HLEN, "PDU type " + type + " with HLEN " + hlen);
            return false;
        }
        boolean digested = headerDigest && type != Pdu.IC_REQ && type != Pdu.IC_RESP
                && type != Pdu.H2C_TERM_REQ && type != Pdu.C2H_TERM_REQ;
        if (digested != ((flags & Pdu.FLAG_HDGST) != 0)) {
            copyOffendingHeader(Pdu.COMMON_HEADER);
            terminate(Pdu.FES_INVALID_HEADER_FIELD, Pdu.OFF_FLAGS, "header digest flag " + ((flags & Pdu.FLAG_HDGST) != 0)
                    + " on a connection that negotiated " + headerDigest);
            return false;
        }
        int headerBytes = hlen + (digested ? Pdu.DIGEST : 0);
        if (plen < headerBytes || plen > maxPduLength(type)) {
            copyOffendingHeader(Pdu.COMMON_HEADER);
            terminate(plen > maxPduLength(type) ? Pdu.FES_DATA_TRANSFER_LIMIT_EXCEEDED : Pdu.FES_INVALID_HEADER_FIELD,
                    Pdu.OFF_PLEN, "PDU type " + type + " of " + plen + " bytes");
            return false;
        }
        if (rx.remaining() < headerBytes) {
            return false;
        }
        header.clear();
        header.put(0, rx, at, headerBytes);
        header.limit(headerBytes);
        rx.position(at + headerBytes);
        if (digested) {
            if (digest(header, 0, hlen) != header.getInt(hlen)) { // no view made per PDU
                copyOffendingHeader(-1);
                terminate(Pdu.FES_HEADER_DIGEST_ERROR, 0, "header digest mismatch on PDU type " + type);
                return false;
            }
        }
        int payload = (int) plen - headerBytes;
        int pad = 0;
        boolean ddgst = false;
        if (payload > 0 && (type == Pdu.H2C_TERM_REQ || type == Pdu.C2H_TERM_REQ)) {
            // the offending header follows the termination's own, with no digest whatever was negotiated
            // (PDO 0 is what SPDK and this end send); it is read and dropped
        } else if (payload > 0) {
            if (pdo < headerBytes || pdo > plen) {
                copyOffendingHeader(-1);
                terminate(Pdu.FES_INVALID_HEADER_FIELD, Pdu.OFF_PDO, "PDU type " + type + " with PDO " + pdo);
                return false;
            }
            pad = pdo - headerBytes;
            ddgst = dataDigest && (flags & Pdu.FLAG_DDGST) != 0;
            if (dataDigest != ((flags & Pdu.FLAG_DDGST) != 0)) {
                copyOffendingHeader(-1);
                terminate(Pdu.FES_INVALID_HEADER_FIELD, Pdu.OFF_FLAGS, "data digest flag does not match the negotiation");
                return false;
            }
            if (payload < pad + (ddgst ? Pdu.DIGEST : 0)) {
                copyOffendingHeader(-1);
                terminate(Pdu.FES_INVALID_HEADER_FIELD, Pdu.OFF_PLEN, "PDU type " + type + " too short for its data");
                return false;
            }
        }
        pduType = type;
        padRemaining = pad;
        dataLength = payload - pad - (ddgst ? Pdu.DIGEST : 0);
        dataReceived = 0;
        digestRemaining = ddgst ? Pdu.DIGEST : 0;
        dataBuffer = null;
        inData = true;
        header.position(0);
        onHeader(type, flags, header, dataLength);
        if (held) { // offered again on resume, from its first byte
            inData = false;
            rx.position(at);
            updateInterest();
            return false;
        }
        return true;
    }

    /** Keeps the offending header (all of it, or its first {@code bytes}) for the termination request. */
    private void copyOffendingHeader(int bytes) {
        if (bytes > 0) {
            header.clear();
            int n = Math.min(bytes, rx.remaining());
            header.put(0, rx, rx.position(), n);
            header.limit(n);
        }
    }

    /**
     * Ends the connection because the peer broke the protocol: a termination request carrying the
     * offending header goes out, then the socket closes. Logged once.
     */
    protected final void terminate(int fes, int fei, String why) {
        if (closing) {
            return;
        }
        LOG.log(Level.WARNING, "{0}: {1}; terminating the connection", peer(), why);
        closedBecause = why;
        int offending = Math.min(header.limit(), Pdu.TERM_MAX_DATA);
        ByteBuffer term = Pdu.allocate(Pdu.TERM_HLEN + offending);
        Pdu.header(term, terminationType(), 0, Pdu.TERM_HLEN, 0, Pdu.TERM_HLEN + offending);
        term.putShort(Pdu.TERM_FES, (short) fes);
        term.putInt(Pdu.TERM_FEI, fei);
        term.put(Pdu.TERM_HLEN, header, 0, offending);
        closing = true;
        termination = term;
        send(term, () -> close(null));
        flushQuietly();
        if (!closed) { // a peer that does not read gets the socket closed rather than held open for good
            reactor.schedule(TERMINATE_WAIT_SECONDS, TimeUnit.SECONDS, () -> close("the peer did not take the termination "
                    + "request in " + TERMINATE_WAIT_SECONDS + " s"));
        }
    }

    // ---------------------------------------------------------------- send

    /** Queues {@code buffer} (from its position to its limit); {@code sent} runs once it is written. */
    private long queuedSends;
    /** The termination request sent, once one is: the last PDU of the connection. */
    private ByteBuffer termination;
    private long retiredSends;

    protected final void send(ByteBuffer buffer, Sent sent) {
        if (closed || termination != null && buffer != termination) {
            // nothing may follow a termination request (a response of a command the bdev ended meanwhile):
            // dropped, its listener run as if written, so its command's slot is freed
            if (sent != null) {
                sent.sent();
            }
            return;
        }
        int next = (sendTail + 1) % SEND_RING;
        if (next == sendHead) {
            flushQuietly();
            if (next == sendHead) {
                close("the send queue overflowed: the peer does not read");
                if (sent != null) {
                    sent.sent();
                }
                return;
            }
        }
        sendBuffers[sendTail] = buffer;
        sendListeners[sendTail] = sent;
        sendTail = next;
        queuedSends++;
        // One flush per turn of the reactor, after whatever else it has to do: the responses of a
        // burst of commands leave in one gathering write.
        if (!flushPosted) {
            flushPosted = true;
            reactor.execute(flusher);
        }
    }

    private void postedFlush() {
        flushPosted = false;
        flushQuietly();
    }

    /** Writes what is queued, as far as the socket takes it. */
    protected final void flushQuietly() {
        try {
            flush();
        } catch (IOException e) {
            broken(e);
        }
    }

    /** How many sends were queued so far: a mark {@link #sentUpTo} can tell was written. */
    protected final long sendMark() {
        return queuedSends;
    }

    /** Every send queued up to {@code mark} ({@link #sendMark}) is written (or given up at close). */
    protected final boolean sentUpTo(long mark) {
        return retiredSends >= mark;
    }

    /** Drops the oldest queued send and tells its listener (written, or given up at close). */
    private void retireHead() {
        retiredSends++;
        Sent listener = sendListeners[sendHead];
        sendBuffers[sendHead] = null;
        sendListeners[sendHead] = null;
        sendHead = (sendHead + 1) % SEND_RING;
        if (listener != null) {
            listener.sent();
        }
    }

    private void flush() throws IOException {
        while (sendHead != sendTail && !closed) {
            int n = 0;
            long wanted = 0;
            for (int i = sendHead; i != sendTail && n < GATHER; i = (i + 1) % SEND_RING) {
                gather[n++] = sendBuffers[i];
                wanted += sendBuffers[i].remaining();
            }
            long written = channel.write(gather, 0, n);
            while (sendHead != sendTail && !sendBuffers[sendHead].hasRemaining()) {
                retireHead();
            }
            if (written < wanted) {
                break; // the socket is full: wait until it is writable
            }
            // everything gathered went: more than one gather's worth was queued, go on with it
        }
        for (int i = 0; i < GATHER; i++) {
            gather[i] = null;
        }
        updateInterest();
    }

    private void updateInterest() {
        boolean pending = sendHead != sendTail && !closed;
        // closing or holding a PDU, nothing more is read: a key left readable by a peer that keeps sending would spin the reactor
        int ops = (closing || held ? 0 : SelectionKey.OP_READ) | (pending ? SelectionKey.OP_WRITE : 0);
        if (ops != interest && key != null && key.isValid()) {
            interest = ops;
            key.interestOps(ops);
        }
    }

    /** Computes the CRC32C of a buffer's remaining bytes, leaving its position where it was. */
    protected final int digest(ByteBuffer bytes, int offset, int length) {
        crc.reset();
        int position = bytes.position();
        int limit = bytes.limit();
        bytes.limit(offset + length).position(offset);
        crc.update(bytes);
        bytes.limit(limit).position(position);
        return (int) crc.getValue();
    }

    // ---------------------------------------------------------------- close

    /** Closes the socket; {@code why} is logged when not null. Idempotent. */
    public final void close(String why) {
        if (closed) {
            return;
        }
        closed = true;
        closing = true;
        if (why != null) {
            LOG.log(Level.INFO, "{0}: {1}", peer(), why);
            closedBecause = why;
        }
        if (key != null) {
            key.cancel();
        }
        try {
            if (socketOutlivesClose()) {
                // nothing more is read or sent, but the peer hears of the close only with releaseSocket()
                channel.shutdownInput();
                socketHeld = true;
            } else {
                channel.close();
            }
        } catch (IOException ignored) {
            // closing anyway
        }
        // give back what the queued sends held
        while (sendHead != sendTail) {
            retireHead();
        }
        onClosed();
    }

    /**
     * Whether the socket stays open past {@link #close} until {@link #releaseSocket}: a target whose
     * commands are still at its device. A host takes a close by its peer for the end of everything it
     * sent (it reconnects at once, and its rebuild copies over what a late write would land on).
     */
    protected boolean socketOutlivesClose() {
        return false;
    }

    /** Ends a socket {@link #socketOutlivesClose} kept open; on the channel's reactor. Idempotent. */
    protected final void releaseSocket() {
        if (socketHeld) {
            socketHeld = false;
            try {
                channel.close();
            } catch (IOException ignored) {
                // closed anyway
            }
        }
    }

    /** Why the connection closed (or is closing), when it was not closed without a reason. */
    protected final String closedBecause() {
        return closedBecause;
    }

    public final boolean isClosed() {
        return closed;
    }

    protected final boolean isClosing() {
        return closing;
    }

    /** The peer's address, for log lines (kept: a closed socket no longer says). */
    public String peer() {
        if (peer == null) {
            try {
                peer = String.valueOf(channel.getRemoteAddress());
            } catch (IOException | RuntimeException e) {
                return "(unconnected)";
            }
        }
        return peer;
    }

    /** Scratch for 4-byte data digests queued right after their data. */
    protected final ByteBuffer digestScratch() {
        return digestBytes;
    }
}
