package io.mayastorj.nvmf.internal.protocol;

/**
 * Fields of a 64-byte submission queue entry (NVMe Base 2.0, §4.2) and of the Fabrics commands
 * (§6), as offsets from the SQE's first byte.
 */
public final class Sqe {

    public static final int SIZE = 64;
    public static final int OPCODE = 0;
    public static final int FLAGS = 1;
    /** FUSE, in {@link #FLAGS}: 01b first and 10b second command of a fused operation. */
    public static final int FUSE_MASK = 0x03;
    /** PSDT, in {@link #FLAGS}: NVMe over Fabrics takes only 01b, SGLs for the data (a contiguous metadata buffer). */
    public static final int PSDT_MASK = 0xC0;
    public static final int PSDT_SGL = 0x40;
    public static final int CID = 2;
    public static final int NSID = 4;
    public static final int SGL_ADDRESS = 24;
    public static final int SGL_LENGTH = 32;
    public static final int SGL_IDENTIFIER = 39;
    public static final int CDW10 = 40;
    public static final int CDW11 = 44;
    public static final int CDW12 = 48;
    public static final int CDW13 = 52;
    public static final int CDW14 = 56;
    public static final int CDW15 = 60;

    /** SGL descriptor types (type << 4 | subtype) the Linux host sends. */
    public static final int SGL_DATA_BLOCK_OFFSET = 0x01;
    public static final int SGL_TRANSPORT_DATA_BLOCK = 0x5A;

    // Fabrics (opcode 0x7F): FCTYPE at byte 4
    public static final int FABRICS_OPCODE = 0x7F;
    public static final int FCTYPE = 4;
    public static final int FCTYPE_PROPERTY_SET = 0x00;
    public static final int FCTYPE_CONNECT = 0x01;
    public static final int FCTYPE_PROPERTY_GET = 0x04;
    public static final int FCTYPE_DISCONNECT = 0x08;
    // Connect
    public static final int CONNECT_RECFMT = 40;
    public static final int CONNECT_QID = 42;
    public static final int CONNECT_SQSIZE = 44;
    public static final int CONNECT_CATTR = 46;
    public static final int CONNECT_KATO = 48;
    public static final int CONNECT_DATA_LENGTH = 1024;
    public static final int CONNECT_DATA_HOSTID = 0;
    public static final int CONNECT_DATA_CNTLID = 16;
    public static final int CONNECT_DATA_SUBNQN = 256;
    public static final int CONNECT_DATA_HOSTNQN = 512;
    // Property Get / Set
    public static final int PROPERTY_ATTRIB = 40;
    public static final int PROPERTY_OFFSET = 44;
    public static final int PROPERTY_VALUE = 48;

    // admin opcodes
    public static final int ADMIN_GET_LOG_PAGE = 0x02;
    public static final int ADMIN_IDENTIFY = 0x06;
    public static final int ADMIN_ABORT = 0x08;
    public static final int ADMIN_SET_FEATURES = 0x09;
    public static final int ADMIN_GET_FEATURES = 0x0A;
    public static final int ADMIN_ASYNC_EVENT = 0x0C;
    public static final int ADMIN_KEEP_ALIVE = 0x18;

    // I/O opcodes
    public static final int IO_FLUSH = 0x00;
    public static final int IO_WRITE = 0x01;
    public static final int IO_READ = 0x02;
    public static final int IO_WRITE_ZEROES = 0x08;
    public static final int IO_DATASET_MANAGEMENT = 0x09;

    private Sqe() {
    }
}
