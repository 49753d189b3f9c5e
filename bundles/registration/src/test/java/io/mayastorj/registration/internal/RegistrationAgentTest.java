package io.mayastorj.registration.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.protobuf.Empty;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.mayastorj.api.v1.DeregisterRequest;
import io.mayastorj.api.v1.RegisterRequest;
import io.mayastorj.api.v1.RegistrationGrpc;
import io.mayastorj.core.internal.node.NodeImpl;
import io.mayastorj.nats.testing.NatsServerProcess;
import io.nats.client.Connection;
import io.nats.client.Nats;
import io.nats.client.Subscription;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A node's heartbeat as a real nats-server and a gRPC Registration server receive it. */
class RegistrationAgentTest {

    @TempDir
    Path dir;

    private NodeImpl node() throws Exception {
        return new NodeImpl("node-7", "127.0.0.7:10124", dir.resolve("state").toString(), "1");
    }

    @Test
    void overNatsTheNodePublishesMoacsRegistryMessagesAndDeregistersWhenItStops() throws Exception {
        assumeTrue(NatsServerProcess.installed(), "nats-server is not installed");
        try (NatsServerProcess nats = new NatsServerProcess(dir).start();
             Connection listener = Nats.connect(nats.url())) {
            Subscription registry = listener.subscribe(RegistryMessage.SUBJECT);
            listener.flush(Duration.ofSeconds(5));
            RegistrationAgent agent = new RegistrationAgent(node(), nats.url(), "", Duration.ofMillis(200));
            for (int beat = 0; beat < 3; beat++) {
                var message = registry.nextMessage(Duration.ofSeconds(5));
                assertNotNull(message, "a heartbeat every interval");
                assertEquals("{\"id\":\"v0/register\",\"data\":{\"id\":\"node-7\",\"grpcEndpoint\":\"127.0.0.7:10124\"}}",
                        new String(message.getData(), StandardCharsets.UTF_8));
            }
            agent.stop();
            String last = null;
            for (var m = registry.nextMessage(Duration.ofSeconds(2)); m != null; m = registry.nextMessage(Duration.ofMillis(300))) {
                last = new String(m.getData(), StandardCharsets.UTF_8);
            }
            // with the endpoint it beat with: a goodbye of a second host given the same id is not the node's
            assertEquals("{\"id\":\"v0/deregister\",\"data\":{\"id\":\"node-7\",\"grpcEndpoint\":\"127.0.0.7:10124\"}}", last,
                    "the last word is goodbye");
        }
    }

    @Test
    void aNatsServerThatComesLaterOrRestartsGetsTheHeartbeatAgain() throws Exception {
        assumeTrue(NatsServerProcess.installed(), "nats-server is not installed");
        NatsServerProcess nats = new NatsServerProcess(dir);
        RegistrationAgent agent = new RegistrationAgent(node(), nats.url(), "", Duration.ofMillis(200));
        try {
            Thread.sleep(600); // beats with nobody there
            nats.start();
            try (Connection listener = Nats.connect(nats.url())) {
                Subscription registry = listener.subscribe(RegistryMessage.SUBJECT);
                assertNotNull(registry.nextMessage(Duration.ofSeconds(10)), "registered once the server is up");
            }
            nats.stop();
            nats.start();
            try (Connection listener = Nats.connect(nats.url())) {
                Subscription registry = listener.subscribe(RegistryMessage.SUBJECT);
                assertNotNull(registry.nextMessage(Duration.ofSeconds(15)), "and again after it restarted");
            }
        } finally {
            agent.stop();
            nats.close();
        }
    }

    /**
     * Review finding: a NATS server gone without a reset (its host lost power, a partition) left the
     * node's connection "connected" for minutes (the client's default pings: every 2 min), every
     * beat published into a dead socket, and the node was offline to the control plane all along.
     */
    @Test
    void aNatsServerThatVanishesWithoutAResetIsLeftWithinAFewBeats() throws Exception {
        assumeTrue(NatsServerProcess.installed(), "nats-server is not installed");
        try (NatsServerProcess nats = new NatsServerProcess(dir)) {
            nats.start();
            URI url = URI.create(nats.url());
            try (StallingProxy proxy = new StallingProxy(new InetSocketAddress(url.getHost(), url.getPort()));
                 Connection listener = Nats.connect(nats.url())) {
                Subscription registry = listener.subscribe(RegistryMessage.SUBJECT);
                RegistrationAgent agent = new RegistrationAgent(node(), "nats://127.0.0.1:" + proxy.port(), "",
                        Duration.ofMillis(500));
                try {
                    assertNotNull(registry.nextMessage(Duration.ofSeconds(10)), "registered through the relay");
                    proxy.stallAll();
                    while (registry.nextMessage(Duration.ofMillis(300)) != null) {
                        // what was on its way
                    }
                    assertNotNull(registry.nextMessage(Duration.ofSeconds(15)),
                            "registered again over a new connection once the stalled one was given up");
                } finally {
                    agent.stop();
                }
            }
        }
    }

