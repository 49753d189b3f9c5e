package io.mayastorj.iscsi.internal.target;

import io.mayastorj.core.bdev.IoCompletion;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.buffer.DmaBuffer;

/**
 * One SCSI command of a connection, from its Command PDU to its response: the transfer it moves,
 * the write data received so far and the R2T it waits on.
 */
final class Task implements IoCompletion<Task>, Runnable {

    final IscsiConnection connection;
    int itt;
    int cmdSn;
    /** When the command came (a write whose data never comes is found by it). */
    long arrivedNanos;
    /** Finished: the send queue's mark its last PDU was queued below ({@link PduSender#queuedMark}). */
    long sentMark;
    byte[] cdb = new byte[16];
    int opcode;
    /** What the initiator expects to move (EDTL), and what the CDB asks for, in bytes. */
    int expectedLength;
    long cdbLength;
    boolean read;
    boolean write;
    long lba;
    int blocks;
    /** Bytes on the wire: a write's EDTL (all of it is accepted), a read's min(EDTL, CDB length). */
    int transfer;
    /** Bytes the bdev moves: min(EDTL, CDB length), whole blocks. */
    int ioBytes;
    /** The bdev has the task (its buffer is not ours to free until it answers). */
    boolean submitted;
    /** A PREEMPT AND ABORT waiting for the preempted hosts' tasks to end: an abort of it waits too. */
    boolean awaitingFence;
    /** An admitted write counted in its connection's writes at the bdev (MediaCommands.stepEnded). */
    boolean writeHeld;
    /** Which of its connection's two write epochs counts it (MediaCommands.whenWritesQuiet). */
    int writeEpoch;
    /** The blocks a write touches, as a COMPARE AND WRITE's fence sees them (IscsiTarget.AtomicSection.excludes). */
    long fenceLba;
    long fenceBlocks;
    /** EXTENDED COPY: the LUNs its runs write to, once its list is checked (a reset or preemption there aborts it). */
    java.util.List<io.mayastorj.core.bdev.BlockDevice> copyInto;
    /** Force unit access: the write is flushed before its status goes out. */
    boolean fua;
    /** The command takes data from the initiator (WRITE, WRITE AND VERIFY, VERIFY with BYTCHK 1). */
    boolean dataOut;
    /** VERIFY with BYTCHK 1: the data is compared with the medium, not written; the medium's copy. */
    DmaBuffer compare;
    boolean comparing;
    /** UNMAP: the ranges (LBA, blocks, LBA, blocks, …) and the one being unmapped. */
    long[] ranges;
    int step;
    /** WRITE SAME: blocks still to write after the chunk in flight, and that chunk's size. */
    long sameLeft;
    int sameChunk;
    /** Blocks of the pattern buffer that hold the pattern (the pool may hand out a larger buffer). */
    int samePatternBlocks;
    boolean sameZeroes;
    /** COMPARE AND WRITE: 0 waiting for the LUN, 1 reading to compare, 2 writing; holds the LUN from 1 on. */
    int cawStage;
    DmaBuffer buffer;
    /** Bytes of {@link #buffer} counted against the connection's budget ({@link IscsiConnection#hold}); 0 once given back. */
    int held;
    /** Bytes of {@link #compare} counted against the connection's budget; 0 once given back. */
    int compareHeld;
    /** Write data received so far, in order. */
    int received;
    /** Outstanding R2T: its tag, offset, length, sequence numbers. */
    int ttt = -1;
    int r2tOffset;
    int r2tLength;
    int r2tsn;
    int nextDataSn;
    /** Unsolicited data still allowed (FirstBurstLength minus immediate data) when InitialR2T=No. */
    int unsolicitedLeft;
    boolean aborted;
    /** Run when an aborted task the bdev still had is dropped (its Task Management Response waits). */
    Runnable whenDropped;
    /** Its data came out of order: it ends in CHECK CONDITION, its remaining data is dropped. */
    boolean dataError;
    IoStatus ioStatus;

    Task(IscsiConnection connection) {
        this.connection = connection;
    }

    /** Back to a fresh task's state, for reuse by its connection (the CDB is overwritten by the next command). */
    void reset() {
        if (held > 0) { // a retire that skipped the release: its bytes go back to the budget all the same
            connection.unhold(held);
            held = 0;
        }
        if (compareHeld > 0) {
            connection.unhold(compareHeld);
            compareHeld = 0;
        }
        itt = 0;
        cmdSn = 0;
        opcode = 0;
        expectedLength = 0;
        cdbLength = 0;
        read = false;
        write = false;
        lba = 0;
        blocks = 0;
        transfer = 0;
        ioBytes = 0;
        submitted = false;
        fua = false;
        dataOut = false;
        compare = null;
        comparing = false;
        ranges = null;
        step = 0;
        sameLeft = 0;
        sameChunk = 0;
        awaitingFence = false;
        writeHeld = false;
        samePatternBlocks = 0;
        sameZeroes = false;
        cawStage = 0;
        buffer = null;
        received = 0;
        ttt = -1;
        r2tOffset = 0;
        r2tLength = 0;
        r2tsn = 0;
        nextDataSn = 0;
        unsolicitedLeft = 0;
        aborted = false;
        copyInto = null;
        whenDropped = null;
        dataError = false;
        ioStatus = null;
    }

    /** From the bdev, on any thread. */
    @Override
    public void ioDone(IoStatus status, Task context) {
        ioStatus = status;
        if (connection.reactor().inReactor()) {
            run();
        } else {
            connection.reactor().execute(this);
        }
    }

    @Override
    public void run() {
        connection.media().bdevDone(this);
    }

    /** The data buffer back to the pool, and its bytes to the connection's budget. */
    void releaseBuffer() {
        if (buffer != null) {
            buffer.release();
            buffer = null;
        }
        if (held > 0) {
            connection.unhold(held);
            held = 0;
        }
    }

    void release() {
        Runnable told = whenDropped;
        whenDropped = null;
        if (told != null) {
            told.run(); // an aborted task the bdev had: the abort's response waited for it
        }
        releaseBuffer();
        if (compare != null) {
            compare.release();
            compare = null;
        }
        if (compareHeld > 0) {
            connection.unhold(compareHeld);
            compareHeld = 0;
        }
    }

    /**
     * The task's second buffer ({@link #compare}: the medium's copy for a compare, a WRITE SAME
     * pattern, an EXTENDED COPY's runs), counted against the connection's budget as its data buffer
     * is; null when the budget or the pool has none (answered BUSY). Uncounted, commands that take
     * a block of data and a megabyte of pattern held the node's whole pool.
     */
    DmaBuffer takeCompare(io.mayastorj.core.buffer.BufferPool buffers, int bytes) {
        if (!connection.mayHold(sizeClass(bytes))) {
            return null;
        }
        DmaBuffer b = buffers.allocate(bytes);
        if (b != null) {
            compare = b;
            compareHeld = b.capacity();
            connection.hold(compareHeld);
        }
        return b;
    }

    /** The pool's buffer size for {@code bytes}. */
    static int sizeClass(int bytes) {
        return Math.max(io.mayastorj.core.buffer.BufferPool.MIN_BUFFER_SIZE, Integer.highestOneBit(bytes - 1) << 1);
    }
}
