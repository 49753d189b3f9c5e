package io.mayastorj.pool.internal;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * Glob patterns of devices where a node looks for its pools (node setting {@code pool.devices}),
 * e.g. {@code /dev/disk/by-id/*} or {@code /var/tmp/pools/*.img}: stable names for disks whose
 * {@code /dev/sdX} name changes between boots.
 */
public final class DevicePatterns {

    private final List<String> patterns;

    private DevicePatterns(List<String> patterns) {
        this.patterns = patterns;
    }

    /** Comma-separated absolute glob patterns; blank: none. */
    public static DevicePatterns parse(String text) {
        List<String> patterns = new ArrayList<>();
        for (String part : text.split(",")) {
            String pattern = part.strip();
            if (pattern.isEmpty()) {
                continue;
            }
            if (!pattern.startsWith("/")) {
                throw new IllegalArgumentException("device pattern '" + pattern + "' is not an absolute path");
            }
            patterns.add(pattern);
        }
        return new DevicePatterns(List.copyOf(patterns));
    }

    public boolean isEmpty() {
        return patterns.isEmpty();
    }

    /** The paths that match now, sorted, each once; a directory that cannot be read matches nothing. */
    public List<String> expand() {
        TreeSet<String> paths = new TreeSet<>();
        for (String pattern : patterns) {
            int glob = firstGlob(pattern);
            if (glob < 0) {
                if (Files.exists(Path.of(pattern))) {
                    paths.add(pattern);
                }
                continue;
            }
            Path base = Path.of(pattern.substring(0, pattern.lastIndexOf('/', glob) + 1));
            int depth = (int) pattern.substring(base.toString().length()).chars().filter(c -> c == '/').count();
            PathMatcher matcher = FileSystems.getDefault().getPathMatcher("glob:" + pattern);
            if (!Files.isDirectory(base)) {
                continue;
            }
            try (Stream<Path> walk = Files.walk(base, Math.max(1, depth))) {
                walk.filter(p -> !Files.isDirectory(p) && matcher.matches(p)).forEach(p -> paths.add(p.toString()));
            } catch (IOException | UncheckedIOException e) {
                // an unreadable directory holds no candidates
            }
        }
        return List.copyOf(paths);
    }

    private static int firstGlob(String pattern) {
        for (int i = 0; i < pattern.length(); i++) {
            if ("*?[{".indexOf(pattern.charAt(i)) >= 0) {
                return i;
            }
        }
        return -1;
    }

    @Override
    public String toString() {
        return String.join(",", patterns);
    }
}
