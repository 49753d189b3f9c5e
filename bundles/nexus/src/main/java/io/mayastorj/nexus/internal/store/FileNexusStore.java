package io.mayastorj.nexus.internal.store;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Optional;
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
        Path file = file(r.uuid());
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer bytes = ByteBuffer.wrap(RecordFormat.encode(r));
            while (bytes.hasRemaining()) {
                ch.write(bytes);
            }
            ch.force(true);
        }
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        }
    }

    @Override
    public Optional<NexusRecord> load(UUID uuid) throws IOException {
        try {
            return Optional.of(RecordFormat.decode(Files.readAllBytes(file(uuid)), file(uuid).toString()));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
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
