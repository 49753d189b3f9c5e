package io.mayastorj.cli;

import io.mayastorj.api.v1.GetRequest;
import io.mayastorj.api.v1.ListReplicaOptions;
import io.mayastorj.api.v1.ListVolumesRequest;
import io.mayastorj.api.v1.Volume;
import io.mayastorj.api.v1.VolumeReplica;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * The demo's last act: the control plane. {@code mayastor control} and four nodes on 127.0.0.1–.4
 * that register with it; a MayastorPool manifest per node applied; a 3-replica volume created and
 * published through the control plane and put under a verifying load; one of its replicas' nodes
 * killed: the volume goes degraded, and after the repair grace period (5 s here, 5 min by default)
 * the control plane makes a new replica on the fourth node, rebuilt under the load, and the volume
 * is healthy again; the killed node returns and its stale replica is destroyed.
 */
final class ControlPlaneAct {

    private static final String VOLUME = "db";

    private final Demo demo;
    private final PrintStream out;
    private final Path work;
    private final Map<String, String> endpoints = new LinkedHashMap<>();
    private final Map<String, Process> nodes = new LinkedHashMap<>();
    private final Map<String, int[]> ports = new LinkedHashMap<>();
    private String control;

    ControlPlaneAct(Demo demo, PrintStream out, Path work) {
        this.demo = demo;
        this.out = out;
        this.work = work;
    }

    int run() throws IOException, InterruptedException {
        out.println();
        out.println("== the control plane: `mayastor control` and four nodes on 127.0.0.1-.4 that register with it");
        control = "127.0.0.1:" + Demo.freePortOn("127.0.0.1", 50051);
        Process plane = demo.startProcess("control", List.of(Main.home().resolve("bin/mayastor").toString(), "control",
                        "--grpc-endpoint", control, "--state-dir", work.resolve("control").toString(),
                        "--registration-interval-seconds", "1", "--sync-period-seconds", "2", "--repair-grace-seconds", "5"),
                line -> line.startsWith("mayastor control plane") && line.contains(" ready: "));
        try (NodeClient api = new NodeClient(control, 60)) {
            for (int i = 1; i <= 4; i++) {
                String id = "node-" + i;
                String address = "127.0.0." + i;
                endpoints.put(id, address + ":" + Demo.freePortOn(address, 10130));
                ports.put(id, new int[] {Demo.freePortOn(address, 8430), Demo.freePortOn(address, 3270)});
                start(id);
            }
            return act(api);
        } finally {
            for (Map.Entry<String, Process> n : nodes.entrySet()) {
                out.println();
                out.println("== stopping " + n.getKey());
                Demo.stop(n.getValue());
            }
            out.println();
            out.println("== stopping the control plane");
            Demo.stop(plane);
        }
    }

    private void start(String id) throws IOException, InterruptedException {
        out.println();
        out.println("== starting " + id + " on " + endpoints.get(id));
        nodes.put(id, demo.startNode(work, id, endpoints.get(id), ports.get(id)[0], ports.get(id)[1],
                "--control-endpoint", control, "--registration-interval-seconds", "1"));
    }

