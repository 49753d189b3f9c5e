package io.mayastorj.core.bdev;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.mayastorj.core.error.ErrorKind;
import io.mayastorj.core.error.MayastorException;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import org.junit.jupiter.api.Test;

class BdevUriTest {

    private static MayastorException invalid(String uri) {
        MayastorException e = assertThrows(MayastorException.class, () -> BdevUri.parse(uri));
        assertEquals(ErrorKind.INVALID_ARGUMENT, e.kind());
        return e;
    }

    @Test
    void parsesSchemePathAndParameters() {
        BdevUri uri = BdevUri.parse("malloc:///m0?size_mb=64&blk_size=4096");
        assertEquals("malloc", uri.scheme());
        assertNull(uri.host());
        assertEquals(-1, uri.port());
        assertEquals("/m0", uri.path());
        assertEquals("m0", uri.pathName());
        assertEquals(Map.of("size_mb", "64", "blk_size", "4096"), uri.params());
        assertEquals(64, uri.longParam("size_mb").getAsLong());
    }

    @Test
    void parsesHostAndPort() {
        BdevUri uri = BdevUri.parse("nvmf://10.0.0.2:8420/nqn.2019-05.io.openebs:r1");
        assertEquals("10.0.0.2", uri.host());
        assertEquals(8420, uri.port());
        assertEquals("nqn.2019-05.io.openebs:r1", uri.pathName());
    }

    @Test
    void bareAbsolutePathMeansAio() {
        BdevUri uri = BdevUri.parse("/dev/sdb");
        assertEquals("aio", uri.scheme());
        assertEquals("/dev/sdb", uri.path());
    }

    @Test
    void schemeIsCaseInsensitive() {
        assertEquals("malloc", BdevUri.parse("MALLOC:///m0?size_mb=1").scheme());
    }

    /** Review finding: the fragment was dropped, so '/srv/a#1.img' opened '/srv/a'. */
    @Test
    void aFragmentIsRejected() {
        assertEquals("'/srv/pools/a#1.img': a device URI has no #fragment (write a '#' in a file name as %23)",
                invalid("/srv/pools/a#1.img").getMessage());
        assertEquals("/srv/pools/a#1.img", BdevUri.parse("/srv/pools/a%231.img").path());
    }

    /**
     * Review finding: java.net.URI takes "node_2" for a registry authority, with no host, so a
     * local device's scheme let it pass and aio://node_2/dev/sda opened this node's /dev/sda.
     */
    @Test
    void anAuthorityThatIsNoHostIsRejected() {
        assertEquals("'aio://node_2/dev/sda': 'node_2' is not a host name or address (letters, digits, '-' and '.'; "
                + "an IPv6 address in [])", invalid("aio://node_2/dev/sda").getMessage());
        invalid("nvmf://node_2:8420/nqn.2019-05.io.openebs:r1");
        assertEquals("node-2", BdevUri.parse("nvmf://node-2:8420/nqn.2019-05.io.openebs:r1").host());
        assertEquals("[::1]", BdevUri.parse("nvmf://[::1]:8420/nqn.2019-05.io.openebs:r1").host());
    }

    @Test
    void emptyUriIsRejected() {
        assertEquals("a device URI is required, e.g. malloc:///m0?size_mb=64", invalid("  ").getMessage());
    }

    @Test
    void uriWithoutSchemeIsRejected() {
        assertEquals("'m0' is not a device URI: it has no scheme (e.g. malloc:///NAME?size_mb=64, aio:///PATH)",
                invalid("m0").getMessage());
    }

    @Test
    void malformedUriIsRejected() {
        assertEquals("'malloc:///m 0' is not a valid device URI: Illegal character in path",
                invalid("malloc:///m 0").getMessage());
    }

    @Test
    void opaqueUriIsRejected() {
        assertEquals("'malloc:m0' is not a device URI: expected malloc://[host]/path", invalid("malloc:m0").getMessage());
    }

    @Test
    void repeatedParameterIsRejected() {
        assertEquals("'malloc:///m0?size_mb=1&size_mb=2': parameter size_mb is given twice",
                invalid("malloc:///m0?size_mb=1&size_mb=2").getMessage());
    }

    @Test
    void parameterWithoutValueIsRejected() {
        assertEquals("'malloc:///m0?size_mb': query parameter 'size_mb' needs the form name=value",
                invalid("malloc:///m0?size_mb").getMessage());
        assertEquals("'malloc:///m0?size_mb=': query parameter 'size_mb=' needs the form name=value",
                invalid("malloc:///m0?size_mb=").getMessage());
    }

    @Test
    void unknownParameterIsRejectedNamingTheAllowedOnes() {
        BdevUri uri = BdevUri.parse("malloc:///m0?size_mb=1&colour=red");
        MayastorException e = assertThrows(MayastorException.class, () -> uri.requireKnownParams(Set.of("size_mb", "uuid")));
        assertEquals(ErrorKind.INVALID_ARGUMENT, e.kind());
        assertEquals("'malloc:///m0?size_mb=1&colour=red': unknown parameter 'colour' for malloc (allowed: size_mb, uuid)",
                e.getMessage());
    }

    @Test
    void nonNumericValueIsRejected() {
        BdevUri uri = BdevUri.parse("malloc:///m0?size_mb=lots");
        MayastorException e = assertThrows(MayastorException.class, () -> uri.longParam("size_mb"));
        assertEquals("'malloc:///m0?size_mb=lots': size_mb=lots is not a whole number", e.getMessage());
    }

    @Test
    void uuidIsParsedAndBadUuidRejected() {
        UUID uuid = UUID.randomUUID();
        assertEquals(uuid, BdevUri.parse("malloc:///m0?uuid=" + uuid).uuidParam().orElseThrow());
        MayastorException e = assertThrows(MayastorException.class,
                () -> BdevUri.parse("malloc:///m0?uuid=1-2-3-4-5").uuidParam());
        assertEquals("'malloc:///m0?uuid=1-2-3-4-5': uuid=1-2-3-4-5 is not a UUID", e.getMessage());
    }

    @Test
    void hostIsRejectedForLocalSchemes() {
        MayastorException e = assertThrows(MayastorException.class,
                () -> BdevUri.parse("malloc://host/m0?size_mb=1").requireNoHost());
        assertEquals("'malloc://host/m0?size_mb=1': malloc URIs name a local device and take no host (malloc:///...)",
                e.getMessage());
    }
}
