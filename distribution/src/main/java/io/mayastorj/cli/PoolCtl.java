package io.mayastorj.cli;

import io.mayastorj.api.v1.CreatePoolRequest;
import io.mayastorj.api.v1.DestroyPoolRequest;
import io.mayastorj.api.v1.ExportPoolRequest;
import io.mayastorj.api.v1.ImportPoolRequest;
import io.mayastorj.api.v1.ListPoolOptions;
import io.mayastorj.api.v1.ListPoolsResponse;
import io.mayastorj.api.v1.Pool;
import io.mayastorj.core.text.Sizes;
import io.mayastorj.core.text.Table;
import java.util.List;
import java.util.Locale;

/** {@code mayastor ctl pool ...} */
final class PoolCtl {

    static final String USAGE = """
              pool create NAME DISK [--cluster-size SIZE] [--uuid UUID]
                                                  a pool on a device: /dev/sdb (uring), aio:///dev/sdb, malloc:///...
              pool import DISK [--name NAME] [--force-rollback]
                                                  import the pool a device holds; --force-rollback takes the
                                                  newest readable state when a newer one may be lost (logged)
              pool export NAME                    close a pool and forget it, leaving it on the device
              pool destroy NAME [--force]         destroy a pool and its signature; --force also when it
                                                  holds replicas (they are destroyed with it)
              pool list [NAME]
            """;

    private PoolCtl() {
    }

    static void run(String verb, Args args, NodeClient node, Output out) {
        switch (verb) {
            case "create" -> {
                args.atMost(4, "mayastor ctl pool create NAME DISK");
                String name = args.positional(2, "the pool name");
                String disk = args.positional(3, "the disk (e.g. aio:///dev/sdb or /var/tmp/pool.img)");
                String cluster = args.option("cluster-size", null);
                long clusterSize = cluster == null ? 0 : SizeArg.parse(cluster, "--cluster-size");
                if (clusterSize > 1L << 30) {
                    // cast to the request's int it once became 0, "the default", without a word
                    throw new UsageException("--cluster-size " + cluster + " is more than 1 GiB, the largest a pool takes");
                }
                Pool pool = node.pool().createPool(CreatePoolRequest.newBuilder().setName(name).addDisks(disk)
                        .setUuid(args.option("uuid", "")).setClusterSize((int) clusterSize).build());
                out.print(pool, () -> out.out.print(table(List.of(pool))));
            }
            case "import" -> {
                args.atMost(3, "mayastor ctl pool import DISK [--name NAME] [--force-rollback]");
                String disk = args.positional(2, "the disk");
                Pool pool = node.pool().importPool(ImportPoolRequest.newBuilder().addDisks(disk)
                        .setName(args.option("name", "")).setForceRollback(args.flag("force-rollback")).build());
                out.print(pool, () -> out.out.print(table(List.of(pool))));
            }
            case "export" -> {
                args.atMost(3, "mayastor ctl pool export NAME");
                String name = args.positional(2, "the pool name");
                var reply = node.pool().exportPool(ExportPoolRequest.newBuilder().setName(name).build());
                out.print(reply, () -> out.out.println("exported pool " + name));
            }
            case "destroy" -> {
                args.atMost(3, "mayastor ctl pool destroy NAME [--force]");
                String name = args.positional(2, "the pool name");
                var reply = node.pool().destroyPool(DestroyPoolRequest.newBuilder().setName(name)
                        .setForce(args.flag("force")).build());
                out.print(reply, () -> out.out.println("destroyed pool " + name));
            }
            case "list" -> {
                args.atMost(3, "mayastor ctl pool list [NAME]");
                String name = args.positional().size() > 2 ? args.positional(2, "") : "";
                ListPoolsResponse reply = node.pool().listPools(ListPoolOptions.newBuilder().setName(name).build());
                out.print(reply, () -> out.out.print(reply.getPoolsCount() == 0 ? "no pools\n" : table(reply.getPoolsList())));
            }
            default -> throw new UsageException("unknown command 'pool " + verb + "'; see mayastor ctl --help");
        }
    }

    static String table(List<Pool> pools) {
        Table table = new Table("NAME", "STATE", "DISK", "CAPACITY", "USED", "COMMITTED", "CLUSTER", "REPLICAS", "UUID", "REASON")
                .alignRight("CAPACITY", "USED", "COMMITTED", "CLUSTER", "REPLICAS");
        for (Pool p : pools) {
            table.row(p.getName(), p.getState().name().replace("POOL_", "").toLowerCase(Locale.ROOT),
                    String.join(",", p.getDisksList()), human(p.getCapacity()), human(p.getUsed()), human(p.getCommitted()),
                    human(p.getClusterSize()), p.getReplicas(), p.getUuid().isEmpty() ? null : p.getUuid(),
                    p.getReason().isEmpty() ? null : p.getReason());
        }
        return table.toString();
    }

    static String human(long bytes) {
        return Sizes.human(bytes);
    }
}
