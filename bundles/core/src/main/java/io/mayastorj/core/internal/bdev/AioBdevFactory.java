package io.mayastorj.core.internal.bdev;

import io.mayastorj.core.bdev.BdevFactory;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.internal.nativeio.SelectableFd;
import io.mayastorj.core.internal.reactor.ReactorGroupImpl;
import io.mayastorj.core.internal.reactor.ReactorThread;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.List;
import java.util.Optional;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;

/**
 * {@code aio:///PATH[?blk_size=512|4096][&uuid=U]}: a file or block device driven by Linux native
 * AIO (see {@link FileBdevFactory} for how it is opened), one context per reactor, set up when the
 * first aio bdev is made. Made without reactors (tools, tests), every request goes through the
 * device's own context and reaper thread.
 */
@Component(service = BdevFactory.class)
public final class AioBdevFactory extends FileBdevFactory {

    private final Queues queues;

    /** A factory for a process without reactors. */
    public AioBdevFactory() {
        super("aio");
        queues = null;
    }

    @Activate
    public AioBdevFactory(@Reference ReactorGroupImpl reactors) {
        super("aio");
        queues = new Queues(reactors);
    }

    @Override
    BlockDevice make(FileBdev.OpenFile file) throws IOException {
        if (queues != null) {
            queues.start();
        }
        return new AioBdev(file, queues);
    }

    @Deactivate
    public void deactivate() {
        if (queues != null) {
            queues.close();
        }
    }

    /** A group's per-reactor aio contexts, set up on first use. */
    static final class Queues {

        private static final Logger LOG = System.getLogger("mayastor.bdev");

        private final ReactorGroupImpl reactors;
        /** Indexed by reactor id; set once they are up. */
        private volatile List<AioQueue> made;
        private String unavailable;

        Queues(ReactorGroupImpl reactors) {
            this.reactors = reactors;
        }

        /** The current thread's context, or null when it is not one of the group's reactors (or there are none). */
        AioQueue onThisThread() {
            List<AioQueue> queues = made;
            if (queues == null) {
                return null;
            }
            ReactorThread thread = ReactorThread.current(reactors);
            return thread == null ? null : queues.get(thread.id());
        }

        /**
         * Hands a request made off the reactors to a reactor's context (when the device's own could
         * not be set up); false when there are none.
         */
        boolean onAReactor(java.util.function.Consumer<AioQueue> submit) {
            List<AioQueue> queues = made;
            if (queues == null) {
                return false;
            }
            ReactorThread reactor = (ReactorThread) reactors.next();
            AioQueue queue = queues.get(reactor.id());
            reactor.execute(() -> submit.accept(queue));
            return true;
        }

        /** Why requests on the reactors go through each device's own context instead, or empty. */
        synchronized Optional<String> unavailable() {
            start();
            return Optional.ofNullable(unavailable);
        }

        synchronized void start() {
            if (made != null || unavailable != null) {
                return;
            }
            Optional<String> noSelect = SelectableFd.unavailable();
            try {
                if (noSelect.isPresent()) {
                    throw new IOException(noSelect.get());
                }
                made = PerReactor.make(reactors, AioQueue::new);
                LOG.log(Level.INFO, "aio: one context of {0} requests per reactor ({1} reactors)", AioQueue.SLOTS,
                        made.size());
            } catch (IOException e) {
                unavailable = e.getMessage();
                LOG.log(Level.WARNING, "aio contexts on the reactors are unavailable ({0}); each aio device "
                        + "completes on a thread of its own", unavailable);
            }
        }

        synchronized void close() {
            if (made != null) {
                PerReactor.closeAll(reactors, made);
            }
        }
    }
}
