package io.mayastorj.pool.internal;

import java.util.Arrays;
import java.util.List;

/**
 * How a replica is shared, kept in its metadata so that the share comes back with the pool:
 * {@code share=nvmf} and {@code allowed_hosts=nqn1,nqn2}, one per line.
 *
 * @param protocol     the transport, or null when not shared
 * @param allowedHosts hosts allowed to connect (empty: any)
 */
record ReplicaShare(String protocol, List<String> allowedHosts) {

    static final ReplicaShare NONE = new ReplicaShare(null, List.of());

    static ReplicaShare parse(String properties) {
        String protocol = null;
        List<String> hosts = List.of();
        for (String line : properties.split("\n")) {
            if (line.startsWith("share=")) {
                protocol = line.substring("share=".length());
            } else if (line.startsWith("allowed_hosts=") && line.length() > "allowed_hosts=".length()) {
                // trimmed, blanks dropped: what an older version let in (" b", "a,,b") must not lose the share
                hosts = Arrays.stream(line.substring("allowed_hosts=".length()).split(",")).map(String::strip)
                        .filter(h -> !h.isEmpty()).toList();
            }
        }
        return protocol == null || protocol.isEmpty() ? NONE : new ReplicaShare(protocol, List.copyOf(hosts));
    }

    String format() {
        return protocol == null ? "" : "share=" + protocol + "\nallowed_hosts=" + String.join(",", allowedHosts);
    }
}
