package io.mayastorj.cli;

import com.google.protobuf.ByteString;
import com.google.protobuf.Empty;
import com.google.protobuf.MessageOrBuilder;
import io.grpc.StatusRuntimeException;
import io.mayastorj.api.v1.Bdev;
import io.mayastorj.api.v1.BufferPoolInfo;
import io.mayastorj.api.v1.CreateBdevRequest;
import io.mayastorj.api.v1.CreateBdevResponse;
import io.mayastorj.api.v1.DestroyBdevRequest;
import io.mayastorj.api.v1.ListBdevOptions;
import io.mayastorj.api.v1.ListBdevResponse;
import io.mayastorj.api.v1.ShareBdevRequest;
import io.mayastorj.api.v1.ShareBdevResponse;
import io.mayastorj.api.v1.UnshareBdevRequest;
import io.mayastorj.api.v1.NodeInfo;
import io.mayastorj.api.v1.ReadBdevRequest;
import io.mayastorj.api.v1.ReadBdevResponse;
import io.mayastorj.api.v1.WriteBdevRequest;
import io.mayastorj.core.text.Sizes;
import io.mayastorj.core.text.Table;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/** {@code mayastor ctl}: the node's gRPC API from the command line, like Mayastor's mayastor-client. */
final class Ctl {

    static final int EXIT_REFUSED = 1;
    static final int EXIT_USAGE = 2;
    static final int EXIT_UNREACHABLE = 3;
    static final int EXIT_TIMED_OUT = 4;

    static final String USAGE = """
            usage: mayastor ctl [--node HOST:PORT | --control HOST:PORT] [--json] [--timeout SECONDS] <resource> <verb> [args]

              node info                           the node's id, version, reactors and buffer pool
              bdev create URI                     create a bdev, e.g. malloc:///m0?size_mb=64,
                                                  uring:///var/tmp/disk.img, aio:///dev/sdb, null:///n0?size_mb=1024
              bdev list [NAME]                    list bdevs (all, or one)
              bdev destroy NAME|URI [--force]     destroy a bdev created from a URI; --force unshares it
                                                  first, even with hosts connected
              bdev read NAME --offset BYTES --length BYTES [--output FILE]
                                                  read up to 1 MiB (hex dump unless --output)
              bdev write NAME --offset BYTES (--input FILE | --pattern BYTE --length BYTES) [--flush]
                                                  write up to 1 MiB
              bdev share NAME --protocol nvmf|iscsi|PLUGIN [--allowed-host NQN|IQN|IP]...
                         [--chap-user U --chap-secret-file F [--chap-mutual-user U --chap-mutual-secret-file F]]
                         [--property KEY=VALUE]...  a transport's own share settings (a plugin's)
                                                  share a bdev; prints the URI hosts connect to
                                                  (nvmf://ADDRESS:8420/nqn.2019-05.io.openebs:NAME, a nexus
                                                  on its port, 4421); the
                                                  same share again just prints it (a different one is refused)
              bdev unshare NAME [--force]         stop sharing (a bdev not shared is left as it is); refused
                                                  while hosts are connected, unless --force (they are dropped)
            %s%s%s%s%s
            options:
              --node HOST:PORT    the node to talk to (default: $MAYASTOR_NODE, else 127.0.0.1:10124)
              --control HOST:PORT the control plane, for volume, apply, get and delete
                                  (default: $MAYASTOR_CONTROL, else 127.0.0.1:50051)
              --json, -o json     print the node's answer as JSON (for scripts)
              --timeout SECONDS   give up on a call after this long (default 30)

            exit codes: 0 done, 1 the node refused (its message is printed), 2 bad usage,
                        3 the node could not be reached, 4 no answer in time (it may still be done)
            """.formatted(PoolCtl.USAGE, ReplicaCtl.USAGE, NexusCtl.USAGE, VolumeCtl.USAGE, CsiCtl.USAGE);
    /** What {@code -oFORMAT} may name (kubectl's short form; any other -o word is an unknown option). */
    private static final Set<String> OUTPUT_FORMATS = Set.of("json", "yaml", "wide", "name", "table");

