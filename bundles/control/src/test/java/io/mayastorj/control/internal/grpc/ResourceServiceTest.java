package io.mayastorj.control.internal.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.grpc.stub.StreamObserver;
import io.mayastorj.api.v1.ApplyRequest;
import io.mayastorj.api.v1.ApplyResponse;
import io.mayastorj.control.internal.model.MayastorVolume;
import io.mayastorj.control.internal.store.FileStore;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code mayastor apply} on the real file store: what a manifest changes, and what it leaves to the control plane. */
class ResourceServiceTest {

    @TempDir
    Path dir;

    private FileStore store;
    private ResourceService service;

    @BeforeEach
    void open() {
        store = new FileStore(dir);
        service = new ResourceService(store);
    }

    @AfterEach
    void close() {
        store.close();
    }

    private static String volume(String labels, String extra) {
        return """
                apiVersion: openebs.io/v1alpha1
                kind: MayastorVolume
                metadata:
                  name: v1
                  labels: {%s}
                spec:
                  replicaCount: 2
                  requiredBytes: 67108864
                  protocol: nvmf
                %s""".formatted(labels, extra);
    }

    private List<String> apply(String manifest) {
        List<String> results = new ArrayList<>();
        service.apply(ApplyRequest.newBuilder().setManifest(manifest).build(), new StreamObserver<>() {
            @Override
            public void onNext(ApplyResponse value) {
                results.addAll(value.getResultsList());
            }

            @Override
            public void onError(Throwable t) {
                throw new AssertionError(t);
            }

            @Override
            public void onCompleted() {
            }
        });
        return results;
    }

    /**
     * Review finding: a MayastorVolume applied with an empty spec was stored so, and every listing of
     * volumes (ListVolumes, the shell's table) failed on it with INTERNAL. It is refused; one made
     * otherwise (kubectl) is listed with what it has.
     */
    @Test
    void aResourceWithNoSpecIsRefusedAndOneStoredSoIsStillListed() {
        io.mayastorj.core.error.MayastorException e = org.junit.jupiter.api.Assertions.assertThrows(
                io.mayastorj.core.error.MayastorException.class, () -> apply("""
                        apiVersion: openebs.io/v1alpha1
                        kind: MayastorVolume
                        metadata:
                          name: v2
                        spec:
                        """));
        assertEquals(io.mayastorj.core.error.ErrorKind.INVALID_ARGUMENT, e.kind());
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().endsWith("v2 has no spec"), e.getMessage());
        assertEquals(java.util.Optional.empty(), store.get(MayastorVolume.class, "v2"));

