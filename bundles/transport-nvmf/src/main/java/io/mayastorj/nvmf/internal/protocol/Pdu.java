package io.mayastorj.nvmf.internal.protocol;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * NVMe/TCP PDUs (NVMe/TCP Transport Specification 1.0, §3.6): the common header, the header length
 * of each type, and the offsets of their fields. Little-endian throughout.
 */
public final class Pdu {

    // §3.6.1 PDU types
    public static final int IC_REQ = 0x00;
    public static final int IC_RESP = 0x01;
    public static final int H2C_TERM_REQ = 0x02;
    public static final int C2H_TERM_REQ = 0x03;
    public static final int CAPSULE_CMD = 0x04;
    public static final int CAPSULE_RESP = 0x05;
    public static final int H2C_DATA = 0x06;
    public static final int C2H_DATA = 0x07;
    public static final int R2T = 0x09;

    // common header: TYPE, FLAGS, HLEN, PDO, PLEN
    public static final int OFF_TYPE = 0;
    public static final int OFF_FLAGS = 1;
    public static final int OFF_HLEN = 2;
    public static final int OFF_PDO = 3;
    public static final int OFF_PLEN = 4;
    public static final int COMMON_HEADER = 8;

    // FLAGS
    public static final int FLAG_HDGST = 0x01;
    public static final int FLAG_DDGST = 0x02;
    public static final int FLAG_LAST_PDU = 0x04;
    public static final int FLAG_SUCCESS = 0x08;

    // header lengths
    public static final int IC_LENGTH = 128;
    public static final int CAPSULE_CMD_HLEN = 72;
    public static final int CAPSULE_RESP_HLEN = 24;
    public static final int DATA_HLEN = 24;
    public static final int R2T_HLEN = 24;
    public static final int TERM_HLEN = 24;
    public static final int DIGEST = 4;

    // ICReq / ICResp fields
    public static final int IC_PFV = 8;
    public static final int IC_HPDA_CPDA = 10;
    public static final int IC_DGST = 11;
    public static final int IC_MAXR2T_MAXH2CDATA = 12;
    public static final int DGST_HEADER = 1;
    public static final int DGST_DATA = 2;

    // capsule command: the SQE follows the common header
    public static final int SQE_OFFSET = 8;
    // capsule response: the CQE follows the common header
    public static final int CQE_OFFSET = 8;

    // H2CData / C2HData / R2T
    public static final int DATA_CCCID = 8;
    public static final int DATA_TTAG = 10;
    public static final int DATA_OFFSET = 12;
    public static final int DATA_LENGTH = 16;

    // termination requests
    public static final int TERM_FES = 8;
    public static final int TERM_FEI = 10;
    public static final int TERM_MAX_DATA = 128;
    // §3.6.2.9 fatal error status
    public static final int FES_INVALID_HEADER_FIELD = 0x01;
    public static final int FES_PDU_SEQUENCE_ERROR = 0x02;
    public static final int FES_HEADER_DIGEST_ERROR = 0x03;
    public static final int FES_DATA_OUT_OF_RANGE = 0x04;
    public static final int FES_DATA_TRANSFER_LIMIT_EXCEEDED = 0x05;
    public static final int FES_UNSUPPORTED_PARAMETER = 0x06;

    private Pdu() {
    }

    /** The header length each PDU type must carry, or -1 for a type this end never accepts. */
    public static int headerLength(int type) {
        return switch (type) {
            case IC_REQ, IC_RESP -> IC_LENGTH;
            case CAPSULE_CMD -> CAPSULE_CMD_HLEN;
            case CAPSULE_RESP -> CAPSULE_RESP_HLEN;
            case H2C_DATA, C2H_DATA -> DATA_HLEN;
            case R2T -> R2T_HLEN;
            case H2C_TERM_REQ, C2H_TERM_REQ -> TERM_HLEN;
            default -> -1;
        };
    }

    /** Writes a common header at the buffer's start. */
    public static void header(ByteBuffer pdu, int type, int flags, int hlen, int pdo, int plen) {
        pdu.put(OFF_TYPE, (byte) type);
        pdu.put(OFF_FLAGS, (byte) flags);
        pdu.put(OFF_HLEN, (byte) hlen);
        pdu.put(OFF_PDO, (byte) pdo);
        pdu.putInt(OFF_PLEN, plen);
    }

    /**
     * Pad bytes between a data PDU's header and its data, for the peer's data alignment (CPDA, HPDA:
     * at most 31, so under 128 bytes). Never written: sent through a duplicate limited to the pad.
     */
    public static ByteBuffer padding(int bytes) {
        return PAD.duplicate().limit(bytes);
    }

    private static final ByteBuffer PAD = ByteBuffer.allocateDirect(128);

    public static ByteBuffer allocate(int capacity) {
        return ByteBuffer.allocateDirect(capacity).order(ByteOrder.LITTLE_ENDIAN);
    }
}