    /** Commands for the control plane rather than a node. */
    private static final Set<String> CONTROL_RESOURCES = Set.of("volume", "apply", "get", "delete");
    /** Commands for a node. */
    private static final Set<String> NODE_RESOURCES = Set.of("node", "bdev", "pool", "replica", "nexus");

    static final Set<String> FLAGS = Set.of("json", "flush", "help", "thin", "local", "watch", "force", "force-rollback");
    static final Set<String> VALUED = Set.of("node", "timeout", "offset", "length", "output", "input", "pattern",
            "cluster-size", "uuid", "name", "share", "allowed-host", "protocol", "pool", "chap-user", "chap-secret-file",
            "chap-mutual-user", "chap-mutual-secret-file", "child", "size", "control", "replicas", "preferred-node",
            "required-node", "filename", "endpoint", "target-node", "property");

    /**
     * The options each command reads, besides --help, --json, --timeout and the address (--node for
     * a node's resources, --control for the control plane's). Any other is refused before anything is
     * sent: every verb parses every option, so a misplaced one (CHAP on a replica's share, --control
     * on a pool's destroy) used to be ignored without a word.
     */
    static final java.util.Map<String, Set<String>> OPTIONS = java.util.Map.ofEntries(
            java.util.Map.entry("node info", Set.of()),
            java.util.Map.entry("bdev create", Set.of()),
            java.util.Map.entry("bdev list", Set.of()),
            java.util.Map.entry("bdev destroy", Set.of("force")),
            java.util.Map.entry("bdev share", Set.of("protocol", "allowed-host", "chap-user", "chap-secret-file",
                    "chap-mutual-user", "chap-mutual-secret-file", "property")),
            java.util.Map.entry("bdev unshare", Set.of("force")),
            java.util.Map.entry("bdev read", Set.of("offset", "length", "output")),
            java.util.Map.entry("bdev write", Set.of("offset", "input", "pattern", "length", "flush")),
            java.util.Map.entry("pool create", Set.of("cluster-size", "uuid")),
            java.util.Map.entry("pool import", Set.of("name", "force-rollback")),
            java.util.Map.entry("pool export", Set.of()),
            java.util.Map.entry("pool destroy", Set.of("force")),
            java.util.Map.entry("pool list", Set.of()),
            java.util.Map.entry("replica create", Set.of("uuid", "name", "thin", "share", "allowed-host")),
            java.util.Map.entry("replica destroy", Set.of("force")),
            java.util.Map.entry("replica resize", Set.of()),
            java.util.Map.entry("replica share", Set.of("protocol", "allowed-host")),
            java.util.Map.entry("replica unshare", Set.of("force")),
            java.util.Map.entry("replica list", Set.of("pool")),
            java.util.Map.entry("nexus create", Set.of("child", "uuid", "size")),
            java.util.Map.entry("nexus destroy", Set.of("force")),
            java.util.Map.entry("nexus list", Set.of("watch")),
            java.util.Map.entry("nexus add-child", Set.of()),
            java.util.Map.entry("nexus remove-child", Set.of()),
            java.util.Map.entry("nexus fault-child", Set.of()),
            java.util.Map.entry("nexus publish", Set.of("protocol", "allowed-host")),
            java.util.Map.entry("nexus unpublish", Set.of("force")),
            java.util.Map.entry("nexus rebuild", Set.of()),
            java.util.Map.entry("volume create", Set.of("size", "replicas", "protocol", "thin", "local", "preferred-node",
                    "required-node")),
            java.util.Map.entry("volume list", Set.of()),
            java.util.Map.entry("volume get", Set.of()),
            java.util.Map.entry("volume publish", Set.of("node")),
            java.util.Map.entry("volume move", Set.of("target-node")),
            java.util.Map.entry("volume unpublish", Set.of()),
            java.util.Map.entry("volume destroy", Set.of()),
            java.util.Map.entry("apply", Set.of("filename")),
            java.util.Map.entry("get", Set.of("output")),
            java.util.Map.entry("delete", Set.of()));

