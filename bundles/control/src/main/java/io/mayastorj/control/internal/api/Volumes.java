package io.mayastorj.control.internal.api;

import io.grpc.Context;
import io.mayastorj.control.internal.model.MayastorVolume;
import io.mayastorj.control.internal.operator.VolumeOperator;
import io.mayastorj.control.internal.registry.NodeRegistry;
import io.mayastorj.control.internal.store.ResourceStore;
import io.mayastorj.core.error.ErrorKind;
import io.mayastorj.core.error.MayastorException;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * What a caller asks of volumes — make one, publish it to an application's node, unpublish it,
 * destroy it — as changes of MayastorVolume resources, waiting (within the call's deadline) for
 * the operator to have done them. VolumeRpc and the CSI controller both speak through this.
 */
public final class Volumes {

    private static final System.Logger LOG = System.getLogger("mayastor.control");

    private static final long WAIT_MILLIS = 60_000;

    /** The CSI capability a volume is published with (access type, mode, read-only), kept while it is. */
    static final String PUBLISHED_AS = "openebs.io/csi-published-as";

    private final ResourceStore store;
    private final VolumeOperator operator;
    private final NodeRegistry registry;
    /**
     * The volumes callers wait for, each with a count of its changes: a caller looks again (a read from
     * the API server) when its own volume changed, not on every change of any volume — with many
     * volumes being made at once, each event made every waiter read, and the API server throttled.
     */
    private final java.util.Map<String, Watch> watched = new java.util.HashMap<>();

    private static final class Watch {
        long changes;
        int waiters;
    }

    public Volumes(ResourceStore store, VolumeOperator operator, NodeRegistry registry) {
        this.store = store;
        this.operator = operator;
        this.registry = registry;
        store.addListener((kind, name) -> {
            if (kind == MayastorVolume.class) {
                synchronized (this) {
                    Watch w = watched.get(name);
                    if (w != null) {
                        w.changes++;
                        notifyAll();
                    }
                }
            }
        });
    }

    public Optional<MayastorVolume> get(String name) {
        return store.get(MayastorVolume.class, name);
    }

    public List<MayastorVolume> list() {
        return store.list(MayastorVolume.class);
    }

    public MayastorVolume find(String name) {
        return get(name).orElseThrow(() -> MayastorException.notFound("volume %s not found", name));
    }

    /** Why a spec cannot be served at all, or null (invalid, or naming nodes never registered). */
    public String refusal(MayastorVolume.Spec spec) {
        String invalid = operator.invalid(spec);
        return invalid != null ? invalid : operator.unknownNode(spec);
    }

    /**
     * Makes the volume, or returns it when one of that name and size exists; waits until its
     * replicas are made or its status says why they cannot be (pending). ALREADY_EXISTS for another
     * size or replica count; FAILED_PRECONDITION while one of that name is being deleted.
     */
    public MayastorVolume create(String name, MayastorVolume.Spec spec) {
        return create(name, spec, Map.of());
    }

    /**
     * As {@link #create(String, MayastorVolume.Spec)}, the volume made with {@code annotations}
     * (what the CSI context says beside the spec); one found must have each of them as given
     * (ALREADY_EXISTS otherwise) — unless it has no such annotation at all (made before they were kept).
     */
    public MayastorVolume create(String name, MayastorVolume.Spec spec, Map<String, String> annotations) {
        return create(name, spec, annotations, spec.getRequiredBytes() == null ? 0 : spec.getRequiredBytes());
    }

    /**
     * ... where a volume found fits when it holds at least {@code atLeast} bytes (the caller's own
     * floor, before its rounding) and no more than the spec's limit: a CSI retry whose range rounds
     * otherwise (required 1000 with a limit of 2000 made 1024 bytes; without the limit it rounds to
     * 4096) asks for the volume it was given.
     */
    public MayastorVolume create(String name, MayastorVolume.Spec spec, Map<String, String> annotations, long atLeast) {
        String refused = refusal(spec);
        if (refused != null) {
            throw MayastorException.invalidArgument("volume %s: %s", name, refused);
        }
        makeOrFind(name, spec, annotations, atLeast);
        // once the replicas are made, or with the reason they cannot be (pending)
        return await(name, v -> v.getStatus() != null && v.getStatus().getState() != null, "made");
    }

    /** Makes the volume, or finds it made as asked; refuses one made otherwise. */
    private void makeOrFind(String name, MayastorVolume.Spec spec, Map<String, String> annotations, long atLeast) {
        for (int attempt = 1; ; attempt++) {
            Optional<MayastorVolume> existing = get(name);
            if (existing.isPresent()) {
                if (existing.get().getMetadata().getDeletionTimestamp() != null) {
                    // the CSI spec's code for an operation pending on the volume: the provisioner tries again
                    throw MayastorException.aborted("volume %s is being deleted; create it again once it is gone", name);
                }
                String differs = incompatible(existing.get().getSpec(), spec, atLeast);
                Map<String, String> has = existing.get().getMetadata().getAnnotations();
                for (Map.Entry<String, String> a : new java.util.TreeMap<>(annotations).entrySet()) {
                    String there = has == null ? null : has.get(a.getKey());
                    if (differs == null && there != null && !there.equals(a.getValue())) {
                        differs = "with " + a.getKey() + " " + (there.isEmpty() ? "unset" : there) + ", not "
                                + (a.getValue().isEmpty() ? "unset" : a.getValue());
                    }
                }
                if (differs != null) {
                    throw MayastorException.alreadyExists("volume %s exists already %s", name, differs);
                }
                return;
            }
            MayastorVolume msv = new MayastorVolume();
            msv.getMetadata().setName(name);
            msv.setSpec(spec);
            msv.getMetadata().getAnnotations().putAll(annotations);
            try {
                store.create(msv);
                return;
            } catch (MayastorException e) {
                if (e.kind() != ErrorKind.ALREADY_EXISTS || attempt == 3) {
                    throw e;
                }
                // another call made it between our look and our create (the provisioner calls again
                // when one times out): look again, and answer as for the volume that was there
            }
        }
    }

    /**
     * How a volume made as {@code have} is not one asked for as {@code want}, or null when it is
     * (a CreateVolume retried: the same answer). One grown since by an expansion still answers a
     * retry of its create, within the request's limit.
     */
    private static String incompatible(MayastorVolume.Spec have, MayastorVolume.Spec want, long atLeast) {
        long haveBytes = have.getRequiredBytes() == null ? 0 : have.getRequiredBytes();
        long wantBytes = want.getRequiredBytes() == null ? 0 : want.getRequiredBytes();
        boolean sizeFits = haveBytes == wantBytes || (haveBytes >= Math.min(atLeast, wantBytes)
                && (want.getLimitBytes() == null || haveBytes <= want.getLimitBytes()));
        if (!sizeFits || !Objects.equals(have.getReplicaCount(), want.getReplicaCount())) {
            return String.format("with %d bytes and %d replicas", haveBytes, have.getReplicaCount());
        }
        String haveProtocol = have.getProtocol() == null ? "nvmf" : have.getProtocol();
        String wantProtocol = want.getProtocol() == null ? "nvmf" : want.getProtocol();
        if (!haveProtocol.equals(wantProtocol)) {
            return "shared over " + haveProtocol + ", not " + wantProtocol;
        }
        if (Boolean.TRUE.equals(have.getThin()) != Boolean.TRUE.equals(want.getThin())) {
            return Boolean.TRUE.equals(have.getThin()) ? "thin, not thick" : "thick, not thin";
        }
        if (Boolean.TRUE.equals(have.getLocal()) != Boolean.TRUE.equals(want.getLocal())) {
            return Boolean.TRUE.equals(have.getLocal()) ? "local, not with its nexus anywhere" : "not local";
        }
        return null;
    }

    /**
     * Publishes the volume to an application's node: its nexus goes there when the volume is local
     * or holds a replica there, else on a node with one; returns once the nexus is shared. Again for
     * the same node: the same answer. NOT_FOUND for an unknown volume or node; FAILED_PRECONDITION
     * when it is published to another node, or has no replica yet.
     */
    public MayastorVolume publish(String name, String appNode) {
        return publish(name, appNode, null);
    }

    /**
     * As {@link #publish(String, String)}, kept {@code as} a CSI capability (its access type, mode and
     * read-only flag, as the caller writes them): again to the same node as another is ALREADY_EXISTS,
     * as the CSI spec asks. A publish that kept none (gRPC's, or one before they were kept) is not judged.
     */
    public MayastorVolume publish(String name, String appNode, String as) {
        NodeRegistry.NodeState node = registry.node(appNode == null ? "" : appNode).orElse(null);
        MayastorVolume msv = change(name, v -> {
            if (v.getMetadata().getDeletionTimestamp() != null) {
                throw MayastorException.failedPrecondition("volume %s is being deleted", name);
            }
            if (node == null) {
                throw MayastorException.notFound("volume %s: node '%s' is not registered", name, appNode);
            }
            refuseInvalid(v);
            String state = v.getStatus() == null ? null : v.getStatus().getState();
            if (state == null || MayastorVolume.PENDING.equals(state) || v.getStatus().getReplicas() == null
                    || v.getStatus().getReplicas().isEmpty()) {
                throw MayastorException.failedPrecondition("volume %s is %s%s: it has no replicas to publish yet", name,
                        state == null ? "new" : state, v.getStatus() == null || v.getStatus().getReason() == null ? ""
                                : " (" + v.getStatus().getReason() + ")");
            }
            MayastorVolume.Spec spec = v.getSpec();
            String publishedTo = spec.getAppNode() != null ? spec.getAppNode() : spec.getTargetNode();
            if (spec.getTargetNode() != null && !appNode.equals(publishedTo)) {
                throw MayastorException.failedPrecondition("volume %s is published to node %s already; unpublish it first",
                        name, publishedTo);
            }
            if (spec.getTargetNode() != null) {
                String kept = annotations(v).get(PUBLISHED_AS);
                if (as != null && kept != null && !kept.equals(as)) {
                    throw MayastorException.alreadyExists("volume %s is published to node %s as %s, not %s", name,
                            publishedTo, kept, as);
                }
                return false;
            }
            if (Boolean.TRUE.equals(spec.getLocal()) && !node.storage()) {
                throw MayastorException.failedPrecondition("volume %s is local: its nexus must run on node %s, which holds no "
                        + "storage", name, appNode);
            }
            spec.setTargetNode(targetFor(v, appNode));
            spec.setAppNode(appNode);
            if (as != null) {
                annotations(v).put(PUBLISHED_AS, as);
            }
            return true;
        });
        String target = msv.getSpec().getTargetNode();
        return await(name, v -> v.getStatus() != null && answers(v, msv) && v.getStatus().getNexus() != null
                && shared(v) && target.equals(v.getStatus().getNexus().getNode()),
                "published on " + target);
    }

    /**
     * The nexus's address is one a host can connect to: not its local bdev:///UUID, which a nexus made
     * again waiting for its application's node to register shows (a volume of protocol none has no other).
     */
    private static boolean shared(MayastorVolume v) {
        String uri = v.getStatus().getNexus().getDeviceUri();
        return uri != null && ("none".equals(v.getSpec().getProtocol()) || !uri.startsWith("bdev:"));
    }

    /** Where the nexus goes: the application's node for a local volume or one with a replica there, else a replica's node. */
    private static String targetFor(MayastorVolume msv, String applicationNode) {
        if (Boolean.TRUE.equals(msv.getSpec().getLocal())) {
            return applicationNode;
        }
        List<MayastorVolume.Replica> replicas = msv.getStatus().getReplicas();
        for (MayastorVolume.Replica r : replicas) {
            if (r.getNode().equals(applicationNode) && !Boolean.TRUE.equals(r.getOffline())) {
                return applicationNode; // a local replica: the nexus reads it without the network
            }
        }
        return replicas.stream().filter(r -> !Boolean.TRUE.equals(r.getOffline()) && !Boolean.TRUE.equals(r.getOutOfSync()))
                .map(MayastorVolume.Replica::getNode).findFirst().orElseGet(() -> replicas.get(0).getNode());
    }

    /**
     * Moves a published nvmf volume's nexus to storage node {@code node} and returns once it serves
     * there: the old nexus reports ANA change and shuts down cleanly (every replica stays in sync),
     * the new one is made under the same NQN, and hosts follow it (the CSI node adds the path).
     */
    public MayastorVolume move(String name, String node) {
        NodeRegistry.NodeState to = registry.node(node == null ? "" : node).orElse(null);
        MayastorVolume moved = change(name, msv -> {
            if (msv.getMetadata().getDeletionTimestamp() != null) {
                throw MayastorException.failedPrecondition("volume %s is being deleted", name);
            }
            MayastorVolume.Spec spec = msv.getSpec();
            if (spec.getTargetNode() == null) {
                throw MayastorException.failedPrecondition("volume %s is not published: there is no nexus to move", name);
            }
            if ("iscsi".equals(spec.getProtocol())) {
                throw MayastorException.failedPrecondition("volume %s is iSCSI: its hosts cannot follow a nexus to another "
                        + "portal; unpublish it and publish it again", name);
            }
            if (Boolean.TRUE.equals(spec.getLocal())) {
                throw MayastorException.failedPrecondition("volume %s is local: its nexus stays on its application's node", name);
            }
            if (to == null) {
                throw MayastorException.notFound("volume %s: node '%s' is not registered", name, node);
            }
            refuseInvalid(msv);
            if (!to.storage() || !to.online()) {
                throw MayastorException.failedPrecondition("volume %s: node %s is %s; a nexus moves to an online storage node",
                        name, node, to.storage() ? "offline" : "an application node");
            }
            if (node.equals(spec.getTargetNode())) {
                return false;
            }
            NodeRegistry.NodeState from = registry.node(spec.getTargetNode()).orElse(null);
            if (from == null || !from.online()) {
                // its nexus cannot hand over (ANA change, a clean shutdown) and may still serve a host cut off from
                // us: a second nexus beside it is what the switch-over's grace and nexus records guard against
                throw MayastorException.failedPrecondition("volume %s: its nexus's node %s is offline, so it cannot hand "
                        + "over; the switch-over moves the nexus once that node has been silent for its grace", name,
                        spec.getTargetNode());
            }
            spec.setTargetNode(node);
            return true;
        });
        return await(name, v -> v.getStatus() != null && answers(v, moved) && v.getStatus().getNexus() != null
                && shared(v) && node.equals(v.getStatus().getNexus().getNode()),
                "moved to " + node);
    }

    /**
     * Takes the nexus down (the replicas stay) and returns once it is gone. With {@code appNode}:
     * only when the volume is published to that node (else nothing to do).
     */
    public MayastorVolume unpublish(String name, String appNode) {
        boolean[] changed = {false};
        MayastorVolume msv = change(name, v -> {
            MayastorVolume.Spec spec = v.getSpec();
            String publishedTo = spec.getAppNode() != null ? spec.getAppNode() : spec.getTargetNode();
            if (spec.getTargetNode() == null || (appNode != null && !appNode.equals(publishedTo))) {
                return changed[0] = false;
            }
            spec.setTargetNode(null);
            spec.setAppNode(null);
            annotations(v).remove(PUBLISHED_AS);
            return changed[0] = true;
        });
        if (!changed[0] && msv.getSpec().getTargetNode() != null) {
            return msv; // published to another node: not this call's to take down
        }
        // written now: the status must answer this spec; cleared before (an earlier call ran out of
        // time): the nexus gone is enough, whatever spec the status answers
        boolean wrote = changed[0];
        if (msv.getMetadata().getDeletionTimestamp() != null) {
            // its deletion waited for this: it now goes, and its status is not written again
            try {
                awaitGone(name);
            } catch (MayastorException e) {
                // the unpublish is done whatever the wait says (its call's deadline near, its status odd): the deletion
                // goes on by itself
                LOG.log(System.Logger.Level.DEBUG, "volume {0} unpublished; its deletion goes on: {1}", name, e.getMessage());
            }
            return msv;
        }
        // a nexus on a node that cannot be reached is kept in the status (its children's states are read
        // when the node is back, before it is destroyed): unpublished as far as this call can make it
        return await(name, v -> v.getStatus() == null || (!wrote || answers(v, msv)) && (v.getStatus().getNexus() == null
                || MayastorVolume.NEXUS_UNKNOWN.equals(v.getStatus().getNexus().getState())), "unpublished");
    }

    /**
     * Grows the volume to {@code bytes}: its replicas, then its nexus when it is published; returns
     * once the status says so, also when an earlier call asked for it and ran out of time (the
     * resizer calls again). RESOURCE_EXHAUSTED when a replica's pool has not the room or refuses the
     * size, UNAVAILABLE when a replica failed for another cause (the spec is put back either way: a
     * volume is never left asking for what it cannot have).
     */
    public MayastorVolume grow(String name, long bytes) {
        long[] before = {0};
        boolean[] wrote = {false};
        MayastorVolume msv = change(name, v -> {
            if (v.getMetadata().getDeletionTimestamp() != null) {
                throw MayastorException.notFound("volume %s is being deleted", name);
            }
            before[0] = v.getSpec().getRequiredBytes();
            long has = size(v);
            // a larger request the pools could not hold (its caller ran out of time before the answer)
            // gives way to this one: the latest decides. Only on the operator's answer to the spec as
            // it is: a status from before might not show a volume grown meanwhile, and a spec must
            // never ask for less than the volume has (its file system may fill it already)
            boolean refused = bytes < before[0] && answers(v, v) && grown(v) != null && has > 0 && has < bytes;
            wrote[0] = bytes > before[0] || refused;
            if (!wrote[0]) {
                return false;
            }
            if (v.getSpec().getLimitBytes() != null && bytes > v.getSpec().getLimitBytes()) {
                v.getSpec().setLimitBytes(null); // the new request's limit is checked by the caller
            }
            v.getSpec().setRequiredBytes(bytes);
            return true;
        });
        boolean asked = wrote[0];
        if (!asked && size(msv) >= bytes) {
            return msv;
        }
        MayastorVolume done = await(name, v -> size(v) >= bytes || answers(v, msv) && grown(v) != null,
                "grown to " + bytes + " bytes");
        String problem = grown(done);
        if (problem != null && size(done) < bytes) {
            // what this call asked for, or an earlier one: put back what the volume has
            long spec = asked ? bytes : before[0];
            long has = size(done);
            long back = has == 0 ? before[0] : asked ? Math.min(before[0], has) : has;
            change(name, v -> {
                if (v.getSpec().getRequiredBytes() != spec) {
                    return false; // asked for again meanwhile: that call decides
                }
                v.getSpec().setRequiredBytes(back);
                return true;
            });
            if (problem.contains(" is away; ") || problem.contains(VolumeOperator.GROW_FAILED_FOR_NOW)) {
                // passing, or not the size's fault: a retry later may succeed (OUT_OF_RANGE would be taken for infeasible)
                throw MayastorException.unavailable("%s", problem);
            }
            throw MayastorException.resourceExhausted("%s", problem);
        }
        return done;
    }

    /**
     * True when the volume's status is the operator's answer to the spec as {@code written} (its
     * {@code observedGeneration} has caught up with that generation), not to an older one: a status
     * still showing the nexus an earlier unpublish is taking down must not answer a publish. A
     * store that keeps no generations cannot tell: true.
     */
    private static boolean answers(MayastorVolume v, MayastorVolume written) {
        Long wanted = written.getMetadata().getGeneration();
        Long seen = v.getStatus() == null ? null : v.getStatus().getObservedGeneration();
        return wanted == null || seen != null && seen >= wanted;
    }

    /** FAILED_PRECONDITION for a volume whose spec cannot be served: the operator would do nothing. */
    private void refuseInvalid(MayastorVolume v) {
        String invalid = operator.invalid(v.getSpec());
        if (invalid != null) {
            throw MayastorException.failedPrecondition("volume %s has an invalid spec (%s): fix it first", v.getMetadata().getName(),
                    invalid);
        }
    }

    /** The size the volume has (its status), 0 before it has one. */
    private static long size(MayastorVolume v) {
        return v.getStatus() == null || v.getStatus().getSize() == null ? 0 : v.getStatus().getSize();
    }

    /** The reason the operator gives for a volume that cannot grow, or null. */
    private static String grown(MayastorVolume v) {
        String reason = v.getStatus() == null ? null : v.getStatus().getReason();
        return reason != null && reason.contains("cannot grow") ? reason : null;
    }

    /** The volume's annotations, to read or change (a volume read from the API server may have none). */
    private static Map<String, String> annotations(MayastorVolume v) {
        if (v.getMetadata().getAnnotations() == null) {
            v.getMetadata().setAnnotations(new java.util.LinkedHashMap<>());
        }
        return v.getMetadata().getAnnotations();
    }

    /** {@link ResourceStore#change}, NOT_FOUND when there is no such volume (an unpublish came back ABORTED once in CI). */
    private MayastorVolume change(String name, Predicate<MayastorVolume> edit) {
        return store.change(MayastorVolume.class, name, v -> {
            if (v == null) {
                throw MayastorException.notFound("volume %s not found", name);
            }
            return edit.test(v);
        });
    }

    /**
     * Marks the volume for deletion: the operator takes its nexus and replicas down, then it is gone.
     * FAILED_PRECONDITION while it is published (one deleted otherwise, by kubectl, waits for its unpublish).
     */
    public MayastorVolume destroy(String name) {
        MayastorVolume msv = find(name);
        if (msv.getSpec().getTargetNode() != null && msv.getMetadata().getDeletionTimestamp() == null) {
            // its host would lose the device under its file system: CSI's DeleteVolume refuses it, and so does every caller
            throw MayastorException.failedPrecondition("volume %s is published to node %s: unpublish it first", name,
                    Optional.ofNullable(msv.getSpec().getAppNode()).orElse(msv.getSpec().getTargetNode()));
        }
        store.delete(MayastorVolume.class, name);
        return get(name).orElse(msv);
    }

    /** Waits until the volume is gone, within the call's deadline. */
    public void awaitGone(String name) {
        await(name, v -> false, "gone", true);
    }

    /**
     * Waits until the volume is as wanted, or the call's deadline (at most a minute) is near: it
     * looks again on each change of that volume, and every 2 s. NOT_FOUND when it is gone.
     */
    public MayastorVolume await(String name, Predicate<MayastorVolume> done, String what) {
        return await(name, done, what, false);
    }

    /** {@code done} is asked about the volume while there is one; once it is gone, {@code gone} says whether that is done. */
    private MayastorVolume await(String name, Predicate<MayastorVolume> done, String what, boolean gone) {
        long budget = WAIT_MILLIS;
        if (Context.current().getDeadline() != null) {
            budget = Math.min(budget, Context.current().getDeadline().timeRemaining(TimeUnit.MILLISECONDS) - 500);
        }
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(Math.max(0, budget));
        Watch watch;
        synchronized (this) {
            watch = watched.computeIfAbsent(name, n -> new Watch());
            watch.waiters++;
        }
        try {
            return awaitWatched(name, done, what, gone, deadline, watch);
        } finally {
            synchronized (this) {
                if (--watch.waiters == 0) {
                    watched.remove(name);
                }
            }
        }
    }

    private MayastorVolume awaitWatched(String name, Predicate<MayastorVolume> done, String what, boolean gone, long deadline,
                                        Watch watch) {
        while (true) {
            if (Context.current().isCancelled()) {
                // the caller gave up (the sidecar's own timeout): reading on would only load the API server
                throw MayastorException.unavailable("volume %s: the call was cancelled", name);
            }
            long seen;
            synchronized (this) {
                seen = watch.changes;
            }
            MayastorVolume v = get(name).orElse(null);
            if (v == null) {
                if (gone) {
                    return null;
                }
                throw MayastorException.notFound("volume %s not found", name);
            }
            if (done.test(v)) {
                return v;
            }
            String reason = v.getStatus() == null ? null : v.getStatus().getReason();
            if (reason != null && reason.startsWith(VolumeOperator.INVALID_SPEC) && answers(v, v)) {
                // the operator does nothing while the spec is invalid: waiting would only run out of time
                throw MayastorException.failedPrecondition("volume %s is not %s: %s", name, what, reason);
            }
            if (System.nanoTime() > deadline) {
                throw MayastorException.unavailable("volume %s is not %s yet (%s%s); it is being worked on", name, what,
                        v.getStatus() == null ? "new" : v.getStatus().getState(),
                        v.getStatus() == null || v.getStatus().getReason() == null ? "" : ": " + v.getStatus().getReason());
            }
            try {
                synchronized (this) {
                    // woken by any watched volume's change: waits on until its own changed, or 2 s went
                    long until = Math.min(deadline, System.nanoTime() + TimeUnit.SECONDS.toNanos(2));
                    long left;
                    while (watch.changes == seen && (left = until - System.nanoTime()) > 0) {
                        wait(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw MayastorException.unavailable("interrupted");
            }
        }
    }
}
