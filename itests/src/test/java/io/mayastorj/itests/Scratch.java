package io.mayastorj.itests;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;


/**
 * Work directories of integration tests. They hold multi-GiB pool images (thick replicas are
 * zeroed, so they really take the space), and a suite that leaves them behind fills the disk of
 * the machine it runs on. Every directory made here is removed after its test class by {@link
 * ScratchCleanup}; when the class failed, the logs and state stay for a person to read and only the
 * disk images go. (No JUnit here: pax-exam's tests run this class inside Felix.)
 *
 * <p>Test classes that run alongside one another (the guest classes run concurrently with the rest,
 * see junit-platform.properties) each own the directories made on their thread, so that one class
 * ending never removes what another still uses; directories made on other threads are removed when
 * the next class ends, as before.
 */
public final class Scratch {

    /** Directories made on a thread that runs no test class. */
    private static final List<Path> DIRS = new ArrayList<>();
    /** Directories made on a test class's thread, set by {@link ScratchCleanup} before the class. */
    private static final ThreadLocal<List<Path>> OWNED = new ThreadLocal<>();

    private Scratch() {
    }

    /** A new empty directory under the system's temporary directory, removed after the class. */
    public static Path dir(String prefix) throws IOException {
        Path dir = Files.createTempDirectory(prefix);
        List<Path> owned = OWNED.get();
        if (owned != null) {
            owned.add(dir);
        } else {
            synchronized (DIRS) {
                DIRS.add(dir);
            }
        }
        return dir;
    }

    /** From now on, directories made on this thread belong to the class that starts on it. */
    static void own() {
        OWNED.set(new ArrayList<>());
    }

    /**
     * Removes the directories of the class ending on this thread, and those made elsewhere since the
     * last call: all of them, or only their disk images when the class failed.
     */
    static void cleanUp(String testClass, boolean failed) {
        List<Path> dirs = OWNED.get() == null ? new ArrayList<>() : OWNED.get();
        OWNED.remove();
        synchronized (DIRS) {
            dirs.addAll(DIRS);
            DIRS.clear();
        }
        for (Path dir : dirs) {
            if (failed) {
                deleteImages(dir);
                System.err.println("[scratch] " + testClass + " failed: its logs are kept in " + dir);
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
