package io.mayastorj.iscsi.internal.target;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.Map;

/**
 * The CHAP exchange of one login's security stage (RFC 7143 §12.1.3, RFC 1994, MD5): the target's
 * challenge, the check of the initiator's answer and, with mutual CHAP, the target's own answer. Its
 * own class because it is a small state machine with secrets in it, which the rest of the login
 * only asks "is the initiator proven yet?".
 */
final class ChapExchange {

    private static final Logger LOG = System.getLogger("mayastor.iscsi");
    private static final int CHAP_DONE = 3;
    private static final java.security.SecureRandom RANDOM = new java.security.SecureRandom();

    private final Session session;
    private final String peer;
    /** 0: not started, 1: CHAP chosen, 2: challenge sent, 3: the initiator proved itself. */
    private int chapStep;
    private int chapId;
    private byte[] chapChallenge;

    ChapExchange(Session session, String peer) {
        this.session = session;
        this.peer = peer;
    }

    /** The initiator proved itself (and the target, if asked). */
    boolean done() {
        return chapStep == CHAP_DONE;
    }

    /**
     * One step of CHAP (RFC 7143 §12.1.3, RFC 1994, MD5): true once the initiator (and, with mutual
     * CHAP, the target) proved itself, false while the exchange goes on, null on failure.
     */
    Boolean step(Map<String, String> keys, IscsiTarget.Chap chap, Map<String, String> answers) {
        String initiatorName = session.initiatorName;
        IscsiTarget.Target lunTarget = session.lunTarget;
        if (chapStep == 0) {
            String methods = keys.get("AuthMethod");
            if (methods == null || !LoginPhase.offers(methods, "CHAP")) {
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
            if (algorithms == null || !LoginPhase.offers(algorithms, "5")) {
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
}
