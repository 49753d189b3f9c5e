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
 * record or the new one, never half of either. The file carries its revision (one node writes it,
 * from the nexus control thread, so reading and comparing it before the write is enough).
 */
public final class FileNexusStore implements NexusStore {

    private final Path dir;

    public FileNexusStore(Path dir) throws IOException {
        this.dir = Files.createDirectories(dir);
    }

    @Override
    public long save(NexusRecord r, long expectedRevision) throws IOException {
        Path file = file(r.uuid());
        long current = load(r.uuid()).map(Stored::revision).orElse(0L);
        if (current != expectedRevision) {
            throw new Superseded("the record of nexus " + r.uuid() + " is at revision " + current + ", not " + expectedRevision);
        }
        long revision = current + 1;
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            byte[] text = RecordFormat.encode(r);
            byte[] tail = ("revision=" + revision + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8);
            ByteBuffer bytes = ByteBuffer.allocate(text.length + tail.length).put(text).put(tail).flip();
            while (bytes.hasRemaining()) {
                ch.write(bytes);
            }
            ch.force(true);
        }
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        }
        return revision;
    }

    @Override
    public Optional<Stored> load(UUID uuid) throws IOException {
        try {
            byte[] bytes = Files.readAllBytes(file(uuid));
            return Optional.of(new Stored(RecordFormat.decode(bytes, file(uuid).toString()), RecordFormat.revision(bytes)));
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
