package io.mayastorj.core.internal.node;

import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/**
 * The storage node's I/O resources (PID {@value #PID}): reactors and the DMA buffer pool. Only a
 * storage node's runtime has this configuration; the control plane's runtime, which shares core for
 * its gRPC server and shell, has neither reactors nor buffers.
 */
@ObjectClassDefinition(id = DataPlaneConfig.PID, name = "Mayastor-J data plane",
        description = "Reactors and the DMA buffer pool of a storage node")
public @interface DataPlaneConfig {

    String PID = "io.mayastorj.dataplane";

    @AttributeDefinition(name = "reactors", description = "Number of reactor (I/O) threads")
    int reactors() default 2;

    @AttributeDefinition(name = "buffers.mb", description = "Size of the DMA buffer pool in MiB")
    int buffers_mb() default 128;

    @AttributeDefinition(name = "hugepages",
            description = "auto: use 2 MiB hugepages for the buffer pool when the node has them; on: require them; off: never")
    String hugepages() default "auto";
}