        MayastorVolume bare = new MayastorVolume();
        bare.getMetadata().setName("v3");
        bare.setSpec(null);
        assertEquals("v3", VolumeService.toProto(bare).getName());
    }

    private void publishedBy(String target, String app) {
        store.change(MayastorVolume.class, "v1", v -> {
            v.getSpec().setTargetNode(target);
            v.getSpec().setAppNode(app);
            return true;
        });
    }

    private MayastorVolume.Spec spec() {
        return store.get(MayastorVolume.class, "v1").orElseThrow().getSpec();
    }

    @Test
    void reapplyingAVolumeKeepsWhereTheControlPlanePublishedIt() {
        assertEquals(List.of("mayastorvolume.openebs.io/v1 created"), apply(volume("", "")));
        publishedBy("s1", "app1");

        assertEquals(List.of("mayastorvolume.openebs.io/v1 unchanged"), apply(volume("", "")), "the same manifest changes nothing");
        assertEquals(List.of("mayastorvolume.openebs.io/v1 configured"), apply(volume("team: a", "  replicaCount: 3\n")
                .replace("  replicaCount: 2\n", "")));
        assertEquals(3, spec().getReplicaCount());
        assertEquals("s1", spec().getTargetNode(), "still published: the nexus stays up");
        assertEquals("app1", spec().getAppNode());
    }

    @Test
    void aManifestThatNamesTheTargetNodeIsObeyed() {
        apply(volume("", ""));
        publishedBy("s1", "app1");
        assertEquals(List.of("mayastorvolume.openebs.io/v1 configured"), apply(volume("", "  targetNode: s2\n")));
        assertEquals("s2", spec().getTargetNode());
        assertNull(spec().getAppNode(), "a manifest that places the nexus says which application node, if any");
    }

    /**
     * Review finding: a manifest saved with `get -o yaml` while the volume was published to one node,
     * edited and applied after it moved, put the old nodes back and took the nexus from the running
     * application. Its generation says its spec is stale: refused. A status write since (its
     * resourceVersion changed, its generation did not) refuses nothing.
     */
    @Test
    void aManifestReadBeforeTheLastSpecChangeIsRefused() {
        apply(volume("", ""));
        long read = store.get(MayastorVolume.class, "v1").orElseThrow().getMetadata().getGeneration();
        String saved = volume("", "  targetNode: s2\n").replace("  labels: {}\n", "  labels: {}\n  generation: " + read + "\n");
        MayastorVolume v = store.get(MayastorVolume.class, "v1").orElseThrow();
        MayastorVolume.Status status = new MayastorVolume.Status();
        status.setState(MayastorVolume.HEALTHY);
        v.setStatus(status);
        store.updateStatus(v);
        publishedBy("s1", "app1");
        long now = store.get(MayastorVolume.class, "v1").orElseThrow().getMetadata().getGeneration();
        io.mayastorj.core.error.MayastorException e = org.junit.jupiter.api.Assertions.assertThrows(
                io.mayastorj.core.error.MayastorException.class, () -> apply(saved));
        assertEquals(io.mayastorj.core.error.ErrorKind.ABORTED, e.kind());
        assertEquals("mayastorvolume.openebs.io/v1 was changed since this manifest was read (generation " + read
                + ", now " + now + "): get it again, or leave metadata.generation out", e.getMessage());
        assertEquals("s1", spec().getTargetNode());
        MayastorVolume.Status later = new MayastorVolume.Status();
        later.setState(MayastorVolume.DEGRADED);
        MayastorVolume again = store.get(MayastorVolume.class, "v1").orElseThrow();
        again.setStatus(later);
        store.updateStatus(again); // a status write only
        assertEquals(List.of("mayastorvolume.openebs.io/v1 configured"),
                apply(volume("", "  targetNode: s2\n").replace("  labels: {}\n", "  labels: {}\n  generation: " + now + "\n")),
                "read after the spec's change: applied");
    }

    /**
     * Review finding: a pool's spec could change after it was made. Another node made a second pool
     * and orphaned the first with its replicas (a delete then destroyed only the second); other disks
     * were ignored while the status said online.
     */
    @Test
    void aPoolMadeOnItsNodeKeepsItsSpec() {
        String pool = """
                apiVersion: openebs.io/v1alpha1
                kind: MayastorPool
                metadata:
                  name: p1
                spec:
                  node: n1
                  disks: ["/dev/sdb"]
                """;
        assertEquals(List.of("mayastorpool.openebs.io/p1 created"), apply(pool));
        assertEquals(List.of("mayastorpool.openebs.io/p1 configured"), apply(pool.replace("/dev/sdb", "/dev/sdc")),
                "not made yet: it may still change");
        store.change(io.mayastorj.control.internal.model.MayastorPool.class, "p1",
                p -> p.getMetadata().getFinalizers().add(io.mayastorj.control.internal.model.Kinds.FINALIZER)); // made
        io.mayastorj.core.error.MayastorException e = org.junit.jupiter.api.Assertions.assertThrows(
                io.mayastorj.core.error.MayastorException.class, () -> apply(pool.replace("node: n1", "node: n2")
                        .replace("/dev/sdb", "/dev/sdc")));
        assertEquals(io.mayastorj.core.error.ErrorKind.FAILED_PRECONDITION, e.kind());
        assertEquals("mayastorpool.openebs.io/p1 is made on node n1 (/dev/sdc): its spec cannot change; delete it and "
                + "create it again", e.getMessage());
        assertEquals(List.of("mayastorpool.openebs.io/p1 unchanged"), apply(pool.replace("/dev/sdb", "/dev/sdc")));
    }
}
