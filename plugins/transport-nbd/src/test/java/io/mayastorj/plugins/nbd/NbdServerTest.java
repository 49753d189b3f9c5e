package io.mayastorj.plugins.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.internal.bdev.AioBdevFactory;
import io.mayastorj.core.internal.bdev.MallocBdevFactory;
import io.mayastorj.core.internal.buffer.DmaBufferPool;
import io.mayastorj.core.internal.buffer.HugepageMode;
import io.mayastorj.core.transport.ShareOptions;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The NBD server against a raw client: the handshake, options, every command, and what bad requests get. */
class NbdServerTest {

    private final DmaBufferPool buffers = new DmaBufferPool(32L << 20, HugepageMode.OFF);
    private BlockDevice disk;
    private NbdTransport nbd;
    private int port;

    @BeforeEach
    void start() throws Exception {
        disk = new MallocBdevFactory().create(BdevUri.parse("malloc:///disk0?size_mb=8"));
        nbd = new NbdTransport(buffers, new InetSocketAddress("127.0.0.1", 0));
        port = nbd.address().getPort();
        assertEquals("nbd://127.0.0.1:" + port + "/disk0", nbd.share(disk, ShareOptions.DEFAULT));
    }

    @AfterEach
    void stop() throws Exception {
        nbd.close();
        disk.close();
        assertEquals(0, buffers.stats().classes().stream().mapToLong(c -> c.inUse()).sum(), "buffers leaked");
        buffers.close();
    }

    private NbdClient goTo(String export, boolean structured) throws Exception {
        return goTo(export, 8L << 20, structured);
    }

    private NbdClient goTo(String export, long size, boolean structured) throws Exception {
        NbdClient c = new NbdClient(port);
        assertEquals(Nbd.FLAG_FIXED_NEWSTYLE | Nbd.FLAG_NO_ZEROES, c.greet());
        if (structured) {
            c.option(Nbd.OPT_STRUCTURED_REPLY, new byte[0]);
            assertEquals(Nbd.REP_ACK, c.reply().type());
        }
        c.option(Nbd.OPT_GO, NbdClient.go(export));
        NbdClient.Reply info = c.reply();
        assertEquals(Nbd.REP_INFO, info.type());
        ByteBuffer b = ByteBuffer.wrap(info.data());
        assertEquals(Nbd.INFO_EXPORT, b.getShort());
        assertEquals(size, b.getLong());
        assertEquals(Nbd.FLAG_HAS_FLAGS | Nbd.FLAG_SEND_FLUSH | Nbd.FLAG_SEND_FUA | Nbd.FLAG_CAN_MULTI_CONN | Nbd.FLAG_SEND_TRIM
                | Nbd.FLAG_SEND_WRITE_ZEROES, b.getShort());
        NbdClient.Reply sizes = c.reply();
        ByteBuffer s = ByteBuffer.wrap(sizes.data());
        assertEquals(Nbd.INFO_BLOCK_SIZE, s.getShort());
        assertEquals(512, s.getInt(), "minimum block size: the bdev's");
        assertEquals(4096, s.getInt());
        assertEquals(Nbd.MAX_PAYLOAD, s.getInt());
        assertEquals(Nbd.REP_ACK, c.reply().type());
        return c;
    }

    @Test
    void optionsListInfoAndRefusals() throws Exception {
        try (NbdClient c = new NbdClient(port)) {
            c.greet();
            c.option(Nbd.OPT_LIST, new byte[0]);
            NbdClient.Reply server = c.reply();
            assertEquals(Nbd.REP_SERVER, server.type());
            assertEquals("disk0", new String(server.data(), 4, server.data().length - 4, StandardCharsets.UTF_8));
            assertEquals(Nbd.REP_ACK, c.reply().type());
            c.option(Nbd.OPT_GO, NbdClient.go("nope"));
            NbdClient.Reply unknown = c.reply();
            assertEquals(Nbd.REP_ERR_UNKNOWN, unknown.type());
            assertEquals("no export 'nope'", unknown.text());
            c.option(Nbd.OPT_STARTTLS, new byte[0]);
            assertEquals(Nbd.REP_ERR_POLICY, c.reply().type());
            c.option(42, new byte[3]);
            assertEquals(Nbd.REP_ERR_UNSUP, c.reply().type());
            c.option(Nbd.OPT_GO, new byte[] {0, 0, 0, 9, 'x'});
            assertEquals(Nbd.REP_ERR_INVALID, c.reply().type(), "a name longer than the data");
            c.option(Nbd.OPT_ABORT, new byte[0]);
            assertEquals(Nbd.REP_ACK, c.reply().type());
            assertTrue(c.closedByServer());
        }
        try (NbdClient c = new NbdClient(port)) {
            c.greet();
            c.option(Nbd.OPT_EXPORT_NAME, "nope".getBytes(StandardCharsets.UTF_8));
            assertTrue(c.closedByServer(), "EXPORT_NAME of an unknown export can only be answered by closing");
        }
        try (NbdClient c = new NbdClient(port)) {
            c.greet();
            c.option(Nbd.OPT_EXPORT_NAME, "disk0".getBytes(StandardCharsets.UTF_8));
            assertEquals(8L << 20, c.in.readLong());
            c.in.readUnsignedShort(); // flags; no zeroes follow (NO_ZEROES)
            c.request(Nbd.CMD_FLUSH, 0, 1, 0, 0, null);
            assertEquals(0, c.simpleReply(1, null));
        }
    }

