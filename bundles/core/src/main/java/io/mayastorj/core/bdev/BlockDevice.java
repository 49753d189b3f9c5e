package io.mayastorj.core.bdev;

import io.mayastorj.core.buffer.DmaBuffer;
import java.util.UUID;

/**
 * A block device (bdev): a named array of fixed-size blocks with asynchronous I/O.
 *
 * <p>Requests never throw for bad input: a range beyond the end, a buffer that is too small or
 * misaligned, or a closed device completes the I/O with the matching {@link IoStatus}. The data
 * buffer is read or written only between submission and completion, with absolute access; a
 * device never changes the buffer's position or limit, so one buffer may feed several devices at
 * once (a mirrored write).
 */
public interface BlockDevice {

    /** Unique name on the node, e.g. {@code m0}, {@code /dev/sdb} or a replica's UUID. */
    String name();

    UUID uuid();

    /** What kind of device this is, for people: "Malloc disk", "AIO disk". */
    String productName();

    /** Logical block size in bytes: 512 or 4096. */
    int blockSize();

    long blockCount();

    /**
     * Asks the device for its size again and returns its block count: a remote namespace that grew
     * behind it (a resized replica) grows here too. Blocking; most devices know their size already.
     */
    default long refreshSize() {
        return blockCount();
    }

    default long sizeBytes() {
        return blockCount() * blockSize();
    }

    /** Alignment in bytes that a buffer's address must meet; 1 when any will do. */
    int bufferAlignment();

    boolean supports(IoType type);

    /** Reads {@code blocks} blocks from {@code lba} into {@code buffer} at {@code bufferOffset}. */
    <C> void read(DmaBuffer buffer, int bufferOffset, long lba, int blocks,
                  IoCompletion<? super C> done, C context);

    /** Writes {@code blocks} blocks at {@code lba} from {@code buffer} at {@code bufferOffset}. */
    <C> void write(DmaBuffer buffer, int bufferOffset, long lba, int blocks,
                   IoCompletion<? super C> done, C context);

    /** Makes every write completed before this call durable. */
    <C> void flush(IoCompletion<? super C> done, C context);

    <C> void unmap(long lba, long blocks, IoCompletion<? super C> done, C context);

    <C> void writeZeroes(long lba, long blocks, IoCompletion<? super C> done, C context);

    /**
     * False when the device knows that blocks {@code [lba, lba + blocks)} hold no data — never
     * written, or unmapped — and read as zeros; true when they may hold data or it cannot tell.
     * A rebuild copies only the ranges that may hold data, so thin replicas stay thin. Synchronous
     * and cheap; any thread.
     */
    default boolean holdsData(long lba, long blocks) {
        return true;
    }

    /**
     * The unit, in blocks, in which {@link #holdsData} knows what is allocated (a thin replica's
     * cluster), or 0 when it cannot tell. A target reports allocation to remote hosts in this unit
     * (NVMe's TLBAAG); every range of a unit that holds data is reported as holding data.
     */
    default long allocationUnit() {
        return 0;
    }

    /**
     * How hosts should use this device's path through this node; {@link AccessState#OPTIMIZED}
     * unless the device can be served from elsewhere (a nexus that moved). Read on every I/O by
     * targets that report it: a volatile read at most.
     */
    default AccessState accessState() {
        return AccessState.OPTIMIZED;
    }

    /**
     * How many times the device has lost what backs it and been reattached since it was opened (a
     * remote namespace reconnected). The other end may have restarted meanwhile, and writes it
     * completed but had not flushed may be gone: a mirror that sees this change stops trusting the
     * device until it is brought in sync again. 0 for a device that never reattaches; a volatile read.
     */
    default long reattachments() {
        return 0;
    }

    BdevStats stats();

    /**
     * Stops accepting I/O, waits for the I/O in flight, and releases the device's resources.
     * Called by whoever created the device (the registry for URI-created bdevs).
     */
    void close();
}
