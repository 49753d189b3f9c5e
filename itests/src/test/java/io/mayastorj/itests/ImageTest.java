package io.mayastorj.itests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The node image of deploy/ (mayastorj/mayastor), built the documented way —
 * distribution/build-image.sh: debootstrap, jlink, buildah, an OCI archive — and smoke-tested by the
 * script itself: a node run from the archive's own files (chrooted) answers `ctl node info`, and the
 * tools the CSI node plugin runs are there. Needs root and Debian's mirror (the base is cached in
 * ~/.cache/mayastor-image after the first build).
 */
class ImageTest {

    @Test
    void theImageBuildsAndANodeRunsFromIt() throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")), "building the image needs root");
        Path out = Scratch.dir("mayastor-image").resolve("mayastor-image.img"); // .img: removed even when the test fails
        long start = System.nanoTime();
        Process build = new ProcessBuilder(Path.of("..", "distribution", "build-image.sh").toString(), out.toString())
                .redirectErrorStream(true).start();
        String output = new String(build.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(build.waitFor(15, TimeUnit.MINUTES), output);
        System.out.printf("ImageTest: build-image.sh in %.0f s:%n%s", (System.nanoTime() - start) / 1e9, output);
        assertEquals(0, build.exitValue(), output);
        assertTrue(output.contains("docker.io/mayastorj/mayastor:0.1.0, "), output);
        assertTrue(output.contains("node       image-smoke\n"), output);
        assertTrue(output.contains("\n== smoke test passed\n"), output);
        assertTrue(Files.size(out) > 50L << 20, "an archive of " + Files.size(out) + " bytes");
    }
}
