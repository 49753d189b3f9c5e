package io.mayastorj.cli;

import io.mayastorj.launcher.ControlSettings;
import io.mayastorj.launcher.CsiNodeSettings;
import io.mayastorj.launcher.NodeSettings;
import io.mayastorj.launcher.RuntimeLauncher;
import io.mayastorj.launcher.RuntimeSettings;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiFunction;

/** The {@code mayastor} command: node, control, ctl, shell, bench, demo. */
public final class Main {

    static final String USAGE = """
            usage: mayastor <command> [options]

            commands:
              node      run a storage node                           mayastor node --help
              control   run the control plane: node registry, pools, volumes   mayastor control --help
              csi-node  attach volumes for a node's workloads (the CSI Node service)   mayastor csi-node --help
              ctl       a node's bdevs, pools, replicas, nexuses and shares, or the control plane's
                        volumes and resources (get, apply, delete)   mayastor ctl --help
              shell     run Felix shell commands on a local node     mayastor shell --help
              bench     drive I/O at a bdev URI and report IOPS and latency   mayastor bench --help
              demo      the whole story on this machine: bdevs, a pool that survives kill -9, replicas
                        over NVMe/TCP and iSCSI, a 3-way nexus that loses a node and rebuilds it, the
                        control plane repairing a volume; then it cleans up
              version   print the version
            """;

    static final String NODE_USAGE = """
            usage: mayastor node --node-id NAME [--grpc-endpoint IP:PORT] [--config FILE] [options]

            Runs a storage node until Ctrl-C or SIGTERM, which stop it cleanly.
            Settings come from --config FILE (Java properties, keys below), then from the flags
            (--node-id for node.id, --grpc-endpoint for grpc.endpoint, and so on).

            settings:
            %s
            other options:
              --console        an interactive Felix shell on this terminal (Ctrl-D or 'exit' stops the node)
              --help           this text
            """;

    static final String CONTROL_USAGE = """
            usage: mayastor control [--store DIR | --kubeconfig FILE|in-cluster] [--nats URL] [--config FILE] [options]

            Runs the control plane until Ctrl-C or SIGTERM: it keeps the nodes that register (over gRPC, or
            NATS with --nats), the MayastorPool and MayastorVolume resources (in a directory of YAML files, or
            in Kubernetes), and makes the nodes' pools, replicas and nexuses what the resources say.

            settings:
            %s
            other options:
              --help           this text
            """;

    static final String CSI_NODE_USAGE = """
            usage: mayastor csi-node --node-id NAME --csi-endpoint unix:///path/csi.sock [--control-endpoint IP:PORT] [options]

            Runs the CSI Node service on a node that holds no storage, until Ctrl-C or SIGTERM: the kubelet
            calls it to attach a published volume (NVMe/TCP or iSCSI), format it when it is blank, mount it,
            and bind it into pods; it registers with the control plane so that volumes can be published to it.
            It runs nvme, iscsiadm, blkid, mkfs, mount and umount, so it runs as root.

            settings:
            %s
            other options:
              --help           this text
            """;

    private Main() {
    }

    public static void main(String[] argv) {
        System.exit(run(Arrays.asList(argv), System.out, System.err));
    }

    static int run(List<String> argv, PrintStream out, PrintStream err) {
        try {
            return dispatch(argv, out, err);
        } catch (Exception e) {
            err.println("error: " + e.getMessage());
            return 1;
        }
    }

    private static int dispatch(List<String> argv, PrintStream out, PrintStream err) throws Exception {
        if (argv.isEmpty()) {
            err.print(USAGE);
            return Ctl.EXIT_USAGE;
        }
        List<String> rest = argv.subList(1, argv.size());
        try {
            return switch (argv.get(0)) {
                case "node" -> runtime(NODE, rest, out, err);
                case "control" -> runtime(CONTROL, rest, out, err);
                case "csi-node" -> runtime(CSI_NODE, rest, out, err);
                case "ctl" -> new Ctl(out, err).run(rest);
                case "shell" -> new ShellClient(System.in, out, err).run(rest);
                case "demo" -> new Demo(out, err).run(rest);
                case "bench" -> new Bench(out, err).run(rest);
                case "version", "--version" -> {
                    if (argv.size() == 2 && (argv.get(1).equals("--help") || argv.get(1).equals("-h"))) {
                        out.println("usage: mayastor version     prints the version of this distribution");
                        yield 0;
                    }
                    if (argv.size() > 1) {
                        throw new UsageException("version takes no arguments, not '" + String.join(" ", argv.subList(1, argv.size()))
                                + "'");
                    }
                    out.println("mayastor-j " + version());
                    yield 0;
                }
                case "help", "--help", "-h" -> {
                    out.print(USAGE);
                    yield 0;
                }
                default -> throw new UsageException("unknown command '" + argv.get(0) + "'\n" + USAGE);
            };
        } catch (UsageException e) {
            err.println("error: " + e.getMessage());
            return Ctl.EXIT_USAGE;
        }
    }

