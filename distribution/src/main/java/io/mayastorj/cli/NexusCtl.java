package io.mayastorj.cli;

import io.mayastorj.api.v1.AddChildNexusRequest;
import io.mayastorj.api.v1.Child;
import io.mayastorj.api.v1.ChildState;
import io.mayastorj.api.v1.CreateNexusRequest;
import io.mayastorj.api.v1.DestroyNexusRequest;
import io.mayastorj.api.v1.FaultNexusChildRequest;
import io.mayastorj.api.v1.ListNexusOptions;
import io.mayastorj.api.v1.ListNexusResponse;
import io.mayastorj.api.v1.Nexus;
import io.mayastorj.api.v1.PublishNexusRequest;
import io.mayastorj.api.v1.RebuildRequest;
import io.mayastorj.api.v1.RebuildStats;
import io.mayastorj.api.v1.RemoveChildNexusRequest;
import io.mayastorj.api.v1.UnpublishNexusRequest;
import io.mayastorj.core.text.Table;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.UUID;

/** {@code mayastor ctl nexus ...} */
final class NexusCtl {

    static final String USAGE = """
              nexus create NAME --child URI [--child URI]... [--uuid UUID] [--size SIZE]
                                                  a volume mirrored over its children (bdev:///REPLICA-UUID
                                                  for a local replica, nvmf://… for a remote one); SIZE
                                                  defaults to the smallest child's
              nexus destroy NAME|UUID [--force]   refused while hosts are connected, unless --force
              nexus list [NAME|UUID] [--watch]    children, their state and rebuild progress; --watch
                                                  prints a progress line a second until rebuilds end,
                                                  and exits 1 when a child it saw rebuilding faulted
              nexus add-child NAME URI            add a child and rebuild it (a faulted one that returns
                                                  gets only what was written while it was away)
              nexus remove-child NAME URI
              nexus fault-child NAME URI          take a child out by hand, e.g. for maintenance
              nexus publish NAME --protocol nvmf|iscsi [--allowed-host NQN]...
              nexus unpublish NAME [--force]      stop sharing it; refused as destroy is
              nexus rebuild pause|resume|stop NAME URI
            """;

    private NexusCtl() {
    }

