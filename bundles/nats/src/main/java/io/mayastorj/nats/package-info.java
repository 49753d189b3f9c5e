/**
 * What the bundles that speak NATS share beyond jnats itself: {@link io.mayastorj.nats.NatsConnector},
 * a connect that is tried until a server answers and that {@code close} really ends.
 */
@Export
@Version("1.0.0")
package io.mayastorj.nats;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
