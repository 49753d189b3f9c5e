package io.mayastorj.nexus.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.internal.bdev.BdevRegistryImpl;
import io.mayastorj.core.internal.bdev.MallocBdevFactory;
import io.mayastorj.core.internal.buffer.DmaBufferPool;
import io.mayastorj.core.internal.buffer.HugepageMode;
import io.mayastorj.core.internal.share.ShareManagerImpl;
import io.mayastorj.nexus.internal.store.NatsNexusStore;
import io.mayastorj.nexus.internal.store.NexusRecord;
import io.mayastorj.nats.testing.NatsServerProcess;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Nexus records in a real nats-server's JetStream key-value bucket, also while that server is down. */
class NatsNexusStoreTest {

    private static final UUID ID = UUID.fromString("0e0e0e0e-0000-4000-8000-00000000000e");

    @TempDir
    Path dir;
    private NatsServerProcess server;
    private final List<AutoCloseable> closing = new ArrayList<>();
    private final DmaBufferPool buffers = new DmaBufferPool(32L << 20, HugepageMode.OFF);

    @BeforeEach
    void start() throws Exception {
        assumeTrue(NatsServerProcess.installed(), "nats-server is not installed");
        server = new NatsServerProcess(dir).start();
    }

    @AfterEach
    void stop() throws Exception {
        for (int i = closing.size() - 1; i >= 0; i--) {
            closing.get(i).close();
        }
        if (server != null) {
            server.close();
        }
    }

    private NatsNexusStore store() throws IOException {
        NatsNexusStore s = new NatsNexusStore(server.url());
        closing.add(s);
        return s;
    }

    @Test
    void recordsRoundTripThroughTheBucket() throws Exception {
        NatsNexusStore store = store();
        assertTrue(store.load(ID).isEmpty());
        NexusRecord r = new NexusRecord(ID, "vol", 1 << 20, false, List.of(
                new NexusRecord.ChildRecord("bdev:///a", true, 5), new NexusRecord.ChildRecord("nvmf://10.0.0.2:8420/nqn.x:b", false, 6)));
        store.save(r);
        assertEquals(r, store().load(ID).orElseThrow(), "another connection reads what was saved");
        store.delete(ID);
        assertTrue(store.load(ID).isEmpty());
        assertEquals("NATS bucket mayastor-nexus at " + server.url(), store.describe());
    }

    @Test
    void whileNatsIsDownAWriteThatFaultedAChildWaitsForTheRecord() throws Exception {
        BdevRegistryImpl registry = new BdevRegistryImpl();
        List<FaultyDevice> children = new ArrayList<>();
        for (String name : List.of("a", "b")) {
            BlockDevice inner = new MallocBdevFactory().create(BdevUri.parse("malloc:///inner-" + name + "?size_mb=4"));
            closing.add(inner::close);
            FaultyDevice d = new FaultyDevice(name, inner);
            registry.register(d);
            children.add(d);
        }
        NatsNexusStore store = store();
        NexusManager manager = new NexusManager(registry, buffers, new ShareManagerImpl(registry), store, NexusSettings.DEFAULT);
        closing.add(manager::close);
        manager.create("vol", ID, 0, List.of("bdev:///a", "bdev:///b"));
        assertTrue(store.load(ID).orElseThrow().children().get(1).healthy());

        server.stop();
        children.get(1).failWrites = IoStatus.UNAVAILABLE;
        AtomicReference<IoStatus> result = new AtomicReference<>();
        CountDownLatch done = new CountDownLatch(1);
        DmaBuffer buf = buffers.allocate(4096);
        registry.lookup("vol").orElseThrow().write(buf, 0, 0, 8, (status, ctx) -> {
            result.set(status);
            done.countDown();
        }, null);
        assertFalse(done.await(3, TimeUnit.SECONDS), "with nowhere to record that b is out, the write is not acknowledged");
        server.start();
        assertTrue(done.await(30, TimeUnit.SECONDS), "NATS is back: the record is saved and the write completes");
        assertEquals(IoStatus.SUCCESS, result.get());
        buf.release();
        NexusRecord r = store().load(ID).orElseThrow();
        assertTrue(r.children().get(0).healthy());
        assertFalse(r.children().get(1).healthy(), "b is recorded out of sync");
    }
}
