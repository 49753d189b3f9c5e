package io.mayastorj.csi.internal;

import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/** The CSI driver's settings (PID {@value #PID}); a runtime without them serves no CSI. */
@ObjectClassDefinition(id = CsiConfig.PID, name = "Mayastor-J CSI driver",
        description = "Where the CSI driver listens, and whether this runtime attaches volumes (the Node service)")
public @interface CsiConfig {

    String PID = "io.mayastorj.csi";

    @AttributeDefinition(name = "endpoint", description = "unix:///path/csi.sock or tcp://host:port")
    String endpoint();

    @AttributeDefinition(name = "node", description = "Serve the Node service: attach, format and mount volumes here")
    boolean node() default false;

    @AttributeDefinition(name = "node.device.timeout.seconds", description = "How long a connected volume's device may take to appear")
    int node_device_timeout_seconds() default 60;

    @AttributeDefinition(name = "node.io.timeout.seconds", description = "The default ioTimeout of a volume: how long the kernel retries a lost connection")
    int node_io_timeout_seconds() default 30;

    @AttributeDefinition(name = "control.endpoint", description = "ip:port of the control plane's gRPC API: volumes "
            + "staged here follow their nexus when it moves to another node; empty: they do not")
    String control_endpoint() default "";

    @AttributeDefinition(name = "node.follow.millis", description = "How often the control plane is asked where the volumes "
            + "staged here are served")
    int node_follow_millis() default 1000;
}
