package io.mayastorj.iscsi.internal.target;

import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.buffer.BufferPool;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.reactor.Reactor;
import io.mayastorj.iscsi.internal.protocol.Bhs;
import io.mayastorj.iscsi.internal.protocol.Negotiation;
import io.mayastorj.iscsi.internal.protocol.TextParameters;
import io.mayastorj.iscsi.internal.scsi.Cdb;
import io.mayastorj.iscsi.internal.scsi.Reservations;
import io.mayastorj.iscsi.internal.scsi.ScsiLun;
import io.mayastorj.iscsi.internal.scsi.Sense;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import java.util.ArrayDeque;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.zip.CRC32C;

/**
 * One iSCSI connection (and its session: MaxConnections is 1), on one reactor for its whole life:
 * the login phase with its negotiation, then the full feature phase — SCSI commands in CmdSN order,
 * their data in and out, NOP, Text, task management and logout. Everything here runs on the
 * connection's reactor, so nothing is locked.
 */
final class IscsiConnection {

    private static final Logger LOG = System.getLogger("mayastor.iscsi");
    /** Commands the initiator may have outstanding: MaxCmdSN = ExpCmdSN + WINDOW - 1. */
    static final int WINDOW = 128;
    private static final byte[] NO_DATA = new byte[0];
    /** PDU headers a connection keeps for reuse: a window of commands with a response each, and more. */
    private static final int HEADERS = 2 * WINDOW;
    private static final int GATHER = 64;

    private enum Phase { LOGIN, FULL_FEATURE, LOGGED_OUT, CLOSED }

    private enum ReadState { BHS, EXTRA, DATA, TAIL }

    private final IscsiTarget target;
    private final SocketChannel channel;
    private final Reactor reactor;
    private final BufferPool buffers;
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
    private Task dataTask;
    /** The task prepareCommand made for the SCSI Command whose immediate data is being read. */
    private Task prepared;
    private final CRC32C crc = new CRC32C();

    // writing
    private final ArrayDeque<ByteBuffer> sendQueue = new ArrayDeque<>();
    private final ArrayDeque<Task> releaseAfterSend = new ArrayDeque<>();
    /** Finished tasks kept for reuse (see retire). */
    private final ArrayDeque<Task> freeTasks = new ArrayDeque<>(WINDOW);
    /** Headers of PDUs being sent, made once: slices of one array, so a sent one is known by it. */
    private final byte[] headerArena = new byte[HEADERS * Bhs.LENGTH];
    private final ArrayDeque<ByteBuffer> freeHeaders = new ArrayDeque<>(HEADERS);
    private final ByteBuffer[] gather = new ByteBuffer[GATHER];
    private boolean flushPosted;
    private final Runnable flusher = this::postedFlush;
    private boolean closeAfterFlush;

    // login and session
    private Negotiation negotiation;
    private Negotiation.Outcome params;
    private final ByteBuffer loginText = ByteBuffer.allocate(64 * 1024);
    private String initiatorName;
    private boolean discovery;
    private IscsiTarget.Target lunTarget;
    private ScsiLun lun;
    /** The LUN's reservations, and this session's I_T nexus (initiator port) they are kept by. */
    private Reservations reservations;
    private String nexus;
    private long isid;
    private int tsih;
    private int cid;
    private boolean headerDigest;
    private boolean dataDigest;

    // sequence numbers
    private int statSn = 1;
    private int expCmdSn;
    private final TaskTable tasks = new TaskTable(WINDOW);
    private final TaskTable byTtt = new TaskTable(WINDOW);
    private int nextTtt = 1;
    private final Set<String> loggedOnce = new HashSet<>();
    /** A unit attention waiting for this I_T nexus (ASC/ASCQ), or 0; one at a time, the latest wins. */
    private int pendingUnitAttention;

    IscsiConnection(IscsiTarget target, SocketChannel channel, Reactor reactor, BufferPool buffers) {
        this.target = target;
        this.channel = channel;
        this.reactor = reactor;
        this.buffers = buffers;
        String p;
        try {
            p = String.valueOf(channel.getRemoteAddress());
        } catch (IOException e) {
            p = "(unknown peer)";
        }
        this.peer = p;
        for (int i = 0; i < HEADERS; i++) {
            freeHeaders.add(ByteBuffer.wrap(headerArena, i * Bhs.LENGTH, Bhs.LENGTH).slice());
        }
    }

    Reactor reactor() {
        return reactor;
    }

    String peer() {
        return peer;
    }

    String initiatorName() {
        return initiatorName;
    }

    String targetName() {
        return lunTarget == null ? (discovery ? "(discovery)" : "-") : lunTarget.iqn();
    }

    int tasksInFlight() {
        return tasks.size();
    }

    boolean serves(BlockDevice device) {
        return lunTarget != null && lunTarget.device() == device;
    }

    /** On this connection's reactor: a unit attention for its next command. */
    void unitAttention(int ascq) {
        pendingUnitAttention = ascq;
    }

    void start() throws IOException {
        key = reactor.register(channel, SelectionKey.OP_READ, k -> ready());
        lastHeard = System.nanoTime();
        scheduleLiveness();
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
        if (pingTtt != -1 && now - pingSent > target.nopTimeoutMillis() * 1_000_000L) {
            close("no answer to a NOP-In ping in " + target.nopTimeoutMillis() / 1000.0 + " s: the initiator is gone");
            return;
        }
        if (phase == Phase.FULL_FEATURE && pingTtt == -1 && now - lastHeard > target.nopIntervalMillis() * 1_000_000L) {
            pingTtt = nextTtt++ & 0x7FFFFFFF;
            pingSent = now;
            ByteBuffer nop = newHeader(Bhs.NOP_IN, 0);
            nop.put(1, (byte) Bhs.FINAL);
            nop.putInt(Bhs.ITT, Bhs.RESERVED_TAG);
            nop.putInt(Bhs.TTT, pingTtt);
            numbers(nop, false); // a ping does not advance StatSN
            send(nop, null);
            postFlush();
        } else if (phase == Phase.LOGIN && now - lastHeard > target.nopTimeoutMillis() * 1_000_000L) {
            close("the login stalled for " + target.nopTimeoutMillis() / 1000.0 + " s");
            return;
        }
        scheduleLiveness();
    }

    // ================================================================== reading

