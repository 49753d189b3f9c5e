package io.mayastorj.core.internal.shell;

import io.mayastorj.core.bdev.BdevInfo;
import io.mayastorj.core.bdev.BdevRegistry;
import io.mayastorj.core.bdev.BdevStats;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.buffer.BufferPool;
import io.mayastorj.core.buffer.BufferPoolStats;
import io.mayastorj.core.internal.reactor.ReactorGroupImpl;
import io.mayastorj.core.node.Node;
import io.mayastorj.core.text.Sizes;
import io.mayastorj.core.text.Table;
import io.mayastorj.core.transport.ShareManager;
import io.mayastorj.core.transport.ShareStatus;
import org.apache.felix.service.command.Descriptor;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/** The core's Felix shell commands, scope {@code mayastor}: the live state of the node. */
@Component(service = CoreCommands.class, property = {
        "osgi.command.scope=mayastor",
        "osgi.command.function=bdevs",
        "osgi.command.function=stats",
        "osgi.command.function=buffers",
        "osgi.command.function=reactors",
        "osgi.command.function=shares",
        "osgi.command.function=node"})
public final class CoreCommands {

    private final Node node;
    private final BdevRegistry registry;
    private final BufferPool buffers;
    private final ReactorGroupImpl reactors;
    private final ShareManager shares;

    @Activate
    public CoreCommands(@Reference Node node, @Reference BdevRegistry registry, @Reference BufferPool buffers,
                        @Reference ReactorGroupImpl reactors, @Reference ShareManager shares) {
        this.node = node;
        this.registry = registry;
        this.buffers = buffers;
        this.reactors = reactors;
        this.shares = shares;
    }

    @Descriptor("the node: id, endpoint, version, uptime")
    public String node() {
        return new Table("NODE", "ENDPOINT", "VERSION", "STATE DIR", "STARTED")
                .row(node.id(), node.grpcEndpoint(), node.version(), node.stateDir(), node.startedAt())
                .toString();
    }

    @Descriptor("block devices: name, kind, size, block size, who claims them")
    public String bdevs() {
        Table table = new Table("NAME", "PRODUCT", "SIZE", "BLK_SIZE", "BLOCKS", "UUID", "CLAIMED_BY", "SHARE")
                .alignRight("SIZE", "BLK_SIZE", "BLOCKS");
        for (BdevInfo info : registry.list()) {
            BlockDevice d = info.device();
            table.row(d.name(), d.productName(), Sizes.human(d.sizeBytes()), d.blockSize(), d.blockCount(),
                    d.uuid(), info.claimedBy(), shares.status(d.name()).map(ShareStatus::uri).orElse(null));
        }
        return table.isEmpty() ? "no bdevs\n" : table.toString();
    }

    @Descriptor("I/O counters per block device")
    public String stats() {
        Table table = new Table("NAME", "READS", "READ", "WRITES", "WRITTEN", "UNMAPS", "ZEROES", "FLUSHES",
                "ERRORS", "IN_FLIGHT")
                .alignRight("READS", "READ", "WRITES", "WRITTEN", "UNMAPS", "ZEROES", "FLUSHES", "ERRORS", "IN_FLIGHT");
        for (BdevInfo info : registry.list()) {
            BdevStats s = info.device().stats();
            table.row(info.device().name(), s.readOps(), Sizes.human(s.bytesRead()), s.writeOps(),
                    Sizes.human(s.bytesWritten()), s.unmapOps(), s.writeZeroesOps(), s.flushOps(), s.errors(),
                    s.inFlight());
        }
        return table.isEmpty() ? "no bdevs\n" : table.toString();
    }

    @Descriptor("the DMA buffer pool: size, use, hugepages, per size class")
    public String buffers() {
        BufferPoolStats s = buffers.stats();
        StringBuilder out = new StringBuilder();
        out.append("backing:  ").append(s.hugepages() ? s.hugepagesInUse() + " hugepages of 2 MiB" : "ordinary memory (no hugepages)").append('\n');
        out.append("size:     ").append(Sizes.human(s.totalBytes())).append('\n');
        out.append("in use:   ").append(Sizes.human(s.usedBytes())).append('\n');
        out.append("failures: ").append(s.allocationFailures()).append(" (requests refused: no buffer free)\n\n");
        Table table = new Table("CLASS", "BUFFERS", "IN_USE").alignRight("CLASS", "BUFFERS", "IN_USE");
        for (BufferPoolStats.SizeClassStats c : s.classes()) {
            table.row(Sizes.human(c.bufferSize()), c.buffers(), c.inUse());
        }
        return out.append(table).toString();
    }

    @Descriptor("reactor threads: channels, timers, tasks run")
    public String reactors() {
        return reactors.describe();
    }

    @Descriptor("shared bdevs: protocol, state, URI")
    public String shares() {
        Table table = new Table("BDEV", "PROTOCOL", "STATE", "URI", "ALLOWED_HOSTS", "ERROR");
        for (ShareStatus s : shares.shares()) {
            table.row(s.bdev(), s.protocol(), s.state(), s.uri(),
                    s.options().allowedHosts().isEmpty() ? "any" : String.join(",", s.options().allowedHosts()),
                    s.error());
        }
        String transports = "transports: " + (shares.protocols().isEmpty() ? "none" : String.join(", ", shares.protocols()));
        return (table.isEmpty() ? "no shares\n" : table.toString()) + transports + "\n";
    }
}
