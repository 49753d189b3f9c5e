package io.mayastorj.iscsi.internal.protocol;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The {@code key=value} pairs of Login and Text PDUs (RFC 7143 §6.1): UTF-8, each pair ended by a
 * NUL byte, keys of at most 63 characters from {@code [A-Za-z0-9.\-+@_]}, each key at most once.
 */
public final class TextParameters {

    public static final int MAX_KEY = 63;
    /** The largest value a key may have; CHAP_C and CHAP_R in hex are the long ones. */
    public static final int MAX_VALUE = 8192;

    /** A data segment that breaks the text rules; the login ends with "initiator error". */
    public static final class FormatException extends Exception {
        public FormatException(String message) {
            super(message);
        }
    }

    private TextParameters() {
    }

    /** The pairs of {@code data}, in order. A final pair without its NUL is accepted. */
    public static Map<String, String> parse(byte[] data, int length) throws FormatException {
        Map<String, String> pairs = new LinkedHashMap<>();
        int start = 0;
        while (start < length) {
            int end = start;
            while (end < length && data[end] != 0) {
                end++;
            }
            if (end > start) { // tolerate stray NULs (padding some initiators leave in)
                String pair = new String(data, start, end - start, StandardCharsets.UTF_8);
                int eq = pair.indexOf('=');
                if (eq < 0) {
                    throw new FormatException("'" + shorten(pair) + "' is not key=value");
                }
                String key = pair.substring(0, eq);
                String value = pair.substring(eq + 1);
                checkKey(key);
                if (value.length() > MAX_VALUE) {
                    throw new FormatException("the value of " + key + " is longer than " + MAX_VALUE + " bytes");
                }
                if (pairs.put(key, value) != null) {
                    throw new FormatException("key " + key + " sent twice");
                }
            }
            start = end + 1;
        }
        return pairs;
    }

    private static void checkKey(String key) throws FormatException {
        if (key.isEmpty() || key.length() > MAX_KEY) {
            throw new FormatException("key '" + shorten(key) + "' must be 1 to " + MAX_KEY + " characters");
        }
        for (int i = 0; i < key.length(); i++) {
            char c = key.charAt(i);
            boolean ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
                    || c == '.' || c == '-' || c == '+' || c == '@' || c == '_';
            if (!ok) {
                throw new FormatException("key '" + shorten(key) + "' holds the character '" + c + "'");
            }
        }
    }

    private static String shorten(String s) {
        return s.length() <= 40 ? s : s.substring(0, 40) + "…";
    }

    /** The pairs as a data segment: each {@code key=value} followed by a NUL. */
    public static byte[] encode(Map<String, String> pairs) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        pairs.forEach((key, value) -> {
            out.writeBytes((key + "=" + value).getBytes(StandardCharsets.UTF_8));
            out.write(0);
        });
        return out.toByteArray();
    }
}
