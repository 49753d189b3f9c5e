package io.mayastorj.control.internal.grpc;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.grpc.stub.StreamObserver;
import io.mayastorj.api.v1.ApplyRequest;
import io.mayastorj.api.v1.ApplyResponse;
import io.mayastorj.api.v1.DeleteRequest;
import io.mayastorj.api.v1.DeleteResponse;
import io.mayastorj.api.v1.GetRequest;
import io.mayastorj.api.v1.GetResponse;
import io.mayastorj.api.v1.ResourceRpcGrpc;
import io.mayastorj.control.internal.model.Kinds;
import io.mayastorj.control.internal.model.MayastorPool;
import io.mayastorj.control.internal.model.MayastorVolume;
import io.mayastorj.control.internal.store.ResourceStore;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.core.text.Table;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * ResourceRpc: kubectl's apply, get and delete for the control plane's resources, on whatever store
 * it runs with; get renders what kubectl shows (the seed's printer columns, YAML, JSON or names).
 */
public final class ResourceService extends ResourceRpcGrpc.ResourceRpcImplBase {

    private final ResourceStore store;
    private final KubernetesSerialization serialization = new KubernetesSerialization();

    public ResourceService(ResourceStore store) {
        this.store = store;
    }

    @Override
    public void apply(ApplyRequest request, StreamObserver<ApplyResponse> response) {
        ApplyResponse.Builder reply = ApplyResponse.newBuilder();
        List<String> documents = documents(request.getManifest());
        if (documents.isEmpty()) {
            throw MayastorException.invalidArgument("the manifest holds no resource");
        }
        List<CustomResource<?, ?>> parsed = new ArrayList<>();
        for (String doc : documents) {
            parsed.add(parse(doc)); // all checked before any is applied
        }
        for (CustomResource<?, ?> r : parsed) {
            reply.addResults(apply(r));
        }
        response.onNext(reply.build());
        response.onCompleted();
    }

    private static List<String> documents(String manifest) {
        List<String> docs = new ArrayList<>();
        for (String doc : manifest.split("(?m)^---\\s*$")) {
            if (!doc.lines().allMatch(l -> l.isBlank() || l.stripLeading().startsWith("#"))) {
                docs.add(doc);
            }
        }
        return docs;
    }

    private CustomResource<?, ?> parse(String doc) {
        GenericKubernetesResource generic;
        try {
            generic = serialization.unmarshal(doc, GenericKubernetesResource.class);
        } catch (RuntimeException e) {
            throw MayastorException.invalidArgument("not a YAML resource: %s", e.getMessage());
        }
        String apiVersion = generic.getApiVersion();
        Kinds.Kind kind = Kinds.ALL.stream().filter(k -> k.kind().equals(generic.getKind())).findFirst()
                .orElseThrow(() -> MayastorException.invalidArgument("kind %s is not one of the control plane's (%s)",
                        generic.getKind(), String.join(", ", Kinds.ALL.stream().map(Kinds.Kind::kind).toList())));
        if (!(Kinds.GROUP + "/" + Kinds.VERSION).equals(apiVersion)) {
            throw MayastorException.invalidArgument("%s: apiVersion %s, not %s/%s", generic.getKind(), apiVersion, Kinds.GROUP,
                    Kinds.VERSION);
        }
        if (generic.getMetadata() == null || generic.getMetadata().getName() == null) {
            throw MayastorException.invalidArgument("%s without metadata.name", generic.getKind());
        }
        CustomResource<?, ?> resource;
        try {
            resource = serialization.unmarshal(doc, kind.type());
        } catch (RuntimeException e) {
            throw MayastorException.invalidArgument("%s %s: %s", kind.singular(), generic.getMetadata().getName(), e.getMessage());
        }
        if (resource.getSpec() == null && !(resource instanceof io.mayastorj.control.internal.model.MayastorNode)) {
            // stored so, every listing of its kind stumbled on it
            throw MayastorException.invalidArgument("%s %s has no spec", kind.singular(), generic.getMetadata().getName());
        }
        return resource;
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private String apply(CustomResource<?, ?> wanted) {
        Kinds.Kind kind = Kinds.of(wanted.getClass());
        String name = wanted.getMetadata().getName();
        String label = kind.qualified() + "/" + name;
        Optional<? extends CustomResource<?, ?>> existing = store.get((Class) kind.type(), name);
        if (existing.isEmpty()) {
            wanted.getMetadata().setResourceVersion(null);
            wanted.getMetadata().setUid(null);
            ((CustomResource) wanted).setStatus(null);
            store.create(wanted);
            return label + " created";
        }
        boolean[] changed = {false};
        // where a volume is published is the control plane's (publish, unpublish, move, switch-over):
        // a manifest that does not name it keeps it, as kubectl's merge keeps what it did not set
        String targetNode = wanted instanceof MayastorVolume v ? v.getSpec().getTargetNode() : null;
        String appNode = wanted instanceof MayastorVolume v ? v.getSpec().getAppNode() : null;
        store.change((Class) kind.type(), name, r -> {
            CustomResource current = (CustomResource) r;
            if (current == null) {
                throw MayastorException.aborted("%s was deleted meanwhile: apply it again", label);
            }
            Long read = wanted.getMetadata().getGeneration();
            if (read != null && !read.equals(current.getMetadata().getGeneration())) {
                // a manifest saved from `get -o yaml` and applied after the spec changed would put back
                // what changed since (where the volume is published, among others): refused. The
                // generation, not the resourceVersion: status writes (a pool's usage) change that often
                throw MayastorException.aborted("%s was changed since this manifest was read (generation %d, now %d): "
                        + "get it again, or leave metadata.generation out", label, read,
                        current.getMetadata().getGeneration());
            }
            String before = serialization.asJson(current.getSpec()) + current.getMetadata().getLabels()
                    + current.getMetadata().getAnnotations();
            if (current instanceof MayastorPool was && was.getMetadata().getFinalizers().contains(Kinds.FINALIZER)
                    && !serialization.asJson(was.getSpec()).equals(serialization.asJson(wanted.getSpec()))) {
                // made on its node: another node or disk would make a second pool and orphan the first
                // (its replicas with it), and a delete would destroy only the second
                throw MayastorException.failedPrecondition("%s is made on node %s (%s): its spec cannot change; "
                        + "delete it and create it again", label, was.getSpec().getNode(),
                        was.getSpec().getDisks() == null ? "" : String.join(", ", was.getSpec().getDisks()));
            }
            if (current instanceof MayastorVolume was && wanted instanceof MayastorVolume v) {
                v.getSpec().setTargetNode(targetNode != null ? targetNode : was.getSpec().getTargetNode());
                v.getSpec().setAppNode(appNode != null || targetNode != null ? appNode : was.getSpec().getAppNode());
            }
            current.setSpec(wanted.getSpec());
            if (wanted.getMetadata().getLabels() != null) {
                current.getMetadata().setLabels(wanted.getMetadata().getLabels());
            }
            if (wanted.getMetadata().getAnnotations() != null) {
                // what the CSI controller keeps of a volume's context stays: a manifest applied again does not know it
                Map<String, String> kept = new java.util.LinkedHashMap<>(wanted.getMetadata().getAnnotations());
                if (current.getMetadata().getAnnotations() != null) {
                    current.getMetadata().getAnnotations().forEach((k, v) -> {
                        if (k.startsWith("openebs.io/csi-")) {
                            kept.putIfAbsent(k, v);
                        }
                    });
                }
                current.getMetadata().setAnnotations(kept);
            }
            String after = serialization.asJson(current.getSpec()) + current.getMetadata().getLabels()
                    + current.getMetadata().getAnnotations();
            return changed[0] = !before.equals(after);
        });
        if (!changed[0]) {
            return label + " unchanged";
        }
        return label + " configured";
    }

    @Override
    @SuppressWarnings({"unchecked", "rawtypes"})
    public void get(GetRequest request, StreamObserver<GetResponse> response) {
        Kinds.Kind kind = kind(request.getKind());
        List<CustomResource<?, ?>> items = new ArrayList<>();
        if (request.getName().isEmpty()) {
            items.addAll(store.list((Class) kind.type()));
        } else {
            Optional<CustomResource<?, ?>> one = store.get((Class) kind.type(), request.getName());
            if (one.isEmpty()) {
                throw MayastorException.notFound("%s %s not found", kind.singular(), request.getName());
            }
            items.add(one.get());
        }
        String output = request.getOutput().isEmpty() ? "table" : request.getOutput();
        String text = switch (output) {
            case "table", "wide" -> items.isEmpty() ? "No resources found in " + Kinds.NAMESPACE + " namespace.\n"
                    : table(kind, items, output.equals("wide"));
            case "yaml" -> items.size() == 1 && !request.getName().isEmpty() ? serialization.asYaml(items.get(0))
                    : serialization.asYaml(Map.of("apiVersion", "v1", "kind", "List", "items", items));
            case "json" -> items.size() == 1 && !request.getName().isEmpty() ? serialization.asJson(items.get(0))
                    : serialization.asJson(Map.of("apiVersion", "v1", "kind", "List", "items", items));
            case "name" -> String.join("", items.stream().map(i -> kind.qualified() + "/" + i.getMetadata().getName() + "\n")
                    .toList());
            default -> throw MayastorException.invalidArgument("output %s: table, wide, yaml, json or name", output);
        };
        response.onNext(GetResponse.newBuilder().setText(text).build());
        response.onCompleted();
    }

    @Override
    public void delete(DeleteRequest request, StreamObserver<DeleteResponse> response) {
        Kinds.Kind kind = kind(request.getKind());
        store.delete(kind.type(), request.getName());
        response.onNext(DeleteResponse.newBuilder().setResult(kind.qualified() + " \"" + request.getName() + "\" deleted").build());
        response.onCompleted();
    }

    private static Kinds.Kind kind(String name) {
        return Kinds.byName(name).orElseThrow(() -> MayastorException.invalidArgument(
                "the server doesn't have a resource type \"%s\" (msn, msp, msv)", name));
    }

    /** kubectl's columns for the kind: the seed's printer columns, wide adds the priority-1 ones. */
    private static String table(Kinds.Kind kind, List<CustomResource<?, ?>> items, boolean wide) {
        List<String> headers = new ArrayList<>(List.of("NAME"));
        if (kind == Kinds.NODE) {
            headers.addAll(List.of("STATE", "AGE"));
        } else if (kind == Kinds.POOL) {
            headers.addAll(wide ? List.of("NODE", "STATE", "AGE", "CAPACITY", "USED", "REASON") : List.of("NODE", "STATE", "AGE"));
        } else {
            headers.addAll(wide ? List.of("TARGETS", "SIZE", "STATE", "AGE", "REASON") : List.of("TARGETS", "SIZE", "STATE", "AGE"));
        }
        Table table = new Table(headers.toArray(String[]::new));
        for (CustomResource<?, ?> item : items) {
            List<Object> row = new ArrayList<>();
            row.add(item.getMetadata().getName());
            String age = age(item.getMetadata().getCreationTimestamp());
            if (item instanceof io.mayastorj.control.internal.model.MayastorNode n) {
                row.add(n.getStatus());
                row.add(age);
            } else if (item instanceof io.mayastorj.control.internal.model.MayastorPool p) {
                var s = p.getStatus();
                row.add(p.getSpec() == null ? null : p.getSpec().getNode()); // one made with kubectl may have none
                row.add(s == null ? null : s.getState());
                row.add(age);
                if (wide) {
                    row.add(s == null ? null : s.getCapacity());
                    row.add(s == null ? null : s.getUsed());
                    row.add(s == null ? null : s.getReason());
                }
            } else if (item instanceof io.mayastorj.control.internal.model.MayastorVolume v) {
                var s = v.getStatus();
                row.add(s == null || s.getTargetNodes() == null ? null : "[\"" + String.join("\",\"", s.getTargetNodes()) + "\"]");
                row.add(s == null ? null : s.getSize());
                row.add(v.getMetadata().getDeletionTimestamp() != null ? "deleting" : s == null ? null : s.getState());
                row.add(age);
                if (wide) {
                    row.add(s == null ? null : s.getReason());
                }
            }
            table.row(row.toArray());
        }
        return table.toString();
    }

    /** kubectl's age: 45s, 3m12s (under 10 min), 42m, 5h, 3d. */
    static String age(String creationTimestamp) {
        if (creationTimestamp == null) {
            return null;
        }
        Duration d = Duration.between(Instant.parse(creationTimestamp), Instant.now());
        long s = Math.max(0, d.toSeconds());
        if (s < 120) {
            return s + "s";
        }
        if (s < 600) {
            return (s / 60) + "m" + (s % 60 == 0 ? "" : s % 60 + "s");
        }
        if (s < 3 * 3600) {
            return (s / 60) + "m";
        }
        if (s < 48 * 3600) {
            return (s / 3600) + "h";
        }
        return (s / 86400) + "d";
    }
}
