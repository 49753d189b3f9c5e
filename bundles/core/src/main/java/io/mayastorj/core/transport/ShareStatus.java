package io.mayastorj.core.transport;

/**
 * One desired share and its state.
 *
 * @param bdev     the shared bdev's name
 * @param protocol the transport's protocol
 * @param options  as given at share time
 * @param state    where it stands
 * @param uri      the URI hosts connect to while ACTIVE, else null
 * @param error    why it FAILED, else null
 */
public record ShareStatus(String bdev, String protocol, ShareOptions options, ShareState state, String uri,
                          String error) {
}
