package io.mayastorj.pool.internal.shell;

import io.mayastorj.core.text.Sizes;
import io.mayastorj.core.text.Table;
import io.mayastorj.pool.internal.PoolManager;
import io.mayastorj.pool.internal.ReplicaView;
import java.util.Locale;
import org.apache.felix.service.command.Descriptor;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/** Shell commands {@code mayastor:pools} and {@code mayastor:replicas}. */
@Component(service = PoolCommands.class, property = {
        "osgi.command.scope=mayastor",
        "osgi.command.function=pools",
        "osgi.command.function=replicas"})
public final class PoolCommands {

    private final PoolManager pools;

    @Activate
    public PoolCommands(@Reference PoolManager pools) {
        this.pools = pools;
    }

    @Descriptor("pools: state, disk, capacity, use, replicas")
    public String pools() {
        Table table = new Table("NAME", "STATE", "DISK", "CAPACITY", "USED", "COMMITTED", "CLUSTER", "REPLICAS", "UUID", "REASON")
                .alignRight("CAPACITY", "USED", "COMMITTED", "CLUSTER", "REPLICAS");
        for (PoolManager.Entry e : pools.pools()) {
            var store = e.store();
            table.row(e.name(), e.state().toString().toLowerCase(Locale.ROOT), e.disk(),
                    store.map(s -> Sizes.human(s.capacity())).orElse(null),
                    store.map(s -> Sizes.human(s.usedBytes())).orElse(null),
                    store.map(s -> Sizes.human(s.committedBytes())).orElse(null),
                    store.map(s -> Sizes.human(s.clusterSize())).orElse(null),
                    store.map(s -> s.replicas().size() + s.damagedReplicas().size()).orElse(null),
                    store.map(s -> s.uuid()).orElse(null), e.reason());
        }
        return table.isEmpty() ? "no pools\n" : table.toString();
    }

    @Descriptor("replicas: pool, size, thin or thick, allocated, share")
    public String replicas() {
        Table table = new Table("UUID", "NAME", "POOL", "SIZE", "THIN", "ALLOCATED", "SHARE", "STATE")
                .alignRight("SIZE", "ALLOCATED");
        for (ReplicaView r : ReplicaView.all(pools, null)) {
            table.row(r.uuid(), r.name(), r.pool(), r.damaged() ? null : Sizes.human(r.size()),
                    r.damaged() ? null : r.thin(), r.damaged() ? null : Sizes.human(r.allocatedBytes()),
                    r.shareUri() != null ? r.shareUri() : r.shareProtocol(),
                    r.damaged() ? "faulted: " + r.reason() : "online");
        }
        return table.isEmpty() ? "no replicas\n" : table.toString();
    }
}
