package io.mayastorj.itests;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterTestExecutionCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Work directories of integration tests. They hold multi-GiB pool images (thick replicas are
 * zeroed, so they really take the space), and a suite that leaves them behind fills the disk of
 * the machine it runs on. Every directory made here is removed after its test class (the
 * extension is registered by auto-detection for every class); when the class failed, the logs
 * and state stay for a person to read and only the disk images go.
 */
public final class Scratch implements AfterTestExecutionCallback, AfterAllCallback {

    private static final List<Path> DIRS = new ArrayList<>();
    private static volatile boolean failed;

    /** A new empty directory under the system's temporary directory, removed after the class. */
    public static Path dir(String prefix) throws IOException {
        Path dir = Files.createTempDirectory(prefix);
        synchronized (DIRS) {
            DIRS.add(dir);
        }
        return dir;
    }

    @Override
    public void afterTestExecution(ExtensionContext context) {
        if (context.getExecutionException().isPresent()) {
            failed = true;
        }
    }

    @Override
    public void afterAll(ExtensionContext context) {
        List<Path> dirs;
        synchronized (DIRS) {
            dirs = new ArrayList<>(DIRS);
            DIRS.clear();
        }
        boolean failed = Scratch.failed || context.getExecutionException().isPresent();
        Scratch.failed = false;
        for (Path dir : dirs) {
            if (failed) {
                deleteImages(dir);
                System.err.println("[scratch] " + context.getDisplayName() + " failed: its logs are kept in " + dir);
            } else {
                deleteTree(dir);
            }
        }
    }

    /** Removes a tree, quietly skipping what is already gone. */
    public static void deleteTree(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(root)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (IOException | UncheckedIOException e) {
            System.err.println("[scratch] could not remove " + root + ": " + e);
        }
    }

    private static void deleteImages(Path root) {
        try (Stream<Path> walk = Files.walk(root)) {
            walk.filter(p -> p.getFileName().toString().endsWith(".img")).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (IOException | UncheckedIOException e) {
            System.err.println("[scratch] could not remove the images in " + root + ": " + e);
        }
    }
}
