package io.mayastorj.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Review findings: every ctl verb parsed every option and read only its own, so a misplaced option was
 * dropped without a word — CHAP on a replica's share (served with no authentication), --share on a
 * volume, --control on a pool's destroy (sent to the default node). Each is now a usage error (exit 2)
 * before anything is sent: no node listens at the addresses these tests give.
 */
class CtlOptionsTest {

    @TempDir
    Path dir;

    private record Run(int exit, String err) {
    }

    private static Run ctl(String... words) {
        List<String> argv = new ArrayList<>(List.of("ctl", "--timeout", "1"));
        argv.addAll(List.of(words));
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int exit = Main.run(argv, new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(exit, err.toString(StandardCharsets.UTF_8));
    }

    private static void refused(Run r, String said) {
        assertEquals(2, r.exit(), r.err());
        assertTrue(r.err().contains(said), r.err());
    }

    @Test
    void chapOnAShareThatCannotCarryItIsRefused() throws Exception {
        Path secret = Files.writeString(dir.resolve("secret"), "s3cret-s3cret");
        refused(ctl("--node", "127.0.0.1:1", "replica", "share", "R1", "--protocol", "iscsi", "--chap-user", "u",
                "--chap-secret-file", secret.toString()), "--chap-user does not apply to 'replica share'");
        refused(ctl("--node", "127.0.0.1:1", "nexus", "publish", "vol", "--protocol", "iscsi", "--chap-user", "u",
                "--chap-secret-file", secret.toString()), "--chap-user does not apply to 'nexus publish'");
    }

    /** Review findings: what the command line took without a word, and what it did with it. */
    @Test
    void malformedWordsAreUsageErrors() {
        // an address with a scheme, or an IPv6 one without brackets: a gRPC message and exit 1 before
        refused(ctl("--node", "http://127.0.0.1:1", "node", "info"), "--node http://127.0.0.1:1: expected HOST:PORT");
        refused(ctl("--node", "fe80::1", "node", "info"), "an IPv6 address as [ADDRESS]:PORT");
        // a sign after 0x: the whole input file was written instead of -5 bytes refused
        refused(ctl("--node", "127.0.0.1:1", "bdev", "write", "b0", "--offset", "0", "--pattern", "1", "--length", "0x-5"),
                "--length 0x-5: not a number");
        // csi took --control (and went to $CSI_ENDPOINT) and dropped a second request
        refused(ctl("csi", "GetPluginInfo", "{}", "--control", "127.0.0.1:1", "--endpoint", "127.0.0.1:1"),
                "--control does not apply to 'csi'");
        refused(ctl("csi", "GetPluginInfo", "{}", "{}", "--endpoint", "127.0.0.1:1"), "mayastor ctl csi METHOD");
        // a single-dash word was a name sent to the node
        refused(ctl("--node", "127.0.0.1:1", "bdev", "list", "-x"), "unknown option -x");
        refused(ctl("--control", "127.0.0.1:1", "volume", "list", "-oyaml"), "-o yaml: 'volume list' prints a table, or JSON");
        refused(ctl("--node", "127.0.0.1:1", "bdev", "read", "b0", "-offset", "0"), "unknown option -offset");
        // a negative value was taken for an unknown option, not given the option's own message
        refused(ctl("--node", "127.0.0.1:1", "bdev", "write", "m0", "--offset", "0", "--pattern", "-1", "--length", "512"),
                "--pattern takes a byte value, 0..255");
        refused(ctl("--timeout", "-5", "--node", "127.0.0.1:1", "node", "info"), "--timeout");
        // after "--" every word is a name: refused by the node (nothing listens), not as an option
        assertEquals(3, ctl("--node", "127.0.0.1:1", "bdev", "destroy", "--", "-odd").exit());
    }

    /**
     * Review findings (CLI): -o json on bdev read wrote the data to a file named "json", and on every
     * other node command said "--output does not apply"; kubectl's -o json now means --json wherever
     * -o is not the command's own. A typo of a resource said "the verb for pools is missing"; a
     * negative number was "an unknown option"; a length too large said it was missing.
     */
    @Test
    void kubectlHabitsAndTyposGetWhatTheyMean() {
        refused(ctl("--node", "127.0.0.1:1", "bdev", "read", "m0", "--length", "4096", "-o", "json"),
                "bdev read writes the data to --output FILE, and 'json' is an output format");
        assertEquals(false, Files.exists(Path.of("json")), "no file written");
        assertEquals(3, ctl("--node", "127.0.0.1:1", "bdev", "list", "-o", "json").exit(), "on to the (absent) node");
        assertEquals(3, ctl("--node", "127.0.0.1:1", "pool", "list", "-ojson").exit(), "on to the (absent) node");
        assertEquals(3, ctl("--control", "127.0.0.1:1", "volume", "list", "-o", "json").exit(), "on to the (absent) control plane");
        refused(ctl("--node", "127.0.0.1:1", "pools"), "unknown resource 'pools'");
        refused(ctl("--node", "127.0.0.1:1", "replica", "create", "p0", "-1"), "'-1': a negative number is not accepted here");
        refused(ctl("--node", "127.0.0.1:1", "bdev", "read", "m0", "--length", "2MiB"), "--length 2097152: at most 1 MiB");
        refused(ctl("--node", "127.0.0.1:1", "nexus", "create", "n", "--child", "malloc:///x?size_mb=8", "--size", "10Gx"),
                "--size '10Gx' is not a size");
    }

    /**
     * Review finding (CLI): ctl pointed at the wrong kind of port (the metrics port's HTTP, or the
     * control plane's gRPC for a node's command) printed "INTERNAL: http2 exception" or
     * "UNIMPLEMENTED: Method not found" and exit 1, "the node refused". It says which port it is not
     * now: exit 2 for one that speaks no gRPC (bad usage), still 1 for a gRPC server without the call
     * (a node's bundle being updated answers so too, and a retry may succeed).
     */
    @Test
    void theWrongKindOfPortIsSaid() throws Exception {
        com.sun.net.httpserver.HttpServer http = com.sun.net.httpserver.HttpServer.create(
                new java.net.InetSocketAddress("127.0.0.1", 0), 0);
        http.createContext("/", exchange -> {
            exchange.sendResponseHeaders(200, 2);
            exchange.getResponseBody().write("ok".getBytes(StandardCharsets.US_ASCII));
            exchange.close();
        });
        http.start();
        try {
            String address = "127.0.0.1:" + http.getAddress().getPort();
            refused(ctl("--node", address, "bdev", "list"), address + " is not a node's gRPC port");
            refused(ctl("--control", address, "volume", "list"), address + " is not a control plane's gRPC port");
        } finally {
            http.stop(0);
        }
        io.grpc.Server other = io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder.forAddress(new java.net.InetSocketAddress("127.0.0.1", 0))
                .build().start(); // serves none of the calls: a gRPC server of another kind
        try {
            String address = "127.0.0.1:" + other.getPort();
            Run run = ctl("--node", address, "pool", "list"); // a node whose pool bundle is not started answers so too
            assertEquals(1, run.exit(), run.err());
            assertTrue(run.err().contains(address + " does not serve this call: it is not a node's gRPC port"), run.err());
        } finally {
            other.shutdownNow();
        }
    }

    /**
     * Review finding: a call the node took and did not answer in time (a thick replica's zeroing) was
     * "DEADLINE_EXCEEDED: deadline exceeded after ..." and exit 1, "the node refused", while the node
     * could still do it. It says so, and exits 4.
     */
    @Test
    void aCallNotAnsweredInTimeIsNotARefusal() throws Exception {
        io.grpc.Server silent = nodeInfo(response -> { }); // never answers
        try {
            String address = "127.0.0.1:" + silent.getPort();
            Run run = ctl("--node", address, "node", "info");
            assertEquals(4, run.exit(), run.err());
            assertEquals("error: no answer from " + address + " within 1 s (--timeout): it may still be done there; look (list) "
                    + "before asking again, or give it longer\n", run.err());
        } finally {
            silent.shutdownNow();
        }
        // the node's own DEADLINE_EXCEEDED (an I/O of its that timed out) is its answer: said as it is, exit 1
        io.grpc.Server timedOut = nodeInfo(response -> response.onError(io.grpc.Status.DEADLINE_EXCEEDED
                .withDescription("read on bdev m0 timed out").asRuntimeException()));
        try {
            Run run = ctl("--node", "127.0.0.1:" + timedOut.getPort(), "node", "info");
            assertEquals(1, run.exit(), run.err());
            assertEquals("error: DEADLINE_EXCEEDED: read on bdev m0 timed out\n", run.err());
        } finally {
            timedOut.shutdownNow();
        }
    }

    /** A node on loopback that serves GetNodeInfo alone, answering (or not) as {@code answer} does. */
    private static io.grpc.Server nodeInfo(java.util.function.Consumer<io.grpc.stub.StreamObserver<io.mayastorj.api.v1.NodeInfo>> answer)
            throws java.io.IOException {
        return io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder.forAddress(new java.net.InetSocketAddress("127.0.0.1", 0))
                .addService(new io.mayastorj.api.v1.HostRpcGrpc.HostRpcImplBase() {
                    @Override
                    public void getNodeInfo(com.google.protobuf.Empty request,
                                            io.grpc.stub.StreamObserver<io.mayastorj.api.v1.NodeInfo> response) {
                        answer.accept(response);
                    }
                }).build().start();
    }

    /** Review finding: a replica's share over a transport not serving yet printed an empty line, and exit 0. */
    @Test
    void aShareThatWaitsForItsTransportSaysSo() throws Exception {
        String uuid = "7f1a0000-0000-4000-8000-000000000001";
        java.util.concurrent.atomic.AtomicReference<io.mayastorj.api.v1.ShareReplicaRequest> asked =
                new java.util.concurrent.atomic.AtomicReference<>();
        io.grpc.Server node = io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder.forAddress(
                new java.net.InetSocketAddress("127.0.0.1", 0)).addService(new io.mayastorj.api.v1.ReplicaRpcGrpc.ReplicaRpcImplBase() {
                    @Override
                    public void shareReplica(io.mayastorj.api.v1.ShareReplicaRequest request,
                                             io.grpc.stub.StreamObserver<io.mayastorj.api.v1.Replica> response) {
                        asked.set(request);
                        response.onNext(io.mayastorj.api.v1.Replica.newBuilder().setUuid(uuid) // it waits: not shared yet
                                .setUri("bdev:///" + uuid + "?uuid=" + uuid).build());
                        response.onCompleted();
                    }
                }).build().start();
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            int exit = Main.run(List.of("ctl", "--node", "127.0.0.1:" + node.getPort(), "replica", "share", uuid, "--protocol", "NBD"),
                    new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(new ByteArrayOutputStream()));
            assertEquals(0, exit);
            assertEquals("replica " + uuid + " is to be shared over NBD, which is not serving on the node yet; its URI comes once "
                    + "it is (mayastor ctl replica list)\n", out.toString(StandardCharsets.UTF_8));
            // the replica call, recorded with the replica (a bare bdev share was gone after a restart); share -1, so that
            // a node older than protocol_name refuses rather than unshares
            assertEquals("nbd", asked.get().getProtocolName());
            assertEquals(-1, asked.get().getShareValue());
        } finally {
            node.shutdownNow();
        }
    }