    /** Refuses an option the command does not read (see {@link #OPTIONS}); an unknown command is its dispatcher's to refuse. */
    static void checkOptions(Args args, boolean control) {
        String resource = args.positional().get(0);
        String command = resource.equals("apply") || resource.equals("get") || resource.equals("delete")
                || args.positional().size() < 2 ? resource : resource + " " + args.positional().get(1);
        Set<String> own = OPTIONS.get(command);
        if (own == null) {
            return;
        }
        String output = args.option("output", null);
        if (command.equals("bdev read") && output != null && OUTPUT_FORMATS.contains(output)) {
            // -o json here wrote the data to a file named json
            throw new UsageException("bdev read writes the data to --output FILE, and '" + output + "' is an output format:"
                    + " give a path (--output ./" + output + "), or --json for the reply as JSON");
        }
        for (String name : args.names()) {
            if (name.equals("help") || name.equals("json") || name.equals("timeout") || own.contains(name)
                    || name.equals(control ? "control" : "node")) {
                continue;
            }
            if (name.equals("output")) { // kubectl's -o json, on a command that prints a table or JSON
                if (output.equals("json") || output.equals("table")) {
                    continue;
                }
                throw new UsageException("-o " + output + ": '" + command + "' prints a table, or JSON with -o json (--json)");
            }
            if (name.equals("control")) {
                throw new UsageException("--control is for volume, apply, get and delete; '" + command
                        + "' goes to a node (--node HOST:PORT)");
            }
            if (name.equals("node")) {
                throw new UsageException("--node does not apply to '" + command + "', which goes to the control plane"
                        + " (--control HOST:PORT)");
            }
            throw new UsageException("--" + name + " does not apply to '" + command + "'; see mayastor ctl --help");
        }
    }

    private final PrintStream out;
    private final PrintStream err;

    /** CHAP settings for an iSCSI share; secrets come from files so they stay out of shell history. */
    static java.util.Map<String, String> chap(Args args) {
        java.util.Map<String, String> properties = new java.util.LinkedHashMap<>();
        chapPair(args, "chap-user", "chap-secret-file", "chap.user", "chap.secret", properties);
        chapPair(args, "chap-mutual-user", "chap-mutual-secret-file", "chap.mutual.user", "chap.mutual.secret", properties);
        if (properties.containsKey("chap.mutual.user") && !properties.containsKey("chap.user")) {
            throw new UsageException("mutual CHAP needs --chap-user and --chap-secret-file too");
        }
        return properties;
    }

    /** {@code --property KEY=VALUE}, repeatable: a transport's own share settings (a plugin's, say). */
    static java.util.Map<String, String> properties(Args args) {
        java.util.Map<String, String> properties = new java.util.LinkedHashMap<>();
        for (String p : args.all("property")) {
            int eq = p.indexOf('=');
            if (eq <= 0) {
                throw new UsageException("--property " + p + ": expected KEY=VALUE");
            }
            properties.put(p.substring(0, eq).strip(), p.substring(eq + 1));
        }
        return properties;
    }

    private static void chapPair(Args args, String userFlag, String secretFlag, String userKey, String secretKey,
                                 java.util.Map<String, String> properties) {
        String user = args.option(userFlag, null);
        String file = args.option(secretFlag, null);
        if (user == null && file == null) {
            return;
        }
        if (user == null || file == null) {
            throw new UsageException("--" + userFlag + " and --" + secretFlag + " go together");
        }
        String secret;
        try {
            secret = java.nio.file.Files.readString(java.nio.file.Path.of(file)).strip();
        } catch (java.io.IOException e) {
            throw new UsageException("cannot read the CHAP secret from " + file + ": " + e.getMessage());
        }
        properties.put(userKey, user);
        properties.put(secretKey, secret);
    }

