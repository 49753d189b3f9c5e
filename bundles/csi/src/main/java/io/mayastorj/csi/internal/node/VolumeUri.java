package io.mayastorj.csi.internal.node;

import io.mayastorj.core.error.MayastorException;
import java.net.URI;
import java.net.URISyntaxException;

/**
 * Where a published volume is, from the publish context: {@code
 * nvmf://HOST:PORT/NQN[?uuid=U]} or {@code iscsi://HOST:PORT/IQN/LUN}, as the nexus hands it out.
 */
public record VolumeUri(String protocol, String host, int port, String target, int lun, String uuid, String text) {

    public static VolumeUri parse(String text) {
        if (text == null || text.isBlank()) {
            throw MayastorException.invalidArgument("the publish context has no uri: the volume was not published by our controller");
        }
        URI u;
        try {
            u = new URI(text.strip());
        } catch (URISyntaxException e) {
            throw MayastorException.invalidArgument("the volume's uri '%s' is not a URI: %s", text, e.getReason());
        }
        String scheme = u.getScheme() == null ? "" : u.getScheme();
        if (!scheme.equals("nvmf") && !scheme.equals("iscsi")) {
            throw MayastorException.invalidArgument("the volume's uri '%s': only nvmf:// and iscsi:// volumes can be attached", text);
        }
        if (u.getHost() == null || u.getPort() < 1) {
            throw MayastorException.invalidArgument("the volume's uri '%s' has no host:port", text);
        }
        String path = u.getPath() == null ? "" : u.getPath();
        String[] parts = path.replaceFirst("^/", "").split("/");
        if (parts.length == 0 || parts[0].isEmpty()) {
            throw MayastorException.invalidArgument("the volume's uri '%s' names no %s", text, scheme.equals("nvmf") ? "NQN" : "IQN");
        }
        String uuid = null;
        if (u.getQuery() != null) {
            for (String kv : u.getQuery().split("&")) {
                if (kv.startsWith("uuid=")) {
                    uuid = kv.substring(5);
                }
            }
        }
        int lun = 0;
        if (scheme.equals("iscsi")) {
            if (parts.length < 2) {
                throw MayastorException.invalidArgument("the volume's uri '%s' names no LUN (iscsi://HOST:PORT/IQN/LUN)", text);
            }
            try {
                lun = Integer.parseInt(parts[1]);
            } catch (NumberFormatException e) {
                throw MayastorException.invalidArgument("the volume's uri '%s': LUN '%s' is not a number", text, parts[1]);
            }
        }
        // an IPv6 literal without its brackets: as nvme connect's -a and sysfs's traddr= have it
        String host = u.getHost().startsWith("[") && u.getHost().endsWith("]")
                ? u.getHost().substring(1, u.getHost().length() - 1) : u.getHost();
        return new VolumeUri(scheme, host, u.getPort(), parts[0], lun, uuid, text.strip());
    }

    public boolean nvmf() {
        return protocol.equals("nvmf");
    }

    /** host:port, as iscsiadm's portal. */
    public String portal() {
        return (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
    }
}
