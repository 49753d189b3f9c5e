package io.mayastorj.core.internal.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.mayastorj.core.error.MayastorException;
import org.junit.jupiter.api.Test;

class EndpointTest {

    @Test
    void parsesIpv4AndIpv6() {
        assertEquals("127.0.0.2:10124", Endpoint.parse("127.0.0.2:10124").toString());
        assertEquals(10124, Endpoint.parse("[::1]:10124").port());
        assertEquals("[0:0:0:0:0:0:0:1]:8420", Endpoint.parse("[::1]:8420").toString());
    }

    @Test
    void refusesWhatIsNotIpAndPort() {
        assertEquals("'10124' is not an endpoint: expected ip:port, e.g. 127.0.0.1:10124",
                assertThrows(MayastorException.class, () -> Endpoint.parse("10124")).getMessage());
        assertEquals("'127.0.0.1:x': the port is not a number",
                assertThrows(MayastorException.class, () -> Endpoint.parse("127.0.0.1:x")).getMessage());
        assertEquals("'127.0.0.1:70000': the port must be in 1..65535",
                assertThrows(MayastorException.class, () -> Endpoint.parse("127.0.0.1:70000")).getMessage());
    }

    @Test
    void aNodeIdMustBeAName() throws Exception {
        assertEquals("node id 'a b' is not valid: a Kubernetes node name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit",
                assertThrows(MayastorException.class,
                        () -> new NodeImpl("a b", "127.0.0.1:1", "/tmp/x", "1")).getMessage());
    }
}