    @Test
    void anOptionOfAnotherVerbIsRefused() {
        refused(ctl("--control", "127.0.0.1:1", "volume", "create", "db", "--size", "1GiB", "--share", "iscsi"),
                "--share does not apply to 'volume create'");
        refused(ctl("--node", "127.0.0.1:1", "replica", "create", "p0", "1GiB", "--protocol", "nvmf"),
                "--protocol does not apply to 'replica create'");
        refused(ctl("--node", "127.0.0.1:1", "replica", "list", "--uuid", "R2"), "--uuid does not apply to 'replica list'");
    }

    @Test
    void anAddressForTheOtherSideIsRefused() {
        refused(ctl("--control", "127.0.0.1:1", "pool", "destroy", "p0", "--force"), "--control is for volume");
        refused(ctl("--node", "127.0.0.1:1", "volume", "destroy", "db"), "--node does not apply to 'volume destroy'");
        // a volume's publish takes --node: the application's node
        Run publish = ctl("--control", "127.0.0.1:1", "volume", "publish", "db", "--node", "w1");
        assertEquals(3, publish.exit(), "on to the (absent) control plane: " + publish.err());
    }

    @Test
    void aWriteTakesAtMostOneMebibyteOfItsInput() throws Exception {
        Path big = dir.resolve("big");
        Files.write(big, new byte[(2 << 20)]);
        refused(ctl("--node", "127.0.0.1:1", "bdev", "write", "m0", "--input", big.toString()), "holds more than 1 MiB");
        refused(ctl("--node", "127.0.0.1:1", "bdev", "write", "m0", "--input", big.toString(), "--pattern", "1"),
                "not both");
        refused(ctl("--node", "127.0.0.1:1", "bdev", "write", "m0", "--pattern", "1", "--length", "2MiB"),
                "a write takes 1 byte to 1 MiB");
        // its first --length bytes (units as everywhere else) go on to the (absent) node
        assertEquals(3, ctl("--node", "127.0.0.1:1", "bdev", "write", "m0", "--input", big.toString(), "--length", "4KiB",
                "--offset", "1MiB").exit());
        assertEquals(3, ctl("--node", "127.0.0.1:1", "bdev", "write", "m0", "--input", big.toString(), "--length", "4096",
                "--offset", "0").exit(), "offset 0");
        assertEquals(3, ctl("--node", "127.0.0.1:1", "bdev", "read", "m0", "--offset", "0", "--length", "4096").exit());
    }

