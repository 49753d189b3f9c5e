package io.mayastorj.nvmf.internal.host;

import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.concurrent.FreeList;
import io.mayastorj.core.reactor.Reactor;
import io.mayastorj.nvmf.internal.protocol.Pdu;
import io.mayastorj.nvmf.internal.protocol.PduChannel;
import io.mayastorj.nvmf.internal.protocol.Sqe;
import io.mayastorj.nvmf.internal.protocol.Status;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * One NVMe/TCP connection of the host: the admin queue or an I/O queue of a {@link Session}. Any
 * thread takes a request slot and posts it; the reactor that owns the queue sends it, receives its
 * data and response, and completes it. A command that outlives the I/O timeout closes the queue
 * (its session then reconnects): a dead target shows up as errors, never as a hang.
 */
final class HostQueue extends PduChannel {

    private static final Logger LOG = System.getLogger("mayastor.nvmf");
    private static final int SLOT_BYTES = 128;
    private static final int PSDT_SGL = 0x40;
    /** Tries again of an I/O command the target answered with a passing status (see {@link #retried}). */
    static final int RETRIES = 4;
    private static final long RETRY_MILLIS = 50;

    /** Told of the end of each bdev I/O: the bdev counts it and calls its caller back. */
    interface IoSink {
        void ioDone(IoType type, long bytes, IoStatus status, IoCompletion<Object> done, Object context);

        /** A slot came free on a queue: a good moment to submit what waited for one. */
        void slotFreed(HostQueue queue);
    }

    enum Phase { AWAIT_ICRESP, LIVE, CLOSED }

    final int qid;
    private final IoSink sink;
    private final long timeoutNanos;
    private final HostRequest[] requests;
    private final FreeList<HostRequest> free;
    private final ViewCache views = new ViewCache();
    private final boolean wantHeaderDigest;
    private final boolean wantDataDigest;
    final CompletableFuture<Void> ready = new CompletableFuture<>();
    private volatile Phase phase = Phase.AWAIT_ICRESP;
    private volatile String closeReason;
    private volatile boolean deliberate;
    /**
     * Closed by this side (a timeout, a broken connection) with writes unanswered: the target may
     * not know the association is gone, and may still write them (see {@link NvmfBdev}'s reconnect).
     */
    private volatile boolean writesMayLand;
    /**
     * Writes sent and not answered, for a session deciding, when another of its queues fails, whether
     * this one's may still land. Written on the reactor only (a plain store of a volatile: one writer).
     */
    private volatile int writesOut;
    private int maxH2CData;
    private int dataAlignment;
    /** Largest write sent inside the capsule on this queue (0 until the controller says). */
    private volatile int inCapsuleLimit;
    private int outstanding;
    private Reactor.Timer watchdog;
    private CloseListener closeListener;

    private HostRequest receiving;
    private int receivingLength;
    private boolean receivingSuccess;

    /** Told once when the queue closes, with why (null when closed on purpose). */
    interface CloseListener {
        void closed(HostQueue queue, String why);

        /**
         * The queue closed from this side with writes unanswered, which the target may still make: told
         * before they are failed, so that whoever hears of the failure (a nexus faulting the child and
         * adding it again) finds the target fenced already.
         */
        default void writesMayLand(HostQueue queue) {
        }
    }

    private HostQueue(SocketChannel channel, Reactor reactor, int qid, int depth, IoSink sink, long timeoutNanos,
                      boolean headerDigest, boolean dataDigest) {
        super(channel, reactor);
        this.qid = qid;
        this.sink = sink;
        this.timeoutNanos = timeoutNanos;
        this.wantHeaderDigest = headerDigest;
        this.wantDataDigest = dataDigest;
        this.requests = new HostRequest[depth];
        this.free = new FreeList<>(depth);
        ByteBuffer block = Pdu.allocate(SLOT_BYTES * depth);
        for (int i = 0; i < depth; i++) {
            // the free list's index of each request is its CID
            free.add(cid -> requests[cid] = new HostRequest(this, cid, slice(block, cid * SLOT_BYTES, 80),
                    slice(block, cid * SLOT_BYTES + 80, 32), slice(block, cid * SLOT_BYTES + 112, 4)));
        }
    }