    private void ready() {
        try {
            if (key.isValid() && key.isWritable()) {
                flush();
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
                        ByteBuffer data = dataTarget.duplicate();
                        data.flip();
                        crc.update(data);
                        int pad = tail.limit() - 4;
                        for (int i = 0; i < pad; i++) {
                            crc.update(0);
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

    /** Decides where a PDU's data segment goes: a task's buffer (SCSI data) or the text buffer. */
    private void beginData() throws ProtocolError {
        dataLength = Bhs.dataSegmentLength(bhs);
        dataTask = null;
        int opcode = Bhs.opcode(bhs);
        int limit = phase == Phase.LOGIN ? loginText.capacity() : Negotiation.TARGET_MAX_RECV_DATA_SEGMENT;
        if (dataLength > limit) {
            throw new ProtocolError("a data segment of " + dataLength + " bytes (the limit is " + limit + ")");
        }
        if (dataLength > 0 && phase == Phase.FULL_FEATURE && (opcode == Bhs.SCSI_COMMAND || opcode == Bhs.DATA_OUT)) {
            dataTarget = scsiDataTarget(opcode);
        } else {
            dataTarget = text.clear().limit(dataLength);
        }
        readState = ReadState.DATA;
    }

    /**
     * The buffer region the data of a SCSI Command (immediate data) or a Data-Out lands in; data the
     * task cannot take (a task that failed, data past its transfer) goes to the text buffer and is
     * dropped after.
     */
    private ByteBuffer scsiDataTarget(int opcode) throws ProtocolError {
        Task task;
        int offset;
        if (opcode == Bhs.SCSI_COMMAND) {
            task = prepareCommand();
            offset = 0;
        } else {
            task = tasks.get(bhs.getInt(Bhs.ITT));
            offset = bhs.getInt(Bhs.BUFFER_OFFSET);
            if (task != null && !checkDataOut(task, offset)) {
                task = null;
            }
        }
        if (task == null || task.buffer == null || offset != task.received || offset + dataLength > task.transfer) {
            return text.clear().limit(dataLength); // read and dropped; checkDataOut ended anything worse
        }
        dataTask = task;
        ByteBuffer region = task.buffer.bytes().duplicate();
        region.limit(offset + dataLength).position(offset);
        return region;
    }

    private void pduReceived(boolean digestOk) throws IOException, ProtocolError {
        readState = ReadState.BHS;
        lastHeard = System.nanoTime();
        ByteBuffer header = bhs;
        bhs.clear();
        header.limit(Bhs.LENGTH); // the bytes stay valid until the next read
        if (!digestOk) {
            // ERL 0: a data digest error is rejected, then the connection goes
            reject(0x02, header);
            closeAfterFlush = true;
            postFlush();
            return;
        }
        int opcode = Bhs.opcode(header);
        if (phase == Phase.LOGIN) {
            if (opcode != Bhs.LOGIN_REQUEST) {
                throw new ProtocolError("a " + Bhs.opcodeName(opcode) + " before the login ended");
            }
            login(header);
            return;
        }
        if (phase != Phase.FULL_FEATURE) {
            return;
        }
        switch (opcode) {
            case Bhs.SCSI_COMMAND -> scsiCommand(header);
            case Bhs.DATA_OUT -> dataOut(header);
            case Bhs.NOP_OUT -> nopOut(header);
            case Bhs.TEXT_REQUEST -> textRequest(header);
            case Bhs.TASK_MANAGEMENT_REQUEST -> taskManagement(header);
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

    // ================================================================== login

    private void login(ByteBuffer req) throws ProtocolError {
        int flags = Bhs.flags(req);
        boolean transit = (flags & Bhs.TRANSIT) != 0;
        boolean more = (flags & Bhs.CONTINUE) != 0;
        int csg = (flags >>> 2) & 3;
        int nsg = flags & 3;
        if (transit && more) {
            throw new ProtocolError("a Login PDU with both T and C set");
        }
        if (negotiation == null) { // the first Login PDU of the connection
            isid = Bhs.isid(req);
            cid = req.getShort(Bhs.CID) & 0xFFFF;
            expCmdSn = req.getInt(Bhs.CMD_SN);
            if ((req.get(3) & 0xFF) > 0) { // VersionMin above 0: we speak version 0 only
                loginResponse(req, 0x02, 0x05, Map.of(), false, csg, nsg);
                return;
            }
        }
        if (loginText.remaining() < text.limit()) {
            loginResponse(req, 0x02, 0x00, Map.of(), false, csg, nsg);
            return;
        }
        loginText.put(text.array(), 0, text.limit());
        if (more) {
            loginResponse(req, 0, 0, Map.of(), false, csg, nsg); // an empty response asks for the rest
            return;
        }
        Map<String, String> keys;
        try {
            keys = TextParameters.parse(loginText.array(), loginText.position());
        } catch (TextParameters.FormatException e) {
            logOnce("login-text", "login from " + peer + " refused: " + e.getMessage());
            loginResponse(req, 0x02, 0x00, Map.of(), false, csg, nsg);
            return;
        } finally {
            loginText.clear();
        }
        Map<String, String> answers = new LinkedHashMap<>();
        if (negotiation == null) {
            initiatorName = keys.get("InitiatorName");
            if (initiatorName == null || initiatorName.isBlank()) {
                loginResponse(req, 0x02, 0x07, Map.of(), false, csg, nsg); // missing parameter
                return;
            }
            discovery = "Discovery".equals(keys.getOrDefault("SessionType", "Normal"));
            if (!discovery) {
                String name = keys.get("TargetName");
                if (name == null) {
                    loginResponse(req, 0x02, 0x07, Map.of(), false, csg, nsg);
                    return;
                }
                lunTarget = target.target(name);
                if (lunTarget == null) {
                    LOG.log(Level.WARNING, "login from {0} ({1}) refused: no target {2}", initiatorName, peer, name);
                    loginResponse(req, 0x02, 0x03, Map.of(), false, csg, nsg);
                    return;
                }
                if (!lunTarget.allows(initiatorName)) {
                    LOG.log(Level.WARNING, "login from {0} ({1}) refused: not an allowed initiator of {2}",
                            initiatorName, peer, name);
                    loginResponse(req, 0x02, 0x02, Map.of(), false, csg, nsg);
                    return;
                }
                answers.put("TargetPortalGroupTag", "1");
            }
            negotiation = new Negotiation(discovery);
        }
        IscsiTarget.Chap chap = lunTarget == null ? null : lunTarget.chap();
        if (csg == 0) {
            if (chap != null) {
                Boolean done = chap(keys, chap, answers);
                if (done == null) {
                    loginResponse(req, 0x02, 0x01, Map.of(), false, csg, nsg); // authentication failure
                    return;
                }
                if (!done) {
                    loginResponse(req, 0, 0, answers, false, csg, nsg); // the exchange goes on
                    return;
                }
            } else {
                String methods = keys.get("AuthMethod");
                if (methods != null) {
                    if (!offers(methods, "None")) {
                        LOG.log(Level.WARNING, "login from {0} refused: it offers only {1}; this target has no CHAP secret",
                                initiatorName, methods);
                        loginResponse(req, 0x02, 0x01, Map.of(), false, csg, nsg);
                        return;
                    }
                    answers.put("AuthMethod", "None");
                }
            }
        } else if (csg == 1) {
            if (chap != null && chapStep != CHAP_DONE) {
                LOG.log(Level.WARNING, "login from {0} ({1}) refused: target {2} requires CHAP", initiatorName, peer,
                        lunTarget.iqn());
                loginResponse(req, 0x02, 0x01, Map.of(), false, csg, nsg);
                return;
            }
            answers.putAll(negotiation.answer(keys));
        } else {
            throw new ProtocolError("login stage " + csg);
        }
        boolean toFullFeature = transit && nsg == 3;
        if (transit && (nsg <= csg || nsg == 2)) {
            throw new ProtocolError("login transit from stage " + csg + " to " + nsg);
        }
        if (toFullFeature) {
            params = negotiation.outcome();
            tsih = target.newTsih();
        }
        loginResponse(req, 0, 0, answers, transit, csg, nsg);
        if (toFullFeature) {
            phase = Phase.FULL_FEATURE;
            headerDigest = params.headerDigest();
            dataDigest = params.dataDigest();
            target.loggedIn(this);
            LOG.log(Level.INFO, "{0} session for {1} ({2}) logged in{3}", discovery ? "discovery" : "normal",
                    initiatorName, peer, discovery ? "" : " to " + lunTarget.iqn());
            if (!discovery) {
                lun = new ScsiLun(lunTarget.device());
                reservations = target.reservations(lunTarget.device());
                nexus = String.format("%s,i,0x%012x", initiatorName, isid); // RFC 7143 §4.4.2, SPC-4 TransportID format 01
            }
        }
    }

    private static final int CHAP_DONE = 3;
    private static final java.security.SecureRandom RANDOM = new java.security.SecureRandom();
    /** 0: not started, 1: CHAP chosen, 2: challenge sent, 3: the initiator proved itself. */
    private int chapStep;
    private int chapId;
    private byte[] chapChallenge;

    private static boolean offers(String list, String value) {
        for (String v : list.split(",")) {
            if (v.strip().equals(value)) {
                return true;
            }
        }
        return false;
    }

    /**
     * One step of CHAP (RFC 7143 §12.1.3, RFC 1994, MD5): true once the initiator (and, with mutual
     * CHAP, the target) proved itself, false while the exchange goes on, null on failure.
     */
    private Boolean chap(Map<String, String> keys, IscsiTarget.Chap chap, Map<String, String> answers) {
        if (chapStep == 0) {
            String methods = keys.get("AuthMethod");
            if (methods == null || !offers(methods, "CHAP")) {
                LOG.log(Level.WARNING, "login from {0} ({1}) refused: target {2} requires CHAP, the initiator offers {3}",
                        initiatorName, peer, lunTarget.iqn(), methods == null ? "nothing" : methods);
                return null;
            }
            answers.put("AuthMethod", "CHAP");
            chapStep = 1;
            if (!keys.containsKey("CHAP_A")) {
                return false;
            }
        }
        if (chapStep == 1) {
            String algorithms = keys.get("CHAP_A");
            if (algorithms == null || !offers(algorithms, "5")) {
                LOG.log(Level.WARNING, "login from {0} refused: CHAP with MD5 (5) only, offered {1}", initiatorName, algorithms);
                return null;
            }
            chapId = RANDOM.nextInt(256);
            chapChallenge = new byte[16];
            RANDOM.nextBytes(chapChallenge);
            answers.put("CHAP_A", "5");
            answers.put("CHAP_I", String.valueOf(chapId));
            answers.put("CHAP_C", "0x" + java.util.HexFormat.of().formatHex(chapChallenge));
            chapStep = 2;
            return false;
        }
        if (chapStep == 2) {
            String name = keys.get("CHAP_N");
            byte[] response = chapValue(keys.get("CHAP_R"));
            byte[] expected = chapResponse(chapId, chap.secret(), chapChallenge);
            if (!chap.user().equals(name) || response == null || !java.security.MessageDigest.isEqual(expected, response)) {
                LOG.log(Level.WARNING, "login from {0} ({1}) refused: CHAP authentication failed for user {2}",
                        initiatorName, peer, name);
                return null;
            }
            String theirId = keys.get("CHAP_I");
            byte[] theirChallenge = chapValue(keys.get("CHAP_C"));
            if (theirId != null || theirChallenge != null) {
                if (!chap.mutual() || theirId == null || theirChallenge == null || theirChallenge.length == 0) {
                    LOG.log(Level.WARNING, "login from {0} refused: it asks for mutual CHAP, which target {1} {2}",
                            initiatorName, lunTarget.iqn(), chap.mutual() ? "got half of" : "has no secret for");
                    return null;
                }
                if (java.util.Arrays.equals(theirChallenge, chapChallenge)) {
                    LOG.log(Level.WARNING, "login from {0} refused: it reflected the target's CHAP challenge", initiatorName);
                    return null;
                }
                int id;
                try {
                    id = Integer.parseInt(theirId.strip());
                } catch (NumberFormatException e) {
                    return null;
                }
                answers.put("CHAP_N", chap.mutualUser());
                answers.put("CHAP_R", "0x" + java.util.HexFormat.of().formatHex(chapResponse(id & 0xFF, chap.mutualSecret(),
                        theirChallenge)));
            } else if (chap.mutual()) {
                LOG.log(Level.WARNING, "login from {0} refused: target {1} requires mutual CHAP", initiatorName, lunTarget.iqn());
                return null;
            }
            chapStep = CHAP_DONE;
            return true;
        }
        return true;
    }

    /** MD5(id ‖ secret ‖ challenge), RFC 1994. */
    private static byte[] chapResponse(int id, String secret, byte[] challenge) {
        try {
            java.security.MessageDigest md5 = java.security.MessageDigest.getInstance("MD5");
            md5.update((byte) id);
            md5.update(secret.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            md5.update(challenge);
            return md5.digest();
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("MD5 is missing from this JDK", e);
        }
    }

    /** A CHAP binary value: 0x-hex or 0b-base64 (RFC 7143 §6.1); null when malformed. */
    private static byte[] chapValue(String value) {
        if (value == null || value.length() < 3) {
            return null;
        }
        try {
            String body = value.substring(2);
            if (value.startsWith("0x") || value.startsWith("0X")) {
                return java.util.HexFormat.of().parseHex(body.length() % 2 == 0 ? body : "0" + body);
            }
            if (value.startsWith("0b") || value.startsWith("0B")) {
                return java.util.Base64.getDecoder().decode(body);
            }
        } catch (IllegalArgumentException e) {
            return null;
        }
        return null;
    }

    private void loginResponse(ByteBuffer req, int statusClass, int statusDetail, Map<String, String> keys,
                               boolean transit, int csg, int nsg) {
        byte[] data = TextParameters.encode(keys);
        ByteBuffer rsp = newHeader(Bhs.LOGIN_RESPONSE, data.length);
        int flags = (csg << 2) | (transit && statusClass == 0 ? Bhs.TRANSIT | nsg : 0);
        rsp.put(1, (byte) flags);
        rsp.put(Bhs.ISID, req, Bhs.ISID, 6);
        rsp.putShort(Bhs.TSIH, (short) (statusClass == 0 && transit && nsg == 3 ? tsih : 0));
        rsp.putInt(Bhs.ITT, req.getInt(Bhs.ITT));
        numbers(rsp, true);
        rsp.put(Bhs.STATUS_CLASS, (byte) statusClass);
        rsp.put(Bhs.STATUS_DETAIL, (byte) statusDetail);
        send(rsp, ByteBuffer.wrap(data));
        if (statusClass != 0) {
            closeAfterFlush = true;
        }
        postFlush();
    }

    // ================================================================== SCSI

    /**
     * A SCSI Command's BHS is in {@code bhs}; before its immediate data is read: checks the CmdSN
     * and makes the task (with a buffer for write data) so the data can land in place.
     */
    private Task prepareCommand() {
        if (tasks.containsKey(bhs.getInt(Bhs.ITT))) {
            return null; // a task in progress has this tag: scsiCommand rejects the command, its data is dropped
        }
        Task task = newTask(bhs);
        tasks.put(task.itt, task);
        prepared = task;
        return task.buffer != null && task.write ? task : null;
    }

    private Task newTask(ByteBuffer req) {
        Task t = freeTasks.pollFirst();
        if (t == null) {
            t = new Task(this);
        } else {
            t.reset();
        }
        t.itt = req.getInt(Bhs.ITT);
        t.cmdSn = req.getInt(Bhs.CMD_SN);
        req.get(Bhs.CDB, t.cdb, 0, 16);
        t.opcode = t.cdb[0] & 0xFF;
        int flags = Bhs.flags(req);
        t.read = (flags & Bhs.READ) != 0;
        t.write = (flags & Bhs.WRITE) != 0;
        t.expectedLength = req.getInt(Bhs.EXPECTED_LENGTH);
        if (lun != null && t.opcode == ScsiLun.COMPARE_AND_WRITE) {
            t.dataOut = true;
            t.lba = Cdb.lba(t.cdb);
            t.blocks = t.cdb[13] & 0xFF;
            t.cdbLength = 2L * t.blocks * lun.device().blockSize(); // verify data, then write data
            long edtl = Integer.toUnsignedLong(t.expectedLength);
            if (edtl > 0 && edtl <= ScsiLun.MAX_TRANSFER_BYTES) {
                t.transfer = (int) edtl;
                t.buffer = buffers.allocate(Math.max(t.transfer, lun.device().blockSize()));
            }
            return t;
        }
        if (lun != null && (t.opcode == ScsiLun.WRITE_SAME_10 || t.opcode == ScsiLun.WRITE_SAME_16)) {
            t.dataOut = true;
            t.lba = Cdb.lba(t.cdb);
            t.blocks = (int) Math.min(Cdb.transferLength(t.cdb), Integer.MAX_VALUE);
            t.cdbLength = lun.device().blockSize(); // one block of data, whatever the range
            long edtl = Integer.toUnsignedLong(t.expectedLength);
            if (edtl > 0 && edtl <= 64 * 1024) {
                t.transfer = (int) edtl;
                t.buffer = buffers.allocate(Math.max(t.transfer, lun.device().blockSize()));
            }
            return t;
        }
        if (lun != null && (t.opcode == ScsiLun.MODE_SELECT_6 || t.opcode == ScsiLun.MODE_SELECT_10
                || t.opcode == ScsiLun.PERSISTENT_RESERVE_OUT)) {
            t.dataOut = true;
            long edtl = Integer.toUnsignedLong(t.expectedLength);
            if (edtl > 0 && edtl <= 64 * 1024) {
                t.transfer = (int) edtl;
                t.buffer = buffers.allocate(Math.max(t.transfer, 512));
            }
            return t;
        }
        if (lun != null && t.opcode == ScsiLun.UNMAP) {
            t.dataOut = true;
            long edtl = Integer.toUnsignedLong(t.expectedLength);
            if (edtl > 0 && edtl <= 64 * 1024) {
                t.transfer = (int) edtl;
                t.buffer = buffers.allocate(Math.max(t.transfer, 512));
            }
            return t;
        }
        if (lun != null && isMedia(t.opcode)) {
            t.lba = Cdb.lba(t.cdb);
            long blocks = Cdb.transferLength(t.cdb);
            if (t.opcode == ScsiLun.READ_6 || t.opcode == ScsiLun.WRITE_6) {
                blocks = (t.cdb[4] & 0xFF) == 0 ? 256 : t.cdb[4] & 0xFF;
            }
            t.cdbLength = blocks * lun.device().blockSize();
            t.blocks = (int) Math.min(blocks, Integer.MAX_VALUE);
            t.dataOut = isWrite(t.opcode) || isWriteVerify(t.opcode) || isVerify(t.opcode) && bytchk(t) == 1;
            if (isVerify(t.opcode) && bytchk(t) != 1) {
                return t; // no data moves
            }
            boolean writeOp = t.dataOut;
            long edtl = Integer.toUnsignedLong(t.expectedLength);
            // a write moves the whole blocks the initiator sent; a read reads every block the CDB asks
            // for and sends as much of it as the initiator expects
            long io = writeOp ? Math.min(t.cdbLength, edtl) / lun.device().blockSize() * lun.device().blockSize()
                    : t.cdbLength;
            long wire = writeOp ? edtl : Math.min(t.cdbLength, edtl);
            if (wire <= ScsiLun.MAX_TRANSFER_BYTES && t.cdbLength <= ScsiLun.MAX_TRANSFER_BYTES && wire > 0
                    && Cdb.inRange(t.lba, blocks, lun.device().blockCount())) {
                t.transfer = (int) wire;
                t.ioBytes = (int) io;
                t.buffer = buffers.allocate((int) Math.max(Math.max(wire, io), lun.device().blockSize()));
            }
        }
        return t;
    }

    private static boolean isMedia(int opcode) {
        return switch (opcode) {
            case ScsiLun.READ_6, ScsiLun.READ_10, ScsiLun.READ_12, ScsiLun.READ_16,
                 ScsiLun.WRITE_6, ScsiLun.WRITE_10, ScsiLun.WRITE_12, ScsiLun.WRITE_16,
                 ScsiLun.VERIFY_10, ScsiLun.VERIFY_12, ScsiLun.VERIFY_16,
                 ScsiLun.WRITE_VERIFY_10, ScsiLun.WRITE_VERIFY_12, ScsiLun.WRITE_VERIFY_16 -> true;
            default -> false;
        };
    }

    private static boolean isVerify(int opcode) {
        return opcode == ScsiLun.VERIFY_10 || opcode == ScsiLun.VERIFY_12 || opcode == ScsiLun.VERIFY_16;
    }

    private static boolean isWriteVerify(int opcode) {
        return opcode == ScsiLun.WRITE_VERIFY_10 || opcode == ScsiLun.WRITE_VERIFY_12 || opcode == ScsiLun.WRITE_VERIFY_16;
    }

    /** BYTCHK of VERIFY (SBC-4 byte 1 bits 1-2): 0 check the medium only, 1 compare with the data sent. */
    private static int bytchk(Task t) {
        return (t.cdb[1] >>> 1) & 3;
    }

    private static boolean isWrite(int opcode) {
        return opcode == ScsiLun.WRITE_6 || opcode == ScsiLun.WRITE_10 || opcode == ScsiLun.WRITE_12
                || opcode == ScsiLun.WRITE_16;
    }

    private void scsiCommand(ByteBuffer req) {
        Task task = prepared;
        prepared = null;
        if (task == null) {
            if (tasks.containsKey(req.getInt(Bhs.ITT))) { // RFC 7143 §11.17.1: reason 0x07, Task in progress
                if (acceptCmdSn(req)) {
                    logOnce("itt", "a command reuses the tag of a task in progress: rejected");
                    reject(0x07, req);
                }
                return;
            }
            task = newTask(req);
            tasks.put(task.itt, task);
        }
        if (!acceptCmdSn(req)) {
            tasks.remove(task.itt);
            task.release();
            return;
        }
        if (dataTask == task) {
            task.received = dataLength;
        }
        if (lun == null) {
            respond(task, Sense.CHECK_CONDITION, Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.LOGICAL_UNIT_NOT_SUPPORTED), 0);
            return;
        }
        if (Bhs.lun(req) != 0) {
            respond(task, Sense.CHECK_CONDITION, Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.LOGICAL_UNIT_NOT_SUPPORTED), 0);
            return;
        }
        if (reservations.conflicts(nexus, task.cdb)) {
            respond(task, Sense.RESERVATION_CONFLICT, null, 0);
            return;
        }
        if (pendingUnitAttention != 0 && task.opcode != ScsiLun.INQUIRY && task.opcode != ScsiLun.REPORT_LUNS) {
            byte[] ua = Sense.fixed(Sense.UNIT_ATTENTION, pendingUnitAttention);
            pendingUnitAttention = 0;
            if (task.opcode == ScsiLun.REQUEST_SENSE) { // reports the attention and clears it
                dataIn(task, ByteBuffer.wrap(truncate(ua, Cdb.u8(task.cdb, 4))), Math.min(ua.length, Cdb.u8(task.cdb, 4)),
                        Math.min(ua.length, Cdb.u8(task.cdb, 4)));
            } else {
                respond(task, Sense.CHECK_CONDITION, ua, 0);
            }
            return;
        }
        if (isMedia(task.opcode)) {
            media(task, req);
            return;
        }
        if (task.opcode == ScsiLun.UNMAP) {
            unmap(task, req);
            return;
        }
        if (task.opcode == ScsiLun.WRITE_SAME_10 || task.opcode == ScsiLun.WRITE_SAME_16) {
            writeSame(task, req);
            return;
        }
        if (task.opcode == ScsiLun.COMPARE_AND_WRITE) {
            compareAndWriteCommand(task, req);
            return;
        }
        if (task.opcode == ScsiLun.PERSISTENT_RESERVE_OUT) {
            if (task.buffer == null || Cdb.u32(task.cdb, 5) == 0) { // no parameter list to wait for
                persistentReserveOut(task);
            } else {
                expectData(task, req);
            }
            return;
        }
        if (task.opcode == ScsiLun.MODE_SELECT_6 || task.opcode == ScsiLun.MODE_SELECT_10) {
            if ((task.cdb[1] & 0x01) != 0) { // SP: nothing is saved
                respond(task, Sense.CHECK_CONDITION, Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 1, 0), 0);
                return;
            }
            int listLength = task.opcode == ScsiLun.MODE_SELECT_6 ? Cdb.u8(task.cdb, 4) : Cdb.u16(task.cdb, 7);
            if (listLength == 0 || task.expectedLength == 0) {
                respond(task, Sense.GOOD, null, 0);
                return;
            }
            if (task.buffer == null) {
                respond(task, Sense.CHECK_CONDITION, Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.PARAMETER_LIST_LENGTH_ERROR), 0);
                return;
            }
            expectData(task, req);
            return;
        }
        try {
            byte[] data = switch (task.opcode) {
                case ScsiLun.TEST_UNIT_READY, ScsiLun.START_STOP_UNIT -> null;
                case ScsiLun.RESERVE_6, ScsiLun.RESERVE_10 -> {
                    if (task.opcode == ScsiLun.RESERVE_6 ? (task.cdb[1] & 0x1F) != 0 : (task.cdb[1] & 0x13) != 0) {
                        throw new ScsiLun.Check(Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 1, -1)); // third party, extents
                    }
                    if (!reservations.reserve(nexus)) {
                        respond(task, Sense.RESERVATION_CONFLICT, null, 0);
                        yield new byte[0];
                    }
                    yield null;
                }
                case ScsiLun.RELEASE_6, ScsiLun.RELEASE_10 -> {
                    if (!reservations.release(nexus)) { // a non-holder's release changes nothing, and is GOOD
                        respond(task, Sense.RESERVATION_CONFLICT, null, 0);
                        yield new byte[0];
                    }
                    yield null;
                }
                case ScsiLun.PERSISTENT_RESERVE_IN -> truncate(reservations.in(task.cdb), Cdb.u16(task.cdb, 7));
                case ScsiLun.INQUIRY -> truncate(lun.inquiry(task.cdb), Cdb.u16(task.cdb, 3));
                case ScsiLun.READ_CAPACITY_10 -> lun.readCapacity10(task.cdb);
                case ScsiLun.SERVICE_ACTION_IN_16 -> switch (task.cdb[1] & 0x1F) {
                    case ScsiLun.READ_CAPACITY_16 -> truncate(lun.readCapacity16(), Cdb.u32(task.cdb, 10));
                    case ScsiLun.GET_LBA_STATUS -> truncate(lun.getLbaStatus(task.cdb), Cdb.u32(task.cdb, 10));
                    default -> throw new ScsiLun.Check(Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 1, 4));
                };
                case ScsiLun.MODE_SENSE_6 -> truncate(lun.modeSense(task.cdb), Cdb.u8(task.cdb, 4));
                case ScsiLun.MODE_SENSE_10 -> truncate(lun.modeSense(task.cdb), Cdb.u16(task.cdb, 7));
                case ScsiLun.REPORT_LUNS -> truncate(lun.reportLuns(task.cdb), Cdb.u32(task.cdb, 6));
                case ScsiLun.REQUEST_SENSE -> truncate(lun.requestSense(task.cdb), Cdb.u8(task.cdb, 4));
                case ScsiLun.SYNCHRONIZE_CACHE_10, ScsiLun.SYNCHRONIZE_CACHE_16 -> {
                    task.submitted = true;
                    lun.device().flush(task, task);
                    yield new byte[0];
                }
                default -> {
                    // initiators probe for optional commands: worth a debug line, not a warning
                    LOG.log(Level.DEBUG, "{0}: SCSI opcode 0x{1} is not supported", peer, Integer.toHexString(task.opcode));
                    throw new ScsiLun.Check(Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.INVALID_COMMAND_OPERATION_CODE));
                }
            };
            if (data == null) {
                respond(task, Sense.GOOD, null, 0);
            } else if (task.opcode != ScsiLun.SYNCHRONIZE_CACHE_10 && task.opcode != ScsiLun.SYNCHRONIZE_CACHE_16
                    && task.opcode != ScsiLun.RESERVE_6 && task.opcode != ScsiLun.RESERVE_10
                    && task.opcode != ScsiLun.RELEASE_6 && task.opcode != ScsiLun.RELEASE_10) {
                dataIn(task, ByteBuffer.wrap(data), data.length, data.length);
            }
        } catch (ScsiLun.Check c) {
            respond(task, Sense.CHECK_CONDITION, c.sense(), 0);
        }
    }

