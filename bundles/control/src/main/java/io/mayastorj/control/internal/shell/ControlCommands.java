package io.mayastorj.control.internal.shell;

import io.mayastorj.control.internal.ControlPlane;
import io.mayastorj.control.internal.model.MayastorPool;
import io.mayastorj.control.internal.model.MayastorVolume;
import io.mayastorj.control.internal.registry.NodeRegistry;
import io.mayastorj.core.text.Sizes;
import io.mayastorj.core.text.Table;
import java.time.Duration;
import java.time.Instant;
import org.apache.felix.service.command.Descriptor;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/** Felix shell commands of the control runtime: what the control plane knows, live. */
@Component(service = ControlCommands.class, property = {
        "osgi.command.scope=mayastor",
        "osgi.command.function=nodes",
        "osgi.command.function=pools",
        "osgi.command.function=volumes"})
public final class ControlCommands {

    private final ControlPlane control;

    @Activate
    public ControlCommands(@Reference ControlPlane control) {
        this.control = control;
    }

    /** The registered nodes: endpoint, online or not, last heartbeat. */
    @Descriptor("the registered nodes: state, gRPC endpoint, last heartbeat")
    public String nodes() {
        Table t = new Table("NODE", "STATE", "ENDPOINT", "LAST SEEN");
        for (NodeRegistry.NodeState n : control.registry().nodes()) {
            t.row(n.id(), n.online() ? "online" : "offline", n.endpoint(),
                    Duration.between(Instant.ofEpochMilli(n.lastSeenMillis()), Instant.now()).toSeconds() + " s ago");
        }
        return t.toString();
    }

    /** The pools the control plane manages, as their nodes last reported them. */
    @Descriptor("the MayastorPools: node, disks, state, capacity, used, why")
    public String pools() {
        Table t = new Table("POOL", "NODE", "DISK", "STATE", "CAPACITY", "USED", "REASON").alignRight("CAPACITY", "USED");
        for (MayastorPool p : control.store().list(MayastorPool.class)) {
            var s = p.getStatus();
            var spec = p.getSpec() == null ? new MayastorPool.Spec() : p.getSpec(); // made with kubectl, it may have none
            t.row(p.getMetadata().getName(), spec.getNode(), spec.getDisks() == null ? null : String.join(",", spec.getDisks()),
                    s == null ? null : s.getState(), s == null || s.getCapacity() == null ? null : Sizes.human(s.getCapacity()),
                    s == null || s.getUsed() == null ? null : Sizes.human(s.getUsed()), s == null ? null : s.getReason());
        }
        return t.toString();
    }

    /** The volumes: size, replicas, state, target and why. */
    @Descriptor("the MayastorVolumes: size, replicas, state, target node, URI, why")
    public String volumes() {
        Table t = new Table("VOLUME", "SIZE", "REPLICAS", "STATE", "TARGET", "URI", "REASON").alignRight("SIZE", "REPLICAS");
        for (MayastorVolume v : control.store().list(MayastorVolume.class)) {
            var s = v.getStatus();
            var spec = v.getSpec() == null ? new MayastorVolume.Spec() : v.getSpec();
            long live = s == null || s.getReplicas() == null ? 0
                    : s.getReplicas().stream().filter(r -> !Boolean.TRUE.equals(r.getOffline())).count();
            t.row(v.getMetadata().getName(), spec.getRequiredBytes() == null ? null : Sizes.human(spec.getRequiredBytes()),
                    spec.getReplicaCount() == null ? null : live + "/" + spec.getReplicaCount(), s == null ? null : s.getState(),
                    s != null && s.getNexus() != null && s.getNexus().getNode() != null ? s.getNexus().getNode() : spec.getTargetNode(),
                    s == null || s.getNexus() == null ? null : s.getNexus().getDeviceUri(), s == null ? null : s.getReason());
        }
        return t.toString();
    }
}
