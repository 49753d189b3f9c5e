package io.mayastorj.control.internal.model;

import com.fasterxml.jackson.annotation.JsonInclude;
import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.Plural;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Singular;
import io.fabric8.kubernetes.model.annotation.Version;
import java.io.Serial;
import java.util.ArrayList;
import java.util.List;

/** A pool on one node's disk (msp): the control plane makes it there and reports how it is. */
@Group(Kinds.GROUP)
@Version(Kinds.VERSION)
@ShortNames("msp")
@Singular("mayastorpool")
@Plural("mayastorpools")
@AdditionalPrinterColumn(name = "Node", jsonPath = ".spec.node", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "State", jsonPath = ".status.state", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Age", jsonPath = ".metadata.creationTimestamp", type = AdditionalPrinterColumn.Type.DATE)
@AdditionalPrinterColumn(name = "Capacity", jsonPath = ".status.capacity", type = AdditionalPrinterColumn.Type.INTEGER, priority = 1)
@AdditionalPrinterColumn(name = "Used", jsonPath = ".status.used", type = AdditionalPrinterColumn.Type.INTEGER, priority = 1)
@AdditionalPrinterColumn(name = "Reason", jsonPath = ".status.reason", type = AdditionalPrinterColumn.Type.STRING, priority = 1)
public class MayastorPool extends CustomResource<MayastorPool.Spec, MayastorPool.Status> implements Namespaced {

    @Serial
    private static final long serialVersionUID = 1L;

    public static final String PENDING = "pending";
    public static final String ONLINE = "online";
    public static final String DEGRADED = "degraded";
    public static final String FAULTED = "faulted";
    public static final String OFFLINE = "offline";

    /** The node and its one disk (a URI, or a bare path meaning uring). */
    public static class Spec {
        // made on its node, a pool stays there: an edit made a second pool elsewhere and orphaned the first with
        // its replicas (the API server refuses the change; `ctl apply` refuses it in ResourceService)
        @Required
        @ValidationRule(value = "self == oldSelf", message = "a pool's node cannot change: delete it and create it again")
        private String node;
        @Required
        @Size(max = 1) // one disk a pool (and a bound on the rule's cost, which the API server estimates)
        @ValidationRule(value = "self == oldSelf", message = "a pool's disks cannot change: delete it and create it again")
        private List<String> disks = new ArrayList<>();

        public String getNode() {
            return node;
        }

        public void setNode(String node) {
            this.node = node;
        }

        public List<String> getDisks() {
            return disks;
        }

        public void setDisks(List<String> disks) {
            this.disks = disks;
        }
    }

    /** What the pool's node reports: pending, online, degraded, faulted or offline, with the reason. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public static class Status {
        private String state;
        private String reason;
        private List<String> disks;
        private Long capacity;
        private Long used;
        private List<Condition> conditions;
        private Long observedGeneration;

        /** The resource's generation this status answers (kubectl wait and controllers compare it with metadata.generation). */
        public Long getObservedGeneration() {
            return observedGeneration;
        }

        public void setObservedGeneration(Long observedGeneration) {
            this.observedGeneration = observedGeneration;
        }

        public String getState() {
            return state;
        }

        public void setState(String state) {
            this.state = state;
        }

        public String getReason() {
            return reason;
        }

        public void setReason(String reason) {
            this.reason = reason;
        }

        public List<String> getDisks() {
            return disks;
        }

        public void setDisks(List<String> disks) {
            this.disks = disks;
        }

        public Long getCapacity() {
            return capacity;
        }

        public void setCapacity(Long capacity) {
            this.capacity = capacity;
        }

        public Long getUsed() {
            return used;
        }

        public void setUsed(Long used) {
            this.used = used;
        }

        public List<Condition> getConditions() {
            return conditions;
        }

        public void setConditions(List<Condition> conditions) {
            this.conditions = conditions;
        }
    }

    @Override
    protected Spec initSpec() {
        return new Spec();
    }
}
