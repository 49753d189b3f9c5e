package io.mayastorj.itests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;
import io.fabric8.kubernetes.api.model.storage.CSIDriver;
import io.fabric8.kubernetes.api.model.storage.StorageClass;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.mayastorj.csi.CsiReadiness;
import io.mayastorj.launcher.ControlSettings;
import io.mayastorj.launcher.CsiNodeSettings;
import io.mayastorj.launcher.NodeSettings;
import io.mayastorj.launcher.RuntimeSettings;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.BiFunction;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * deploy/ as Kubernetes will read it: every file parses into typed objects, and what one object
 * says about another holds — the driver's name, socket paths, ports, labels and selectors, the
 * namespace, the service account, the image — and our containers' command lines and ConfigMaps are
 * settings our runtimes accept. (The RBAC against the calls the control plane makes:
 * KubernetesStoreTest.)
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ManifestTest {

    private static final Path DEPLOY = Path.of("..", "deploy");
    private static final String IMAGE = "docker.io/mayastorj/mayastor:0.1.0";
    private static final String MAYASTOR = "/opt/mayastor/bin/mayastor";
    /** What the kubelet substitutes into $(VAR) in args: the env values of a pod on node-1. */
    private static final Map<String, String> POD_ENV = Map.of("MY_NODE_NAME", "node-1", "MY_POD_IP", "10.1.2.3",
            "NAMESPACE", "mayastor");

    private KubernetesClient kube;
    private final Map<String, List<HasMetadata>> files = new LinkedHashMap<>();

    @BeforeAll
    void load() throws Exception {
        kube = new KubernetesClientBuilder().build(); // parsing only: it never connects
        try (Stream<Path> list = Files.list(DEPLOY)) {
            for (Path f : list.filter(p -> p.toString().endsWith(".yaml")).sorted().toList()) {
                try (InputStream in = Files.newInputStream(f)) {
                    files.put(f.getFileName().toString(), kube.load(in).items());
                }
            }
        }
        try (Stream<Path> list = Files.list(DEPLOY.resolve("crds"))) {
            for (Path f : list.sorted().toList()) {
                try (InputStream in = Files.newInputStream(f)) {
                    files.put("crds/" + f.getFileName(), kube.load(in).items());
                }
            }
        }
    }

    @AfterAll
    void close() {
        kube.close();
    }

    private <T extends HasMetadata> List<T> all(Class<T> type) {
        return files.values().stream().flatMap(List::stream).filter(type::isInstance).map(type::cast).toList();
    }

    private <T extends HasMetadata> T one(String file, Class<T> type, String name) {
        return files.get(file).stream().filter(type::isInstance).map(type::cast)
                .filter(o -> o.getMetadata().getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError(file + " has no " + type.getSimpleName() + " " + name));
    }

    private static Container container(PodSpec pod, String name) {
        return pod.getContainers().stream().filter(c -> c.getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no container " + name));
    }

    private static VolumeMount mount(Container c, String volume) {
        return c.getVolumeMounts().stream().filter(m -> m.getName().equals(volume)).findFirst()
                .orElseThrow(() -> new AssertionError(c.getName() + " does not mount " + volume));
    }

    private static Volume volume(PodSpec pod, String name) {
        return pod.getVolumes().stream().filter(v -> v.getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no volume " + name));
    }

    /** The value after "--flag" or "--flag=value" in args, with the pod's $(VAR)s substituted. */
    private static Optional<String> arg(Container c, String flag) {
        List<String> args = c.getArgs();
        for (int i = 0; i < args.size(); i++) {
            if (args.get(i).equals(flag) && i + 1 < args.size()) {
                return Optional.of(expand(c, args.get(i + 1)));
            }
            if (args.get(i).startsWith(flag + "=")) {
                return Optional.of(expand(c, args.get(i).substring(flag.length() + 1)));
            }
        }
        return Optional.empty();
    }

    private static String expand(Container c, String value) {
        String v = value;
        for (EnvVar e : c.getEnv()) {
            String with = e.getValue() != null ? e.getValue() : POD_ENV.get(e.getName());
            assertNotNull(with, c.getName() + ": no value for env " + e.getName());
            v = v.replace("$(" + e.getName() + ")", with);
        }
        assertFalse(v.contains("$("), c.getName() + ": " + value + " names an env var the container does not have");
        return v;
    }

    private static int port(String endpoint) {
        return Integer.parseInt(endpoint.substring(endpoint.lastIndexOf(':') + 1));
    }

    private static ContainerPort named(Container c, IntOrString port) {
        return c.getPorts().stream().filter(p -> port.getStrVal() != null ? port.getStrVal().equals(p.getName())
                : port.getIntVal().equals(p.getContainerPort())).findFirst()
                .orElseThrow(() -> new AssertionError(c.getName() + " declares no port " + port));
    }

    @Test
    void everyFileParsesIntoTypedObjectsInTheMayastorNamespace() {
        List<String> expected = List.of("namespace.yaml", "moac-rbac.yaml", "nats-deployment.yaml", "csi-daemonset.yaml",
                "moac-deployment.yaml", "mayastor-daemonset.yaml", "csi-driver.yaml", "storage-class.yaml", "pool.yaml",
                "pvc.yaml", "mysql.yaml", "crds/mayastornodes.yaml", "crds/mayastorpools.yaml", "crds/mayastorvolumes.yaml");
        assertEquals(new java.util.TreeSet<>(expected), new java.util.TreeSet<>(files.keySet()));
        for (Map.Entry<String, List<HasMetadata>> f : files.entrySet()) {
            assertFalse(f.getValue().isEmpty(), f.getKey() + " is empty");
            for (HasMetadata o : f.getValue()) {
                String what = f.getKey() + ": " + o.getKind() + " " + o.getMetadata().getName();
                if (o instanceof GenericKubernetesResource) {
                    // only our own resources are untyped: their kinds are the CRDs'
                    assertEquals("openebs.io/v1alpha1", o.getApiVersion(), what);
                    assertTrue(all(CustomResourceDefinition.class).stream().anyMatch(crd -> crd.getSpec().getNames().getKind()
                            .equals(o.getKind())), what + ": no CRD for it");
                }
                boolean clusterScoped = o instanceof Namespace || o instanceof ClusterRole || o instanceof ClusterRoleBinding
                        || o instanceof CSIDriver || o instanceof StorageClass || o instanceof CustomResourceDefinition;
                boolean theUsers = f.getKey().equals("pvc.yaml") || f.getKey().equals("mysql.yaml"); // the application's
                if (clusterScoped || theUsers) {
                    assertEquals(null, o.getMetadata().getNamespace(), what);
                } else {
                    assertEquals("mayastor", o.getMetadata().getNamespace(), what);
                }
            }
        }
        assertEquals("mayastor", one("namespace.yaml", Namespace.class, "mayastor").getMetadata().getName());
    }

    @Test
    void theDriverNameIsTheSameEverywhere() {
        assertEquals(CsiReadiness.DRIVER, one("csi-driver.yaml", CSIDriver.class, CsiReadiness.DRIVER).getMetadata().getName());
        assertTrue(one("csi-driver.yaml", CSIDriver.class, CsiReadiness.DRIVER).getSpec().getAttachRequired(),
                "ControllerPublishVolume makes the nexus: the attacher must call it");
        for (StorageClass sc : all(StorageClass.class)) {
            assertEquals(CsiReadiness.DRIVER, sc.getProvisioner(), sc.getMetadata().getName());
        }
        assertEquals("nvmf", one("storage-class.yaml", StorageClass.class, "mayastor-nvmf").getParameters().get("protocol"));
        assertEquals("iscsi", one("storage-class.yaml", StorageClass.class, "mayastor-iscsi").getParameters().get("protocol"));
        PersistentVolumeClaim pvc = one("pvc.yaml", PersistentVolumeClaim.class, "ms-volume-claim");
        assertTrue(all(StorageClass.class).stream().anyMatch(sc -> sc.getMetadata().getName().equals(pvc.getSpec().getStorageClassName())));
        Deployment mysql = one("mysql.yaml", Deployment.class, "mysql");
        assertEquals("ms-volume-claim", volume(mysql.getSpec().getTemplate().getSpec(), "data").getPersistentVolumeClaim().getClaimName());
    }

    @Test
    void theNodePluginAndTheRegistrarAgreeOnTheSocketAndTheKubeletsPaths() {
        PodSpec pod = one("csi-daemonset.yaml", DaemonSet.class, "mayastor-csi").getSpec().getTemplate().getSpec();
        Container plugin = container(pod, "mayastor-csi");
        Container registrar = container(pod, "csi-driver-registrar");
        String socket = arg(plugin, "--csi-endpoint").orElseThrow().replaceFirst("^unix://", "");
        assertEquals(socket, arg(registrar, "--csi-address").orElseThrow(), "the registrar talks to the plugin's socket");
        // both see the socket's directory from the same host directory, and the kubelet finds it there
        String dir = socket.substring(0, socket.lastIndexOf('/'));
        assertEquals(dir, mount(plugin, "plugin-dir").getMountPath());
        assertEquals(dir, mount(registrar, "plugin-dir").getMountPath());
        String hostDir = volume(pod, "plugin-dir").getHostPath().getPath().replaceFirst("/$", "");
        assertEquals("/var/lib/kubelet/plugins/" + CsiReadiness.DRIVER, hostDir);
        assertEquals(hostDir + socket.substring(dir.length()), arg(registrar, "--kubelet-registration-path").orElseThrow());
        assertEquals("/var/lib/kubelet/plugins_registry", volume(pod, "registration-dir").getHostPath().getPath().replaceFirst("/$", ""));
        assertEquals("/registration", mount(registrar, "registration-dir").getMountPath());
        assertEquals("Bidirectional", mount(plugin, "kubelet-dir").getMountPropagation(), "mounts made for pods reach the host");
        assertTrue(plugin.getSecurityContext().getPrivileged());
        assertTrue(pod.getHostNetwork());
        assertEquals("ClusterFirstWithHostNet", pod.getDnsPolicy());
        for (String host : List.of("/dev", "/sys")) {
            assertTrue(pod.getVolumes().stream().anyMatch(v -> v.getHostPath() != null && host.equals(v.getHostPath().getPath())), host);
        }
    }

    @Test
    void theControlPlaneAndItsSidecarsShareTheControllersSocket() {
        PodSpec pod = one("moac-deployment.yaml", Deployment.class, "moac").getSpec().getTemplate().getSpec();
        Container moac = container(pod, "moac");
        String socket = arg(moac, "--csi-endpoint").orElseThrow().replaceFirst("^unix://", "");
        String dir = mount(moac, "socket-dir").getMountPath().replaceFirst("/$", "");
        assertTrue(socket.startsWith(dir + "/"), socket);
        for (String sidecar : List.of("csi-provisioner", "csi-attacher", "csi-resizer")) {
            Container c = container(pod, sidecar);
            assertEquals(socket, arg(c, "--csi-address").orElseThrow(), sidecar);
            assertEquals(dir, mount(c, "socket-dir").getMountPath().replaceFirst("/$", ""), sidecar);
            assertTrue(c.getImage().startsWith("registry.k8s.io/sig-storage/" + sidecar + ":"), c.getImage());
            // two pods of the Deployment may live at once (one cut off from the API server): one acts
            assertTrue(c.getArgs().contains("--leader-election"), sidecar + ": " + c.getArgs());
            assertEquals("mayastor", arg(c, "--leader-election-namespace").orElseThrow(), sidecar);
        }
        assertEquals("moac", pod.getServiceAccountName());
        ServiceAccount account = one("moac-rbac.yaml", ServiceAccount.class, "moac");
        ClusterRoleBinding binding = one("moac-rbac.yaml", ClusterRoleBinding.class, "moac");
        assertEquals(account.getMetadata().getName(), binding.getSubjects().get(0).getName());
        assertEquals(account.getMetadata().getNamespace(), binding.getSubjects().get(0).getNamespace());
        assertEquals(one("moac-rbac.yaml", ClusterRole.class, "moac").getMetadata().getName(), binding.getRoleRef().getName());
    }

    @Test
    void selectorsServicesPortsAndProbesAgree() {
        List<PodTemplateSpec> templates = new ArrayList<>();
        for (Deployment d : all(Deployment.class)) {
            assertEquals(d.getSpec().getSelector().getMatchLabels(), subset(d.getSpec().getTemplate().getMetadata().getLabels(),
                    d.getSpec().getSelector().getMatchLabels()), d.getMetadata().getName());
            templates.add(d.getSpec().getTemplate());
        }
        for (DaemonSet d : all(DaemonSet.class)) {
            assertEquals(d.getSpec().getSelector().getMatchLabels(), subset(d.getSpec().getTemplate().getMetadata().getLabels(),
                    d.getSpec().getSelector().getMatchLabels()), d.getMetadata().getName());
            templates.add(d.getSpec().getTemplate());
        }
        for (StatefulSet d : all(StatefulSet.class)) {
            assertEquals(d.getSpec().getSelector().getMatchLabels(), subset(d.getSpec().getTemplate().getMetadata().getLabels(),
                    d.getSpec().getSelector().getMatchLabels()), d.getMetadata().getName());
            templates.add(d.getSpec().getTemplate());
        }
        for (Service s : all(Service.class)) {
            PodTemplateSpec target = templates.stream().filter(t -> s.getSpec().getSelector().equals(
                    subset(t.getMetadata().getLabels(), s.getSpec().getSelector()))).findFirst()
                    .orElseThrow(() -> new AssertionError("Service " + s.getMetadata().getName() + " selects no pods"));
            for (ServicePort p : s.getSpec().getPorts()) {
                assertTrue(target.getSpec().getContainers().stream().anyMatch(c -> c.getPorts() != null && c.getPorts().stream()
                        .anyMatch(cp -> p.getTargetPort().getStrVal() != null ? p.getTargetPort().getStrVal().equals(cp.getName())
                                : p.getTargetPort().getIntVal().equals(cp.getContainerPort()))),
                        "Service " + s.getMetadata().getName() + " port " + p.getTargetPort());
            }
        }
        // our runtimes: the probes ask the HTTP endpoint the process serves; its ports are declared
        for (PodTemplateSpec t : templates) {
            for (Container c : t.getSpec().getContainers()) {
                if (!IMAGE.equals(c.getImage())) {
                    continue;
                }
                for (Probe probe : List.of(c.getReadinessProbe(), c.getLivenessProbe())) {
                    assertNotNull(probe, c.getName() + " has a readiness and a liveness probe");
                    ContainerPort p = named(c, probe.getHttpGet().getPort());
                    assertEquals(port(arg(c, "--http-endpoint").orElseThrow()), p.getContainerPort(), c.getName());
                    // the liveness check gives the reactors 2 s to answer; kubelet's default timeout is 1 s
                    assertTrue(probe.getTimeoutSeconds() != null && probe.getTimeoutSeconds() >= 3,
                            c.getName() + ": a probe's timeout longer than the reactors' 2 s: " + probe.getTimeoutSeconds());
                }
                assertEquals(String.valueOf(port(arg(c, "--http-endpoint").orElseThrow())),
                        t.getMetadata().getAnnotations().get("prometheus.io/port"), c.getName() + ": Prometheus scrapes /metrics there");
                assertEquals("/metrics", t.getMetadata().getAnnotations().get("prometheus.io/path"));
                Long grace = t.getSpec().getTerminationGracePeriodSeconds();
                assertTrue(grace != null && grace > 50, c.getName() + ": the pod's grace (" + grace
                        + " s) outlasts the runtime's own stop (50 s), or the kubelet kills it mid-stop");
                assertEquals("/readyz", c.getReadinessProbe().getHttpGet().getPath());
                assertEquals("/healthz", c.getLivenessProbe().getHttpGet().getPath());
                arg(c, "--grpc-endpoint").ifPresent(grpc -> {
                    if (c.getPorts().stream().anyMatch(p -> p.getName().equals("grpc"))) {
                        assertEquals(port(grpc), named(c, new IntOrString("grpc")).getContainerPort(), c.getName());
                    }
                    // review finding: the API listens on the pod IP only, and `mayastor ctl` in the pod asked loopback
                    String cli = c.getArgs().get(0).equals("control") ? "MAYASTOR_CONTROL" : "MAYASTOR_NODE";
                    String told = c.getEnv().stream().filter(e -> e.getName().equals(cli)).map(e -> expand(c, e.getValue()))
                            .findFirst().orElseThrow(() -> new AssertionError(c.getName() + ": no " + cli + " for ctl"));
                    assertEquals(grpc, told, c.getName());
                });
            }
        }
        // the addresses the runtimes are given are the Services', without the cluster's DNS domain (not
        // always cluster.local: the pods' search paths complete it)
        Service nats = one("nats-deployment.yaml", Service.class, "nats");
        Service moac = one("moac-deployment.yaml", Service.class, "moac");
        // JetStream recovers its store before /healthz answers: a liveness probe alone restarted a large one in a loop
        StatefulSet natsSet = one("nats-deployment.yaml", StatefulSet.class, "nats");
        Container natsServer = natsSet.getSpec().getTemplate().getSpec().getContainers().get(0);
        Probe startup = natsServer.getStartupProbe();
        assertNotNull(startup, "nats has a startup probe before its liveness probe");
        assertTrue(startup.getHttpGet().getPath().startsWith("/healthz"), startup.getHttpGet().getPath());
        assertTrue(startup.getPeriodSeconds() * startup.getFailureThreshold() >= 120, "nats gets minutes to recover its store");
        // review finding: one NATS server on an emptyDir took every nexus record with the node it died with, and
        // the volumes whose nexus died there too could not switch over. Three, each route naming all three
        // pods through the headless Service, and the nodes keep the bucket on as many
        int servers = natsSet.getSpec().getReplicas();
        assertEquals(3, servers);
        assertEquals("Parallel", natsSet.getSpec().getPodManagementPolicy(), "the first does not wait for the others to be ready");
        Service routes = one("nats-deployment.yaml", Service.class, natsSet.getSpec().getServiceName());
        assertEquals("None", routes.getSpec().getClusterIP(), "headless: a name per pod");
        assertTrue(routes.getSpec().getPublishNotReadyAddresses(), "routes resolve before the servers are ready");
        String routeList = natsServer.getArgs().get(natsServer.getArgs().indexOf("--routes") + 1);
        for (int i = 0; i < servers; i++) {
            assertTrue(routeList.contains("nats://nats-" + i + "." + routes.getMetadata().getName() + ".mayastor.svc:"
                    + routes.getSpec().getPorts().get(0).getPort()), routeList);
        }
        assertTrue(config("mayastor-daemonset.yaml", "mayastor-config", "node.properties")
                .contains("nats.replicas=" + servers + "\n"));
        // review finding on the above: two servers that came back empty one right after the other lost the bucket.
        // Ready means caught up (a rollout waits for it), one down at a time, and the store on the node's disk
        assertEquals("/healthz", natsServer.getReadinessProbe().getHttpGet().getPath(), "ready once JetStream is current");
        io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget pdb = one("nats-deployment.yaml",
                io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget.class, "nats");
        assertEquals(1, pdb.getSpec().getMaxUnavailable().getIntVal());
        assertEquals(natsSet.getSpec().getSelector().getMatchLabels(), pdb.getSpec().getSelector().getMatchLabels());
        assertNotNull(volume(natsSet.getSpec().getTemplate().getSpec(), "data").getEmptyDir(),
                "the pod's own: a server made again never finds an older copy of its store");
        assertTrue(nats.getSpec().getPublishNotReadyAddresses(), "a server without JetStream's quorum still takes registrations");
        assertTrue(config("mayastor-daemonset.yaml", "mayastor-config", "node.properties")
                .contains("nats.url=nats://nats.mayastor.svc:" + nats.getSpec().getPorts().get(0).getPort() + "\n"));
        assertTrue(config("moac-deployment.yaml", "moac-config", "control.properties")
                .contains("nats=nats://nats.mayastor.svc:" + nats.getSpec().getPorts().get(0).getPort() + "\n"));
        Container csi = container(one("csi-daemonset.yaml", DaemonSet.class, "mayastor-csi").getSpec().getTemplate().getSpec(),
                "mayastor-csi");
        assertEquals("moac.mayastor.svc:" + moac.getSpec().getPorts().get(0).getPort(),
                arg(csi, "--control-endpoint").orElseThrow());
    }

    private static Map<String, String> subset(Map<String, String> labels, Map<String, String> keys) {
        Map<String, String> out = new LinkedHashMap<>();
        keys.keySet().forEach(k -> {
            if (labels.containsKey(k)) {
                out.put(k, labels.get(k));
            }
        });
        return out;
    }

    private String config(String file, String name, String key) {
        String data = one(file, ConfigMap.class, name).getData().get(key);
        assertNotNull(data, file + ": ConfigMap " + name + " has no " + key);
        return data;
    }

    @Test
    void theDataPlaneRunsOnLabelledNodesWithHugepagesAndTheHostsDevices() {
        DaemonSet ds = one("mayastor-daemonset.yaml", DaemonSet.class, "mayastor");
        PodSpec pod = ds.getSpec().getTemplate().getSpec();
        assertEquals("mayastor", pod.getNodeSelector().get("openebs.io/engine"));
        Container node = container(pod, "mayastor");
        assertEquals("1Gi", node.getResources().getLimits().get("hugepages-2Mi").toString());
        // review finding: the buffer pool (hugepages' only user) took 512 MiB of the 1 GiB reserved, the rest pinned idle
        assertTrue(config("mayastor-daemonset.yaml", "mayastor-config", "node.properties").contains("\nbuffers.mb=1024\n"));
        // the design's ports: replicas on 8420, the volumes (nexus frontends) hosts connect to on 4421
        String settings = config("mayastor-daemonset.yaml", "mayastor-config", "node.properties");
        assertTrue(settings.contains("\nnvmf.port=8420\n") && settings.contains("\nnvmf.nexus.port=4421\n"), settings);
        assertEquals(java.util.Map.of("nvmf", 8420, "nvmf-nexus", 4421), node.getPorts().stream()
                .filter(p -> p.getName().startsWith("nvmf")).collect(java.util.stream.Collectors.toMap(
                        io.fabric8.kubernetes.api.model.ContainerPort::getName,
                        io.fabric8.kubernetes.api.model.ContainerPort::getContainerPort)));
        assertTrue(node.getSecurityContext().getPrivileged());
        assertTrue(pod.getHostNetwork());
        assertEquals("/dev", volume(pod, "device").getHostPath().getPath());
        assertEquals("/dev", mount(node, "device").getMountPath());
        assertEquals("HugePages", volume(pod, "hugepage").getEmptyDir().getMedium());
    }

    /**
     * Review finding: the image is built for one architecture (the build machine's JDK and tools),
     * and only the storage nodes' DaemonSet said so: on an arm64 node the CSI plugin crash-looped and
     * no pod there could mount a volume. Every pod running our image selects amd64.
     */
    @Test
    void everyPodRunningOurImageSelectsItsArchitecture() {
        int pods = 0;
        for (Map.Entry<String, List<HasMetadata>> file : files.entrySet()) {
            for (HasMetadata item : file.getValue()) {
                PodSpec pod = item instanceof DaemonSet ds ? ds.getSpec().getTemplate().getSpec()
                        : item instanceof io.fabric8.kubernetes.api.model.apps.Deployment d ? d.getSpec().getTemplate().getSpec()
                        : null;
                if (pod != null && pod.getContainers().stream().anyMatch(c -> c.getImage().startsWith("docker.io/mayastorj/"))) {
                    pods++;
                    assertEquals("amd64", pod.getNodeSelector() == null ? null : pod.getNodeSelector().get("kubernetes.io/arch"),
                            file.getKey() + ": " + item.getMetadata().getName());
                }
            }
        }
        assertEquals(3, pods, "the storage nodes, the CSI node plugin and the control plane");
    }

    /**
     * Every container that runs one of our runtimes: its image is ours, and its command line with
     * its ConfigMap is what that runtime accepts (the same code that reads them at start-up).
     */
    @Test
    void ourContainersSettingsAreOnesOurRuntimesAccept() throws Exception {
        Map<String, BiFunction<Path, Map<String, String>, RuntimeSettings>> runtimes = Map.of(
                "node", NodeSettings::load, "control", ControlSettings::load, "csi-node", CsiNodeSettings::load);
        int checked = 0;
        Path work = Scratch.dir("mayastor-manifests");
        for (Deployment d : all(Deployment.class)) {
            checked += checkSettings(d.getSpec().getTemplate().getSpec(), d.getMetadata().getName(), runtimes, work);
        }
        for (DaemonSet d : all(DaemonSet.class)) {
            checked += checkSettings(d.getSpec().getTemplate().getSpec(), d.getMetadata().getName(), runtimes, work);
        }
        assertEquals(3, checked, "the control plane, the CSI node plugin and the data plane");
    }

    private int checkSettings(PodSpec pod, String workload, Map<String, BiFunction<Path, Map<String, String>, RuntimeSettings>> runtimes,
                              Path work) throws Exception {
        int checked = 0;
        for (Container c : pod.getContainers()) {
            if (c.getCommand() == null || !c.getCommand().equals(List.of(MAYASTOR))) {
                assertFalse(c.getImage().startsWith("mayastorj/"), workload + "/" + c.getName() + " runs our image without our command");
                continue;
            }
            assertEquals(IMAGE, c.getImage(), workload + "/" + c.getName());
            String runtime = c.getArgs().get(0);
            assertTrue(runtimes.containsKey(runtime), workload + ": runtime " + runtime);
            Map<String, String> flags = new LinkedHashMap<>();
            List<String> args = c.getArgs().subList(1, c.getArgs().size());
            for (int i = 0; i < args.size(); i += 2) {
                assertTrue(args.get(i).startsWith("--") && i + 1 < args.size(), workload + ": " + args);
                flags.put(args.get(i).substring(2), expand(c, args.get(i + 1)));
            }
            Path configFile = null;
            String config = flags.remove("config");
            if (config != null) {
                // the ConfigMap mounted at the file's directory, its key the file's name
                String dir = config.substring(0, config.lastIndexOf('/'));
                VolumeMount m = c.getVolumeMounts().stream().filter(v -> v.getMountPath().replaceFirst("/$", "").equals(dir))
                        .findFirst().orElseThrow(() -> new AssertionError(workload + ": nothing mounted at " + dir));
                String map = volume(pod, m.getName()).getConfigMap().getName();
                String text = all(ConfigMap.class).stream().filter(cm -> cm.getMetadata().getName().equals(map)).findFirst()
                        .orElseThrow(() -> new AssertionError(workload + ": no ConfigMap " + map)).getData()
                        .get(config.substring(dir.length() + 1));
                assertNotNull(text, workload + ": ConfigMap " + map + " has no " + config);
                configFile = work.resolve(workload + ".properties");
                Files.writeString(configFile, text);
            }
            flags.put("state-dir", work.resolve(workload).toString()); // the host path is not here; the rest is as written
            RuntimeSettings settings = runtimes.get(runtime).apply(configFile, flags);
            if (!runtime.equals("control")) {
                assertEquals("node-1", settings.id(), workload + ": the node's name is the Kubernetes node's");
            }
            checked++;
        }
        return checked;
    }
}
