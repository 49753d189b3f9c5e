package io.mayastorj.registration.internal;

import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/** How a node announces itself (PID {@value #PID}); the launcher fills it from the node's settings. */
@ObjectClassDefinition(id = RegistrationConfig.PID, name = "Mayastor-J node registration",
        description = "Where the node announces itself to the control plane")
public @interface RegistrationConfig {

    String PID = "io.mayastorj.registration";

    @AttributeDefinition(name = "nats.url", description = "NATS server, e.g. nats://10.0.0.1:4222: register on subject "
            + "v0/registry; empty: not over NATS")
    String nats_url() default "";

    @AttributeDefinition(name = "control.endpoint", description = "ip:port of the control plane's gRPC API: register "
            + "through its Registration service; empty: not over gRPC")
    String control_endpoint() default "";

    @AttributeDefinition(name = "registration.interval.seconds", description = "Seconds between heartbeats")
    int registration_interval_seconds() default 5;

    @AttributeDefinition(name = "application.only", description = "A node that attaches volumes but holds no pools "
            + "(mayastor csi-node); it registers over gRPC only, MOAC's NATS registry knowing storage nodes only")
    boolean application_only() default false;
}
