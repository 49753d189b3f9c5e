package io.mayastorj.csi.internal.node;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MountTableTest {

    @TempDir
    Path dir;

    /**
     * Review finding: one mount point that is not UTF-8 (a USB stick's label, say) made every read of
     * the table throw, and with it every stage, publish and unpublish on the node. It is read leniently.
     */
    @Test
    void aMountPointThatIsNotUtf8SpoilsNoOtherLine() throws Exception {
        ByteArrayOutputStream table = new ByteArrayOutputStream();
        table.writeBytes("36 35 98:0 / /media/".getBytes(StandardCharsets.US_ASCII));
        table.writeBytes(new byte[] {(byte) 0xff, (byte) 0xfe});
        table.writeBytes(" rw,noatime master:1 - vfat /dev/sdz1 rw\n".getBytes(StandardCharsets.US_ASCII));
        table.writeBytes(("37 35 259:1 / /var/lib/kubelet/plugins/staging\\040dir rw,relatime shared:2 - ext4 /dev/nvme0n1 rw\n")
                .getBytes(StandardCharsets.US_ASCII));
        Path mountinfo = dir.resolve("mountinfo");
        Files.write(mountinfo, table.toByteArray());
        MountTable.Mount staged = new MountTable(mountinfo).at(Path.of("/var/lib/kubelet/plugins/staging dir")).orElseThrow();
        assertEquals("/dev/nvme0n1", staged.source());
        assertEquals("259:1", staged.device());
        assertEquals(2, new MountTable(mountinfo).read().size());
    }
}
