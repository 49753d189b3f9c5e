package com.example.mayastor.http;

import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.bdev.BlockingIo;
import io.mayastorj.core.bdev.IoStatus;
import io.mayastorj.core.buffer.BufferPool;
import io.mayastorj.core.buffer.DmaBuffer;
import io.mayastorj.core.transport.tcp.TcpConnection;
import io.mayastorj.core.transport.tcp.TcpServer;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One HTTP/1.1 client, on its own thread (so it may block: {@link BlockingIo} is allowed here). GET
 * and HEAD of {@code /NAME}, the whole export or one {@code Range: bytes=} range; keep-alive.
 */
final class HttpConnection extends TcpConnection {

    private static final int HEAD_BYTES = 8192;
    private static final int CHUNK = 128 * 1024;
    private static final Duration IO_TIMEOUT = Duration.ofSeconds(30);
    private static final Pattern RANGE = Pattern.compile("bytes=(\\d*)-(\\d*)");

    private final BufferPool buffers;
    private final ByteBuffer in = ByteBuffer.allocate(HEAD_BYTES);
    /**
     * When the write under way began (System.nanoTime, 0 when none): a client that reads nothing
     * blocks it for ever, holding this thread and a DMA buffer of the node's pool, so the
     * transport's watchdog closes a connection whose write outlasts the patience ({@link #watch}).
     */
    private volatile long writingSince;

    HttpConnection(TcpServer<?> server, SocketChannel channel, BufferPool buffers) throws IOException {
        super(server, channel);
        this.buffers = buffers;
        in.flip();
    }

    @Override
    protected void serve() throws IOException {
        // a DMA buffer per request, given back before the next is read: held across a keep-alive connection's
        // idle time, a thousand idle clients held the node's whole pool, and NVMe-oF and iSCSI had none
        DmaBuffer buffer = null;
        try {
            String head;
            while ((head = readHead()) != null) {
                String[] lines = head.split("\r\n");
                String[] request = lines[0].split(" ");
                if (request.length != 3 || !request[2].startsWith("HTTP/1.") || !request[1].startsWith("/")) {
                    respond(400, "Bad Request", "", -1);
                    return;
                }
                String range = header(lines, "range");
                boolean keepAlive = request[2].equals("HTTP/1.1") && !"close".equalsIgnoreCase(header(lines, "connection"));
                if (!request[0].equals("GET") && !request[0].equals("HEAD")) {
                    respond(405, "Method Not Allowed", "Allow: GET, HEAD\r\n", 0);
                } else if (use(request[1].substring(1)) == null || !stillShared()) {
                    // stillShared: an unshare between the lookup and the binding found no connection to close,
                    // and the device would be read after its share (and its claim) ended
                    respond(404, "Not Found", "", 0);
                } else {
                    if ((buffer = buffers.allocate(CHUNK)) == null) {
                        respond(503, "Service Unavailable", "Retry-After: 1\r\n", 0); // the node's buffers are all in use
                        return;
                    }
                    if (!get(export().device(), range, request[0].equals("GET"), buffer)) {
                        return; // a read failed mid-body: closing is all HTTP lets us say
                    }
                    buffer.release();
                    buffer = null;
                }
                if (!keepAlive) {
                    return;
                }
            }
        } finally {
            if (buffer != null) {
                buffer.release(); // also after a TIMED_OUT: the pool takes it back once the device is done with it
            }
        }
    }

