package io.mayastorj.iscsi.internal.target;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** libiscsi's command-line tools (Debian libiscsi-bin) against the target: a real initiator. */
class LibiscsiToolsTest {

    private IscsiFixture fx;

    @BeforeEach
    void setUp() throws Exception {
        assumeTrue(IscsiFixture.have("iscsi-inq"), "libiscsi-bin is not installed");
        fx = new IscsiFixture("tools", 16);
    }

    @AfterEach
    void tearDown() {
        if (fx != null) {
            fx.close();
        }
    }

    @Test
    void discoveryInquiryAndCapacity() throws Exception {
        IscsiFixture.Result ls = IscsiFixture.run(30, "iscsi-ls", "-s", "iscsi://127.0.0.1:" + fx.target.address().getPort());
        System.out.println(ls.output());
        assertEquals(0, ls.exit(), ls.output());
        assertTrue(ls.output().contains(fx.iqn), ls.output());

        IscsiFixture.Result inq = IscsiFixture.run(30, "iscsi-inq", fx.url());
        System.out.println(inq.output());
        assertEquals(0, inq.exit(), inq.output());
        assertTrue(inq.output().contains("Mayastor-J"), inq.output());

        IscsiFixture.Result cap = IscsiFixture.run(30, "iscsi-readcapacity16", fx.url());
        System.out.println(cap.output());
        assertEquals(0, cap.exit(), cap.output());
        assertTrue(cap.output().contains("LOGICAL BLOCK LENGTH IN BYTES:512"), cap.output());
    }

    /**
     * The read path allocates nothing per command: the reactor threads' allocation (exact, from the
     * JVM's per-thread counters) over a few seconds of iscsi-perf, per command it completed. Before
     * tasks and headers were reused this was about 480 bytes; a login's own allocation is all that
     * is left, well under a byte per command.
     */
    @Test
    void readsAllocateNothingPerCommand() throws Exception {
        assumeTrue(IscsiFixture.have("iscsi-perf"), "libiscsi-bin is not installed");
        IscsiFixture.run(30, "iscsi-perf", "-t", "2", "-b", "8", "-m", "32", fx.url()); // warm up: JIT, pools
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long[] reactors = Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith("reactor-"))
                .mapToLong(Thread::threadId).toArray();
        assertEquals(2, reactors.length, "the fixture's two reactor threads");
        long before = java.util.Arrays.stream(threads.getThreadAllocatedBytes(reactors)).sum();
        IscsiFixture.Result perf = IscsiFixture.run(30, "iscsi-perf", "-t", "3", "-b", "8", "-m", "32", fx.url());
        long allocated = java.util.Arrays.stream(threads.getThreadAllocatedBytes(reactors)).sum() - before;
        java.util.regex.Matcher iops = java.util.regex.Pattern.compile("iops average (\\d+)").matcher(perf.output());
        String last = null;
        while (iops.find()) {
            last = iops.group(1);
        }
        assertTrue(last != null, perf.output());
        long commands = Long.parseLong(last) * 3;
        System.out.printf("iscsi-perf: %d commands, %d bytes allocated on the reactors, %.2f per command%n",
                commands, allocated, (double) allocated / commands);
        assertTrue(commands > 10_000, perf.output());
        assertTrue(allocated < 4L * commands, allocated + " bytes allocated for " + commands + " commands");
    }
}