    @Test
    void everyCommandDoesWhatItSays() throws Exception {
        try (NbdClient c = goTo("disk0", false)) {
            byte[] data = new byte[65536];
            new Random(1).nextBytes(data);
            c.request(Nbd.CMD_WRITE, Nbd.CMD_FLAG_FUA, 7, 1 << 20, data.length, data);
            assertEquals(0, c.simpleReply(7, null));
            byte[] back = new byte[data.length];
            c.request(Nbd.CMD_READ, 0, 8, 1 << 20, back.length, null);
            assertEquals(0, c.simpleReply(8, back));
            assertArrayEquals(data, back);
            c.request(Nbd.CMD_WRITE_ZEROES, 0, 9, 1 << 20, 4096, null);
            assertEquals(0, c.simpleReply(9, null));
            c.request(Nbd.CMD_TRIM, 0, 10, (1 << 20) + 4096, 4096, null);
            assertEquals(0, c.simpleReply(10, null));
            c.request(Nbd.CMD_FLUSH, 0, 11, 0, 0, null);
            assertEquals(0, c.simpleReply(11, null));
            c.request(Nbd.CMD_READ, 0, 12, 1 << 20, 8192, null);
            byte[] zeroed = new byte[8192];
            assertEquals(0, c.simpleReply(12, zeroed));
            assertArrayEquals(new byte[4096], java.util.Arrays.copyOf(zeroed, 4096), "write-zeroes made zeros");
            c.request(Nbd.CMD_DISC, 0, 13, 0, 0, null);
            assertTrue(c.closedByServer());
        }
    }

    /**
     * The malloc disk behind a proxy that records which bdev calls the server makes, and whose
     * supports(UNMAP) turns false on demand (a file bdev that found its file system cannot unmap), and
     * supports(WRITE_ZEROES) too (a nexus that gained a child without write-zeroes).
     */
    private BlockDevice recording(List<String> calls, java.util.concurrent.atomic.AtomicBoolean canUnmap) {
        return recording(calls, canUnmap, new java.util.concurrent.atomic.AtomicBoolean(true));
    }

