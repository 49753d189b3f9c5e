package io.mayastorj.cli;

import io.mayastorj.api.v1.ApplyRequest;
import io.mayastorj.api.v1.ApplyResponse;
import io.mayastorj.api.v1.CreateVolumeRequest;
import io.mayastorj.api.v1.DeleteRequest;
import io.mayastorj.api.v1.DestroyVolumeRequest;
import io.mayastorj.api.v1.GetRequest;
import io.mayastorj.api.v1.ListVolumesRequest;
import io.mayastorj.api.v1.ListVolumesResponse;
import io.mayastorj.api.v1.MoveVolumeRequest;
import io.mayastorj.api.v1.PublishVolumeRequest;
import io.mayastorj.api.v1.UnpublishVolumeRequest;
import io.mayastorj.api.v1.Volume;
import io.mayastorj.api.v1.VolumeChild;
import io.mayastorj.api.v1.VolumeReplica;
import io.mayastorj.core.text.Sizes;
import io.mayastorj.core.text.Table;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/** {@code mayastor ctl volume ...}, {@code apply}, {@code get}, {@code delete}: the control plane's API. */
final class VolumeCtl {

    static final String USAGE = """
              (against the control plane: --control HOST:PORT, default $MAYASTOR_CONTROL or 127.0.0.1:50051)
              volume create NAME --size SIZE [--replicas N] [--protocol nvmf|iscsi|none] [--thin] [--local]
                     [--preferred-node NODE]... [--required-node NODE]...
                                                  a replicated volume; its replicas are placed on distinct nodes
              volume list | volume get NAME       state, replicas, target and the URI for the application host
              volume publish NAME --node NODE     make it reachable from NODE (a nexus, shared over its protocol)
              volume move NAME --target-node NODE move the nexus of a published nvmf volume to NODE (drain a
                                                  node): hosts follow it, no replica is rebuilt
              volume unpublish NAME               take the nexus down; the replicas stay
              volume destroy NAME                 the volume, its nexus and its replicas (refused while published)
              apply -f FILE|-                     create or update MayastorPool/Node/Volume resources (YAML)
              get msn|msp|msv [NAME] [-o wide|yaml|json|name]
              delete msn|msp|msv NAME
            """;

    private VolumeCtl() {
    }

    static void run(String resource, String verb, Args args, NodeClient control, Output out) {
        switch (resource) {
            case "volume" -> volume(verb, args, control, out);
            case "apply" -> {
                args.atMost(1, "mayastor ctl apply -f FILE|- [-f FILE]...");
                List<String> files = args.all("filename");
                if (files.isEmpty()) {
                    throw new UsageException("apply needs -f FILE (or -f - for standard input)");
                }
                List<String> manifests = new java.util.ArrayList<>();
                for (String file : files) { // all read before any is applied, in order, as kubectl does
                    try {
                        manifests.add(file.equals("-") ? new String(System.in.readAllBytes(), StandardCharsets.UTF_8)
                                : Files.readString(Path.of(file)));
                    } catch (IOException e) {
                        throw new UsageException("cannot read " + file + ": " + e.getMessage());
                    }
                }
                // with --json one object for the whole command, as for every other: the results of
                // each file in order, printed also when a later file fails (what was applied stays)
                ApplyResponse.Builder all = ApplyResponse.newBuilder();
                boolean done = false;
                try {
                    for (String manifest : manifests) {
                        ApplyResponse reply = control.resource().apply(ApplyRequest.newBuilder().setManifest(manifest).build());
                        all.addAllResults(reply.getResultsList());
                        if (!out.json) {
                            reply.getResultsList().forEach(out.out::println);
                        }
                    }
                    done = true;
                } finally {
                    if (out.json && (done || all.getResultsCount() > 0)) {
                        out.print(all, () -> { });
                    }
                }
            }
            case "get" -> {
                args.atMost(3, "mayastor ctl get KIND [NAME] [-o table|yaml|json]");
                String output = args.option("output", out.json ? "json" : "table"); // --json as everywhere else
                String name = args.positional().size() > 2 ? args.positional(2, "") : "";
                var reply = control.resource().get(GetRequest.newBuilder().setKind(verb).setName(name).setOutput(output).build());
                out.out.print(reply.getText());
                if (!reply.getText().endsWith("\n")) {
                    out.out.println();
                }
            }
            case "delete" -> {
                args.atMost(3, "mayastor ctl delete KIND NAME"); // one at a time: 'delete msv a b' deleted a only
                String name = args.positional(2, "the name of the " + verb + " to delete");
                var reply = control.resource().delete(DeleteRequest.newBuilder().setKind(verb).setName(name).build());
                out.print(reply, () -> out.out.println(reply.getResult()));
            }
            default -> throw new UsageException("unknown command '" + resource + "'; see mayastor ctl --help");
        }
    }

