package io.mayastorj.control.internal.model;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.Plural;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Singular;
import io.fabric8.kubernetes.model.annotation.Version;
import java.io.Serial;

/**
 * A storage node the control plane knows (msn): where its gRPC API is, and whether it is online —
 * kept by the control plane from the nodes' heartbeats. The status is a bare word, as in MOAC.
 */
@Group(Kinds.GROUP)
@Version(Kinds.VERSION)
@ShortNames("msn")
@Singular("mayastornode")
@Plural("mayastornodes")
@AdditionalPrinterColumn(name = "State", jsonPath = ".status", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Age", jsonPath = ".metadata.creationTimestamp", type = AdditionalPrinterColumn.Type.DATE)
public class MayastorNode extends CustomResource<MayastorNode.Spec, String> implements Namespaced {

    @Serial
    private static final long serialVersionUID = 1L;

    public static final String ONLINE = "online";
    public static final String OFFLINE = "offline";

    /** Where the node's API is. */
    public static class Spec {
        private String grpcEndpoint;

        public String getGrpcEndpoint() {
            return grpcEndpoint;
        }

        public void setGrpcEndpoint(String grpcEndpoint) {
            this.grpcEndpoint = grpcEndpoint;
        }
    }

    @Override
    protected Spec initSpec() {
        return new Spec();
    }
}
