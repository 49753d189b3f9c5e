package io.mayastorj.plugins.nbd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import io.mayastorj.core.bdev.BlockDevice;
import java.io.InputStream;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.jar.JarFile;
import java.util.jar.Manifest;
import org.junit.jupiter.api.Test;

/** The plugin promise: this bundle imports nothing of core that core does not export, and exports nothing itself. */
class ManifestTest {

    /** Package names of an OSGi header, without attributes (commas inside quotes are not separators). */
    static Set<String> packages(String header) {
        Set<String> names = new TreeSet<>();
        if (header == null) {
            return names;
        }
        List<String> clauses = new ArrayList<>();
        StringBuilder current = new StringBuilder();
        boolean quoted = false;
        for (char ch : header.toCharArray()) {
            if (ch == '"') {
                quoted = !quoted;
            }
            if (ch == ',' && !quoted) {
                clauses.add(current.toString());
                current.setLength(0);
            } else {
                current.append(ch);
            }
        }
        clauses.add(current.toString());
        for (String clause : clauses) {
            names.add(clause.split(";")[0].strip());
        }
        return names;
    }

    @Test
    void importsOnlyWhatCoreExports() throws Exception {
        Manifest plugin;
        try (InputStream in = Files.newInputStream(Path.of("target/classes/META-INF/MANIFEST.MF"))) {
            plugin = new Manifest(in);
        }
        URL coreJar = BlockDevice.class.getProtectionDomain().getCodeSource().getLocation();
        Set<String> coreExports;
        try (JarFile jar = new JarFile(Path.of(coreJar.toURI()).toFile())) {
            coreExports = packages(jar.getManifest().getMainAttributes().getValue("Export-Package"));
        }
        assertFalse(coreExports.isEmpty(), "core exports its SPI");
        Set<String> imports = packages(plugin.getMainAttributes().getValue("Import-Package"));
        Set<String> foreign = new TreeSet<>();
        for (String p : imports) {
            if (!p.startsWith("java.") && !p.startsWith("org.osgi.") && !coreExports.contains(p)) {
                foreign.add(p);
            }
        }
        assertEquals(Set.of(), foreign, "imports beyond core's exported SPI");
        assertNotNull(plugin.getMainAttributes().getValue("Bundle-SymbolicName"));
        assertEquals(null, plugin.getMainAttributes().getValue("Export-Package"), "a transport plugin exports nothing");
    }
}
