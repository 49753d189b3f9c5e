package io.mayastorj.csi.internal.node;

import io.mayastorj.core.error.MayastorException;
import java.io.IOException;
import java.io.InputStream;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
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
        Drain out = new Drain(p.getInputStream(), command);
        Drain err = new Drain(p.getErrorStream(), command);
        int status;
        try {
            if (p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                status = p.exitValue();
            } else {
                // a process stuck in the kernel (umount of a dead path) outlives SIGKILL: waited for a while only
                p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                status = TIMED_OUT;
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw MayastorException.unavailable("interrupted while `%s` ran", String.join(" ", command));
        }
        // a child it left behind may hold its pipes open (`… &`): what came by then, not an unbounded wait
        Result r = new Result(List.copyOf(command), status, out.taken(OUTPUT_GRACE_MILLIS), err.taken(OUTPUT_GRACE_MILLIS),
                Duration.ofNanos(System.nanoTime() - start));
        if (r.ok()) {
            LOG.log(Level.DEBUG, "`{0}` took {1} ms", String.join(" ", command), r.took().toMillis());
        } else {
            LOG.log(Level.INFO, "{0} ({1} ms)", r.describe(), r.took().toMillis());
        }
        return r;
    }

    /** The most of a command's stdout or stderr kept. */
    static final int OUTPUT_LIMIT = 1 << 20;

    /** How long the output of a command that ended is waited for. */
    static final long OUTPUT_GRACE_MILLIS = 2000;

    /**
     * Reads a command's stream on a thread of its own: on a shared pool (the common ForkJoinPool, one
     * thread on a 2-CPU node at parallelism 3 on 4), one slow command's reads held up every other
     * command's output, and with it every volume's call on the node.
     */
    private static final class Drain {
        private final java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        private final Thread thread;

        Drain(InputStream in, List<String> command) {
            thread = new Thread(() -> {
                byte[] chunk = new byte[8192];
                try (in) {
                    for (int n; (n = in.read(chunk)) >= 0; ) {
                        synchronized (bytes) {
                            // what a child left behind may go on writing: kept to a bound, the rest read and dropped
                            bytes.write(chunk, 0, Math.min(n, Math.max(0, OUTPUT_LIMIT - bytes.size())));
                        }
                    }
                } catch (IOException e) {
                    // the stream closed under us: what was read stands
                }
            }, "csi-output-" + command.get(0));
            thread.setDaemon(true);
            thread.start();
        }

        /** What the stream gave until its end, or until {@code waitMillis} passed. */
        String taken(long waitMillis) {
            try {
                thread.join(waitMillis);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            synchronized (bytes) {
                return bytes.toString(StandardCharsets.UTF_8);
            }
        }
    }
}
