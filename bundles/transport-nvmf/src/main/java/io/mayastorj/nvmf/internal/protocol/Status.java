package io.mayastorj.nvmf.internal.protocol;

import io.mayastorj.core.bdev.IoStatus;

/**
 * Completion statuses (NVMe Base 2.0, §4.6.1.2), encoded as {@code SCT << 8 | SC}; {@link #cqe}
 * gives the 16-bit field of the CQE, with DNR where a retry cannot help.
 */
public final class Status {

    public static final int SUCCESS = 0x000;
    // generic command status (SCT 0)
    public static final int INVALID_OPCODE = 0x001;
    public static final int INVALID_FIELD = 0x002;
    public static final int COMMAND_ID_CONFLICT = 0x003;
    public static final int DATA_TRANSFER_ERROR = 0x004;
    public static final int INTERNAL_ERROR = 0x006;
    public static final int ABORT_REQUESTED = 0x007;
    public static final int ABORT_SQ_DELETION = 0x008;
    public static final int INVALID_NAMESPACE = 0x00B;
    public static final int COMMAND_SEQUENCE_ERROR = 0x00C;
    public static final int DATA_SGL_LENGTH_INVALID = 0x00F;
    public static final int SGL_DESCRIPTOR_TYPE_INVALID = 0x011;
    public static final int SGL_OFFSET_INVALID = 0x016;
    public static final int COMMAND_INTERRUPTED = 0x021;
    public static final int TRANSIENT_TRANSPORT_ERROR = 0x022;
    public static final int LBA_OUT_OF_RANGE = 0x080;
    public static final int CAPACITY_EXCEEDED = 0x081;
    public static final int NAMESPACE_NOT_READY = 0x082;
    // command specific (SCT 1)
    public static final int ASYNC_EVENT_LIMIT_EXCEEDED = 0x105;
    public static final int INVALID_LOG_PAGE = 0x109;
    public static final int FEATURE_NOT_SAVEABLE = 0x10D;
    public static final int CONNECT_INCOMPATIBLE_FORMAT = 0x180;
    public static final int CONNECT_CONTROLLER_BUSY = 0x181;
    public static final int CONNECT_INVALID_PARAMETERS = 0x182;
    public static final int CONNECT_INVALID_HOST = 0x184;
    // media and data integrity (SCT 2)
    public static final int WRITE_FAULT = 0x280;
    public static final int UNRECOVERED_READ_ERROR = 0x281;
    // path (SCT 3)
    public static final int INTERNAL_PATH_ERROR = 0x300;
    public static final int ANA_PERSISTENT_LOSS = 0x301;
    public static final int ANA_INACCESSIBLE = 0x302;
    public static final int ANA_TRANSITION = 0x303;

    private static final int DNR = 0x8000;

    private Status() {
    }

    /** The CQE status field: SC in bits 8:1, SCT in 11:9, DNR in 15 (phase bit 0 left clear). */
    public static short cqe(int status, boolean doNotRetry) {
        int sc = status & 0xFF;
        int sct = (status >> 8) & 0x7;
        return (short) ((sc << 1) | (sct << 9) | (doNotRetry && status != SUCCESS ? DNR : 0));
    }

    /** Status (SCT << 8 | SC) from a CQE status field. */
    public static int fromCqe(short field) {
        return ((field >> 1) & 0xFF) | (((field >> 9) & 0x7) << 8);
    }

    public static boolean doNotRetry(short field) {
        return (field & DNR) != 0;
    }

    /** The NVMe status for a bdev I/O outcome. */
    public static int of(IoStatus io, boolean write) {
        return switch (io) {
            case SUCCESS -> SUCCESS;
            case LBA_OUT_OF_RANGE -> LBA_OUT_OF_RANGE;
            case NO_SPACE -> CAPACITY_EXCEEDED;
            case MEDIA_ERROR -> write ? WRITE_FAULT : UNRECOVERED_READ_ERROR;
            case UNSUPPORTED -> INVALID_OPCODE;
            case INVALID_LENGTH -> INVALID_FIELD;
            // the target's own buffers against its device (a 4 KiB-sector disk under a 512-byte namespace): not the
            // host's request. As Invalid Field, a nexus took it for the request's fault and tried no other replica
            case BUFFER_TOO_SMALL, MISALIGNED_BUFFER -> INTERNAL_ERROR;
            case DEVICE_CLOSED -> NAMESPACE_NOT_READY;
            case ABORTED, TIMED_OUT -> ABORT_REQUESTED;
            case UNAVAILABLE -> INTERNAL_PATH_ERROR;
            case FAILED -> INTERNAL_ERROR;
        };
    }

    /**
     * The path status for I/O through a path in ANA state {@code state} that is not usable: a
     * multipath host sends the command down another path (Linux fails it over without counting a
     * retry), so no error reaches the application while another path serves.
     */
    public static int ofAccess(io.mayastorj.core.bdev.AccessState state) {
        return switch (state) {
            case PERSISTENT_LOSS -> ANA_PERSISTENT_LOSS;
            case CHANGE -> ANA_TRANSITION;
            default -> ANA_INACCESSIBLE;
        };
    }

    /** Whether the host should not retry: errors that a retry of the same command cannot fix. */
    public static boolean permanent(int status) {
        return switch (status) {
            // a command aborted as its queue goes (the controller reset or ended) never ran: the host sends it again
            // on its next association; with DNR, Linux fails it to the application (EIO) instead
            case ABORT_REQUESTED, ABORT_SQ_DELETION, NAMESPACE_NOT_READY, COMMAND_INTERRUPTED, TRANSIENT_TRANSPORT_ERROR,
                    INTERNAL_PATH_ERROR, ANA_PERSISTENT_LOSS, ANA_INACCESSIBLE, ANA_TRANSITION, CONNECT_CONTROLLER_BUSY -> false;
            default -> true;
        };
    }

    /** The bdev outcome for an NVMe status a remote controller returned. */
    public static IoStatus toIo(int status) {
        return switch (status) {
            case SUCCESS -> IoStatus.SUCCESS;
            case LBA_OUT_OF_RANGE -> IoStatus.LBA_OUT_OF_RANGE;
            case CAPACITY_EXCEEDED -> IoStatus.NO_SPACE;
            case WRITE_FAULT, UNRECOVERED_READ_ERROR -> IoStatus.MEDIA_ERROR;
            case INVALID_OPCODE -> IoStatus.UNSUPPORTED;
            case INVALID_FIELD -> IoStatus.INVALID_LENGTH;
            case ABORT_REQUESTED -> IoStatus.ABORTED;
            case NAMESPACE_NOT_READY, INTERNAL_PATH_ERROR, TRANSIENT_TRANSPORT_ERROR, COMMAND_INTERRUPTED, ABORT_SQ_DELETION,
                    ANA_PERSISTENT_LOSS, ANA_INACCESSIBLE, ANA_TRANSITION ->
                    IoStatus.UNAVAILABLE;
            default -> IoStatus.FAILED;
        };
    }
}
