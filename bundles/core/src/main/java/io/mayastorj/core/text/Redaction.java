package io.mayastorj.core.text;

import java.util.regex.Pattern;

/** What may be written to a log of settings that carry secrets. */
public final class Redaction {

    /** The user-info part of each URL of a list ({@code nats://user:secret@host:4222}, {@code nats://token@host}). */
    /** Up to the @, whatever a token holds (/ and , too), but not into the next URL of a list. */
    private static final Pattern USER_INFO = Pattern.compile("(://)(?:(?!://)[^@\\s])*@");

    private Redaction() {
    }

    /**
     * {@code urls} (one, or a comma-separated list) with each URL's user name, password or token
     * replaced by {@code ***}: NATS takes its credentials in the URL, which the node logs.
     *
     * @since 1.2
     */
    public static String withoutCredentials(String urls) {
        return urls == null ? null : USER_INFO.matcher(urls).replaceAll("$1***@");
    }
}