    private static ByteBuffer slice(ByteBuffer block, int offset, int length) {
        return block.slice(offset, length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    }

    /**
     * Connects a queue: TCP, then ICReq/ICResp. Blocks the calling thread (never a reactor) until the
     * target answered or {@code timeoutMillis} passed.
     */
    static HostQueue open(InetSocketAddress address, Reactor reactor, int qid, int depth, IoSink sink,
                          long ioTimeoutNanos, boolean headerDigest, boolean dataDigest, int timeoutMillis,
                          CloseListener listener) throws IOException {
        SocketChannel channel = SocketChannel.open();
        HostQueue queue;
        try {
            channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
            channel.socket().connect(address, timeoutMillis);
            queue = new HostQueue(channel, reactor, qid, depth, sink, ioTimeoutNanos, headerDigest, dataDigest);
            queue.closeListener = listener;
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
        reactor.execute(() -> {
            try {
                queue.start();
                queue.sendICReq();
            } catch (IOException e) {
                queue.close("cannot start the queue: " + e.getMessage());
            }
        });
        try {
            Session.await(queue.ready, timeoutMillis, "the ICResp of " + Session.hostPort(address));
        } catch (IOException e) {
            // nobody else knows this queue: closed here, or its socket, reactor key and watchdog stay
            // (a stalled target still completes handshakes from its backlog: one leak per retry)
            reactor.execute(() -> {
                queue.closeListener = null;
                queue.close(null);
            });
            throw e;
        }
        return queue;
    }

    private void sendICReq() {
        ByteBuffer icreq = Pdu.allocate(Pdu.IC_LENGTH);
        Pdu.header(icreq, Pdu.IC_REQ, 0, Pdu.IC_LENGTH, 0, Pdu.IC_LENGTH);
        icreq.putShort(Pdu.IC_PFV, (short) 0);
        icreq.put(Pdu.IC_HPDA_CPDA, (byte) 0);
        icreq.put(Pdu.IC_DGST, (byte) ((wantHeaderDigest ? Pdu.DGST_HEADER : 0) | (wantDataDigest ? Pdu.DGST_DATA : 0)));
        icreq.putInt(Pdu.IC_MAXR2T_MAXH2CDATA, 0); // MAXR2T, 0-based: one R2T at a time per command
        send(icreq, null);
        watchdog = reactor.schedule(1, TimeUnit.SECONDS, this::watch);
    }

    void inCapsuleLimit(int bytes) {
        inCapsuleLimit = bytes;
    }

    Reactor reactor() {
        return reactor;
    }

    boolean isLive() {
        return phase == Phase.LIVE;
    }

    int depth() {
        return requests.length;
    }

    /** Commands sent and not yet answered (racy when read off the reactor: for display). */
    int outstanding() {
        return outstanding;
    }

    // ---------------------------------------------------------------- submission

    /** A free request slot, or null when all are in use. Any thread. */
    HostRequest take() {
        return phase == Phase.CLOSED ? null : free.pop();
    }

    /** Returns a slot taken but not used. */
    void giveBack(HostRequest request) {
        request.clear();
        free.push(request.cid);
    }

    /** Sends a filled request: at once on the reactor thread, else through the reactor's queue. */
    void post(HostRequest request) {
        if (reactor.inReactor()) {
            transmit(request);
        } else {
            reactor.execute(request);
        }
    }

    /** On the reactor: the capsule, and in-capsule data. */
    void transmit(HostRequest r) {
        if (phase != Phase.LIVE) {
            complete(r, Status.INTERNAL_PATH_ERROR, 0, 0, IoStatus.UNAVAILABLE);
            return;
        }
        r.busy = true;
        r.submittedNanos = System.nanoTime();
        r.received = 0;
        r.digestFailed = false;
        outstanding++;
        if (writes(r)) {
            writesOut = writesOut + 1;
        }
        int hd = headerDigest ? Pdu.DIGEST : 0;
        int dd = dataDigest ? Pdu.DIGEST : 0;
        boolean fabrics = r.opcode == Sqe.FABRICS_OPCODE;
        boolean inCapsule = r.data == HostRequest.Data.TO_TARGET && (fabrics || r.length <= inCapsuleLimit);
        if (r.data != HostRequest.Data.NONE) {
            r.view = views.acquire(r.buffer);
        }
        ByteBuffer capsule = r.capsule;
        capsule.clear();
        int headerEnd = Pdu.CAPSULE_CMD_HLEN + hd;
        int pad = inCapsule ? padding(headerEnd) : 0;
        int plen = headerEnd + (inCapsule ? pad + r.length + dd : 0);
        int flags = (hd > 0 ? Pdu.FLAG_HDGST : 0) | (inCapsule && dd > 0 ? Pdu.FLAG_DDGST : 0);
        Pdu.header(capsule, Pdu.CAPSULE_CMD, flags, Pdu.CAPSULE_CMD_HLEN, inCapsule ? headerEnd + pad : 0, plen);
        int sqe = Pdu.SQE_OFFSET;
        for (int i = 0; i < Sqe.SIZE; i += 8) {
            capsule.putLong(sqe + i, 0);
        }
        capsule.put(sqe + Sqe.OPCODE, (byte) r.opcode);
        capsule.put(sqe + Sqe.FLAGS, (byte) PSDT_SGL);
        capsule.putShort(sqe + Sqe.CID, (short) r.cid);
        if (fabrics) {
            capsule.put(sqe + Sqe.FCTYPE, (byte) r.fctype);
        } else {
            capsule.putInt(sqe + Sqe.NSID, r.nsid);
        }
        capsule.putInt(sqe + Sqe.SGL_LENGTH, r.data == HostRequest.Data.NONE ? 0 : r.length);
        capsule.put(sqe + Sqe.SGL_IDENTIFIER, (byte) (inCapsule ? Sqe.SGL_DATA_BLOCK_OFFSET : Sqe.SGL_TRANSPORT_DATA_BLOCK));
        capsule.putInt(sqe + Sqe.CDW10, r.cdw10);
        capsule.putInt(sqe + Sqe.CDW11, r.cdw11);
        capsule.putInt(sqe + Sqe.CDW12, r.cdw12);
        capsule.putInt(sqe + Sqe.CDW13, r.cdw13);
        capsule.putInt(sqe + Sqe.CDW14, r.cdw14);
        capsule.putInt(sqe + Sqe.CDW15, r.cdw15);
        if (hd > 0) {
            capsule.putInt(Pdu.CAPSULE_CMD_HLEN, digest(capsule, 0, Pdu.CAPSULE_CMD_HLEN));
        }
        capsule.limit(headerEnd).position(0);
        send(capsule, null);
        r.sendMark = sendMark(); // no answer before the capsule is written: its buffer is the slot's, reused once it ends
        if (inCapsule && r.busy) { // (not busy: the send queue overflowed and the close completed it)
            sendData(r, r.view.bytes, r.bufferOffset, r.length, pad, r.dataDigest);
            r.received = r.length;
        }
    }

    private void sendData(HostRequest r, ByteBuffer data, int offset, int length, int pad, ByteBuffer digestOut) {
        if (pad > 0) {
            send(Pdu.padding(pad), null);
        }
        if (dataDigest) {
            digestOut.putInt(0, digest(data, offset, length));
        }
        data.limit(offset + length).position(offset);
        send(data, null);
        if (dataDigest) {
            digestOut.clear();
            send(digestOut, null);
        }
        r.sendMark = sendMark();
    }

    /** Pad bytes between a header and its data, for the target's CPDA. */
    private int padding(int headerEnd) {
        if (dataAlignment <= 4) {
            return 0;
        }
        int aligned = (headerEnd + dataAlignment - 1) / dataAlignment * dataAlignment;
        return aligned - headerEnd;
    }

    // ---------------------------------------------------------------- PDUs in

    @Override
    protected int maxPduLength(int type) {
        if (phase == Phase.AWAIT_ICRESP) {
            return type == Pdu.IC_RESP ? Pdu.IC_LENGTH : 0;
        }
        return switch (type) {
            case Pdu.CAPSULE_RESP -> Pdu.CAPSULE_RESP_HLEN + Pdu.DIGEST;
            case Pdu.R2T -> Pdu.R2T_HLEN + Pdu.DIGEST;
            case Pdu.C2H_DATA -> Pdu.DATA_HLEN + 2 * Pdu.DIGEST + 255 + (16 << 20);
            case Pdu.C2H_TERM_REQ -> Pdu.TERM_HLEN + Pdu.TERM_MAX_DATA;
            case Pdu.IC_RESP -> 0;
            default -> -1;
        };
    }

    @Override
    protected int terminationType() {
        return Pdu.H2C_TERM_REQ;
    }

    @Override
    protected void onHeader(int type, int flags, ByteBuffer header, int dataLength) {
        switch (type) {
            case Pdu.IC_RESP -> initialized(header);
            case Pdu.CAPSULE_RESP -> response(header, dataLength);
            case Pdu.C2H_DATA -> c2hData(flags, header, dataLength);
            case Pdu.R2T -> r2t(header);
            case Pdu.C2H_TERM_REQ -> closeReason = "the target ended the connection (fatal error status "
                    + (header.getShort(Pdu.TERM_FES) & 0xFFFF) + ")";
            default -> throw new IllegalStateException("unexpected PDU type " + type);
        }
    }

    @Override
    protected void onPduEnd(int type, boolean dataDigestOk) {
        if (type == Pdu.C2H_DATA) {
            HostRequest r = receiving;
            receiving = null;
            r.received += receivingLength;
            if (!dataDigestOk) {
                r.digestFailed = true;
                LOG.log(Level.WARNING, "{0}: data digest mismatch in C2HData for command {1}", peer(), r.cid);
            }
            if (receivingSuccess && !(r.digestFailed && retried(r, Status.TRANSIENT_TRANSPORT_ERROR, (short) 0))) {
                complete(r, Status.SUCCESS, 0, 0, null);
            }
        } else if (type == Pdu.C2H_TERM_REQ) {
            close(closeReason);
        }
    }

    private void initialized(ByteBuffer header) {
        int pfv = header.getShort(Pdu.IC_PFV) & 0xFFFF;
        int cpda = header.get(Pdu.IC_HPDA_CPDA) & 0xFF;
        int digests = header.get(Pdu.IC_DGST) & 0xFF;
        int maxData = header.getInt(Pdu.IC_MAXR2T_MAXH2CDATA);
        int wanted = (wantHeaderDigest ? Pdu.DGST_HEADER : 0) | (wantDataDigest ? Pdu.DGST_DATA : 0);
        String wrong = pfv != 0 ? "PDU format version " + pfv
                : digests != wanted ? "digests " + digests + " where " + wanted + " were asked for"
                : maxData < 4096 || (maxData & 3) != 0 ? "MAXH2CDATA " + maxData
                : cpda > 31 ? "CPDA " + cpda : null;
        if (wrong != null) {
            terminate(Pdu.FES_INVALID_HEADER_FIELD, 0, "ICResp with " + wrong);
            ready.completeExceptionally(new IOException("the target answered ICReq with " + wrong));
            return;
        }
        maxH2CData = maxData;
        dataAlignment = (cpda + 1) * 4;
        headerDigest = wantHeaderDigest;
        dataDigest = wantDataDigest;
        phase = Phase.LIVE;
        ready.complete(null);
    }

    private HostRequest busy(int cid, int field, String pdu) {
        HostRequest r = cid < requests.length ? requests[cid] : null;
        if (r == null || !r.busy) {
            terminate(Pdu.FES_INVALID_HEADER_FIELD, field, pdu + " for command " + cid + ", which is not outstanding");
            return null;
        }
        return r;
    }

    private void response(ByteBuffer header, int dataLength) {
        int cqe = Pdu.CQE_OFFSET;
        HostRequest r = busy(header.getShort(cqe + 12) & 0xFFFF, cqe + 12, "CapsuleResp");
        if (r == null) {
            return;
        }
        if (dataLength != 0) {
            terminate(Pdu.FES_INVALID_HEADER_FIELD, Pdu.OFF_PLEN, "CapsuleResp with data");
            return;
        }
        if (!sentUpTo(r.sendMark)) {
            // no target answers a command before it took the data it sent: completed now, the command's
            // buffer, view and CID would go to the next I/O while the queue still has them to write
            close("the target answered command " + r.cid + " before it took the command's data");
            return;
        }
        short field = header.getShort(cqe + 14);
        int status = Status.fromCqe(field);
        if (retried(r, status == Status.SUCCESS && r.digestFailed ? Status.TRANSIENT_TRANSPORT_ERROR : status, field)) {
            return; // a read whose data failed its digest goes again too: corrupted in transit, not by the replica
        }
        complete(r, status, header.getInt(cqe), header.getInt(cqe + 4), null);
    }

    /**
     * An I/O command the target answered with a status that passes (Command Interrupted — a target short
     * of buffers —, Namespace Not Ready, ANA Transition, a transport error on its side, or a read whose data
     * failed its digest on the way) and without Do Not Retry goes again, a few times with back-off, as the Linux host does: failed at once, the nexus faulted
     * a healthy replica for a moment's shortage, and rebuilt it, which added to the shortage. The target has
     * answered, so nothing of the first try is still in flight; the slot stays the command's meanwhile.
     */
    private boolean retried(HostRequest r, int status, short field) {
        if (qid == 0 || r.retries >= RETRIES || Status.doNotRetry(field) || !passing(status)) {
            return false;
        }
        r.retries++;
        r.busy = false; // sent again by transmit, which counts it outstanding again
        outstanding--;
        if (writes(r)) {
            writesOut = writesOut - 1; // answered: not at the target
        }
        ViewCache.release(r.view);
        r.view = null;
        if (r.retries == 1) {
            LOG.log(Level.DEBUG, "{0}: command {1} answered 0x{2}: tried again", peer(), r.cid, Integer.toHexString(status));
        }
        reactor.schedule(RETRY_MILLIS << (r.retries - 1), TimeUnit.MILLISECONDS, () -> transmit(r));
        return true;
    }

    private static boolean passing(int status) {
        return status == Status.COMMAND_INTERRUPTED || status == Status.NAMESPACE_NOT_READY
                || status == Status.ANA_TRANSITION || status == Status.TRANSIENT_TRANSPORT_ERROR;
    }

    private void c2hData(int flags, ByteBuffer header, int dataLength) {
        HostRequest r = busy(header.getShort(Pdu.DATA_CCCID) & 0xFFFF, Pdu.DATA_CCCID, "C2HData");
        if (r == null) {
            return;
        }
        if (!sentUpTo(r.sendMark)) {
            // data for a command whose capsule is still to be written: a target that guessed its CID (as for a response)
            close("the target sent data for command " + r.cid + " before it took the command");
            return;
        }
        if ((flags & Pdu.FLAG_SUCCESS) != 0 && (flags & Pdu.FLAG_LAST_PDU) == 0) {
            // the transport forbids it: the target takes the command for done and sends no response
            terminate(Pdu.FES_INVALID_HEADER_FIELD, 1, "C2HData for command " + r.cid + " with SUCCESS but not LAST_PDU");
            return;
        }
        int offset = header.getInt(Pdu.DATA_OFFSET);
        int length = header.getInt(Pdu.DATA_LENGTH);
        if (r.data != HostRequest.Data.TO_HOST || length != dataLength || offset != r.received
                || offset + (long) length > r.length) {
            terminate(Pdu.FES_DATA_OUT_OF_RANGE, Pdu.DATA_OFFSET, "C2HData of " + length + " bytes at " + offset
                    + " for command " + r.cid + " (" + r.received + " of " + r.length + " received)");
            return;
        }
        dataInto(r.view.bytes, r.bufferOffset + offset);
        receiving = r;
        receivingLength = length;
        receivingSuccess = (flags & Pdu.FLAG_SUCCESS) != 0;
    }

    private void r2t(ByteBuffer header) {
        HostRequest r = busy(header.getShort(Pdu.DATA_CCCID) & 0xFFFF, Pdu.DATA_CCCID, "R2T");
        if (r == null) {
            return;
        }
        int ttag = header.getShort(Pdu.DATA_TTAG) & 0xFFFF;
        int offset = header.getInt(Pdu.DATA_OFFSET);
        int length = header.getInt(Pdu.DATA_LENGTH);
        if (r.data != HostRequest.Data.TO_TARGET || length <= 0 || offset != r.received
                || offset + (long) length > r.length) {
            terminate(Pdu.FES_DATA_OUT_OF_RANGE, Pdu.DATA_OFFSET, "R2T for " + length + " bytes at " + offset
                    + " of command " + r.cid + " (" + r.received + " of " + r.length + " sent)");
            return;
        }
        if (offset > 0 && !sentUpTo(r.sendMark)) {
            // one R2T at a time (MAXR2T 0 in the ICReq): the next one's first header would be written over the
            // last one's, still queued, and its data sent under the other's offset
            terminate(Pdu.FES_PDU_SEQUENCE_ERROR, Pdu.DATA_OFFSET, "R2T at " + offset + " of command " + r.cid
                    + " before the data of its last R2T was sent (one R2T at a time)");
            return;
        }
        int hd = headerDigest ? Pdu.DIGEST : 0;
        int dd = dataDigest ? Pdu.DIGEST : 0;
        int pad = padding(Pdu.DATA_HLEN + hd);
        int end = offset + length;
        for (int at = offset; at < end; ) {
            int chunk = Math.min(maxH2CData, end - at);
            boolean first = at == offset;
            boolean whole = chunk == r.length;
            ByteBuffer h = first ? r.dataHeader : Pdu.allocate(Pdu.DATA_HLEN + Pdu.DIGEST);
            h.clear();
            int flags = (at + chunk == end ? Pdu.FLAG_LAST_PDU : 0) | (hd > 0 ? Pdu.FLAG_HDGST : 0)
                    | (dd > 0 ? Pdu.FLAG_DDGST : 0);
            Pdu.header(h, Pdu.H2C_DATA, flags, Pdu.DATA_HLEN, Pdu.DATA_HLEN + hd + pad,
                    Pdu.DATA_HLEN + hd + pad + chunk + dd);
            h.putShort(Pdu.DATA_CCCID, (short) r.cid);
            h.putShort(Pdu.DATA_TTAG, (short) ttag);
            h.putInt(Pdu.DATA_OFFSET, at);
            h.putInt(Pdu.DATA_LENGTH, chunk);
            if (hd > 0) {
                h.putInt(Pdu.DATA_HLEN, digest(h, 0, Pdu.DATA_HLEN));
            }
            h.limit(Pdu.DATA_HLEN + hd).position(0);
            send(h, null);
            if (!r.busy) {
                return; // the send queue overflowed (a target that asks for much and reads nothing): closed, r completed
            }
            // one PDU for the whole transfer uses the cached view; several need a slice each
            // (the slice is by absolute index, within the limit: an earlier R2T's PDU of this request may have set it)
            ByteBuffer data = whole ? r.view.bytes : r.view.bytes.limit(r.view.bytes.capacity()).slice(r.bufferOffset + at, chunk);
            int dataOffset = whole ? r.bufferOffset : 0;
            sendData(r, data, dataOffset, chunk, pad, first ? r.dataDigest : Pdu.allocate(4));
            at += chunk;
        }
        r.received = end;
        r.sendMark = sendMark(); // its answer (or next R2T) comes only once this data is written
    }

    // ---------------------------------------------------------------- completion

    /**
     * Ends a request on the reactor: the slot goes back, then the caller hears. {@code forced} is
     * the bdev outcome when the command did not complete on the wire (timeout, closed queue).
     */
    private void complete(HostRequest r, int status, int dw0, int dw1, IoStatus forced) {
        boolean wasBusy = r.busy;
        r.busy = false;
        if (wasBusy) {
            outstanding--;
            if (writes(r)) {
                writesOut = writesOut - 1;
            }
        }
        ViewCache.release(r.view);
        // a read succeeds only with every byte in and every digest right — also when a target interleaves
        // other commands' responses between its data and its own (the mark is the command's, not the queue's);
        // a write only with every byte asked for and sent
        if (forced == null && status == Status.SUCCESS && r.data != HostRequest.Data.NONE
                && (r.digestFailed || r.received != r.length)) {
            if (!r.digestFailed) {
                LOG.log(Level.WARNING, "{0}: command {1} completed with {2} of its {3} bytes {4}: failed", peer(), r.cid,
                        r.received, r.length, r.data == HostRequest.Data.TO_HOST ? "received" : "sent");
            }
            status = Status.TRANSIENT_TRANSPORT_ERROR;
        }
        HostRequest.AdminDone admin = r.admin;
        IoCompletion<Object> done = r.done;
        Object context = r.context;
        IoType type = r.type;
        long bytes = r.length;
        if (r.ownsBuffer) {
            r.buffer.release();
        }
        r.clear();
        free.push(r.cid);
        if (admin != null) {
            admin.done(forced != null ? Status.INTERNAL_PATH_ERROR : status, dw0, dw1);
        } else if (done != null) {
            sink.ioDone(type, bytes, forced != null ? forced : Status.toIo(status), done, context);
        }
        if (qid != 0) {
            // I/O waiting for a slot goes on an I/O queue: on the admin queue its opcodes are admin
            // commands (a Write Zeroes would be an Abort, answered success)
            sink.slotFreed(this);
        }
    }

    /** Once a second: a command older than the I/O timeout means the target is gone. */
    private void watch() {
        if (phase == Phase.CLOSED) {
            return;
        }
        long now = System.nanoTime();
        for (HostRequest r : requests) {
            if (r.busy && now - r.submittedNanos > timeoutNanos) {
                close("command " + r.cid + " (opcode 0x" + Integer.toHexString(r.opcode) + ") got no answer in "
                        + TimeUnit.NANOSECONDS.toSeconds(timeoutNanos) + " s");
                return;
            }
        }
        watchdog = reactor.schedule(1, TimeUnit.SECONDS, this::watch);
    }

    @Override
    protected void onClosed() {
        phase = Phase.CLOSED;
        if (watchdog != null) {
            watchdog.cancel();
        }
        receiving = null;
        long now = System.nanoTime();
        writesMayLand = !closedByPeer() && writesOut > 0; // before they are failed: the session decides on it
        CloseListener told = closeListener;
        if (writesMayLand && told != null) {
            told.writesMayLand(this);
        }
        for (HostRequest r : requests) {
            if (r.busy) {
                try {
                    complete(r, Status.INTERNAL_PATH_ERROR, 0, 0,
                            now - r.submittedNanos > timeoutNanos ? IoStatus.TIMED_OUT : IoStatus.UNAVAILABLE);
                } catch (RuntimeException e) {
                    // a caller's completion that throws must not leave the others in flight for good, nor
                    // the session never told its queue is gone (so never reconnected)
                    LOG.log(Level.ERROR, "a completion failed while the queue closed: " + e, e);
                }
            }
        }
        if (!ready.isDone()) {
            ready.completeExceptionally(new IOException(closedBecause() != null ? closedBecause()
                    : "the connection closed"));
        }
        CloseListener listener = closeListener;
        if (listener != null) {
            listener.closed(this, deliberate ? null
                    : closedBecause() != null ? closedBecause() : "the connection closed");
        }
    }

    /** Closed from this side (not by the peer) with writes unanswered; read once the queue closed. */
    boolean writesMayLand() {
        return writesMayLand;
    }

    /** Writes sent and not answered now (any thread: a racy look, for a session's decision). */
    boolean writesUnanswered() {
        return writesOut > 0;
    }

    /** Whether the target's side ended the connection (see {@link #closedByPeer}). */
    boolean peerClosed() {
        return closedByPeer();
    }

    private boolean writes(HostRequest r) {
        return qid != 0 && (r.opcode == Sqe.IO_WRITE || r.opcode == Sqe.IO_WRITE_ZEROES || r.opcode == Sqe.IO_DATASET_MANAGEMENT);
    }

    /** Closes the queue on purpose (the bdev is closing). Any thread. */
    void shutdown() {
        deliberate = true;
        if (reactor.inReactor()) {
            close(null);
        } else {
            reactor.execute(() -> close(null));
        }
    }

    @Override
    public String toString() {
        return "queue " + qid + " to " + peer();
    }
}
