package io.mayastorj.itests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.mayastorj.api.v1.ApplyRequest;
import io.mayastorj.api.v1.CreateVolumeRequest;
import io.mayastorj.api.v1.DestroyVolumeRequest;
import io.mayastorj.api.v1.ListNexusOptions;
import io.mayastorj.api.v1.ListReplicaOptions;
import io.mayastorj.api.v1.ListVolumesRequest;
import io.mayastorj.api.v1.Nexus;
import io.mayastorj.api.v1.PublishVolumeRequest;
import io.mayastorj.api.v1.Replica;
import io.mayastorj.api.v1.UnpublishVolumeRequest;
import io.mayastorj.api.v1.Volume;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The control plane killed with SIGKILL at random moments while volumes are created, published,
 * unpublished and destroyed through its API, and started again each time (seeded: {@code
 * -Dcrash.seed=N}, {@code -Dcrash.cycles=N}). What the API acknowledged before a kill holds
 * afterwards; a call cut short by the kill may or may not have happened. In the end every volume
 * converges to its spec with exactly replicaCount replicas on distinct nodes and its nexus only
 * where it is published, and no node holds a replica or nexus that no volume owns.
 */
class ControlCrashTest {

    private static final int NAMES = 8;
    private static final long SIZE = 16L << 20;
    private static final Set<Status.Code> CUT_SHORT = Set.of(Status.Code.UNAVAILABLE, Status.Code.DEADLINE_EXCEEDED,
            Status.Code.CANCELLED, Status.Code.UNKNOWN, Status.Code.INTERNAL);

    private ControlCluster cluster;
    private final ExecutorService callers = Executors.newFixedThreadPool(3);

    /** What the API acknowledged about a volume; null where a call was cut short. */
    private static final class Expected {
        Boolean exists = false;
        Boolean published = false;
    }

    private static void log(String what) {
        System.out.println("ControlCrashTest: " + what);
    }

    @AfterEach
    void stop() throws Exception {
        callers.shutdownNow();
        if (cluster != null) {
            cluster.close();
        }
    }

    /** One call to the API, and what its outcome says about the volume. */
    private record Op(String name, String what, Supplier<Volume> call) {
    }

    private Op randomOp(Random random, String name, List<String> nodes) {
        int dice = random.nextInt(100);
        var volumes = cluster.volumes().withDeadlineAfter(20, TimeUnit.SECONDS);
        if (dice < 40) {
            int replicas = 1 + random.nextInt(3);
            return new Op(name, "create", () -> volumes.createVolume(CreateVolumeRequest.newBuilder().setName(name)
                    .setSize(SIZE).setReplicaCount(replicas).setProtocol("nvmf").setThin(true).build()));
        } else if (dice < 65) {
            String node = nodes.get(random.nextInt(nodes.size()));
            return new Op(name, "publish", () -> volumes.publishVolume(PublishVolumeRequest.newBuilder().setName(name)
                    .setNode(node).build()));
        } else if (dice < 80) {
            return new Op(name, "unpublish", () -> volumes.unpublishVolume(UnpublishVolumeRequest.newBuilder()
                    .setName(name).build()));
        }
        return new Op(name, "destroy", () -> volumes.destroyVolume(DestroyVolumeRequest.newBuilder().setName(name).build()));
    }

    /** Applies a finished call's outcome to what is expected of its volume. */
    private static String settle(Op op, Future<Volume> result, Expected e) throws InterruptedException {
        try {
            Volume v = result.get(30, TimeUnit.SECONDS);
            if (op.what().equals("destroy")) {
                e.exists = false;
                e.published = false;
            } else {
                e.exists = true;
                e.published = !v.getTargetNode().isEmpty();
            }
            return "ok";
        } catch (java.util.concurrent.ExecutionException x) {
            if (!(x.getCause() instanceof StatusRuntimeException s)) {
                throw new AssertionError(op + " failed", x.getCause());
            }
            Status.Code code = s.getStatus().getCode();
            if (CUT_SHORT.contains(code)) {
                e.exists = null; // it may have happened
                e.published = null;
            } else if (code == Status.Code.NOT_FOUND) {
                e.exists = false;
                e.published = false;
            } else if (code != Status.Code.FAILED_PRECONDITION && code != Status.Code.ALREADY_EXISTS && code != Status.Code.ABORTED) {
                // (ABORTED: a create of a name still being deleted, or a change that lost to others: nothing done)
                throw new AssertionError(op.what() + " " + op.name() + ": " + s.getStatus(), s);
            }
            return code.name();
        } catch (java.util.concurrent.TimeoutException x) {
            throw new AssertionError(op.what() + " " + op.name() + " never returned");
        }
    }

