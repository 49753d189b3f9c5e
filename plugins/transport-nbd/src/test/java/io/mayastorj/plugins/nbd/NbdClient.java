package io.mayastorj.plugins.nbd;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/** A minimal NBD client for the tests: raw option and request messages, no cleverness. */
final class NbdClient implements AutoCloseable {

    final Socket socket;
    final DataInputStream in;
    final DataOutputStream out;

    NbdClient(int port) throws IOException {
        socket = new Socket("127.0.0.1", port);
        socket.setSoTimeout(10_000);
        in = new DataInputStream(socket.getInputStream());
        out = new DataOutputStream(socket.getOutputStream());
    }

    /** Reads the greeting and answers with fixed newstyle, no zeroes. Returns the handshake flags. */
    int greet() throws IOException {
        if (in.readLong() != Nbd.NBDMAGIC || in.readLong() != Nbd.IHAVEOPT) {
            throw new IOException("no NBD greeting");
        }
        int flags = in.readUnsignedShort();
        out.writeInt(Nbd.FLAG_FIXED_NEWSTYLE | Nbd.FLAG_NO_ZEROES);
        return flags;
    }

    void option(int option, byte[] data) throws IOException {
        out.writeLong(Nbd.IHAVEOPT);
        out.writeInt(option);
        out.writeInt(data.length);
        out.write(data);
        out.flush();
    }

    record Reply(int option, int type, byte[] data) {
        String text() {
            return new String(data, StandardCharsets.UTF_8);
        }
    }

    Reply reply() throws IOException {
        if (in.readLong() != Nbd.REPLY_MAGIC) {
            throw new IOException("bad option reply magic");
        }
        int option = in.readInt();
        int type = in.readInt();
        byte[] data = new byte[in.readInt()];
        in.readFully(data);
        return new Reply(option, type, data);
    }

    static byte[] go(String name) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        return java.nio.ByteBuffer.allocate(4 + n.length + 2).putInt(n.length).put(n).putShort((short) 0).array();
    }

    void request(int type, int flags, long handle, long offset, int length, byte[] data) throws IOException {
        out.writeInt(Nbd.REQUEST_MAGIC);
        out.writeShort(flags);
        out.writeShort(type);
        out.writeLong(handle);
        out.writeLong(offset);
        out.writeInt(length);
        if (data != null) {
            out.write(data);
        }
        out.flush();
    }

    /** A simple reply: returns the error; reads {@code dataLength} bytes into {@code data} on success. */
    int simpleReply(long handle, byte[] data) throws IOException {
        if (in.readInt() != Nbd.SIMPLE_REPLY_MAGIC) {
            throw new IOException("bad simple reply magic");
        }
        int error = in.readInt();
        if (in.readLong() != handle) {
            throw new IOException("a reply for another handle");
        }
        if (error == 0 && data != null) {
            in.readFully(data);
        }
        return error;
    }

    /** Data of the replies {@link #simpleReplies} read, by handle. */
    final java.util.Map<Long, byte[]> data = new java.util.HashMap<>();

    /**
     * Reads {@code n} simple replies in any order, each without error (else IOException), keeping the
     * data ({@code dataLength.applyAsInt(handle)} bytes) of each; returns the handles, which must not repeat.
     */
    java.util.Set<Long> simpleReplies(int n, java.util.function.LongToIntFunction dataLength) throws IOException {
        java.util.Set<Long> handles = new java.util.HashSet<>();
        for (int i = 0; i < n; i++) {
            if (in.readInt() != Nbd.SIMPLE_REPLY_MAGIC) {
                throw new IOException("bad simple reply magic");
            }
            int error = in.readInt();
            long handle = in.readLong();
            if (error != 0) {
                throw new IOException("error " + error + " for handle " + handle);
            }
            if (!handles.add(handle)) {
                throw new IOException("a second reply for handle " + handle);
            }
            byte[] b = new byte[dataLength.applyAsInt(handle)];
            in.readFully(b);
            data.put(handle, b);
        }
        return handles;
    }

    /** Whether the server closed the connection (EOF or a reset) within the timeout; false when it stays silent. */
    boolean closedByServer() {
        try {
            return in.read() < 0;
        } catch (java.net.SocketTimeoutException e) {
            return false;
        } catch (IOException e) {
            return true;
        }
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
