package io.mayastorj.control.internal.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceColumnDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinitionVersion;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The CRDs in {@code deploy/crds/} are what the model classes generate (fabric8's crd-generator,
 * run at build into {@code target/crds}), with one correction: the generator sorts printer columns
 * by JSON path, and kubectl shows them in CRD order, so they are put back in the order the classes
 * declare them (the seed's NAME NODE STATE AGE, ...). A model change without the YAML fails here;
 * {@code -Dcrds.update} rewrites the committed files.
 */
class CrdTest {

    private static final Path GENERATED = Path.of("target/crds");
    private static final Path COMMITTED = Path.of("../../deploy/crds");
    private static final String HEADER = """
            # Generated from io.mayastorj.control.internal.model by fabric8's crd-generator; do not edit.
            # After a model change: mvn -pl bundles/control test -Dtest=CrdTest -Dcrds.update
            """;

    private final KubernetesSerialization serialization = new KubernetesSerialization();

    /** The CRD as it is deployed: the generator's, columns in declaration order. */
    private String expected(Kinds.Kind kind) throws Exception {
        Path generated = GENERATED.resolve(kind.plural() + "." + Kinds.GROUP + "-v1.yml");
        assertTrue(Files.exists(generated), generated + " is made by the build (crd-generator-maven-plugin)");
        CustomResourceDefinition crd = serialization.unmarshal(Files.readString(generated), CustomResourceDefinition.class);
        List<String> declared = Arrays.stream(kind.type().getAnnotationsByType(AdditionalPrinterColumn.class))
                .map(AdditionalPrinterColumn::name).toList();
        for (CustomResourceDefinitionVersion v : crd.getSpec().getVersions()) {
            List<CustomResourceColumnDefinition> columns = new ArrayList<>(v.getAdditionalPrinterColumns());
            columns.sort((a, b) -> Integer.compare(declared.indexOf(a.getName()), declared.indexOf(b.getName())));
            v.setAdditionalPrinterColumns(columns);
        }
        return HEADER + serialization.asYaml(crd);
    }

    @Test
    void committedCrdsAreWhatTheModelGenerates() throws Exception {
        boolean update = System.getProperty("crds.update") != null;
        List<String> stale = new ArrayList<>();
        for (Kinds.Kind kind : Kinds.ALL) {
            Path committed = COMMITTED.resolve(kind.plural() + ".yaml");
            String expected = expected(kind);
            if (update) {
                Files.createDirectories(COMMITTED);
                Files.writeString(committed, expected, StandardCharsets.UTF_8);
            } else if (!Files.exists(committed) || !Files.readString(committed, StandardCharsets.UTF_8).equals(expected)) {
                stale.add(committed.normalize().toString());
            }
        }
        assertEquals(List.of(), stale, "the committed CRDs differ from the model; "
                + "rewrite them with: mvn -pl bundles/control test -Dtest=CrdTest -Dcrds.update");
    }

    @Test
    void kindsShortNamesColumnsAndStatusAreTheSeeds() throws Exception {
        record Want(Kinds.Kind kind, List<String> columns) {
        }
        for (Want want : List.of(new Want(Kinds.NODE, List.of("State", "Age")),
                new Want(Kinds.POOL, List.of("Node", "State", "Age")),
                new Want(Kinds.VOLUME, List.of("Targets", "Size", "State", "Age")))) {
            CustomResourceDefinition crd = serialization.unmarshal(expected(want.kind()), CustomResourceDefinition.class);
            assertEquals(want.kind().plural() + ".openebs.io", crd.getMetadata().getName());
            assertEquals("Namespaced", crd.getSpec().getScope());
            assertEquals(List.of(want.kind().shortName()), crd.getSpec().getNames().getShortNames());
            assertEquals(want.kind().kind(), crd.getSpec().getNames().getKind());
            CustomResourceDefinitionVersion v = crd.getSpec().getVersions().get(0);
            assertEquals("v1alpha1", v.getName());
            assertTrue(v.getServed() && v.getStorage());
            assertNotNull(v.getSubresources().getStatus(), "status is a subresource");
            assertEquals(want.columns(), v.getAdditionalPrinterColumns().stream()
                    .filter(c -> c.getPriority() == null || c.getPriority() == 0)
                    .map(CustomResourceColumnDefinition::getName).toList(), "the columns kubectl get shows");
        }
    }

    @Test
    void theVolumeSchemaValidatesWhatTheApiServerCan() throws Exception {
        CustomResourceDefinition crd = serialization.unmarshal(expected(Kinds.VOLUME), CustomResourceDefinition.class);
        var spec = crd.getSpec().getVersions().get(0).getSchema().getOpenAPIV3Schema().getProperties().get("spec");
        assertEquals(List.of("replicaCount", "requiredBytes"), spec.getRequired());
        assertEquals(1.0, spec.getProperties().get("replicaCount").getMinimum());
        assertEquals(1.0, spec.getProperties().get("requiredBytes").getMinimum());
        assertEquals("^(nvmf|iscsi|none)$", spec.getProperties().get("protocol").getPattern());
    }
}
