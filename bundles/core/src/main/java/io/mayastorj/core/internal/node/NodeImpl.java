package io.mayastorj.core.internal.node;

import io.mayastorj.core.error.MayastorException;
import io.mayastorj.core.node.Node;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import org.osgi.framework.BundleContext;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.metatype.annotations.Designate;

/** The node's identity, from its configuration. */
@Component(service = Node.class, configurationPid = NodeConfig.PID, configurationPolicy = ConfigurationPolicy.REQUIRE)
@Designate(ocd = NodeConfig.class)
public final class NodeImpl implements Node {

    private final String id;
    private final Endpoint endpoint;
    private final Path stateDir;
    private final String version;
    private final Instant startedAt = Instant.now();

    @Activate
    public NodeImpl(NodeConfig config, BundleContext context) throws IOException {
        this(config.node_id(), config.grpc_endpoint(), config.state_dir(),
                context.getBundle().getVersion().toString());
    }

    public NodeImpl(String id, String endpoint, String stateDir, String version) throws IOException {
        if (id == null || id.isBlank() || !id.matches("[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")) {
            throw MayastorException.invalidArgument("node id '%s' is not valid: a Kubernetes node name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit", id);
        }
        this.id = id;
        this.endpoint = Endpoint.parse(endpoint);
        if (stateDir == null || stateDir.isBlank()) {
            throw MayastorException.invalidArgument("state.dir is not set");
        }
        this.stateDir = Files.createDirectories(Path.of(stateDir));
        this.version = version;
    }

    @Override
    public void startupProgress(String what) {
        StartupMonitor.progressed(what);
    }

    @Override
    public String id() {
        return id;
    }

    @Override
    public String grpcEndpoint() {
        return endpoint.toString();
    }

    public Endpoint endpoint() {
        return endpoint;
    }

    @Override
    public InetAddress address() {
        return endpoint.address();
    }

    @Override
    public Path stateDir() {
        return stateDir;
    }

    @Override
    public String version() {
        return version;
    }

    @Override
    public Instant startedAt() {
        return startedAt;
    }
}
