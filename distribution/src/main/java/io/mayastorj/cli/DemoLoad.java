package io.mayastorj.cli;

import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.internal.buffer.DmaBufferPool;
import io.mayastorj.core.internal.buffer.HugepageMode;
import io.mayastorj.core.internal.reactor.ReactorGroupImpl;
import io.mayastorj.load.VerifyingLoad;
import io.mayastorj.nvmf.internal.host.NvmfBdevFactory;
import java.io.PrintStream;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * The demo's application: a verifying load from this process over NVMe/TCP on a published volume,
 * 4 KiB random writes and reads, every block stamped with its number and a sequence number and
 * checked against the last acknowledged write; at the end every block is read back.
 */
final class DemoLoad implements AutoCloseable {

    private final PrintStream out;
    private final ReactorGroupImpl reactors;
    private final DmaBufferPool buffers;
    private final BlockDevice volume;
    private final VerifyingLoad load;

    /** A load from this process as node {@code hostNode} (its host NQN is what a published volume admits). */
    DemoLoad(PrintStream out, String uri, String hostNode) {
        this.out = out;
        out.println("== a verifying load from this process over NVMe/TCP: 4 KiB random writes and reads, every block");
        out.println("   stamped with its number and a sequence number and checked against the last acknowledged write");
        this.reactors = new ReactorGroupImpl(1);
        this.buffers = new DmaBufferPool(32L << 20, HugepageMode.OFF);
        NvmfBdevFactory host = NvmfBdevFactory.of(reactors.reactors(), buffers, NvmfBdevFactory.hostNqn(hostNode),
                TimeUnit.SECONDS.toNanos(30));
        this.volume = host.create(BdevUri.parse(uri));
        this.load = new VerifyingLoad(volume, buffers, 16, 7);
        load.start();
    }

    /** A line a second: what the load has done, and any error. */
    void progress(int seconds) throws InterruptedException {
        for (int i = 0; i < seconds; i++) {
            Thread.sleep(1000);
            line();
        }
    }

    void line() {
        out.printf(Locale.ROOT, "   load: %,d writes, %,d verified reads, %d errors, %d wrong%n", load.writesOk.get(),
                load.readsOk.get(), load.errors(), load.mismatches().size());
    }

    /** Stops the load, reads every block back and says how it went: 0 when every block holds its last write. */
    int finish() throws InterruptedException {
        load.stop();
        long bad = load.verifyAll(Duration.ofSeconds(30));
        out.println();
        out.printf(Locale.ROOT, "== the load: %,d writes and %,d verified reads, %d errors; then all %,d blocks read back: %s%n",
                load.writesOk.get(), load.readsOk.get(), load.errors(), volume.sizeBytes() / VerifyingLoad.BLOCK,
                bad == 0 ? "every one holds its last acknowledged write" : bad + " blocks WRONG: " + load.mismatches());
        return bad == 0 && load.errors() == 0 && load.mismatches().isEmpty() ? 0 : 1;
    }

    @Override
    public void close() throws InterruptedException {
        load.close();
        volume.close();
        reactors.stop();
        buffers.close();
    }
}
