package io.mayastorj.core.node;

/**
 * A part of the runtime that has a say in its health, as the HTTP endpoint's {@code /healthz}
 * (liveness: restart me) and {@code /readyz} (readiness: send me work) report it. Register it as a
 * service; each answer is null when all is well, else why not, in a few words.
 */
public interface HealthCheck {

    /** What this check looks at, e.g. "reactors", "csi". */
    String name();

    /** Why the runtime should not take work now (e.g. still importing pools), or null. */
    default String notReady() {
        return null;
    }

    /** Why the runtime is stuck and should be restarted (e.g. a reactor that no longer turns), or null. */
    default String notLive() {
        return null;
    }
}
