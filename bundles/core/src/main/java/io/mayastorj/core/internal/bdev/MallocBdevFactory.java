package io.mayastorj.core.internal.bdev;

import io.mayastorj.core.bdev.BdevFactory;
import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.core.text.Sizes;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;
import org.osgi.service.component.annotations.Component;

/** {@code malloc:///NAME?size_mb=N|num_blocks=N[&blk_size=512|4096][&uuid=U]}: a RAM disk. */
@Component(service = BdevFactory.class)
public final class MallocBdevFactory extends SizedBdevFactory {

    public MallocBdevFactory() {
        super("malloc");
    }

    @Override
    BlockDevice create(BdevUri uri, String name, UUID uuid, int blockSize, long blockCount) {
        long bytes = blockCount * blockSize;
        long available = availableMemory();
        if (bytes > available) {
            throw MayastorException.resourceExhausted("'%s' needs %s of memory but the node has %s available",
                    uri, Sizes.human(bytes), Sizes.human(available));
        }
        try {
            return new MallocBdev(name, uuid, blockSize, blockCount);
        } catch (IOException e) {
            throw MayastorException.resourceExhausted("'%s': cannot allocate %s: %s", uri, Sizes.human(bytes), e.getMessage());
        }
    }

    /** MemAvailable from /proc/meminfo: what the kernel can give without swapping. */
    public static long availableMemory() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemAvailable:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (IOException | NumberFormatException e) {
            // not Linux-like: let mmap decide
        }
        return Long.MAX_VALUE;
    }
}