    @Test
    void aControlPlaneKilledAtRandomMomentsConvergesWithNothingLostOrLeaked() throws Exception {
        long seed = Long.getLong("crash.seed", 20261202L);
        int cycles = Integer.getInteger("crash.cycles", 24);
        Random random = new Random(seed);
        log("seed " + seed + ", " + cycles + " cycles");

        cluster = new ControlCluster("mayastor-crash");
        // a crash's leftovers go at the next sweep here (kept an hour by default): nothing may be left when it converges
        cluster.startControl("--registration-interval-seconds", "1", "--sync-period-seconds", "1", "--orphan-grace-seconds", "0");
        List<String> nodes = List.of("c1", "c2", "c3", "c4");
        StringBuilder pools = new StringBuilder();
        for (int i = 0; i < nodes.size(); i++) {
            cluster.node(nodes.get(i), "127.0.0.4" + (i + 1));
            pools.append(cluster.poolManifest(nodes.get(i))).append("---\n");
        }
        cluster.resources().apply(ApplyRequest.newBuilder().setManifest(pools.toString()).build());
        cluster.awaitTable("msp", t -> ControlCluster.countLines(t, " online ") == 4, 30, "four pools online");

        Map<String, Expected> expected = new TreeMap<>();
        for (int i = 0; i < NAMES; i++) {
            expected.put("v" + i, new Expected());
        }
        List<String> names = new ArrayList<>(expected.keySet());
        for (int cycle = 1; cycle <= cycles; cycle++) {
            Collections.shuffle(names, random);
            List<Op> ops = new ArrayList<>();
            List<Future<Volume>> results = new ArrayList<>();
            int count = 1 + random.nextInt(3);
            for (int k = 0; k < count; k++) { // distinct volumes: each outcome is its volume's last word
                Op op = randomOp(random, names.get(k), nodes);
                ops.add(op);
                results.add(callers.submit(op.call()::get));
            }
            long killAfter = random.nextInt(1500);
            Thread.sleep(killAfter);
            cluster.killControl();
            List<String> outcomes = new ArrayList<>();
            for (int k = 0; k < ops.size(); k++) {
                outcomes.add(ops.get(k).what() + " " + ops.get(k).name() + ": "
                        + settle(ops.get(k), results.get(k), expected.get(ops.get(k).name())));
            }
            log("cycle " + cycle + ": killed after " + killAfter + " ms; " + String.join(", ", outcomes));
            cluster.restartControl();
        }

        // converged: every volume as its spec says, nothing on the nodes that no volume owns
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        String problems;
        while (true) {
            problems = problems(expected);
            if (problems.isEmpty() || System.nanoTime() > deadline) {
                break;
            }
            Thread.sleep(500);
        }
        List<Volume> volumes = cluster.volumes().listVolumes(ListVolumesRequest.getDefaultInstance()).getVolumesList();
        for (Volume v : volumes) {
            log(v.getName() + ": " + v.getState() + ", " + v.getReplicasCount() + "/" + v.getReplicaCount() + " replicas"
                    + (v.getTargetNode().isEmpty() ? "" : ", published on " + v.getTargetNode()));
        }
        log("on the nodes: " + cluster.onNodes(false));
        assertEquals("", problems);
        assertTrue(cluster.onNodes(false).size() >= volumes.size(), "every volume has replicas");
    }

    /** Everything that differs from the converged state; empty when there is nothing. */
    private String problems(Map<String, Expected> expected) {
        List<String> problems = new ArrayList<>();
        Map<String, Volume> byUuid = new HashMap<>();
        Map<String, Volume> byName = new HashMap<>();
        for (Volume v : cluster.volumes().listVolumes(ListVolumesRequest.getDefaultInstance()).getVolumesList()) {
            byUuid.put(v.getUuid(), v);
            byName.put(v.getName(), v);
            if (!v.getState().equals("healthy")) {
                problems.add(v.getName() + " is " + v.getState() + " (" + v.getReason() + ")");
            }
        }
        expected.forEach((name, e) -> {
            Volume v = byName.get(name);
            if (e.exists != null && e.exists != (v != null)) {
                problems.add(name + (e.exists ? " was acknowledged but is lost" : " was destroyed but is still there"));
            }
            if (v != null && e.published != null && e.published == v.getTargetNode().isEmpty()) {
                problems.add(name + (e.published ? " was published but is not" : " was unpublished but is published"));
            }
        });
        Map<String, Set<String>> replicaNodes = new TreeMap<>();
        Map<String, List<String>> nexusNodes = new TreeMap<>();
        for (String node : cluster.endpoints.keySet()) {
            for (Replica r : cluster.replicas(node).listReplicas(ListReplicaOptions.getDefaultInstance()).getReplicasList()) {
                String uuid = r.getName().startsWith("vol-") ? r.getName().substring(4) : "";
                if (!byUuid.containsKey(uuid)) {
                    problems.add(node + " holds replica " + r.getName() + " that no volume owns");
                } else if (!replicaNodes.computeIfAbsent(uuid, k -> new TreeSet<>()).add(node)) {
                    problems.add(node + " holds two replicas of " + byUuid.get(uuid).getName());
                }
            }
            for (Nexus n : cluster.nexuses(node).listNexus(ListNexusOptions.getDefaultInstance()).getNexusListList()) {
                if (!byUuid.containsKey(n.getUuid())) {
                    problems.add(node + " holds nexus " + n.getUuid() + " that no volume owns");
                } else {
                    nexusNodes.computeIfAbsent(n.getUuid(), k -> new ArrayList<>()).add(node);
                }
            }
        }
        for (Volume v : byUuid.values()) {
            int replicas = replicaNodes.getOrDefault(v.getUuid(), Set.of()).size();
            if (replicas != v.getReplicaCount()) {
                problems.add(v.getName() + " has " + replicas + " replicas on the nodes, its spec says " + v.getReplicaCount());
            }
            List<String> nexus = nexusNodes.getOrDefault(v.getUuid(), List.of());
            List<String> want = v.getTargetNode().isEmpty() ? List.of() : List.of(v.getTargetNode());
            if (!nexus.equals(want)) {
                problems.add(v.getName() + " has a nexus on " + nexus + ", wanted on " + want);
            }
        }
        Collections.sort(problems);
        return String.join("\n", problems);
    }
}