    private int act(NodeClient api) throws IOException, InterruptedException {
        StringBuilder manifest = new StringBuilder();
        for (String id : endpoints.keySet()) {
            Path disk = work.resolve("cp-" + id + ".img");
            Demo.sized(disk, 256L << 20);
            manifest.append("apiVersion: openebs.io/v1alpha1\nkind: MayastorPool\nmetadata:\n  name: pool-").append(id)
                    .append("\nspec:\n  node: ").append(id).append("\n  disks: [\"").append(disk).append("\"]\n---\n");
        }
        Path pools = work.resolve("pools.yaml");
        Files.writeString(pools, manifest);
        out.println();
        out.println("$ cat " + pools);
        manifest.toString().lines().forEach(l -> out.println("   " + l));
        if (demo.ctlControl(null, control, "apply", "-f", pools.toString()) != 0) {
            return 1;
        }
        awaitText(api, "msp", t -> t.lines().filter(l -> l.contains(" online ")).count() == 4, "four pools online");
        if (demo.ctlControl(null, control, "get", "msn") != 0 || demo.ctlControl(null, control, "get", "msp", "-o", "wide") != 0
                || demo.ctlControl(null, control, "volume", "create", VOLUME, "--size", "64MiB", "--replicas", "3",
                "--protocol", "nvmf", "--thin") != 0) {
            return 1;
        }
        Volume v = awaitVolume(api, x -> x.getState().equals("healthy"), "the volume healthy");
        Set<String> placed = nodesOf(v);
        String target = placed.iterator().next();
        StringBuilder uri = new StringBuilder();
        if (demo.ctlControl(uri, control, "volume", "publish", VOLUME, "--node", target) != 0
                || demo.ctlControl(null, control, "volume", "get", VOLUME) != 0) {
            return 1;
        }
        out.println();
        try (DemoLoad load = new DemoLoad(out, uri.toString().strip(), target)) {
            load.progress(2);
            String victim = placed.stream().filter(n -> !n.equals(target)).findFirst().orElseThrow();
            String spare = endpoints.keySet().stream().filter(n -> !placed.contains(n)).findFirst().orElseThrow();
            out.println();
            out.println("== kill -9 " + victim + ", which holds one of the volume's replicas");
            Process dying = nodes.remove(victim);
            dying.toHandle().destroyForcibly();
            dying.waitFor(30, TimeUnit.SECONDS);
            awaitVolume(api, x -> x.getState().equals("degraded"), "the volume degraded", load);
            if (demo.ctlControl(null, control, "volume", "get", VOLUME) != 0) {
                return 1;
            }
            out.println();
            out.println("== after the repair grace period (5 s here) the control plane makes a replica on " + spare
                    + " and the nexus rebuilds it under the load");
            v = awaitVolume(api, x -> x.getState().equals("healthy") && nodesOf(x).contains(spare), "the volume healthy on "
                    + spare, load);
            if (demo.ctlControl(null, control, "volume", "get", VOLUME) != 0 || demo.ctlControl(null, control, "get", "msv") != 0) {
                return 1;
            }
            int verdict = load.finish();
            if (verdict != 0) {
                return verdict;
            }

            out.println();
            out.println("== " + victim + " comes back: its replica was replaced, so the control plane destroys it");
            start(victim);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            try (NodeClient node = new NodeClient(endpoints.get(victim), 30)) {
                while (node.replica().listReplicas(ListReplicaOptions.getDefaultInstance()).getReplicasCount() > 0) {
                    if (System.nanoTime() > deadline) {
                        out.println("error: the stale replica on " + victim + " is still there after 30 s");
                        return 1;
                    }
                    Thread.sleep(200);
                }
            }
            if (demo.ctl(endpoints.get(victim), "replica", "list") != 0) {
                return 1;
            }
        }
        // a volume published to a node is not destroyed under its host: unpublished first, as the CO does
        if (demo.ctlControl(null, control, "volume", "unpublish", VOLUME) != 0) {
            return 1;
        }
        return demo.ctlControl(null, control, "volume", "destroy", VOLUME);
    }

    private static Set<String> nodesOf(Volume v) {
        Set<String> nodes = new TreeSet<>();
        for (VolumeReplica r : v.getReplicasList()) {
            if (!r.getOffline()) {
                nodes.add(r.getNode());
            }
        }
        return nodes;
    }

    private void awaitText(NodeClient api, String kind, Predicate<String> condition, String what)
            throws InterruptedException, IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!condition.test(api.resource().get(GetRequest.newBuilder().setKind(kind).build()).getText())) {
            if (System.nanoTime() > deadline) {
                throw new IOException("timed out waiting for " + what);
            }
            Thread.sleep(200);
        }
    }

    private Volume awaitVolume(NodeClient api, Predicate<Volume> condition, String what) throws InterruptedException, IOException {
        return awaitVolume(api, condition, what, null);
    }

    /** Waits for the volume to be as wanted; with a load, a progress line a second, with the volume's state. */
    private Volume awaitVolume(NodeClient api, Predicate<Volume> condition, String what, DemoLoad load)
            throws InterruptedException, IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        long nextLine = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
        while (true) {
            Volume v = api.volume().listVolumes(ListVolumesRequest.newBuilder().setName(VOLUME).build()).getVolumes(0);
            if (condition.test(v)) {
                return v;
            }
            if (System.nanoTime() > deadline) {
                throw new IOException("timed out waiting for " + what + ": " + v.getState() + " " + v.getReason());
            }
            if (load != null && System.nanoTime() > nextLine) {
                nextLine += TimeUnit.SECONDS.toNanos(1);
                List<String> nodes = new ArrayList<>(nodesOf(v));
                out.println("   volume " + v.getState() + " on " + nodes + (v.getReason().isEmpty() ? "" : " (" + v.getReason() + ")"));
                load.line();
            }
            Thread.sleep(100);
        }
    }
}
