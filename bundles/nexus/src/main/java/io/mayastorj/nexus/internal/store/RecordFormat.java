package io.mayastorj.nexus.internal.store;

import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.UUID;

/** A nexus record as text (Java properties): readable by people, the same in a file and in NATS. */
final class RecordFormat {

    private RecordFormat() {
    }

    static byte[] encode(NexusRecord r) {
        Properties p = new Properties();
        p.setProperty("uuid", r.uuid().toString());
        p.setProperty("name", r.name());
        p.setProperty("size", Long.toString(r.sizeBytes()));
        p.setProperty("clean_shutdown", Boolean.toString(r.cleanShutdown()));
        p.setProperty("incarnation", Integer.toString(r.incarnation()));
        p.setProperty("children", Integer.toString(r.children().size()));
        for (int i = 0; i < r.children().size(); i++) {
            NexusRecord.ChildRecord c = r.children().get(i);
            p.setProperty("child." + i + ".uri", c.uri());
            p.setProperty("child." + i + ".replica", c.replica());
            p.setProperty("child." + i + ".healthy", Boolean.toString(c.healthy()));
            p.setProperty("child." + i + ".since", Long.toString(c.sinceMillis()));
        }
        StringWriter text = new StringWriter();
        try {
            p.store(text, "Mayastor-J nexus " + r.name() + ": which children hold every acknowledged write");
        } catch (IOException e) {
            throw new IllegalStateException(e); // a StringWriter does not fail
        }
        return text.toString().getBytes(StandardCharsets.UTF_8);
    }

    /** @param where for the message when the record is damaged */
    static NexusRecord decode(byte[] bytes, String where) throws IOException {
        Properties p = new Properties();
        try {
            p.load(new StringReader(new String(bytes, StandardCharsets.UTF_8))); // a malformed unicode escape: IllegalArgumentException
            int n = Integer.parseInt(p.getProperty("children", "0"));
            if (n < 0 || n > p.size()) {
                throw new IllegalArgumentException("children=" + n + " with " + p.size() + " keys in all");
            }
            List<NexusRecord.ChildRecord> children = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                String uri = required(p, "child." + i + ".uri");
                children.add(new NexusRecord.ChildRecord(uri, p.getProperty("child." + i + ".replica", NexusRecord.replicaOf(uri)),
                        Boolean.parseBoolean(required(p, "child." + i + ".healthy")),
                        Long.parseLong(p.getProperty("child." + i + ".since", "0"))));
            }
            return new NexusRecord(UUID.fromString(required(p, "uuid")), required(p, "name"),
                    Long.parseLong(required(p, "size")), Boolean.parseBoolean(p.getProperty("clean_shutdown", "false")),
                    Integer.parseInt(p.getProperty("incarnation", "0")), children);
        } catch (IllegalArgumentException e) {
            throw new IOException("the nexus record " + where + " is damaged: " + e.getMessage(), e);
        }
    }

    /** The {@code revision} a file store appends to the record's text; 0 when there is none. */
    static long revision(byte[] bytes) throws IOException {
        Properties p = new Properties();
        try {
            p.load(new StringReader(new String(bytes, StandardCharsets.UTF_8)));
            return Long.parseLong(p.getProperty("revision", "0"));
        } catch (IllegalArgumentException e) {
            throw new IOException("the nexus record's revision is damaged: " + e.getMessage(), e);
        }
    }

    private static String required(Properties p, String key) {
        String v = p.getProperty(key);
        if (v == null) {
            throw new IllegalArgumentException("no " + key);
        }
        return v;
    }
}
