package io.mayastorj.plugins.nbd;

import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoStatus;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A slow disk: a device whose writes and write-zeroes complete {@code millis} after they are
 * written; everything else goes straight to the device (a proxy, so no method is written twice).
 */
final class SlowWrites {

    /** Writes and write-zeroes submitted so far. */
    final AtomicInteger writes = new AtomicInteger();
    final BlockDevice device;
    private final ScheduledExecutorService later = Executors.newSingleThreadScheduledExecutor();

    SlowWrites(BlockDevice inner, long millis) {
        device = (BlockDevice) Proxy.newProxyInstance(BlockDevice.class.getClassLoader(), new Class<?>[] {BlockDevice.class},
                (proxy, method, args) -> {
                    int completion = switch (method.getName()) {
                        case "write" -> 4;
                        case "writeZeroes" -> 2;
                        default -> -1;
                    };
                    if (completion >= 0) {
                        writes.incrementAndGet();
                        @SuppressWarnings("unchecked")
                        IoCompletion<Object> done = (IoCompletion<Object>) args[completion];
                        args[completion] = (IoCompletion<Object>) (IoStatus status, Object context) ->
                                later.schedule(() -> done.ioDone(status, context), millis, TimeUnit.MILLISECONDS);
                    } else if (method.getName().equals("close")) {
                        later.shutdown();
                    }
                    try {
                        return method.invoke(inner, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }
}
