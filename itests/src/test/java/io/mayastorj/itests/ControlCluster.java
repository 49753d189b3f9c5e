package io.mayastorj.itests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.mayastorj.api.v1.GetRequest;
import io.mayastorj.api.v1.ListNexusOptions;
import io.mayastorj.api.v1.ListPoolOptions;
import io.mayastorj.api.v1.ListReplicaOptions;
import io.mayastorj.api.v1.ListVolumesRequest;
import io.mayastorj.api.v1.NexusRpcGrpc;
import io.mayastorj.api.v1.PoolRpcGrpc;
import io.mayastorj.api.v1.ReplicaRpcGrpc;
import io.mayastorj.api.v1.ResourceRpcGrpc;
import io.mayastorj.api.v1.Volume;
import io.mayastorj.api.v1.VolumeRpcGrpc;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * A control plane and storage node processes for a test, as a user runs them: the control plane on
 * 127.0.0.8, nodes on their own loopback addresses registering with it over gRPC, each node's pool
 * on a file of its own. Closing stops every process.
 */
final class ControlCluster implements AutoCloseable {

    static final String CONTROL_ADDRESS = "127.0.0.8";

    final Path work;
    final String control;
    private List<String> controlArgs = List.of();
    private Mayastor.NodeProcess controlProcess;
    final Map<String, Mayastor.NodeProcess> nodes = new LinkedHashMap<>();
    final Map<String, String> endpoints = new LinkedHashMap<>();
    private final Map<String, int[]> ports = new LinkedHashMap<>();
    private final Map<String, String[]> extras = new LinkedHashMap<>();
    private final Map<String, ManagedChannel> channels = new TreeMap<>();
    private final List<Mayastor.NodeProcess> stopped = new ArrayList<>();
    private String natsUrl;

    ControlCluster(String name) throws IOException {
        this(name, CONTROL_ADDRESS);
    }

    /** With the control plane on another address (127.0.0.1 when a QEMU guest must reach it as 10.0.2.2). */
    ControlCluster(String name, String controlAddress) throws IOException {
        work = Scratch.dir(name);
        control = controlAddress + ":" + DistributionTest.freePort(controlAddress);
    }

    /** Nodes started from now on register over NATS (the seed's way) instead of gRPC. */
    void registerOverNats(String url) {
        natsUrl = url;
    }

    /** Starts the control plane with its state under the work directory; restarts use the same arguments. */
    Mayastor.NodeProcess startControl(String... args) throws Exception {
        List<String> all = new ArrayList<>(List.of("--grpc-endpoint", control, "--state-dir", work.resolve("control").toString()));
        all.addAll(List.of(args));
        controlArgs = all;
        return restartControl();
    }

    Mayastor.NodeProcess restartControl() throws Exception {
        controlProcess = Mayastor.control(controlArgs.toArray(String[]::new));
        ManagedChannel c = channels.get(control);
        if (c != null) {
            c.resetConnectBackoff(); // it is back: do not wait out the backoff of the calls refused while it was away
        }
        return controlProcess;
    }

    Mayastor.NodeProcess controlProcess() {
        return controlProcess;
    }

    /** SIGKILL, as a crash would. */
    void killControl() throws InterruptedException {
        kill(controlProcess);
        stopped.add(controlProcess);
    }

    private static void kill(Mayastor.NodeProcess p) throws InterruptedException {
        p.process.toHandle().destroyForcibly();
        if (!p.process.waitFor(20, TimeUnit.SECONDS)) {
            throw new AssertionError("a SIGKILLed process did not end");
        }
    }

    /**
     * Starts node ID on ADDRESS, or again on the endpoint and ports it had when it ran before (ADDRESS
     * may be null then), with the extra arguments it had then unless others are given.
     */
    Mayastor.NodeProcess node(String id, String address, String... given) throws Exception {
        String[] extra = given.length == 0 && extras.containsKey(id) ? extras.get(id) : given;
        extras.put(id, extra);
        String endpoint = endpoints.computeIfAbsent(id, k -> address + ":" + freePort(address));
        String host = endpoint.substring(0, endpoint.lastIndexOf(':'));
        int[] port = ports.computeIfAbsent(id, k -> new int[] {freePort(host), freePort(host), freePort(host)}); // the same after a restart
        List<String> args = new ArrayList<>(List.of("--node-id", id, "--grpc-endpoint", endpoint,
                "--state-dir", work.resolve("state-" + id).toString(), "--buffers-mb", "64",
                "--nvmf-port", String.valueOf(port[0]), "--iscsi-port", String.valueOf(port[1]),
                "--nvmf-nexus-port", String.valueOf(port[2]),
                "--registration-interval-seconds", "1"));
        args.addAll(natsUrl == null ? List.of("--control-endpoint", control) : List.of("--nats-url", natsUrl));
        args.addAll(List.of(extra));
        Mayastor.NodeProcess p = new Mayastor.NodeProcess(args.toArray(String[]::new));
        assertNotNull(p.await(l -> l.startsWith("mayastor node " + id + " ready"), 60), p.output());
        Mayastor.NodeProcess before = nodes.put(id, p);
        if (before != null) {
            stopped.add(before);
        }
        return p;
    }

    void killNode(String id) throws InterruptedException {
        kill(nodes.get(id));
    }

    /** SIGSTOP: node ID keeps its nexuses, connections and memory, as through a partition or a long pause. */
    void freeze(String id) throws Exception {
        signal(nodes.get(id), "STOP");
    }

    /** SIGCONT. */
    void thaw(String id) throws Exception {
        signal(nodes.get(id), "CONT");
    }

    private static void signal(Mayastor.NodeProcess p, String signal) throws Exception {
        if (p.process.isAlive()) {
            assertEquals(0, new ProcessBuilder("kill", "-" + signal, String.valueOf(p.process.pid())).start().waitFor());
        }
    }

