package io.mayastorj.core.internal.node;

import io.mayastorj.core.error.MayastorException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;

/** An {@code ip:port} endpoint, parsed strictly. */
public record Endpoint(InetAddress address, int port) {

    public static Endpoint parse(String text) {
        if (text == null || text.isBlank()) {
            throw MayastorException.invalidArgument("an endpoint ip:port is required");
        }
        int colon = text.lastIndexOf(':');
        if (colon <= 0 || colon == text.length() - 1) {
            throw MayastorException.invalidArgument("'%s' is not an endpoint: expected ip:port, e.g. 127.0.0.1:10124", text);
        }
        String host = text.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        int port;
        try {
            port = Integer.parseInt(text.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw MayastorException.invalidArgument("'%s': the port is not a number", text);
        }
        if (port < 1 || port > 65535) {
            throw MayastorException.invalidArgument("'%s': the port must be in 1..65535", text);
        }
        try {
            return new Endpoint(InetAddress.getByName(host), port);
        } catch (UnknownHostException e) {
            throw MayastorException.invalidArgument("'%s': unknown host %s", text, host);
        }
    }

    public InetSocketAddress socketAddress() {
        return new InetSocketAddress(address, port);
    }

    @Override
    public String toString() {
        String ip = address.getHostAddress();
        return (ip.contains(":") ? "[" + ip + "]" : ip) + ":" + port;
    }
}
