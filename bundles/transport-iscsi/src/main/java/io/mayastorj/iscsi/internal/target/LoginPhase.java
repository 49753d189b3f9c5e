package io.mayastorj.iscsi.internal.target;

import io.mayastorj.iscsi.internal.protocol.Bhs;
import io.mayastorj.iscsi.internal.protocol.Negotiation;
import io.mayastorj.iscsi.internal.protocol.TextParameters;
import io.mayastorj.iscsi.internal.scsi.ScsiLun;
import java.lang.System.Logger.Level;
import java.lang.System.Logger;
import java.nio.ByteBuffer;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The login phase of a connection (RFC 7143 §6): Login PDUs, their text gathered across
 * continuations, the initiator and target names checked against the shares, the security stage
 * (AuthMethod None, or CHAP through {@link ChapExchange}), the operational stage answered by
 * {@link Negotiation}, and the Login Response with its status. It fills in the {@link Session} and
 * hands the connection to the full feature phase; after that it has nothing more to do, which is why
 * it is apart from the connection that reads the PDUs.
 */
final class LoginPhase {

    private static final Logger LOG = System.getLogger("mayastor.iscsi");
    /** The most login text a connection gathers across continued Login PDUs. */
    static final int MAX_TEXT = 64 * 1024;

    private final IscsiConnection connection;
    private final IscsiTarget target;
    private final Session session;
    private final SequenceNumbers sequence;
    private final PduSender sender;
    private final ChapExchange chapExchange;
    private Negotiation negotiation;
    private final ByteBuffer loginText = ByteBuffer.allocate(MAX_TEXT);
    private long isid;
    private int tsih;
    /** The TSIH the first Login PDU named: not 0 adds a connection to, or reinstates one in, that session. */
    private int requestedTsih;
    private int cid;

    LoginPhase(IscsiConnection connection, IscsiTarget target, Session session, SequenceNumbers sequence, PduSender sender) {
        this.connection = connection;
        this.target = target;
        this.session = session;
        this.sequence = sequence;
        this.sender = sender;
        this.chapExchange = new ChapExchange(session, connection.peer());
    }

    /** A Login Request whose data segment is in {@code text}. */
    /** The final Login PDU waits for the writes of the session it reinstates: no other PDU may come meanwhile. */
    private boolean awaitingOlder;

