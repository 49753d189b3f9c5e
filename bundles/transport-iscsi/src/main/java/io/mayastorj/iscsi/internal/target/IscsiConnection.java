package io.mayastorj.iscsi.internal.target;

import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.buffer.BufferPool;
import io.mayastorj.core.reactor.Reactor;
import io.mayastorj.iscsi.internal.protocol.Bhs;
import io.mayastorj.iscsi.internal.protocol.Negotiation;
import io.mayastorj.iscsi.internal.protocol.TextParameters;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.lang.System.Logger;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.zip.CRC32C;

/**
 * One iSCSI connection (and its session: MaxConnections is 1), on one reactor for its whole life:
 * reads PDUs off the socket (header, AHS, digests, data segment straight into place), hands each to
 * the piece that handles it — {@link LoginPhase} until the login ends, then SCSI Commands to
 * {@link ScsiCommands}, Data-Out to {@link DataPhase}, task management to {@link TaskManagement} —
 * and answers NOP-Out, Text and Logout itself; it pings a quiet initiator and closes the connection.
 * Responses leave through {@link PduSender}. Everything here runs on the connection's reactor, so
 * nothing is locked.
 */
final class IscsiConnection {

    private static final Logger LOG = System.getLogger("mayastor.iscsi");
    /** Commands the initiator may have outstanding: MaxCmdSN = ExpCmdSN + WINDOW - 1. */
    static final int WINDOW = 128;
    /**
     * Bytes of the node's buffer pool this connection's tasks may hold at once: a command that would
     * take more (while others hold some) is answered BUSY. The window alone let 128 writes of 1 MiB
     * whose data never comes hold the default 128 MiB pool, stalling every other volume on the node;
     * 32 MiB is open-iscsi's default queue depth of 32 at the largest transfer (1 MiB).
     */
    static final int BUFFER_BUDGET = 32 << 20;

    /** ENDING: after an error that ends the connection once its answer is sent; what comes meanwhile is dropped. */
    private enum Phase { LOGIN, FULL_FEATURE, LOGGED_OUT, ENDING, CLOSED }

    private enum ReadState { BHS, EXTRA, DATA, TAIL }

    private final IscsiTarget target;
    private final SocketChannel channel;
    private final Reactor reactor;
    private final String peer;
    private SelectionKey key;
    private Phase phase = Phase.LOGIN;

    // reading
    private final ByteBuffer bhs = ByteBuffer.allocate(Bhs.LENGTH);
    private final ByteBuffer extra = ByteBuffer.allocate(1024 + 4);
    private final ByteBuffer tail = ByteBuffer.allocate(8);
    private final ByteBuffer text = ByteBuffer.allocate(Negotiation.TARGET_MAX_RECV_DATA_SEGMENT);
    private ReadState readState = ReadState.BHS;
    private ByteBuffer dataTarget;
    private int dataLength;
    private final CRC32C crc = new CRC32C();
    private boolean headerDigest;
    private boolean dataDigest;

    // the session and the pieces that serve it
    private final TaskTable tasks = new TaskTable(WINDOW);
    private final Set<String> loggedOnce = new HashSet<>();
    private final Session session = new Session();
    /** Set from the reinstating login's reactor, read by this one's close. */
    private volatile boolean reinstated;
    private final SequenceNumbers sequence;
    private final PduSender sender;
    private final LoginPhase login;
    private final DataPhase dataPhase;
    private final MediaCommands media;
    private final ScsiCommands scsi;
    private final TaskManagement taskManagement;

    IscsiConnection(IscsiTarget target, SocketChannel channel, Reactor reactor, BufferPool buffers,
                    java.net.InetAddress loginPeer) {
        this.loginPeer = loginPeer;
        this.countedLoggingIn = target != null; // a test's bare connection has no target to count it
        this.target = target;
        this.channel = channel;
        this.reactor = reactor;
        String p;
        try {
            p = String.valueOf(channel.getRemoteAddress());
        } catch (IOException e) {
            p = "(unknown peer)";
        }
        this.peer = p;
        this.sequence = new SequenceNumbers(this, tasks);
        this.sender = new PduSender(this, channel, reactor);
        this.login = new LoginPhase(this, target, session, sequence, sender);
        this.dataPhase = new DataPhase(this, session, sequence, sender, tasks, buffers, text);
        this.media = new MediaCommands(this, target, session, dataPhase, tasks, buffers);
        this.scsi = new ScsiCommands(this, target, session, sequence, dataPhase, media, tasks, buffers);
        this.taskManagement = new TaskManagement(this, target, session, sequence, sender, dataPhase, tasks);
    }

