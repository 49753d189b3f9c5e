/**
 * What a bundle needs to serve part of the CSI driver: register a gRPC {@code BindableService}
 * with {@code mayastor.grpc.server=csi} and it is served on the CSI endpoint; register a {@link
 * io.mayastorj.csi.CsiReadiness} to take part in Probe's answer. {@link io.mayastorj.csi.CsiEndpoint}
 * parses an endpoint as Kubernetes writes it, for servers and clients.
 */
@Export
@Version("1.0.0")
package io.mayastorj.csi;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
