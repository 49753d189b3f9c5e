package io.mayastorj.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.jar.Manifest;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Semantic versioning of the exported SPI, checked against {@code spi-baseline.txt} (the exported
 * packages as last recorded: each with its version and the signature of every public and protected
 * type and member). Plugins import a package at {@code [recorded version, next major)}, so:
 * removing or changing anything needs a new major version, adding needs a new minor, and a package
 * whose signatures did not change may keep its version. A change whose versions are right is then
 * recorded with {@code -Dspi.baseline.update=true}, so the next one is checked against it.
 */
class SpiBaselineTest {

    private static final Path BASELINE = Path.of("spi-baseline.txt");
    private static final Path CLASSES = Path.of("target/classes");

    /** Package name → "version" and its signatures. */
    record Api(String version, Set<String> signatures) {
    }

    @Test
    void exportedPackagesChangeOnlyAsTheirVersionsSay() throws Exception {
        Map<String, Api> now = current();
        assertFalse(now.isEmpty(), "core exports its SPI");
        String written = render(now);
        if (Boolean.getBoolean("spi.baseline.update")) {
            Map<String, Api> before = Files.exists(BASELINE) ? parse(Files.readString(BASELINE)) : Map.of();
            List<String> wrong = compare(before, now);
            if (!wrong.isEmpty()) {
                fail("not recorded; the versions are wrong:\n" + String.join("\n", wrong));
            }
            Files.writeString(BASELINE, written);
            return;
        }
        Map<String, Api> before = parse(Files.readString(BASELINE));
        List<String> wrong = compare(before, now);
        if (!wrong.isEmpty()) {
            fail("the exported SPI changed without the version it needs (@Version in the package's package-info.java):\n"
                    + String.join("\n", wrong));
        }
        assertEquals(Files.readString(BASELINE), written, "the exported SPI changed and its versions say so; record it: "
                + "mvn -o test -pl bundles/core -Dtest=SpiBaselineTest -Dspi.baseline.update=true, and commit bundles/core/spi-baseline.txt");
    }

    @Test
    void theRulesCatchWhatTheyShould() {
        Map<String, Api> before = Map.of("p", new Api("1.2.0", Set.of("p.A#m()", "p.A#n()")));
        assertEquals(List.of(), compare(before, Map.of("p", new Api("1.2.0", Set.of("p.A#m()", "p.A#n()")))));
        assertEquals(List.of(), compare(before, Map.of("p", new Api("1.2.1", Set.of("p.A#m()", "p.A#n()")))));
        assertEquals(List.of("p 1.2.0 -> 1.2.1 adds p.A#o(): it needs 1.3.0"),
                compare(before, Map.of("p", new Api("1.2.1", Set.of("p.A#m()", "p.A#n()", "p.A#o()")))));
        assertEquals(List.of(), compare(before, Map.of("p", new Api("1.3.0", Set.of("p.A#m()", "p.A#n()", "p.A#o()")))));
        assertEquals(List.of("p 1.2.0 -> 1.3.0 removes or changes p.A#n(): it needs 2.0.0"),
                compare(before, Map.of("p", new Api("1.3.0", Set.of("p.A#m()")))));
        assertEquals(List.of(), compare(before, Map.of("p", new Api("2.0.0", Set.of("p.A#m()")))));
        assertEquals(List.of("p 1.2.0 is no longer exported"), compare(before, Map.of()));
        assertEquals(List.of("p 1.2.0 -> 1.1.0: a version never goes down"),
                compare(before, Map.of("p", new Api("1.1.0", Set.of("p.A#m()", "p.A#n()")))));
    }

    static List<String> compare(Map<String, Api> before, Map<String, Api> now) {
        List<String> wrong = new ArrayList<>();
        for (Map.Entry<String, Api> e : new TreeMap<>(before).entrySet()) {
            String pkg = e.getKey();
            Api was = e.getValue();
            Api is = now.get(pkg);
            if (is == null) {
                wrong.add(pkg + " " + was.version() + " is no longer exported");
                continue;
            }
            int[] v0 = version(was.version());
            int[] v1 = version(is.version());
            String change = pkg + " " + was.version() + " -> " + is.version();
            if (Arrays.compare(v1, v0) < 0) {
                wrong.add(change + ": a version never goes down");
                continue;
            }
            Set<String> removed = new TreeSet<>(was.signatures());
            removed.removeAll(is.signatures());
            Set<String> added = new TreeSet<>(is.signatures());
            added.removeAll(was.signatures());
            if (!removed.isEmpty() && v1[0] == v0[0]) {
                wrong.add(change + " removes or changes " + String.join(", ", removed) + ": it needs " + (v0[0] + 1) + ".0.0");
            } else if (!added.isEmpty() && v1[0] == v0[0] && v1[1] == v0[1]) {
                wrong.add(change + " adds " + String.join(", ", added) + ": it needs " + v0[0] + "." + (v0[1] + 1) + ".0");
            }
        }
        return wrong;
    }

    private static int[] version(String v) {
        String[] parts = v.split("\\.");
        return new int[] {Integer.parseInt(parts[0]), parts.length > 1 ? Integer.parseInt(parts[1]) : 0, parts.length > 2 ? Integer.parseInt(parts[2]) : 0};
    }

    // ------------------------------------------------------------------ the exported API now

