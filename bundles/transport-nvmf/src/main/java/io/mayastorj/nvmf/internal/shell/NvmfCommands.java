package io.mayastorj.nvmf.internal.shell;

import io.mayastorj.core.text.Table;
import io.mayastorj.nvmf.internal.host.NvmfBdevFactory;
import io.mayastorj.nvmf.internal.host.NvmfBdevView;
import io.mayastorj.nvmf.internal.target.NvmfTarget;
import io.mayastorj.nvmf.internal.target.QueueView;
import io.mayastorj.nvmf.internal.target.SubsystemView;
import org.apache.felix.service.command.Descriptor;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/** Shell command {@code mayastor:nvmf}: the target's subsystems and connections, and the host's bdevs. */
@Component(service = NvmfCommands.class, property = {
        "osgi.command.scope=mayastor",
        "osgi.command.function=nvmf"})
public final class NvmfCommands {

    private final NvmfTarget target;
    private final NvmfBdevFactory host;

    @Activate
    public NvmfCommands(@Reference NvmfTarget target, @Reference NvmfBdevFactory host) {
        this.target = target;
        this.host = host;
    }

    @Descriptor("NVMe-oF/TCP: subsystems, controllers and queues of the target; remote namespaces opened as bdevs")
    public String nvmf() {
        StringBuilder out = new StringBuilder();
        out.append("target ").append(target.address().getAddress().getHostAddress()).append(':')
                .append(target.address().getPort());
        if (!target.nexusAddress().equals(target.address())) {
            out.append(" (nexus frontends on port ").append(target.nexusAddress().getPort()).append(')');
        }
        out.append(", ").append(target.connectionsAccepted())
                .append(" connection(s) accepted\n\n");
        Table subsystems = new Table("SUBSYSTEM", "BDEV", "ALLOWED HOSTS", "CONTROLLERS", "AT BDEV")
                .alignRight("AT BDEV");
        for (SubsystemView s : target.subsystems()) {
            subsystems.row(s.nqn(), s.bdev() == null ? "(discovery)" : s.bdev(),
                    s.allowedHosts().isEmpty() ? "any" : String.join(" ", s.allowedHosts()),
                    s.controllers().isEmpty() ? "-" : String.join(", ", s.controllers()), s.commandsInFlight());
        }
        out.append(subsystems);
        Table queues = new Table("PEER", "SUBSYSTEM", "CNTLID", "QID", "REACTOR", "DEPTH", "IN FLIGHT", "COMMANDS",
                "DIGESTS").alignRight("CNTLID", "QID", "REACTOR", "DEPTH", "IN FLIGHT", "COMMANDS");
        for (QueueView q : target.queues()) {
            queues.row(q.peer(), q.subsystem(), q.cntlid() < 0 ? "-" : q.cntlid(), q.qid() < 0 ? "-" : q.qid(),
                    q.reactor(), q.depth(), q.inFlight(), q.commands(),
                    q.headerDigest() || q.dataDigest()
                            ? (q.headerDigest() ? "header" : "") + (q.headerDigest() && q.dataDigest() ? "+" : "")
                            + (q.dataDigest() ? "data" : "") : "none");
        }
        out.append('\n').append(queues.isEmpty() ? "no connections\n" : queues.toString());
        Table bdevs = new Table("BDEV", "TARGET", "STATE", "QUEUES (qid:out/depth)", "RECONNECTS", "LAST ERROR")
                .alignRight("RECONNECTS");
        for (NvmfBdevView b : host.bdevs()) {
            bdevs.row(b.name(), b.address(), b.connected() ? "connected" : "reconnecting", b.queues(), b.reconnects(),
                    b.lastError());
        }
        out.append('\n').append(bdevs.isEmpty() ? "no nvmf bdevs\n" : bdevs.toString());
        return out.toString();
    }
}
