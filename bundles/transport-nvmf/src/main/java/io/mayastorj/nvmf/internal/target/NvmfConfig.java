package io.mayastorj.nvmf.internal.target;

import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/** The NVMe-oF/TCP settings, target and host (PID {@value #PID}); the launcher fills it from nvmf.* keys. */
@ObjectClassDefinition(id = NvmfConfig.PID, name = "Mayastor-J NVMe-oF/TCP target",
        description = "Where the nvmf target listens")
public @interface NvmfConfig {

    String PID = "io.mayastorj.nvmf";

    @AttributeDefinition(name = "nvmf.address", description = "Address to listen on; empty: the node's address")
    String nvmf_address() default "";

    @AttributeDefinition(name = "nvmf.port", description = "TCP port (Mayastor serves replicas on 8420)")
    int nvmf_port() default 8420;

    @AttributeDefinition(name = "nvmf.nexus.port",
            description = "TCP port of the nexus frontends, the volumes hosts connect to (Mayastor's 4421); nvmf.port: one port")
    int nvmf_nexus_port() default 4421;

    @AttributeDefinition(name = "nvmf.io.timeout",
            description = "Seconds an nvmf:// bdev waits for a command before it drops the connection and reconnects")
    int nvmf_io_timeout() default 30;
}
