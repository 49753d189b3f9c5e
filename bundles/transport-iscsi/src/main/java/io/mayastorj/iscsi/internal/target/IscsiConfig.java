package io.mayastorj.iscsi.internal.target;

import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/** The iSCSI target's settings (PID {@value #PID}); the launcher fills it from iscsi.* keys. */
@ObjectClassDefinition(id = IscsiConfig.PID, name = "Mayastor-J iSCSI target", description = "Where the iSCSI target listens")
public @interface IscsiConfig {

    String PID = "io.mayastorj.iscsi";

    @AttributeDefinition(name = "iscsi.address", description = "Address to listen on; empty: the node's address")
    String iscsi_address() default "";

    @AttributeDefinition(name = "iscsi.port", description = "TCP port (3260, iSCSI's own)")
    int iscsi_port() default 3260;
}
