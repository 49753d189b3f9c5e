package io.mayastorj.itests;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The plugin kit as a third party meets it: {@code plugins/skeleton} copied out of the repository
 * and built there with Maven offline (against core in the local repository, where the project's
 * build installs it), its jar dropped into a running node, a file bdev shared over its protocol and
 * read back with curl; then the same plugin unable to start (its port taken) and its share saying so.
 */
class PluginSkeletonTest {

    private static final Path ROOT = Path.of(System.getProperty("mayastor.root", "..")).toAbsolutePath().normalize();

    private static int freePort() throws IOException {
        return DistributionTest.freePort("127.0.0.1");
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> files = Files.walk(from)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                Path rel = from.relativize(p);
                if (rel.startsWith("target")) {
                    continue;
                }
                Files.copy(p, to.resolve(rel.toString()));
            }
        }
    }

    private static byte[] curl(String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of("curl", "--silent", "--show-error", "--fail", "--max-time", "30"));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), String.join(" ", command));
        return out;
    }

    /** Builds the copy as its README says: {@code mvn -o package}, with this JDK. */
    private static Path build(Path project) throws Exception {
        List<String> command = new ArrayList<>(List.of("mvn", "-o", "-B", "-q", "-Dstyle.color=never", "package"));
        String repo = System.getProperty("maven.repo.local");
        if (repo != null) {
            command.add("-Dmaven.repo.local=" + repo);
        }
        ProcessBuilder pb = new ProcessBuilder(command).directory(project.toFile()).redirectErrorStream(true)
                .redirectOutput(project.resolve("build.log").toFile());
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        if (Runtime.version().feature() >= 23) {
            pb.environment().put("MAVEN_OPTS", "--sun-misc-unsafe-memory-access=allow");
        }
        Process p = pb.start();
        assertTrue(p.waitFor(5, TimeUnit.MINUTES), "the build took over 5 minutes");
        assertEquals(0, p.exitValue(), "mvn -o package in a copy of plugins/skeleton:\n" + Files.readString(project.resolve("build.log")));
        Path report = project.resolve("target/surefire-reports/TEST-com.example.mayastor.http.HttpTransportTest.xml");
        String xml = Files.readString(report);
        assertTrue(xml.contains("tests=\"3\"") && xml.contains("failures=\"0\"") && xml.contains("errors=\"0\""), "its unit test ran:\n" + xml);
        return project.resolve("target/transport-skeleton-1.0.0-SNAPSHOT.jar");
    }

    @Test
    void theSkeletonBuildsOutsideTheRepositoryDeploysAndServes() throws Exception {
        assumeTrue(Mayastor.have("mvn") && Mayastor.have("curl"), "maven and curl are needed");
        Path work = Scratch.dir("mayastor-skeleton");
        Path project = work.resolve("my-transport");
        copyTree(ROOT.resolve("plugins/skeleton"), project);
        Path jar = build(project);
        assertTrue(Files.isRegularFile(jar), jar.toString());

        Path plugins = work.resolve("plugins");
        Files.createDirectories(plugins);
        byte[] data = new byte[4 << 20];
        new Random(7).nextBytes(data);
        Path disk = work.resolve("disk.img");
        Files.write(disk, data);
        String endpoint = "127.0.0.1:" + freePort();
        int port = freePort();
        try (Mayastor.NodeProcess node = new Mayastor.NodeProcess("--node-id", "kit", "--grpc-endpoint", endpoint,
                "--state-dir", work.resolve("state").toString(), "--buffers-mb", "64", "--plugins-dir", plugins.toString(),
                "--nvmf-port", String.valueOf(freePort()), "--iscsi-port", String.valueOf(freePort()),
                "--nvmf-nexus-port", String.valueOf(freePort()))) {
            assertNotNull(node.await(l -> l.startsWith("mayastor node kit ready"), 60), node.output());
            Files.writeString(plugins.resolve("com.example.mayastor.http.cfg"), "http.port = " + port + "\n");
            Files.copy(jar, plugins.resolve("my-transport.jar"));
            assertNotNull(node.await(l -> l.contains("plugin com.example.mayastor.http 1.0.0.") && l.contains(" installed from my-transport.jar"), 20), node.output());
            assertNotNull(node.await(l -> l.contains("http server listening on 127.0.0.1:" + port), 20), node.output());

            String name = "aio://" + disk;
            assertEquals(0, Mayastor.run("ctl", "--node", endpoint, "bdev", "create", name).exit());
            Mayastor.Result shared = Mayastor.run("ctl", "--node", endpoint, "bdev", "share", disk.toString(), "--protocol", "http");
            assertEquals(0, shared.exit(), shared.err());
            String url = shared.out().strip();
            assertEquals("http://127.0.0.1:" + port + "/" + disk, url);
            assertArrayEquals(data, curl(url), "the whole bdev");
            assertArrayEquals(Arrays.copyOfRange(data, 1000, 2_000_001), curl("--range", "1000-2000000", url), "a range");

            // the same plugin unable to start: its port taken by someone else
            try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
                Files.writeString(plugins.resolve("com.example.mayastor.http.cfg"), "http.port = " + taken.getLocalPort() + "\n");
                String reason = "the http transport failed to start: the http server cannot listen on 127.0.0.1:"
                        + taken.getLocalPort() + ": Address already in use";
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                String listed = "";
                while (System.nanoTime() < deadline && !listed.contains(reason)) {
                    Thread.sleep(200);
                    listed = Mayastor.run("ctl", "--node", endpoint, "bdev", "list", disk.toString()).out();
                }
                assertTrue(listed.contains("failed: " + reason), listed + "\n" + node.output());
                String shares = Mayastor.run("shell", "--node", endpoint, "mayastor:shares").out();
                assertTrue(shares.contains("FAILED") && shares.contains(reason), shares);
                assertEquals(0, Mayastor.run("ctl", "--node", endpoint, "bdev", "create", "malloc:///m1?size_mb=4").exit());
                Mayastor.Result refused = Mayastor.run("ctl", "--node", endpoint, "bdev", "share", "m1", "--protocol", "http");
                assertEquals(1, refused.exit());
                assertTrue(refused.err().contains(reason), refused.err());
            }

            // settings it can start with again: the share comes back by itself
            Files.writeString(plugins.resolve("com.example.mayastor.http.cfg"), "http.port = " + port + "\n");
            assertNotNull(node.await(l -> l.contains("re-shared " + disk + " over http: " + url), 20), node.output());
            assertArrayEquals(Arrays.copyOfRange(data, 0, 4096), curl("--range", "0-4095", url));
        }
    }
}