    Ctl(PrintStream out, PrintStream err) {
        this.out = out;
        this.err = err;
    }

    int run(List<String> argv) {
        List<String> words = new java.util.ArrayList<>();
        boolean options = true; // until "--": after it every word is a name, as Args takes it
        boolean value = false; // the word after a valued option given without "=": its value, "-1" too
        for (String a : argv) { // kubectl's short forms: -o json, -ojson, -o=json, -f FILE, -f=FILE
            if (options && value) {
                value = false;
                words.add(a);
                continue;
            }
            // -o=VALUE takes any value (bdev read's file too); -oVALUE only a format, else -offset was --output=ffset
            String output = a.startsWith("-o=") ? a.substring(3) : a.startsWith("-o") && OUTPUT_FORMATS.contains(a.substring(2))
                    ? a.substring(2) : null;
            if (!options) {
                words.add(a);
            } else if (a.equals("--")) {
                options = false;
                words.add(a);
            } else if (a.equals("-f") || a.equals("-o")) {
                words.add(a.equals("-f") ? "--filename" : "--output");
                value = true;
            } else if (a.startsWith("-f=")) {
                words.add("--filename=" + a.substring(3));
            } else if (output != null) {
                words.add("--output=" + output);
            } else if (a.length() > 1 && a.charAt(0) == '-' && a.charAt(1) != '-' && !a.equals("-h")) {
                // taken as a name, -x went to the node ("bdev -x not found"): a mistyped option is said to be one
                throw new UsageException(a.matches("-[0-9].*") ? "'" + a + "': a negative number is not accepted here"
                        : "unknown option " + a + "; see mayastor ctl --help");
            } else {
                value = a.startsWith("--") && VALUED.contains(a.substring(2));
                words.add(a);
            }
        }
        Args args = Args.parse(words, FLAGS, VALUED);
        if (args.flag("help") || args.positional().isEmpty()) {
            (args.flag("help") ? out : err).print(USAGE);
            return args.flag("help") ? 0 : EXIT_USAGE;
        }
        if (args.positional().get(0).equals("csi")) {
            return CsiCtl.run(args, out, err);
        }
        boolean control = CONTROL_RESOURCES.contains(args.positional().get(0));
        checkOptions(args, control);
        String address = control ? NodeClient.controlAddressFrom(args) : NodeClient.addressFrom(args);
        long timeout = args.longOption("timeout", 30);
        if (timeout < 1) {
            throw new UsageException("--timeout " + timeout + ": at least 1 (seconds)");
        }
        try (NodeClient node = control ? new NodeClient(address, "--control", 50051, timeout) : new NodeClient(address, timeout)) {
            try {
                return dispatch(node, args);
            } catch (StatusRuntimeException e) {
                err.println("error: " + node.describe(e));
                return NodeClient.unreachable(e) ? EXIT_UNREACHABLE : NodeClient.wrongServer(e) ? EXIT_USAGE
                        : NodeClient.answerTimedOut(e) ? EXIT_TIMED_OUT : EXIT_REFUSED;
            }
        }
    }

