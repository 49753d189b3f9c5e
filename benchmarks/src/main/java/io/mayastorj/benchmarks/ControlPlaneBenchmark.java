package io.mayastorj.benchmarks;

import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.mayastorj.api.v1.CreateReplicaRequest;
import io.mayastorj.api.v1.CreateVolumeRequest;
import io.mayastorj.api.v1.DestroyReplicaRequest;
import io.mayastorj.api.v1.DestroyVolumeRequest;
import io.mayastorj.api.v1.ListPoolOptions;
import io.mayastorj.api.v1.ListReplicaOptions;
import io.mayastorj.api.v1.ListVolumesRequest;
import io.mayastorj.api.v1.PoolRpcGrpc;
import io.mayastorj.api.v1.ReplicaRpcGrpc;
import io.mayastorj.api.v1.Volume;
import io.mayastorj.api.v1.VolumeRpcGrpc;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * The control plane's speed at making volumes, against a baseline in the same run: the same
 * replicas made by calling the nodes directly, as the volume operator does, with no control plane.
 * Measures, over N volumes (3 thin replicas of 16 MiB each):
 * <ul>
 *   <li>latency: one at a time, from CreateVolume sent to the volume seen healthy (p50, p99);</li>
 *   <li>throughput: N created by T callers at once, volumes per second until all are healthy;</li>
 * </ul>
 * and finally leaves {@code --fill} volumes in place for the caller to measure the control plane's
 * CPU while idle ({@code benchmarks/control-plane.sh} does).
 * <pre>
 * java -cp benchmarks/target/benchmarks.jar io.mayastorj.benchmarks.ControlPlaneBenchmark \
 *     --control 127.0.0.50:50051 --nodes n1=127.0.0.51:10124,n2=... [--volumes 50] [--threads 8] [--fill 100]
 * </pre>
 */
public final class ControlPlaneBenchmark {

    private static final long SIZE = 16L << 20;
    private static final int REPLICAS = 3;

    private final VolumeRpcGrpc.VolumeRpcBlockingStub volumes;
    private final Map<String, ReplicaRpcGrpc.ReplicaRpcBlockingStub> nodes = new LinkedHashMap<>();
    private final Map<String, ReplicaRpcGrpc.ReplicaRpcFutureStub> async = new LinkedHashMap<>();
    private final Map<String, String> pools = new LinkedHashMap<>();

    private ControlPlaneBenchmark(ManagedChannel control, Map<String, ManagedChannel> nodeChannels) {
        this.volumes = VolumeRpcGrpc.newBlockingStub(control);
        nodeChannels.forEach((id, c) -> {
            nodes.put(id, ReplicaRpcGrpc.newBlockingStub(c));
            async.put(id, ReplicaRpcGrpc.newFutureStub(c));
            pools.put(id, PoolRpcGrpc.newBlockingStub(c).listPools(ListPoolOptions.getDefaultInstance()).getPools(0).getName());
        });
    }

    private static ManagedChannel channel(String endpoint) {
        int colon = endpoint.lastIndexOf(':');
        return NettyChannelBuilder.forAddress(endpoint.substring(0, colon), Integer.parseInt(endpoint.substring(colon + 1)))
                .usePlaintext().build();
    }

    /** One volume through the control plane: CreateVolume, then polled until healthy. */
    private long viaControlPlane(String name) throws InterruptedException {
        long start = System.nanoTime();
        Volume v = volumes.withDeadlineAfter(60, TimeUnit.SECONDS).createVolume(CreateVolumeRequest.newBuilder()
                .setName(name).setSize(SIZE).setReplicaCount(REPLICAS).setProtocol("nvmf").setThin(true).build());
        while (!v.getState().equals("healthy")) {
            if (System.nanoTime() - start > TimeUnit.SECONDS.toNanos(60)) {
                throw new IllegalStateException("volume " + name + " not healthy after 60 s: " + v);
            }
            Thread.sleep(1);
            v = volumes.listVolumes(ListVolumesRequest.newBuilder().setName(name).build()).getVolumes(0);
        }
        return System.nanoTime() - start;
    }

    /** The baseline: the same three replicas made by calling three nodes at once, as the operator does. */
    private long direct(int index, List<String> made) throws Exception {
        long start = System.nanoTime();
        List<String> ids = new ArrayList<>(nodes.keySet());
        List<Future<?>> calls = new ArrayList<>();
        for (int r = 0; r < REPLICAS; r++) {
            String node = ids.get((index + r) % ids.size());
            String uuid = UUID.randomUUID().toString();
            calls.add(async.get(node).withDeadlineAfter(60, TimeUnit.SECONDS).createReplica(CreateReplicaRequest.newBuilder()
                    .setPool(pools.get(node)).setUuid(uuid).setName("bench-" + index).setSize(SIZE).setThin(true).build()));
            synchronized (made) {
                made.add(node + "/" + uuid);
            }
        }
        for (Future<?> call : calls) {
            call.get();
        }
        return System.nanoTime() - start;
    }

