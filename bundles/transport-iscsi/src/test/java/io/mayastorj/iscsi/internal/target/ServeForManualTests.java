package io.mayastorj.iscsi.internal.target;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Test;

/** Serves a RAM disk for {@code -Discsi.serve=SECONDS} (and writes its URL to target/iscsi-url), for running tools by hand. */
class ServeForManualTests {

    @Test
    void serve() throws Exception {
        long seconds = Long.getLong("iscsi.serve", 0);
        assumeTrue(seconds > 0, "only with -Discsi.serve=SECONDS");
        try (IscsiFixture fx = new IscsiFixture("manual", 64)) {
            java.nio.file.Files.writeString(java.nio.file.Path.of("target/iscsi-url"), fx.url());
            Thread.sleep(seconds * 1000);
        }
    }
}
