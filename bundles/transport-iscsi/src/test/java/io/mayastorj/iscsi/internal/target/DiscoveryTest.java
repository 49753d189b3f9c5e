package io.mayastorj.iscsi.internal.target;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.mayastorj.core.bdev.BdevUri;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.internal.bdev.MallocBdevFactory;
import io.mayastorj.core.transport.ShareOptions;
import io.mayastorj.iscsi.internal.protocol.Bhs;
import io.mayastorj.iscsi.internal.protocol.TextParameters;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * SendTargets in a discovery session, as open-iscsi's discovery asks it. Review finding: the answer
 * went in one Text Response whatever its length, past the initiator's MaxRecvDataSegmentLength (8 KiB
 * by default) once a node shared about 80 targets, and discovery failed. It goes in parts now.
 */
class DiscoveryTest {

    private IscsiFixture fx;
    private final List<BlockDevice> more = new ArrayList<>();

    @BeforeEach
    void setUp() throws Exception {
        fx = new IscsiFixture("discovered-0", 1);
        for (int i = 1; i < 120; i++) {
            BlockDevice d = new MallocBdevFactory().create(BdevUri.parse("malloc:///discovered-" + i + "?size_mb=1&blk_size=512"));
            fx.target.share(d, ShareOptions.DEFAULT);
            more.add(d);
        }
    }

    @AfterEach
    void tearDown() {
        for (BlockDevice d : more) {
            fx.target.unshare(d);
            d.close();
        }
        fx.close();
    }

    @Test
    void aLongSendTargetsAnswerGoesInPartsTheInitiatorCanTake() throws Exception {
        try (RawInitiator c = new RawInitiator(fx.target.address().getPort())) {
            byte[] login = TextParameters.encode(RawInitiator.keys("InitiatorName", RawInitiator.NAME, "SessionType", "Discovery"));
            c.send(c.login(login), login);
            assertEquals(0, c.receive().bhs().get(Bhs.STATUS_CLASS), "logged in for discovery");

            byte[] ask = TextParameters.encode(RawInitiator.keys("SendTargets", "All"));
            int itt = c.itt++;
            ByteBuffer req = RawInitiator.bhs(Bhs.TEXT_REQUEST | Bhs.IMMEDIATE, Bhs.FINAL);
            req.putInt(Bhs.ITT, itt);
            req.putInt(Bhs.TTT, Bhs.RESERVED_TAG);
            req.putInt(Bhs.CMD_SN, c.cmdSn);
            Bhs.dataSegmentLength(req, ask.length);
            c.send(req, ask);
            ByteArrayOutputStream answer = new ByteArrayOutputStream();
            int parts = 0;
            while (true) {
                RawInitiator.Pdu rsp = c.receive();
                assertEquals(Bhs.TEXT_RESPONSE, rsp.opcode());
                assertTrue(rsp.data().length <= 8192, "a part of " + rsp.data().length + " bytes");
                answer.write(rsp.data());
                parts++;
                if ((rsp.bhs().get(1) & Bhs.CONTINUE) == 0) {
                    assertTrue((rsp.bhs().get(1) & Bhs.FINAL) != 0);
                    break;
                }
                if (parts == 1) { // a continuation naming another task is refused; the answer stays pending
                    ByteBuffer stray = RawInitiator.bhs(Bhs.TEXT_REQUEST | Bhs.IMMEDIATE, Bhs.FINAL);
                    stray.putInt(Bhs.ITT, itt + 1000);
                    stray.putInt(Bhs.TTT, rsp.bhs().getInt(Bhs.TTT));
                    stray.putInt(Bhs.CMD_SN, c.cmdSn);
                    c.send(stray, new byte[0]);
                    assertEquals(Bhs.REJECT, c.receive().opcode(), "another task's continuation");
                }
                ByteBuffer next = RawInitiator.bhs(Bhs.TEXT_REQUEST | Bhs.IMMEDIATE, Bhs.FINAL); // the next part, please
                next.putInt(Bhs.ITT, itt);
                next.putInt(Bhs.TTT, rsp.bhs().getInt(Bhs.TTT));
                next.putInt(Bhs.CMD_SN, c.cmdSn);
                c.send(next, new byte[0]);
            }
            assertTrue(parts > 1, "in parts: " + parts);
            String all = answer.toString(StandardCharsets.UTF_8);
            for (int i = 0; i < 120; i++) {
                assertTrue(all.contains("TargetName=" + IscsiTarget.iqn(i == 0 ? fx.disk : more.get(i - 1)) + "\0"),
                        "target " + i + " listed");
            }
        }
    }
}
