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
}
