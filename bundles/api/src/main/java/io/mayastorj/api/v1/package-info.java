/**
 * The node API, generated from {@code src/main/proto/mayastor/v1}: protobuf messages and gRPC
 * stubs shared by the node's services, the CLI and the control plane.
 */
@Export
@Version("1.0.0")
package io.mayastorj.api.v1;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
