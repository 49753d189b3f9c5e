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

    @Test
    void theReactorsHaveTheirOwnContexts() {
        AioBdevFactory.Queues queues = new AioBdevFactory.Queues(REACTORS);
        assertEquals(Optional.empty(), queues.unavailable());
        queues.close();
    }
}
