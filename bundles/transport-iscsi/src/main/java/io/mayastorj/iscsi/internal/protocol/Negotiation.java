package io.mayastorj.iscsi.internal.protocol;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The target's side of operational-parameter negotiation (RFC 7143 §13) for one connection's
 * login: answers every key the initiator offers in the same PDU, by the key's rule (list: the first
 * value we support; numbers: minimum or maximum; booleans: AND or OR; declarations: remembered),
 * and keeps the outcome. The target offers nothing of its own except its declarations, so an
 * initiator that re-sends every key in every PDU (libiscsi) gets the same answers each time.
 */
public final class Negotiation {

    /** Our receive limit for data segments: what we declare. */
    public static final int TARGET_MAX_RECV_DATA_SEGMENT = 256 * 1024;
    /** Largest burst we accept or send. */
    public static final int TARGET_MAX_BURST = 1024 * 1024;
    public static final int TARGET_FIRST_BURST = 256 * 1024;
    private static final int MIN_SEGMENT = 512;
    private static final int MAX_SEGMENT = 0xFFFFFF;

    /** Keys the session layer handles itself (names, session type, security). */
    public static final Set<String> DECLARATIONS = Set.of("InitiatorName", "InitiatorAlias", "TargetName", "SessionType",
            "AuthMethod", "CHAP_A", "CHAP_I", "CHAP_C", "CHAP_N", "CHAP_R", "TargetAlias", "TargetAddress",
            "TargetPortalGroupTag");
    /** Keys that mean nothing in a discovery session (§13). */
    private static final Set<String> NORMAL_ONLY = Set.of("MaxConnections", "InitialR2T", "ImmediateData",
            "MaxBurstLength", "FirstBurstLength", "MaxOutstandingR2T", "DataPDUInOrder", "DataSequenceInOrder");
    private static final Set<String> ANSWERS = Set.of("NotUnderstood", "Irrelevant", "Reject");

    private final boolean discovery;
    private boolean headerDigest;
    private boolean dataDigest;
    /** What the initiator can receive: our data segments to it are at most this. */
    private int initiatorMaxRecvDataSegment = 8192;
    private int maxBurst = 262144;
    private int firstBurst = 65536;
    private boolean initialR2T = true;
    private boolean immediateData = true;
    private int maxOutstandingR2T = 1;
    private int defaultTime2Wait = 2;
    private int defaultTime2Retain = 0;
    private boolean declaredMaxRecv;

    public Negotiation(boolean discovery) {
        this.discovery = discovery;
    }

    /** The negotiated values, once the login is over. */
    public record Outcome(boolean headerDigest, boolean dataDigest, int initiatorMaxRecvDataSegment,
                          int targetMaxRecvDataSegment, int maxBurst, int firstBurst, boolean initialR2T,
                          boolean immediateData, int maxOutstandingR2T, int defaultTime2Wait, int defaultTime2Retain) {
    }

    public Outcome outcome() {
        return new Outcome(headerDigest, dataDigest, initiatorMaxRecvDataSegment, TARGET_MAX_RECV_DATA_SEGMENT,
                maxBurst, Math.min(firstBurst, maxBurst), initialR2T, immediateData, maxOutstandingR2T,
                defaultTime2Wait, defaultTime2Retain);
    }

