/**
 * The Container Storage Interface v1, generated from {@code src/main/proto/csi/v1/csi.proto}:
 * messages and gRPC stubs of Identity, Controller and Node, for the services that implement them
 * here and in the control plane, and for clients.
 */
@Export
@Version("1.0.0")
package io.mayastorj.csi.v1;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
