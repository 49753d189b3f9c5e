package io.mayastorj.iscsi.internal.shell;

import io.mayastorj.core.text.Table;
import io.mayastorj.iscsi.internal.target.IscsiTarget;
import org.apache.felix.service.command.Descriptor;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/** Shell command {@code mayastor:iscsi}: the target's targets and its connections (one per session). */
@Component(service = IscsiCommands.class, property = {
        "osgi.command.scope=mayastor",
        "osgi.command.function=iscsi"})
public final class IscsiCommands {

    private final IscsiTarget target;

    @Activate
    public IscsiCommands(@Reference IscsiTarget target) {
        this.target = target;
    }

    @Descriptor("iSCSI: targets (LUN 0 = the bdev) and their reservations, sessions and the commands in flight on each")
    public String iscsi() {
        StringBuilder out = new StringBuilder();
        out.append("portal ").append(target.address().getAddress().getHostAddress()).append(':')
                .append(target.address().getPort()).append("\n\n");
        Table targets = new Table("TARGET", "LUN 0", "ALLOWED INITIATORS", "RESERVATIONS");
        for (IscsiTarget.Target t : target.sharedTargets()) {
            targets.row(t.iqn(), t.device().name(), t.allowedInitiators().isEmpty() ? "any" : String.join(" ", t.allowedInitiators()),
                    target.reservationsOf(t.device()));
        }
        out.append(targets.isEmpty() ? "no targets\n" : targets.toString());
        Table sessions = new Table("PEER", "INITIATOR", "TARGET", "REACTOR", "IN FLIGHT").alignRight("REACTOR", "IN FLIGHT");
        for (IscsiTarget.ConnectionView c : target.connections()) {
            sessions.row(c.peer(), c.initiator() == null ? "(logging in)" : c.initiator(), c.target(), c.reactor(), c.inFlight());
        }
        out.append('\n').append(sessions.isEmpty() ? "no sessions\n" : sessions.toString());
        return out.toString();
    }
}
