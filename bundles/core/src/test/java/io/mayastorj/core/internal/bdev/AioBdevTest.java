package io.mayastorj.core.internal.bdev;

/** The file-bdev contract on aio in a process without reactors: every request through the device's own context. */
class AioBdevTest extends FileBdevTest {

    @Override
    FileBdevFactory factory() {
        return new AioBdevFactory();
    }

    @Override
    String product() {
        return "AIO disk";
    }

    @Override
    int queueDepth() {
        return AioThreadContext.SLOTS;
    }
}
