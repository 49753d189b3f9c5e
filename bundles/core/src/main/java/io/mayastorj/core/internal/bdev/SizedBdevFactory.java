package io.mayastorj.core.internal.bdev;

import io.mayastorj.core.bdev.BdevFactory;
import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.bdev.BlockDevice;
import java.util.Set;
import java.util.UUID;

/**
 * The factories of devices that exist only in the node (malloc, null): {@code scheme:///NAME} with
 * {@code size_mb} or {@code num_blocks}, {@code blk_size} and {@code uuid}.
 */
abstract class SizedBdevFactory implements BdevFactory {

    private static final Set<String> PARAMS = Set.of("size_mb", "num_blocks", "blk_size", "uuid");

    private final String scheme;

    SizedBdevFactory(String scheme) {
        this.scheme = scheme;
    }

    @Override
    public final Set<String> schemes() {
        return Set.of(scheme);
    }

    @Override
    public final String nameOf(BdevUri uri) {
        uri.requireKnownParams(PARAMS);
        return SizeParams.name(uri);
    }

    @Override
    public final BlockDevice create(BdevUri uri) {
        String name = nameOf(uri);
        SizeParams size = SizeParams.parse(uri);
        return create(uri, name, uri.uuidParam().orElseGet(UUID::randomUUID), size.blockSize(), size.blockCount());
    }

    abstract BlockDevice create(BdevUri uri, String name, UUID uuid, int blockSize, long blockCount);
}
