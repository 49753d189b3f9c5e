package io.mayastorj.csi.internal.node;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * What is mounted where, from {@code /proc/self/mountinfo}: a mount's point, the device (major:minor)
 * and the path within it that it shows, its source and file-system type. A bind mount of a staging
 * directory has the staging mount's device and root, which is how a publish is recognised.
 */
public final class MountTable {

    /** One line of mountinfo. */
    public record Mount(String device, String root, String point, String options, String fsType, String source) {
        boolean readOnly() {
            return ("," + options + ",").contains(",ro,");
        }
    }

    private final Path mountinfo;

    public MountTable(Path mountinfo) {
        this.mountinfo = mountinfo;
    }

    public List<Mount> read() {
        List<String> lines;
        try {
            // decoded leniently: one mount point that is not UTF-8 (a stray USB stick's label) made every
            // read throw, and every stage, publish and unpublish on the node fail
            lines = new String(Files.readAllBytes(mountinfo), java.nio.charset.StandardCharsets.UTF_8).lines().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        List<Mount> mounts = new ArrayList<>();
        for (String line : lines) {
            String[] f = line.split(" ");
            int dash = List.of(f).indexOf("-");
            if (f.length < 10 || dash < 6 || dash + 2 >= f.length) {
                continue;
            }
            mounts.add(new Mount(f[2], unescape(f[3]), unescape(f[4]), f[5], f[dash + 1], unescape(f[dash + 2])));
        }
        return mounts;
    }

    /** The last mount on a path (the one that shows), if any. */
    public Optional<Mount> at(Path point) {
        String p = point.toAbsolutePath().normalize().toString();
        Mount found = null;
        for (Mount m : read()) {
            if (m.point().equals(p)) {
                found = m;
            }
        }
        return Optional.ofNullable(found);
    }

    /** mountinfo writes space, tab, newline and backslash as octal escapes. */
    static String unescape(String s) {
        if (s.indexOf('\\') < 0) {
            return s;
        }
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 4 <= s.length() && s.substring(i + 1, i + 4).matches("[0-7]{3}")) {
                b.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }
}
