package io.mayastorj.iscsi.internal.target;

import io.mayastorj.iscsi.internal.protocol.Bhs;
import io.mayastorj.iscsi.internal.protocol.TextParameters;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32C;

/** A blocking iSCSI initiator that sends whatever bytes a test wants and reads PDUs back. */
final class RawInitiator implements AutoCloseable {

    static final String NAME = "iqn.2026-11.test:raw";

    final Socket socket;
    private final InputStream in;
    boolean headerDigest;
    boolean dataDigest;
    int cmdSn = 1;
    int itt = 1;
    /**
     * The low bytes of this initiator port's ISID: one of its own, as a real initiator gives each of
     * its sessions — two sessions of one name and ISID are one I_T nexus, and the second login
     * reinstates (closes) the first. A test of reinstatement sets it.
     */
    int isid = NEXT_ISID.getAndIncrement() & 0xFFFF;
    /** The TSIH a login names: 0 for a new session (or a reinstated one), an existing session's to add a connection. */
    int tsih;
    /** The connection's CID in its login. */
    int cid;
    private static final java.util.concurrent.atomic.AtomicInteger NEXT_ISID = new java.util.concurrent.atomic.AtomicInteger(1);

    record Pdu(ByteBuffer bhs, byte[] data) {
        int opcode() {
            return Bhs.opcode(bhs);
        }
    }

    RawInitiator(int port) throws IOException {
        this(port, null);
    }

    /** From {@code from} (a loopback address other than 127.0.0.1: another host), or any when null. */
    RawInitiator(int port, String from) throws IOException {
        socket = new Socket();
        if (from != null) {
            socket.bind(new InetSocketAddress(from, 0));
        }
        socket.connect(new InetSocketAddress("127.0.0.1", port), 5000);
        socket.setSoTimeout(5000);
        in = socket.getInputStream();
    }

    static ByteBuffer bhs(int opcode, int flags) {
        ByteBuffer b = ByteBuffer.allocate(Bhs.LENGTH);
        b.put(0, (byte) opcode);
        b.put(1, (byte) flags);
        return b;
    }

