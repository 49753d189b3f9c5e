package io.mayastorj.csi.internal.node;

import io.mayastorj.core.error.MayastorException;
import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.net.URLEncoder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Optional;
import java.util.Properties;

/**
 * What this node has attached, one small file per volume in its state directory: the volume's URI,
 * its staging path, device and file system. It is written before the first mount, so a crash at
 * any step leaves a record that the next NodeStage or NodeUnstage finishes or undoes; and only
 * what is recorded here is ever unmounted or disconnected.
 */
final class StagedVolumes {

    /**
     * A staged volume. {@code fsType} is empty for a raw block volume; {@code ioTimeout} is the
     * volume's (seconds; 0 in records of older versions: the node's default), which a path added
     * when the volume is followed to another node keeps.
     */
    record Staged(String volumeId, String uri, String stagingPath, String device, String fsType, int ioTimeout) {
        boolean block() {
            return fsType.isEmpty();
        }
    }

    private final Path dir;

    StagedVolumes(Path dir) {
        this.dir = dir;
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private Path file(String volumeId) {
        return dir.resolve(URLEncoder.encode(volumeId, StandardCharsets.UTF_8) + ".staged");
    }

    Optional<Staged> get(String volumeId) {
        Path f = file(volumeId);
        if (!Files.exists(f)) {
            return Optional.empty();
        }
        Properties p = new Properties();
        try {
            p.load(new StringReader(Files.readString(f, StandardCharsets.UTF_8)));
        } catch (IOException e) {
            throw MayastorException.internal("cannot read %s: %s", f, e.getMessage());
        }
        return Optional.of(new Staged(volumeId, p.getProperty("uri", ""), p.getProperty("staging", ""),
                p.getProperty("device", ""), p.getProperty("fs", ""), ioTimeout(p.getProperty("ioTimeout", "0"))));
    }

    private static int ioTimeout(String text) {
        try {
            return Math.max(0, Integer.parseInt(text.strip()));
        } catch (NumberFormatException e) {
            return 0; // the node's default, as for a record that has none
        }
    }

    /** Temp file, sync, rename: a crash leaves the old record or the new one. */
    void put(Staged s) {
        Properties p = new Properties();
        p.setProperty("uri", s.uri());
        p.setProperty("staging", s.stagingPath());
        p.setProperty("device", s.device());
        p.setProperty("fs", s.fsType());
        p.setProperty("ioTimeout", String.valueOf(s.ioTimeout()));
        Path f = file(s.volumeId());
        Path temp = f.resolveSibling(f.getFileName() + ".tmp");
        try {
            StringWriter w = new StringWriter();
            p.store(w, "volume " + s.volumeId());
            try (FileChannel out = FileChannel.open(temp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                out.write(StandardCharsets.UTF_8.encode(w.toString()));
                out.force(true);
            }
            Files.move(temp, f, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw MayastorException.internal("cannot record volume %s in %s: %s", s.volumeId(), dir, e.getMessage());
        }
    }

    void remove(String volumeId) {
        try {
            Files.deleteIfExists(file(volumeId));
        } catch (IOException e) {
            throw MayastorException.internal("cannot forget volume %s: %s", volumeId, e.getMessage());
        }
    }

    /** Every volume recorded here. */
    java.util.List<Staged> all() {
        try (var files = Files.list(dir)) {
            return files.map(f -> f.getFileName().toString()).filter(n -> n.endsWith(".staged"))
                    .map(n -> java.net.URLDecoder.decode(n.substring(0, n.length() - ".staged".length()), StandardCharsets.UTF_8))
                    .map(this::get).flatMap(Optional::stream).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
