package io.mayastorj.core.internal.bdev;

import io.mayastorj.core.bdev.BdevFactory;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.buffer.BufferPool;
import io.mayastorj.core.internal.buffer.DmaBufferPool;
import io.mayastorj.core.internal.nativeio.SelectableFd;
import io.mayastorj.core.internal.reactor.ReactorGroupImpl;
import io.mayastorj.core.internal.reactor.ReactorThread;
import io.mayastorj.core.reactor.Reactor;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;

/**
 * {@code uring:///PATH[?blk_size=512|4096][&uuid=U]}: a file or block device driven by io_uring,
 * one ring per reactor. The rings are set up when the first uring bdev is made. Where io_uring
 * cannot run (an old kernel, a seccomp policy, {@code io_uring_disabled}, a JVM without the option
 * that lets a reactor watch the ring) the bdev is an aio one instead, and one log line says why.
 */
@Component(service = {BdevFactory.class, UringBdevFactory.class})
public final class UringBdevFactory extends FileBdevFactory {

    private static final Logger LOG = System.getLogger("mayastor.bdev");

    private final ReactorGroupImpl reactors;
    private final AtomicInteger nextHome = new AtomicInteger();
    /** The buffer region each ring registers (0: none). */
    private final long fixedAddress;
    private final long fixedLength;
    /** Where io_uring cannot run: the aio contexts the devices use instead. */
    private final AioBdevFactory.Queues aio;
    /** Indexed by reactor id; set once the rings are up. */
    private volatile UringQueue[] queues;
    private String unavailable;

    /** A factory whose rings register no buffers. */
    public UringBdevFactory(ReactorGroupImpl reactors) {
        this(reactors, 0, 0);
    }

    /**
     * A factory whose rings register {@code buffers}' region when it is on hugepages: memory that is
     * resident and pinned anyway. On ordinary memory registering would pin and commit the whole pool
     * at once, which a node that merely uses some of it should not pay for.
     */
    @Activate
    public UringBdevFactory(@Reference ReactorGroupImpl reactors, @Reference BufferPool buffers) {
        this(reactors, buffers instanceof DmaBufferPool dma ? dma.regionAddress() : 0,
                buffers instanceof DmaBufferPool dma && dma.onHugepages() ? dma.regionLength() : 0);
    }

    /** A factory whose rings register {@code length} bytes at {@code address} whatever memory it is (0: none). */
    UringBdevFactory(ReactorGroupImpl reactors, long address, long length) {
        super("uring");
        this.reactors = reactors;
        this.aio = new AioBdevFactory.Queues(reactors);
        fixedAddress = address;
        fixedLength = length;
    }

    /** A factory that behaves as on a node where io_uring cannot run, for {@code why}. */
    UringBdevFactory(ReactorGroupImpl reactors, String why) {
        this(reactors);
        giveUp(why);
    }

    /** Why uring bdevs are served by aio here, or empty when io_uring runs. */
    public synchronized Optional<String> unavailable() {
        rings();
        return Optional.ofNullable(unavailable);
    }

    @Override
    BlockDevice make(FileBdev.OpenFile file) throws IOException {
        UringQueue[] rings = rings();
        if (rings == null) {
            aio.start();
            return new AioBdev(file, aio);
        }
        List<Reactor> all = reactors.reactors();
        ReactorThread home = (ReactorThread) all.get(Math.floorMod(nextHome.getAndIncrement(), all.size()));
        return new UringBdev(file, this, home);
    }

    /** The current thread's ring, or null when it is not one of the group's reactors. */
    UringQueue queueOnThisThread() {
        ReactorThread thread = ReactorThread.current(reactors);
        UringQueue[] rings = queues;
        return thread == null || rings == null ? null : rings[thread.id()];
    }

    UringQueue queueOf(ReactorThread reactor) {
        return queues[reactor.id()];
    }

    private synchronized UringQueue[] rings() {
        if (queues != null || unavailable != null) {
            return queues;
        }
        Optional<String> noSelect = SelectableFd.unavailable();
        if (noSelect.isPresent()) {
            return giveUp(noSelect.get());
        }
        List<UringQueue> made;
        try {
            made = PerReactor.make(reactors, reactor -> new UringQueue(reactor, fixedAddress, fixedLength));
        } catch (IOException e) {
            return giveUp(e.getMessage());
        }
        queues = made.toArray(UringQueue[]::new);
        LOG.log(Level.INFO, "io_uring: one ring of {0} entries per reactor ({1} reactors){2}",
                UringQueue.SUBMISSION_ENTRIES, made.size(), fixedLength > 0 ? ", the DMA buffers registered" : "");
        return queues;
    }

    private UringQueue[] giveUp(String why) {
        unavailable = why;
        LOG.log(Level.WARNING, "io_uring is unavailable ({0}); uring:// devices are served by aio", why);
        return null;
    }

    @Deactivate
    public synchronized void deactivate() {
        if (queues != null) {
            PerReactor.closeAll(reactors, List.of(queues)); // a request that still comes is cancelled
        }
        aio.close();
    }
}
