package io.mayastorj.core.internal.reactor;

import io.mayastorj.core.node.HealthCheck;
import io.mayastorj.core.reactor.Reactor;
import io.mayastorj.core.reactor.ReactorGroup;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/**
 * Liveness of a data-plane runtime: every reactor runs a task within two seconds. A reactor that
 * does not is stuck (a blocking call on it, a loop that never yields), and I/O on its connections
 * with it; the probe tells Kubernetes to restart the node.
 */
@Component(service = HealthCheck.class)
public final class ReactorLiveness implements HealthCheck {

    private static final long WAIT_MILLIS = 2000;
    private final ReactorGroup reactors;

    @Activate
    public ReactorLiveness(@Reference ReactorGroup reactors) {
        this.reactors = reactors;
    }

    @Override
    public String name() {
        return "reactors";
    }

    @Override
    public String notLive() {
        List<Reactor> all = reactors.reactors();
        CountDownLatch ran = new CountDownLatch(all.size());
        for (Reactor r : all) {
            r.execute(ran::countDown);
        }
        try {
            if (ran.await(WAIT_MILLIS, TimeUnit.MILLISECONDS)) {
                return null;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "interrupted while asking the reactors";
        }
        List<Integer> stuck = new ArrayList<>();
        // which ones: ask again, each on its own
        for (Reactor r : all) {
            CountDownLatch one = new CountDownLatch(1);
            r.execute(one::countDown);
            try {
                if (!one.await(10, TimeUnit.MILLISECONDS)) {
                    stuck.add(r.id());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        return (stuck.isEmpty() ? "a reactor" : "reactor(s) " + stuck) + " ran no task in " + WAIT_MILLIS + " ms";
    }
}
