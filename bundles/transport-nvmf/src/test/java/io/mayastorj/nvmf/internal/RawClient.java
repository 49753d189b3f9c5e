package io.mayastorj.nvmf.internal;

import io.mayastorj.nvmf.internal.protocol.Pdu;
import io.mayastorj.nvmf.internal.protocol.Sqe;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.Channels;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32C;

/**
 * A blocking NVMe/TCP host that writes whatever bytes a test wants, well-formed or not, and reads
 * PDUs back: the tool of the hostile-input tests and the fuzzer.
 */
final class RawClient implements AutoCloseable {

    final SocketChannel channel;
    private final ReadableByteChannel in;
    boolean headerDigest;
    boolean dataDigest;

    /** A PDU as received: its header (digest removed) and its data. */
    record Received(int type, int flags, ByteBuffer header, ByteBuffer data) {
        int cqeStatus() {
            return (header.getShort(Pdu.CQE_OFFSET + 14) >> 1) & 0x7FF;
        }

        boolean dnr() {
            return (header.getShort(Pdu.CQE_OFFSET + 14) & 0x8000) != 0;
        }

        int cid() {
            return header.getShort(Pdu.CQE_OFFSET + 12) & 0xFFFF;
        }

        int dw0() {
            return header.getInt(Pdu.CQE_OFFSET);
        }

        /** The submission queue head the response reports. */
        int sqhd() {
            return header.getShort(Pdu.CQE_OFFSET + 8) & 0xFFFF;
        }
    }

    RawClient(int port) throws IOException {
        channel = SocketChannel.open(new InetSocketAddress("127.0.0.1", port));
        channel.socket().setSoTimeout(5000);
        in = Channels.newChannel(channel.socket().getInputStream());
    }