    /** Runs a nexus verb; the exit code (0, or 1 when a watched rebuild ended with its child faulted). */
    static int run(String verb, Args args, NodeClient node, Output out) {
        switch (verb) {
            case "create" -> {
                args.atMost(3, "mayastor ctl nexus create NAME --child URI...");
                String name = args.positional(2, "the nexus name");
                List<String> children = args.all("child");
                if (children.isEmpty()) {
                    throw new UsageException("a nexus needs at least one --child URI");
                }
                Nexus n = node.nexus().createNexus(CreateNexusRequest.newBuilder().setName(name)
                        .setUuid(args.option("uuid", UUID.randomUUID().toString()))
                        .setSize(args.option("size", null) == null ? 0 : SizeArg.parse(args.option("size", null), "--size")).addAllChildren(children).build());
                out.print(n, () -> out.out.print(describe(n)));
            }
            case "destroy" -> {
                args.atMost(3, "mayastor ctl nexus destroy NAME|UUID [--force]");
                String name = args.positional(2, "the nexus");
                var reply = node.nexus().destroyNexus(DestroyNexusRequest.newBuilder().setNexus(name)
                        .setRefuseIfConnected(!args.flag("force")).build());
                out.print(reply, () -> out.out.println("destroyed nexus " + name));
            }
            case "list" -> {
                args.atMost(3, "mayastor ctl nexus list [NAME|UUID] [--watch]");
                String name = args.positional().size() > 2 ? args.positional(2, "the nexus") : "";
                if (args.flag("watch")) {
                    if (out.json) {
                        throw new UsageException("--watch prints progress lines, not JSON: leave one of them out");
                    }
                    return watch(node, name, out);
                }
                ListNexusResponse reply = node.nexus().listNexus(ListNexusOptions.newBuilder().setName(name).build());
                out.print(reply, () -> {
                    if (reply.getNexusListCount() == 0) {
                        out.out.println("no nexuses");
                    }
                    reply.getNexusListList().forEach(n -> out.out.print(describe(n)));
                });
            }
            case "add-child", "remove-child", "fault-child" -> {
                args.atMost(4, "mayastor ctl nexus " + verb + " NAME URI");
                String name = args.positional(2, "the nexus");
                String uri = args.positional(3, "the child URI");
                Nexus n = switch (verb) {
                    case "add-child" -> node.nexus().addChildNexus(AddChildNexusRequest.newBuilder().setNexus(name).setUri(uri).build());
                    case "remove-child" -> node.nexus().removeChildNexus(RemoveChildNexusRequest.newBuilder().setNexus(name).setUri(uri).build());
                    default -> node.nexus().faultNexusChild(FaultNexusChildRequest.newBuilder().setNexus(name).setUri(uri).build());
                };
                out.print(n, () -> out.out.print(describe(n)));
            }
            case "publish" -> {
                args.atMost(3, "mayastor ctl nexus publish NAME --protocol nvmf|iscsi");
                String name = args.positional(2, "the nexus");
                String protocol = args.option("protocol", null);
                if (protocol == null) {
                    throw new UsageException("--protocol nvmf|iscsi is required");
                }
                String lower = protocol.toLowerCase(java.util.Locale.ROOT);
                if (!lower.equals("nvmf") && !lower.equals("iscsi")) {
                    throw new UsageException("protocol '" + protocol + "': a nexus is published over nvmf or iscsi; share it"
                            + " over a plugin's protocol with mayastor ctl bdev share " + name + " --protocol " + protocol);
                }
                Nexus n;
                try {
                    n = node.nexus().publishNexus(PublishNexusRequest.newBuilder().setNexus(name)
                            .setShare(ReplicaCtl.protocol(protocol)).addAllAllowedHosts(args.all("allowed-host")).build());
                } catch (io.grpc.StatusRuntimeException e) {
                    if (e.getStatus().getCode() != io.grpc.Status.Code.ALREADY_EXISTS) {
                        throw e;
                    }
                    // the node speaks of the nexus's bdev and its share ("bdev N is shared already over
                    // nvmf, not iscsi; ..."); a nexus is unpublished, not unshared
                    String said = e.getStatus().getDescription() == null ? "" : e.getStatus().getDescription();
                    int from = said.indexOf("shared already ");
                    int to = said.indexOf(';', Math.max(from, 0));
                    String how = from >= 0 && to > from ? " " + said.substring(from + "shared already ".length(), to) : "";
                    throw io.grpc.Status.ALREADY_EXISTS.withDescription("nexus " + name + " is published already" + how
                            + "; to publish it differently, unpublish it first (mayastor ctl nexus unpublish " + name + ")")
                            .asRuntimeException();
                }
                out.print(n, () -> out.out.println(n.getDeviceUri()));
            }
            case "unpublish" -> {
                args.atMost(3, "mayastor ctl nexus unpublish NAME [--force]");
                String name = args.positional(2, "the nexus");
                Nexus n = node.nexus().unpublishNexus(UnpublishNexusRequest.newBuilder().setNexus(name)
                        .setRefuseIfConnected(!args.flag("force")).build());
                out.print(n, () -> out.out.println("unpublished nexus " + name));
            }
            case "rebuild" -> {
                args.atMost(5, "mayastor ctl nexus rebuild pause|resume|stop NAME URI");
                String action = args.positional(2, "pause, resume or stop");
                RebuildRequest request = RebuildRequest.newBuilder().setNexus(args.positional(3, "the nexus"))
                        .setUri(args.positional(4, "the child URI")).build();
                Nexus n = switch (action) {
                    case "pause" -> node.nexus().pauseRebuild(request);
                    case "resume" -> node.nexus().resumeRebuild(request);
                    case "stop" -> node.nexus().stopRebuild(request);
                    default -> throw new UsageException("rebuild " + action + ": expected pause, resume or stop");
                };
                out.print(n, () -> out.out.print(describe(n)));
            }
            default -> throw new UsageException("unknown command 'nexus " + verb + "'; see mayastor ctl --help");
        }
        return 0;
    }

