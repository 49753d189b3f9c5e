package io.mayastorj.iscsi.internal.protocol;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TextParametersTest {

    private static Map<String, String> parse(String text) throws TextParameters.FormatException {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        return TextParameters.parse(bytes, bytes.length);
    }

    @Test
    void pairsInOrderWithAFinalNulOrWithout() throws Exception {
        Map<String, String> pairs = parse("InitiatorName=iqn.2004-10.com.ubuntu:01:abc\0SessionType=Normal\0HeaderDigest=None,CRC32C");
        assertEquals(List.of("InitiatorName", "SessionType", "HeaderDigest"), List.copyOf(pairs.keySet()));
        assertEquals("None,CRC32C", pairs.get("HeaderDigest"));
        assertEquals(Map.of("SendTargets", "All"), parse("SendTargets=All\0\0\0")); // padding NULs
        assertEquals(Map.of("X", ""), parse("X=\0"));
        assertEquals("a=b", parse("K=a=b\0").get("K"), "only the first '=' splits");
    }

    @Test
    void encodesWhatItParses() throws Exception {
        Map<String, String> pairs = new LinkedHashMap<>();
        pairs.put("TargetName", "iqn.2019-05.io.openebs:vol1");
        pairs.put("TargetAddress", "127.0.0.1:3260,1");
        byte[] data = TextParameters.encode(pairs);
        assertArrayEquals("TargetName=iqn.2019-05.io.openebs:vol1\0TargetAddress=127.0.0.1:3260,1\0".getBytes(StandardCharsets.UTF_8), data);
        assertEquals(pairs, TextParameters.parse(data, data.length));
    }

    @Test
    void malformedTextIsRefusedWithTheReason() {
        assertEquals("'NoEquals' is not key=value",
                assertThrows(TextParameters.FormatException.class, () -> parse("NoEquals\0")).getMessage());
        assertEquals("key HeaderDigest sent twice",
                assertThrows(TextParameters.FormatException.class, () -> parse("HeaderDigest=None\0HeaderDigest=None\0")).getMessage());
        assertEquals("key 'Bad Key' holds the character ' '",
                assertThrows(TextParameters.FormatException.class, () -> parse("Bad Key=1\0")).getMessage());
        assertEquals("key '' must be 1 to 63 characters",
                assertThrows(TextParameters.FormatException.class, () -> parse("=1\0")).getMessage());
        String longKey = "K".repeat(64);
        assertThrows(TextParameters.FormatException.class, () -> parse(longKey + "=1\0"));
        assertThrows(TextParameters.FormatException.class, () -> parse("K=" + "v".repeat(8193) + "\0"));
    }
}
