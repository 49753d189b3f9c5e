package io.mayastorj.core.internal.share;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.error.ErrorKind;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.core.internal.bdev.BdevRegistryImpl;
import io.mayastorj.core.internal.bdev.MallocBdevFactory;
import io.mayastorj.core.transport.ShareOptions;
import io.mayastorj.core.transport.ShareState;
import io.mayastorj.core.transport.ShareStatus;
import io.mayastorj.core.transport.Transport;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ShareManagerImplTest {

    /** A transport that serves nothing but records what it was asked; it stands in for nvmf here. */
    private static class RecordingTransport implements Transport {
        final String protocol;
        final List<String> shared = new ArrayList<>();
        String refuse;

        RecordingTransport(String protocol) {
            this.protocol = protocol;
        }

        @Override
        public String protocol() {
            return protocol;
        }

        @Override
        public String share(BlockDevice device, ShareOptions options) {
            if (refuse != null) {
                throw MayastorException.invalidArgument(refuse);
            }
            shared.add(device.name());
            return protocol + "://127.0.0.1/" + device.name() + "?hosts=" + options.allowedHosts();
        }

        @Override
        public void unshare(BlockDevice device) {
            shared.remove(device.name());
        }
    }

    private final BdevRegistryImpl registry = new BdevRegistryImpl();
    private final ShareManagerImpl shares = new ShareManagerImpl(registry);
    private final RecordingTransport nvmf = new RecordingTransport("nvmf");
    private final ShareOptions hostA = new ShareOptions(List.of("nqn.host-a"), Map.of());

    private final MallocBdevFactory malloc = new MallocBdevFactory();

    ShareManagerImplTest() {
        registry.addFactory(malloc);
        registry.create("malloc:///m0?size_mb=1");
        registry.create("malloc:///m1?size_mb=1");
    }

    /**
     * Review finding: stopping the share manager released its claims but left the transports serving
     * the bdevs (DS unbinds the transports after the deactivation, from an empty map): a transport that
     * stays up served bdevs no claim held, which the registry could then destroy under connected hosts.
     */
    @Test
    void aStoppedShareManagerUnsharesWhatItShared() {
        shares.addTransport(nvmf);
        shares.share("m0", "nvmf", hostA);
        assertEquals(List.of("m0"), nvmf.shared);
        shares.stop();
        assertEquals(List.of(), nvmf.shared, "no longer served");
    }

    @AfterEach
    void stop() {
        shares.stop();
        registry.closeAll();
    }

    @Test
    void sharingClaimsTheBdevAndReturnsTheTransportsUri() {
        shares.addTransport(nvmf);
        String uri = shares.share("m0", "nvmf", hostA);
        assertEquals("nvmf://127.0.0.1/m0?hosts=[nqn.host-a]", uri);
        assertEquals(uri, shares.share("m0", "nvmf", hostA), "sharing again the same way is idempotent");
        assertEquals("share nvmf", registry.list().get(0).claimedBy());
        MayastorException e = assertThrows(MayastorException.class, () -> registry.destroy("m0"));
        assertEquals("bdev m0 is in use by share nvmf; unshare it first (mayastor ctl bdev unshare m0), or destroy it with --force", e.getMessage());
        shares.unshare("m0");
        assertEquals(List.of(), nvmf.shared);
        assertNull(registry.list().get(0).claimedBy());
    }

    @Test
    void statusesAreReadWhileAnUnshareWaitsForItsCommands() throws Exception {
        // a transport's unshare waits for the share's commands to finish at the bdev; a nexus's I/O may
        // need its control thread, which reads its share's status: that read must not wait for the unshare
        CountDownLatch inUnshare = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        shares.addTransport(slowUnshare(inUnshare, release));
        shares.share("m0", "nvmf", hostA);
        shares.share("m1", "nvmf", hostA);
        ExecutorService threads = Executors.newFixedThreadPool(2); // not the common pool: one thread on two cores
        try {
            Future<?> unsharing = threads.submit(() -> shares.unshare("m0"));
            try {
                assertTrue(inUnshare.await(10, TimeUnit.SECONDS));
                Future<String> read = threads.submit(() -> shares.status("m1").orElseThrow().uri() + " "
                        + shares.shares().size() + " " + shares.protocols());
                assertEquals("nvmf://127.0.0.1/m1?hosts=[nqn.host-a] 1 [nvmf]", read.get(5, TimeUnit.SECONDS), "m0 gone at once");
            } finally {
                release.countDown();
            }
            unsharing.get(10, TimeUnit.SECONDS);
        } finally {
            threads.shutdownNow();
        }
        assertEquals(List.of("m1"), shares.shares().stream().map(ShareStatus::bdev).toList());
    }

    /**
     * Review finding: a destroy saw its replica shared and called unshare; a concurrent unshare (a
     * transport's waits up to 10 s for the share's commands) took the share first, and the destroy
     * answered NOT_FOUND for the replica itself — which a control plane takes as "gone", leaving it.
     */
    /** An nvmf transport whose unshare waits for {@code release} (as a real one waits for the share's commands at the bdev). */
    private static RecordingTransport slowUnshare(CountDownLatch inUnshare, CountDownLatch release) {
        return new RecordingTransport("nvmf") {
            @Override
            public void unshare(BlockDevice device) {
                inUnshare.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                super.unshare(device);
            }
        };
    }

    @Test
    void anUnshareBeatenByAnotherIsNoErrorWhenAskedIfShared() throws Exception {
        CountDownLatch inUnshare = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        shares.addTransport(slowUnshare(inUnshare, release));
        shares.share("m0", "nvmf", hostA);
        ExecutorService threads = Executors.newFixedThreadPool(3); // not the common pool: one thread on two cores
        try {
            Future<?> first = threads.submit(() -> shares.unshare("m0"));
            assertTrue(inUnshare.await(10, TimeUnit.SECONDS));
            Future<?> plain = threads.submit(() -> shares.unshare("m0")); // both saw m0 shared
            Future<?> ifShared = threads.submit(() -> shares.unshareIfShared("m0"));
            Thread.sleep(100);
            release.countDown();
            first.get(10, TimeUnit.SECONDS);
            java.util.concurrent.ExecutionException e = assertThrows(java.util.concurrent.ExecutionException.class,
                    () -> plain.get(10, TimeUnit.SECONDS));
            assertEquals(ErrorKind.NOT_FOUND, ((MayastorException) e.getCause()).kind());
            ifShared.get(10, TimeUnit.SECONDS);
        } finally {
            release.countDown();
            threads.shutdownNow();
        }
    }

    /**
     * Review finding: a share is kept as a comma-separated line in a replica's metadata, so an allowed
     * host "nqn.a,nqn.b" was let in as one host and came back as two after a restart (and a newline
     * could change the protocol restored). A host is one name or address.
     */
    @Test
    void anAllowedHostWithACommaOrControlCharacterIsRefused() {
        for (String bad : List.of("nqn.2014-08.org.a,nqn.2014-08.org.b", "nqn.a\nshare=iscsi", "nqn.a b", " ")) {
            MayastorException e = assertThrows(MayastorException.class, () -> new ShareOptions(List.of(bad), Map.of()), bad);
            assertEquals(ErrorKind.INVALID_ARGUMENT, e.kind());
        }
        assertEquals(List.of("nqn.2014-08.org.nvmexpress:uuid:1", "10.0.0.1", "fe80::1"),
                new ShareOptions(List.of("nqn.2014-08.org.nvmexpress:uuid:1", "10.0.0.1", "fe80::1"), Map.of()).allowedHosts());
    }

    @Test
    void sharingOverAMissingTransportIsUnavailable() {
        MayastorException e = assertThrows(MayastorException.class, () -> shares.share("m0", "iscsi", ShareOptions.DEFAULT));
        assertEquals(ErrorKind.UNAVAILABLE, e.kind());
        assertEquals("no iscsi transport on this node (available: none)", e.getMessage());
        shares.addTransport(nvmf);
        e = assertThrows(MayastorException.class, () -> shares.share("m0", "iscsi", ShareOptions.DEFAULT));
        assertEquals("no iscsi transport on this node (available: nvmf)", e.getMessage());
        assertNull(registry.list().get(0).claimedBy(), "a refused share leaves no claim");
    }

    @Test
    void sharingTwiceDifferentlyIsRefused() {
        shares.addTransport(nvmf);
        shares.share("m0", "nvmf", hostA);
        MayastorException e = assertThrows(MayastorException.class, () -> shares.share("m0", "nvmf", ShareOptions.DEFAULT));
        assertEquals(ErrorKind.ALREADY_EXISTS, e.kind());
        assertEquals("bdev m0 is shared already to nqn.host-a, not any host; to change its share, unshare it first "
                + "(mayastor ctl bdev unshare m0)", e.getMessage());
        shares.addTransport(new RecordingTransport("iscsi"));
        e = assertThrows(MayastorException.class, () -> shares.share("m0", "iscsi", hostA));
        assertEquals("bdev m0 is shared already over nvmf, not iscsi; to change its share, unshare it first "
                + "(mayastor ctl bdev unshare m0)", e.getMessage());
        assertEquals(shares.share("m0", "nvmf", hostA), shares.share("m0", "nvmf", hostA), "the same share twice: its URI");
    }

    @Test
    void theTransportsOwnErrorReachesTheCallerAndNoClaimRemains() {
        shares.addTransport(nvmf);
        nvmf.refuse = "host NQN 'x' is not a valid NQN";
        MayastorException e = assertThrows(MayastorException.class, () -> shares.share("m0", "nvmf", hostA));
        assertEquals(ErrorKind.INVALID_ARGUMENT, e.kind());
        assertEquals("host NQN 'x' is not a valid NQN", e.getMessage());
        assertNull(registry.list().get(0).claimedBy());
        assertTrue(shares.shares().isEmpty());
    }

    @Test
    void unknownBdevsAndUnsharedBdevsAreNotFound() {
        shares.addTransport(nvmf);
        assertEquals("bdev m9 not found",
                assertThrows(MayastorException.class, () -> shares.share("m9", "nvmf", hostA)).getMessage());
        MayastorException e = assertThrows(MayastorException.class, () -> shares.unshare("m1"));
        assertEquals(ErrorKind.NOT_FOUND, e.kind());
        assertEquals("bdev m1 is not shared", e.getMessage());
    }

    /**
     * Review finding: the factory of a shared bdev went (its bundle recycled with the data plane's
     * settings) and the registry closed the bdev; the transport, back, shared the closed device again
     * (ACTIVE, every I/O failing), and its name, free for a new bdev, could be neither unshared nor
     * shared. The share goes with its device.
     */
    @Test
    void aShareWhoseBdevWasClosedByItsFactoryGoingIsDropped() {
        shares.addTransport(nvmf);
        shares.share("m0", "nvmf", hostA);
        shares.removeTransport(nvmf); // the data plane's components restart together
        registry.removeFactory(malloc);
        RecordingTransport updated = new RecordingTransport("nvmf");
        shares.addTransport(updated);
        assertEquals(List.of(), updated.shared, "the closed device is not shared again");
        assertTrue(shares.status("m0").isEmpty(), "its share is gone");
        registry.addFactory(malloc);
        registry.create("malloc:///m0?size_mb=1"); // the name is free: a new bdev
        assertEquals("nvmf://127.0.0.1/m0?hosts=[nqn.host-a]", shares.share("m0", "nvmf", hostA));
        assertEquals(ShareState.ACTIVE, shares.status("m0").orElseThrow().state());
    }

    @Test
    void aTransportThatGoesAwayAndComesBackGetsItsSharesBack() {
        shares.addTransport(nvmf);
        shares.share("m0", "nvmf", hostA);
        shares.share("m1", "nvmf", ShareOptions.DEFAULT);

        shares.removeTransport(nvmf);
        assertEquals(List.of(), nvmf.shared, "the old transport was told to stop serving");
        for (ShareStatus s : shares.shares()) {
            assertEquals(ShareState.WAITING_FOR_TRANSPORT, s.state());
            assertNull(s.uri());
        }
        assertEquals("share nvmf", registry.list().get(0).claimedBy(), "the claim outlives the transport");

        RecordingTransport updated = new RecordingTransport("nvmf");
        shares.addTransport(updated);
        assertEquals(List.of("m0", "m1"), updated.shared);
        ShareStatus m0 = shares.status("m0").orElseThrow();
        assertEquals(ShareState.ACTIVE, m0.state());
        assertEquals(hostA, m0.options(), "with the options it had");
        assertEquals("nvmf://127.0.0.1/m0?hosts=[nqn.host-a]", m0.uri());
    }

    @Test
    void aReturningTransportThatRefusesMarksTheShareFailed() {
        shares.addTransport(nvmf);
        shares.share("m0", "nvmf", hostA);
        shares.removeTransport(nvmf);
        RecordingTransport broken = new RecordingTransport("nvmf");
        broken.refuse = "port 8420 is taken";
        shares.addTransport(broken);
        ShareStatus s = shares.status("m0").orElseThrow();
        assertEquals(ShareState.FAILED, s.state());
        assertEquals("port 8420 is taken", s.error());
        shares.unshare("m0");
        assertNull(registry.list().get(0).claimedBy());
    }

    /**
     * Review finding: a share its transport refused stayed failed when asked for again, answered null
     * (as if it waited) and never tried — its replica could not be a nexus's child until an unshare.
     * Asked again, it is tried again: shared once the cause is gone, the transport's error while not.
     */
    @Test
    void aFailedShareAskedForAgainIsTriedAgain() {
        shares.addTransport(nvmf);
        shares.share("m0", "nvmf", hostA);
        shares.removeTransport(nvmf);
        RecordingTransport broken = new RecordingTransport("nvmf");
        broken.refuse = "port 8420 is taken";
        shares.addTransport(broken);
        assertEquals(ShareState.FAILED, shares.status("m0").orElseThrow().state());
        MayastorException still = assertThrows(MayastorException.class, () -> shares.share("m0", "nvmf", hostA));
        assertEquals(ErrorKind.UNAVAILABLE, still.kind(), still.getMessage());
        assertTrue(still.getMessage().contains("port 8420 is taken"), still.getMessage());
        broken.refuse = null;
        assertNotNull(shares.share("m0", "nvmf", hostA));
        assertEquals(ShareState.ACTIVE, shares.status("m0").orElseThrow().state());
        assertEquals(List.of("m0"), broken.shared);
    }

    @Test
    void aRestoredShareWaitsForItsTransport() {
        shares.restore("m0", "nvmf", hostA);
        ShareStatus waiting = shares.status("m0").orElseThrow();
        assertEquals(ShareState.WAITING_FOR_TRANSPORT, waiting.state());
        assertEquals("share nvmf", registry.list().get(0).claimedBy());
        shares.addTransport(nvmf);
        assertEquals(ShareState.ACTIVE, shares.status("m0").orElseThrow().state());
        assertEquals(List.of("m0"), nvmf.shared);
        shares.restore("m0", "nvmf", hostA); // idempotent
        assertEquals(List.of("m0"), nvmf.shared);
    }

    /** SCR's failure text is a stack trace; the reason shown is the constructor's own message. */
    @Test
    void aTransportsActivationFailureIsToldByItsFirstCause() {
        String failure = "java.lang.reflect.InvocationTargetException\n\tat x.y(Z.java:1)\n"
                + "Caused by: java.io.IOException: the NBD server cannot listen on 127.0.0.1:10809: Address already in use\n"
                + "\tat a.b(C.java:2)\nCaused by: java.net.BindException: Address already in use\n";
        assertEquals("the NBD server cannot listen on 127.0.0.1:10809: Address already in use", ShareManagerImpl.reason(failure));
        assertEquals("no cause", ShareManagerImpl.reason("java.lang.IllegalStateException: no cause"));
        assertEquals("its component did not activate", ShareManagerImpl.reason(null));
    }

    /** Sharing again the way a waiting share already is changes nothing and is no error: null, no URI yet. */
    @Test
    void sharingAgainAShareThatWaitsIsIdempotent() {
        shares.addTransport(nvmf);
        String uri = shares.share("m0", "nvmf", hostA);
        shares.removeTransport(nvmf);
        assertEquals(ShareState.WAITING_FOR_TRANSPORT, shares.status("m0").orElseThrow().state());
        assertNull(shares.share("m0", "nvmf", hostA));
        shares.addTransport(nvmf);
        assertEquals(uri, shares.share("m0", "nvmf", hostA));
    }
}
