package io.mayastorj.core.internal.bdev;

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
        return AioBdev.QUEUE_DEPTH;
    }
}