    /** Aborts every task (a PREEMPT AND ABORT of its nexus); completes once none is at the bdev. Any thread. */
    CompletableFuture<Void> abortAllTasks() {
        CompletableFuture<Void> done = new CompletableFuture<>();
        reactor().execute(() -> {
            if (isClosed()) {
                drained().whenComplete((r, e) -> done.complete(null));
            } else {
                taskManagement.abortAll().whenComplete((r, e) -> done.complete(null));
            }
        });
        return done;
    }

    /**
     * Aborts the EXTENDED COPY tasks writing to {@code device}, another session's LUN, for a reset or
     * preemption there; completes once none of their runs is at a bdev. Any thread.
     */
    CompletableFuture<Void> abortCopiesInto(BlockDevice device) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        reactor().execute(() -> {
            if (isClosed()) {
                drained().whenComplete((r, e) -> done.complete(null));
            } else {
                taskManagement.abortCopiesInto(device).whenComplete((r, e) -> done.complete(null));
            }
        });
        return done;
    }

    /** EXTENDED COPY commands of this connection past their list's checks (counted before them); any thread reads it. */
    final java.util.concurrent.atomic.AtomicInteger copiesRunning = new java.util.concurrent.atomic.AtomicInteger();

    Reactor reactor() {
        return reactor;
    }

    /** Pool bytes this connection's tasks hold; on its reactor only. */
    private int held;

    /**
     * Whether a task may take a buffer of {@code bytes}: within this connection's budget (any one
     * command when it holds none) and the target's (a connection holding none past it too, up to a
     * ceiling: sessions that hold the target's budget do not leave every other session BUSY).
     */
    boolean mayHold(int bytes) {
        int own = target == null ? BUFFER_BUDGET : target.connectionBudget();
        if (held > 0 && held + (long) bytes > own) {
            logOnce("budget", "the initiator's commands hold " + (held >> 20) + " MiB of buffers: more are answered BUSY");
            return false;
        }
        if (target != null && !target.mayHold(bytes, held == 0)) {
            logOnce("target budget", "the target's connections hold half the buffer pool: more commands are answered BUSY");
            return false;
        }
        return true;
    }

    void hold(int bytes) {
        held += bytes;
        if (target != null) {
            target.hold(bytes);
        }
    }

    void unhold(int bytes) {
        held -= bytes;
        if (target != null) {
            target.hold(-bytes);
        }
    }

    int heldBytes() {
        return held;
    }

    String peer() {
        return peer;
    }

    String initiatorName() {
        return session.initiatorName;
    }

    String targetName() {
        return session.lunTarget == null ? (session.discovery ? "(discovery)" : "-") : session.lunTarget.iqn();
    }

    int tasksInFlight() {
        return tasks.size();
    }

    boolean serves(BlockDevice device) {
        return session.lunTarget != null && session.lunTarget.device() == device;
    }

    /** Logged in to the LUN of the bdev whose uuid is {@code device}. */
    boolean serves(java.util.UUID device) {
        return session.lunTarget != null && session.lunTarget.device().uuid().equals(device);
    }

    /** Both connections' sessions are logged in to the same LUN. */
    boolean sameLun(IscsiConnection other) {
        return session.lunTarget != null && other.session.lunTarget != null
                && session.lunTarget.device() == other.session.lunTarget.device();
    }

    Session session() {
        return session;
    }

    /** A new login of this I_T nexus took over: the close that follows leaves the reservations alone. */
    private final CompletableFuture<Void> drained = new CompletableFuture<>();

    void reinstated() {
        reinstated = true;
    }

    /**
     * Completes once this connection is closed and none of its tasks is at the bdev any more: a write
     * of a session being reinstated still lands until then, over what the new session writes.
     */
    CompletableFuture<Void> drained() {
        return drained;
    }

    /** Set at close: the session's SPC-2 reservation ends once it has drained (not when reinstated). */
    private boolean endsReservation;

    /**
     * None of the closed connection's tasks is at the bdev any more. Logout and a lost connection end
     * the nexus's SPC-2 reservation now — released at once, another host reserved and wrote, and a
     * late write of this one landed over it — and before {@link #drained} completes, so that a new
     * login of the same nexus, which waits for it, cannot reserve first and lose its reservation to
     * this release.
     */
    private void drainedNow() {
        if (endsReservation) {
            session.reservations.endSpc2(session.nexus);
        }
        drained.complete(null);
    }

    /** This session's I_T nexus, or null before a normal session's login. */
    String nexus() {
        return session.nexus;
    }

    /** On this connection's reactor: a unit attention for its next command (or its I_T nexus's next session). */
    void unitAttention(int ascq) {
        if (phase == Phase.CLOSED) {
            target.leftUnitAttention(this, ascq); // posted before the close, run after it
        } else {
            scsi.unitAttention(ascq);
        }
    }

    /** Where the bdev's completions of this connection's tasks go (and COMPARE AND WRITE, once it holds its LUN). */
    ScsiCommands scsi() {
        return scsi;
    }

    MediaCommands media() {
        return media;
    }

    boolean isClosed() {
        return phase == Phase.CLOSED;
    }

    void start() throws IOException {
        key = reactor.register(channel, SelectionKey.OP_READ, k -> ready());
        sender.registered(key);
        lastHeard = System.nanoTime();
        acceptedNanos = lastHeard;
        scheduleLiveness();
    }

    /** When the connection came: its login must be done within {@link #loginDeadlineNanos}. */
    private long acceptedNanos;
    /** Counted in the target's {@code loggingIn} until it leaves the login phase (once). */
    private boolean countedLoggingIn;

    /** The address its login is counted under in the target. */
    private final java.net.InetAddress loginPeer;

    /** The initiator's address (the target caps the connections from one). */
    java.net.InetAddress peerAddress() {
        return loginPeer;
    }

    private void loginEnded() {
        if (countedLoggingIn) {
            countedLoggingIn = false;
            target.loginEnded(loginPeer);
        }
    }

    /** Twice the NOP timeout from the connection's start: Login PDUs that keep coming do not keep it for ever. */
    private long loginDeadlineNanos() {
        return 2 * target.nopTimeoutMillis() * 1_000_000L;
    }

    // ================================================================== reading

    private void ready() {
        try {
            if (key.isValid() && key.isWritable()) {
                sender.flush();
            }
            if (key.isValid() && key.isReadable()) {
                readPdus();
            }
        } catch (PeerClosed e) {
            close(tasks.isEmpty() ? null : "the initiator closed the connection with " + tasks.size() + " command(s) in flight");
        } catch (IOException e) {
            close("the connection failed: " + e.getMessage());
        } catch (ProtocolError e) {
            close(e.getMessage());
        } catch (RuntimeException e) {
            // a bug of ours: say so, and let this session go rather than leave it half-alive
            LOG.log(Level.ERROR, peer + ": internal error handling a PDU; closing the connection", e);
            close("internal error: " + e);
        }
    }

    /** A violation after which the connection cannot go on (ERL 0): it is closed. */
    static final class ProtocolError extends Exception {
        ProtocolError(String message) {
            super(message, null, false, false);
        }
    }

    private void readPdus() throws IOException, ProtocolError {
        while (phase != Phase.CLOSED) {
            switch (readState) {
                case BHS -> {
                    if (sender.backlogged()) {
                        return; // no more commands until the initiator reads its answers (the sender reads on then)
                    }
                    if (!fill(bhs)) {
                        return;
                    }
                    bhs.flip();
                    int extraLength = Bhs.ahsLength(bhs) + (headerDigest ? 4 : 0);
                    extra.clear().limit(extraLength);
                    if (Bhs.ahsLength(bhs) > 1024) {
                        throw new ProtocolError("an AHS of " + Bhs.ahsLength(bhs) + " bytes");
                    }
                    readState = ReadState.EXTRA;
                }
                case EXTRA -> {
                    if (!fill(extra)) {
                        return;
                    }
                    if (headerDigest) {
                        crc.reset();
                        crc.update(bhs.array(), 0, Bhs.LENGTH);
                        crc.update(extra.array(), 0, extra.limit() - 4);
                        if ((int) crc.getValue() != Integer.reverseBytes(extra.getInt(extra.limit() - 4))) {
                            throw new ProtocolError("header digest mismatch on a " + Bhs.opcodeName(Bhs.opcode(bhs)));
                        }
                    }
                    beginData();
                }
                case DATA -> {
                    if (!fill(dataTarget)) {
                        return;
                    }
                    int pad = Bhs.padded(dataLength) - dataLength;
                    tail.clear().limit(dataLength == 0 ? 0 : pad + (dataDigest ? 4 : 0));
                    readState = ReadState.TAIL;
                }
                case TAIL -> {
                    if (!fill(tail)) {
                        return;
                    }
                    boolean digestOk = true;
                    if (dataDigest && dataLength > 0) {
                        crc.reset();
                        // the PDU's own bytes: a Data-Out's region starts at its buffer offset, not at 0
                        ByteBuffer data = dataTarget.duplicate();
                        data.limit(data.position()).position(data.position() - dataLength);
                        crc.update(data);
                        int pad = tail.limit() - 4;
                        for (int i = 0; i < pad; i++) {
                            crc.update(tail.get(i)); // the padding as sent: RFC 7143 covers it, zeros or not
                        }
                        digestOk = (int) crc.getValue() == Integer.reverseBytes(tail.getInt(pad));
                    }
                    pduReceived(digestOk);
                }
                default -> throw new IllegalStateException();
            }
        }
    }

    /** The initiator closed its side between PDUs: an ending, not a failure (open-iscsi does so after discovery). */
    private static final class PeerClosed extends IOException {
        PeerClosed() {
            super("the initiator closed the connection", null);
        }
    }

    private boolean fill(ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            int n = channel.read(b);
            if (n < 0) {
                if (b == bhs && b.position() == 0) {
                    throw new PeerClosed();
                }
                throw new IOException("the initiator closed the connection in the middle of a PDU");
            }
            if (n == 0) {
                return false;
            }
        }
        return true;
    }

    /** Decides where a PDU's data segment goes: a task's buffer (SCSI data, see DataPhase) or the text buffer. */
    private void beginData() throws ProtocolError {
        dataLength = Bhs.dataSegmentLength(bhs);
        int opcode = Bhs.opcode(bhs);
        int limit = phase == Phase.LOGIN ? LoginPhase.MAX_TEXT : Negotiation.TARGET_MAX_RECV_DATA_SEGMENT;
        if (dataLength > limit) {
            throw new ProtocolError("a data segment of " + dataLength + " bytes (the limit is " + limit + ")");
        }
        // a Data-Out is checked against its task even without data: an empty one must not move a task's data phase on
        boolean scsiData = phase == Phase.FULL_FEATURE
                && (opcode == Bhs.DATA_OUT || opcode == Bhs.SCSI_COMMAND && dataLength > 0);
        dataTarget = dataPhase.dataTarget(bhs, dataLength, scsiData);
        readState = ReadState.DATA;
    }

    /** A whole PDU is in: to the piece that handles its opcode in this phase. */
    private void pduReceived(boolean digestOk) throws ProtocolError {
        try {
            dispatch(digestOk);
        } finally {
            dataPhase.pduDone();
        }
    }

    private void dispatch(boolean digestOk) throws ProtocolError {
        readState = ReadState.BHS;
        ByteBuffer header = bhs;
        bhs.clear();
        header.limit(Bhs.LENGTH); // the bytes stay valid until the next read
        if (sender.closing()) {
            // the connection ends once its last responses are out (a refused login, a reset, an error):
            // what came behind them is not acted on — another CHAP guess at the same challenge, a
            // command after a cold reset — nor does it count as heard, so an unread ending times out
            return;
        }
        lastHeard = System.nanoTime();
        if (!digestOk) {
            // ERL 0: a data digest error is rejected, then the connection goes
            reject(0x02, header);
            phase = Phase.ENDING; // a command behind it must not run (it could carry this PDU's half-made task)
            sender.closeAfterFlush();
            sender.postFlush();
            return;
        }
        int opcode = Bhs.opcode(header);
        if (phase == Phase.LOGIN) {
            if (opcode != Bhs.LOGIN_REQUEST) {
                throw new ProtocolError("a " + Bhs.opcodeName(opcode) + " before the login ended");
            }
            login.login(header, text);
            return;
        }
        if (phase != Phase.FULL_FEATURE) {
            return;
        }
        switch (opcode) {
            case Bhs.SCSI_COMMAND -> scsi.command(header, dataLength);
            case Bhs.DATA_OUT -> {
                Task complete = dataPhase.dataOut(header, dataLength);
                if (complete != null) {
                    scsi.dataReceived(complete);
                }
            }
            case Bhs.NOP_OUT -> nopOut(header);
            case Bhs.TEXT_REQUEST -> textRequest(header);
            case Bhs.TASK_MANAGEMENT_REQUEST -> taskManagement.request(header);
            case Bhs.LOGOUT_REQUEST -> logout(header);
            case Bhs.LOGIN_REQUEST -> {
                logOnce("login", "a Login PDU in the full feature phase: rejected");
                reject(0x04, header);
            }
            default -> {
                logOnce("opcode" + opcode, "unsupported " + Bhs.opcodeName(opcode) + ": rejected");
                reject(0x05, header);
            }
        }
    }

    /** Closed by a TARGET COLD RESET (its own or another session's): what its nexus is told next is the reset alone. */
    private volatile boolean coldReset;

    void coldReset() {
        coldReset = true;
    }

    /** A TARGET COLD RESET of its own: no PDU after it is acted on; the connection closes once the reset's response is out. */
    void ending() {
        coldReset = true;
        if (phase == Phase.FULL_FEATURE) {
            phase = Phase.ENDING;
            answerPending = true;
        }
    }

    /** Its last answer (a Logout's, a cold reset's) waits for tasks at the bdev; on the reactor. */
    private boolean answerPending;

    /** The last answer is queued: from now on the connection ends once it is read. */
    void answered() {
        answerPending = false;
        answeredNanos = System.nanoTime();
    }

    /**
     * When the last answer was queued: the peer's time to read it counts from then, not from the last
     * PDU heard. Counted from that, an answer that had waited longer than the NOP timeout for a slow
     * write was closed under, unsent, by the next liveness check.
     */
    private long answeredNanos = System.nanoTime();

    /** From LoginPhase, its last Login Response queued (without digests): the full feature phase begins. */
    void enterFullFeature() {
        phase = Phase.FULL_FEATURE;
        loginEnded();
        headerDigest = session.params.headerDigest();
        dataDigest = session.params.dataDigest();
        sender.digests(headerDigest, dataDigest);
        UnitAttentions left = target.takeUnitAttentions(this);
        if (left != null) {
            scsi.takeOver(left);
        }
    }

    // ================================================================== other PDUs

    private void nopOut(ByteBuffer req) {
        int itt = req.getInt(Bhs.ITT);
        if (itt == Bhs.RESERVED_TAG) {
            if (req.getInt(Bhs.TTT) == pingTtt) {
                pingTtt = -1; // the answer to our ping
            }
            return;
        }
        if (!Bhs.immediate(req) && !sequence.acceptCmdSn(req)) {
            return;
        }
        // the reflected data is limited to the initiator's MaxRecvDataSegmentLength (RFC 7143 §11.18.3): more
        // than it takes fails its connection
        int limit = session.params != null ? session.params.initiatorMaxRecvDataSegment() : 8192;
        byte[] echo = java.util.Arrays.copyOf(text.array(), Math.min(text.limit(), limit));
        ByteBuffer nop = sender.newHeader(Bhs.NOP_IN, echo.length);
        nop.put(1, (byte) Bhs.FINAL);
        nop.put(Bhs.LUN, req, Bhs.LUN, 8);
        nop.putInt(Bhs.ITT, itt);
        nop.putInt(Bhs.TTT, Bhs.RESERVED_TAG);
        sequence.numbers(nop, true);
        sender.send(nop, ByteBuffer.wrap(echo));
        sender.postFlush();
    }

    /** A Text Response too long for one PDU: the rest, sent as the initiator asks for it with {@link #textTtt}. */
    private byte[] textPending;
    private int textSent;
    private int textTtt = Bhs.RESERVED_TAG;
    /** The ITT of the request it answers: a continuation names the same task (RFC 7143 §11.10.1). */
    private int textItt;

    private void textRequest(ByteBuffer req) {
        if (!Bhs.immediate(req) && !sequence.acceptCmdSn(req)) {
            return;
        }
        int ttt = req.getInt(Bhs.TTT);
        if (ttt != Bhs.RESERVED_TAG) {
            if (textPending == null || ttt != textTtt || req.getInt(Bhs.ITT) != textItt) {
                logOnce("text-ttt", "a Text Request continuing no response of ours: rejected");
                reject(0x09, req);
                return;
            }
            sendText(req.getInt(Bhs.ITT)); // the initiator asks for the next part
            return;
        }
        textPending = null; // a new request ends one still in parts (RFC 7143 §11.10.4)
        Map<String, String> keys;
        try {
            keys = TextParameters.parse(text.array(), text.limit());
        } catch (TextParameters.FormatException e) {
            logOnce("text", "a malformed Text Request: " + e.getMessage());
            reject(0x09, req);
            return;
        }
        Map<String, String> answers = new LinkedHashMap<>();
        StringBuilder targets = new StringBuilder();
        for (Map.Entry<String, String> e : keys.entrySet()) {
            if (e.getKey().equals("SendTargets")) {
                String which = e.getValue();
                for (IscsiTarget.Target t : target.targets()) {
                    boolean wanted = which.equals("All") ? session.discovery
                            : which.isEmpty() ? t == session.lunTarget : which.equals(t.iqn());
                    if (wanted && t.allows(session.initiatorName)) {
                        targets.append("TargetName=").append(t.iqn()).append('\0');
                        targets.append("TargetAddress=").append(target.portal(channel)).append(",1").append('\0');
                    }
                }
            } else {
                answers.put(e.getKey(), "NotUnderstood");
            }
        }
        byte[] head = TextParameters.encode(answers);
        byte[] tailBytes = targets.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8);
        byte[] data = new byte[head.length + tailBytes.length];
        System.arraycopy(head, 0, data, 0, head.length);
        System.arraycopy(tailBytes, 0, data, head.length, tailBytes.length);
        textPending = data;
        textSent = 0;
        textItt = req.getInt(Bhs.ITT);
        sendText(textItt);
    }

    /**
     * The next part of the pending Text Response, at most the initiator's MaxRecvDataSegmentLength:
     * in one PDU, a SendTargets answer of many targets was longer than the initiator would take
     * (about 80 targets at its default 8 KiB), and discovery failed. Parts but the last carry the C
     * bit and a TTT the initiator's empty Text Request names to ask for the next.
     */
    private void sendText(int itt) {
        byte[] data = textPending;
        int limit = session.params != null ? session.params.initiatorMaxRecvDataSegment() : 8192;
        int n = Math.min(limit, data.length - textSent);
        boolean last = textSent + n == data.length;
        ByteBuffer rsp = sender.newHeader(Bhs.TEXT_RESPONSE, n);
        rsp.put(1, (byte) (last ? Bhs.FINAL : Bhs.CONTINUE));
        rsp.putInt(Bhs.ITT, itt);
        if (last) {
            textPending = null;
            textTtt = Bhs.RESERVED_TAG;
        } else {
            textTtt = sequence.nextTtt();
        }
        rsp.putInt(Bhs.TTT, textTtt);
        sequence.numbers(rsp, true);
        sender.send(rsp, ByteBuffer.wrap(data, textSent, n));
        textSent += n;
        sender.postFlush();
    }

    /**
     * RFC 7143 §11.14: the commands still in progress are terminated (no response), and the Logout
     * Response goes once none of them is at the bdev. Answered at once, a write the bdev still had
     * landed after the logout, when another host may already own the volume.
     */
    private void logout(ByteBuffer req) {
        if (!sequence.acceptCmdSn(req)) {
            return; // a stale or repeated Logout: dropped without a word, as any command (§4.2.2.1)
        }
        int itt = req.getInt(Bhs.ITT);
        int reason = req.get(1) & 0x7F;
        int cid = req.getShort(Bhs.CID) & 0xFFFF;
        if (reason > 2) {
            // §11.14.1: 0, 1 and 2 are the reasons; the rest are reserved. Taken as a close, they ended the session
            reject(0x09, req);
            return;
        }
        if (reason == 2 || reason == 1 && cid != session.cid) {
            // §11.15.1: at ErrorRecoveryLevel 0 no connection is kept for recovery ("connection recovery is not
            // supported"), and closing a connection this session does not have is "CID not found"; the session goes on
            ByteBuffer rsp = sender.newHeader(Bhs.LOGOUT_RESPONSE, 0);
            rsp.put(1, (byte) Bhs.FINAL);
            rsp.put(2, (byte) (reason == 2 ? 2 : 1));
            rsp.putInt(Bhs.ITT, itt);
            rsp.putInt(Bhs.STAT_SN, sequence.nextStatSn());
            sequence.window(rsp);
            sender.send(rsp, null);
            sender.postFlush();
            return;
        }
        phase = Phase.LOGGED_OUT; // nothing after it is acted on
        answerPending = true;
        taskManagement.abortAll().whenComplete((done, failed) -> {
            Runnable respond = () -> {
                answered();
                if (isClosed()) {
                    return;
                }
                ByteBuffer rsp = sender.newHeader(Bhs.LOGOUT_RESPONSE, 0);
                rsp.put(1, (byte) Bhs.FINAL);
                rsp.put(2, (byte) 0);
                rsp.putInt(Bhs.ITT, itt);
                rsp.putInt(Bhs.STAT_SN, sequence.nextStatSn());
                sequence.window(rsp);
                rsp.putShort(Bhs.TIME2WAIT, (short) 2);
                rsp.putShort(Bhs.TIME2RETAIN, (short) 0);
                sender.send(rsp, null);
                sender.closeAfterFlush();
                sender.postFlush();
            };
            if (reactor.inReactor()) {
                respond.run();
            } else {
                reactor.execute(respond);
            }
        });
    }

    void reject(int reason, ByteBuffer rejected) {
        byte[] copy = new byte[Bhs.LENGTH];
        rejected.get(0, copy);
        ByteBuffer rsp = sender.newHeader(Bhs.REJECT, Bhs.LENGTH);
        rsp.put(1, (byte) Bhs.FINAL);
        rsp.put(2, (byte) reason);
        rsp.putInt(Bhs.ITT, Bhs.RESERVED_TAG);
        sequence.numbers(rsp, true);
        sender.send(rsp, ByteBuffer.wrap(copy));
        sender.postFlush();
    }

    void logOnce(String kind, String message) {
        if (loggedOnce.add(kind)) {
            LOG.log(Level.WARNING, "{0} ({1}): {2}", peer, session.initiatorName == null ? "not logged in" : session.initiatorName,
                    message);
        }
    }

    // ================================================================== liveness

    /** When the initiator was last heard from; a NOP-In ping goes out after a quiet interval. */
    private long lastHeard;
    private int pingTtt = -1;
    private long pingSent;
    private io.mayastorj.core.reactor.Reactor.Timer livenessTimer;

    private void scheduleLiveness() {
        long every = Math.max(50, Math.min(target.nopIntervalMillis(), target.nopTimeoutMillis()) / 2);
        livenessTimer = reactor.schedule(every, java.util.concurrent.TimeUnit.MILLISECONDS, this::checkLiveness);
    }

    /**
     * On the reactor: pings an initiator that has been quiet for the NOP interval (NOP-In with a TTT
     * it must answer, RFC 7143 §11.19) and drops one that has not answered within the NOP timeout.
     */
    private void checkLiveness() {
        if (phase == Phase.CLOSED) {
            return;
        }
        long now = System.nanoTime();
        // a ping only in the full feature phase: after a Logout (or a cold reset) the initiator's answer to a ping
        // that crossed it is not looked at, and the connection stays while its last answer waits (below)
        if (phase == Phase.FULL_FEATURE && pingTtt != -1 && now - pingSent > target.nopTimeoutMillis() * 1_000_000L) {
            close("no answer to a NOP-In ping in " + target.nopTimeoutMillis() / 1000.0 + " s: the initiator is gone");
            return;
        }
        Task starved = phase == Phase.FULL_FEATURE ? dataPhase.starved(now, target.dataTimeoutMillis() * 1_000_000L) : null;
        if (starved != null) {
            // an initiator that answers pings but never sends the data of a write holds its buffer for
            // good; with a few such commands per connection it could hold the node's whole buffer pool
            close("task " + Integer.toHexString(starved.itt) + " waited " + target.dataTimeoutMillis() / 1000.0
                    + " s for its data");
            return;
        }
        if (phase == Phase.FULL_FEATURE && pingTtt == -1 && now - lastHeard > target.nopIntervalMillis() * 1_000_000L) {
            pingTtt = sequence.nextTtt();
            pingSent = now;
            ByteBuffer nop = sender.newHeader(Bhs.NOP_IN, 0);
            nop.put(1, (byte) Bhs.FINAL);
            nop.putInt(Bhs.ITT, Bhs.RESERVED_TAG);
            nop.putInt(Bhs.TTT, pingTtt);
            sequence.numbers(nop, false); // a ping does not advance StatSN
            sender.send(nop, null);
            sender.postFlush();
        } else if (phase == Phase.LOGIN && now - lastHeard > target.nopTimeoutMillis() * 1_000_000L) {
            close("the login stalled for " + target.nopTimeoutMillis() / 1000.0 + " s");
            return;
        } else if (phase == Phase.LOGIN && now - acceptedNanos > loginDeadlineNanos()) {
            // Login PDUs that ask nothing (C bit, no keys) are answered and reset the stall timer: a client
            // sending one every few seconds held its connection, unauthenticated, for ever
            close("not logged in after " + loginDeadlineNanos() / 1_000_000_000.0 + " s");
            return;
        } else if ((phase == Phase.ENDING || phase == Phase.LOGGED_OUT) && now - (answerPending || answeredNanos - lastHeard < 0
                ? lastHeard : answeredNanos) > (answerPending ? target.dataTimeoutMillis() : target.nopTimeoutMillis()) * 1_000_000L) {
            // (while its answer still waits for writes at the bdev, as long as a write may wait for its data:
            // closed at the NOP timeout, a slow write's logout ended without its answer)
            // its last PDUs (a Logout Response, a Reject) wait for a peer that reads nothing: the connection,
            // and the buffers queued on it, went only when TCP gave up (a quarter of an hour)
            close("its last responses were not read in " + target.nopTimeoutMillis() / 1000.0 + " s");
            return;
        }
        scheduleLiveness();
    }

    // ================================================================== closing

    /** From PduSender: everything queued has gone out, so the tasks whose data it carried are done with. */
    void sentUpTo(long written) {
        dataPhase.sentUpTo(written);
    }

    void allSent() {
        dataPhase.allSent();
    }

    /** Closes the connection; {@code why} is logged when it is a failure. In-flight bdev I/O drains. */
    void close(String why) {
        if (phase == Phase.CLOSED) {
            return;
        }
        boolean wasLoggedIn = phase == Phase.FULL_FEATURE;
        boolean loggedOut = phase == Phase.LOGGED_OUT;
        boolean inSession = wasLoggedIn || phase == Phase.ENDING; // ending after an error or a cold reset: not a logout
        phase = Phase.CLOSED;
        loginEnded();
        String initiatorName = session.initiatorName;
        if (why != null) {
            LOG.log(Level.WARNING, "{0} ({1}): {2}; closing it", peer, initiatorName == null ? "not logged in" : initiatorName, why);
        } else if (wasLoggedIn || initiatorName != null) {
            LOG.log(Level.INFO, "{0} ({1}) {2}", peer, initiatorName, loggedOut ? "logged out" : "disconnected");
        }
        if (livenessTimer != null) {
            livenessTimer.cancel();
        }
        // a login that did not end (refused, or cut while it waited for the session it reinstates) ends no
        // reservation: the nexus's is the older connection's to end, whose writes may still be at the bdev
        endsReservation = session.reservations != null && !reinstated && (inSession || loggedOut);
        if (inSession) { // not a logout: the I_T nexus goes on, and its next session is told what this one was not
            target.leaveUnitAttentions(this, coldReset ? UnitAttentions.afterReset() : scsi.leave());
        }
        if (key != null) {
            key.cancel();
        }
        try {
            channel.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        int[] atBdev = {0};
        for (Task t : tasks.tasks()) {
            t.aborted = true;
            if (!t.submitted) {
                t.release();
            } else { // dropped when the bdev returns it (MediaCommands.bdevDone): counted until then
                atBdev[0]++;
                Runnable before = t.whenDropped;
                t.whenDropped = () -> {
                    if (before != null) {
                        before.run();
                    }
                    if (--atBdev[0] == 0) {
                        drainedNow();
                    }
                };
            }
        }
        if (atBdev[0] == 0) {
            drainedNow();
        }
        tasks.clear();
        dataPhase.releaseUnsent();
        sender.discard();
        target.closed(this);
    }

    InetSocketAddress localAddress() throws IOException {
        return (InetSocketAddress) channel.getLocalAddress();
    }
}
