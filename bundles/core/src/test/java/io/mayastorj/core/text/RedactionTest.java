package io.mayastorj.core.text;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class RedactionTest {

    /** Review finding: NATS takes its credentials in the URL, and the node and control plane logged it whole. */
    @Test
    void credentialsInAUrlOrAListOfThemAreHidden() {
        assertEquals("nats://***@nats.mayastor.svc:4222", Redaction.withoutCredentials("nats://user:s3cr3t@nats.mayastor.svc:4222"));
        assertEquals("nats://***@a:4222,nats://b:4222,tls://***@c", Redaction.withoutCredentials(
                "nats://token@a:4222,nats://b:4222,tls://u:p@c"));
        assertEquals("nats://127.0.0.1:4222", Redaction.withoutCredentials("nats://127.0.0.1:4222"));
        // review finding: a token holding / or , (base64) was not matched, and showed whole
        assertEquals("nats://***@host:4222", Redaction.withoutCredentials("nats://tok/en+a,b=@host:4222"));
    }
}
