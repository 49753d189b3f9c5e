package io.mayastorj.core.internal.nativeio;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.jna.Native;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Linux AIO as the per-reactor queues use it: batches, completions read from the kernel's ring, refusals. */
class LinuxAioTest {

    @TempDir
    Path dir;

    @Test
    void aBatchCompletesThroughTheRingAndARefusedRequestIsTheFirstQueued() throws Exception {
        byte[] data = new byte[4 * 4096];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (i * 7 + i / 4096);
        }
        Path file = Files.write(dir.resolve("data.img"), data);
        int fd = LibC.open(file.toString(), 0 /* O_RDONLY */, 0);
        assertTrue(fd >= 0);
        long buffer = Native.malloc(data.length);
        try (LinuxAio aio = new LinuxAio(8, -1)) {
            assertTrue(aio.readsRingDirectly(), "this kernel's ring has the layout known here");
            for (int slot = 0; slot < 4; slot++) {
                aio.prepare(slot, LinuxAio.CMD_PREAD, fd, buffer + slot * 4096L, 4096, (3 - slot) * 4096L);
            }
            assertEquals(4, aio.queued());
            assertEquals(4, aio.submit());
            assertEquals(0, aio.queued());
            List<String> done = new ArrayList<>();
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (done.size() < 4 && System.nanoTime() < deadline) {
                aio.reap((slot, result) -> done.add(slot + ":" + result));
            }
            assertEquals(List.of("0:4096", "1:4096", "2:4096", "3:4096"), done.stream().sorted().toList());
            assertTrue(!aio.hasCompletions());
            ByteBuffer got = NativeMemory.view(buffer, data.length);
            for (int slot = 0; slot < 4; slot++) {
                byte[] block = new byte[4096];
                got.get(slot * 4096, block);
                byte[] expected = java.util.Arrays.copyOfRange(data, (3 - slot) * 4096, (4 - slot) * 4096);
                assertArrayEquals(expected, block, "slot " + slot);
            }

            // a request on a closed descriptor is refused by io_submit itself: it is the first queued
            aio.prepare(5, LinuxAio.CMD_PREAD, 1_000_000, buffer, 4096, 0);
            aio.prepare(6, LinuxAio.CMD_PREAD, fd, buffer, 4096, 0);
            assertEquals(-Errno.EBADF, aio.submit());
            assertEquals(2, aio.queued());
            assertEquals(5, aio.dropFirst());
            assertEquals(1, aio.submit());
            List<String> last = new ArrayList<>();
            assertEquals(1, aio.await(5_000_000_000L, (slot, result) -> last.add(slot + ":" + result)));
            assertEquals(List.of("6:4096"), last);
        } finally {
            Native.free(buffer);
            LibC.close(fd);
        }
    }
}