    /**
     * A progress line per rebuilding child, once a second, until no child is rebuilding; 1 when a
     * child seen rebuilding ended faulted (a failed rebuild), so that {@code --watch && ...} holds,
     * and 1 when every rebuild left is paused: it would not end by itself.
     */
    private static int watch(NodeClient node, String name, Output out) {
        Set<String> rebuilt = new HashSet<>();
        while (true) {
            ListNexusResponse reply = node.nexus().listNexus(ListNexusOptions.newBuilder().setName(name).build());
            boolean rebuilding = rebuildsGoingOn(reply.getNexusListList());
            for (Nexus n : reply.getNexusListList()) {
                for (Child c : n.getChildrenList()) {
                    if (c.getState() == ChildState.CHILD_DEGRADED) {
                        rebuilt.add(n.getName() + " " + c.getUri());
                        out.out.printf(Locale.ROOT, "%s  %s  %s: %s%n", java.time.LocalTime.now().withNano(0), n.getName(), c.getUri(),
                                rebuild(c.getRebuild()));
                    }
                }
            }
            if (!rebuilding) {
                reply.getNexusListList().forEach(n -> out.out.print(describe(n)));
                List<String> failed = failedRebuilds(reply.getNexusListList(), rebuilt);
                failed.forEach(f -> out.err.println("error: " + f));
                List<String> paused = pausedRebuilds(reply.getNexusListList());
                paused.forEach(p -> out.err.println("error: " + p));
                return failed.isEmpty() && paused.isEmpty() ? 0 : 1;
            }
            try {
                Thread.sleep(1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return 1;
            }
        }
    }

    /** Whether a child is rebuilding and its rebuild is not paused (a paused one would hold a watch for ever). */
    static boolean rebuildsGoingOn(List<Nexus> now) {
        return now.stream().flatMap(n -> n.getChildrenList().stream())
                .anyMatch(c -> c.getState() == ChildState.CHILD_DEGRADED && !paused(c));
    }

    private static boolean paused(Child c) {
        return c.hasRebuild() && c.getRebuild().getState().equals("paused");
    }

    /** What a watch that ends with rebuilds paused says of each. */
    static List<String> pausedRebuilds(List<Nexus> now) {
        List<String> paused = new ArrayList<>();
        for (Nexus n : now) {
            for (Child c : n.getChildrenList()) {
                if (c.getState() == ChildState.CHILD_DEGRADED && paused(c)) {
                    paused.add("nexus " + n.getName() + ": the rebuild of " + c.getUri() + " is paused (resume it with "
                            + "'mayastor ctl nexus rebuild resume " + n.getName() + " " + c.getUri() + "')");
                }
            }
        }
        return paused;
    }

    /** The children of {@code rebuilt} ("nexus uri") that are faulted or gone now: their rebuild failed. */
    static List<String> failedRebuilds(List<Nexus> now, Set<String> rebuilt) {
        List<String> failed = new ArrayList<>();
        Set<String> present = new HashSet<>();
        for (Nexus n : now) {
            for (Child c : n.getChildrenList()) {
                String key = n.getName() + " " + c.getUri();
                present.add(key);
                if (rebuilt.contains(key) && c.getState() == ChildState.CHILD_FAULTED) {
                    failed.add("nexus " + n.getName() + ": the rebuild of " + c.getUri() + " ended with it faulted ("
                            + c.getReason().name().substring("REASON_".length()).toLowerCase(Locale.ROOT)
                            + (c.getCause().isEmpty() ? "" : ": " + c.getCause()) + ")");
                }
            }
        }
        rebuilt.stream().filter(k -> !present.contains(k)).sorted()
                .forEach(k -> failed.add("nexus " + k.substring(0, k.indexOf(' ')) + ": " + k.substring(k.indexOf(' ') + 1)
                        + " was removed before its rebuild ended"));
        return failed;
    }

    static String describe(Nexus n) {
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "nexus %s (%s): %s, %s%s%n", n.getName(), n.getUuid(),
                n.getState().name().substring("NEXUS_".length()).toLowerCase(Locale.ROOT), PoolCtl.human(n.getSize()),
                n.getDeviceUri().isEmpty() ? "" : ", published at " + n.getDeviceUri() + " (ANA "
                        + n.getAnaState().name().replace("NVME_ANA_", "").replace("_STATE", "").replace('_', '-')
                        .toLowerCase(Locale.ROOT) + ")"));
        Table t = new Table("  CHILD", "STATE", "REASON", "REBUILD");
        for (Child c : n.getChildrenList()) {
            String state = switch (c.getState()) {
                case CHILD_ONLINE -> "online";
                case CHILD_DEGRADED -> "rebuilding";
                default -> "faulted";
            };
            String reason = c.getState() == ChildState.CHILD_FAULTED
                    ? c.getReason().name().substring("REASON_".length()) + (c.getCause().isEmpty() ? "" : ": " + c.getCause()) : "";
            t.row("  " + c.getUri(), state, reason, c.hasRebuild() ? rebuild(c.getRebuild()) : "");
        }
        return s.append(t).toString();
    }

    /** "running 42% full (1720/4096 segments), 310 MiB/s, 3 s left" */
    static String rebuild(RebuildStats r) {
        StringBuilder s = new StringBuilder(r.getState()).append(String.format(Locale.ROOT, " %.0f%%", r.getProgress()));
        s.append(r.getPartial() ? " partial" : " full")
                .append(String.format(Locale.ROOT, " (%d/%d segments)", r.getSegmentsDone(), r.getSegmentsTotal()));
        if (r.getBytesPerSecond() > 0) {
            s.append(", ").append(PoolCtl.human((long) r.getBytesPerSecond())).append("/s");
        }
        if (r.getState().equals("running") && r.getEtaSeconds() >= 0) {
            s.append(", ").append(r.getEtaSeconds()).append(" s left");
        }
        if (!r.getError().isEmpty()) {
            s.append(": ").append(r.getError());
        }
        return s.toString();
    }
}
