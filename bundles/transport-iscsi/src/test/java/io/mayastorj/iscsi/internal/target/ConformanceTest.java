package io.mayastorj.iscsi.internal.target;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * libiscsi's conformance suite, {@code iscsi-test-cu --dataloss URL URL} (Debian libiscsi-bin 1.19),
 * all 615 tests over two sessions against a 64 MiB RAM disk of 512-byte blocks, at most 110 of them
 * skipped. The whole output goes to
 * target/iscsi-test-cu.txt; the failures are listed in the assertion message.
 */
class ConformanceTest {

    /** The bar: all of them (Debian's tgt passes 595 of the 615 on this machine). */
    private static final int REQUIRED = 615;
    /**
     * Skipped tests (its "[SKIPPED]" lines): 91 now, each reason in CONFORMANCE.md; 340 before the
     * optional commands (tgt: 199). A command that stops answering turns its tests into skips, which
     * the pass count alone would not show.
     */
    private static final int MOST_SKIPPED = 110;

    @Test
    void iscsiTestCu() throws Exception {
        assumeTrue(IscsiFixture.have("iscsi-test-cu"), "libiscsi-bin is not installed");
        try (IscsiFixture fx = new IscsiFixture("conformance", 64)) {
            // the URL twice: two sessions, so that the MultipathIO tests run too
            IscsiFixture.Result r = IscsiFixture.run(600, "iscsi-test-cu", "--dataloss", fx.url(), fx.url());
            Files.writeString(Path.of("target/iscsi-test-cu.txt"), r.output());
            Matcher m = Pattern.compile("tests\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)").matcher(r.output());
            assertTrue(m.find(), "no run summary (exit " + r.exit() + "):\n" + tail(r.output()));
            int total = Integer.parseInt(m.group(1));
            int passed = Integer.parseInt(m.group(3));
            System.out.println("iscsi-test-cu: " + passed + " of " + total + " passed");
            assertEquals(615, total, "the suite ran only part of its tests");
            assertTrue(passed >= REQUIRED, passed + " of " + total + " passed; failures:\n" + failures(r.output()));
            long skipped = r.output().lines().filter(l -> l.contains("[SKIPPED]")).count();
            System.out.println("iscsi-test-cu: " + skipped + " [SKIPPED] lines");
            assertTrue(skipped <= MOST_SKIPPED, skipped + " [SKIPPED] lines, more than " + MOST_SKIPPED + ":\n"
                    + r.output().lines().filter(l -> l.contains("[SKIPPED]")).map(String::strip).distinct()
                    .collect(java.util.stream.Collectors.joining("\n")));
            assertTrue(fx.target.connections().isEmpty() || waitIdle(fx), "connections left behind: " + fx.target.connections());
            long inUse = fx.buffers.stats().classes().stream().mapToLong(c -> c.inUse()).sum();
            assertEquals(0, inUse, "buffers leaked over the run");
        }
    }

    private static boolean waitIdle(IscsiFixture fx) throws InterruptedException {
        for (int i = 0; i < 300 && !fx.target.connections().isEmpty(); i++) {
            Thread.sleep(10);
        }
        return fx.target.connections().isEmpty();
    }

    private static String failures(String output) {
        StringBuilder b = new StringBuilder();
        String suite = "";
        for (String line : output.split("\n")) {
            if (line.startsWith("Suite: ")) {
                suite = line.substring(7).strip();
            } else if (line.contains("Test: ") && line.strip().endsWith("FAILED")) {
                b.append(suite).append('.').append(line.strip().replaceAll("Test: (\\S+).*", "$1")).append('\n');
            }
        }
        return b.toString();
    }

    private static String tail(String s) {
        return s.length() < 4000 ? s : s.substring(s.length() - 4000);
    }
}
