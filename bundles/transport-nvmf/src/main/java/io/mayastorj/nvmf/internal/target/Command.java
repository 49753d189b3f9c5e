package io.mayastorj.nvmf.internal.target;

import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.nvmf.internal.protocol.PduChannel;
import java.nio.ByteBuffer;

/**
 * One slot of a queue: a command from its capsule to its response, reused for the queue's life. It
 * is its own bdev completion, reactor task and send listener, so an I/O allocates nothing.
 * Everything but {@link #ioDone} runs on the queue's reactor.
 */
final class Command implements IoCompletion<Command>, Runnable, PduChannel.Sent {

    enum State {
        FREE,
        /** capsule header seen, its in-capsule data arriving */
        CAPSULE,
        /** waiting for a buffer from the pool */
        AWAIT_BUFFER,
        /** R2T sent, H2CData arriving */
        AWAIT_DATA,
        /** at the bdev */
        IN_BDEV,
        /** an Asynchronous Event Request, held until there is an event */
        HELD,
        /** response queued on the socket */
        RESPONDING
    }

    final TargetQueue queue;
    final int slot;

    /** The response PDU (CapsuleResp + header digest), the C2HData/R2T header, the data digest. */
    final ByteBuffer response;
    final ByteBuffer dataHeader;
    final ByteBuffer dataDigest;

    State state = State.FREE;
    // the SQE's fields
    int opcode;
    int fctype;
    /** CDW0 bits 15:8: FUSE (9:8) and PSDT. */
    int flags;
    int cid;
    int nsid;
    int sglType;
    int sglLength;
    long sglAddress;
    int cdw10;
    int cdw11;
    int cdw12;
    int cdw13;
    int cdw14;
    int cdw15;
    /** Bytes that came in the capsule. */
    int inCapsule;
    /** When its R2T went out or its last H2CData came (System.nanoTime()): a write whose data stops is ended. */
    long dataSince;
    /** An admin Connect waiting for the host's earlier commands at the bdev: since when (System.nanoTime()), or 0. */
    long heldSince;

    /** The status decided so far (SCT << 8 | SC), or SUCCESS. */
    int status;
    /** CQE dwords 0 and 1. */
    int dw0;
    int dw1;

    DmaBuffer buffer;
    /** Bytes the command moves (to or from {@link #buffer}). */
    int length;
    /** H2C bytes received so far. */
    int received;
    long lba;
    int blocks;
    /** The next step after the bdev answers, for commands of several steps (FUA, DSM ranges). */
    int step;
    IoStatus ioStatus;
    long submittedNanos;

    Command(TargetQueue queue, int slot, ByteBuffer response, ByteBuffer dataHeader, ByteBuffer dataDigest) {
        this.queue = queue;
        this.slot = slot;
        this.response = response;
        this.dataHeader = dataHeader;
        this.dataDigest = dataDigest;
    }

    /** From the bdev, on any thread: hand the outcome to the reactor. */
    @Override
    public void ioDone(IoStatus outcome, Command context) {
        ioStatus = outcome;
        if (queue.reactor().inReactor()) {
            run();
        } else {
            queue.reactor().execute(this);
        }
    }

    /** On the reactor, after the bdev answered: only I/O commands go to the bdev. */
    @Override
    public void run() {
        queue.ioCommands().bdevDone(this);
    }

    /** The response is on the wire. */
    @Override
    public void sent() {
        queue.release(this);
    }

    boolean writesData() {
        return buffer != null && length > 0;
    }

    void reset() {
        state = State.FREE;
        status = 0;
        dw0 = 0;
        dw1 = 0;
        buffer = null;
        length = 0;
        received = 0;
        inCapsule = 0;
        step = 0;
        ioStatus = null;
        heldSince = 0;
    }
}