    private static void volume(String verb, Args args, NodeClient control, Output out) {
        switch (verb) {
            case "create" -> {
                args.atMost(3, "mayastor ctl volume create NAME --size SIZE ...");
                String name = args.positional(2, "the volume name");
                String size = args.option("size", null);
                if (size == null) {
                    throw new UsageException("volume create needs --size (e.g. --size 2GiB)");
                }
                Volume v = control.volume().createVolume(CreateVolumeRequest.newBuilder().setName(name)
                        .setSize(SizeArg.parse(size, "--size")).setReplicaCount(replicas(args))
                        .setProtocol(args.option("protocol", "nvmf").toLowerCase(java.util.Locale.ROOT)).setThin(args.flag("thin")).setLocal(args.flag("local"))
                        .addAllPreferredNodes(args.all("preferred-node")).addAllRequiredNodes(args.all("required-node"))
                        .build());
                out.print(v, () -> out.out.print(table(List.of(v))));
            }
            case "list", "get" -> {
                args.atMost(3, "mayastor ctl volume " + verb + " [NAME]");
                String name = args.positional().size() > 2 ? args.positional(2, "") : "";
                ListVolumesResponse reply = control.volume().listVolumes(ListVolumesRequest.newBuilder().setName(name).build());
                out.print(reply, () -> {
                    if (reply.getVolumesCount() == 0) {
                        out.out.println("no volumes");
                    } else if (verb.equals("get")) {
                        reply.getVolumesList().forEach(v -> out.out.print(details(v)));
                    } else {
                        out.out.print(table(reply.getVolumesList()));
                    }
                });
            }
            case "publish" -> {
                args.atMost(3, "mayastor ctl volume publish NAME --node NODE");
                String name = args.positional(2, "the volume name");
                String node = args.option("node", null);
                if (node == null) {
                    throw new UsageException("volume publish needs --node NODE (the application's node)");
                }
                Volume v = control.volume().publishVolume(PublishVolumeRequest.newBuilder().setName(name).setNode(node).build());
                out.print(v, () -> out.out.println(v.getDeviceUri()));
            }
            case "move" -> {
                args.atMost(3, "mayastor ctl volume move NAME --target-node NODE");
                String name = args.positional(2, "the volume name");
                String node = args.option("target-node", null);
                if (node == null) {
                    throw new UsageException("volume move needs --target-node NODE (the storage node its nexus goes to)");
                }
                Volume v = control.volume().moveVolume(MoveVolumeRequest.newBuilder().setName(name).setTargetNode(node).build());
                out.print(v, () -> out.out.println(v.getDeviceUri()));
            }
            case "unpublish" -> {
                args.atMost(3, "mayastor ctl volume unpublish NAME");
                String name = args.positional(2, "the volume name");
                Volume v = control.volume().unpublishVolume(UnpublishVolumeRequest.newBuilder().setName(name).build());
                out.print(v, () -> out.out.println("unpublished volume " + name));
            }
            case "destroy" -> {
                args.atMost(3, "mayastor ctl volume destroy NAME");
                String name = args.positional(2, "the volume name");
                Volume v = control.volume().destroyVolume(DestroyVolumeRequest.newBuilder().setName(name).build());
                out.print(v, () -> out.out.println("volume " + name + " is being destroyed"));
            }
            default -> throw new UsageException("unknown command 'volume " + verb + "'; see mayastor ctl --help");
        }
    }

    static String table(List<Volume> volumes) {
        Table t = new Table("NAME", "SIZE", "REPLICAS", "PROTOCOL", "STATE", "TARGET", "URI", "REASON")
                .alignRight("SIZE", "REPLICAS");
        for (Volume v : volumes) {
            long live = v.getReplicasList().stream().filter(r -> !r.getOffline()).count();
            t.row(v.getName(), Sizes.human(v.getSize()), live + "/" + v.getReplicaCount(), v.getProtocol(),
                    v.getState().isEmpty() ? "new" : v.getState(), empty(v.getTargetNode()), empty(v.getDeviceUri()),
                    empty(v.getReason()));
        }
        return t.toString();
    }

    static String details(Volume v) {
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "volume    %s (%s)%nsize      %s, %d replica(s), %s%s%nstate     %s%s%n",
                v.getName(), v.getUuid(), Sizes.human(v.getSize()), v.getReplicaCount(), v.getProtocol(),
                v.getThin() ? ", thin" : "", v.getState().isEmpty() ? "new" : v.getState(),
                v.getReason().isEmpty() ? "" : ": " + v.getReason()));
        if (!v.getTargetNode().isEmpty()) {
            s.append(String.format(Locale.ROOT, "target    %s  %s%n", v.getTargetNode(), v.getDeviceUri()));
        }
        for (VolumeReplica r : v.getReplicasList()) {
            s.append(String.format(Locale.ROOT, "replica   %s/%s  %s%s%n", r.getNode(), r.getPool(), r.getUri(),
                    r.getOffline() ? "  (node offline)" : ""));
        }
        for (VolumeChild c : v.getChildrenList()) {
            s.append(String.format(Locale.ROOT, "child     %s  %s%s%n", c.getUri(), c.getState(),
                    c.getState().equals("degraded") ? String.format(Locale.ROOT, " %.0f%%", c.getRebuildProgress()) : ""));
        }
        return s.toString();
    }

    private static String empty(String s) {
        return s.isEmpty() ? null : s;
    }

    /** --replicas: a count, not whatever an int cast leaves of a long (4294967299 was 3). */
    private static int replicas(Args args) {
        long n = args.longOption("replicas", 1);
        if (n < 1 || n > 64) {
            throw new UsageException("--replicas " + n + ": 1 to 64");
        }
        return (int) n;
    }
}
