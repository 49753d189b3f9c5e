package io.mayastorj.plugins.nbd;

import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.buffer.BufferPool;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.concurrent.FreeList;
import io.mayastorj.core.concurrent.MpscRing;
import io.mayastorj.core.transport.tcp.TcpConnection;
import io.mayastorj.core.transport.tcp.TcpServer;
import java.io.EOFException;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * One NBD client connection: the handshake and option haggling, then the transmission phase. This
 * thread reads requests in bulk and submits them, up to {@link #IN_FLIGHT} at once; replies are
 * queued and go out many per gathering write (see {@link #reply}). Request slots and reply headers
 * are made once per connection; read data goes from the DMA buffer to the socket without a copy.
 *
 * <p>A little over 600 lines, in one class on purpose: the handshake and the transmission phase
 * share the socket, its read buffer and the export the handshake binds (set before the client's
 * ACK, so that an unshare finds the connection), and NBD's whole protocol fits on these pages.
 */
final class NbdConnection extends TcpConnection {

    private static final Logger LOG = System.getLogger("mayastor.nbd");
    static final int IN_FLIGHT = 128;
    private static final int RX_BYTES = 256 * 1024;
    private static final int REPLY_HEADER_BYTES = 32;
    /** Replies per gathering write. */
    private static final int GATHER = 32;
    /** Buffers a reply's data may span (a read larger than a piece), and its header. */
    private static final int MAX_PARTS = 1 + Nbd.MAX_REQUEST / Nbd.MAX_PAYLOAD;

    private final BufferPool buffers;
    /** Requests as the socket gave them; direct, so a read needs no copy on the JDK's side. */
    private final ByteBuffer rx = ByteBuffer.allocateDirect(RX_BYTES);
    private final FreeList<Request> slots = new FreeList<>(IN_FLIGHT);
    private final AtomicInteger inFlight = new AtomicInteger();
    private final ByteBuffer replyHeaders = ByteBuffer.allocateDirect(IN_FLIGHT * REPLY_HEADER_BYTES);
    private final MpscRing<Request> replies = new MpscRing<>(IN_FLIGHT);
    /** Held by the thread writing replies; only it touches {@link #gather} and {@link #batch}. */
    private final AtomicBoolean sending = new AtomicBoolean();
    private final ByteBuffer[] gather = new ByteBuffer[2 * GATHER]; // a header and data per reply
    private final Request[] batch = new Request[GATHER];
    /** True while the reader works through requests it has read; it sends the replies before it reads again. */
    private volatile boolean processing;
    private boolean structured;
    private boolean noZeroes;

    /**
     * DMA buffer bytes one connection may hold at once: a client pipelining 2 MiB requests by the
     * hundred would otherwise take the node's whole pool, and every other transport's I/O with it.
     */
    static final long BUFFER_BUDGET = 16L << 20;
    private final AtomicLong buffered = new AtomicLong();
    private final long patienceNanos;
    /** Until when the handshake may run; 0 once transmission began. */
    private volatile long handshakeDeadline;
    /** When the reply write under way began (0: none): one that cannot finish means a client that reads nothing. */
    private volatile long writingSince;
    /**
     * When a write began to wait for the rest of its data (0: none): all of it must come within the
     * patience, or a client that stops part-way through (or sends a byte now and then) would hold the
     * request's buffer, up to 2 MiB, for as long as it stays connected.
     */
    private volatile long receivingSince;

    NbdConnection(TcpServer<?> server, SocketChannel channel, BufferPool buffers, long patienceNanos) throws IOException {
        super(server, channel);
        this.buffers = buffers;
        this.patienceNanos = patienceNanos;
        this.handshakeDeadline = (System.nanoTime() + patienceNanos) | 1;
        for (int i = 0; i < IN_FLIGHT; i++) {
            slots.add(Request::new);
        }
    }

    @Override
    protected void serve() throws IOException {
        if (handshake()) {
            if (!stillShared()) {
                throw new ProtocolError("the export " + export().device().name() + " is no longer shared"); // unshared meanwhile
            }
            LOG.log(Level.INFO, "NBD client {0} uses export {1}{2}", peer(), export().device().name(), structured ? " (structured replies)" : "");
            transmission();
        }
    }

    /** The watchdog's look (every tenth of the patience): ends a connection stuck in its handshake or a reply. */
    void watch(long now) {
        long deadline = handshakeDeadline;
        if (deadline != 0 && now - deadline > 0) {
            close("no handshake within " + TimeUnit.NANOSECONDS.toSeconds(patienceNanos) + " s");
        }
        long since = writingSince;
        if (since != 0 && now - since > patienceNanos) {
            close("the client read no reply for " + TimeUnit.NANOSECONDS.toSeconds(patienceNanos) + " s");
        }
        long receiving = receivingSince;
        if (receiving != 0 && now - receiving > patienceNanos) {
            close("the client did not send a write's data within " + TimeUnit.NANOSECONDS.toSeconds(patienceNanos) + " s");
        }
    }

    @Override
    protected void ending(boolean clean) {
        processing = false; // replies of completions from now on go through the writer
        if (clean) {
            awaitInFlight(); // a soft disconnect: the replies in flight go out first (until torn down)
        }
    }

    @Override
    protected void ended() {
        awaitInFlight(); // replies are dropped now; the buffers go back as the bdev completes
    }

    /**
     * Both waits for the I/O in flight end by one deadline, 30 s after the first began: two of 30 s
     * each outlasted the server's 35 s drain, and a bundle update then went on while completions would
     * still run this revision's code.
     */
    private long inFlightDeadline;

    /** A broken rule of the protocol: the connection ends, with this as the reason in the log. */
    private static final class ProtocolError extends IOException {
        ProtocolError(String message) {
            super(message);
        }
    }

    // ================================================================== handshake

    /** True when the client chose an export and transmission begins. */
    private boolean handshake() throws IOException {
        ByteBuffer hello = ByteBuffer.allocate(18).putLong(Nbd.NBDMAGIC).putLong(Nbd.IHAVEOPT)
                .putShort((short) (Nbd.FLAG_FIXED_NEWSTYLE | Nbd.FLAG_NO_ZEROES)).flip();
        write(hello);
        int clientFlags = read(4).getInt();
        if ((clientFlags & ~(Nbd.FLAG_FIXED_NEWSTYLE | Nbd.FLAG_NO_ZEROES)) != 0) {
            throw new ProtocolError("unknown client flags 0x" + Integer.toHexString(clientFlags));
        }
        noZeroes = (clientFlags & Nbd.FLAG_NO_ZEROES) != 0;
        while (true) {
            ByteBuffer h = read(16);
            if (h.getLong() != Nbd.IHAVEOPT) {
                throw new ProtocolError("an option without the IHAVEOPT magic");
            }
            int option = h.getInt();
            long length = Integer.toUnsignedLong(h.getInt());
            if (length > 64 * 1024) {
                throw new ProtocolError("an option of " + length + " bytes");
            }
            ByteBuffer data = read((int) length);
            switch (option) {
                case Nbd.OPT_EXPORT_NAME -> {
                    String name = StandardCharsets.UTF_8.decode(data).toString();
                    TcpServer.Export e = use(name);
                    if (e == null) {
                        throw new ProtocolError("no export '" + name + "' for this client"); // the protocol's only answer: close
                    }
                    ByteBuffer reply = ByteBuffer.allocate(noZeroes ? 10 : 134).putLong(e.device().sizeBytes())
                            .putShort((short) transmissionFlags(e.device()));
                    write(reply.position(reply.capacity()).flip());
                    return true;
                }
                case Nbd.OPT_ABORT -> {
                    optionReply(option, Nbd.REP_ACK, null);
                    return false;
                }
                case Nbd.OPT_LIST -> {
                    if (length != 0) {
                        optionError(option, Nbd.REP_ERR_INVALID, "LIST takes no data");
                        continue;
                    }
                    for (TcpServer.Export e : server().exports(client())) {
                        byte[] n = e.device().name().getBytes(StandardCharsets.UTF_8);
                        optionReply(option, Nbd.REP_SERVER, ByteBuffer.allocate(4 + n.length).putInt(n.length).put(n).flip());
                    }
                    optionReply(option, Nbd.REP_ACK, null);
                }
                case Nbd.OPT_STRUCTURED_REPLY -> {
                    if (length != 0) {
                        optionError(option, Nbd.REP_ERR_INVALID, "STRUCTURED_REPLY takes no data");
                        continue;
                    }
                    structured = true;
                    optionReply(option, Nbd.REP_ACK, null);
                }
                case Nbd.OPT_STARTTLS -> optionError(option, Nbd.REP_ERR_POLICY, "this server does not offer TLS");
                case Nbd.OPT_INFO, Nbd.OPT_GO -> {
                    if (info(option, data) && option == Nbd.OPT_GO) {
                        return true;
                    }
                }
                default -> optionError(option, Nbd.REP_ERR_UNSUP, "option " + option + " is not supported");
            }
        }
    }

    /** NBD_OPT_INFO / NBD_OPT_GO: describe the export; true when it exists (GO then begins transmission). */
    private boolean info(int option, ByteBuffer data) throws IOException {
        if (data.remaining() < 6) {
            optionError(option, Nbd.REP_ERR_INVALID, "the request is too short");
            return false;
        }
        int nameLength = data.getInt();
        if (nameLength < 0 || nameLength > data.remaining() - 2) {
            optionError(option, Nbd.REP_ERR_INVALID, "the name length is wrong");
            return false;
        }
        byte[] n = new byte[nameLength];
        data.get(n);
        int requests = data.getShort() & 0xFFFF;
        if (data.remaining() != 2 * requests) {
            optionError(option, Nbd.REP_ERR_INVALID, "the information request count is wrong");
            return false;
        }
        String name = new String(n, StandardCharsets.UTF_8);
        TcpServer.Export e = option == Nbd.OPT_GO ? use(name) : server().export(name, client());
        if (e == null) {
            optionError(option, Nbd.REP_ERR_UNKNOWN, "no export '" + name + "'");
            return false;
        }
        BlockDevice d = e.device();
        boolean wantName = false;
        boolean wantDescription = false;
        for (int i = 0; i < requests; i++) {
            int what = data.getShort() & 0xFFFF;
            wantName |= what == Nbd.INFO_NAME;
            wantDescription |= what == Nbd.INFO_DESCRIPTION;
        }
        optionReply(option, Nbd.REP_INFO, ByteBuffer.allocate(12).putShort((short) Nbd.INFO_EXPORT).putLong(d.sizeBytes())
                .putShort((short) transmissionFlags(d)).flip());
        optionReply(option, Nbd.REP_INFO, ByteBuffer.allocate(14).putShort((short) Nbd.INFO_BLOCK_SIZE).putInt(d.blockSize())
                .putInt(Math.max(4096, d.blockSize())).putInt(Nbd.MAX_PAYLOAD).flip());
        if (wantName) {
            byte[] full = d.name().getBytes(StandardCharsets.UTF_8);
            optionReply(option, Nbd.REP_INFO, ByteBuffer.allocate(2 + full.length).putShort((short) Nbd.INFO_NAME).put(full).flip());
        }
        if (wantDescription) {
            byte[] text = ("Mayastor-J " + d.productName()).getBytes(StandardCharsets.UTF_8);
            optionReply(option, Nbd.REP_INFO, ByteBuffer.allocate(2 + text.length).putShort((short) Nbd.INFO_DESCRIPTION).put(text).flip());
        }
        optionReply(option, Nbd.REP_ACK, null);
        return true;
    }

    private static int transmissionFlags(BlockDevice d) {
        int flags = Nbd.FLAG_HAS_FLAGS | Nbd.FLAG_SEND_FLUSH | Nbd.FLAG_SEND_FUA | Nbd.FLAG_CAN_MULTI_CONN;
        if (d.supports(IoType.UNMAP)) {
            flags |= Nbd.FLAG_SEND_TRIM;
        }
        if (d.supports(IoType.WRITE_ZEROES)) {
            flags |= Nbd.FLAG_SEND_WRITE_ZEROES;
        }
        return flags;
    }

    private void optionReply(int option, int type, ByteBuffer data) throws IOException {
        int length = data == null ? 0 : data.remaining();
        write(ByteBuffer.allocate(20).putLong(Nbd.REPLY_MAGIC).putInt(option).putInt(type).putInt(length).flip());
        if (data != null) {
            write(data);
        }
    }

    private void optionError(int option, int type, String message) throws IOException {
        optionReply(option, type, StandardCharsets.UTF_8.encode(message));
    }

    // ================================================================== transmission

    /**
     * Reads requests in bulk (one read often brings many) and submits them; the replies of a batch
     * go out together before the next read that could block.
     */
    private void transmission() throws IOException {
        handshakeDeadline = 0;
        startWriter();
        BlockDevice device = export().device();
        int bs = device.blockSize();
        rx.clear().flip();
        while (!isClosed()) {
            if (rx.remaining() < Nbd.REQUEST_BYTES) {
                fill();
                continue;
            }
            int at = rx.position();
            if (rx.getInt(at) != Nbd.REQUEST_MAGIC) {
                throw new ProtocolError("a request without the request magic");
            }
            int flags = rx.getShort(at + 4) & 0xFFFF;
            int type = rx.getShort(at + 6) & 0xFFFF;
            long handle = rx.getLong(at + 8);
            long offset = rx.getLong(at + 16);
            long length = Integer.toUnsignedLong(rx.getInt(at + 24));
            rx.position(at + Nbd.REQUEST_BYTES);
            if (type == Nbd.CMD_DISC) {
                return; // ending() waits for what is in flight, then the socket closes
            }
            Request r = takeSlot();
            r.set(type, flags, handle, offset, length);
            try {
                submit(r, device, bs, length);
            } catch (IOException | RuntimeException e) {
                // the connection ends with this request read only in part (its data cut short, the
                // socket closed under it): given to nobody, its slot and buffer go back here
                if (!r.handed) {
                    r.release();
                }
                throw e;
            }
        }
    }

    /** Hands a request to the bdev, or its error to the reply queue; throws only before either. */
    private void submit(Request r, BlockDevice device, int bs, long length) throws IOException {
        int type = r.type;
        if (type == Nbd.CMD_WRITE && length > Nbd.MAX_REQUEST) {
            skip(length);
            reply(hand(r), Nbd.EINVAL);
            return;
        }
        int error = (r.flags & ~allowedFlags(type)) != 0 ? Nbd.EINVAL : check(device, type, r.offset, length, bs);
        if (error != 0) {
            if (type == Nbd.CMD_WRITE) {
                skip(length);
            }
            reply(hand(r), error);
            return;
        }
        long lba = r.offset / bs;
        int blocks = (int) (length / bs);
        switch (type) {
            case Nbd.CMD_READ, Nbd.CMD_WRITE -> {
                if (length == 0) {
                    reply(hand(r), 0);
                    return;
                }
                if (length > Nbd.MAX_PAYLOAD) {
                    submitInPieces(r, device, lba, (int) length);
                    return;
                }
                r.buffer = allocate((int) length);
                if (type == Nbd.CMD_WRITE) {
                    receivePayload(r.buffer.bytes(), (int) length);
                    hand(r);
                    device.write(r.buffer, 0, lba, blocks, r, device);
                } else {
                    hand(r);
                    device.read(r.buffer, 0, lba, blocks, r, device);
                }
            }
            case Nbd.CMD_FLUSH -> {
                if (device.supports(IoType.FLUSH)) {
                    device.flush(hand(r), device);
                } else {
                    reply(hand(r), 0); // nothing volatile (a plugin's bdev without a cache): done, as NVMe and iSCSI answer
                }
            }
            case Nbd.CMD_TRIM -> {
                if (device.supports(IoType.UNMAP)) {
                    device.unmap(lba, blocks, hand(r), device);
                } else {
                    reply(hand(r), 0); // a hint (the device found since the handshake that it cannot unmap)
                }
            }
            case Nbd.CMD_WRITE_ZEROES -> {
                if ((r.flags & Nbd.CMD_FLAG_NO_HOLE) != 0 || !device.supports(IoType.WRITE_ZEROES)) {
                    // the range must be provisioned (a later write must not find the pool full): a bdev's
                    // write-zeroes may leave a thin replica's clusters unallocated, so zeros are written;
                    // and so they are to a bdev that lost write-zeroes since the handshake offered it
                    r.buffer = allocate((int) Math.min(length, Nbd.MAX_PAYLOAD));
                    zero(r.buffer);
                    r.zeroLba = lba;
                    r.zeroLeft = blocks;
                    hand(r).ioDone(IoStatus.SUCCESS, device); // writes the first piece
                } else {
                    device.writeZeroes(lba, blocks, hand(r), device);
                }
            }
            default -> reply(hand(r), Nbd.EINVAL); // CACHE, BLOCK_STATUS (not negotiated), anything newer
        }
    }

    /**
     * A read or write larger than the bdev takes in one piece (a client that learnt no maximum): its
     * pieces go to the bdev at once, each in a buffer of its own, and it is answered once all ended.
     */
    private void submitInPieces(Request r, BlockDevice device, long lba, int length) throws IOException {
        int bs = device.blockSize();
        int n = (length + Nbd.MAX_PAYLOAD - 1) / Nbd.MAX_PAYLOAD;
        awaitBudget(length); // all of it at once (a read's reply needs every piece): alone, past the budget if need be
        if (!allPieces(r, n, length)) {
            // the pool never had them all free together (its buffers are with other sizes or transports)
            if (r.type == Nbd.CMD_WRITE) {
                skip(length);
            }
            reply(hand(r), Nbd.ENOMEM);
            return;
        }
        if (r.type == Nbd.CMD_WRITE) {
            for (int i = 0; i < n; i++) {
                receivePayload(r.pieces[i].bytes(), Math.min(Nbd.MAX_PAYLOAD, length - i * Nbd.MAX_PAYLOAD));
            }
        }
        r.piecesOut.set(n);
        r.pieceFailure = null;
        hand(r);
        for (int i = 0; i < n; i++) {
            int bytes = Math.min(Nbd.MAX_PAYLOAD, length - i * Nbd.MAX_PAYLOAD);
            long at = lba + (long) i * (Nbd.MAX_PAYLOAD / bs);
            if (r.type == Nbd.CMD_WRITE) {
                device.write(r.pieces[i], 0, at, bytes / bs, r.pieceDone, device);
            } else {
                device.read(r.pieces[i], 0, at, bytes / bs, r.pieceDone, device);
            }
        }
    }

    /**
     * One connection at a time collects a large request's buffers, keeping what it took while it waits
     * for the rest (from other transports' and requests' give-backs): two collecting at once, each with
     * part of the pool, waited on each other for good; taking all at one look or none starved under
     * load, as small requests took every buffer given back. The others wait for their turn.
     */
    private static final java.util.concurrent.Semaphore COLLECTING = new java.util.concurrent.Semaphore(1, true);

    /**
     * Takes every piece's buffer within the patience, or none (false: the pool never had them, ENOMEM).
     */
    private boolean allPieces(Request r, int n, int length) throws IOException {
        long deadline = System.nanoTime() + patienceNanos;
        while (!COLLECTING.tryAcquire()) {
            // its turn waited for in steps: the replies of its requests go out meanwhile (their buffers back to the
            // pool, perhaps the ones the collecting connection waits for)
            sendReplies();
            if (isClosed()) {
                throw new IOException("closed");
            }
            if (System.nanoTime() - deadline > 0) {
                return tooFew(length);
            }
            awaitProgress(() -> true);
        }
        deadline = System.nanoTime() + patienceNanos; // its own collection gets the whole patience
        try {
            while (true) {
                for (int i = r.pieceCount; i < n; i++) {
                    DmaBuffer b = buffers.allocate(Math.min(Nbd.MAX_PAYLOAD, length - i * Nbd.MAX_PAYLOAD));
                    if (b == null) {
                        break;
                    }
                    buffered.addAndGet(b.capacity());
                    r.pieces[i] = b;
                    r.pieceCount = i + 1;
                }
                if (r.pieceCount == n) {
                    return true;
                }
                sendReplies(); // their buffers go back to the pool
                if (isClosed()) {
                    throw new IOException("closed");
                }
                if (System.nanoTime() - deadline > 0) {
                    r.releasePieces();
                    return tooFew(length);
                }
                awaitProgress(() -> true); // the pool's: another connection's give-back wakes nobody, 1 ms
            }
        } finally {
            COLLECTING.release();
        }
    }

    private boolean tooFew(int length) {
        LOG.log(Level.WARNING, "{0}: no {1} MiB of buffers for a request within {2} s: ENOMEM", peer(),
                length >> 20, TimeUnit.NANOSECONDS.toSeconds(patienceNanos));
        return false;
    }

    private static void zero(DmaBuffer b) {
        ByteBuffer bytes = b.bytes().clear();
        while (bytes.remaining() >= 8) {
            bytes.putLong(0L);
        }
        while (bytes.hasRemaining()) {
            bytes.put((byte) 0);
        }
    }

    /** From here on the request is the bdev's or the reply queue's: an error after this does not release it. */
    private Request hand(Request r) {
        r.handed = true;
        return r;
    }

    /** Sends the replies ready so far, then reads what the socket has (blocking when it has nothing). */
    private void fill() throws IOException {
        rx.compact();
        try {
            idle();
            if (channel.read(rx) < 0) {
                throw new EOFException();
            }
        } finally {
            processing = true;
            rx.flip();
        }
    }

    /**
     * Before a read that may block: from now on completions send their own replies, and what is
     * queued goes out. (A completion that saw {@link #processing} still true has queued its reply
     * before this reads the queue, so nothing is left behind.)
     */
    private void idle() {
        processing = false;
        sendReplies();
    }

    /** A write's data: what the receive buffer holds is copied, the rest read straight into place. */
    private void receivePayload(ByteBuffer into, int length) throws IOException {
        int buffered = Math.min(rx.remaining(), length);
        into.clear().put(0, rx, rx.position(), buffered);
        rx.position(rx.position() + buffered);
        if (buffered < length) {
            into.limit(length).position(buffered);
            try {
                idle();
                receivingSince = System.nanoTime() | 1;
                while (into.hasRemaining()) { // the whole of it within the patience: a byte now and then held the buffer for ever
                    if (channel.read(into) < 0) {
                        throw new EOFException();
                    }
                }
            } finally {
                receivingSince = 0;
                processing = true;
            }
        }
    }

    /** Drops {@code length} bytes of a refused write's data. */
    private void skip(long length) throws IOException {
        if (length > 64L << 20) {
            throw new ProtocolError("a write of " + length + " bytes");
        }
        long left = length;
        while (left > 0) {
            if (!rx.hasRemaining()) {
                fill();
            }
            int n = (int) Math.min(rx.remaining(), left);
            rx.position(rx.position() + n);
            left -= n;
        }
    }

    /**
     * The command flags a request of {@code type} may carry: FUA on any (the protocol: a server that
     * advertises it MUST take it on every command, even by ignoring it — QEMU sets it on flushes; it
     * acts on writes, trims and writes of zeros), NO_HOLE on a write of zeros. Any other (DF,
     * FAST_ZERO, REQ_ONE — none advertised or negotiated — or an unknown bit) is EINVAL: ignored, a
     * client asking for FAST_ZERO would wait for a slow zeroing it asked to fail fast.
     */
    private static int allowedFlags(int type) {
        return type == Nbd.CMD_WRITE_ZEROES ? Nbd.CMD_FLAG_FUA | Nbd.CMD_FLAG_NO_HOLE : Nbd.CMD_FLAG_FUA;
    }

    /** 0, or the errno a request gets before it reaches the bdev. */
    private static int check(BlockDevice d, int type, long offset, long length, int bs) {
        switch (type) {
            case Nbd.CMD_READ, Nbd.CMD_WRITE, Nbd.CMD_TRIM, Nbd.CMD_WRITE_ZEROES -> {
                if (type == Nbd.CMD_READ && length > Nbd.MAX_REQUEST) {
                    return Nbd.EINVAL;
                }
                if (offset % bs != 0 || length % bs != 0) {
                    return Nbd.EINVAL;
                }
                if (Long.compareUnsigned(offset, d.sizeBytes()) > 0 || Long.compareUnsigned(length, d.sizeBytes() - offset) > 0) {
                    // the protocol's errors: EINVAL for a read or trim past the end, ENOSPC for a write
                    return type == Nbd.CMD_READ || type == Nbd.CMD_TRIM ? Nbd.EINVAL : Nbd.ENOSPC;
                }
                return 0;
            }
            case Nbd.CMD_FLUSH -> {
                return 0;
            }
            default -> {
                return Nbd.EINVAL;
            }
        }
    }

    /** A free request slot; when all are in flight, the replies ready go out first (they free slots). */
    private Request takeSlot() throws IOException {
        Request r;
        while ((r = slots.pop()) == null) {
            sendReplies();
            if (isClosed()) {
                throw new IOException("closed");
            }
            awaitProgress(slots::isEmpty);
        }
        inFlight.incrementAndGet();
        return r;
    }

    /** The reader waits for a slot or buffer: a reply queued or a slot given back wakes it. */
    private volatile boolean readerWaiting;

    /**
     * Waits while {@code blocked} until a reply is queued (the reader sends it: that frees its slot and
     * buffer) or a request gives its slot and buffer back, at most 1 ms (the pool's buffers other
     * connections give back wake nobody). It polled every 20-50 us: with every slot held by a slow disk,
     * ~20 000 wake-ups a second per connection.
     */
    private void awaitProgress(java.util.function.BooleanSupplier blocked) {
        readerWaiting = true; // before the looks below; the other side changes what they look at, then reads this
        try {
            // replies queued while the writer holds 'sending' are its to send (it sends all that come meanwhile, then
            // gives back their slots, which wakes this one): spinning on them would take a core for the whole write
            if ((replies.isEmpty() || sending.get()) && blocked.getAsBoolean()) {
                LockSupport.parkNanos(1_000_000);
            }
        } finally {
            readerWaiting = false;
        }
    }

    private void wakeReader() {
        if (readerWaiting) {
            LockSupport.unpark(reader);
        }
    }

    /**
     * A DMA buffer; when this connection holds its budget, or the pool is short, it waits for one
     * (backpressure, not growth).
     */
    private DmaBuffer allocate(int bytes) throws IOException {
        awaitBudget(bytes);
        return poolAllocate(bytes);
    }

    /** Waits until {@code bytes} more fit in the connection's budget, or it holds nothing. */
    private void awaitBudget(long bytes) throws IOException {
        while (buffered.get() > 0 && buffered.get() + bytes > BUFFER_BUDGET) {
            sendReplies(); // their buffers go back
            if (isClosed()) {
                throw new IOException("closed");
            }
            awaitProgress(() -> buffered.get() > 0 && buffered.get() + bytes > BUFFER_BUDGET);
        }
    }

    private DmaBuffer poolAllocate(int bytes) throws IOException {
        DmaBuffer b = buffers.allocate(Math.max(bytes, BufferPool.MIN_BUFFER_SIZE));
        while (b == null) {
            sendReplies(); // their buffers go back to the pool
            if (isClosed()) {
                throw new IOException("closed");
            }
            awaitProgress(() -> true); // the pool's: another connection's give-back wakes nobody, 1 ms
            b = buffers.allocate(Math.max(bytes, BufferPool.MIN_BUFFER_SIZE));
        }
        buffered.addAndGet(b.capacity());
        return b;
    }

    private static int errno(IoStatus s) {
        return switch (s) {
            case SUCCESS -> 0;
            case LBA_OUT_OF_RANGE, INVALID_LENGTH, BUFFER_TOO_SMALL, MISALIGNED_BUFFER -> Nbd.EINVAL;
            case NO_SPACE -> Nbd.ENOSPC;
            case UNSUPPORTED -> Nbd.ENOTSUP;
            case DEVICE_CLOSED -> Nbd.ESHUTDOWN;
            default -> Nbd.EIO;
        };
    }

    /**
     * Queues the reply. While the reader is working through a batch of requests it goes out with the
     * batch's replies (a bdev completing inline, or on its own thread meanwhile); otherwise this
     * connection's writer sends it, with whatever else is ready. Never the completing thread: it is
     * a reactor or a device's reaper that every other user of the device waits on, and a client that
     * reads its socket slowly held it in a blocking write for up to the patience, again and again.
     */
    private void reply(Request r, int error) {
        r.error = error;
        replies.offer(r); // never full: a slot is queued at most once
        wakeReader(); // one waiting for a slot sends it
        if (!processing) {
            if (Thread.currentThread() == reader || isClosed()) {
                // the connection's own thread; or closed, when a reply is dropped, not written (the writer
                // may have ended): either way nothing blocks, and the request's buffer goes back now
                sendReplies();
            } else {
                wakeWriter(); // the reader may be blocked in a read: nobody else would
            }
        }
    }

    /** This connection's thread, the one that reads requests (and may write replies itself). */
    private volatile Thread reader;
    /** Writes the replies of completions that come while the reader is not processing; a virtual thread, parked when idle. */
    private volatile Thread writer;
    private final AtomicBoolean writeWanted = new AtomicBoolean();

    private void wakeWriter() {
        writeWanted.set(true);
        Thread w = writer;
        if (w != null) {
            LockSupport.unpark(w);
        }
    }

    /** Started with the transmission phase; ends once the connection is closed and nothing is queued. */
    private void startWriter() {
        reader = Thread.currentThread();
        writer = Thread.ofVirtual().name("nbd-writer " + peer()).start(() -> {
            while (!isClosed() || !replies.isEmpty() || writeWanted.get()) {
                if (writeWanted.getAndSet(false)) {
                    sendReplies(); // drops them once closed: their buffers go back
                } else {
                    LockSupport.parkNanos(100_000_000L); // woken by a reply; the timeout only sees the close
                }
            }
        });
    }

    /**
     * Writes the queued replies, many per gathering write. Whichever thread wins {@link #sending}
     * writes everything queued, including what other threads queue meanwhile; they do not wait.
     */
    private void sendReplies() {
        while (!replies.isEmpty() && sending.compareAndSet(false, true)) {
            try {
                Request r;
                while ((r = replies.poll()) != null) {
                    int parts = 0;
                    int n = 0;
                    do {
                        batch[n++] = r;
                        parts = r.encode(gather, parts);
                    } while (n < batch.length && parts + MAX_PARTS <= gather.length && (r = replies.poll()) != null);
                    write(parts);
                    for (int i = 0; i < n; i++) {
                        batch[i].release();
                        batch[i] = null;
                    }
                }
            } finally {
                sending.set(false);
            }
        }
    }

    private void write(int parts) {
        try {
            if (!isClosed()) {
                ByteBuffer last = gather[parts - 1];
                writingSince = System.nanoTime() | 1;
                while (last.hasRemaining()) {
                    if (channel.write(gather, 0, parts) > 0) {
                        writingSince = System.nanoTime() | 1; // a slow reader is still a reader
                    }
                }
            }
        } catch (IOException e) {
            close(isClosed() ? null : "sending a reply failed: " + e.getMessage());
        } finally {
            writingSince = 0;
            Arrays.fill(gather, 0, parts, null);
        }
    }

    // ================================================================== plumbing

    private ByteBuffer read(int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        readFully(b);
        return b.flip();
    }

    private void readFully(ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            if (channel.read(b) < 0) {
                throw new EOFException();
            }
        }
    }

    /** Handshake writes: only the connection's thread writes before transmission begins. */
    private void write(ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            channel.write(b);
        }
    }

    private void awaitInFlight() {
        if (inFlightDeadline == 0) {
            inFlightDeadline = (System.nanoTime() + TimeUnit.SECONDS.toNanos(30)) | 1;
        }
        while (inFlight.get() > 0 && System.nanoTime() - inFlightDeadline < 0) {
            sendReplies(); // a soft disconnect sends them; a closed one drops them
            LockSupport.parkNanos(1_000_000);
        }
    }

    /** One request in flight: the bdev's completion for it, and what its reply needs. */
    private final class Request implements IoCompletion<BlockDevice> {
        final int index;
        final ByteBuffer header;
        int type;
        int flags;
        long handle;
        long offset;
        int length;
        /** The length the client asked for (a write of zeros may ask up to 4 GiB). */
        long requested;
        int error;
        DmaBuffer buffer;
        boolean flushing;
        boolean handed;
        /** A write-zeroes with NO_HOLE, written piece by piece from {@link #buffer}: where the next piece goes, and what is left. */
        long zeroLba;
        long zeroLeft;
        /** Pieces due: one piece is in flight at a time, and one that completes inline does not recurse. */
        private final AtomicInteger piecesDue = new AtomicInteger();
        /** A read or write larger than {@link Nbd#MAX_PAYLOAD}: its buffers, in order (see {@link #submitInPieces}). */
        final DmaBuffer[] pieces = new DmaBuffer[MAX_PARTS - 1];
        int pieceCount;
        /** Its pieces at the bdev, and the first failure among them. */
        final AtomicInteger piecesOut = new AtomicInteger();
        volatile IoStatus pieceFailure;
        /** A piece's end: the last one ends the request. */
        final IoCompletion<BlockDevice> pieceDone = (status, device) -> {
            if (!status.isSuccess() && pieceFailure == null) {
                pieceFailure = status;
            }
            if (piecesOut.decrementAndGet() == 0) {
                IoStatus failed = pieceFailure;
                ioDone(failed == null ? IoStatus.SUCCESS : failed, device);
            }
        };

        Request(int index) {
            this.index = index;
            this.header = replyHeaders.slice(index * REPLY_HEADER_BYTES, REPLY_HEADER_BYTES);
        }

        void set(int type, int flags, long handle, long offset, long length) {
            this.type = type;
            this.flags = flags;
            this.handle = handle;
            this.offset = offset;
            this.requested = length;
            this.length = (int) Math.min(length, Integer.MAX_VALUE); // a read or write is at most MAX_REQUEST
            this.flushing = false;
            this.handed = false;
            this.zeroLeft = 0;
        }

        @Override
        public void ioDone(IoStatus status, BlockDevice device) {
            if (zeroLeft > 0 && status.isSuccess() && isClosed()) {
                // a write of zeros in pieces whose connection was cut: no more pieces land after the unshare
                zeroLeft = 0;
                reply(this, Nbd.ESHUTDOWN);
                return;
            }
            if (zeroLeft > 0 && status.isSuccess()) {
                if (piecesDue.getAndIncrement() == 0) {
                    do {
                        int blocks = (int) Math.min(zeroLeft, buffer.capacity() / device.blockSize());
                        long lba = zeroLba;
                        zeroLba += blocks;
                        zeroLeft -= blocks;
                        device.write(buffer, 0, lba, blocks, this, device);
                    } while (piecesDue.decrementAndGet() != 0);
                }
                return;
            }
            zeroLeft = 0;
            if (type == Nbd.CMD_WRITE_ZEROES && status == IoStatus.UNSUPPORTED && buffer == null && !isClosed()
                    && writeZerosInstead(device)) {
                return;
            }
            boolean fua = (flags & Nbd.CMD_FLAG_FUA) != 0 && (type == Nbd.CMD_WRITE || type == Nbd.CMD_WRITE_ZEROES || type == Nbd.CMD_TRIM);
            if (status.isSuccess() && fua && !flushing && device.supports(IoType.FLUSH)) {
                flushing = true; // forced unit access: durable before the reply
                device.flush(this, device);
                return;
            }
            // a trim is a hint: one the device refuses (it found it cannot unmap) is no error (NBD: SHOULD NOT be ENOTSUP)
            reply(this, type == Nbd.CMD_TRIM && status == IoStatus.UNSUPPORTED ? 0 : errno(status));
        }

        /**
         * A write of zeros the device refused after saying it takes them (a nexus gained a child without
         * write-zeroes meanwhile) is written as zeros, as one it said no to up front: NBD SHOULD NOT fail it
         * with ENOTSUP (no FAST_ZERO). On the completing thread, so no waiting for a buffer: none free, EIO.
         */
        private boolean writeZerosInstead(BlockDevice device) {
            long bytes = requested;
            DmaBuffer b = buffers.allocate((int) Math.max(Math.min(bytes, Nbd.MAX_PAYLOAD), BufferPool.MIN_BUFFER_SIZE));
            if (b == null) {
                reply(this, Nbd.EIO);
                return true;
            }
            buffered.addAndGet(b.capacity());
            buffer = b;
            zero(b);
            int bs = device.blockSize();
            zeroLba = offset / bs;
            zeroLeft = bytes / bs;
            ioDone(IoStatus.SUCCESS, device); // writes the first piece
            return true;
        }

        /** Puts the reply (header, and read data when there is some) into {@code into} from {@code at}; the next free index. */
        int encode(ByteBuffer[] into, int at) {
            ByteBuffer h = header.clear();
            boolean data = type == Nbd.CMD_READ && error == 0 && length > 0;
            if (type == Nbd.CMD_READ && structured) {
                if (error == 0 && length == 0) {
                    // an OFFSET_DATA chunk carries at least one byte (its length is at least 9): none at all
                    h.putInt(Nbd.STRUCTURED_REPLY_MAGIC).putShort((short) Nbd.REPLY_FLAG_DONE).putShort((short) Nbd.REPLY_TYPE_NONE)
                            .putLong(handle).putInt(0);
                } else if (error == 0) {
                    h.putInt(Nbd.STRUCTURED_REPLY_MAGIC).putShort((short) Nbd.REPLY_FLAG_DONE).putShort((short) Nbd.REPLY_TYPE_OFFSET_DATA)
                            .putLong(handle).putInt(8 + length).putLong(offset);
                } else {
                    h.putInt(Nbd.STRUCTURED_REPLY_MAGIC).putShort((short) Nbd.REPLY_FLAG_DONE).putShort((short) Nbd.REPLY_TYPE_ERROR)
                            .putLong(handle).putInt(6).putInt(error).putShort((short) 0);
                }
            } else {
                h.putInt(Nbd.SIMPLE_REPLY_MAGIC).putInt(error).putLong(handle);
            }
            into[at++] = h.flip();
            if (data && pieceCount > 0) {
                for (int i = 0; i < pieceCount; i++) {
                    into[at++] = pieces[i].bytes().limit(Math.min(Nbd.MAX_PAYLOAD, length - i * Nbd.MAX_PAYLOAD)).position(0);
                }
            } else if (data) {
                into[at++] = buffer.bytes().limit(length).position(0);
            }
            return at;
        }

        void releasePieces() {
            for (int i = 0; i < pieceCount; i++) {
                buffered.addAndGet(-pieces[i].capacity());
                pieces[i].release();
                pieces[i] = null;
            }
            pieceCount = 0;
        }

        void release() {
            if (buffer != null) {
                buffered.addAndGet(-buffer.capacity());
                buffer.release();
                buffer = null;
            }
            releasePieces();
            slots.push(index);
            wakeReader();
            inFlight.decrementAndGet();
        }
    }
}