    static Map<String, String> keys(String... kv) {
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put(kv[i], kv[i + 1]);
        }
        return m;
    }

    /** A Login Request at the operational stage, straight to full feature (T=1, CSG=1, NSG=3). */
    ByteBuffer login(byte[] text) {
        ByteBuffer b = bhs(Bhs.LOGIN_REQUEST | Bhs.IMMEDIATE, Bhs.TRANSIT | (1 << 2) | 3);
        b.put(Bhs.ISID, (byte) 0x80).putShort(Bhs.ISID + 4, (short) isid);
        b.putShort(Bhs.TSIH, (short) tsih);
        b.putShort(Bhs.CID, (short) cid);
        b.putInt(Bhs.ITT, itt++);
        b.putInt(Bhs.CMD_SN, cmdSn);
        Bhs.dataSegmentLength(b, text.length);
        return b;
    }

    /** Logs in to {@code target} with the given extra keys; returns the Login Response. */
    Pdu loginTo(String target, String... extra) throws IOException {
        Map<String, String> k = keys("InitiatorName", NAME, "SessionType", "Normal", "TargetName", target);
        k.putAll(keys(extra));
        byte[] text = TextParameters.encode(k);
        send(login(text), text);
        Pdu r = receive();
        headerDigest = "CRC32C".equals(k.get("HeaderDigest"));
        dataDigest = "CRC32C".equals(k.get("DataDigest"));
        return r;
    }

    ByteBuffer nopOut(int dataLength) {
        ByteBuffer b = bhs(Bhs.NOP_OUT | Bhs.IMMEDIATE, Bhs.FINAL);
        b.putInt(Bhs.ITT, itt++);
        b.putInt(Bhs.TTT, Bhs.RESERVED_TAG);
        b.putInt(Bhs.CMD_SN, cmdSn);
        Bhs.dataSegmentLength(b, dataLength);
        return b;
    }

    /** TEST UNIT READY with this CmdSN (not immediate). */
    ByteBuffer testUnitReady(int sn) {
        ByteBuffer b = bhs(Bhs.SCSI_COMMAND, Bhs.FINAL);
        b.putInt(Bhs.ITT, itt++);
        b.putInt(Bhs.CMD_SN, sn);
        return b;
    }

    void send(ByteBuffer bhs, byte[] data) throws IOException {
        send(bhs, data, false, false);
    }

    /** Sends a PDU with digests as negotiated; {@code badHeader}/{@code badData} corrupt them. */
    void send(ByteBuffer bhs, byte[] data, boolean badHeader, boolean badData) throws IOException {
        ByteBuffer out = encode(bhs, data, badHeader, badData);
        socket.getOutputStream().write(out.array(), 0, out.position());
    }

    /** A PDU's bytes as they go on the wire (digests as negotiated), for a test that sends them in pieces. */
    byte[] wire(ByteBuffer bhs, byte[] data) {
        ByteBuffer out = encode(bhs, data, false, false);
        return java.util.Arrays.copyOf(out.array(), out.position());
    }

    /** PDUs in one write, so that the target reads them in one go. */
    void sendTogether(Pdu... pdus) throws IOException {
        java.io.ByteArrayOutputStream all = new java.io.ByteArrayOutputStream();
        for (Pdu p : pdus) {
            ByteBuffer out = encode(p.bhs(), p.data(), false, false);
            all.write(out.array(), 0, out.position());
        }
        socket.getOutputStream().write(all.toByteArray());
    }

    /** What a data segment is padded with: zeros, as RFC 7143 says it should; a test may send others. */
    byte padByte;

    private ByteBuffer encode(ByteBuffer bhs, byte[] data, boolean badHeader, boolean badData) {
        ByteBuffer out = ByteBuffer.allocate(Bhs.LENGTH + 4 + (data == null ? 0 : Bhs.padded(data.length)) + 4);
        out.put(bhs.array(), 0, Bhs.LENGTH);
        if (headerDigest) {
            out.putInt(Integer.reverseBytes(crc(bhs.array(), Bhs.LENGTH) ^ (badHeader ? 1 : 0)));
        }
        if (data != null && data.length > 0) {
            byte[] padded = java.util.Arrays.copyOf(data, Bhs.padded(data.length));
            java.util.Arrays.fill(padded, data.length, padded.length, padByte);
            out.put(padded);
            if (dataDigest) {
                out.putInt(Integer.reverseBytes(crc(padded, padded.length) ^ (badData ? 1 : 0)));
            }
        }
        return out;
    }

    private static int crc(byte[] bytes, int length) {
        CRC32C c = new CRC32C();
        c.update(bytes, 0, length);
        return (int) c.getValue();
    }

    /** The next PDU; EOFException when the target closed the connection. */
    Pdu receive() throws IOException {
        byte[] header = readFully(Bhs.LENGTH);
        ByteBuffer b = ByteBuffer.wrap(header);
        if (headerDigest && Bhs.opcode(b) != Bhs.LOGIN_RESPONSE) {
            readFully(4);
        }
        int length = Bhs.dataSegmentLength(b);
        byte[] data = readFully(Bhs.padded(length));
        if (dataDigest && length > 0 && Bhs.opcode(b) != Bhs.LOGIN_RESPONSE) {
            readFully(4);
        }
        return new Pdu(b, java.util.Arrays.copyOf(data, length));
    }

    /** True when the target closed the connection (reading nothing more) within the timeout. */
    boolean closedByTarget() throws IOException {
        try {
            while (true) {
                receive();
            }
        } catch (EOFException e) {
            return true;
        } catch (SocketTimeoutException e) {
            return false;
        } catch (IOException e) {
            return e.getMessage() != null && e.getMessage().contains("reset");
        }
    }

    private byte[] readFully(int n) throws IOException {
        byte[] b = new byte[n];
        int off = 0;
        while (off < n) {
            int r = in.read(b, off, n - off);
            if (r < 0) {
                throw new EOFException("the target closed the connection");
            }
            off += r;
        }
        return b;
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