    /**
     * The answers to the operational keys of one Login PDU (declarations and security keys are left
     * to the caller), plus our MaxRecvDataSegmentLength the first time.
     */
    public Map<String, String> answer(Map<String, String> offered) {
        Map<String, String> answers = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : offered.entrySet()) {
            String key = e.getKey();
            String value = e.getValue();
            if (DECLARATIONS.contains(key) || ANSWERS.contains(value)) {
                continue; // the session's business, or an answer to an offer we never make
            }
            if (discovery && NORMAL_ONLY.contains(key)) {
                answers.put(key, "Irrelevant");
                continue;
            }
            String answer = switch (key) {
                case "HeaderDigest" -> digest(value, true);
                case "DataDigest" -> digest(value, false);
                case "MaxRecvDataSegmentLength" -> {
                    Integer n = number(value, MIN_SEGMENT, MAX_SEGMENT);
                    if (n == null) {
                        yield "Reject";
                    }
                    initiatorMaxRecvDataSegment = n;
                    declaredMaxRecv = true;
                    yield String.valueOf(TARGET_MAX_RECV_DATA_SEGMENT);
                }
                case "MaxBurstLength" -> minimum(value, MIN_SEGMENT, MAX_SEGMENT, TARGET_MAX_BURST, n -> maxBurst = n);
                case "FirstBurstLength" -> minimum(value, MIN_SEGMENT, MAX_SEGMENT, TARGET_FIRST_BURST, n -> firstBurst = n);
                case "MaxOutstandingR2T" -> minimum(value, 1, 65535, 1, n -> maxOutstandingR2T = n);
                case "MaxConnections" -> minimum(value, 1, 65535, 1, n -> { });
                case "ErrorRecoveryLevel" -> minimum(value, 0, 2, 0, n -> { });
                case "DefaultTime2Wait" -> maximum(value, 0, 3600, 2, n -> defaultTime2Wait = n);
                case "DefaultTime2Retain" -> minimum(value, 0, 3600, 0, n -> defaultTime2Retain = n);
                case "InitialR2T" -> bool(value, false, true, b -> initialR2T = b);        // OR with our No
                case "ImmediateData" -> bool(value, true, false, b -> immediateData = b);  // AND with our Yes
                case "DataPDUInOrder", "DataSequenceInOrder" -> bool(value, true, true, b -> { }); // OR with our Yes
                case "IFMarker", "OFMarker" -> bool(value, false, false, b -> { });        // AND with our No
                case "IFMarkInt", "OFMarkInt" -> "Irrelevant";                            // markers are off
                default -> "NotUnderstood";
            };
            answers.put(key, answer);
        }
        if (answers.containsKey("FirstBurstLength") && !"Reject".equals(answers.get("FirstBurstLength"))
                && firstBurst > maxBurst) {
            // FirstBurstLength may not exceed MaxBurstLength (RFC 7143 §13.14), and the initiator takes the answer
            // as it stands: 256K answered beside a MaxBurstLength of 128K had it send unsolicited data past the
            // burst the target allows, and the connection dropped at every login
            firstBurst = maxBurst;
            answers.put("FirstBurstLength", String.valueOf(maxBurst));
        }
        if (!declaredMaxRecv) {
            declaredMaxRecv = true;
            answers.put("MaxRecvDataSegmentLength", String.valueOf(TARGET_MAX_RECV_DATA_SEGMENT));
        }
        return answers;
    }

    private String digest(String offered, boolean header) {
        for (String option : offered.split(",")) {
            String o = option.strip();
            if (o.equals("None") || o.equals("CRC32C")) {
                if (header) {
                    headerDigest = o.equals("CRC32C");
                } else {
                    dataDigest = o.equals("CRC32C");
                }
                return o;
            }
        }
        return "Reject";
    }

    private interface IntSink {
        void accept(int value);
    }

    private interface BoolSink {
        void accept(boolean value);
    }

    private static Integer number(String value, int min, int max) {
        try {
            long n = value.startsWith("0x") || value.startsWith("0X") ? Long.parseLong(value.substring(2), 16)
                    : Long.parseLong(value);
            return n < min || n > max ? null : (int) n;
        } catch (NumberFormatException e) {
            return null;
        }
    }

    private static String minimum(String value, int min, int max, int ours, IntSink sink) {
        Integer n = number(value, min, max);
        if (n == null) {
            return "Reject";
        }
        int result = Math.min(n, ours);
        sink.accept(result);
        return String.valueOf(result);
    }

    private static String maximum(String value, int min, int max, int ours, IntSink sink) {
        Integer n = number(value, min, max);
        if (n == null) {
            return "Reject";
        }
        int result = Math.max(n, ours);
        sink.accept(result);
        return String.valueOf(result);
    }

    /** {@code and}: the result is Yes only if both say Yes; otherwise (OR) Yes if either does. */
    private static String bool(String value, boolean ours, boolean or, BoolSink sink) {
        boolean theirs;
        if (value.equals("Yes")) {
            theirs = true;
        } else if (value.equals("No")) {
            theirs = false;
        } else {
            return "Reject";
        }
        boolean result = or ? theirs || ours : theirs && ours;
        sink.accept(result);
        return result ? "Yes" : "No";
    }
}
