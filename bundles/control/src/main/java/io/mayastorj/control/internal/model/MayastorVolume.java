package io.mayastorj.control.internal.model;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;
import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
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

/**
 * A replicated volume (msv): how many replicas of how many bytes, over which protocol; the control
 * plane places the replicas, makes the nexus when the volume is published, and repairs it.
 */
@Group(Kinds.GROUP)
@Version(Kinds.VERSION)
@ShortNames("msv")
@Singular("mayastorvolume")
@Plural("mayastorvolumes")
@AdditionalPrinterColumn(name = "Targets", jsonPath = ".status.targetNodes", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Size", jsonPath = ".status.size", type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(name = "State", jsonPath = ".status.state", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Age", jsonPath = ".metadata.creationTimestamp", type = AdditionalPrinterColumn.Type.DATE)
@AdditionalPrinterColumn(name = "Reason", jsonPath = ".status.reason", type = AdditionalPrinterColumn.Type.STRING, priority = 1)
public class MayastorVolume extends CustomResource<MayastorVolume.Spec, MayastorVolume.Status> implements Namespaced {

    @Serial
    private static final long serialVersionUID = 1L;

    public static final String PENDING = "pending";
    public static final String HEALTHY = "healthy";
    public static final String DEGRADED = "degraded";
    public static final String FAULTED = "faulted";
    public static final String OFFLINE = "offline";
    /** The state of the nexus a volume had on a node that cannot be reached: what it does now is unknown. */
    public static final String NEXUS_UNKNOWN = "unknown";

    /** What the volume is to be. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public static class Spec {
        @Required
        @Min(1)
        private Integer replicaCount;
        @Required
        @Min(1)
        private Long requiredBytes;
        private Long limitBytes;
        /** nvmf (default), iscsi, or none (not shared: the nexus serves its own node only). */
        @Pattern("^(nvmf|iscsi|none)$")
        private String protocol;
        private Boolean thin;
        /** The nexus goes on the application's node when the volume is published. */
        private Boolean local;
        private List<String> preferredNodes;
        private List<String> requiredNodes;
        /** The node the volume's nexus runs on, set by publish (CSI ControllerPublish); none: not published. */
        private String targetNode;
        /** The application's node it is published to (the only host its nexus admits); may be the target node. */
        private String appNode;

        public Integer getReplicaCount() {
            return replicaCount;
        }

        public void setReplicaCount(Integer replicaCount) {
            this.replicaCount = replicaCount;
        }

        public Long getRequiredBytes() {
            return requiredBytes;
        }

        public void setRequiredBytes(Long requiredBytes) {
            this.requiredBytes = requiredBytes;
        }

        public Long getLimitBytes() {
            return limitBytes;
        }

        public void setLimitBytes(Long limitBytes) {
            this.limitBytes = limitBytes;
        }

        public String getProtocol() {
            return protocol;
        }

        public void setProtocol(String protocol) {
            this.protocol = protocol;
        }

        public Boolean getThin() {
            return thin;
        }

        public void setThin(Boolean thin) {
            this.thin = thin;
        }

        public Boolean getLocal() {
            return local;
        }

        public void setLocal(Boolean local) {
            this.local = local;
        }

        public List<String> getPreferredNodes() {
            return preferredNodes;
        }

        public void setPreferredNodes(List<String> preferredNodes) {
            this.preferredNodes = preferredNodes;
        }

        public List<String> getRequiredNodes() {
            return requiredNodes;
        }

        public void setRequiredNodes(List<String> requiredNodes) {
            this.requiredNodes = requiredNodes;
        }

        public String getTargetNode() {
            return targetNode;
        }

        public void setTargetNode(String targetNode) {
            this.targetNode = targetNode;
        }

        public String getAppNode() {
            return appNode;
        }