    /** The widest key column of a runtime's --help; a longer key has its text on the next line. */
    private static final int MAX_KEY_WIDTH = 32;
    /** --help's lines are wrapped at this column. */
    private static final int HELP_WIDTH = 110;

    /** {@code text} broken at blanks into lines of at most {@code width} columns after {@code indent}, which starts each next line. */
    static String wrap(String text, String indent, int width) {
        StringBuilder out = new StringBuilder();
        int column = indent.length();
        for (String word : text.split(" ")) {
            if (column > indent.length() && column + 1 + word.length() > width) {
                out.append('\n').append(indent);
                column = indent.length();
            } else if (column > indent.length()) {
                out.append(' ');
                column++;
            }
            out.append(word);
            column += word.length();
        }
        return out.toString();
    }

    /** A runtime's command: its settings' keys, usage, how they load, and how its failure is told. */
    private record Runtime(Map<String, String> keys, String usage, Set<String> flags,
                           BiFunction<Path, Map<String, String>, RuntimeSettings> load, String what) {
    }

    private static final Runtime NODE = new Runtime(NodeSettings.KEYS, NODE_USAGE, Set.of("console", "help"),
            NodeSettings::load, "the node");
    private static final Runtime CONTROL = new Runtime(ControlSettings.KEYS, CONTROL_USAGE, Set.of("help"),
            ControlSettings::load, "the control plane");
    private static final Runtime CSI_NODE = new Runtime(CsiNodeSettings.KEYS, CSI_NODE_USAGE, Set.of("help"),
            CsiNodeSettings::load, "the CSI node");

    /** Runs a runtime (node, control, csi-node) until Ctrl-C or SIGTERM. */
    private static int runtime(Runtime r, List<String> argv, PrintStream out, PrintStream err) {
        Set<String> valued = new java.util.HashSet<>(Set.of("config"));
        r.keys().keySet().forEach(key -> valued.add(key.replace('.', '-')));
        Args args = Args.parse(argv, r.flags(), valued).atMost(0, r.usage().lines().findFirst().orElse("")
                .replaceFirst("^usage: ", ""));
        if (args.flag("help")) {
            StringBuilder keys = new StringBuilder();
            // one column for the keys, as wide as the longest up to a limit; a longer key has its text on the next line
            int width = Math.min(MAX_KEY_WIDTH, r.keys().keySet().stream().mapToInt(String::length).max().orElse(0));
            String indent = " ".repeat(width + 5);
            r.keys().forEach((key, doc) -> {
                String option = key.replace('.', '-');
                String text = wrap(doc, indent, HELP_WIDTH);
                keys.append(option.length() <= width ? String.format("  --%-" + width + "s %s%n", option, text)
                        : String.format("  --%s%n%s%s%n", option, indent, text));
            });
            out.print(r.usage().formatted(keys.toString().stripTrailing()));
            return 0;
        }
        Map<String, String> flags = args.asMap();
        boolean console = args.flag("console");
        flags.remove("console");
        String config = flags.remove("config");
        RuntimeSettings settings;
        try {
            settings = r.load().apply(config == null ? null : Path.of(config), flags);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        Path bundles = home().resolve("bundle"); // outside the try: a usage problem, exit 2
        try {
            return new RuntimeLauncher(settings, bundles, console, out).run();
        } catch (Exception e) {
            // one line on stderr says what failed (a state directory that cannot be made, say); the
            // trace follows only for what is not an I/O or settings problem, a bug to report
            err.println("error: " + r.what() + " failed: " + (e.getMessage() == null ? e.toString() : e.getMessage()));
            if (!(e instanceof java.io.IOException || e instanceof IllegalArgumentException
                    || e instanceof IllegalStateException)) {
                e.printStackTrace(err);
            }
            return 1;
        }
    }

    /** The distribution's root: set by bin/mayastor. */
    static Path home() {
        String home = System.getProperty("mayastor.home");
        if (home == null) {
            throw new UsageException("mayastor.home is not set: run this through bin/mayastor");
        }
        return Path.of(home);
    }

    static String version() {
        String version = Main.class.getPackage().getImplementationVersion();
        return version == null ? "(development build)" : version;
    }
}
