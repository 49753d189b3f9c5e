package io.mayastorj.csi.internal.node;

import io.mayastorj.core.error.MayastorException;
import java.io.IOException;
import java.io.InputStream;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** Runs commands as processes: stdin closed, stdout and stderr collected, killed at the deadline. */
public final class SystemCommands implements Commands {

    private static final Logger LOG = System.getLogger("mayastor.csi");

    @Override
    public Result run(Duration timeout, List<String> command) {
        long start = System.nanoTime();
        Process p;
        try {
            p = new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        } catch (IOException e) {
            throw MayastorException.failedPrecondition("cannot run `%s`: %s", String.join(" ", command), e.getMessage());
        }
        CompletableFuture<String> out = drain(p.getInputStream());
        CompletableFuture<String> err = drain(p.getErrorStream());
        int status;
        try {
            if (p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                status = p.exitValue();
            } else {
                p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                status = TIMED_OUT;
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw MayastorException.unavailable("interrupted while `%s` ran", String.join(" ", command));
        }
        Result r = new Result(List.copyOf(command), status, out.join(), err.join(), Duration.ofNanos(System.nanoTime() - start));
        if (r.ok()) {
            LOG.log(Level.DEBUG, "`{0}` took {1} ms", String.join(" ", command), r.took().toMillis());
        } else {
            LOG.log(Level.INFO, "{0} ({1} ms)", r.describe(), r.took().toMillis());
        }
        return r;
    }

    private static CompletableFuture<String> drain(InputStream in) {
        return CompletableFuture.supplyAsync(() -> {
            try (in) {
                return new String(in.readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                return "";
            }
        });
    }
}