        public void setAppNode(String appNode) {
            this.appNode = appNode;
        }
    }

    /** One of the volume's replicas. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public static class Replica {
        private String node;
        private String pool;
        private String uri;
        private Boolean offline;
        /** Known to be behind the others (new beside data, or faulted): rebuilt before it serves reads. */
        private Boolean outOfSync;

        public Replica() {
        }

        public Replica(String node, String pool, String uri, boolean offline) {
            this.node = node;
            this.pool = pool;
            this.uri = uri;
            this.offline = offline ? Boolean.TRUE : null;
        }

        public String getNode() {
            return node;
        }

        public void setNode(String node) {
            this.node = node;
        }

        public String getPool() {
            return pool;
        }

        public void setPool(String pool) {
            this.pool = pool;
        }

        public String getUri() {
            return uri;
        }

        public void setUri(String uri) {
            this.uri = uri;
        }

        public Boolean getOffline() {
            return offline;
        }

        public void setOffline(Boolean offline) {
            this.offline = offline;
        }

        public Boolean getOutOfSync() {
            return outOfSync;
        }

        public void setOutOfSync(Boolean outOfSync) {
            this.outOfSync = outOfSync;
        }
    }

    /** A child of the volume's nexus. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public static class Child {
        private String uri;
        private String state;
        private Double rebuildProgress;

        public Child() {
        }

        public Child(String uri, String state, Double rebuildProgress) {
            this.uri = uri;
            this.state = state;
            this.rebuildProgress = rebuildProgress;
        }

        public String getUri() {
            return uri;
        }

        public void setUri(String uri) {
            this.uri = uri;
        }

        public String getState() {
            return state;
        }

        public void setState(String state) {
            this.state = state;
        }

        public Double getRebuildProgress() {
            return rebuildProgress;
        }

        public void setRebuildProgress(Double rebuildProgress) {
            this.rebuildProgress = rebuildProgress;
        }
    }

    /** The volume's nexus: where, its URI for the application, its state and children. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public static class Nexus {
        private String node;
        private String deviceUri;
        private String state;
        private List<Child> children = new ArrayList<>();

        public String getNode() {
            return node;
        }

        public void setNode(String node) {
            this.node = node;
        }

        public String getDeviceUri() {
            return deviceUri;
        }

        public void setDeviceUri(String deviceUri) {
            this.deviceUri = deviceUri;
        }

        public String getState() {
            return state;
        }

        public void setState(String state) {
            this.state = state;
        }

        public List<Child> getChildren() {
            return children;
        }

        public void setChildren(List<Child> children) {
            this.children = children;
        }
    }

    /** How the volume is: pending, healthy, degraded, faulted or offline, and why. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public static class Status {
        private String state;
        private String reason;
        /** The spec's generation this status is the operator's answer to (Kubernetes' convention). */
        private Long observedGeneration;
        private Long size;
        private List<String> targetNodes;
        private Nexus nexus;
        /**
         * The highest incarnation this volume's nexus was seen to take: a nexus record below it, or
         * none, was lost by NATS (or written again by a nexus since superseded), and is not taken.
         */
        private Integer nexusIncarnation;
        private List<Replica> replicas;
        private List<Condition> conditions;

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

        public Long getObservedGeneration() {
            return observedGeneration;
        }

        public void setObservedGeneration(Long observedGeneration) {
            this.observedGeneration = observedGeneration;
        }

        public Long getSize() {
            return size;
        }

        public void setSize(Long size) {
            this.size = size;
        }

        public List<String> getTargetNodes() {
            return targetNodes;
        }

        public void setTargetNodes(List<String> targetNodes) {
            this.targetNodes = targetNodes;
        }

        public Nexus getNexus() {
            return nexus;
        }

        public Integer getNexusIncarnation() {
            return nexusIncarnation;
        }

        public void setNexusIncarnation(Integer nexusIncarnation) {
            this.nexusIncarnation = nexusIncarnation;
        }

        public void setNexus(Nexus nexus) {
            this.nexus = nexus;
        }

        public List<Replica> getReplicas() {
            return replicas;
        }

        public void setReplicas(List<Replica> replicas) {
            this.replicas = replicas;
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

    /**
     * The bytes the volume serves: {@code spec.requiredBytes}, or the size it has when a spec was
     * edited below it — a volume never shrinks (its file system may fill all of it).
     */
    @JsonIgnore
    public long servedBytes() {
        long wanted = getSpec() == null || getSpec().getRequiredBytes() == null ? 0 : getSpec().getRequiredBytes();
        return Math.max(wanted, getStatus() == null || getStatus().getSize() == null ? 0 : getStatus().getSize());
    }
}
