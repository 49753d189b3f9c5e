package io.mayastorj.iscsi.internal.target;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The CHAP exchange on its own, step by step, with the answers an initiator computes (RFC 1994). */
class ChapExchangeTest {

    private static final IscsiTarget.Chap ONE_WAY = new IscsiTarget.Chap("alice", "correct-horse-battery", null, null);
    private static final IscsiTarget.Chap MUTUAL = new IscsiTarget.Chap("alice", "correct-horse-battery", "target",
            "staple-of-the-target");

    private static ChapExchange exchange(IscsiTarget.Chap chap) {
        Session session = new Session();
        session.initiatorName = "iqn.2026-01.test:initiator";
        session.lunTarget = new IscsiTarget.Target("iqn.2019-05.io.openebs:guarded", null, List.of(), chap);
        return new ChapExchange(session, "/127.0.0.1:40000");
    }

    /** Runs AuthMethod and CHAP_A; returns the target's CHAP_I and CHAP_C. */
    private static Map<String, String> challenge(ChapExchange chap, IscsiTarget.Chap credentials) {
        Map<String, String> answers = new LinkedHashMap<>();
        assertEquals(Boolean.FALSE, chap.step(Map.of("AuthMethod", "CHAP,None"), credentials, answers));
        assertEquals("CHAP", answers.get("AuthMethod"));
        answers.clear();
        assertEquals(Boolean.FALSE, chap.step(Map.of("CHAP_A", "7,5"), credentials, answers));
        assertEquals("5", answers.get("CHAP_A"));
        return answers;
    }

    private static String md5(int id, String secret, byte[] challenge) throws Exception {
        MessageDigest md5 = MessageDigest.getInstance("MD5");
        md5.update((byte) id);
        md5.update(secret.getBytes(StandardCharsets.UTF_8));
        md5.update(challenge);
        return "0x" + HexFormat.of().formatHex(md5.digest());
    }

    private static byte[] challengeBytes(Map<String, String> answers) {
        return HexFormat.of().parseHex(answers.get("CHAP_C").substring(2));
    }

    @Test
    void theRightAnswerProvesTheInitiatorAndAWrongOneFails() throws Exception {
        ChapExchange chap = exchange(ONE_WAY);
        Map<String, String> c = challenge(chap, ONE_WAY);
        String response = md5(Integer.parseInt(c.get("CHAP_I")), ONE_WAY.secret(), challengeBytes(c));
        assertFalse(chap.done());
        assertEquals(Boolean.TRUE, chap.step(Map.of("CHAP_N", "alice", "CHAP_R", response), ONE_WAY, new LinkedHashMap<>()));
        assertTrue(chap.done());

        ChapExchange wrong = exchange(ONE_WAY);
        Map<String, String> c2 = challenge(wrong, ONE_WAY);
        String guessed = md5(Integer.parseInt(c2.get("CHAP_I")), "not-the-secret-at-all", challengeBytes(c2));
        assertNull(wrong.step(Map.of("CHAP_N", "alice", "CHAP_R", guessed), ONE_WAY, new LinkedHashMap<>()));
        assertFalse(wrong.done());
    }

    @Test
    void mutualChapAnswersWithTheTargetSecretAndRefusesAReflectedChallenge() throws Exception {
        ChapExchange chap = exchange(MUTUAL);
        Map<String, String> c = challenge(chap, MUTUAL);
        String response = md5(Integer.parseInt(c.get("CHAP_I")), MUTUAL.secret(), challengeBytes(c));
        byte[] theirs = new byte[16];
        theirs[0] = 1;
        Map<String, String> answers = new LinkedHashMap<>();
        assertEquals(Boolean.TRUE, chap.step(Map.of("CHAP_N", "alice", "CHAP_R", response, "CHAP_I", "77",
                "CHAP_C", "0x" + HexFormat.of().formatHex(theirs)), MUTUAL, answers));
        assertEquals("target", answers.get("CHAP_N"));
        assertEquals(md5(77, MUTUAL.mutualSecret(), theirs), answers.get("CHAP_R"));

        ChapExchange reflected = exchange(MUTUAL);
        Map<String, String> c2 = challenge(reflected, MUTUAL);
        String response2 = md5(Integer.parseInt(c2.get("CHAP_I")), MUTUAL.secret(), challengeBytes(c2));
        assertNull(reflected.step(Map.of("CHAP_N", "alice", "CHAP_R", response2, "CHAP_I", "77",
                "CHAP_C", c2.get("CHAP_C")), MUTUAL, new LinkedHashMap<>()));
    }
}