    private void destroyDirect(List<String> made) {
        for (String m : made) {
            String node = m.substring(0, m.indexOf('/'));
            nodes.get(node).destroyReplica(DestroyReplicaRequest.newBuilder().setUuid(m.substring(m.indexOf('/') + 1)).build());
        }
        made.clear();
    }

    private void destroyVolumes() throws InterruptedException {
        for (Volume v : volumes.listVolumes(ListVolumesRequest.getDefaultInstance()).getVolumesList()) {
            volumes.destroyVolume(DestroyVolumeRequest.newBuilder().setName(v.getName()).build());
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (System.nanoTime() < deadline) {
            int left = volumes.listVolumes(ListVolumesRequest.getDefaultInstance()).getVolumesCount();
            for (var n : nodes.values()) {
                left += n.listReplicas(ListReplicaOptions.getDefaultInstance()).getReplicasCount();
            }
            if (left == 0) {
                return;
            }
            Thread.sleep(50);
        }
        throw new IllegalStateException("volumes still there 120 s after they were destroyed");
    }

    private static double ms(long nanos) {
        return nanos / 1e6;
    }

    private static long percentile(long[] sorted, double p) {
        return sorted[Math.min(sorted.length - 1, (int) Math.ceil(p / 100 * sorted.length) - 1)];
    }

    private interface Timed {
        long run(int i) throws Exception;
    }

    private static long[] oneAtATime(int n, Timed t) throws Exception {
        long[] times = new long[n];
        for (int i = 0; i < n; i++) {
            times[i] = t.run(i);
        }
        Arrays.sort(times);
        return times;
    }

    /** Seconds for n operations run by {@code threads} callers at once. */
    private static double atOnce(int n, int threads, Timed t) throws Exception {
        ExecutorService callers = Executors.newFixedThreadPool(threads);
        try {
            long start = System.nanoTime();
            List<Future<Long>> all = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                int index = i;
                all.add(callers.submit(() -> t.run(index)));
            }
            for (Future<Long> f : all) {
                f.get();
            }
            return (System.nanoTime() - start) / 1e9;
        } finally {
            callers.shutdownNow();
        }
    }

    public static void main(String[] args) throws Exception {
        String control = null;
        Map<String, ManagedChannel> nodeChannels = new LinkedHashMap<>();
        int count = 50;
        int threads = 8;
        int fill = 100;
        for (int i = 0; i < args.length; i += 2) {
            switch (args[i]) {
                case "--control" -> control = args[i + 1];
                case "--nodes" -> {
                    for (String n : args[i + 1].split(",")) {
                        nodeChannels.put(n.substring(0, n.indexOf('=')), channel(n.substring(n.indexOf('=') + 1)));
                    }
                }
                case "--volumes" -> count = Integer.parseInt(args[i + 1]);
                case "--threads" -> threads = Integer.parseInt(args[i + 1]);
                case "--fill" -> fill = Integer.parseInt(args[i + 1]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]
                        + "; usage: --control HOST:PORT --nodes ID=HOST:PORT,... [--volumes N] [--threads T] [--fill N]");
            }
        }
        if (control == null || nodeChannels.size() < REPLICAS) {
            throw new IllegalArgumentException("--control and at least " + REPLICAS + " --nodes are needed");
        }
        ControlPlaneBenchmark b = new ControlPlaneBenchmark(channel(control), nodeChannels);
        List<String> made = new ArrayList<>();
        int n = count;

        // warm both paths up (JIT, connections), then measure
        oneAtATime(5, i -> b.direct(i, made));
        b.destroyDirect(made);
        oneAtATime(5, i -> b.viaControlPlane("warm-" + i));
        b.destroyVolumes();

        long[] direct = oneAtATime(n, i -> b.direct(i, made));
        b.destroyDirect(made);
        long[] cp = oneAtATime(n, i -> b.viaControlPlane("lat-" + i));
        b.destroyVolumes();
        System.out.printf("created -> healthy, one at a time, %d volumes of %d thin replicas: control plane p50 %.1f ms, "
                        + "p99 %.1f ms; direct to the nodes p50 %.1f ms, p99 %.1f ms; ratio p50 %.2f, p99 %.2f%n",
                n, REPLICAS, ms(percentile(cp, 50)), ms(percentile(cp, 99)), ms(percentile(direct, 50)),
                ms(percentile(direct, 99)), (double) percentile(cp, 50) / percentile(direct, 50),
                (double) percentile(cp, 99) / percentile(direct, 99));

        int t = threads;
        double directSeconds = atOnce(n, t, i -> b.direct(i, made));
        b.destroyDirect(made);
        double cpSeconds = atOnce(n, t, i -> b.viaControlPlane("tput-" + i));
        b.destroyVolumes();
        System.out.printf("%d volumes by %d callers at once: control plane %.1f volumes/s (%.2f s); direct to the nodes "
                + "%.1f volumes/s (%.2f s); ratio %.2f%n", n, t, n / cpSeconds, cpSeconds, n / directSeconds, directSeconds,
                directSeconds / cpSeconds);

        atOnce(fill, t, i -> b.viaControlPlane("idle-" + i));
        System.out.printf("%d volumes in place%n", fill);
        System.exit(0);
    }
}
