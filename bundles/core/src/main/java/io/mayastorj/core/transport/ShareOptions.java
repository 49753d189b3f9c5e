package io.mayastorj.core.transport;

import java.util.List;
import java.util.Map;

/**
 * How to share a bdev.
 *
 * @param allowedHosts host identities (NVMe host NQNs, iSCSI initiator names) that may connect;
 *                     empty means any host
 * @param properties   protocol-specific settings (CHAP user and secret, port), by name
 */
public record ShareOptions(List<String> allowedHosts, Map<String, String> properties) {

    public static final ShareOptions DEFAULT = new ShareOptions(List.of(), Map.of());

    public ShareOptions {
        for (String host : allowedHosts) {
            // a host is one name or address: a share is kept as a comma-separated line (a replica's
            // metadata), so "nqn.a,nqn.b" was let in as one host and came back as two after a restart
            if (host == null || host.isBlank() || host.chars().anyMatch(c -> c == ',' || Character.isWhitespace(c)
                    || Character.isISOControl(c))) {
                throw io.mayastorj.core.error.MayastorException.invalidArgument(
                        "allowed host \"%s\": a host name or address, without commas, spaces or control characters", host);
            }
        }
        allowedHosts = List.copyOf(allowedHosts);
        properties = Map.copyOf(properties);
    }

    /** Without the values of secret properties: options end up in logs and shell output. */
    @Override
    public String toString() {
        java.util.TreeMap<String, String> shown = new java.util.TreeMap<>();
        properties.forEach((k, v) -> shown.put(k, k.contains("secret") ? "(secret)" : v));
        return "ShareOptions[allowedHosts=" + allowedHosts + ", properties=" + shown + "]";
    }
}