    void login(ByteBuffer req, ByteBuffer text) throws IscsiConnection.ProtocolError {
        if (awaitingOlder) {
            throw new IscsiConnection.ProtocolError("a Login PDU while the final one waits for the session it reinstates");
        }
        int flags = Bhs.flags(req);
        boolean transit = (flags & Bhs.TRANSIT) != 0;
        boolean more = (flags & Bhs.CONTINUE) != 0;
        int csg = (flags >>> 2) & 3;
        int nsg = flags & 3;
        if (transit && more) {
            throw new IscsiConnection.ProtocolError("a Login PDU with both T and C set");
        }
        if (negotiation == null) { // the first Login PDU of the connection
            isid = Bhs.isid(req);
            cid = req.getShort(Bhs.CID) & 0xFFFF;
            requestedTsih = req.getShort(Bhs.TSIH) & 0xFFFF;
            sequence.expect(req.getInt(Bhs.CMD_SN));
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
            connection.logOnce("login-text", "login from " + connection.peer() + " refused: " + e.getMessage());
            loginResponse(req, 0x02, 0x00, Map.of(), false, csg, nsg);
            return;
        } finally {
            loginText.clear();
        }
        Map<String, String> answers = new LinkedHashMap<>();
        if (negotiation == null) {
            session.initiatorName = keys.get("InitiatorName");
            if (session.initiatorName == null || session.initiatorName.isBlank()) {
                loginResponse(req, 0x02, 0x07, Map.of(), false, csg, nsg); // missing parameter
                return;
            }
            String badName = badName(session.initiatorName);
            if (badName != null) {
                connection.logOnce("initiator-name", "login from " + connection.peer() + " refused: " + badName);
                loginResponse(req, 0x02, 0x00, Map.of(), false, csg, nsg); // initiator error
                return;
            }
            session.discovery = "Discovery".equals(keys.getOrDefault("SessionType", "Normal"));
            if (!session.discovery) {
                String name = keys.get("TargetName");
                if (name == null) {
                    loginResponse(req, 0x02, 0x07, Map.of(), false, csg, nsg);
                    return;
                }
                session.lunTarget = target.target(name);
                if (session.lunTarget == null) {
                    LOG.log(Level.WARNING, "login from {0} ({1}) refused: no target {2}", session.initiatorName,
                            connection.peer(), name);
                    loginResponse(req, 0x02, 0x03, Map.of(), false, csg, nsg);
                    return;
                }
                if (!session.lunTarget.allows(session.initiatorName)) {
                    LOG.log(Level.WARNING, "login from {0} ({1}) refused: not an allowed initiator of {2}",
                            session.initiatorName, connection.peer(), name);
                    loginResponse(req, 0x02, 0x02, Map.of(), false, csg, nsg);
                    return;
                }
                answers.put("TargetPortalGroupTag", "1");
            }
            if (requestedTsih != 0) {
                // RFC 7143 §6.3.4, §11.12.6: a connection for an existing session, checked once the target and
                // its ACL passed (before, a stranger could probe which sessions exist). The same CID reinstates
                // that connection (the session, its reservation and attentions go on, under its TSIH); another
                // CID would be a second connection, and a session here has one (MaxConnections=1); no such
                // session is "session does not exist". Answered with a new session instead, the login
                // reinstated the very session it named, and the initiator dropped both
                int existingCid = session.discovery ? -1 : target.sessionCid(session.initiatorName, isid, requestedTsih, session.lunTarget);
                if (existingCid != cid) {
                    connection.logOnce("tsih", "login from " + session.initiatorName + " (" + connection.peer()
                            + ") refused: a connection for session TSIH " + requestedTsih + ", " + (existingCid < 0
                            ? "which does not exist" : "which has its one connection already (CID " + existingCid + ")"));
                    loginResponse(req, 0x02, existingCid < 0 ? 0x0A : 0x06, Map.of(), false, csg, nsg);
                    return;
                }
            }
            negotiation = new Negotiation(session.discovery);
        }
        IscsiTarget.Chap chap = session.lunTarget == null ? null : session.lunTarget.chap();
        if (csg == 0) {
            if (chap != null) {
                Boolean done = chapExchange.step(keys, chap, answers);
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
                                session.initiatorName, methods);
                        loginResponse(req, 0x02, 0x01, Map.of(), false, csg, nsg);
                        return;
                    }
                    answers.put("AuthMethod", "None");
                }
            }
        } else if (csg == 1) {
            if (chap != null && !chapExchange.done()) {
                LOG.log(Level.WARNING, "login from {0} ({1}) refused: target {2} requires CHAP", session.initiatorName,
                        connection.peer(), session.lunTarget.iqn());
                loginResponse(req, 0x02, 0x01, Map.of(), false, csg, nsg);
                return;
            }
            answers.putAll(negotiation.answer(keys));
        } else {
            throw new IscsiConnection.ProtocolError("login stage " + csg);
        }
        boolean toFullFeature = transit && nsg == 3;
        if (transit && (nsg <= csg || nsg == 2)) {
            throw new IscsiConnection.ProtocolError("login transit from stage " + csg + " to " + nsg);
        }
        if (toFullFeature) {
            session.params = negotiation.outcome();
            tsih = requestedTsih != 0 ? requestedTsih : target.newTsih(); // a reinstated connection keeps its session's
            session.isid = isid;
            session.cid = cid;
            session.tsih = tsih; // last: others read it first (IscsiTarget.sessionCid)
        }
        if (!toFullFeature || session.discovery) {
            loginResponse(req, 0, 0, answers, transit, csg, nsg);
            if (toFullFeature) {
                loggedIn();
            }
            return;
        }
        session.lun = new ScsiLun(session.lunTarget.device());
        session.reservations = target.reservations(session.lunTarget.device());
        // RFC 7143 §4.4.2, SPC-4 TransportID format 01
        session.nexus = String.format("%s,i,0x%012x", session.initiatorName, isid);
        // an older session of this nexus goes first, and the writes it still has at the bdev end
        CompletableFuture<Void> older = target.reinstate(connection, requestedTsih != 0);
        if (older.isDone() && !older.isCompletedExceptionally()) {
            loginResponse(req, 0, 0, answers, transit, csg, nsg);
            loggedIn();
            return;
        }
        ByteBuffer request = ByteBuffer.allocate(Bhs.LENGTH).put(0, req, 0, Bhs.LENGTH); // req is the receive buffer's
        long waitMillis = Math.max(100, target.nopTimeoutMillis() / 2); // well within this login's own stall limit
        awaitingOlder = true;
        LOG.log(Level.INFO, "login of {0} ({1}) reinstates its older session: answered once that one's writes at the bdev "
                + "have ended", session.nexus, connection.peer());
        older.orTimeout(waitMillis, TimeUnit.MILLISECONDS).whenComplete((done, failed) -> connection.reactor().execute(() -> {
            awaitingOlder = false;
            if (connection.isClosed()) {
                return;
            }
            if (failed != null) {
                // Service Unavailable: the initiator logs in again later (open-iscsi retries), by when they may have
                LOG.log(Level.WARNING, "login of {0} ({1}) refused for now: the session it reinstates still has writes at "
                        + "the bdev after {2} ms", session.nexus, connection.peer(), waitMillis);
                loginResponse(request, 0x03, 0x01, Map.of(), false, csg, nsg);
                return;
            }
            loginResponse(request, 0, 0, answers, transit, csg, nsg);
            loggedIn();
        }));
    }

    private void loggedIn() {
        connection.enterFullFeature();
        LOG.log(Level.INFO, "{0} session for {1} ({2}) logged in{3}", session.discovery ? "discovery" : "normal",
                session.initiatorName, connection.peer(), session.discovery ? "" : " to " + session.lunTarget.iqn());
    }

    /** A comma-separated list of values offers {@code value}. */
    static boolean offers(String list, String value) {
        for (String v : list.split(",")) {
            if (v.strip().equals(value)) {
                return true;
            }
        }
        return false;
    }

    private void loginResponse(ByteBuffer req, int statusClass, int statusDetail, Map<String, String> keys,
                               boolean transit, int csg, int nsg) {
        byte[] data = TextParameters.encode(keys);
        ByteBuffer rsp = sender.newHeader(Bhs.LOGIN_RESPONSE, data.length);
        int flags = (csg << 2) | (transit && statusClass == 0 ? Bhs.TRANSIT | nsg : 0);
        rsp.put(1, (byte) flags);
        rsp.put(Bhs.ISID, req, Bhs.ISID, 6);
        rsp.putShort(Bhs.TSIH, (short) (statusClass == 0 && transit && nsg == 3 ? tsih : 0));
        rsp.putInt(Bhs.ITT, req.getInt(Bhs.ITT));
        sequence.numbers(rsp, true);
        rsp.put(Bhs.STATUS_CLASS, (byte) statusClass);
        rsp.put(Bhs.STATUS_DETAIL, (byte) statusDetail);
        sender.send(rsp, ByteBuffer.wrap(data));
        if (statusClass != 0) {
            sender.closeAfterFlush();
        }
        sender.postFlush();
    }

    private static final int NAME_BYTES = 223; // RFC 7143 §4.2.7.1

    /**
     * Why an initiator name cannot be taken, else null. It names the I_T nexus in the persistent
     * reservations' file, a line per key: a space or a line break in it wrote lines of its own there,
     * and the restarted target dropped every registration, a fence included. No more is asked than
     * that: initiators in the field send names outside the RFC's grammar (capitals, underscores).
     */
    static String badName(String name) {
        if (name.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > NAME_BYTES) {
            return "its InitiatorName is longer than " + NAME_BYTES + " bytes";
        }
        for (int i = 0; i < name.length(); i++) {
            char ch = name.charAt(i);
            if (ch <= ' ' || ch == 0x7F || Character.isWhitespace(ch) || Character.isISOControl(ch)) {
                return String.format("its InitiatorName holds a space or control character (U+%04X at %d)", (int) ch, i);
            }
        }
        return null;
    }
}
