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
        allowedHosts = List.copyOf(allowedHosts);
        properties = Map.copyOf(properties);
    }
}