    /** This session's I_T nexus, or null before a normal session's login. */
    String nexus() {
        return nexus;
    }

    private static byte[] truncate(byte[] data, long allocation) {
        return allocation >= data.length ? data : java.util.Arrays.copyOf(data, (int) allocation);
    }

    /** CmdSN in order; outside the window dropped without a word (RFC 7143 §4.2.2.1). */
    private boolean acceptCmdSn(ByteBuffer req) {
        int cmdSn = req.getInt(Bhs.CMD_SN);
        if (Bhs.immediate(req)) {
            return true;
        }
        if (cmdSn == expCmdSn) {
            expCmdSn++;
            return true;
        }
        logOnce("cmdsn", "dropped a command with CmdSN " + Integer.toUnsignedString(cmdSn) + " (expected "
                + Integer.toUnsignedString(expCmdSn) + ")");
        return false;
    }

    private void media(Task task, ByteBuffer req) {
        BlockDevice device = lun.device();
        long blocks = task.cdbLength / device.blockSize();
        boolean writeOp = task.dataOut;
        if (!Cdb.inRange(task.lba, blocks, device.blockCount())) {
            respond(task, Sense.CHECK_CONDITION, Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.LBA_OUT_OF_RANGE), 0);
            return;
        }
        if (task.cdbLength > ScsiLun.MAX_TRANSFER_BYTES) {
            respond(task, Sense.CHECK_CONDITION, Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 7, -1), 0);
            return;
        }
        if (task.cdbLength == 0 || task.expectedLength == 0) {
            respond(task, Sense.GOOD, null, 0);
            return;
        }
        if ((task.cdb[1] & 0xE0) != 0 && task.opcode != ScsiLun.READ_6 && task.opcode != ScsiLun.WRITE_6) {
            // RDPROTECT / WRPROTECT: the LUN has no protection information
            respond(task, Sense.CHECK_CONDITION, Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 1, 7), 0);
            return;
        }
        if (isVerify(task.opcode) && bytchk(task) > 1) {
            respond(task, Sense.CHECK_CONDITION, Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 1, 2), 0);
            return;
        }
        if (isVerify(task.opcode) && bytchk(task) == 0) {
            respond(task, Sense.GOOD, null, 0); // the range is there; the medium is RAM or a file
            return;
        }
        task.fua = isWrite(task.opcode) && task.opcode != ScsiLun.WRITE_6 && (task.cdb[1] & 0x08) != 0;
        if (task.buffer == null) {
            respond(task, Sense.BUSY, null, 0); // the buffer pool is exhausted: the initiator retries
            return;
        }
        task.blocks = task.ioBytes / device.blockSize();
        if (!writeOp) {
            if (task.blocks == 0) {
                respond(task, Sense.GOOD, null, 0);
                return;
            }
            task.submitted = true;
            device.read(task.buffer, 0, task.lba, task.blocks, task, task);
            return;
        }
        expectData(task, req);
    }

    /** UNMAP (SBC-3 §5.28): the parameter list comes as data-out; the ranges are unmapped one by one. */
    private void unmap(Task task, ByteBuffer req) {
        if (!lun.provisioning()) {
            respond(task, Sense.CHECK_CONDITION, Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.INVALID_COMMAND_OPERATION_CODE), 0);
            return;
        }
        if ((task.cdb[1] & 0x01) != 0) { // ANCHOR: no anchored state here
            respond(task, Sense.CHECK_CONDITION, Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 1, 0), 0);
            return;
        }
        if (Cdb.u16(task.cdb, 7) == 0 || task.expectedLength == 0) {
            respond(task, Sense.GOOD, null, 0);
            return;
        }
        if (task.buffer == null) {
            respond(task, Sense.CHECK_CONDITION, Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.PARAMETER_LIST_LENGTH_ERROR), 0);
            return;
        }
        expectData(task, req);
    }

    /** The UNMAP parameter list is in: checks every range first, then unmaps them. */
    private void unmapList(Task task) {
        ByteBuffer list = task.buffer.bytes().duplicate().order(java.nio.ByteOrder.BIG_ENDIAN);
        int length = Math.min(task.received, Cdb.u16(task.cdb, 7));
        if (length < 8) {
            respond(task, Sense.CHECK_CONDITION, Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.PARAMETER_LIST_LENGTH_ERROR), 0);
            return;
        }
        int descriptors = Math.min(list.getShort(2) & 0xFFFF, length - 8) / 16;
        if (descriptors > ScsiLun.MAX_UNMAP_DESCRIPTORS) {
            respond(task, Sense.CHECK_CONDITION, Sense.illegal(Sense.INVALID_FIELD_IN_PARAMETER_LIST, false, 2, -1), 0);
            return;
        }
        long capacity = lun.device().blockCount();
        task.ranges = new long[descriptors * 2];
        for (int i = 0; i < descriptors; i++) {
            long lba = list.getLong(8 + 16 * i);
            long count = list.getInt(16 + 16 * i) & 0xFFFFFFFFL;
            if (!Cdb.inRange(lba, count, capacity)) {
                respond(task, Sense.CHECK_CONDITION, Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.LBA_OUT_OF_RANGE), 0);
                return;
            }
            if (count > ScsiLun.MAX_UNMAP_BLOCKS) {
                respond(task, Sense.CHECK_CONDITION,
                        Sense.illegal(Sense.INVALID_FIELD_IN_PARAMETER_LIST, false, 16 + 16 * i, -1), 0);
                return;
            }
            task.ranges[2 * i] = lba;
            task.ranges[2 * i + 1] = count;
        }
        task.step = 0;
        nextUnmap(task);
    }

    private void nextUnmap(Task task) {
        while (task.step < task.ranges.length / 2 && task.ranges[2 * task.step + 1] == 0) {
            task.step++;
        }
        if (task.step == task.ranges.length / 2) {
            respond(task, Sense.GOOD, null, task.received);
            return;
        }
        task.submitted = true;
        lun.device().unmap(task.ranges[2 * task.step], task.ranges[2 * task.step + 1], task, task);
    }

    /**
     * WRITE SAME (10)/(16), SBC-3 §5.42/5.43: one block of data written over a range. No UNMAP or
     * ANCHOR (VPD B2 says LBPWS = 0), no zero-length form (WSNZ), at most MAX WRITE SAME LENGTH
     * blocks. A block of zeros becomes the bdev's write-zeroes.
     */
    private void writeSame(Task task, ByteBuffer req) {
        BlockDevice device = lun.device();
        long lba = Cdb.lba(task.cdb);
        long blocks = Cdb.transferLength(task.cdb);
        if ((task.cdb[1] & 0xE0) != 0) {
            respond(task, Sense.CHECK_CONDITION, Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 1, 7), 0);
            return;
        }
        if ((task.cdb[1] & 0x18) != 0 || task.opcode == ScsiLun.WRITE_SAME_16 && (task.cdb[1] & 0x01) != 0) {
            respond(task, Sense.CHECK_CONDITION, Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 1, 3), 0); // UNMAP, ANCHOR, NDOB
            return;
        }
        if (!Cdb.inRange(lba, blocks, device.blockCount())) {
            respond(task, Sense.CHECK_CONDITION, Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.LBA_OUT_OF_RANGE), 0);
            return;
        }
        if (blocks == 0 || blocks > ScsiLun.MAX_WRITE_SAME_BLOCKS) {
            respond(task, Sense.CHECK_CONDITION,
                    Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, task.opcode == ScsiLun.WRITE_SAME_10 ? 7 : 10, -1), 0);
            return;
        }
        if (task.buffer == null || task.expectedLength != device.blockSize()) {
            respond(task, Sense.CHECK_CONDITION, Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.INVALID_FIELD_IN_CDB), 0);
            return;
        }
        task.lba = lba;
        task.sameLeft = blocks;
        expectData(task, req);
    }

    /** The block is in: zeros go as write-zeroes; any other pattern is copied over a buffer and written chunk by chunk. */
    private void startWriteSame(Task task) {
        int bs = lun.device().blockSize();
        ByteBuffer block = task.buffer.bytes().duplicate().limit(bs).position(0);
        task.sameZeroes = block.mismatch(ByteBuffer.allocate(bs)) < 0;
        if (task.sameZeroes) {
            task.submitted = true;
            task.sameChunk = (int) task.sameLeft;
            task.sameLeft = 0;
            lun.device().writeZeroes(task.lba, task.sameChunk, task, task);
            return;
        }
        int chunkBlocks = (int) Math.min(task.sameLeft, ScsiLun.MAX_TRANSFER_BYTES / bs);
        DmaBuffer pattern = buffers.allocate(chunkBlocks * bs);
        if (pattern == null) {
            respond(task, Sense.BUSY, null, 0);
            return;
        }
        for (int i = 0; i < chunkBlocks; i++) {
            pattern.bytes().put(i * bs, task.buffer.bytes(), 0, bs);
        }
        task.compare = pattern; // released with the task
        nextWriteSame(task);
    }

    private void nextWriteSame(Task task) {
        if (task.sameLeft == 0) {
            respond(task, Sense.GOOD, null, task.received);
            return;
        }
        int bs = lun.device().blockSize();
        task.sameChunk = (int) Math.min(task.sameLeft, task.compare.bytes().capacity() / bs);
        task.sameLeft -= task.sameChunk;
        task.submitted = true;
        lun.device().write(task.compare, 0, task.lba, task.sameChunk, task, task);
    }

    /** COMPARE AND WRITE (SBC-3 §5.2): checks, then the 2 × NLB blocks of data come in. */
    private void compareAndWriteCommand(Task task, ByteBuffer req) {
        BlockDevice device = lun.device();
        int maxBlocks = Math.min(ScsiLun.MAX_COMPARE_AND_WRITE_BLOCKS, ScsiLun.MAX_TRANSFER_BYTES / 2 / device.blockSize());
        if ((task.cdb[1] & 0xE0) != 0) {
            respond(task, Sense.CHECK_CONDITION, Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 1, 7), 0);
            return;
        }
        if (task.blocks > maxBlocks) {
            respond(task, Sense.CHECK_CONDITION, Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 13, -1), 0);
            return;
        }
        if (!Cdb.inRange(task.lba, task.blocks, device.blockCount())) {
            respond(task, Sense.CHECK_CONDITION, Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.LBA_OUT_OF_RANGE), 0);
            return;
        }
        if (task.blocks == 0) { // nothing to do; but data for it means the CDB meant more (256 wraps to 0)
            respond(task, task.expectedLength == 0 ? Sense.GOOD : Sense.CHECK_CONDITION,
                    task.expectedLength == 0 ? null : Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 13, -1), 0);
            return;
        }
        if (task.buffer == null || Integer.toUnsignedLong(task.expectedLength) != task.cdbLength) {
            respond(task, Sense.CHECK_CONDITION, Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.INVALID_FIELD_IN_CDB), 0);
            return;
        }
        task.fua = (task.cdb[1] & 0x08) != 0;
        expectData(task, req);
    }

    /** On this reactor, holding the LUN's atomic section: read, compare, and write if equal. */
    void compareAndWrite(Task task) {
        if (phase == Phase.CLOSED || task.aborted) {
            target.atomicSection(lun.device()).leave();
            tasks.remove(task.itt);
            task.release();
            return;
        }
        int bytes = task.blocks * lun.device().blockSize();
        task.compare = buffers.allocate(bytes);
        if (task.compare == null) {
            target.atomicSection(lun.device()).leave();
            respond(task, Sense.BUSY, null, 0);
            return;
        }
        task.cawStage = 1;
        task.submitted = true;
        lun.device().read(task.compare, 0, task.lba, task.blocks, task, task);
    }

    /** A COMPARE AND WRITE step came back from the bdev. */
    private void compareAndWriteDone(Task task) {
        int bytes = task.blocks * lun.device().blockSize();
        if (task.cawStage == 1 && task.ioStatus == IoStatus.SUCCESS) {
            ByteBuffer expected = task.buffer.bytes().duplicate().limit(bytes).position(0);
            ByteBuffer medium = task.compare.bytes().duplicate().limit(bytes).position(0);
            int at = expected.mismatch(medium);
            if (at >= 0) {
                target.atomicSection(lun.device()).leave();
                byte[] sense = Sense.fixed(Sense.MISCOMPARE, Sense.MISCOMPARE_DURING_VERIFY);
                sense[0] |= (byte) 0x80; // VALID: INFORMATION holds the offset of the first difference
                sense[3] = (byte) (at >>> 24);
                sense[4] = (byte) (at >>> 16);
                sense[5] = (byte) (at >>> 8);
                sense[6] = (byte) at;
                respond(task, Sense.CHECK_CONDITION, sense, 0);
                return;
            }
            task.cawStage = 2;
            task.compare.bytes().put(0, task.buffer.bytes(), bytes, bytes); // the write half, block aligned
            lun.device().write(task.compare, 0, task.lba, task.blocks, task, task);
            return;
        }
        target.atomicSection(lun.device()).leave();
        if (task.ioStatus != IoStatus.SUCCESS) {
            respond(task, Sense.CHECK_CONDITION, Sense.fixed(Sense.MEDIUM_ERROR,
                    task.cawStage == 1 ? Sense.UNRECOVERED_READ_ERROR : Sense.WRITE_ERROR), 0);
            return;
        }
        if (task.fua) {
            task.fua = false;
            task.cawStage = 3;
            lun.device().flush(task, task);
            return;
        }
        respond(task, Sense.GOOD, null, task.received);
    }

    /**
     * The command's data-out phase: what may still come unsolicited (InitialR2T=No, up to
     * FirstBurstLength, unless the command PDU said F), then R2Ts for the rest.
     */
    private void expectData(Task task, ByteBuffer req) {
        boolean finalPdu = (Bhs.flags(req) & Bhs.FINAL) != 0;
        task.unsolicitedLeft = params.initialR2T() || finalPdu ? 0
                : Math.max(0, Math.min(params.firstBurst(), task.transfer) - task.received);
        continueWrite(task);
    }

    /** PERSISTENT RESERVE OUT with its parameter list in (or none sent, which it reports as a length error). */
    private void persistentReserveOut(Task task) {
        int length = task.buffer == null ? 0 : Math.min(task.received, (int) Math.min(Cdb.u32(task.cdb, 5), Integer.MAX_VALUE));
        ByteBuffer list = task.buffer == null ? ByteBuffer.allocate(0)
                : task.buffer.bytes().duplicate().order(java.nio.ByteOrder.BIG_ENDIAN);
        try {
            int status = reservations.out(nexus, task.cdb, list, length);
            respond(task, status, null, task.received);
        } catch (ScsiLun.Check c) {
            respond(task, Sense.CHECK_CONDITION, c.sense(), 0);
        }
    }

    /** Issues the next R2T, or the write once every byte is in. */
    private void continueWrite(Task task) {
        if (task.received >= task.transfer && task.opcode == ScsiLun.PERSISTENT_RESERVE_OUT) {
            persistentReserveOut(task);
            return;
        }
        if (task.received >= task.transfer && (task.opcode == ScsiLun.MODE_SELECT_6 || task.opcode == ScsiLun.MODE_SELECT_10)) {
            int listLength = task.opcode == ScsiLun.MODE_SELECT_6 ? Cdb.u8(task.cdb, 4) : Cdb.u16(task.cdb, 7);
            try {
                lun.modeSelect(task.cdb, task.buffer.bytes().duplicate().order(java.nio.ByteOrder.BIG_ENDIAN),
                        Math.min(listLength, task.received));
                respond(task, Sense.GOOD, null, task.received);
            } catch (ScsiLun.Check c) {
                respond(task, Sense.CHECK_CONDITION, c.sense(), 0);
            }
            return;
        }
        if (task.received >= task.transfer && task.opcode == ScsiLun.COMPARE_AND_WRITE) {
            target.atomicSection(lun.device()).enter(task);
            return;
        }
        if (task.received >= task.transfer && task.opcode == ScsiLun.UNMAP) {
            unmapList(task);
            return;
        }
        if (task.received >= task.transfer && (task.opcode == ScsiLun.WRITE_SAME_10 || task.opcode == ScsiLun.WRITE_SAME_16)) {
            startWriteSame(task);
            return;
        }
        if (task.received >= task.transfer) {
            task.blocks = task.ioBytes / lun.device().blockSize();
            if (task.blocks == 0) {
                respond(task, Sense.GOOD, null, 0);
                return;
            }
            task.submitted = true;
            if (isVerify(task.opcode)) { // BYTCHK 1: read the medium and compare
                task.compare = buffers.allocate(task.ioBytes);
                if (task.compare == null) {
                    task.submitted = false;
                    respond(task, Sense.BUSY, null, 0);
                    return;
                }
                task.comparing = true;
                lun.device().read(task.compare, 0, task.lba, task.blocks, task, task);
                return;
            }
            lun.device().write(task.buffer, 0, task.lba, task.blocks, task, task);
            return;
        }
        if (task.unsolicitedLeft > 0 || task.ttt != -1) {
            return; // unsolicited data, or the answer to an R2T, is on its way
        }
        task.ttt = nextTtt++ & 0x7FFFFFFF;
        task.r2tOffset = task.received;
        task.r2tLength = Math.min(task.transfer - task.received, params.maxBurst());
        task.nextDataSn = 0;
        byTtt.put(task.ttt, task);
        ByteBuffer r2t = newHeader(Bhs.R2T, 0);
        r2t.put(1, (byte) Bhs.FINAL);
        r2t.putInt(Bhs.ITT, task.itt);
        r2t.putInt(Bhs.TTT, task.ttt);
        numbers(r2t, false);
        r2t.putInt(Bhs.DATA_SN, task.r2tsn++);
        r2t.putInt(Bhs.BUFFER_OFFSET, task.r2tOffset);
        r2t.putInt(Bhs.DESIRED_LENGTH, task.r2tLength);
        send(r2t, null);
        postFlush();
    }

    /** Checks a Data-Out against its task before its data is read; false drops the data. */
    private boolean checkDataOut(Task task, int offset) throws ProtocolError {
        int ttt = bhs.getInt(Bhs.TTT);
        int dataSn = bhs.getInt(Bhs.DATA_SN);
        if (ttt == Bhs.RESERVED_TAG) {
            if (task.unsolicitedLeft < dataLength) {
                throw new ProtocolError("unsolicited data beyond FirstBurstLength for task " + Integer.toHexString(task.itt));
            }
        } else if (ttt != task.ttt || offset < task.r2tOffset || offset + dataLength > task.r2tOffset + task.r2tLength) {
            throw new ProtocolError("Data-Out for tag " + Integer.toHexString(ttt) + " at offset " + offset
                    + " does not match the R2T of task " + Integer.toHexString(task.itt));
        }
        if (dataSn != task.nextDataSn) {
            // the data is out of order: the task fails (CHECK CONDITION), the connection goes on
            logOnce("datasn", "Data-Out DataSN " + Integer.toUnsignedString(dataSn) + " where " + task.nextDataSn
                    + " was due (task " + Integer.toHexString(task.itt) + "): the command fails");
            task.dataError = true;
            return false;
        }
        return !task.aborted && !task.dataError;
    }

    private void dataOut(ByteBuffer req) throws ProtocolError {
        Task task = tasks.get(req.getInt(Bhs.ITT));
        if (task == null) {
            logOnce("dataout", "Data-Out for unknown task " + Integer.toHexString(req.getInt(Bhs.ITT)) + ": dropped");
            return;
        }
        if (dataTask == task) {
            task.received += dataLength;
        }
        task.nextDataSn++;
        boolean last = (Bhs.flags(req) & Bhs.FINAL) != 0;
        if (req.getInt(Bhs.TTT) == Bhs.RESERVED_TAG) {
            task.unsolicitedLeft = last ? 0 : task.unsolicitedLeft - dataLength;
            if (last) {
                task.nextDataSn = 0;
            }
        } else if (last || task.received >= task.r2tOffset + task.r2tLength) {
            byTtt.remove(task.ttt);
            task.ttt = -1;
        }
        if (task.aborted) {
            return;
        }
        if (task.dataError) {
            byTtt.remove(task.ttt);
            task.ttt = -1;
            respond(task, Sense.CHECK_CONDITION, Sense.fixed(Sense.ABORTED_COMMAND, Sense.DATA_PHASE_ERROR), 0);
            return;
        }
        continueWrite(task);
    }

    /** From the bdev, on this reactor. */
    void bdevDone(Task task) {
        task.submitted = false; // the bdev is done with it (a next step submits it again)
        if (task.opcode == ScsiLun.COMPARE_AND_WRITE && task.cawStage == 3) {
            if (phase == Phase.CLOSED || task.aborted) {
                tasks.remove(task.itt);
                task.release();
            } else {
                respond(task, task.ioStatus == IoStatus.SUCCESS ? Sense.GOOD : Sense.CHECK_CONDITION,
                        task.ioStatus == IoStatus.SUCCESS ? null : Sense.fixed(Sense.MEDIUM_ERROR, Sense.WRITE_ERROR),
                        task.received);
            }
            return;
        }
        if (task.opcode == ScsiLun.COMPARE_AND_WRITE && (phase == Phase.CLOSED || task.aborted)) {
            target.atomicSection(lun.device()).leave(); // stage 1 or 2 held the LUN
            tasks.remove(task.itt);
            task.release();
            return;
        }
        if (task.opcode == ScsiLun.COMPARE_AND_WRITE) {
            compareAndWriteDone(task);
            return;
        }
        if (phase == Phase.CLOSED || task.aborted) {
            tasks.remove(task.itt);
            task.release();
            return;
        }
        if (task.ioStatus != IoStatus.SUCCESS) {
            int asc = switch (task.ioStatus) {
                case LBA_OUT_OF_RANGE -> Sense.LBA_OUT_OF_RANGE;
                case NO_SPACE -> Sense.SPACE_ALLOCATION_FAILED;
                default -> !task.dataOut || task.comparing ? Sense.UNRECOVERED_READ_ERROR : Sense.WRITE_ERROR;
            };
            int key = task.ioStatus == IoStatus.NO_SPACE ? Sense.DATA_PROTECT
                    : task.ioStatus == IoStatus.LBA_OUT_OF_RANGE ? Sense.ILLEGAL_REQUEST : Sense.MEDIUM_ERROR;
            logOnce("io" + task.ioStatus, "bdev I/O failed: " + task.ioStatus);
            respond(task, Sense.CHECK_CONDITION, Sense.fixed(key, asc), 0);
            return;
        }
        if (task.opcode == ScsiLun.UNMAP) {
            task.step++;
            nextUnmap(task);
            return;
        }
        if (task.opcode == ScsiLun.WRITE_SAME_10 || task.opcode == ScsiLun.WRITE_SAME_16) {
            task.lba += task.sameChunk;
            if (task.sameZeroes) {
                respond(task, Sense.GOOD, null, task.received);
            } else {
                nextWriteSame(task);
            }
            return;
        }
        if (task.comparing) {
            ByteBuffer sent = task.buffer.bytes().duplicate().limit(task.ioBytes).position(0);
            ByteBuffer medium = task.compare.bytes().duplicate().limit(task.ioBytes).position(0);
            if (sent.mismatch(medium) >= 0) {
                respond(task, Sense.CHECK_CONDITION, Sense.fixed(Sense.MISCOMPARE, Sense.MISCOMPARE_DURING_VERIFY), 0);
            } else {
                respond(task, Sense.GOOD, null, task.transfer);
            }
            return;
        }
        if (isMedia(task.opcode) && !task.dataOut) {
            ByteBuffer data = task.buffer.bytes(); // ours again: the bdev is done with it
            data.limit(task.ioBytes).position(0);
            dataIn(task, data, task.ioBytes, task.cdbLength);
            return;
        }
        if (task.fua) { // FUA: durable before the status; the flush comes back here
            task.fua = false;
            lun.device().flush(task, task);
            return;
        }
        respond(task, Sense.GOOD, null, task.ioBytes);
    }

    /** Data-In PDUs of at most the initiator's MaxRecvDataSegmentLength; the last carries the status. */
    private void dataIn(Task task, ByteBuffer data, int length, long wanted) {
        int edtl = task.expectedLength;
        int send = (int) Math.min(Integer.toUnsignedLong(edtl), length);
        int segment = params.initiatorMaxRecvDataSegment();
        int burst = params.maxBurst();
        int dataSn = 0;
        int offset = 0;
        int inBurst = 0;
        if (send == 0) {
            respond(task, Sense.GOOD, null, 0, wanted);
            return;
        }
        while (offset < send) {
            int n = Math.min(Math.min(segment, send - offset), burst - inBurst);
            boolean last = offset + n == send;
            boolean endOfBurst = last || inBurst + n == burst;
            ByteBuffer pdu = newHeader(Bhs.DATA_IN, n);
            int flags = endOfBurst ? Bhs.FINAL : 0;
            if (last) {
                flags |= Bhs.STATUS | residualFlags(task, send, wanted);
                pdu.putInt(Bhs.STAT_SN, statSn++);
                pdu.putInt(Bhs.RESIDUAL, residual(task, send, wanted));
            }
            pdu.put(1, (byte) flags);
            pdu.putInt(Bhs.ITT, task.itt);
            pdu.putInt(Bhs.TTT, Bhs.RESERVED_TAG);
            window(pdu);
            pdu.putInt(Bhs.DATA_SN, dataSn++);
            pdu.putInt(Bhs.BUFFER_OFFSET, offset);
            ByteBuffer slice;
            if (n == send) {
                slice = data.limit(data.position() + n); // the one PDU: the data itself, no view
            } else {
                slice = data.duplicate();
                slice.limit(data.position() + offset + n).position(data.position() + offset);
            }
            send(pdu, slice);
            offset += n;
            inBurst = endOfBurst ? 0 : inBurst + n;
        }
        finish(task);
    }

    /** O or U: the initiator expected more (U) or less (O) than the command moves. */
    private static int residualFlags(Task task, long moved, long wanted) {
        long edtl = Integer.toUnsignedLong(task.expectedLength);
        if (wanted > edtl) {
            return Bhs.RESIDUAL_OVERFLOW;
        }
        return moved < edtl ? Bhs.RESIDUAL_UNDERFLOW : 0;
    }

    private static int residual(Task task, long moved, long wanted) {
        long edtl = Integer.toUnsignedLong(task.expectedLength);
        return (int) (wanted > edtl ? wanted - edtl : edtl - moved);
    }

    private void respond(Task task, int status, byte[] sense, long moved) {
        respond(task, status, sense, moved, isMedia(task.opcode) ? task.cdbLength : moved);
    }

    /** A SCSI Response: status, sense when there is one, residuals against what the CDB wanted. */
    private void respond(Task task, int status, byte[] sense, long moved, long wanted) {
        byte[] data = sense == null ? NO_DATA : new byte[2 + sense.length];
        if (sense != null) {
            data[0] = (byte) (sense.length >>> 8);
            data[1] = (byte) sense.length;
            System.arraycopy(sense, 0, data, 2, sense.length);
        }
        ByteBuffer rsp = newHeader(Bhs.SCSI_RESPONSE, data.length);
        int flags = Bhs.FINAL;
        if (status == Sense.GOOD && (task.read || task.write)) {
            flags |= residualFlags(task, moved, wanted);
            if ((flags & (Bhs.RESIDUAL_OVERFLOW | Bhs.RESIDUAL_UNDERFLOW)) != 0) {
                rsp.putInt(Bhs.RESIDUAL, residual(task, moved, wanted));
            }
        }
        rsp.put(1, (byte) flags);
        rsp.put(2, (byte) 0); // command completed at target
        rsp.put(3, (byte) status);
        rsp.putInt(Bhs.ITT, task.itt);
        numbers(rsp, true);
        send(rsp, data.length == 0 ? null : ByteBuffer.wrap(data));
        finish(task);
    }

    private void finish(Task task) {
        tasks.remove(task.itt);
        if (task.ttt != -1) {
            byTtt.remove(task.ttt);
        }
        if (task.buffer != null || task.compare != null) {
            releaseAfterSend.add(task); // its data may still be in the send queue
        } else {
            retire(task);
        }
        postFlush();
    }

    /**
     * A finished task whose buffers are back is kept for the next command. Only on the plain path:
     * a task that was aborted, or that the bdev still has, is left to the garbage collector, and no
     * field of the connection may still point at a task that is reused.
     */
    private void retire(Task task) {
        if (task.aborted || task.submitted || freeTasks.size() >= WINDOW || tasks.get(task.itt) == task) {
            return;
        }
        if (dataTask == task) {
            dataTask = null;
        }
        if (prepared == task) {
            prepared = null;
        }
        freeTasks.addFirst(task);
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
        if (!Bhs.immediate(req) && !acceptCmdSn(req)) {
            return;
        }
        byte[] echo = java.util.Arrays.copyOf(text.array(), text.limit());
        ByteBuffer nop = newHeader(Bhs.NOP_IN, echo.length);
        nop.put(1, (byte) Bhs.FINAL);
        nop.put(Bhs.LUN, req, Bhs.LUN, 8);
        nop.putInt(Bhs.ITT, itt);
        nop.putInt(Bhs.TTT, Bhs.RESERVED_TAG);
        numbers(nop, true);
        send(nop, ByteBuffer.wrap(echo));
        postFlush();
    }

    private void textRequest(ByteBuffer req) {
        if (!Bhs.immediate(req) && !acceptCmdSn(req)) {
            return;
        }
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
                    boolean wanted = which.equals("All") ? discovery : which.isEmpty() ? t == lunTarget : which.equals(t.iqn());
                    if (wanted && t.allows(initiatorName)) {
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
        ByteBuffer rsp = newHeader(Bhs.TEXT_RESPONSE, data.length);
        rsp.put(1, (byte) Bhs.FINAL);
        rsp.putInt(Bhs.ITT, req.getInt(Bhs.ITT));
        rsp.putInt(Bhs.TTT, Bhs.RESERVED_TAG);
        numbers(rsp, true);
        send(rsp, ByteBuffer.wrap(data));
        postFlush();
    }

    private void taskManagement(ByteBuffer req) {
        int function = Bhs.flags(req) & 0x7F;
        int response;
        switch (function) {
            case 1 -> { // ABORT TASK
                Task t = tasks.get(req.getInt(Bhs.REFERENCED_TASK_TAG));
                if (t == null) {
                    response = 1; // no such task (it has answered already)
                } else {
                    abort(t);
                    response = 0;
                }
            }
            case 2 -> { // ABORT TASK SET
                for (Task t : tasks.tasks()) {
                    abort(t);
                }
                response = 0;
            }
            case 5, 6 -> { // LOGICAL UNIT RESET, TARGET WARM RESET: every session of the LUN hears of it
                for (Task t : tasks.tasks()) {
                    abort(t);
                }
                if (lunTarget != null) {
                    target.reservations(lunTarget.device()).resetSpc2();
                    target.unitAttention(lunTarget.device(), function == 5 ? Sense.LUN_RESET_OCCURRED : Sense.POWER_ON_OR_RESET);
                }
                response = 0;
            }
            case 7 -> { // TARGET COLD RESET: answered, then every session of the target goes, this one too
                for (Task t : tasks.tasks()) {
                    abort(t);
                }
                if (lunTarget != null) {
                    target.coldReset(lunTarget.device(), this);
                }
                closeAfterFlush = true;
                response = 0;
            }
            default -> response = 5; // not supported
        }
        ByteBuffer rsp = newHeader(Bhs.TASK_MANAGEMENT_RESPONSE, 0);
        rsp.put(1, (byte) Bhs.FINAL);
        rsp.put(2, (byte) response);
        rsp.putInt(Bhs.ITT, req.getInt(Bhs.ITT));
        numbers(rsp, true);
        send(rsp, null);
        postFlush();
    }

    /** An aborted task gets no SCSI Response; one still at the bdev is dropped when it returns. */
    private void abort(Task t) {
        t.aborted = true;
        if (t.ttt != -1) {
            byTtt.remove(t.ttt);
        }
        if (!t.submitted) {
            tasks.remove(t.itt);
            t.release();
        } // else bdevDone drops it and frees its buffer
    }

    private void logout(ByteBuffer req) {
        ByteBuffer rsp = newHeader(Bhs.LOGOUT_RESPONSE, 0);
        rsp.put(1, (byte) Bhs.FINAL);
        rsp.put(2, (byte) 0);
        rsp.putInt(Bhs.ITT, req.getInt(Bhs.ITT));
        rsp.putInt(Bhs.STAT_SN, statSn++);
        if (!Bhs.immediate(req)) {
            acceptCmdSn(req);
        }
        window(rsp);
        rsp.putShort(Bhs.TIME2WAIT, (short) 2);
        rsp.putShort(Bhs.TIME2RETAIN, (short) 0);
        send(rsp, null);
        phase = Phase.LOGGED_OUT;
        closeAfterFlush = true;
        postFlush();
    }

    private void reject(int reason, ByteBuffer rejected) {
        byte[] copy = new byte[Bhs.LENGTH];
        rejected.get(0, copy);
        ByteBuffer rsp = newHeader(Bhs.REJECT, Bhs.LENGTH);
        rsp.put(1, (byte) Bhs.FINAL);
        rsp.put(2, (byte) reason);
        rsp.putInt(Bhs.ITT, Bhs.RESERVED_TAG);
        numbers(rsp, true);
        send(rsp, ByteBuffer.wrap(copy));
        postFlush();
    }

    private void logOnce(String kind, String message) {
        if (loggedOnce.add(kind)) {
            LOG.log(Level.WARNING, "{0} ({1}): {2}", peer, initiatorName == null ? "not logged in" : initiatorName, message);
        }
    }

    // ================================================================== sending

    /**
     * StatSN (advanced when the PDU carries a status, RFC 7143 §4.2.2.2), then ExpCmdSN and MaxCmdSN,
     * which every target PDU that has them reports.
     */
    private void numbers(ByteBuffer pdu, boolean status) {
        pdu.putInt(Bhs.STAT_SN, status ? statSn++ : statSn);
        window(pdu);
    }

    /** ExpCmdSN and MaxCmdSN: the command window the initiator may use. */
    private void window(ByteBuffer pdu) {
        pdu.putInt(Bhs.EXP_CMD_SN, expCmdSn);
        pdu.putInt(Bhs.MAX_CMD_SN, expCmdSn + WINDOW - 1);
    }

    /** A zeroed BHS, from the connection's own headers while any is free (they come back once sent). */
    private ByteBuffer newHeader(int opcode, int dataLength) {
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
    private void send(ByteBuffer header, ByteBuffer data) {
        if (phase == Phase.CLOSED) {
            return;
        }
        sendQueue.add(header);
        if (headerDigest) {
            crc.reset();
            crc.update(header.array(), header.arrayOffset(), Bhs.LENGTH);
            sendQueue.add(ByteBuffer.allocate(4).putInt(0, Integer.reverseBytes((int) crc.getValue())));
        }
        int length = data == null ? 0 : data.remaining();
        if (length > 0) {
            sendQueue.add(data);
            int pad = Bhs.padded(length) - length;
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

    private void postFlush() {
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
            close("the connection failed: " + e.getMessage());
        }
    }

    private void flush() throws IOException {
        if (phase == Phase.CLOSED) {
            return;
        }
        while (!sendQueue.isEmpty()) {
            int n = 0;
            for (ByteBuffer b : sendQueue) {
                if (n == GATHER) {
                    break;
                }
                gather[n++] = b;
            }
            channel.write(gather, 0, n);
            while (!sendQueue.isEmpty() && !sendQueue.peek().hasRemaining()) {
                ByteBuffer sent = sendQueue.poll();
                if (sent.hasArray() && sent.array() == headerArena) {
                    freeHeaders.addFirst(sent);
                }
            }
            if (!sendQueue.isEmpty() && sendQueue.peek().hasRemaining()) {
                break; // the socket is full: OP_WRITE brings us back
            }
        }
        java.util.Arrays.fill(gather, null);
        if (sendQueue.isEmpty()) {
            Task t;
            while ((t = releaseAfterSend.poll()) != null) {
                t.release();
                retire(t);
            }
            if (key.isValid()) {
                key.interestOps(SelectionKey.OP_READ);
            }
            if (closeAfterFlush) {
                close(null);
            }
        } else if (key.isValid()) {
            key.interestOps(SelectionKey.OP_READ | SelectionKey.OP_WRITE);
        }
    }

    // ================================================================== closing

    /** Closes the connection; {@code why} is logged when it is a failure. In-flight bdev I/O drains. */
    void close(String why) {
        if (phase == Phase.CLOSED) {
            return;
        }
        boolean wasLoggedIn = phase == Phase.FULL_FEATURE;
        boolean loggedOut = phase == Phase.LOGGED_OUT;
        phase = Phase.CLOSED;
        if (why != null) {
            LOG.log(Level.WARNING, "{0} ({1}): {2}; closing it", peer, initiatorName == null ? "not logged in" : initiatorName, why);
        } else if (wasLoggedIn || initiatorName != null) {
            LOG.log(Level.INFO, "{0} ({1}) {2}", peer, initiatorName, loggedOut ? "logged out" : "disconnected");
        }
        if (livenessTimer != null) {
            livenessTimer.cancel();
        }
        if (reservations != null) {
            reservations.endSpc2(nexus); // logout and a lost connection end the nexus's SPC-2 reservation
        }
        if (key != null) {
            key.cancel();
        }
        try {
            channel.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        for (Task t : tasks.tasks()) {
            t.aborted = true;
            if (!t.submitted) {
                t.release();
            }
        }
        tasks.clear();
        Task t;
        while ((t = releaseAfterSend.poll()) != null) {
            t.release();
        }
        sendQueue.clear();
        target.closed(this);
    }

    InetSocketAddress localAddress() throws IOException {
        return (InetSocketAddress) channel.getLocalAddress();
    }
}
