package io.mayastorj.nvmf.internal;

import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.internal.bdev.MallocBdevFactory;
import io.mayastorj.core.internal.buffer.DmaBufferPool;
import io.mayastorj.core.internal.buffer.HugepageMode;
import io.mayastorj.core.internal.reactor.ReactorGroupImpl;
import io.mayastorj.nvmf.internal.host.NvmfBdevFactory;
import io.mayastorj.nvmf.internal.target.NvmfTarget;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** A target on a free loopback port, a host factory, and the bdevs they made; closes them in order. */
public final class NvmfFixture implements AutoCloseable {

    public static final String HOST_NQN = "nqn.2019-05.io.openebs:node-name:test-host";

    public final ReactorGroupImpl reactors = new ReactorGroupImpl(2);
    public final DmaBufferPool buffers = new DmaBufferPool(64L << 20, HugepageMode.OFF);
    public final NvmfTarget target;
    public final NvmfBdevFactory host;
    private final List<BlockDevice> opened = new ArrayList<>();

    public NvmfFixture() throws IOException {
        this(TimeUnit.SECONDS.toNanos(30));
    }

    public NvmfFixture(long ioTimeoutNanos) throws IOException {
        target = new NvmfTarget(reactors, buffers, new InetSocketAddress("127.0.0.1", 0));
        host = NvmfBdevFactory.of(reactors.reactors(), buffers, HOST_NQN, ioTimeoutNanos);
    }

    public int port() {
        return target.address().getPort();
    }

    /** A RAM disk (closed with the fixture). */
    public BlockDevice malloc(String name, int sizeMb, int blockSize) {
        BlockDevice device = new MallocBdevFactory().create(
                BdevUri.parse("malloc:///" + name + "?size_mb=" + sizeMb + "&blk_size=" + blockSize));
        opened.add(device);
        return device;
    }

    /** Opens a URI with the host factory (closed with the fixture, first). */
    public BlockDevice connect(String uri) {
        BlockDevice device = host.create(BdevUri.parse(uri));
        opened.add(device);
        return device;
    }

    @Override
    public void close() {
        for (int i = opened.size() - 1; i >= 0; i--) {
            opened.get(i).close();
        }
        host.close();
        target.close();
        reactors.stop();
        buffers.close();
    }
}
