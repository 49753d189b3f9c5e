package io.mayastorj.core.internal.node;

import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/**
 * The node's settings, one Config Admin configuration (PID {@value #PID}). The launcher fills it
 * from the config file and the command line; the keys are those of the file (see the README).
 */
@ObjectClassDefinition(id = NodeConfig.PID, name = "Mayastor-J node",
        description = "Identity, endpoints and resources of a storage node")
public @interface NodeConfig {

    String PID = "io.mayastorj.node";

    @AttributeDefinition(name = "node.id", description = "The node's name, unique in the cluster")
    String node_id();

    @AttributeDefinition(name = "grpc.endpoint", description = "ip:port of the node's gRPC API")
    String grpc_endpoint() default "127.0.0.1:10124";

    @AttributeDefinition(name = "state.dir", description = "Directory for state that survives restarts")
    String state_dir();

    @AttributeDefinition(name = "reactors", description = "Number of reactor (I/O) threads")
    int reactors() default 2;

    @AttributeDefinition(name = "buffers.mb", description = "Size of the DMA buffer pool in MiB")
    int buffers_mb() default 128;

    @AttributeDefinition(name = "hugepages",
            description = "auto: use 2 MiB hugepages for the buffer pool when the node has them; on: require them; off: never")
    String hugepages() default "auto";
}
