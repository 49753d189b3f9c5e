package io.mayastorj.control.internal.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.mayastorj.core.internal.node.NodeImpl;
import io.mayastorj.nats.testing.NatsServerProcess;
import io.mayastorj.registration.internal.RegistrationAgent;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The seed's registry over a real nats-server: a node's registration agent heartbeats, the control
 * plane's subscriber feeds the node registry — online at the first beat, offline after three missed
 * ones, offline at once on deregistration, and online again through a restarted nats-server.
 */
class NatsRegistryTest {

    @TempDir
    Path dir;

    private static String next(BlockingQueue<String> events) throws InterruptedException {
        String e = events.poll(20, TimeUnit.SECONDS);
        return e == null ? "nothing within 20 s" : e;
    }

    @Test
    void nodesComeAndGoAsTheirHeartbeatsOverNatsSay() throws Exception {
        assumeTrue(NatsServerProcess.installed(), "nats-server is not installed");
        try (NatsServerProcess nats = new NatsServerProcess(dir).start();
             NodeRegistry registry = new NodeRegistry(Duration.ofMillis(300), 3);
             NatsRegistry subscriber = new NatsRegistry(nats.url(), registry)) {
            BlockingQueue<String> events = new LinkedBlockingQueue<>();
            registry.addListener(n -> events.add(n.id() + " " + (n.online() ? "online" : "offline") + " " + n.endpoint()));
            NodeImpl node = new NodeImpl("n1", "127.0.0.31:10124", dir.resolve("n1").toString(), "1");
            RegistrationAgent agent = new RegistrationAgent(node, nats.url(), "", Duration.ofMillis(300));
            assertEquals("n1 online 127.0.0.31:10124", next(events), "registered by its first heartbeat");

            agent.stop();
            assertEquals("n1 offline 127.0.0.31:10124", next(events), "deregistered when it stops");

            agent = new RegistrationAgent(node, nats.url(), "", Duration.ofMillis(300));
            assertEquals("n1 online 127.0.0.31:10124", next(events));
            nats.stop(); // the beats stop reaching the control plane: offline after three missed
            assertEquals("n1 offline 127.0.0.31:10124", next(events));
            nats.start(); // both sides reconnect by themselves
            assertEquals("n1 online 127.0.0.31:10124", next(events), "back through the restarted server");
            agent.stop();
        }
    }

