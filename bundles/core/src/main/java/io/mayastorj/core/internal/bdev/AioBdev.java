package io.mayastorj.core.internal.bdev;

import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.internal.nativeio.Errno;
import io.mayastorj.core.internal.nativeio.LinuxAio;
import java.io.IOException;

/**
 * A file or block device driven by Linux native AIO (io_submit, and completions read from the
 * kernel's ring), opened with O_DIRECT where the file system allows. A read, write or flush made on
 * a reactor goes into that reactor's {@link AioQueue} and completes on the same thread; one made
 * elsewhere goes into the device's {@link AioThreadContext} and completes on its reaper (or, while
 * io_setup refuses the device that context, through a reactor's queue, completing there). Unmap and
 * write-zeroes, and flush where the kernel refuses the asynchronous one, run on {@link FileBdev}'s
 * helper thread.
 */
final class AioBdev extends FileBdev {

    /** The per-reactor queues, or null in a process without reactors. */
    private final AioBdevFactory.Queues queues;
    private volatile AioThreadContext threadContext;
    /** When a context may be tried again after io_setup refused one (fs.aio-max-nr used up, for a while); guarded by this. */
    private long threadContextRetryAt;
    private boolean threadContextFailed; // guarded by this: said once per run of refusals
    /** Tests: this many context set-ups fail as io_setup's EAGAIN would. */
    static volatile int failContextsForTests;

    AioBdev(OpenFile file, AioBdevFactory.Queues queues) throws IOException {
        super(file, "aio");
        this.queues = queues;
        if (queues == null) {
            threadContext = new AioThreadContext(this); // every request comes this way: io_setup's refusal shows now
        }
    }

    /** Whether the device's own context for requests off the reactors is set up (tests). */
    boolean hasOwnContext() {
        return threadContext != null;
    }

    @Override
    public String productName() {
        return "AIO disk";
    }

    @Override
    protected <C> void doRead(DmaBuffer buffer, int bufferOffset, long lba, int blocks,
                              IoCompletion<? super C> done, C context) {
        if (inMemory) {
            copyInMemory(IoType.READ, buffer.address() + bufferOffset, (long) blocks * blockSize(), lba * blockSize(), done, context);
            return;
        }
        submit(LinuxAio.CMD_PREAD, IoType.READ, buffer.address() + bufferOffset, (long) blocks * blockSize(),
                lba * blockSize(), done, context);
    }

    @Override
    protected <C> void doWrite(DmaBuffer buffer, int bufferOffset, long lba, int blocks,
                               IoCompletion<? super C> done, C context) {
        if (inMemory) {
            copyInMemory(IoType.WRITE, buffer.address() + bufferOffset, (long) blocks * blockSize(), lba * blockSize(), done, context);
            return;
        }
        submit(LinuxAio.CMD_PWRITE, IoType.WRITE, buffer.address() + bufferOffset, (long) blocks * blockSize(),
                lba * blockSize(), done, context);
    }

    @Override
    protected <C> void doFlush(IoCompletion<? super C> done, C context) {
        if (asyncFlush()) {
            submit(LinuxAio.CMD_FDSYNC, IoType.FLUSH, 0, 0, 0, done, context);
        } else {
            syncOnHelper(done, context);
        }
    }

    private <C> void submit(short opcode, IoType type, long address, long bytes, long offset,
                            IoCompletion<? super C> done, C context) {
        AioQueue queue = queues == null ? null : queues.onThisThread();
        if (queue != null) {
            queue.submit(this, opcode, type, address, bytes, offset, done, context);
            return;
        }
        AioThreadContext thread = threadContext();
        if (thread != null) {
            thread.submit(opcode, type, address, bytes, offset, done, context);
        } else if (queues == null || !queues.onAReactor(q -> q.submit(this, opcode, type, address, bytes, offset, done, context))) {
            finish(type, bytes, -Errno.EAGAIN, cast(done), context); // logged where the context failed
        }
    }

    @SuppressWarnings("unchecked")
    private static IoCompletion<Object> cast(IoCompletion<?> done) {
        return (IoCompletion<Object>) done;
    }

    private AioThreadContext threadContext() {
        AioThreadContext context = threadContext;
        if (context == null) {
            synchronized (this) {
                context = threadContext;
                // refused now is not refused for good (other processes' contexts end): tried again a second
                // later, requests meanwhile going through a reactor's context
                if (context == null && (!threadContextFailed || System.nanoTime() - threadContextRetryAt >= 0)) {
                    try {
                        if (failContextsForTests > 0) {
                            failContextsForTests--;
                            throw new IOException("io_setup: Resource temporarily unavailable (test)");
                        }
                        context = threadContext = new AioThreadContext(this);
                        if (threadContextFailed) {
                            System.getLogger("mayastor.bdev").log(System.Logger.Level.INFO,
                                    "bdev {0}: an aio context for callers off the reactors could be set up now", name());
                        }
                        threadContextFailed = false;
                    } catch (IOException e) {
                        threadContextRetryAt = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(1);
                        if (!threadContextFailed) {
                            System.getLogger("mayastor.bdev").log(System.Logger.Level.ERROR, "bdev {0}: no aio context for "
                                    + "callers off the reactors ({1}): their requests go through the reactors'' contexts "
                                    + "and it is tried again", name(), e.getMessage());
                        }
                        threadContextFailed = true;
                    }
                }
            }
        }
        return context;
    }

    @Override
    protected void awaitProgress() {
        AioQueue queue = queues == null ? null : queues.onThisThread();
        AioThreadContext context = threadContext;
        if (queue != null) {
            queue.awaitProgress(); // closed on a reactor: its own context holds what is in flight
        } else if (context != null && context.onReaper()) {
            context.reapNested(); // closed from a completion of the device's own context: only this thread reaps it
        } else {
            super.awaitProgress();
        }
    }

    @Override
    protected void doClose() {
        AioThreadContext context = threadContext;
        if (context != null) {
            context.close();
        }
        closeFile();
    }
}