    private BlockDevice recording(List<String> calls, java.util.concurrent.atomic.AtomicBoolean canUnmap,
                                  java.util.concurrent.atomic.AtomicBoolean canWriteZeroes) {
        BlockDevice inner = new MallocBdevFactory().create(BdevUri.parse("malloc:///rec0?size_mb=8"));
        return (BlockDevice) java.lang.reflect.Proxy.newProxyInstance(BlockDevice.class.getClassLoader(),
                new Class<?>[] {BlockDevice.class}, (proxy, method, args) -> {
                    if (method.getName().equals("supports") && args[0] == io.mayastorj.core.bdev.IoType.UNMAP && !canUnmap.get()) {
                        return false;
                    }
                    if (method.getName().equals("supports") && args[0] == io.mayastorj.core.bdev.IoType.WRITE_ZEROES
                            && !canWriteZeroes.get()) {
                        return false;
                    }
                    if (List.of("read", "write", "writeZeroes", "unmap", "flush").contains(method.getName())) {
                        calls.add(method.getName());
                    }
                    try {
                        return method.invoke(inner, args);
                    } catch (java.lang.reflect.InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }

    /**
     * Review finding: NBD_CMD_FLAG_NO_HOLE was ignored. The protocol says the range MUST then be
     * fully provisioned, and a bdev's write-zeroes may leave a thin replica's clusters unallocated (a
     * later write could find the pool full): such a request is written as zeros now, in pieces of at
     * most one buffer. And a trim is a hint: one the device can no longer take is answered OK.
     */
    /**
     * Review finding: WRITE_ZEROES is offered at the handshake when the bdev has it; a bdev that lost
     * it since (a nexus that gained a child without it) answered EINVAL to a command the client was
     * told works — an I/O error in the guest. Zeros are written instead.
     */
    @Test
    void aWriteZeroesTheDeviceCanNoLongerTakeIsWrittenAsZeros() throws Exception {
        List<String> calls = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
        java.util.concurrent.atomic.AtomicBoolean canWriteZeroes = new java.util.concurrent.atomic.AtomicBoolean(true);
        BlockDevice rec = recording(calls, new java.util.concurrent.atomic.AtomicBoolean(true), canWriteZeroes);
        nbd.share(rec, ShareOptions.DEFAULT);
        try (NbdClient c = goTo("rec0", false)) {
            byte[] ones = new byte[8192];
            java.util.Arrays.fill(ones, (byte) 1);
            c.request(Nbd.CMD_WRITE, 0, 1, 0, ones.length, ones);
            assertEquals(0, c.simpleReply(1, null));
            canWriteZeroes.set(false);
            calls.clear();
            c.request(Nbd.CMD_WRITE_ZEROES, 0, 2, 4096, 4096, null);
            assertEquals(0, c.simpleReply(2, null));
            assertEquals(List.of("write"), calls, "zeros written through the bdev's write");
            byte[] back = new byte[8192];
            c.request(Nbd.CMD_READ, 0, 3, 0, back.length, null);
            assertEquals(0, c.simpleReply(3, back));
            for (int i = 0; i < back.length; i++) {
                assertEquals(i < 4096 ? 1 : 0, back[i], "byte " + i);
            }
        } finally {
            nbd.unshare(rec);
            rec.close();
        }
    }

    /**
     * Review finding: a device without a flush (nothing volatile: a plugin's) failed every FLUSH, and
     * a FUA write after its data had landed (ENOTSUP): an I/O error in the client. Done at once, as the
     * NVMe and iSCSI targets answer them.
     */
    @Test
    void aFlushOrAFuaWriteToADeviceWithoutAFlushIsDone() throws Exception {
        BlockDevice inner = new MallocBdevFactory().create(BdevUri.parse("malloc:///noflush?size_mb=8"));
        BlockDevice flushless = (BlockDevice) java.lang.reflect.Proxy.newProxyInstance(BlockDevice.class.getClassLoader(),
                new Class<?>[] {BlockDevice.class}, (proxy, method, args) -> {
                    if (method.getName().equals("supports") && args[0] == io.mayastorj.core.bdev.IoType.FLUSH) {
                        return false;
                    }
                    if (method.getName().equals("flush")) {
                        @SuppressWarnings("unchecked")
                        io.mayastorj.core.bdev.IoCompletion<Object> done = (io.mayastorj.core.bdev.IoCompletion<Object>) args[0];
                        done.ioDone(IoStatus.UNSUPPORTED, args[1]);
                        return null;
                    }
                    try {
                        return method.invoke(inner, args);
                    } catch (java.lang.reflect.InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
        nbd.share(flushless, ShareOptions.DEFAULT);
        try (NbdClient c = goTo("noflush", false)) {
            c.request(Nbd.CMD_FLUSH, 0, 1, 0, 0, null);
            assertEquals(0, c.simpleReply(1, null), "a flush");
            c.request(Nbd.CMD_WRITE, Nbd.CMD_FLAG_FUA, 2, 0, 4096, new byte[4096]);
            assertEquals(0, c.simpleReply(2, null), "a FUA write");
        } finally {
            nbd.unshare(flushless);
            inner.close();
        }
    }

    /**
     * Review finding: a device that says it takes write-zeroes may still refuse one (a nexus that gained
     * a child without it between the look and the call): the client got ENOTSUP, which NBD says it
     * SHOULD NOT (no FAST_ZERO) — an I/O error in the guest. Zeros are written instead.
     */
    @Test
    void aWriteZeroesTheDeviceRefusesAfterAllIsWrittenAsZeros() throws Exception {
        List<String> calls = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
        BlockDevice inner = recording(calls, new java.util.concurrent.atomic.AtomicBoolean(true));
        BlockDevice refusing = (BlockDevice) java.lang.reflect.Proxy.newProxyInstance(BlockDevice.class.getClassLoader(),
                new Class<?>[] {BlockDevice.class}, (proxy, method, args) -> {
                    if (method.getName().equals("writeZeroes")) {
                        calls.add("writeZeroes refused");
                        @SuppressWarnings("unchecked")
                        io.mayastorj.core.bdev.IoCompletion<Object> done = (io.mayastorj.core.bdev.IoCompletion<Object>) args[2];
                        done.ioDone(IoStatus.UNSUPPORTED, args[3]);
                        return null;
                    }
                    try {
                        return method.invoke(inner, args);
                    } catch (java.lang.reflect.InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
        nbd.share(refusing, ShareOptions.DEFAULT);
        try (NbdClient c = goTo("rec0", false)) {
            byte[] ones = new byte[3 << 20];
            java.util.Arrays.fill(ones, (byte) 1);
            c.request(Nbd.CMD_WRITE, 0, 1, 0, Nbd.MAX_PAYLOAD, java.util.Arrays.copyOf(ones, Nbd.MAX_PAYLOAD));
            assertEquals(0, c.simpleReply(1, null));
            c.request(Nbd.CMD_WRITE, 0, 2, Nbd.MAX_PAYLOAD, 1 << 20, java.util.Arrays.copyOf(ones, 1 << 20));
            assertEquals(0, c.simpleReply(2, null));
            calls.clear();
            // more than one buffer's worth: two pieces
            c.request(Nbd.CMD_WRITE_ZEROES, Nbd.CMD_FLAG_FUA, 3, 4096, Nbd.MAX_PAYLOAD + 8192, null);
            assertEquals(0, c.simpleReply(3, null), "answered as done, not ENOTSUP");
            assertEquals(List.of("writeZeroes refused", "write", "write", "flush"), calls);
            byte[] back = new byte[Nbd.MAX_PAYLOAD];
            for (long at = 0; at < (3L << 20); at += Nbd.MAX_PAYLOAD) {
                c.request(Nbd.CMD_READ, 0, 4, at, Nbd.MAX_PAYLOAD / 2, null);
                byte[] half = new byte[Nbd.MAX_PAYLOAD / 2];
                assertEquals(0, c.simpleReply(4, half));
                for (int i = 0; i < half.length; i++) {
                    long offset = at + i;
                    boolean zeroed = offset >= 4096 && offset < 4096 + Nbd.MAX_PAYLOAD + 8192;
                    if (half[i] != (zeroed ? 0 : 1)) {
                        throw new AssertionError("byte " + offset + " is " + half[i]);
                    }
                }
            }
        } finally {
            nbd.unshare(refusing);
            refusing.close();
        }
    }

    /** Review finding (of the fallback above): a write of zeros of 2 GiB or more was cut to 2 GiB less a block. */
    @Test
    void aWriteZeroesOfMoreThanTwoGibTheDeviceRefusesIsWrittenWhole() throws Exception {
        BlockDevice inner = new io.mayastorj.core.internal.bdev.NullBdevFactory().create(BdevUri.parse("null:///big0?size_mb=4096"));
        java.util.concurrent.atomic.AtomicLong written = new java.util.concurrent.atomic.AtomicLong();
        BlockDevice refusing = (BlockDevice) java.lang.reflect.Proxy.newProxyInstance(BlockDevice.class.getClassLoader(),
                new Class<?>[] {BlockDevice.class}, (proxy, method, args) -> {
                    if (method.getName().equals("writeZeroes")) {
                        @SuppressWarnings("unchecked")
                        io.mayastorj.core.bdev.IoCompletion<Object> done = (io.mayastorj.core.bdev.IoCompletion<Object>) args[2];
                        done.ioDone(IoStatus.UNSUPPORTED, args[3]);
                        return null;
                    }
                    if (method.getName().equals("write")) {
                        written.addAndGet((long) (int) args[3] * inner.blockSize());
                    }
                    try {
                        return method.invoke(inner, args);
                    } catch (java.lang.reflect.InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
        nbd.share(refusing, ShareOptions.DEFAULT);
        try (NbdClient c = goTo("big0", 4L << 30, false)) {
            long length = 3L << 30;
            c.request(Nbd.CMD_WRITE_ZEROES, 0, 1, 0, (int) length, null);
            assertEquals(0, c.simpleReply(1, null));
            assertEquals(length, written.get(), "every byte asked for was written as zeros");
        } finally {
            nbd.unshare(refusing);
            refusing.close();
        }
    }

    @Test
    void aWriteZeroesThatMayLeaveNoHoleIsWrittenAndATrimTheDeviceCannotTakeIsNoError() throws Exception {
        List<String> calls = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
        java.util.concurrent.atomic.AtomicBoolean canUnmap = new java.util.concurrent.atomic.AtomicBoolean(true);
        BlockDevice rec = recording(calls, canUnmap);
        nbd.share(rec, ShareOptions.DEFAULT);
        try (NbdClient c = goTo("rec0", false)) {
            byte[] data = new byte[6 << 20];
            new Random(2).nextBytes(data);
            c.request(Nbd.CMD_WRITE, 0, 1, 0, Nbd.MAX_PAYLOAD, java.util.Arrays.copyOf(data, Nbd.MAX_PAYLOAD));
            assertEquals(0, c.simpleReply(1, null));
            c.request(Nbd.CMD_WRITE, 0, 2, 4L << 20, Nbd.MAX_PAYLOAD, java.util.Arrays.copyOf(data, Nbd.MAX_PAYLOAD));
            assertEquals(0, c.simpleReply(2, null));
            calls.clear();
            // 5 MiB + 4 KiB: three pieces, the last a short one
            c.request(Nbd.CMD_WRITE_ZEROES, Nbd.CMD_FLAG_NO_HOLE | Nbd.CMD_FLAG_FUA, 3, 4096, (5 << 20) + 4096, null);
            assertEquals(0, c.simpleReply(3, null));
            assertEquals(List.of("write", "write", "write", "flush"), calls, "written as zeros, then made durable (FUA)");
            byte[] back = new byte[Nbd.MAX_PAYLOAD];
            for (long at = 0; at < (6L << 20); at += Nbd.MAX_PAYLOAD) {
                c.request(Nbd.CMD_READ, 0, 4, at, back.length, null);
                assertEquals(0, c.simpleReply(4, back));
                for (int i = 0; i < back.length; i++) {
                    long offset = at + i;
                    boolean zeroed = offset >= 4096 && offset < 4096 + (5L << 20) + 4096;
                    if (back[i] != (zeroed ? 0 : data[(int) (offset % Nbd.MAX_PAYLOAD)])) { // both writes wrote data's first 2 MiB
                        throw new AssertionError("byte " + offset + " is " + back[i]);
                    }
                }
            }
            calls.clear();
            c.request(Nbd.CMD_WRITE_ZEROES, 0, 5, 0, 4096, null);
            assertEquals(0, c.simpleReply(5, null));
            assertEquals(List.of("writeZeroes"), calls, "without NO_HOLE the bdev's own write-zeroes");

            canUnmap.set(false);
            calls.clear();
            c.request(Nbd.CMD_TRIM, 0, 6, 0, 4096, null);
            assertEquals(0, c.simpleReply(6, null), "a hint the device cannot take: no error");
            assertEquals(List.of(), calls);
        } finally {
            nbd.unshare(rec);
            rec.close();
        }
    }

    @Test
    void structuredRepliesCarryReadData() throws Exception {
        try (NbdClient c = goTo("disk0", true)) {
            byte[] data = "structured".getBytes(StandardCharsets.UTF_8);
            byte[] block = java.util.Arrays.copyOf(data, 512);
            c.request(Nbd.CMD_WRITE, 0, 1, 0, 512, block);
            assertEquals(0, c.simpleReply(1, null), "non-read replies may stay simple");
            c.request(Nbd.CMD_READ, 0, 2, 0, 512, null);
            assertEquals(Nbd.STRUCTURED_REPLY_MAGIC, c.in.readInt());
            assertEquals(Nbd.REPLY_FLAG_DONE, c.in.readUnsignedShort());
            assertEquals(Nbd.REPLY_TYPE_OFFSET_DATA, c.in.readUnsignedShort());
            assertEquals(2, c.in.readLong());
            assertEquals(8 + 512, c.in.readInt());
            assertEquals(0, c.in.readLong(), "offset");
            byte[] back = new byte[512];
            c.in.readFully(back);
            assertArrayEquals(block, back);
            c.request(Nbd.CMD_READ, 0, 3, 8L << 20, 512, null); // beyond the end
            assertEquals(Nbd.STRUCTURED_REPLY_MAGIC, c.in.readInt());
            assertEquals(Nbd.REPLY_FLAG_DONE, c.in.readUnsignedShort());
            assertEquals(Nbd.REPLY_TYPE_ERROR, c.in.readUnsignedShort());
            assertEquals(3, c.in.readLong());
            assertEquals(6, c.in.readInt());
            assertEquals(Nbd.EINVAL, c.in.readInt());
            assertEquals(0, c.in.readUnsignedShort());
            // review finding: a read of no bytes got an OFFSET_DATA chunk of length 8, which the
            // protocol forbids (at least 9); it gets a NONE chunk
            c.request(Nbd.CMD_READ, 0, 4, 0, 0, null);
            assertEquals(Nbd.STRUCTURED_REPLY_MAGIC, c.in.readInt());
            assertEquals(Nbd.REPLY_FLAG_DONE, c.in.readUnsignedShort());
            assertEquals(Nbd.REPLY_TYPE_NONE, c.in.readUnsignedShort());
            assertEquals(4, c.in.readLong());
            assertEquals(0, c.in.readInt());
        }
    }

    /**
     * Review finding: reads and writes over 2 MiB were refused (EINVAL), but a client that learnt no
     * maximum (OPT_EXPORT_NAME; the kernel's client, which nbd-client cannot tell one) may send up to
     * the protocol's 32 MiB, and Linux 6.8 on sends 4 MiB writes: each was an I/O error. They are
     * taken, in pieces, and answered whole — as simple and as structured replies.
     */
    @Test
    void aClientThatLearntNoMaximumMaySendReadsAndWritesOfSeveralMebibytes() throws Exception {
        byte[] data = new byte[(5 << 20) + 4096];
        new Random(5).nextBytes(data);
        try (NbdClient c = new NbdClient(port)) {
            c.greet();
            c.option(Nbd.OPT_EXPORT_NAME, "disk0".getBytes(StandardCharsets.UTF_8));
            assertEquals(8L << 20, c.in.readLong());
            c.in.readUnsignedShort();
            c.request(Nbd.CMD_WRITE, Nbd.CMD_FLAG_FUA, 1, 4096, data.length, data);
            assertEquals(0, c.simpleReply(1, null));
            byte[] back = new byte[data.length];
            c.request(Nbd.CMD_READ, 0, 2, 4096, back.length, null);
            assertEquals(0, c.simpleReply(2, back));
            assertArrayEquals(data, back);
        }
        try (NbdClient c = goTo("disk0", true)) {
            c.request(Nbd.CMD_READ, 0, 3, 4096, data.length, null);
            assertEquals(Nbd.STRUCTURED_REPLY_MAGIC, c.in.readInt());
            assertEquals(Nbd.REPLY_FLAG_DONE, c.in.readUnsignedShort());
            assertEquals(Nbd.REPLY_TYPE_OFFSET_DATA, c.in.readUnsignedShort());
            assertEquals(3, c.in.readLong());
            assertEquals(8 + data.length, c.in.readInt());
            assertEquals(4096, c.in.readLong());
            byte[] back = new byte[data.length];
            c.in.readFully(back);
            assertArrayEquals(data, back);
        }
    }

    /**
     * Review finding (of the fix above): a large request took its pieces' buffers one by one and waited,
     * holding them, for the rest: two connections each holding half of what the pool had waited on each
     * other for good, and so did every other user of the pool. All are taken at once or none; a pool
     * that never has them free together answers ENOMEM after the patience, and the connection goes on.
     */
    @Test
    void aRequestLargerThanThePoolCanGiveAtOnceIsENOMEMAndTheConnectionGoesOn() throws Exception {
        DmaBufferPool small = new DmaBufferPool(8L << 20, HugepageMode.OFF);
        BlockDevice big = new MallocBdevFactory().create(BdevUri.parse("malloc:///big?size_mb=16"));
        NbdTransport t = new NbdTransport(small, new InetSocketAddress("127.0.0.1", 0), java.time.Duration.ofSeconds(1));
        t.share(big, ShareOptions.DEFAULT);
        try (NbdClient c = new NbdClient(t.address().getPort())) {
            c.greet();
            c.option(Nbd.OPT_EXPORT_NAME, "big".getBytes(StandardCharsets.UTF_8));
            assertEquals(16L << 20, c.in.readLong());
            c.in.readUnsignedShort();
            c.request(Nbd.CMD_READ, 0, 1, 0, 12 << 20, null);
            assertEquals(Nbd.ENOMEM, c.simpleReply(1, null), "12 MiB from a pool of 8");
            c.request(Nbd.CMD_WRITE, 0, 2, 0, 12 << 20, new byte[12 << 20]);
            assertEquals(Nbd.ENOMEM, c.simpleReply(2, null), "its data read and dropped");
            byte[] back = new byte[4 << 20];
            c.request(Nbd.CMD_READ, 0, 3, 0, back.length, null);
            assertEquals(0, c.simpleReply(3, back), "one that fits");
        } finally {
            t.close();
            big.close();
            small.close();
        }
    }

    @Test
    void badRequestsGetTheProtocolsErrorsAndTheConnectionGoesOn() throws Exception {
        try (NbdClient c = goTo("disk0", false)) {
            c.request(Nbd.CMD_READ, 0, 1, 100, 512, null);
            assertEquals(Nbd.EINVAL, c.simpleReply(1, null), "unaligned offset");
            c.request(Nbd.CMD_READ, 0, 2, 0, 100, null);
            assertEquals(Nbd.EINVAL, c.simpleReply(2, null), "unaligned length");
            c.request(Nbd.CMD_READ, 0, 3, (8L << 20) - 512, 1024, null);
            assertEquals(Nbd.EINVAL, c.simpleReply(3, null), "a read past the end");
            c.request(Nbd.CMD_WRITE, 0, 4, 8L << 20, 512, new byte[512]);
            assertEquals(Nbd.ENOSPC, c.simpleReply(4, null), "a write past the end");
            c.request(Nbd.CMD_WRITE, 0, 5, -512L, 512, new byte[512]);
            assertEquals(Nbd.ENOSPC, c.simpleReply(5, null), "an offset that wraps");
            c.request(Nbd.CMD_READ, 0, 6, 0, Nbd.MAX_REQUEST + 512, null);
            assertEquals(Nbd.EINVAL, c.simpleReply(6, null), "more than the maximum block size");
            c.request(Nbd.CMD_WRITE, 0, 7, 0, Nbd.MAX_REQUEST + 512, new byte[Nbd.MAX_REQUEST + 512]);
            assertEquals(Nbd.EINVAL, c.simpleReply(7, null), "a write too big, its data read and dropped");
            c.request(7, 0, 8, 0, 512, null);
            assertEquals(Nbd.EINVAL, c.simpleReply(8, null), "BLOCK_STATUS was not negotiated");
            c.request(Nbd.CMD_TRIM, 0, 10, 8L << 20, 4096, null);
            assertEquals(Nbd.EINVAL, c.simpleReply(10, null), "a trim past the end (review finding: was ENOSPC)");
            c.request(Nbd.CMD_WRITE_ZEROES, 0, 11, 8L << 20, 4096, null);
            assertEquals(Nbd.ENOSPC, c.simpleReply(11, null), "write zeroes past the end is a write");
            // review finding: flags were not checked (FAST_ZERO got a slow zeroing, DF was ignored)
            c.request(Nbd.CMD_WRITE_ZEROES, 0x10, 12, 0, 4096, null);
            assertEquals(Nbd.EINVAL, c.simpleReply(12, null), "FAST_ZERO was not negotiated");
            c.request(Nbd.CMD_READ, 0x04, 13, 0, 512, null);
            assertEquals(Nbd.EINVAL, c.simpleReply(13, null), "DF was not negotiated");
            // review finding: FUA was EINVAL on a read or a flush; the protocol says a server that offers it MUST take it
            // on any command (QEMU's client sets it on flushes)
            c.request(Nbd.CMD_FLUSH, Nbd.CMD_FLAG_FUA, 15, 0, 0, null);
            assertEquals(0, c.simpleReply(15, null), "a flush with FUA");
            c.request(Nbd.CMD_READ, Nbd.CMD_FLAG_FUA, 16, 0, 512, null);
            assertEquals(0, c.simpleReply(16, new byte[512]), "a read with FUA");
            c.request(Nbd.CMD_WRITE, 0x80, 14, 0, 512, new byte[512]);
            assertEquals(Nbd.EINVAL, c.simpleReply(14, null), "an unknown flag, the write's data read and dropped");
            c.request(Nbd.CMD_FLUSH, 0, 9, 0, 0, null);
            assertEquals(0, c.simpleReply(9, null), "and the connection goes on");
        }
        try (NbdClient c = goTo("disk0", false)) {
            c.out.writeInt(0x12345678); // not the request magic
            c.out.write(new byte[24]);
            c.out.flush();
            assertTrue(c.closedByServer(), "a request without the magic ends the connection");
        }
    }

    /**
     * Review finding: a write whose data the client cut short (it closed the socket) kept its DMA
     * buffer and its slot for good, and the connection's end waited 60 s for it; 64 such connections
     * took the node's whole buffer pool.
     */
    @Test
    void aWriteCutShortGivesItsBufferBack() throws Exception {
        try (NbdClient c = goTo("disk0", false)) {
            writeOfOneMib(c);
            c.out.write(new byte[100]); // of 1 MiB
            c.out.flush();
        }
        long deadline = System.nanoTime() + 5_000_000_000L;
        long inUse;
        while ((inUse = buffers.stats().classes().stream().mapToLong(c -> c.inUse()).sum()) != 0) {
            assertTrue(System.nanoTime() < deadline, inUse + " buffers still held 5 s after the client went");
            Thread.sleep(10);
        }
    }

    /**
     * Review finding: a client that sent part of a write's data and then nothing, staying connected,
     * held the write's buffer (up to 2 MiB) and a thread for good; 64 of them took the node's whole
     * buffer pool. Now the connection ends once no data came for the server's patience.
     */
    @Test
    void aWriteWhoseDataStopsComingIsEndedAndGivesItsBufferBack() throws Exception {
        NbdTransport t = impatient();
        try (NbdClient c = writeHeaderTo(t, "disk0")) {
            c.out.write(new byte[100]); // of 1 MiB, and the client stays
            c.out.flush();
            long until = System.nanoTime() + 5_000_000_000L;
            while (bytesInUse() == 0) {
                assertTrue(System.nanoTime() < until, "the write never took its buffer");
                Thread.sleep(5);
            }
            assertTrue(c.closedByServer(), "the server ended the connection whose write's data stopped");
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (bytesInUse() != 0) {
                assertTrue(System.nanoTime() < deadline, bytesInUse() + " bytes of buffers still held");
                Thread.sleep(10);
            }
        } finally {
            t.close();
        }
    }

    /**
     * Review finding: the patience counted from the write's last byte, so a client sending one byte
     * every little while held the write's buffer (up to 2 MiB) for good; 64 such connections took the
     * node's whole pool. The data must come whole within the patience.
     */
    @Test
    void aWriteWhoseDataTricklesIsEndedWithinThePatience() throws Exception {
        NbdTransport t = impatient();
        try (NbdClient c = writeHeaderTo(t, "disk0")) {
            long start = System.nanoTime();
            boolean open = true;
            while (open && System.nanoTime() - start < 4_000_000_000L) { // a byte every 200 ms, well within the patience each
                try {
                    c.out.write(0);
                    c.out.flush();
                    Thread.sleep(200);
                } catch (java.io.IOException e) {
                    open = false; // the server closed it
                }
            }
            assertTrue(!open || c.closedByServer(), "the trickling write's connection was ended");
            assertTrue(System.nanoTime() - start < 4_000_000_000L, "within about the patience (1 s), not after 4 s");
        } finally {
            t.close();
        }
    }

    /** The header of a 1 MiB write at offset 0 (handle 1), its data left to the caller. */
    private static void writeOfOneMib(NbdClient c) throws java.io.IOException {
        c.out.writeInt(Nbd.REQUEST_MAGIC);
        c.out.writeShort(0);
        c.out.writeShort(Nbd.CMD_WRITE);
        c.out.writeLong(1);
        c.out.writeLong(0);
        c.out.writeInt(1 << 20);
    }

    /** A client in transmission on {@code export} that has sent the header of a 1 MiB write, and none of its data. */
    private static NbdClient writeHeaderTo(NbdTransport t, String export) throws java.io.IOException {
        NbdClient c = new NbdClient(t.address().getPort());
        c.socket.setSoTimeout(10_000);
        c.greet();
        c.option(Nbd.OPT_GO, NbdClient.go(export));
        while (c.reply().type() != Nbd.REP_ACK) {
            // the export's information
        }
        writeOfOneMib(c);
        c.out.flush();
        return c;
    }

    private long bytesInUse() {
        return buffers.stats().classes().stream().mapToLong(c -> (long) c.inUse() * c.bufferSize()).sum();
    }

    /** An NBD server on the same disk whose patience (handshake, a stalled reply) is 1 s. */
    private NbdTransport impatient() throws Exception {
        NbdTransport t = new NbdTransport(buffers, new InetSocketAddress("127.0.0.1", 0), java.time.Duration.ofSeconds(1));
        t.share(disk, ShareOptions.DEFAULT);
        return t;
    }

    /** Review finding: a client that connects and says nothing held a thread and 260 KiB for good. */
    @Test
    void aHandshakeThatDoesNotFinishIsEnded() throws Exception {
        NbdTransport t = impatient();
        try (NbdClient c = new NbdClient(t.address().getPort())) {
            c.socket.setSoTimeout(5000);
            long start = System.nanoTime();
            c.greet();
            assertTrue(c.closedByServer(), "the server ended the silent client's connection");
            assertTrue(System.nanoTime() - start < 4_000_000_000L);
        } finally {
            t.close();
        }
    }

    /**
     * Review finding: one client pipelining 2 MiB reads and reading no reply took the node's whole
     * buffer pool (all other I/O waited for buffers), and held it, and the thread writing its replies
     * (a bdev's completion thread, at times), for good. Now it holds at most its budget, and the
     * connection ends once a reply waits on it for the server's patience.
     */
    @Test
    void aClientThatReadsNoRepliesHoldsItsBudgetAndIsEnded() throws Exception {
        NbdTransport t = impatient();
        try (NbdClient c = new NbdClient(t.address().getPort())) {
            c.socket.setReceiveBufferSize(64 * 1024);
            c.socket.setSoTimeout(10_000);
            assertEquals(Nbd.FLAG_FIXED_NEWSTYLE | Nbd.FLAG_NO_ZEROES, c.greet());
            c.option(Nbd.OPT_GO, NbdClient.go("disk0"));
            while (c.reply().type() != Nbd.REP_ACK) {
                // the export's information
            }
            for (int i = 0; i < 16; i++) { // 32 MiB of reads: the whole pool
                c.request(Nbd.CMD_READ, 0, i, 0, Nbd.MAX_PAYLOAD, null);
            }
            long until = System.nanoTime() + 5_000_000_000L;
            while (bytesInUse() < NbdConnection.BUFFER_BUDGET / 2) { // it has taken buffers: now, not before, it is checked
                assertTrue(System.nanoTime() < until, "the reads never took buffers");
                Thread.sleep(5);
            }
            Thread.sleep(300);
            assertTrue(bytesInUse() <= NbdConnection.BUFFER_BUDGET, bytesInUse() + " bytes of buffers held by one client");
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (t.connections() > 0) {
                assertTrue(System.nanoTime() < deadline, "the stalled connection was never ended");
                Thread.sleep(20);
            }
        } finally {
            t.close();
        }
    }

    @Test
    void manyRequestsInFlightAllComeBack() throws Exception {
        try (NbdClient c = goTo("disk0", false)) {
            int n = 64;
            for (int i = 0; i < n; i++) {
                byte[] b = new byte[4096];
                ByteBuffer.wrap(b).putInt(i);
                c.request(Nbd.CMD_WRITE, 0, i, i * 4096L, 4096, b);
            }
            for (int i = 0; i < n; i++) {
                assertEquals(0, c.simpleReply(i, null));
            }
            for (int i = 0; i < n; i++) {
                c.request(Nbd.CMD_READ, 0, 100 + i, i * 4096L, 4096, null);
            }
            for (int i = 0; i < n; i++) {
                byte[] b = new byte[4096];
                assertEquals(0, c.simpleReply(100 + i, b));
                assertEquals(i, ByteBuffer.wrap(b).getInt());
            }
        }
    }

    /**
     * Requests sent in one burst, three times the size of the server's receive buffer (so a write's
     * data straddles its end): every reply comes back once, with the right data, in whatever order —
     * from a bdev that completes inline (the reader sends a batch's replies together) and from one
     * that completes on its own thread (aio: the completions send them).
     */
    @Test
    void aBurstOfRequestsAllComeBack() throws Exception {
        burst(disk, "disk0");
    }

    @Test
    void aBurstOfRequestsToABdevCompletingElsewhereAllComeBack(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("aio0.img");
        try (var f = java.nio.channels.FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            f.truncate(8L << 20).write(ByteBuffer.allocate(1), (8L << 20) - 1);
        }
        BlockDevice aio = new AioBdevFactory().create(BdevUri.parse("aio://" + file));
        try {
            nbd.share(aio, ShareOptions.DEFAULT);
            burst(aio, aio.name());
        } finally {
            nbd.unshare(aio);
            aio.close();
        }
    }

    /**
     * Review finding: a completion that came while the reader was waiting for requests wrote its
     * reply on the completing thread — an aio device's reaper here, a reactor for a nexus — and a
     * client that does not read its socket held that thread in the write for the server's patience:
     * every other request to the device (a pool's metadata, another client's) waited meanwhile.
     */
    @Test
    void aClientThatReadsNoRepliesHoldsNoCompletionThread(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("aio1.img");
        try (var f = java.nio.channels.FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            f.truncate(32L << 20).write(ByteBuffer.allocate(1), (32L << 20) - 1);
        }
        BlockDevice aio = new AioBdevFactory().create(BdevUri.parse("aio://" + file));
        NbdTransport t = new NbdTransport(buffers, new InetSocketAddress("127.0.0.1", 0), java.time.Duration.ofSeconds(5));
        io.mayastorj.core.buffer.DmaBuffer b = buffers.allocate(4096);
        try {
            t.share(aio, ShareOptions.DEFAULT);
            try (NbdClient c = new NbdClient(t.address().getPort())) {
                c.socket.setReceiveBufferSize(16 * 1024);
                c.greet();
                c.option(Nbd.OPT_GO, NbdClient.go(aio.name()));
                while (c.reply().type() != Nbd.REP_ACK) {
                    // the export's information
                }
                for (int i = 0; i < 8; i++) { // 16 MiB of replies the client never reads, one at a time: each
                    c.request(Nbd.CMD_READ, 0, i, (i % 16) * (2L << 20), Nbd.MAX_PAYLOAD, null); // completes while the
                    Thread.sleep(100); // reader waits for the next request, so the completion's thread sends its reply
                }
                long start = System.nanoTime();
                assertEquals(io.mayastorj.core.bdev.IoStatus.SUCCESS,
                        io.mayastorj.core.bdev.BlockingIo.read(aio, b, 0, 0, 8, java.time.Duration.ofSeconds(10)));
                long ms = (System.nanoTime() - start) / 1_000_000;
                assertTrue(ms < 1000, "another request to the device completed in " + ms + " ms (the reaper is free)");
            }
        } finally {
            b.release();
            t.close();
            aio.close();
        }
    }

    private void burst(BlockDevice device, String export) throws Exception {
        try (NbdClient c = goTo(export, device.sizeBytes(), false)) {
            int n = 200;
            Random random = new Random(7);
            byte[][] blocks = new byte[n][4096];
            ByteBuffer burst = ByteBuffer.allocate(n * (Nbd.REQUEST_BYTES + 4096));
            for (int i = 0; i < n; i++) {
                random.nextBytes(blocks[i]);
                burst.putInt(Nbd.REQUEST_MAGIC).putShort((short) 0).putShort((short) Nbd.CMD_WRITE).putLong(i)
                        .putLong(i * 4096L).putInt(4096).put(blocks[i]);
            }
            c.out.write(burst.array());
            c.out.flush();
            assertEquals(java.util.stream.LongStream.range(0, n).boxed().collect(java.util.stream.Collectors.toSet()),
                    c.simpleReplies(n, h -> 0), "each write answered once, without error");

            burst = ByteBuffer.allocate(n * Nbd.REQUEST_BYTES);
            for (int i = 0; i < n; i++) {
                burst.putInt(Nbd.REQUEST_MAGIC).putShort((short) 0).putShort((short) Nbd.CMD_READ).putLong(1000 + i)
                        .putLong(i * 4096L).putInt(4096);
            }
            c.out.write(burst.array());
            c.out.flush();
            var handles = c.simpleReplies(n, h -> 4096);
            assertEquals(n, handles.size());
            for (long h : handles) {
                assertArrayEquals(blocks[(int) (h - 1000)], c.data.get(h), "block " + (h - 1000));
            }
        }
    }

    /**
     * Review finding: an unshare, or the transport stopping (a plugin update), closed the socket at
     * once, so the reply of a write the device completed a moment later never went out; the Linux
     * client takes a request without a reply for an I/O error. The server now stops reading, answers
     * what is in flight, then disconnects (the spec: it SHOULD wait for inflight requests first).
     */
    @org.junit.jupiter.params.ParameterizedTest(name = "the transport stops: {0}")
    @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
    void anUnshareOrAStopAnswersTheWritesInFlightBeforeItDisconnects(boolean stop) throws Exception {
        SlowWrites slow = new SlowWrites(new MallocBdevFactory().create(BdevUri.parse("malloc:///slow0?size_mb=8")), 500);
        try {
            nbd.share(slow.device, ShareOptions.DEFAULT);
            try (NbdClient c = goTo("slow0", false)) {
                byte[] block = new byte[4096];
                java.util.Arrays.fill(block, (byte) 7);
                c.request(Nbd.CMD_WRITE, 0, 42, 0, 4096, block);
                for (int i = 0; i < 500 && slow.writes.get() == 0; i++) {
                    Thread.sleep(10);
                }
                assertEquals(1, slow.writes.get(), "the write is at the device");
                if (stop) {
                    nbd.close();
                } else {
                    nbd.unshare(slow.device);
                }
                assertEquals(java.util.Set.of(42L), c.simpleReplies(1, h -> 0), "the write in flight is answered");
                assertTrue(c.closedByServer(), "then the server disconnects");
            }
        } finally {
            slow.device.close();
        }
    }

    /** The client has its ACK for GO and the export goes at once: a race the server must not lose (it once did). */
    @Test
    void anUnshareRightAfterTheHandshakeAlwaysDisconnects() throws Exception {
        for (int i = 0; i < 100; i++) {
            try (NbdClient c = goTo("disk0", false)) {
                nbd.unshare(disk);
                assertTrue(c.closedByServer(), "round " + i + ": a disconnect, not a connection left open");
            }
            nbd.share(disk, ShareOptions.DEFAULT);
        }
    }

    @Test
    void unsharingDropsItsClientsAndAllowedHostsAreAddresses() throws Exception {
        try (NbdClient c = goTo("disk0", false)) {
            nbd.unshare(disk);
            assertTrue(c.closedByServer(), "the client sees a disconnect, not a hang");
        }
        assertEquals("nbd: allowed host 'some-host' is not an IP address (its clients are known by address only)",
                org.junit.jupiter.api.Assertions.assertThrows(io.mayastorj.core.error.MayastorException.class,
                        () -> nbd.share(disk, new ShareOptions(List.of("some-host"), Map.of()))).getMessage());
        nbd.share(disk, new ShareOptions(List.of("127.0.0.9"), Map.of()));
        try (NbdClient c = new NbdClient(port)) {
            c.greet();
            c.option(Nbd.OPT_GO, NbdClient.go("disk0"));
            assertEquals(Nbd.REP_ERR_UNKNOWN, c.reply().type(), "not for this client's address");
        }
    }
}
