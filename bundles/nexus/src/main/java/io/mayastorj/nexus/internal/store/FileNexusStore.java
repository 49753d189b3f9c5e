package io.mayastorj.nexus.internal.store;

import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Properties;
import java.util.UUID;

/**
 * Nexus records as small properties files, {@code <dir>/<uuid>.properties}: written to a temporary
 * file, fsynced, renamed over the old one and the directory fsynced, so a crash leaves the old
 * record or the new one, never half of either.
 */
public final class FileNexusStore implements NexusStore {

    private final Path dir;

    public FileNexusStore(Path dir) throws IOException {
        this.dir = Files.createDirectories(dir);
    }

    @Override
    public void save(NexusRecord r) throws IOException {
        Properties p = new Properties();
        p.setProperty("uuid", r.uuid().toString());
        p.setProperty("name", r.name());
        p.setProperty("size", Long.toString(r.sizeBytes()));
        p.setProperty("clean_shutdown", Boolean.toString(r.cleanShutdown()));
        p.setProperty("children", Integer.toString(r.children().size()));
        for (int i = 0; i < r.children().size(); i++) {
            NexusRecord.ChildRecord c = r.children().get(i);
            p.setProperty("child." + i + ".uri", c.uri());
            p.setProperty("child." + i + ".healthy", Boolean.toString(c.healthy()));
            p.setProperty("child." + i + ".since", Long.toString(c.sinceMillis()));
        }
        StringWriter text = new StringWriter();
        p.store(text, "Mayastor-J nexus " + r.name() + ": which children hold every acknowledged write");
        Path file = file(r.uuid());
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ch.write(StandardCharsets.UTF_8.encode(text.toString()));
            ch.force(true);
        }
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        }
    }

    @Override
    public Optional<NexusRecord> load(UUID uuid) throws IOException {
        String text;
        try {
            text = Files.readString(file(uuid), StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
        Properties p = new Properties();
        p.load(new StringReader(text));
        try {
            int n = Integer.parseInt(p.getProperty("children", "0"));
            List<NexusRecord.ChildRecord> children = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                children.add(new NexusRecord.ChildRecord(required(p, "child." + i + ".uri"),
                        Boolean.parseBoolean(required(p, "child." + i + ".healthy")),
                        Long.parseLong(p.getProperty("child." + i + ".since", "0"))));
            }
            return Optional.of(new NexusRecord(UUID.fromString(required(p, "uuid")), required(p, "name"),
                    Long.parseLong(required(p, "size")), Boolean.parseBoolean(p.getProperty("clean_shutdown", "false")),
                    children));
        } catch (IllegalArgumentException e) {
            throw new IOException("the nexus record " + file(uuid) + " is damaged: " + e.getMessage(), e);
        }
    }

    private static String required(Properties p, String key) {
        String v = p.getProperty(key);
        if (v == null) {
            throw new IllegalArgumentException("no " + key);
        }
        return v;
    }

    @Override
    public void delete(UUID uuid) throws IOException {
        Files.deleteIfExists(file(uuid));
    }

    @Override
    public String describe() {
        return "files in " + dir;
    }

    private Path file(UUID uuid) {
        return dir.resolve(uuid + ".properties");
    }
}