    private int dispatch(NodeClient node, Args args) {
        String resource = args.positional(0, "the resource (node, bdev, pool, replica, nexus, volume) or apply, get, delete");
        String command = args.positional().size() > 1 && !CONTROL_RESOURCES.contains(resource)
                ? resource + " " + args.positional().get(1) : resource;
        // -o json as --json, where -o is not the command's own (get's format, bdev read's file)
        boolean json = args.flag("json") || "json".equals(args.option("output", null))
                && !OPTIONS.getOrDefault(command, Set.of()).contains("output");
        Output output = new Output(out, err, json);
        if (resource.equals("apply")) {
            VolumeCtl.run(resource, "", args, node, output);
            return 0;
        }
        if (!NODE_RESOURCES.contains(resource) && !CONTROL_RESOURCES.contains(resource)) {
            throw new UsageException("unknown resource '" + resource + "': node, bdev, pool, replica, nexus or volume;"
                    + " or apply, get, delete (see mayastor ctl --help)");
        }
        String verb = args.positional(1, resource.equals("get") || resource.equals("delete") ? "the kind (msn, msp or msv)"
                : "the verb for " + resource);
        if (CONTROL_RESOURCES.contains(resource)) {
            VolumeCtl.run(resource, verb, args, node, output);
            return 0;
        }
        if (resource.equals("pool")) {
            PoolCtl.run(verb, args, node, output);
            return 0;
        }
        if (resource.equals("replica")) {
            ReplicaCtl.run(verb, args, node, output);
            return 0;
        }
        if (resource.equals("nexus")) {
            return NexusCtl.run(verb, args, node, output);
        }
        switch (resource + " " + verb) {
            case "node info" -> {
                args.atMost(2, "mayastor ctl node info");
                NodeInfo info = node.host().getNodeInfo(Empty.getDefaultInstance());
                print(json, info, () -> printNodeInfo(info));
            }
            case "bdev create" -> {
                args.atMost(3, "mayastor ctl bdev create URI");
                String uri = args.positional(2, "the bdev URI (e.g. malloc:///m0?size_mb=64)");
                CreateBdevResponse reply = node.bdev().create(CreateBdevRequest.newBuilder().setUri(uri).build());
                print(json, reply, () -> out.print(bdevTable(List.of(reply.getBdev()))));
            }
            case "bdev list" -> {
                args.atMost(3, "mayastor ctl bdev list [NAME]");
                String name = args.positional().size() > 2 ? args.positional(2, "") : "";
                ListBdevResponse reply = node.bdev().list(ListBdevOptions.newBuilder().setName(name).build());
                print(json, reply, () -> out.print(reply.getBdevsCount() == 0 ? "no bdevs\n" : bdevTable(reply.getBdevsList())));
            }
            case "bdev destroy" -> {
                args.atMost(3, "mayastor ctl bdev destroy NAME|URI [--force]");
                String name = args.positional(2, "the bdev name or URI");
                node.bdev().destroy(DestroyBdevRequest.newBuilder().setName(name).setForce(args.flag("force")).build());
                print(json, Empty.getDefaultInstance(), () -> out.println("destroyed bdev " + name));
            }
            case "bdev share" -> {
                args.atMost(3, "mayastor ctl bdev share NAME --protocol nvmf|iscsi [--allowed-host NQN]...");
                String name = args.positional(2, "the bdev name");
                // lower case, as replica share and nexus publish take it
                String protocol = args.option("protocol", "").toLowerCase(Locale.ROOT);
                if (protocol.isEmpty()) {
                    throw new UsageException("--protocol nvmf|iscsi is required");
                }
                ShareBdevRequest.Builder request = ShareBdevRequest.newBuilder().setName(name)
                        .addAllAllowedHosts(args.all("allowed-host")).putAllProperties(chap(args))
                        .putAllProperties(properties(args));
                if (protocol.equals("nvmf") || protocol.equals("iscsi")) {
                    request.setProtocol(ReplicaCtl.protocol(protocol));
                } else {
                    request.setProtocolName(protocol); // a plugin's transport, e.g. nbd
                }
                ShareBdevResponse reply = node.bdev().share(request.build());
                print(json, reply, () -> out.println(!reply.getUri().isEmpty() ? reply.getUri()
                        : "bdev " + name + " is to be shared over " + protocol + ", which is not serving yet "
                            + "(mayastor ctl bdev list " + name + " says why)"));
            }
            case "bdev unshare" -> {
                args.atMost(3, "mayastor ctl bdev unshare NAME [--force]");
                String name = args.positional(2, "the bdev name");
                node.bdev().unshare(UnshareBdevRequest.newBuilder().setName(name).setForce(args.flag("force")).build());
                print(json, Empty.getDefaultInstance(), () -> out.println("unshared bdev " + name));
            }
            case "bdev read" -> {
                return read(node, args, json);
            }
            case "bdev write" -> {
                return write(node, args, json);
            }
            default -> throw new UsageException("unknown command '" + resource + " " + verb + "'; see mayastor ctl --help");
        }
        return 0;
    }

