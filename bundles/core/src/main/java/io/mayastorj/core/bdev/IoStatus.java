package io.mayastorj.core.bdev;

/**
 * How an I/O ended. Transports translate these into protocol statuses (an NVMe status code, a SCSI
 * sense triple), so each names one cause.
 */
public enum IoStatus {
    SUCCESS,
    /** The range does not lie within the device. */
    LBA_OUT_OF_RANGE,
    /** A read or write of zero blocks, or a count that does not fit. */
    INVALID_LENGTH,
    /** The buffer is smaller than the transfer. */
    BUFFER_TOO_SMALL,
    /** The buffer does not meet the device's alignment (O_DIRECT needs its logical block size). */
    MISALIGNED_BUFFER,
    /** The device does not support this kind of I/O. */
    UNSUPPORTED,
    /** The device reported an error reading or writing its media. */
    MEDIA_ERROR,
    /** The device (or the pool under it) has no space left for the write. */
    NO_SPACE,
    /** The device did not answer within the I/O timeout. */
    TIMED_OUT,
    /** The I/O was cancelled before it completed. */
    ABORTED,
    /** The device is closing or closed. */
    DEVICE_CLOSED,
    /** The device cannot be reached now (a remote target is down or reconnecting); later may work. */
    UNAVAILABLE,
    /** Any other failure. */
    FAILED;

    public boolean isSuccess() {
        return this == SUCCESS;
    }
}
