package io.mayastorj.csi.internal.node;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class VolumeUriTest {

    /**
     * Review finding: an IPv6 portal kept its brackets in the host — nvme connect's -a refused it,
     * and the path follower, comparing with sysfs's traddr (no brackets), never found its path.
     */
    @Test
    void anIpv6HostHasNoBracketsButItsPortalHas() {
        VolumeUri nvmf = VolumeUri.parse("nvmf://[fd00::1]:8420/nqn.2019-05.io.openebs:v1?uuid=u1");
        assertEquals("fd00::1", nvmf.host());
        assertEquals(8420, nvmf.port());
        VolumeUri iscsi = VolumeUri.parse("iscsi://[fd00::2]:3260/iqn.2019-05.io.openebs:v1/0");
        assertEquals("[fd00::2]:3260", iscsi.portal());
        assertEquals("10.0.2.2:3260", VolumeUri.parse("iscsi://10.0.2.2:3260/iqn.2019-05.io.openebs:v1/0").portal());
    }
}
