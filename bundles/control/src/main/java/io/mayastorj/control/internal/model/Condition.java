package io.mayastorj.control.internal.model;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Objects;

/** A Kubernetes-style condition: type, status True/False/Unknown, reason, message, when it changed. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class Condition {
    private String type;
    private String status;
    private String reason;
    private String message;
    private String lastTransitionTime;
    /** The resource's generation (its spec's version) this condition was set from, as Kubernetes' own conditions carry. */
    private Long observedGeneration;

    public Condition() {
    }

    public Condition(String type, boolean status, String reason, String message, String lastTransitionTime) {
        this.type = type;
        this.status = status ? "True" : "False";
        this.reason = reason;
        this.message = message;
        this.lastTransitionTime = lastTransitionTime;
    }

    public String getType() {
        return type;
    }

    public void setType(String type) {
        this.type = type;
    }

    public String getStatus() {
        return status;
    }

    public void setStatus(String status) {
        this.status = status;
    }

    public String getReason() {
        return reason;
    }

    public void setReason(String reason) {
        this.reason = reason;
    }

    public String getMessage() {
        return message;
    }

    public void setMessage(String message) {
        this.message = message;
    }

    public String getLastTransitionTime() {
        return lastTransitionTime;
    }

    public void setLastTransitionTime(String lastTransitionTime) {
        this.lastTransitionTime = lastTransitionTime;
    }

    public Long getObservedGeneration() {
        return observedGeneration;
    }

    public void setObservedGeneration(Long observedGeneration) {
        this.observedGeneration = observedGeneration;
    }

    /**
     * The Ready condition for a resource's state: True when {@code ready}; its transition time
     * kept from {@code previous} while its status stays (Kubernetes' rule: a new reason or message
     * is no transition), set from the spec of {@code generation}.
     */
    public static List<Condition> ready(List<Condition> previous, boolean ready, String state, String message, Long generation) {
        return List.of(of(previous, "Ready", ready, state, message, generation));
    }

    /**
     * A volume's conditions: Ready (healthy) and Available (its data can be served: healthy, or
     * degraded with a copy missing), so that a health check can tell a volume that serves with one
     * copy short from one that does not serve at all.
     */
    public static List<Condition> readyAndAvailable(List<Condition> previous, boolean ready, boolean available, String state,
                                                    String message, Long generation) {
        return List.of(of(previous, "Ready", ready, state, message, generation),
                of(previous, "Available", available, state, message, generation));
    }

    /**
     * The Ready condition of a resource whose state cannot be seen now (its node cannot be reached):
     * Unknown, as Kubernetes says of a node whose kubelet stopped posting, not False.
     */
    public static List<Condition> readyUnknown(List<Condition> previous, String state, String message, Long generation) {
        return List.of(of(previous, "Ready", "Unknown", state, message, generation));
    }

    /** A condition of {@code type}; its transition time kept from {@code previous} while its status stays. */
    static Condition of(List<Condition> previous, String type, boolean status, String state, String message, Long generation) {
        return of(previous, type, status ? "True" : "False", state, message, generation);
    }

    private static Condition of(List<Condition> previous, String type, String status, String state, String message,
                                Long generation) {
        String reason = state == null || state.isEmpty() ? state : Character.toUpperCase(state.charAt(0)) + state.substring(1);
        Condition c = new Condition(type, false, reason, message, Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
        c.setStatus(status);
        c.setObservedGeneration(generation);
        if (previous != null) {
            for (Condition p : previous) {
                if (type.equals(p.getType()) && Objects.equals(p.getStatus(), c.getStatus())) {
                    c.setLastTransitionTime(p.getLastTransitionTime());
                }
            }
        }
        return c;
    }
}
