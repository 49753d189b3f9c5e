package io.mayastorj.core.internal.bdev;

import io.mayastorj.core.bdev.BdevFactory;
import io.mayastorj.core.bdev.BlockDevice;
import java.io.IOException;
import org.osgi.service.component.annotations.Component;

/**
 * {@code aio:///PATH[?blk_size=512|4096][&uuid=U]}: a file or block device driven by Linux native
 * AIO (see {@link FileBdevFactory} for how it is opened).
 */
@Component(service = BdevFactory.class)
public final class AioBdevFactory extends FileBdevFactory {

    public AioBdevFactory() {
        super("aio");
    }

    @Override
    BlockDevice make(FileBdev.OpenFile file) throws IOException {
        return new AioBdev(file);
    }
}
