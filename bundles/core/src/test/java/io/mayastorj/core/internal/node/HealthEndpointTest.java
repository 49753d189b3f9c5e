package io.mayastorj.core.internal.node;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.mayastorj.core.node.HealthCheck;
import java.lang.reflect.Proxy;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceReference;

/**
 * What {@code /readyz} and {@code /healthz} say. Review finding: readiness was decided once, at
 * start-up: a reactor that stopped turning failed {@code /healthz} while {@code /readyz} stayed 200,
 * and a runtime draining after SIGTERM (its nexuses stopping, up to 20 s) was still sent work.
 */
class HealthEndpointTest {

    /** A framework whose startup monitor said ready, and whose launcher has marked the stop when {@code stopping}. */
    private static BundleContext framework(AtomicBoolean stopping) {
        ServiceReference<?> ready = (ServiceReference<?>) Proxy.newProxyInstance(HealthEndpointTest.class.getClassLoader(),
                new Class<?>[] {ServiceReference.class}, (proxy, method, args) -> method.getName().equals("getProperty")
                        && "mayastor.node.state".equals(args[0]) ? "ready" : null);
        return (BundleContext) Proxy.newProxyInstance(HealthEndpointTest.class.getClassLoader(), new Class<?>[] {BundleContext.class},
                (proxy, method, args) -> {
                    if (!method.getName().equals("getServiceReferences")) {
                        return null;
                    }
                    String filter = (String) args[1];
                    if (filter.contains(HealthEndpoint.STOPPING)) {
                        return stopping.get() ? new ServiceReference<?>[] {ready} : null;
                    }
                    return new ServiceReference<?>[] {ready};
                });
    }

    @Test
    void aRuntimeThatIsNotLiveOrIsStoppingIsNotReady() throws Exception {
        AtomicBoolean stopping = new AtomicBoolean();
        HealthEndpoint.Config noHttp = (HealthEndpoint.Config) Proxy.newProxyInstance(getClass().getClassLoader(),
                new Class<?>[] {HealthEndpoint.Config.class}, (proxy, method, args) -> "");
        HealthEndpoint endpoint = new HealthEndpoint(framework(stopping), noHttp); // no server: the answers alone
        String[] stuck = {null};
        endpoint.addCheck(new HealthCheck() {
            @Override
            public String name() {
                return "reactors";
            }

            @Override
            public String notLive() {
                return stuck[0];
            }
        });
        assertEquals(List.of(), endpoint.notReady());
        assertEquals(List.of(), endpoint.notLive());
        stuck[0] = "reactor 1 has not run a task for 5 s";
        assertEquals(List.of("reactors: reactor 1 has not run a task for 5 s"), endpoint.notLive());
        assertEquals(List.of("reactors: reactor 1 has not run a task for 5 s"), endpoint.notReady(), "a stuck runtime takes no work");
        stuck[0] = null;
        stopping.set(true);
        assertEquals(List.of("stopping"), endpoint.notReady());
        assertEquals(List.of(), endpoint.notLive(), "still live: the kubelet lets it drain");
    }
}