    static ByteBuffer buffer(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    void send(ByteBuffer bytes) throws IOException {
        bytes.position(0);
        while (bytes.hasRemaining()) {
            channel.write(bytes);
        }
    }

    static ByteBuffer icReq(int digests) {
        ByteBuffer b = buffer(128);
        Pdu.header(b, Pdu.IC_REQ, 0, 128, 0, 128);
        b.put(Pdu.IC_DGST, (byte) digests);
        return b;
    }

    /** ICReq, and the ICResp checked. */
    void initialize(boolean header, boolean data) throws IOException {
        initialize(header, data, 0);
    }

    /** ... asking the target to align the data of its PDUs to (hpda + 1) × 4 bytes. */
    void initialize(boolean header, boolean data, int hpda) throws IOException {
        ByteBuffer icreq = icReq((header ? 1 : 0) | (data ? 2 : 0));
        icreq.put(Pdu.IC_HPDA_CPDA, (byte) hpda);
        send(icreq);
        Received r = receive();
        if (r.type() != Pdu.IC_RESP) {
            throw new IOException("expected ICResp, got type " + r.type());
        }
        headerDigest = header;
        dataDigest = data;
    }

    /** A capsule: a 64-byte SQE (filled by the caller) and optional in-capsule data. */
    ByteBuffer capsule(ByteBuffer sqe, byte[] data) {
        int hd = headerDigest ? 4 : 0;
        int dd = dataDigest && data != null ? 4 : 0;
        int dataLength = data == null ? 0 : data.length;
        ByteBuffer b = buffer(72 + hd + dataLength + dd);
        int flags = (hd > 0 ? Pdu.FLAG_HDGST : 0) | (dd > 0 ? Pdu.FLAG_DDGST : 0);
        Pdu.header(b, Pdu.CAPSULE_CMD, flags, 72, dataLength > 0 ? 72 + hd : 0, b.capacity());
        b.put(8, sqe, 0, 64);
        if (hd > 0) {
            b.putInt(72, crc(b, 0, 72));
        }
        if (dataLength > 0) {
            b.put(72 + hd, data);
            if (dd > 0) {
                b.putInt(72 + hd + dataLength, crc(b, 72 + hd, dataLength));
            }
        }
        return b;
    }

    static ByteBuffer sqe(int opcode, int cid) {
        ByteBuffer s = buffer(64);
        s.put(Sqe.OPCODE, (byte) opcode);
        s.put(Sqe.FLAGS, (byte) 0x40);
        s.putShort(Sqe.CID, (short) cid);
        s.put(Sqe.SGL_IDENTIFIER, (byte) Sqe.SGL_TRANSPORT_DATA_BLOCK);
        return s;
    }

    /** Fabrics Connect for queue {@code qid}; returns the response. */
    Received connect(String subnqn, String hostnqn, int qid, int sqsize, int cntlid, int kato) throws IOException {
        ByteBuffer s = sqe(Sqe.FABRICS_OPCODE, 100 + qid);
        s.put(Sqe.FCTYPE, (byte) Sqe.FCTYPE_CONNECT);
        s.putShort(Sqe.CONNECT_QID, (short) qid);
        s.putShort(Sqe.CONNECT_SQSIZE, (short) sqsize);
        s.putInt(Sqe.CONNECT_KATO, kato);
        s.put(Sqe.SGL_IDENTIFIER, (byte) Sqe.SGL_DATA_BLOCK_OFFSET);
        s.putInt(Sqe.SGL_LENGTH, 1024);
        byte[] data = new byte[1024];
        ByteBuffer d = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        d.putShort(Sqe.CONNECT_DATA_CNTLID, (short) cntlid);
        d.put(Sqe.CONNECT_DATA_SUBNQN, subnqn.getBytes(StandardCharsets.US_ASCII));
        d.put(Sqe.CONNECT_DATA_HOSTNQN, hostnqn.getBytes(StandardCharsets.US_ASCII));
        send(capsule(s, data));
        return receive();
    }

    /** Property Set CC.EN = 1 on the admin queue. */
    Received enable() throws IOException {
        ByteBuffer s = sqe(Sqe.FABRICS_OPCODE, 200);
        s.put(Sqe.FCTYPE, (byte) Sqe.FCTYPE_PROPERTY_SET);
        s.putInt(Sqe.PROPERTY_OFFSET, 0x14);
        s.putInt(Sqe.PROPERTY_VALUE, 0x00460001);
        s.put(Sqe.SGL_IDENTIFIER, (byte) 0);
        send(capsule(s, null));
        return receive();
    }

    /** Property Set of a 4-byte register on the admin queue. */
    Received setProperty(int offset, int value) throws IOException {
        ByteBuffer s = sqe(Sqe.FABRICS_OPCODE, 201);
        s.put(Sqe.FCTYPE, (byte) Sqe.FCTYPE_PROPERTY_SET);
        s.putInt(Sqe.PROPERTY_OFFSET, offset);
        s.putInt(Sqe.PROPERTY_VALUE, value);
        s.put(Sqe.SGL_IDENTIFIER, (byte) 0);
        send(capsule(s, null));
        return receive();
    }

    /** Property Get of a 4-byte register on the admin queue: its value. */
    int property(int offset) throws IOException {
        ByteBuffer s = sqe(Sqe.FABRICS_OPCODE, 202);
        s.put(Sqe.FCTYPE, (byte) Sqe.FCTYPE_PROPERTY_GET);
        s.putInt(Sqe.PROPERTY_OFFSET, offset);
        s.put(Sqe.SGL_IDENTIFIER, (byte) 0);
        send(capsule(s, null));
        return receive().dw0();
    }

    static ByteBuffer rw(int opcode, int cid, long lba, int blocks, int bytes, boolean inCapsule) {
        ByteBuffer s = sqe(opcode, cid);
        s.putInt(Sqe.NSID, 1);
        s.putLong(Sqe.CDW10, lba);
        s.putInt(Sqe.CDW12, blocks - 1);
        s.putInt(Sqe.SGL_LENGTH, bytes);
        s.put(Sqe.SGL_IDENTIFIER, (byte) (inCapsule ? Sqe.SGL_DATA_BLOCK_OFFSET : Sqe.SGL_TRANSPORT_DATA_BLOCK));
        return s;
    }

    ByteBuffer h2cData(int cid, int ttag, int offset, byte[] data, boolean last) {
        int hd = headerDigest ? 4 : 0;
        int dd = dataDigest ? 4 : 0;
        ByteBuffer b = buffer(24 + hd + data.length + dd);
        int flags = (last ? Pdu.FLAG_LAST_PDU : 0) | (hd > 0 ? Pdu.FLAG_HDGST : 0) | (dd > 0 ? Pdu.FLAG_DDGST : 0);
        Pdu.header(b, Pdu.H2C_DATA, flags, 24, 24 + hd, b.capacity());
        b.putShort(Pdu.DATA_CCCID, (short) cid);
        b.putShort(Pdu.DATA_TTAG, (short) ttag);
        b.putInt(Pdu.DATA_OFFSET, offset);
        b.putInt(Pdu.DATA_LENGTH, data.length);
        if (hd > 0) {
            b.putInt(24, crc(b, 0, 24));
        }
        b.put(24 + hd, data);
        if (dd > 0) {
            b.putInt(24 + hd + data.length, crc(b, 24 + hd, data.length));
        }
        return b;
    }

    static int crc(ByteBuffer b, int offset, int length) {
        CRC32C crc = new CRC32C();
        crc.update(b.duplicate().position(offset).limit(offset + length));
        return (int) crc.getValue();
    }

    /** The PDO of the last C2HData PDU received. */
    int lastDataPdo;

    /** The next PDU; EOFException when the target closed the connection. */
    Received receive() throws IOException {
        ByteBuffer common = readFully(8);
        int type = common.get(0) & 0xFF;
        int flags = common.get(1) & 0xFF;
        int hlen = common.get(2) & 0xFF;
        int pdo = common.get(3) & 0xFF;
        if (type == Pdu.C2H_DATA) {
            lastDataPdo = pdo;
        }
        int plen = common.getInt(4);
        boolean digested = (flags & Pdu.FLAG_HDGST) != 0;
        ByteBuffer rest = readFully(plen - 8);
        ByteBuffer header = buffer(hlen);
        header.put(0, common, 0, 8);
        header.put(8, rest, 0, hlen - 8);
        int dataStart = pdo > 0 ? pdo - 8 : hlen - 8 + (digested ? 4 : 0);
        int dataEnd = plen - 8 - ((flags & Pdu.FLAG_DDGST) != 0 ? 4 : 0);
        // the target's digests are checked, as a host would: one over the wrong bytes (a pad) fails the test
        if (digested && type != Pdu.IC_RESP) {
            ByteBuffer whole = buffer(hlen);
            whole.put(0, common, 0, 8);
            whole.put(8, rest, 0, hlen - 8);
            if (crc(whole, 0, hlen) != rest.getInt(hlen - 8)) {
                throw new IOException("header digest of a PDU of type " + type + " is wrong");
            }
        }
        if ((flags & Pdu.FLAG_DDGST) != 0 && dataEnd > dataStart && crc(rest, dataStart, dataEnd - dataStart) != rest.getInt(dataEnd)) {
            throw new IOException("data digest of a PDU of type " + type + " is wrong");
        }
        ByteBuffer data = dataEnd > dataStart ? rest.slice(dataStart, dataEnd - dataStart) : buffer(0);
        return new Received(type, flags, header, data);
    }

    /** Reads until the target closes the connection, returning the termination request seen, if any. */
    Received receiveUntilClosed() throws IOException {
        Received term = null;
        try {
            while (true) {
                Received r = receive();
                if (r.type() == Pdu.C2H_TERM_REQ) {
                    term = r;
                }
            }
        } catch (EOFException e) {
            return term;
        }
    }

    private ByteBuffer readFully(int length) throws IOException {
        ByteBuffer b = buffer(length);
        try {
            while (b.hasRemaining()) {
                if (in.read(b) < 0) {
                    throw new EOFException("the target closed the connection");
                }
            }
        } catch (SocketTimeoutException e) {
            throw new IOException("no answer in 5 s", e);
        }
        return b.flip().order(ByteOrder.LITTLE_ENDIAN);
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
