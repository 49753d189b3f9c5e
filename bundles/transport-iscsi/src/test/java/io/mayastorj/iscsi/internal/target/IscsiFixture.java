package io.mayastorj.iscsi.internal.target;

import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.internal.bdev.MallocBdevFactory;
import io.mayastorj.core.internal.buffer.DmaBufferPool;
import io.mayastorj.core.internal.buffer.HugepageMode;
import io.mayastorj.core.internal.reactor.ReactorGroupImpl;
import io.mayastorj.core.transport.ShareOptions;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** A target on a free loopback port with a RAM disk shared as LUN 0, and a way to run libiscsi's tools at it. */
final class IscsiFixture implements AutoCloseable {

    final ReactorGroupImpl reactors = new ReactorGroupImpl(2);
    final DmaBufferPool buffers = new DmaBufferPool(64L << 20, HugepageMode.OFF);
    final IscsiTarget target;
    final BlockDevice disk;
    final String iqn;

    IscsiFixture(String name, int sizeMb) throws IOException {
        this(name, new MallocBdevFactory().create(BdevUri.parse("malloc:///" + name + "?size_mb=" + sizeMb + "&blk_size=512")));
    }

    /** A target sharing {@code disk} (closed with the fixture) as {@code name}. */
    IscsiFixture(String name, BlockDevice disk) throws IOException {
        target = new IscsiTarget(reactors, buffers, new InetSocketAddress("127.0.0.1", 0));
        this.disk = disk;
        target.share(disk, ShareOptions.DEFAULT);
        iqn = IscsiTarget.iqn(disk);
    }

    String url() {
        return "iscsi://127.0.0.1:" + target.address().getPort() + "/" + iqn + "/0";
    }

    static boolean have(String tool) {
        return Files.isExecutable(Path.of("/usr/bin", tool));
    }

    /** Runs a command, returns its exit code and output (stdout and stderr together). */
    static Result run(long timeoutSeconds, String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(List.of(command)).redirectErrorStream(true).start();
        List<String> out = new ArrayList<>();
        Thread pump = new Thread(() -> {
            try (InputStream in = p.getInputStream()) {
                out.add(new String(in.readAllBytes(), StandardCharsets.UTF_8));
            } catch (IOException ignored) {
                // the process is gone
            }
        });
        pump.start();
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor();
            pump.join(1000);
            return new Result(-1, String.join("", out) + "\n(killed after " + timeoutSeconds + " s)");
        }
        pump.join(5000);
        return new Result(p.exitValue(), String.join("", out));
    }

    record Result(int exit, String output) {
    }

    @Override
    public void close() {
        target.close();
        disk.close();
        reactors.stop();
        buffers.close();
    }
}
