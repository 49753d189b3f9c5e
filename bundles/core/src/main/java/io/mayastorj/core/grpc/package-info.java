/**
 * What every gRPC service of the project shares: how errors become statuses ({@link
 * io.mayastorj.core.grpc.ErrorMapping}), and which server serves a service ({@link
 * io.mayastorj.core.grpc.GrpcServers}).
 */
@Export
@Version("1.0.0")
package io.mayastorj.core.grpc;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
