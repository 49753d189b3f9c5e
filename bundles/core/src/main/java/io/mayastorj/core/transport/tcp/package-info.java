/**
 * A base for TCP transports that serve each client on a thread of its own:
 * {@link io.mayastorj.core.transport.tcp.TcpServer} (listener, exports, connection registry,
 * disconnect on unshare, drain on stop) and {@link io.mayastorj.core.transport.tcp.TcpConnection}
 * (a client; the transport writes only its protocol). Transports that want the node's reactors use
 * {@link io.mayastorj.core.reactor.Listener} instead.
 */
@Export
@Version("1.0.0")
package io.mayastorj.core.transport.tcp;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
