package io.mayastorj.pool.internal;

import io.mayastorj.core.text.Uuids;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * The pools a node had, so that it imports them again when it starts: one
 * {@code name<TAB>disk URI<TAB>uuid} line each in {@code <state dir>/pools.list} (the uuid is absent in
 * lists written before it was kept, and for a pool that never imported), replaced atomically (write,
 * sync, rename, sync).
 */
final class PoolList {

    /** One remembered pool; {@code uuid} null when not known. */
    record Known(String name, String disk, UUID uuid) {
    }

    private final Path file;

    PoolList(Path stateDir) {
        this.file = stateDir.resolve("pools.list");
    }

    List<Known> read() throws IOException {
        List<Known> pools = new ArrayList<>();
        if (!Files.exists(file)) {
            return pools;
        }
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            String[] fields = line.split("\t");
            if (fields.length < 2 || fields[0].isEmpty()) {
                continue;
            }
            UUID uuid = null;
            if (fields.length > 2 && !fields[2].isEmpty()) {
                try {
                    uuid = Uuids.parse(fields[2]);
                } catch (RuntimeException e) {
                    uuid = null; // a hand-edited line: the disk still names the pool
                }
            }
            pools.add(new Known(fields[0], fields[1], uuid));
        }
        return pools;
    }

    void write(List<Known> pools) throws IOException {
        StringBuilder text = new StringBuilder("# pools this node imports when it starts: name<TAB>disk<TAB>uuid\n");
        for (Known pool : pools) {
            text.append(pool.name()).append('\t').append(pool.disk());
            if (pool.uuid() != null) {
                text.append('\t').append(pool.uuid());
            }
            text.append('\n');
        }
        Path temp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.writeString(temp, text, StandardCharsets.UTF_8);
        try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.WRITE)) {
            channel.force(true);
        }
        Files.move(temp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        try (FileChannel dir = FileChannel.open(file.getParent(), StandardOpenOption.READ)) {
            dir.force(true);
        }
    }
}
