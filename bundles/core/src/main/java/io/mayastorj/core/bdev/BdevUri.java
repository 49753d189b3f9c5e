package io.mayastorj.core.bdev;

import io.mayastorj.core.error.MayastorException;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;

/**
 * A parsed device URI such as {@code malloc:///m0?size_mb=64} or {@code nvmf://10.0.0.2:8420/nqn...}.
 * The one place where device URIs are taken apart, so that every scheme reports mistakes the same
 * way. A bare absolute path means {@code aio://} on that path.
 */
public final class BdevUri {

    private final String text;
    private final String scheme;
    private final String host;
    private final int port;
    private final String path;
    private final Map<String, String> params;

    private BdevUri(String text, String scheme, String host, int port, String path, Map<String, String> params) {
        this.text = text;
        this.scheme = scheme;
        this.host = host;
        this.port = port;
        this.path = path;
        this.params = params;
    }

    /**
     * Parses a device URI.
     *
     * @throws MayastorException INVALID_ARGUMENT when the text is not a URI with a scheme, or when a
     *                           query parameter is empty or repeated
     */
    public static BdevUri parse(String text) {
        return parse(text, "aio");
    }

    /**
     * As {@link #parse(String)}, with a bare absolute path meaning {@code bareScheme} on that path
     * (the registry makes it uring where io_uring is there). The URI still shows the text as given.
     */
    public static BdevUri parse(String text, String bareScheme) {
        if (text == null || text.isBlank()) {
            throw MayastorException.invalidArgument("a device URI is required, e.g. malloc:///m0?size_mb=64");
        }
        String trimmed = text.strip();
        String normalized = trimmed.startsWith("/") ? bareScheme + "://" + trimmed : trimmed;
        URI uri;
        try {
            uri = new URI(normalized);
        } catch (URISyntaxException e) {
            throw MayastorException.invalidArgument("'%s' is not a valid device URI: %s", trimmed, e.getReason());
        }
        if (uri.getScheme() == null) {
            throw MayastorException.invalidArgument(
                    "'%s' is not a device URI: it has no scheme (e.g. malloc:///NAME?size_mb=64, aio:///PATH)", trimmed);
        }
        if (uri.getRawFragment() != null) {
            // dropped, '/srv/a#1.img' opened (and a pool create zeroed) '/srv/a'
            throw MayastorException.invalidArgument(
                    "'%s': a device URI has no #fragment (write a '#' in a file name as %%23)", trimmed);
        }
        if (uri.isOpaque()) {
            throw MayastorException.invalidArgument(
                    "'%s' is not a device URI: expected %s://[host]/path", trimmed, uri.getScheme());
        }
        if (uri.getRawAuthority() != null && uri.getHost() == null) {
            // java.net.URI falls back to a registry authority for a name it cannot take as a host ("node_2"):
            // no host, so aio://node_2/dev/sda passed as a local device's URI and opened this node's /dev/sda
            throw MayastorException.invalidArgument("'%s': '%s' is not a host name or address (letters, digits, '-' "
                    + "and '.'; an IPv6 address in [])", trimmed, uri.getRawAuthority());
        }
        Map<String, String> params = new LinkedHashMap<>();
        String query = uri.getQuery();
        if (query != null && !query.isEmpty()) {
            for (String pair : query.split("&", -1)) {
                int eq = pair.indexOf('=');
                String key = eq < 0 ? pair : pair.substring(0, eq);
                String value = eq < 0 ? "" : pair.substring(eq + 1);
                if (key.isEmpty() || value.isEmpty()) {
                    throw MayastorException.invalidArgument(
                            "'%s': query parameter '%s' needs the form name=value", trimmed, pair);
                }
                if (params.putIfAbsent(key, value) != null) {
                    throw MayastorException.invalidArgument("'%s': parameter %s is given twice", trimmed, key);
                }
            }
        }
        String path = uri.getPath() == null ? "" : uri.getPath();
        return new BdevUri(trimmed, uri.getScheme().toLowerCase(java.util.Locale.ROOT), uri.getHost(),
                uri.getPort(), path, Collections.unmodifiableMap(params));
    }

    public String scheme() {
        return scheme;
    }

    /** The host, or null when the URI names none ({@code malloc:///m0}). */
    public String host() {
        return host;
    }

    /** The port, or -1. */
    public int port() {
        return port;
    }

    /** The path, with its leading slash; empty when there is none. */
    public String path() {
        return path;
    }

    /** The path without its leading slash: the device name for malloc and null. */
    public String pathName() {
        return path.startsWith("/") ? path.substring(1) : path;
    }

    public Map<String, String> params() {
        return params;
    }

    public Optional<String> param(String name) {
        return Optional.ofNullable(params.get(name));
    }

    /** Rejects any parameter not in {@code allowed}, naming the ones that are. */
    public BdevUri requireKnownParams(Set<String> allowed) {
        for (String key : params.keySet()) {
            if (!allowed.contains(key)) {
                throw MayastorException.invalidArgument("'%s': unknown parameter '%s' for %s (allowed: %s)",
                        text, key, scheme, String.join(", ", new TreeSet<>(allowed)));
            }
        }
        return this;
    }

    /** Rejects a host part for schemes that address local devices only. */
    public BdevUri requireNoHost() {
        if (host != null || port != -1) {
            throw MayastorException.invalidArgument("'%s': %s URIs name a local device and take no host (%s:///...)",
                    text, scheme, scheme);
        }
        return this;
    }

    public OptionalLong longParam(String name) {
        String value = params.get(name);
        if (value == null) {
            return OptionalLong.empty();
        }
        try {
            return OptionalLong.of(Long.parseLong(value));
        } catch (NumberFormatException e) {
            throw MayastorException.invalidArgument("'%s': %s=%s is not a whole number", text, name, value);
        }
    }

    public Optional<UUID> uuidParam() {
        String value = params.get("uuid");
        if (value == null) {
            return Optional.empty();
        }
        try {
            UUID uuid = UUID.fromString(value);
            if (!uuid.toString().equalsIgnoreCase(value)) {
                throw new IllegalArgumentException();
            }
            return Optional.of(uuid);
        } catch (IllegalArgumentException e) {
            throw MayastorException.invalidArgument("'%s': uuid=%s is not a UUID", text, value);
        }
    }

    /** The URI as given (after trimming). */
    @Override
    public String toString() {
        return text;
    }
}