    /** The control plane starts while NATS is down: it does not wait for it, and takes heartbeats once it is up. */
    @Test
    void aControlPlaneStartedBeforeNatsListensOnceItIsUp() throws Exception {
        assumeTrue(NatsServerProcess.installed(), "nats-server is not installed");
        try (NatsServerProcess nats = new NatsServerProcess(dir);
             NodeRegistry registry = new NodeRegistry(Duration.ofMillis(300), 3)) {
            long start = System.nanoTime();
            try (NatsRegistry subscriber = new NatsRegistry(nats.url(), registry)) {
                assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(2), "made without waiting for the server");
                BlockingQueue<String> events = new LinkedBlockingQueue<>();
                registry.addListener(n -> events.add(n.id() + " " + (n.online() ? "online" : "offline") + " " + n.endpoint()));
                nats.start();
                NodeImpl node = new NodeImpl("n3", "127.0.0.33:10124", dir.resolve("n3").toString(), "1");
                RegistrationAgent agent = new RegistrationAgent(node, nats.url(), "", Duration.ofMillis(300));
                try {
                    assertEquals("n3 online 127.0.0.33:10124", next(events), "heard once the server is up");
                } finally {
                    agent.stop();
                }
            }
        }
    }

    /**
     * Review finding: the control plane's own NATS link going down left every NATS-only node silent
     * for the whole outage until its next beat after the reconnect — past the switch-over grace while
     * the nexus records were readable again, so healthy nodes lost their volumes. The outage is not
     * the nodes' silence.
     */
    @Test
    void theTimeTheControlPlanesNatsLinkIsDownIsNotTheNodesSilence() throws Exception {
        assumeTrue(NatsServerProcess.installed(), "nats-server is not installed");
        try (NatsServerProcess nats = new NatsServerProcess(dir).start();
             NodeRegistry registry = new NodeRegistry(Duration.ofSeconds(30), 3);
             NatsRegistry subscriber = new NatsRegistry(nats.url(), registry)) {
            awaitStatus(subscriber, io.nats.client.Connection.Status.CONNECTED);
            registry.registerOverNats("n9", "127.0.0.39:10124"); // heard once over NATS
            registry.register("g9", "127.0.0.40:10124", null); // and a node that beats over gRPC, heard once
            nats.stop();
            Thread.sleep(2500);
            assertTrue(registry.silentMillis("n9") < 1500, "not n9's silence while the link is down: " + registry.silentMillis("n9"));
            assertTrue(registry.silentMillis("g9") >= 2500, "g9's own: it beats over gRPC, not NATS: " + registry.silentMillis("g9"));
            nats.start();
            awaitStatus(subscriber, io.nats.client.Connection.Status.CONNECTED);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (registry.silentMillis("n9") >= 1500) { // the listener may run a moment after the status
                assertTrue(System.nanoTime() < deadline, "the outage counted as n9's silence: " + registry.silentMillis("n9") + " ms");
                Thread.sleep(20);
            }
        }
    }

    private static void awaitStatus(NatsRegistry subscriber, io.nats.client.Connection.Status status) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (subscriber.connection() == null || subscriber.connection().getStatus() != status) {
            assertTrue(System.nanoTime() < deadline, "the control plane's NATS connection never became " + status);
            Thread.sleep(20);
        }
    }

    /**
     * Review finding: closed while NATS was away, the registry left its connecting thread behind for
     * good (jnats' connect loop swallows interrupts) — one more at each reconfiguration.
     */
    @Test
    void closedWhileNatsIsAwayItLeavesNoThreadBehind() throws Exception {
        NatsServerProcess nobody = new NatsServerProcess(dir); // a free port where nothing listens
        try (NodeRegistry registry = new NodeRegistry(Duration.ofSeconds(5), 3)) {
            NatsRegistry subscriber = new NatsRegistry(nobody.url(), registry);
            Thread.sleep(1500); // a retry or two
            subscriber.close();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (Thread.getAllStackTraces().keySet().stream().anyMatch(t -> t.getName().equals("nats-connect mayastor-control"))) {
                assertTrue(System.nanoTime() < deadline, "the connecting thread outlived close");
                Thread.sleep(50);
            }
        }
    }

    @Test
    void aMessageThatIsNotUnderstoodIsDropped() throws Exception {
        NodeRegistry registry = new NodeRegistry(Duration.ofSeconds(5), 3);
        NatsRegistry subscriber = null;
        try {
            assumeTrue(NatsServerProcess.installed(), "nats-server is not installed");
            try (NatsServerProcess nats = new NatsServerProcess(dir).start()) {
                subscriber = new NatsRegistry(nats.url(), registry);
                subscriber.handle("not json");
                subscriber.handle("{\"id\":\"v0/register\",\"data\":{\"id\":\"bad id\",\"grpcEndpoint\":\"x:1\"}}");
                subscriber.handle("{\"id\":\"v0/register\",\"data\":{\"id\":\"n2\",\"grpcEndpoint\":\"10.1.1.2:10124\"}}");
                assertEquals(1, registry.nodes().size());
                assertEquals("10.1.1.2:10124", registry.node("n2").orElseThrow().endpoint());
                // a goodbye naming another address is another host's (given the same id); MOAC's names none
                subscriber.handle("{\"id\":\"v0/deregister\",\"data\":{\"id\":\"n2\",\"grpcEndpoint\":\"10.1.1.9:10124\"}}");
                assertTrue(registry.node("n2").orElseThrow().online());
                subscriber.handle("{\"id\":\"v0/deregister\",\"data\":{\"id\":\"n2\"}}");
                assertFalse(registry.node("n2").orElseThrow().online());
                // a node's own interval, as its beats say it (a field MOAC's readers ignore)
                java.util.concurrent.atomic.AtomicLong now = new java.util.concurrent.atomic.AtomicLong();
                NodeRegistry timed = new NodeRegistry(Duration.ofSeconds(1), 3, now::get, false);
                try (NatsRegistry heard = new NatsRegistry(nats.url(), timed)) {
                    heard.handle("{\"id\":\"v0/register\",\"data\":{\"id\":\"n3\",\"grpcEndpoint\":\"10.1.1.3:10124\","
                            + "\"heartbeatSeconds\":30}}");
                    // MOAC's message says no interval: its nodes beat every 5 s, and so do ours at their default
                    heard.handle("{\"id\":\"v0/register\",\"data\":{\"id\":\"n4\",\"grpcEndpoint\":\"10.1.1.4:10124\"}}");
                    now.addAndGet(Duration.ofSeconds(10).toNanos());
                    timed.expire();
                    assertTrue(timed.node("n4").orElseThrow().online(), "two of its 5 s beats missed, not ten of 1 s");
                    assertEquals(5000, timed.heartbeatMillis("n4"));
                    now.addAndGet(Duration.ofSeconds(50).toNanos());
                    timed.expire();
                    assertTrue(timed.node("n3").orElseThrow().online(), "two of its 30 s beats missed, not sixty of 1 s");
                    assertEquals(30000, timed.heartbeatMillis("n3"), "the switch-over grace waits for it too");
                } finally {
                    timed.close();
                }
            }
        } finally {
            if (subscriber != null) {
                subscriber.close();
            }
            registry.close();
        }
    }
}
