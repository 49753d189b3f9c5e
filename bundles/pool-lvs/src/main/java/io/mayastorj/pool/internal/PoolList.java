package io.mayastorj.pool.internal;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The pools a node had, so that it imports them again when it starts: one {@code name<TAB>disk URI}
 * line each in {@code <state dir>/pools.list}, replaced atomically (write, sync, rename, sync).
 */
final class PoolList {

    private final Path file;

    PoolList(Path stateDir) {
        this.file = stateDir.resolve("pools.list");
    }

    Map<String, String> read() throws IOException {
        Map<String, String> pools = new LinkedHashMap<>();
        if (!Files.exists(file)) {
            return pools;
        }
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            int tab = line.indexOf('\t');
            if (!line.isBlank() && !line.startsWith("#") && tab > 0) {
                pools.put(line.substring(0, tab), line.substring(tab + 1));
            }
        }
        return pools;
    }

    void write(Map<String, String> pools) throws IOException {
        StringBuilder text = new StringBuilder("# pools this node imports when it starts: name<TAB>disk\n");
        pools.forEach((name, disk) -> text.append(name).append('\t').append(disk).append('\n'));
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
