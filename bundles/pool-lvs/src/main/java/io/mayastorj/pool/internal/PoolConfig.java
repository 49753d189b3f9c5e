package io.mayastorj.pool.internal;

import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/** The pool settings (PID {@value #PID}); the launcher fills it from pool.* keys. */
@ObjectClassDefinition(id = PoolConfig.PID, name = "Mayastor-J pools", description = "Where a node looks for its pools")
public @interface PoolConfig {

    String PID = "io.mayastorj.pool";

    @AttributeDefinition(name = "pool.devices",
            description = "Comma-separated glob patterns of devices (e.g. /dev/disk/by-id/*) where the node looks for a "
                    + "remembered pool, by its uuid, when the pool is no longer on the device it was imported from")
    String pool_devices() default "";
}
