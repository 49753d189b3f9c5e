package io.mayastorj.core.internal.node;

import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/**
 * A runtime's identity (PID {@value #PID}): a storage node's, or the control plane's. The launcher
 * fills it from the config file and the command line; the keys are those of the file (see the
 * README). A storage node's I/O resources are in {@link DataPlaneConfig}.
 */
@ObjectClassDefinition(id = NodeConfig.PID, name = "Mayastor-J node",
        description = "Identity and endpoint of a storage node or of the control plane")
public @interface NodeConfig {

    String PID = "io.mayastorj.node";

    @AttributeDefinition(name = "node.id", description = "The node's name, unique in the cluster")
    String node_id();

    @AttributeDefinition(name = "grpc.endpoint", description = "ip:port of the node's gRPC API")
    String grpc_endpoint() default "127.0.0.1:10124";

    @AttributeDefinition(name = "state.dir", description = "Directory for state that survives restarts")
    String state_dir();
}
