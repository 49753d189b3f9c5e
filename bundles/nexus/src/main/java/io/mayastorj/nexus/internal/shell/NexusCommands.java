package io.mayastorj.nexus.internal.shell;

import io.mayastorj.core.text.Sizes;
import io.mayastorj.core.text.Table;
import io.mayastorj.nexus.internal.NexusManager;
import io.mayastorj.nexus.internal.NexusView;
import java.util.Locale;
import org.apache.felix.service.command.Descriptor;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/** Shell command {@code mayastor:nexus}: each nexus, its children, and the rebuilds with progress, rate and ETA. */
@Component(service = NexusCommands.class, property = {
        "osgi.command.scope=mayastor",
        "osgi.command.function=nexus"})
public final class NexusCommands {

    private final NexusManager nexuses;

    @Activate
    public NexusCommands(@Reference NexusManager nexuses) {
        this.nexuses = nexuses;
    }

    @Descriptor("nexuses: state, size, published URI; each child's state and its rebuild's progress, rate and ETA")
    public String nexus() {
        StringBuilder out = new StringBuilder();
        for (NexusView n : nexuses.list()) {
            // ANA whenever it is not optimized, published or not: a fenced nexus (another one serves the volume) is
            // inaccessible, and "online" alone hid that
            boolean ana = !n.deviceUri().isEmpty() || n.access() != io.mayastorj.core.bdev.AccessState.OPTIMIZED;
            out.append(String.format(Locale.ROOT, "nexus %s  %s  %s  %s  incarnation %d%s%s%n", n.name(), n.uuid(), n.state(),
                    Sizes.human(n.sizeBytes()), n.incarnation(), n.deviceUri().isEmpty() ? "" : "  " + n.deviceUri(),
                    ana ? "  ANA " + n.access().name().toLowerCase(Locale.ROOT).replace('_', '-') : ""));
            Table children = new Table("  CHILD", "STATE", "SINCE", "REASON", "REBUILD");
            long now = System.currentTimeMillis();
            for (NexusView.ChildView c : n.children()) {
                children.row("  " + c.uri(), c.state(), c.sinceMillis() <= 0 ? null : ago(now - c.sinceMillis()),
                        c.cause().isEmpty() ? (c.reason().equals("NONE") ? "" : c.reason()) : c.reason() + ": " + c.cause(),
                        rebuild(c.rebuild()));
            }
            out.append(children).append('\n');
        }
        return out.isEmpty() ? "no nexuses\n" : out.toString();
    }

    /** A time ago as people read it: "40 s ago", "12 min ago", "3 h ago", "2 d ago". */
    static String ago(long millis) {
        long s = Math.max(0, millis / 1000);
        return (s < 120 ? s + " s" : s < 7200 ? s / 60 + " min" : s < 172_800 ? s / 3600 + " h" : s / 86_400 + " d") + " ago";
    }

    /** "running 42% (partial), 310 MiB/s, 3 s left" */
    public static String rebuild(NexusView.RebuildView r) {
        if (r == null) {
            return "";
        }
        StringBuilder s = new StringBuilder(r.state()).append(String.format(Locale.ROOT, " %.0f%%", r.progress() * 100));
        s.append(r.partial() ? " partial" : " full").append(String.format(Locale.ROOT, " (%d/%d segments)", r.done(), r.total()));
        if (r.rate() > 0) {
            s.append(", ").append(Sizes.human((long) r.rate())).append("/s");
        }
        if (r.state().equals("running") && r.etaSeconds() >= 0) {
            s.append(", ").append(r.etaSeconds()).append(" s left");
        }
        if (!r.error().isEmpty()) {
            s.append(": ").append(r.error());
        }
        return s.toString();
    }
}
