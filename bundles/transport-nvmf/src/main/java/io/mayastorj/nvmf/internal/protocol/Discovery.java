package io.mayastorj.nvmf.internal.protocol;

import java.nio.ByteBuffer;
import java.util.List;

/** The discovery log page (NVMe Base 2.0, §5.16.1.23): a 1024-byte header, then 1024 bytes per entry. */
public final class Discovery {

    public static final String NQN = "nqn.2014-08.org.nvmexpress.discovery";
    public static final int LOG_PAGE = 0x70;
    public static final int HEADER = 1024;
    public static final int ENTRY = 1024;

    /** One subsystem as a host may reach it: at {@code port}, whose port ID in the log is {@code portId}. */
    public record Entry(String subnqn, String address, boolean ipv6, int port, int portId) {
    }

    private Discovery() {
    }

    public static int size(int entries) {
        return HEADER + entries * ENTRY;
    }

    /** Writes the whole log into {@code log} (at least {@link #size} bytes). */
    public static void write(ByteBuffer log, long generation, List<Entry> entries) {
        for (int i = 0; i < size(entries.size()); i += 8) {
            log.putLong(i, 0);
        }
        log.putLong(0, generation);          // GENCTR
        log.putLong(8, entries.size());      // NUMREC
        log.putShort(16, (short) 0);         // RECFMT
        for (int i = 0; i < entries.size(); i++) {
            Entry e = entries.get(i);
            int base = HEADER + i * ENTRY;
            log.put(base, (byte) 3);                         // TRTYPE: TCP
            log.put(base + 1, (byte) (e.ipv6() ? 2 : 1));    // ADRFAM
            log.put(base + 2, (byte) 2);                     // SUBTYPE: NVM subsystem
            log.put(base + 3, (byte) 0);                     // TREQ: secure channel not specified
            log.putShort(base + 4, (short) e.portId());      // PORTID
            log.putShort(base + 6, (short) 0xFFFF);          // CNTLID: dynamic
            log.putShort(base + 8, (short) 32);              // ASQSZ
            Identify.ascii(log, base + 32, 32, Integer.toString(e.port()));   // TRSVCID
            Identify.ascii(log, base + 256, 256, e.subnqn(), (byte) 0);       // SUBNQN
            Identify.ascii(log, base + 512, 256, e.address());                // TRADDR
            log.put(base + 768, (byte) 0);                   // TSAS.SECTYPE: none
        }
    }
}
