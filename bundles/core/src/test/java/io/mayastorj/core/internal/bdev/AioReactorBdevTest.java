package io.mayastorj.core.internal.bdev;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The file-bdev contract on aio on a node: a context per reactor, completions read on the reactor that submitted. */
class AioReactorBdevTest extends ReactorQueueBdevTest {

    @Override
    FileBdevFactory factory() {
        return new AioBdevFactory(REACTORS);
    }

    @Override
    String product() {
        return "AIO disk";
    }

    @Override
    int queueDepth() {
        return AioQueue.SLOTS;
    }

    @Override
    Class<? extends FileBdev> deviceClass() {
        return AioBdev.class;
    }

    @Override
    int reactorSlots() {
        return AioQueue.SLOTS;
    }

    @Override
    String reaperPrefix() {
        return "aio-reaper ";
    }

    @Override
    void deactivate(FileBdevFactory f) {
        ((AioBdevFactory) f).deactivate();
    }

    /**
     * Review finding: one refused io_setup (fs.aio-max-nr used up by other processes, for a while)
     * failed every later request made off the reactors — a pool's metadata commits, a BlockingIo
     * caller — for the device's life. They go through a reactor's context meanwhile, and the
     * device's own is tried again.
     */
    @Test
    void requestsOffTheReactorsOutliveARefusedContext() throws Exception {
        FileBdev d = open(file("disk.img", 1 << 20), "");
        io.mayastorj.core.buffer.DmaBuffer b = buffers.allocate(4096);
        try {
            AioBdev.failContextsForTests = 1;
            b.bytes().putLong(0, 42);
            assertEquals(io.mayastorj.core.bdev.IoStatus.SUCCESS, io.mayastorj.core.bdev.BlockingIo.write(d, b, 0, 8, 8, T));
            b.bytes().putLong(0, 0);
            assertEquals(io.mayastorj.core.bdev.IoStatus.SUCCESS, io.mayastorj.core.bdev.BlockingIo.read(d, b, 0, 8, 8, T));
            assertEquals(42, b.bytes().getLong(0));
            assertEquals(false, ((AioBdev) d).hasOwnContext(), "went through a reactor");
            Thread.sleep(1100); // the device's own context is tried again, and made
            assertEquals(io.mayastorj.core.bdev.IoStatus.SUCCESS, io.mayastorj.core.bdev.BlockingIo.read(d, b, 0, 8, 8, T));
            assertEquals(42, b.bytes().getLong(0));
            assertEquals(true, ((AioBdev) d).hasOwnContext(), "its own context made on the retry");
        } finally {
            AioBdev.failContextsForTests = 0;
            b.release();
            d.close();
        }
    }

    @Test
    void theReactorsHaveTheirOwnContexts() {
        AioBdevFactory.Queues queues = new AioBdevFactory.Queues(REACTORS);
        assertEquals(Optional.empty(), queues.unavailable());
        queues.close();
    }
}
