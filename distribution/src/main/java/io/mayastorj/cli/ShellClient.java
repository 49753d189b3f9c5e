package io.mayastorj.cli;

import io.grpc.StatusRuntimeException;
import io.mayastorj.api.v1.ShellRequest;
import io.mayastorj.api.v1.ShellResponse;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Set;

/**
 * {@code mayastor shell}: Felix shell (Gogo) commands on a running node, through the node's
 * loopback-only shell service. With a command, runs it and exits; without one, reads commands
 * from standard input, one per line.
 */
final class ShellClient {

    static final String USAGE = """
            usage: mayastor shell [--node HOST:PORT] ['COMMAND ...']

            Runs Felix shell (Gogo) commands on a node on this machine, e.g.
              mayastor shell --node 127.0.0.1:10124 'mayastor:bdevs'
              mayastor shell 'lb'            (the bundles and their states)
              mayastor shell 'inspect cap service 0'
            Without a command it reads commands from standard input, one per line ('exit' ends).
            Node commands: mayastor:node, mayastor:bdevs, mayastor:stats, mayastor:buffers,
                           mayastor:reactors, mayastor:shares, mayastor:pools, mayastor:replicas,
                           mayastor:nexus, mayastor:nvmf, mayastor:iscsi ('help' lists all,
                           'help mayastor:pools' says what one shows; they take no arguments)
            The control plane's, with --node 127.0.0.1:50051 (its gRPC port):
                           mayastor:nodes, mayastor:pools, mayastor:volumes

            options:
              --node HOST:PORT    the node (default: $MAYASTOR_NODE, else 127.0.0.1:10124)
              --timeout SECONDS   give up on a command after this long (default 30)

            exit codes: 0 done, 1 the command (from standard input: any one) failed, 2 bad usage, 3 the node could not be reached
            """;

    private final InputStream in;
    private final PrintStream out;
    private final PrintStream err;

    ShellClient(InputStream in, PrintStream out, PrintStream err) {
        this.in = in;
        this.out = out;
        this.err = err;
    }

    int run(List<String> argv) {
        Args args = Args.parse(argv, Set.of("help"), Set.of("node", "timeout"));
        if (args.flag("help")) {
            out.print(USAGE);
            return 0;
        }
        long timeout = args.longOption("timeout", 30);
        if (timeout < 1) {
            throw new UsageException("--timeout " + timeout + ": at least 1 (seconds)");
        }
        try (NodeClient node = new NodeClient(NodeClient.addressFrom(args), timeout)) {
            if (!args.positional().isEmpty()) {
                return execute(node, String.join(" ", args.positional()));
            }
            int failed = 0; // a script's failure is not hidden by a later line that passes
            try (BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                String line;
                while (prompt(node) && (line = reader.readLine()) != null) {
                    line = line.strip();
                    if (line.equals("exit") || line.equals("quit")) {
                        break;
                    }
                    if (!line.isEmpty()) {
                        int status = execute(node, line);
                        if (status == Ctl.EXIT_UNREACHABLE) {
                            return status;
                        }
                        failed = failed == 0 ? status : failed;
                    }
                }
            } catch (IOException e) {
                err.println("error: " + e.getMessage());
                return 1;
            }
            return failed;
        }
    }

    /**
     * A terminal on both ends. JDK 22-24's System.console() is not null with the streams redirected (a
     * pipe's output would get the prompts); Console.isTerminal (JDK 22+) says what is meant.
     */
    private static boolean interactive() {
        java.io.Console console = System.console();
        if (console == null) {
            return false;
        }
        try {
            return (Boolean) java.io.Console.class.getMethod("isTerminal").invoke(console);
        } catch (ReflectiveOperationException e) {
            return true; // JDK 21: a console at all means a terminal
        }
    }

    private boolean prompt(NodeClient node) {
        if (interactive()) {
            out.print(node.address() + "> ");
            out.flush();
        }
        return true;
    }

    private int execute(NodeClient node, String command) {
        ShellResponse reply;
        try {
            reply = node.shell().execute(ShellRequest.newBuilder().setCommand(command).build());
        } catch (StatusRuntimeException e) {
            err.println("error: " + node.describe(e));
            return NodeClient.unreachable(e) ? Ctl.EXIT_UNREACHABLE : NodeClient.wrongServer(e) ? Ctl.EXIT_USAGE : Ctl.EXIT_REFUSED;
        }
        out.print(reply.getOutput());
        out.flush();
        if (reply.getFailed()) {
            err.println("error: " + reply.getError());
            return 1;
        }
        return 0;
    }
}
