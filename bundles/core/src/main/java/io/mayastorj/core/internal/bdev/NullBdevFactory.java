package io.mayastorj.core.internal.bdev;

import io.mayastorj.core.bdev.BdevFactory;
import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.bdev.BlockDevice;
import java.util.UUID;
import org.osgi.service.component.annotations.Component;

/** {@code null:///NAME?size_mb=N|num_blocks=N[&blk_size=512|4096][&uuid=U]}: a device that stores nothing. */
@Component(service = BdevFactory.class)
public final class NullBdevFactory extends SizedBdevFactory {

    public NullBdevFactory() {
        super("null");
    }

    @Override
    BlockDevice create(BdevUri uri, String name, UUID uuid, int blockSize, long blockCount) {
        return new NullBdev(name, uuid, blockSize, blockCount);
    }
}