    private int read(NodeClient node, Args args, boolean json) {
        args.atMost(3, "mayastor ctl bdev read NAME --offset BYTES --length BYTES [--output FILE]");
        String name = args.positional(2, "the bdev name");
        long offset = bytesOption(args, "offset", 0);
        long length = bytesOption(args, "length", -1);
        if (length <= 0) {
            throw new UsageException("--length BYTES is required (1 byte to 1 MiB)");
        }
        if (length > MAX_TRANSFER) {
            throw new UsageException("--length " + length + ": at most 1 MiB is read at a time (--offset for the next)");
        }
        ReadBdevResponse reply = node.bdev().read(ReadBdevRequest.newBuilder()
                .setName(name).setOffset(offset).setLength((int) length).build());
        String output = args.option("output", null);
        if (output != null) {
            try {
                Files.write(Path.of(output), reply.getData().toByteArray());
            } catch (IOException e) {
                err.println("error: cannot write " + output + ": " + e.getMessage());
                return EXIT_USAGE;
            }
            if (json) { // what was read and where it went; the data is in the file
                out.println("{\"name\": " + jsonString(name) + ", \"offset\": " + offset + ", \"bytes\": "
                        + reply.getData().size() + ", \"output\": " + jsonString(output) + "}");
            } else {
                out.println("read " + reply.getData().size() + " bytes from " + name + " at offset " + offset + " into " + output);
            }
        } else if (json) {
            print(true, reply, null);
        } else {
            out.print(hexDump(reply.getData().toByteArray(), offset));
        }
        return 0;
    }

    /** A JSON string: quotes, backslashes and control characters escaped (RFC 8259 §7). */
    static String jsonString(String s) {
        StringBuilder b = new StringBuilder(s.length() + 2).append('"');
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.append('"').toString();
    }

    private int write(NodeClient node, Args args, boolean json) {
        args.atMost(3, "mayastor ctl bdev write NAME --offset BYTES (--input FILE | --pattern BYTE --length BYTES)");
        String name = args.positional(2, "the bdev name");
        long offset = bytesOption(args, "offset", 0);
        long length = bytesOption(args, "length", -1);
        if (length == 0 || length > MAX_TRANSFER) {
            throw new UsageException("--length " + length + ": a write takes 1 byte to 1 MiB");
        }
        byte[] data;
        String input = args.option("input", null);
        if (input != null && args.option("pattern", null) != null) {
            throw new UsageException("give --input FILE or --pattern BYTE, not both");
        }
        if (input != null) {
            // at most --length bytes (or 1 MiB) and one more, to tell a longer input: /dev/urandom has no end
            int most = length > 0 ? (int) length : MAX_TRANSFER;
            try (var in = Files.newInputStream(Path.of(input))) {
                data = in.readNBytes(most + 1);
            } catch (IOException e) {
                err.println("error: cannot read " + input + ": " + e.getMessage());
                return EXIT_USAGE;
            }
            if (data.length > most) {
                if (length > 0) {
                    data = Arrays.copyOf(data, most); // the first --length bytes
                } else {
                    throw new UsageException(input + " holds more than 1 MiB, the most a write takes; "
                            + "give --length to write its first bytes");
                }
            } else if (length > 0 && data.length < length) {
                throw new UsageException(input + " holds " + data.length + " bytes, fewer than --length " + length);
            }
        } else if (args.option("pattern", null) != null) {
            long pattern = args.longOption("pattern", 0);
            if (pattern < 0 || pattern > 255) {
                throw new UsageException("--pattern takes a byte value, 0..255 (e.g. 0xa5)");
            }
            if (length < 0) {
                throw new UsageException("--length BYTES is required with --pattern");
            }
            data = new byte[(int) length];
            Arrays.fill(data, (byte) pattern);
        } else {
            throw new UsageException("give --input FILE or --pattern BYTE --length BYTES");
        }
        var reply = node.bdev().write(WriteBdevRequest.newBuilder().setName(name).setOffset(offset)
                .setData(ByteString.copyFrom(data)).setFlush(args.flag("flush")).build());
        print(json, reply, () -> out.println("wrote " + reply.getBytesWritten() + " bytes to " + name + " at offset "
                + offset + (args.flag("flush") ? ", flushed" : "")));
        return 0;
    }