    private static int freePort(String address) {
        try {
            return DistributionTest.freePort(address);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Node ID's pool disk (see {@link #poolManifest}). */
    Path diskOf(String id) {
        return work.resolve("disk-" + id + ".img");
    }

    /** A sparse file for node ID's pool. */
    Path disk(String id, long bytes) throws IOException {
        Path disk = work.resolve("disk-" + id + ".img");
        try (RandomAccessFile f = new RandomAccessFile(disk.toFile(), "rw")) {
            f.setLength(bytes);
        }
        return disk;
    }

    /** The MayastorPool manifest for pool-ID on node ID's disk file (made, 256 MiB, if it is not there). */
    String poolManifest(String id) throws IOException {
        Path disk = work.resolve("disk-" + id + ".img");
        if (!Files.exists(disk)) {
            disk(id, 256L << 20);
        }
        return "apiVersion: openebs.io/v1alpha1\nkind: MayastorPool\nmetadata:\n  name: pool-" + id
                + "\nspec:\n  node: " + id + "\n  disks: [\"" + disk + "\"]\n";
    }

    ManagedChannel channel(String endpoint) {
        return channels.computeIfAbsent(endpoint, e -> {
            int colon = e.lastIndexOf(':');
            return NettyChannelBuilder.forAddress(e.substring(0, colon), Integer.parseInt(e.substring(colon + 1)))
                    .usePlaintext().build();
        });
    }

    ResourceRpcGrpc.ResourceRpcBlockingStub resources() {
        return ResourceRpcGrpc.newBlockingStub(channel(control)).withWaitForReady().withDeadlineAfter(60, TimeUnit.SECONDS);
    }

    VolumeRpcGrpc.VolumeRpcBlockingStub volumes() {
        return VolumeRpcGrpc.newBlockingStub(channel(control)).withWaitForReady().withDeadlineAfter(60, TimeUnit.SECONDS);
    }

    ReplicaRpcGrpc.ReplicaRpcBlockingStub replicas(String node) {
        return ReplicaRpcGrpc.newBlockingStub(channel(endpoints.get(node))).withDeadlineAfter(30, TimeUnit.SECONDS);
    }

    PoolRpcGrpc.PoolRpcBlockingStub pools(String node) {
        return PoolRpcGrpc.newBlockingStub(channel(endpoints.get(node))).withDeadlineAfter(30, TimeUnit.SECONDS);
    }

    NexusRpcGrpc.NexusRpcBlockingStub nexuses(String node) {
        return NexusRpcGrpc.newBlockingStub(channel(endpoints.get(node))).withDeadlineAfter(30, TimeUnit.SECONDS);
    }

    /** What every node holds, "node: replica NAME" / "node: nexus UUID" / "node: pool NAME", sorted. */
    List<String> onNodes(boolean withPools) {
        List<String> held = new ArrayList<>();
        for (String node : endpoints.keySet()) {
            replicas(node).listReplicas(ListReplicaOptions.getDefaultInstance()).getReplicasList()
                    .forEach(r -> held.add(node + ": replica " + r.getName()));
            nexuses(node).listNexus(ListNexusOptions.getDefaultInstance()).getNexusListList()
                    .forEach(n -> held.add(node + ": nexus " + n.getUuid()));
            if (withPools) {
                pools(node).listPools(ListPoolOptions.getDefaultInstance()).getPoolsList()
                        .forEach(p -> held.add(node + ": pool " + p.getName()));
            }
        }
        held.sort(null);
        return held;
    }

    /** {@code ctl get KIND}'s table, once it satisfies the condition. */
    String awaitTable(String kind, Predicate<String> condition, int seconds, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (true) {
            String table = resources().get(GetRequest.newBuilder().setKind(kind).build()).getText();
            if (condition.test(table)) {
                return table;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what + ":\n" + table + nodeTails());
            }
            Thread.sleep(100);
        }
    }

    /** The end of each node's output, and whether it still runs: what a timed-out wait is explained by. */
    String nodeTails() {
        StringBuilder b = new StringBuilder();
        if (controlProcess != null) {
            List<String> out = controlProcess.output().lines().toList();
            b.append("\n--- control plane").append(controlProcess.process.isAlive() ? " (running)" : " (ended)")
                    .append(", last lines of its output:\n")
                    .append(String.join("\n", out.subList(Math.max(0, out.size() - 60), out.size())));
        }
        nodes.forEach((id, p) -> {
            List<String> out = p.output().lines().toList();
            b.append("\n--- node ").append(id).append(p.process.isAlive() ? " (running)" : " (ended, " + p.process.exitValue() + ")")
                    .append(", last lines of its output:\n")
                    .append(String.join("\n", out.subList(Math.max(0, out.size() - 40), out.size())));
        });
        return b.toString();
    }

    static long countLines(String table, String containing) {
        return table.lines().filter(l -> l.contains(containing)).count();
    }

    Volume awaitVolume(String name, Predicate<Volume> condition, int seconds, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (true) {
            List<Volume> found = volumes().listVolumes(ListVolumesRequest.newBuilder().setName(name).build()).getVolumesList();
            Volume v = found.isEmpty() ? null : found.get(0);
            if (v != null && condition.test(v)) {
                return v;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what + ": " + v);
            }
            Thread.sleep(100);
        }
    }

    @Override
    public void close() throws Exception {
        channels.values().forEach(ManagedChannel::shutdownNow);
        for (Mayastor.NodeProcess p : nodes.values()) {
            signal(p, "CONT"); // a frozen process would not end
            p.close();
        }
        if (controlProcess != null) {
            controlProcess.close();
        }
    }
}