    /**
     * Review finding (of the node's "heard"): a NATS publish counted as heard, and on a connection cut
     * without a reset publishes go into the client's buffer without a word for two pings (10-15 s at a
     * 5 s interval): the node called itself heard past the control plane's grace, and its nexuses went
     * on serving. With NATS its only way, a beat counts once the server answered a flush after it.
     */
    @Test
    void aBeatIntoAStalledNatsConnectionIsNotHeard() throws Exception {
        assumeTrue(NatsServerProcess.installed(), "nats-server is not installed");
        try (NatsServerProcess nats = new NatsServerProcess(dir)) {
            nats.start();
            URI url = URI.create(nats.url());
            try (StallingProxy proxy = new StallingProxy(new InetSocketAddress(url.getHost(), url.getPort()))) {
                RegistrationAgent agent = new RegistrationAgent(node(), "nats://127.0.0.1:" + proxy.port(), "",
                        Duration.ofSeconds(5)); // pings every 5 s: the client leaves a dead connection after 10-15 s
                try {
                    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                    while (agent.heardBeats() == 0) {
                        assertTrue(System.nanoTime() < deadline, "never heard");
                        Thread.sleep(50);
                    }
                    proxy.stallAll();
                    Thread.sleep(8500); // a beat came meanwhile, into the stalled connection
                    assertFalse(agent.heard(), "beats into a dead connection are not heard (7 s after the last that was)");
                } finally {
                    agent.stop();
                }
            }
        }
    }

    /** The same for the control plane's gRPC endpoint: calls that time out give the connection up. */
    @Test
    void aControlPlaneThatVanishesWithoutAResetIsLeftWithinAFewBeats() throws Exception {
        BlockingQueue<String> calls = new LinkedBlockingQueue<>();
        Server server = registrationServer(calls);
        try (StallingProxy proxy = new StallingProxy(new InetSocketAddress("127.0.0.1", server.getPort()))) {
            RegistrationAgent agent = new RegistrationAgent(node(), "", "127.0.0.1:" + proxy.port(), Duration.ofMillis(500));
            try {
                assertNotNull(calls.poll(10, TimeUnit.SECONDS), "registered through the relay");
                proxy.stallAll();
                Thread.sleep(300);
                calls.clear();
                assertNotNull(calls.poll(20, TimeUnit.SECONDS), "registered again over a new connection");
            } finally {
                agent.stop();
            }
        } finally {
            server.shutdownNow();
        }
    }

