package io.mayastorj.registration.internal;

import java.nio.charset.StandardCharsets;

/**
 * The messages of NATS subject {@value #SUBJECT}, MOAC's format, byte for byte:
 * {@code {"id":"v0/register","data":{"id":"<node>","grpcEndpoint":"ip:port"}}} as a heartbeat and
 * {@code {"id":"v0/deregister","data":{"id":"<node>"}}} when a node stops (ours add the endpoint, which
 * MOAC's readers ignore).
 */
public final class RegistryMessage {

    public static final String SUBJECT = "v0/registry";

    private RegistryMessage() {
    }

    public static byte[] register(String node, String grpcEndpoint) {
        return register(node, grpcEndpoint, DEFAULT_HEARTBEAT_SECONDS);
    }

    /** MOAC's nodes beat every 5 s; another interval is said in {@code heartbeatSeconds}, which MOAC's readers ignore. */
    public static final long DEFAULT_HEARTBEAT_SECONDS = 5;

    public static byte[] register(String node, String grpcEndpoint, long heartbeatSeconds) {
        return ("{\"id\":\"v0/register\",\"data\":{\"id\":\"" + json(node) + "\",\"grpcEndpoint\":\"" + json(grpcEndpoint)
                + "\"" + (heartbeatSeconds == DEFAULT_HEARTBEAT_SECONDS || heartbeatSeconds <= 0 ? "" : ",\"heartbeatSeconds\":" + heartbeatSeconds)
                + "}}").getBytes(StandardCharsets.UTF_8);
    }

    /** With the endpoint the node beat with, which MOAC's readers ignore: a goodbye of another host is not the node's. */
    public static byte[] deregister(String node, String grpcEndpoint) {
        return ("{\"id\":\"v0/deregister\",\"data\":{\"id\":\"" + json(node) + "\",\"grpcEndpoint\":\"" + json(grpcEndpoint)
                + "\"}}").getBytes(StandardCharsets.UTF_8);
    }

    /** Node ids and endpoints are plain words; escaped all the same, so a message is always JSON. */
    static String json(String text) {
        StringBuilder s = new StringBuilder(text.length());
        for (char c : text.toCharArray()) {
            switch (c) {
                case '"' -> s.append("\\\"");
                case '\\' -> s.append("\\\\");
                default -> {
                    if (c < 0x20) {
                        s.append(String.format("\\u%04x", (int) c));
                    } else {
                        s.append(c);
                    }
                }
            }
        }
        return s.toString();
    }
}
