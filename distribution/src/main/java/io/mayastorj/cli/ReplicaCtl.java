package io.mayastorj.cli;

import io.mayastorj.api.v1.CreateReplicaRequest;
import io.mayastorj.api.v1.DestroyReplicaRequest;
import io.mayastorj.api.v1.ListReplicaOptions;
import io.mayastorj.api.v1.ListReplicasResponse;
import io.mayastorj.api.v1.Replica;
import io.mayastorj.api.v1.ResizeReplicaRequest;
import io.mayastorj.api.v1.ShareProtocol;
import io.mayastorj.api.v1.ShareReplicaRequest;
import io.mayastorj.api.v1.UnshareReplicaRequest;
import io.mayastorj.core.text.Table;
import java.util.List;
import java.util.Locale;
import java.util.UUID;

/** {@code mayastor ctl replica ...} */
final class ReplicaCtl {

    static final String USAGE = """
              replica create POOL SIZE [--uuid UUID] [--name NAME] [--thin] [--share nvmf|iscsi] [--allowed-host NQN]...
                                                  a replica (SIZE like 1GiB); a UUID is made when none is given
              replica destroy UUID [--force]      refused while a host is connected to its share, unless --force
              replica resize UUID SIZE            grow a replica
              replica share UUID --protocol nvmf|iscsi|PLUGIN [--allowed-host NQN]...
                                                  share a replica; a plugin's protocol (e.g. nbd) too;
                                                  recorded in its pool: shared again after a restart
              replica unshare UUID [--force]      the same
              replica list [--pool POOL]
            """;

    private ReplicaCtl() {
    }

    static void run(String verb, Args args, NodeClient node, Output out) {
        switch (verb) {
            case "create" -> {
                args.atMost(4, "mayastor ctl replica create POOL SIZE");
                String pool = args.positional(2, "the pool");
                long size = SizeArg.parse(args.positional(3, "the size"), "size");
                String uuid = args.option("uuid", UUID.randomUUID().toString());
                Replica r = node.replica().createReplica(CreateReplicaRequest.newBuilder().setPool(pool).setSize(size)
                        .setUuid(uuid).setName(args.option("name", uuid)).setThin(args.flag("thin"))
                        .setShare(protocol(args.option("share", "none"))).addAllAllowedHosts(args.all("allowed-host"))
                        .build());
                out.print(r, () -> out.out.print(table(List.of(r))));
            }
            case "destroy" -> {
                args.atMost(3, "mayastor ctl replica destroy UUID [--force]");
                String uuid = args.positional(2, "the replica UUID");
                var reply = node.replica().destroyReplica(DestroyReplicaRequest.newBuilder().setUuid(uuid)
                        .setForce(args.flag("force")).build());
                out.print(reply, () -> out.out.println("destroyed replica " + uuid));
            }
            case "resize" -> {
                args.atMost(4, "mayastor ctl replica resize UUID SIZE");
                String uuid = args.positional(2, "the replica UUID");
                long size = SizeArg.parse(args.positional(3, "the new size"), "size");
                Replica r = node.replica().resizeReplica(ResizeReplicaRequest.newBuilder().setUuid(uuid).setRequestedSize(size).build());
                out.print(r, () -> out.out.print(table(List.of(r))));
            }
            case "share" -> {
                args.atMost(3, "mayastor ctl replica share UUID --protocol nvmf|iscsi|PLUGIN");
                String uuid = args.positional(2, "the replica UUID");
                String protocol = args.option("protocol", null);
                if (protocol == null) {
                    throw new UsageException("--protocol nvmf|iscsi|PLUGIN is required");
                }
                if (!MAYASTOR_PROTOCOLS.contains(protocol.toLowerCase(Locale.ROOT))) {
                    // a plugin's transport: Mayastor's replica API numbers only nvmf and iscsi; named, the
                    // share is recorded with the replica as theirs are (shared as a bare bdev, it was gone
                    // after a restart)
                    // share: a number none has, so that a node older than protocol_name refuses (NONE would unshare)
                    Replica r = node.replica().shareReplica(ShareReplicaRequest.newBuilder().setUuid(uuid).setShareValue(-1)
                            .setProtocolName(protocol.toLowerCase(Locale.ROOT)).addAllAllowedHosts(args.all("allowed-host")).build());
                    out.print(r, () -> out.out.println(r.getUri().startsWith("bdev:")
                            ? "replica " + uuid + " is to be shared over " + protocol + ", which is not serving on the node yet; "
                            + "its URI comes once it is (mayastor ctl replica list)" : r.getUri()));
                    return;
                }
                Replica r = node.replica().shareReplica(ShareReplicaRequest.newBuilder().setUuid(uuid)
                        .setShare(protocol(protocol)).addAllAllowedHosts(args.all("allowed-host")).build());
                out.print(r, () -> out.out.println(r.getUri()));
            }
            case "unshare" -> {
                args.atMost(3, "mayastor ctl replica unshare UUID [--force]");
                String uuid = args.positional(2, "the replica UUID");
                Replica r = node.replica().unshareReplica(UnshareReplicaRequest.newBuilder().setUuid(uuid)
                        .setForce(args.flag("force")).build());
                out.print(r, () -> out.out.println("unshared replica " + uuid));
            }
            case "list" -> {
                args.atMost(2, "mayastor ctl replica list [--pool POOL]");
                ListReplicasResponse reply = node.replica().listReplicas(
                        ListReplicaOptions.newBuilder().setPool(args.option("pool", "")).build());
                out.print(reply, () -> out.out.print(reply.getReplicasCount() == 0 ? "no replicas\n" : table(reply.getReplicasList())));
            }
            default -> throw new UsageException("unknown command 'replica " + verb + "'; see mayastor ctl --help");
        }
    }

    private static final java.util.Set<String> MAYASTOR_PROTOCOLS = java.util.Set.of("none", "nvmf", "iscsi");

    static ShareProtocol protocol(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "none" -> ShareProtocol.NONE;
            case "nvmf" -> ShareProtocol.NVMF;
            case "iscsi" -> ShareProtocol.ISCSI;
            default -> throw new UsageException("protocol '" + name + "': a replica is created shared over nvmf or iscsi; "
                    + "share it over a plugin's protocol with mayastor ctl replica share UUID --protocol " + name);
        };
    }

    static String table(List<Replica> replicas) {
        Table table = new Table("UUID", "NAME", "POOL", "SIZE", "THIN", "ALLOCATED", "STATE", "URI")
                .alignRight("SIZE", "ALLOCATED");
        for (Replica r : replicas) {
            boolean faulted = r.getState().name().endsWith("FAULTED");
            table.row(r.getUuid().isEmpty() ? null : r.getUuid(), r.getName().isEmpty() ? null : r.getName(), r.getPool(),
                    faulted ? null : PoolCtl.human(r.getSize()), faulted ? null : r.getThin(),
                    faulted ? null : PoolCtl.human(r.getUsage().getAllocated()),
                    faulted ? "faulted: " + r.getReason() : "online", faulted ? null : r.getUri());
        }
        return table.toString();
    }
}