    @Test
    void aPluginProtocolOnANexusPointsToBdevShare() {
        refused(ctl("--node", "127.0.0.1:1", "nexus", "publish", "vol", "--protocol", "nbd"),
                "mayastor ctl bdev share vol --protocol nbd");
    }

    /** Review finding: a timeout of 0 (or below) went on to fail every call with DEADLINE_EXCEEDED, exit 1. */
    @Test
    void timeoutsBelowOneAreUsageErrors() {
        for (List<String> argv : List.of(List.of("shell", "--node", "127.0.0.1:1", "--timeout", "0", "lsb"),
                List.of("ctl", "csi", "GetPluginInfo", "--endpoint", "unix:///nonexistent.sock", "--timeout", "-5"),
                List.of("bench", "--uri", "malloc:///b?size_mb=1", "--io-timeout", "0"),
                List.of("bench", "--uri", "malloc:///b?size_mb=1", "--buffers-mb", "2000000"))) {
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            int exit = Main.run(argv, new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true, StandardCharsets.UTF_8));
            assertEquals(2, exit, argv + ": " + err.toString(StandardCharsets.UTF_8));
        }
    }

    @Test
    void applyTakesNoWordsBesideItsFiles() {
        refused(ctl("--control", "127.0.0.1:1", "apply", "-f", "a.yaml", "b.yaml"), "unexpected argument 'b.yaml'");
    }
}
