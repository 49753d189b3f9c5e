package io.mayastorj.core.bdev;

/**
 * Receives the end of one I/O. The caller's context travels with the request so that a
 * long-lived completion object can serve every I/O without a capturing lambda per request.
 *
 * <p>Completion may run on the submitting thread before the submit call returns (a RAM-backed
 * device completes inline) or on a device thread. Code that resubmits from a completion must not
 * recurse without bound: hand the next submission to a loop or a reactor.
 *
 * @param <C> the caller's per-I/O context
 */
@FunctionalInterface
public interface IoCompletion<C> {
    void ioDone(IoStatus status, C context);
}
