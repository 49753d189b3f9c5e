package io.mayastorj.nexus.internal;

import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/** The nexus settings (PID {@value #PID}); the launcher fills it from nexus.* keys. */
@ObjectClassDefinition(id = NexusConfig.PID, name = "Mayastor-J nexus", description = "How nexuses rebuild and where they record their children")
public @interface NexusConfig {

    String PID = "io.mayastorj.nexus";

    @AttributeDefinition(name = "nexus.rebuild.segment.kib", description = "Rebuild copy unit in KiB (Mayastor: 64)")
    int nexus_rebuild_segment_kib() default 64;

    @AttributeDefinition(name = "nexus.rebuild.tasks", description = "Segments copied at once per rebuild (Mayastor: 16)")
    int nexus_rebuild_tasks() default 16;

    @AttributeDefinition(name = "nexus.partial.rebuild.window.seconds",
            description = "How long a faulted child's write log is kept, so that its return rebuilds only what changed")
    int nexus_partial_rebuild_window_seconds() default 600;

    @AttributeDefinition(name = "nexus.nats.url",
            description = "NATS server (with JetStream) for the nexus records, e.g. nats://127.0.0.1:4222; empty: files in the state directory")
    String nexus_nats_url() default "";

    @AttributeDefinition(name = "nexus.nats.replicas",
            description = "How many servers of a NATS cluster keep the nexus records (JetStream replicas, 1 to 5)")
    int nexus_nats_replicas() default 1;

    @AttributeDefinition(name = "nexus.publish.address",
            description = "The address in a published nexus's URI, when application hosts reach the node at another than its targets listen on")
    String nexus_publish_address() default "";
}
