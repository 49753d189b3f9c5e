package io.mayastorj.core.internal.reactor;

import io.mayastorj.core.error.MayastorException;
import io.mayastorj.core.internal.node.DataPlaneConfig;
import io.mayastorj.core.reactor.Reactor;
import io.mayastorj.core.reactor.ReactorGroup;
import io.mayastorj.core.text.Table;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;

/** Starts the configured number of reactors and stops them with the node. */
@Component(immediate = true, service = {ReactorGroup.class, ReactorGroupImpl.class}, configurationPid = DataPlaneConfig.PID,
        configurationPolicy = ConfigurationPolicy.REQUIRE)
public final class ReactorGroupImpl implements ReactorGroup {

    private static final Logger LOG = System.getLogger("mayastor.reactor");
    private static final int MAX_REACTORS = 64;
    /** How long a stop waits for the reactors: two I/O queues' drains (uring and aio, 10 s each) and a margin. */
    private static final long STOP_NANOS = TimeUnit.SECONDS.toNanos(22);

    private final List<ReactorThread> reactors;
    private final AtomicInteger turn = new AtomicInteger();

    @Activate
    public ReactorGroupImpl(DataPlaneConfig config) {
        this(config.reactors());
    }

    public ReactorGroupImpl(int count) {
        if (count < 1 || count > MAX_REACTORS) {
            throw MayastorException.invalidArgument("reactors=%d: expected 1..%d", count, MAX_REACTORS);
        }
        List<ReactorThread> threads = new ArrayList<>(count);
        try {
            for (int i = 0; i < count; i++) {
                ReactorThread thread = new ReactorThread(this, i);
                threads.add(thread);
                thread.start();
            }
        } catch (RuntimeException | Error e) { // a selector refused (no file descriptors left): the ones started stop
            threads.forEach(ReactorThread::shutdown);
            throw e;
        }
        this.reactors = List.copyOf(threads);
        LOG.log(Level.INFO, "{0} reactors started", count);
    }

    @Override
    public List<Reactor> reactors() {
        return List.copyOf(reactors);
    }

    @Override
    public Reactor next() {
        return reactors.get(Math.floorMod(turn.getAndIncrement(), reactors.size()));
    }

    @Override
    public Optional<Reactor> current() {
        return Thread.currentThread() instanceof ReactorThread thread && thread.group == this
                ? Optional.of(thread) : Optional.empty();
    }

    /** The reactors as a table, for the shell. */
    public String describe() {
        Table table = new Table("REACTOR", "THREAD", "CHANNELS", "TIMERS", "TASKS", "EVENTS", "WAKEUPS")
                .alignRight("REACTOR", "CHANNELS", "TIMERS", "TASKS", "EVENTS", "WAKEUPS");
        for (ReactorThread r : reactors) {
            table.row(r.id(), r.getName(), r.channels(), r.pendingTimers(), r.tasksRun(), r.readyEvents(), r.wakeups());
        }
        return table.toString();
    }

    @Deactivate
    public void stop() {
        for (ReactorThread thread : reactors) {
            thread.shutdown();
        }
        // a stopping reactor closes its I/O queues one after another, each letting what is in flight finish for up
        // to 10 s (ReactorQueue): waited for, so that the I/O has ended when the stop returns (nothing orders the
        // buffer pool's stop after this one; it keeps its memory mapped while buffers are out, whatever the order)
        long deadline = System.nanoTime() + STOP_NANOS;
        for (ReactorThread thread : reactors) {
            try {
                thread.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            if (thread.isAlive()) {
                LOG.log(Level.WARNING, "{0} did not stop within {1} s", thread.getName(), TimeUnit.NANOSECONDS.toSeconds(STOP_NANOS));
            }
        }
    }
}