    /** The packages bnd exported (from the manifest it wrote) and their signatures, from the compiled classes. */
    static Map<String, Api> current() throws IOException, ClassNotFoundException {
        Manifest m;
        try (InputStream in = Files.newInputStream(CLASSES.resolve("META-INF/MANIFEST.MF"))) {
            m = new Manifest(in);
        }
        Map<String, Api> apis = new TreeMap<>();
        Matcher clause = Pattern.compile("([\\w.]+);version=\"([\\d.]+)\"").matcher(m.getMainAttributes().getValue("Export-Package"));
        while (clause.find()) {
            String pkg = clause.group(1);
            Set<String> signatures = new TreeSet<>();
            try (Stream<Path> files = Files.list(CLASSES.resolve(pkg.replace('.', '/')))) {
                for (Path f : files.filter(p -> p.toString().endsWith(".class")).sorted().toList()) {
                    String name = f.getFileName().toString().replace(".class", "");
                    if (name.equals("package-info")) {
                        continue;
                    }
                    Class<?> type = Class.forName(pkg + "." + name, false, SpiBaselineTest.class.getClassLoader());
                    if (visible(type)) {
                        signatures.addAll(signatures(type));
                    }
                }
            }
            apis.put(pkg, new Api(clause.group(2), signatures));
        }
        return apis;
    }

    private static boolean visible(Class<?> type) {
        for (Class<?> t = type; t != null; t = t.getEnclosingClass()) {
            if (t.isAnonymousClass() || t.isLocalClass() || t.isSynthetic() || !(Modifier.isPublic(t.getModifiers())
                    || Modifier.isProtected(t.getModifiers()))) {
                return false;
            }
        }
        return true;
    }

    private static boolean visible(int modifiers) {
        return Modifier.isPublic(modifiers) || Modifier.isProtected(modifiers);
    }

    private static List<String> signatures(Class<?> type) {
        List<String> s = new ArrayList<>();
        String kind = type.isAnnotation() ? "@interface" : type.isInterface() ? "interface" : type.isEnum() ? "enum"
                : type.isRecord() ? "record" : "class";
        int mods = type.getModifiers() & (Modifier.FINAL | Modifier.ABSTRACT | Modifier.STATIC | Modifier.PROTECTED);
        if (type.isInterface()) {
            mods &= ~Modifier.ABSTRACT;
        }
        List<String> supers = new ArrayList<>();
        if (type.getSuperclass() != null && type.getSuperclass() != Object.class && !type.isEnum() && !type.isRecord()) {
            supers.add(type.getSuperclass().getName());
        }
        Arrays.stream(type.getInterfaces()).map(Class::getName).sorted().forEach(supers::add);
        s.add(type.getName() + ": " + (Modifier.toString(mods) + " " + kind).strip() + (supers.isEmpty() ? "" : " : " + String.join(", ", supers)));
        for (Constructor<?> c : type.getDeclaredConstructors()) {
            if (visible(c.getModifiers()) && !c.isSynthetic() && !type.isEnum()) {
                s.add(type.getName() + "#<init>(" + params(c.getParameterTypes()) + ")" + modifiers(c.getModifiers() & Modifier.PROTECTED));
            }
        }
        for (Method method : type.getDeclaredMethods()) {
            if (visible(method.getModifiers()) && !method.isSynthetic() && !method.isBridge()) {
                int mm = method.getModifiers() & (Modifier.STATIC | Modifier.FINAL | Modifier.ABSTRACT | Modifier.PROTECTED);
                if (type.isInterface()) {
                    mm &= ~Modifier.ABSTRACT;
                }
                s.add(type.getName() + "#" + method.getName() + "(" + params(method.getParameterTypes()) + "): "
                        + method.getReturnType().getTypeName() + modifiers(mm) + (method.isDefault() ? " default" : ""));
            }
        }
        for (Field f : type.getDeclaredFields()) {
            if (visible(f.getModifiers()) && !f.isSynthetic()) {
                s.add(type.getName() + "." + f.getName() + ": " + f.getType().getTypeName()
                        + modifiers(f.getModifiers() & (Modifier.STATIC | Modifier.FINAL | Modifier.PROTECTED)));
            }
        }
        return s;
    }

    private static String params(Class<?>[] types) {
        return Arrays.stream(types).map(Class::getTypeName).collect(Collectors.joining(","));
    }

    private static String modifiers(int m) {
        return m == 0 ? "" : " " + Modifier.toString(m);
    }

    // ------------------------------------------------------------------ the file

    static String render(Map<String, Api> apis) {
        StringBuilder b = new StringBuilder("# The exported SPI as last recorded by SpiBaselineTest: a package per [section], its version, its signatures.\n");
        apis.forEach((pkg, api) -> {
            b.append('\n').append('[').append(pkg).append(' ').append(api.version()).append("]\n");
            api.signatures().forEach(sig -> b.append(sig).append('\n'));
        });
        return b.toString();
    }

    static Map<String, Api> parse(String text) {
        Map<String, Api> apis = new TreeMap<>();
        String pkg = null;
        String version = null;
        Set<String> signatures = null;
        for (String line : text.lines().toList()) {
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            if (line.startsWith("[")) {
                if (pkg != null) {
                    apis.put(pkg, new Api(version, signatures));
                }
                String[] header = line.substring(1, line.length() - 1).split(" ");
                pkg = header[0];
                version = header[1];
                signatures = new TreeSet<>();
            } else {
                signatures.add(line);
            }
        }
        if (pkg != null) {
            apis.put(pkg, new Api(version, signatures));
        }
        return apis;
    }
}
