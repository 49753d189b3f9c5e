package io.mayastorj.core.internal.bdev;

import io.mayastorj.core.bdev.BdevFactory;
import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.bdev.BlockDevice;
import java.util.Set;
import java.util.UUID;
import org.osgi.service.component.annotations.Component;

/** {@code null:///NAME?size_mb=N|num_blocks=N[&blk_size=512|4096][&uuid=U]}: a device that stores nothing. */
@Component(service = BdevFactory.class)
public final class NullBdevFactory implements BdevFactory {

    private static final Set<String> PARAMS = Set.of("size_mb", "num_blocks", "blk_size", "uuid");

    @Override
    public Set<String> schemes() {
        return Set.of("null");
    }

    @Override
    public String nameOf(BdevUri uri) {
        uri.requireKnownParams(PARAMS);
        return SizeParams.name(uri);
    }

    @Override
    public BlockDevice create(BdevUri uri) {
        String name = nameOf(uri);
        SizeParams size = SizeParams.parse(uri);
        return new NullBdev(name, uri.uuidParam().orElseGet(UUID::randomUUID), size.blockSize(), size.blockCount());
    }
}
