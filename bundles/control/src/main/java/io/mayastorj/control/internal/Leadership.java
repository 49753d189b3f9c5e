package io.mayastorj.control.internal;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderCallbacks;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderElectionConfigBuilder;
import io.fabric8.kubernetes.client.extended.leaderelection.resourcelock.LeaseLock;
import io.mayastorj.core.node.HealthCheck;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;

/**
 * One control plane at a time acts on the nodes: the one holding the Lease {@value #LEASE} in its
 * namespace (Kubernetes' leader election: a lease of 15 s renewed every 2 s, given up when it cannot
 * be renewed for 10 s). A Deployment of one replica still runs two for a while — the pod of a node
 * that lost the API server is replaced while its process lives on — and two control planes would
 * place, repair and switch over the same volumes from different views.
 *
 * <p>The one that does not hold the lease stands by: not ready (the Service sends registrations
 * and calls to the leader), no reconciling, its volume and CSI calls refused as UNAVAILABLE. One
 * that loses the lease stops reconciling at once and is no longer live, so the kubelet restarts it
 * to stand by afresh. On a clean stop the lease is given back, and a standby takes over at once.
 */
final class Leadership implements HealthCheck, AutoCloseable {

    static final String LEASE = "mayastor-control";
    private static final Logger LOG = System.getLogger("mayastor.control");

    private final String namespace;
    private final String identity;
    private final CompletableFuture<?> election;
    private volatile boolean leading;
    private volatile boolean closing;
    private volatile String leader;
    private volatile Instant lost;

    /**
     * Starts taking part in the election (in the background); {@code lead} runs once this one leads,
     * {@code stop} once it no longer does (lost, or closed).
     */
    Leadership(KubernetesClient client, String namespace, String identity, Runnable lead, Runnable stop) {
        this.namespace = namespace;
        this.identity = identity;
        LeaderCallbacks callbacks = new LeaderCallbacks(() -> {
            leading = true;
            LOG.log(Level.INFO, "control plane {0} holds the lease {1}/{2}: it leads", identity, namespace, LEASE);
            lead.run();
        }, () -> {
            boolean was = leading;
            leading = false;
            if (!closing) {
                lost = Instant.now();
                LOG.log(Level.ERROR, "control plane {0} lost the lease {1}/{2}: it stops acting on the nodes (a restart "
                        + "stands by again)", identity, namespace, LEASE);
            }
            if (was) {
                stop.run();
            }
        }, holder -> {
            leader = holder;
            if (!identity.equals(holder)) {
                LOG.log(Level.INFO, "control plane {0} stands by: {1} holds the lease {2}/{3}", identity, holder, namespace, LEASE);
            }
        });
        this.election = client.leaderElector().withConfig(new LeaderElectionConfigBuilder()
                .withName(LEASE)
                .withLock(new LeaseLock(namespace, LEASE, identity))
                .withLeaseDuration(Duration.ofSeconds(15))
                .withRenewDeadline(Duration.ofSeconds(10))
                .withRetryPeriod(Duration.ofSeconds(2))
                .withReleaseOnCancel(true)
                .withLeaderCallbacks(callbacks)
                .build()).build().start();
    }

    /**
     * Who holds the lease: the control plane's id at its host (the pod's name). Two pods of the
     * Deployment differ by host; a container restarted in its pod is the same one, and takes back the
     * lease its dead predecessor held without waiting for it to expire.
     */
    static String identity(String controlId) {
        String host = System.getenv("HOSTNAME");
        if (host == null || host.isBlank()) {
            try {
                host = java.net.InetAddress.getLocalHost().getHostName();
            } catch (java.io.IOException e) {
                host = "unknown-host";
            }
        }
        return controlId + "@" + host;
    }

    boolean leading() {
        return leading;
    }

    /** Why this control plane does not act (for a refused call), or null while it leads. */
    String standing() {
        if (leading) {
            return null;
        }
        if (lost != null) {
            return "control plane " + identity + " lost its lease at " + lost + " and acts no more";
        }
        String holder = leader;
        return "control plane " + identity + " stands by" + (holder == null || holder.isEmpty() ? " (no control plane holds the lease "
                + namespace + "/" + LEASE + " yet)" : "; " + holder + " leads");
    }

    @Override
    public String name() {
        return "leadership";
    }

    @Override
    public String notReady() {
        return standing();
    }

    @Override
    public String notLive() {
        return lost == null ? null : "lost the lease " + namespace + "/" + LEASE + " at " + lost + "; a restart stands by again";
    }

    @Override
    public void close() {
        closing = true;
        election.cancel(true); // releaseOnCancel: the lease is given back, a standby takes over now
    }
}
