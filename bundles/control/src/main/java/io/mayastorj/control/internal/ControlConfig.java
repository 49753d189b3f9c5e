package io.mayastorj.control.internal;

import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/** The control plane's settings (PID {@value #PID}); the launcher fills it from `mayastor control`'s. */
@ObjectClassDefinition(id = ControlConfig.PID, name = "Mayastor-J control plane",
        description = "Where the control plane keeps its resources and hears from the nodes")
public @interface ControlConfig {

    String PID = "io.mayastorj.control";

    @AttributeDefinition(name = "store.dir", description = "The embedded store: a directory of YAML files (when no kubeconfig)")
    String store_dir() default "";

    @AttributeDefinition(name = "kubeconfig", description = "Keep resources in Kubernetes: a kubeconfig file, or in-cluster")
    String kubeconfig() default "";

    @AttributeDefinition(name = "kube.namespace", description = "The namespace of the resources in Kubernetes")
    String kube_namespace() default "mayastor";

    @AttributeDefinition(name = "nats.url", description = "Hear node registrations on NATS subject v0/registry; empty: gRPC only")
    String nats_url() default "";

    @AttributeDefinition(name = "registration.interval.seconds", description = "The nodes' heartbeat interval")
    int registration_interval_seconds() default 5;

    @AttributeDefinition(name = "registration.missed", description = "Heartbeats a node may miss before it is offline")
    int registration_missed() default 3;

    @AttributeDefinition(name = "sync.period.seconds", description = "Every resource is reconciled at least this often")
    int sync_period_seconds() default 10;

    @AttributeDefinition(name = "repair.grace.seconds",
            description = "How long a volume waits for a replica's node to come back before it replaces the replica")
    int repair_grace_seconds() default 300;

    @AttributeDefinition(name = "orphan.grace.seconds",
            description = "How long a replica named for a volume the store does not have is kept before it is destroyed")
    int orphan_grace_seconds() default 3600;

    @AttributeDefinition(name = "switchover.grace.seconds",
            description = "How long the node of a published volume's nexus may be silent and unreachable before the nexus "
                    + "is made again on another node holding an in-sync replica (needs nats.url)")
    int switchover_grace_seconds() default 10;

    @AttributeDefinition(name = "node.call.timeout.seconds", description = "Deadline of each call to a node")
    int node_call_timeout_seconds() default 30;

    @AttributeDefinition(name = "reconcile.workers", description = "Resources reconciled at once, each by one worker at a time")
    int reconcile_workers() default 4;
}
