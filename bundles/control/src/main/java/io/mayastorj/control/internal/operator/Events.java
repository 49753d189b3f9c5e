package io.mayastorj.control.internal.operator;

/** Event reasons are CamelCase words, as Kubernetes' own are: the state a resource entered. */
final class Events {

    private Events() {
    }

    /** "degraded" → "Degraded". */
    static String reason(String state) {
        if (state == null || state.isEmpty()) {
            return "Unknown";
        }
        return Character.toUpperCase(state.charAt(0)) + state.substring(1);
    }
}
