/**
 * Transports share a bdev over a storage protocol (nvmf, iscsi, or a third party's); the
 * {@link io.mayastorj.core.transport.ShareManager} owns the desired shares and re-establishes them
 * when a transport comes back.
 */
@Export
@Version("1.4.0")
package io.mayastorj.core.transport;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
