package io.mayastorj.nvmf.internal.host;

import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoType;
import io.mayastorj.core.buffer.DmaBuffer;
import java.nio.ByteBuffer;

/**
 * One command slot of a host queue; its CID is its index. Filled on the submitting thread, sent on
 * the queue's reactor (it is the task that does so), completed there. Reused for the queue's life.
 */
final class HostRequest implements Runnable {

    /** Told the outcome of an admin or fabrics command. */
    interface AdminDone {
        void done(int status, int dw0, int dw1);
    }

    enum Data { NONE, TO_HOST, TO_TARGET }

    final HostQueue queue;
    final int cid;
    /** CapsuleCmd header (72 + header digest), and the H2CData header of the first data PDU. */
    final ByteBuffer capsule;
    final ByteBuffer dataHeader;
    final ByteBuffer dataDigest;

    // the command
    int opcode;
    int fctype;
    int nsid;
    int cdw10;
    int cdw11;
    int cdw12;
    int cdw13;
    int cdw14;
    int cdw15;
    Data data = Data.NONE;
    DmaBuffer buffer;
    int bufferOffset;
    int length;
    /** The buffer is the request's own (DSM ranges): released when the request ends. */
    boolean ownsBuffer;

    // the caller's completion: a bdev I/O or an admin callback
    IoCompletion<Object> done;
    Object context;
    IoType type;
    AdminDone admin;

    // progress
    boolean busy;
    long submittedNanos;
    /** The queue's send mark after this command's last data: its response counts only once that is written. */
    long sendMark;
    int received;
    /** A C2HData of this command failed its data digest: it fails however its response ends. */
    boolean digestFailed;
    /** Times the target answered it with a passing status and it went again. */
    int retries;
    ViewCache.View view;

    HostRequest(HostQueue queue, int cid, ByteBuffer capsule, ByteBuffer dataHeader, ByteBuffer dataDigest) {
        this.queue = queue;
        this.cid = cid;
        this.capsule = capsule;
        this.dataHeader = dataHeader;
        this.dataDigest = dataDigest;
    }

    @Override
    public void run() {
        queue.transmit(this);
    }

    void clear() {
        data = Data.NONE;
        buffer = null;
        ownsBuffer = false;
        length = 0;
        done = null;
        context = null;
        admin = null;
        type = null;
        received = 0;
        retries = 0;
        view = null;
        cdw10 = cdw11 = cdw12 = cdw13 = cdw14 = cdw15 = 0;
        nsid = 0;
        fctype = 0;
    }
}