    /** Sends the export or the requested range; false when the body could not be completed. */
    private boolean get(BlockDevice device, String range, boolean body, DmaBuffer buffer) throws IOException {
        long size = device.sizeBytes();
        long from = 0;
        long length = size;
        if (range != null) {
            Matcher m = RANGE.matcher(range.strip());
            if (!m.matches() || m.group(1).isEmpty() && m.group(2).isEmpty()) {
                respond(416, "Range Not Satisfiable", "Content-Range: bytes */" + size + "\r\n", 0);
                return true;
            }
            try {
                if (m.group(1).isEmpty()) { // the last N bytes
                    length = Math.min(Long.parseLong(m.group(2)), size);
                    from = size - length;
                } else {
                    from = Long.parseLong(m.group(1));
                    long last = m.group(2).isEmpty() ? size - 1 : Math.min(Long.parseLong(m.group(2)), size - 1);
                    length = last - from + 1;
                }
            } catch (NumberFormatException e) { // more digits than a long holds: no range of this export
                respond(416, "Range Not Satisfiable", "Content-Range: bytes */" + size + "\r\n", 0);
                return true;
            }
            if (from >= size || length <= 0) {
                respond(416, "Range Not Satisfiable", "Content-Range: bytes */" + size + "\r\n", 0);
                return true;
            }
            respond(206, "Partial Content", "Accept-Ranges: bytes\r\nContent-Range: bytes " + from + "-" + (from + length - 1) + "/" + size + "\r\n",
                    length);
        } else {
            respond(200, "OK", "Accept-Ranges: bytes\r\nContent-Type: application/octet-stream\r\n", length);
        }
        return !body || send(device, from, length, buffer);
    }

    /** Reads whole blocks into the buffer and writes the part of them in the range, chunk by chunk. */
    private boolean send(BlockDevice device, long from, long length, DmaBuffer buffer) throws IOException {
        int bs = device.blockSize();
        long end = from + length;
        for (long at = from; at < end; ) {
            long lba = at / bs;
            int skip = (int) (at % bs);
            int blocks = (int) Math.min(CHUNK / bs, (end - lba * bs + bs - 1) / bs);
            IoStatus status = BlockingIo.read(device, buffer, 0, lba, blocks, IO_TIMEOUT);
            if (status != IoStatus.SUCCESS) {
                close("reading " + device.name() + " at byte " + at + " failed: " + status);
                return false;
            }
            int n = (int) Math.min((long) blocks * bs - skip, end - at);
            writeFully(buffer.bytes().limit(skip + n).position(skip)); // no device works on it now: ours to move
            at += n;
        }
        return true;
    }

    private void respond(int code, String reason, String headers, long length) throws IOException {
        String head = "HTTP/1.1 " + code + " " + reason + "\r\n" + headers
                + (length >= 0 ? "Content-Length: " + length + "\r\n" : "Connection: close\r\n") + "\r\n";
        writeFully(ByteBuffer.wrap(head.getBytes(StandardCharsets.US_ASCII)));
    }

    private void writeFully(ByteBuffer out) throws IOException {
        writingSince = System.nanoTime() | 1;
        try {
            while (out.hasRemaining()) {
                channel.write(out);
            }
        } finally {
            writingSince = 0;
        }
    }

    /** The watchdog's look: a write the client has not taken for {@code patienceNanos} ends the connection. */
    void watch(long now, long patienceNanos) {
        long since = writingSince;
        if (since != 0 && now - since > patienceNanos) {
            close("the client read nothing for " + java.util.concurrent.TimeUnit.NANOSECONDS.toSeconds(patienceNanos) + " s");
        }
    }

    /** The next request's head (up to the empty line), or null when the client closed between requests. */
    private String readHead() throws IOException {
        while (true) {
            for (int i = in.position(); i + 3 < in.limit(); i++) {
                if (in.get(i) == '\r' && in.get(i + 1) == '\n' && in.get(i + 2) == '\r' && in.get(i + 3) == '\n') {
                    String head = new String(in.array(), in.position(), i - in.position(), StandardCharsets.ISO_8859_1);
                    in.position(i + 4);
                    return head;
                }
            }
            if (in.position() == 0 && in.limit() == in.capacity()) {
                respond(431, "Request Header Fields Too Large", "", -1);
                throw new IOException("a request head over " + HEAD_BYTES + " bytes");
            }
            boolean empty = !in.hasRemaining();
            in.compact();
            int n = channel.read(in);
            in.flip();
            if (n < 0) {
                if (empty) {
                    return null;
                }
                throw new EOFException();
            }
        }
    }

    private static String header(String[] lines, String name) {
        for (int i = 1; i < lines.length; i++) {
            int colon = lines[i].indexOf(':');
            if (colon > 0 && lines[i].substring(0, colon).strip().toLowerCase(Locale.ROOT).equals(name)) {
                return lines[i].substring(colon + 1).strip();
            }
        }
        return null;
    }
}