    /** The most bytes a read or write moves (the node's limit). */
    private static final int MAX_TRANSFER = 1 << 20;

    /** A byte count or offset: a size ({@code 4096}, {@code 4KiB}, {@code 1MiB}) or hex ({@code 0x1000}). */
    static long bytesOption(Args args, String name, long fallback) {
        String value = args.option(name, null);
        if (value == null) {
            return fallback;
        }
        String v = value.strip();
        // hex, or plain digits (0 too: SizeArg takes sizes, above zero), else a size with its unit
        return v.startsWith("0x") || v.startsWith("0X") || v.matches("[0-9_]+") ? args.longOption(name, fallback)
                : SizeArg.parse(v, "--" + name);
    }

    private void print(boolean json, MessageOrBuilder message, Runnable text) {
        new Output(out, err, json).print(message, text);
    }

    private void printNodeInfo(NodeInfo info) {
        BufferPoolInfo buffers = info.getBuffers();
        out.printf(Locale.ROOT, """
                node       %s
                version    %s
                endpoint   %s
                pid        %d
                uptime     %.1f s
                java       %s
                reactors   %d
                buffers    %s on %s, %s in use, %d allocation failures
                """, info.getNodeId(), info.getVersion(), info.getGrpcEndpoint(), info.getPid(),
                info.getUptimeMs() / 1000.0, info.getJavaVersion(), info.getReactors(),
                Sizes.human(buffers.getTotalBytes()),
                buffers.getHugepages() ? buffers.getHugepagesInUse() + " hugepages" : "ordinary memory (no hugepages)",
                Sizes.human(buffers.getUsedBytes()), buffers.getAllocationFailures());
    }

    static String bdevTable(List<Bdev> bdevs) {
        Table table = new Table("NAME", "PRODUCT", "SIZE", "BLK_SIZE", "BLOCKS", "UUID", "CLAIMED_BY", "SHARE")
                .alignRight("SIZE", "BLK_SIZE", "BLOCKS");
        for (Bdev b : bdevs) {
            table.row(b.getName(), b.getProductName(), Sizes.human(b.getNumBlocks() * b.getBlkSize()), b.getBlkSize(),
                    b.getNumBlocks(), b.getUuid(), b.getClaimed() ? b.getClaimedBy() : null,
                    !b.getShareUri().isEmpty() ? b.getShareUri() : b.getShareState().isEmpty() ? null : b.getShareState());
        }
        return table.toString();
    }

    static String hexDump(byte[] data, long baseOffset) {
        StringBuilder out = new StringBuilder();
        for (int line = 0; line < data.length; line += 16) {
            out.append(String.format(Locale.ROOT, "%08x  ", baseOffset + line));
            StringBuilder text = new StringBuilder();
            for (int i = line; i < line + 16; i++) {
                if (i < data.length) {
                    out.append(String.format(Locale.ROOT, "%02x ", data[i] & 0xff));
                    char c = (char) (data[i] & 0xff);
                    text.append(c >= 0x20 && c < 0x7f ? c : '.');
                } else {
                    out.append("   ");
                }
                if (i == line + 7) {
                    out.append(' ');
                }
            }
            out.append(" |").append(text).append("|\n");
        }
        return out.toString();
    }
}