    /**
     * Review finding: the NATS connect ran on the beat's thread, before the gRPC beat: a NATS server
     * that took the connection and never answered (or a slow DNS) held every beat for the connect's
     * timeout, and the gRPC beats, which the deployment runs so that the node stays heard while NATS
     * moves, came every 3 s and more instead of every beat (past the control plane's grace, the node
     * went offline). The connect runs on its own thread.
     */
    @Test
    void aNatsServerThatDoesNotAnswerDoesNotHoldTheGrpcBeats() throws Exception {
        BlockingQueue<String> calls = new LinkedBlockingQueue<>();
        Server server = registrationServer(calls);
        try (java.net.ServerSocket silent = new java.net.ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress())) {
            List<java.net.Socket> accepted = new java.util.concurrent.CopyOnWriteArrayList<>();
            Thread accept = new Thread(() -> {
                while (!silent.isClosed()) {
                    try {
                        accepted.add(silent.accept()); // held open, never a word: no INFO from this "server"
                    } catch (java.io.IOException e) {
                        return;
                    }
                }
            });
            accept.setDaemon(true);
            accept.start();
            RegistrationAgent agent = new RegistrationAgent(node(), "nats://127.0.0.1:" + silent.getLocalPort(),
                    "127.0.0.1:" + server.getPort(), Duration.ofMillis(200));
            try {
                assertNotNull(calls.poll(5, TimeUnit.SECONDS), "the first gRPC beat");
                long start = System.nanoTime();
                for (int beat = 0; beat < 5; beat++) {
                    assertNotNull(calls.poll(5, TimeUnit.SECONDS), "beat " + beat);
                }
                long took = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                assertTrue(took < 2900, "five gRPC beats of 200 ms took " + took + " ms: held by the NATS connect (3 s each)");
            } finally {
                agent.stop();
                for (java.net.Socket s : accepted) {
                    s.close();
                }
            }
        } finally {
            server.shutdownNow();
        }
    }

    /**
     * The node says whether the control plane hears it (a nexus that cannot read its record stops
     * serving when it does not): heard while beats arrive, unheard within the interval and 2 s of the
     * last; a node that registers nowhere is always heard.
     */
    @Test
    void theNodeKnowsWhetherTheControlPlaneHearsIt() throws Exception {
        BlockingQueue<String> calls = new LinkedBlockingQueue<>();
        Server server = registrationServer(calls);
        RegistrationAgent agent = new RegistrationAgent(node(), "", "127.0.0.1:" + server.getPort(), Duration.ofMillis(200));
        try {
            assertNotNull(calls.poll(5, TimeUnit.SECONDS));
            assertTrue(agent.heard());
            server.shutdownNow();
            long gone = System.nanoTime();
            while (agent.heard()) {
                assertTrue(System.nanoTime() - gone < TimeUnit.SECONDS.toNanos(6), "still heard 6 s after the control plane went");
                Thread.sleep(50);
            }
            assertTrue(System.nanoTime() - gone > TimeUnit.MILLISECONDS.toNanos(1500), "not before the interval and its margin");
        } finally {
            agent.stop();
        }
        RegistrationAgent nowhere = new RegistrationAgent(node(), "", "", Duration.ofMillis(200));
        assertTrue(nowhere.heard(), "no control plane to move its volumes");
        nowhere.stop();
    }

    /** A beat that throws (here the ready check) does not end the heartbeat: the next beats come. */
    @Test
    void aBeatThatThrowsDoesNotStopTheHeartbeat() throws Exception {
        assumeTrue(NatsServerProcess.installed(), "nats-server is not installed");
        try (NatsServerProcess nats = new NatsServerProcess(dir).start();
             Connection listener = Nats.connect(nats.url())) {
            Subscription registry = listener.subscribe(RegistryMessage.SUBJECT);
            listener.flush(Duration.ofSeconds(5));
            java.util.concurrent.atomic.AtomicInteger looks = new java.util.concurrent.atomic.AtomicInteger();
            RegistrationAgent agent = new RegistrationAgent(node(), nats.url(), "", Duration.ofMillis(200), () -> {
                if (looks.getAndIncrement() == 0) {
                    throw new IllegalStateException("the framework is being refreshed");
                }
                return true;
            }, false);
            try {
                assertNotNull(registry.nextMessage(Duration.ofSeconds(5)), "beats after the one that threw");
            } finally {
                agent.stop();
            }
        }
    }

    /**
     * Review finding: a node whose reactors were stuck (its I/O stopped) went on beating from its own
     * thread, and its API still answered, so the control plane never moved its volumes. No beat while
     * the data plane is not live; beats again once it is.
     */
    @Test
    void aNodeWhoseDataPlaneIsStuckStopsBeatingUntilItRunsAgain() throws Exception {
        BlockingQueue<String> calls = new LinkedBlockingQueue<>();
        Server server = registrationServer(calls);
        java.util.concurrent.atomic.AtomicReference<String> stuck = new java.util.concurrent.atomic.AtomicReference<>();
        try {
            RegistrationAgent agent = new RegistrationAgent(node(), "", "127.0.0.1:" + server.getPort(), Duration.ofMillis(200),
                    () -> true, false, stuck::get);
            try {
                assertNotNull(calls.poll(5, TimeUnit.SECONDS), "beats while live");
                stuck.set("reactor(s) [1] ran no task in 2000 ms");
                Thread.sleep(800); // the first look that finds it stuck still beats (a pause must not cost the volumes)
                calls.clear();
                assertEquals(null, calls.poll(1, TimeUnit.SECONDS), "no beat while the data plane is stuck");
                stuck.set(null);
                assertNotNull(calls.poll(5, TimeUnit.SECONDS), "beats again once it runs");
            } finally {
                agent.stop();
            }
        } finally {
            server.shutdownNow();
        }
        assertTrue(server.awaitTermination(5, TimeUnit.SECONDS));
    }

    /**
     * Review finding: nothing told the control plane a node's interval, so a node beating every 30 s
     * to a control plane expecting 5 went offline between every two beats. Each beat says it: MOAC's
     * message is unchanged at MOAC's 5 s, another interval is added as a field MOAC's readers ignore.
     */
    @Test
    void aBeatSaysTheNodesIntervalWhenItIsNotMoacs() {
        assertEquals("{\"id\":\"v0/register\",\"data\":{\"id\":\"n1\",\"grpcEndpoint\":\"10.0.0.1:10124\"}}",
                new String(RegistryMessage.register("n1", "10.0.0.1:10124", 5), StandardCharsets.UTF_8));
        assertEquals("{\"id\":\"v0/register\",\"data\":{\"id\":\"n1\",\"grpcEndpoint\":\"10.0.0.1:10124\","
                + "\"heartbeatSeconds\":30}}", new String(RegistryMessage.register("n1", "10.0.0.1:10124", 30), StandardCharsets.UTF_8));
    }

    @Test
    void overGrpcTheNodeCallsTheControlPlanesRegistrationService() throws Exception {
        BlockingQueue<String> calls = new LinkedBlockingQueue<>();
        Server server = registrationServer(calls);
        try {
            RegistrationAgent agent = new RegistrationAgent(node(), "", "127.0.0.1:" + server.getPort(), Duration.ofMillis(200));
            for (int beat = 0; beat < 2; beat++) {
                assertEquals("register node-7 127.0.0.7:10124 nqn.2019-05.io.openebs:node-name:node-7",
                        calls.poll(5, TimeUnit.SECONDS));
            }
            agent.stop();
            String last = null;
            for (String c = calls.poll(1, TimeUnit.SECONDS); c != null; c = calls.poll(300, TimeUnit.MILLISECONDS)) {
                last = c;
            }
            assertEquals("deregister node-7 127.0.0.7:10124", last);
        } finally {
            server.shutdownNow();
        }
        assertTrue(server.awaitTermination(5, TimeUnit.SECONDS));
    }

    /**
     * Review finding: the stop interrupted a beat under way, which cancels its call on the node's side
     * only: the control plane could take the beat after the goodbye and call the node online for
     * three beats after it left. The beat under way ends first now, then the goodbye goes.
     */
    @Test
    void aBeatUnderWayAtTheStopEndsBeforeTheGoodbye() throws Exception {
        BlockingQueue<String> calls = new LinkedBlockingQueue<>();
        java.util.concurrent.CountDownLatch held = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.atomic.AtomicInteger beats = new java.util.concurrent.atomic.AtomicInteger();
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .addService(new RegistrationGrpc.RegistrationImplBase() {
                    @Override
                    public void register(RegisterRequest request, StreamObserver<Empty> response) {
                        if (beats.incrementAndGet() == 2) { // the second beat is slow to be taken
                            held.countDown();
                            try {
                                release.await(10, TimeUnit.SECONDS);
                            } catch (InterruptedException e) {
                                Thread.currentThread().interrupt();
                            }
                        }
                        calls.add("register");
                        response.onNext(Empty.getDefaultInstance());
                        response.onCompleted();
                    }

                    @Override
                    public void deregister(DeregisterRequest request, StreamObserver<Empty> response) {
                        calls.add("deregister");
                        response.onNext(Empty.getDefaultInstance());
                        response.onCompleted();
                    }
                }).build().start();
        try {
            RegistrationAgent agent = new RegistrationAgent(node(), "", "127.0.0.1:" + server.getPort(), Duration.ofMillis(200));
            assertTrue(held.await(10, TimeUnit.SECONDS), "a beat under way");
            Thread stopper = new Thread(agent::stop);
            stopper.start();
            Thread.sleep(300);
            release.countDown(); // the control plane takes the beat now
            stopper.join(10_000);
            List<String> order = new java.util.ArrayList<>();
            for (String c = calls.poll(1, TimeUnit.SECONDS); c != null; c = calls.poll(300, TimeUnit.MILLISECONDS)) {
                order.add(c);
            }
            assertEquals(List.of("register", "register", "deregister"), order, "the goodbye is the last word");
        } finally {
            release.countDown();
            server.shutdownNow();
        }
    }

    /** A Registration service that notes each call in CALLS. */
    private static Server registrationServer(BlockingQueue<String> calls) throws java.io.IOException {
        return NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .addService(new RegistrationGrpc.RegistrationImplBase() {
                    @Override
                    public void register(RegisterRequest request, StreamObserver<Empty> response) {
                        calls.add("register " + request.getId() + " " + request.getGrpcEndpoint() + " " + request.getHostNqn());
                        response.onNext(Empty.getDefaultInstance());
                        response.onCompleted();
                    }

                    @Override
                    public void deregister(DeregisterRequest request, StreamObserver<Empty> response) {
                        calls.add("deregister " + request.getId() + " " + request.getGrpcEndpoint());
                        response.onNext(Empty.getDefaultInstance());
                        response.onCompleted();
                    }
                }).build().start();
    }
}
