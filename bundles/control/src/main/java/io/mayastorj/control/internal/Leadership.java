package io.mayastorj.control.internal;

import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderCallbacks;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderElectionConfigBuilder;
import io.fabric8.kubernetes.client.extended.leaderelection.resourcelock.LeaderElectionRecord;
import io.fabric8.kubernetes.client.extended.leaderelection.resourcelock.LeaseLock;
import io.fabric8.kubernetes.client.extended.leaderelection.resourcelock.Lock;
import io.mayastorj.core.node.HealthCheck;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * One control plane at a time acts on the nodes: the one holding the Lease {@value #LEASE} in its
 * namespace (Kubernetes' leader election: a lease of 15 s, renewed every 2 s). A Deployment of one
 * replica still runs two for a while — the pod of a node that lost the API server is replaced while
 * its process lives on — and two control planes would place, repair and switch over the same
 * volumes from different views.
 *
 * <p>The one that does not hold the lease stands by: not ready (the Service sends registrations and
 * calls to the leader), no reconciling, its volume and CSI calls refused as UNAVAILABLE. The leader
 * stops acting once it has not renewed for 10 s, by its own monotonic clock — not when fabric8's
 * elector gets round to saying so, which a partitioned leader's retried calls put off for minutes,
 * while the standby takes the lease 15 s after it last saw the lease change (its own monotonic clock,
 * as client-go: the holder's renew time is on the holder's wall clock). One that lost the lease is no
 * longer live, so the kubelet restarts it to stand by afresh; so is a standby that could not read
 * the lease for four lease periods (its elector may have ended). On a clean stop the lease is
 * given back, and a standby takes over at once.
 */
final class Leadership implements HealthCheck, AutoCloseable {

    static final String LEASE = "mayastor-control";
    private static final Logger LOG = System.getLogger("mayastor.control");
    private static final Duration LEASE_DURATION = Duration.ofSeconds(15);
    private static final long RENEW_DEADLINE_NANOS = TimeUnit.SECONDS.toNanos(10);
    private static final long STUCK_NANOS = 4 * LEASE_DURATION.toNanos();

    private final String namespace;
    private final String identity;
    private final Runnable lead;
    /** Stops acting; false when something it started may still act (the lease is then left to run out). */
    private final java.util.function.BooleanSupplier stop;
    /** The elector's own: 2 s timeouts and no retries, so that no attempt outlasts the renew deadline. */
    private final KubernetesClient client;
    /** Runs lead and stop in turn, outside the elector's lock (a listing there delayed the renewals). */
    private final ExecutorService acting;
    private final ScheduledExecutorService watchdog;
    private final CompletableFuture<?> election;
    private final long startedNanos = System.nanoTime();
    private volatile long renewedNanos;
    private volatile long readNanos;
    /** When the last read of the lease began: a renewal written after it counts from then (the record's time is taken before). */
    private volatile long readStartedNanos;
    /** fabric8's elector says this one holds the lease; it leads once a renewal of its own is also recorded. */
    private boolean electorSays;
    /** {@code lead} has been handed over (so {@code stop} follows it). */
    private volatile boolean leadQueued;
    /** Serving as the leader: {@code lead} has run, and the last renewal is within the deadline. */
    private volatile boolean leading;
    private volatile boolean ended;
    /** Once ended: whether nothing it started acts any more; until then no write of the lease (not even its release) is made. */
    private volatile boolean stoppedClean;
    private volatile boolean closing;
    private volatile String leader;
    private volatile Instant lost;
    private volatile String lostWhy;

    /**
     * Starts taking part in the election (in the background); {@code lead} runs once this one leads,
     * {@code stop} once it no longer does (lost, or closed) — each at most once, {@code stop} after
     * {@code lead}.
     */
    Leadership(KubernetesClient parent, String namespace, String identity, Runnable lead, java.util.function.BooleanSupplier stop) {
        this.namespace = namespace;
        this.identity = identity;
        this.lead = lead;
        this.stop = stop;
        Thread thread = Thread.currentThread();
        ClassLoader previous = thread.getContextClassLoader();
        thread.setContextClassLoader(Leadership.class.getClassLoader()); // fabric8's ServiceLoader lookups
        try {
            this.client = new KubernetesClientBuilder().withConfig(new ConfigBuilder(parent.getConfiguration())
                    .withRequestRetryBackoffLimit(0).withConnectionTimeout(2000).withRequestTimeout(2000).build()).build();
        } finally {
            thread.setContextClassLoader(previous);
        }
        this.acting = Executors.newSingleThreadExecutor(r -> daemon(r, "control-leadership"));
        this.watchdog = Executors.newSingleThreadScheduledExecutor(r -> daemon(r, "control-lease-watchdog"));
        LeaderCallbacks callbacks = new LeaderCallbacks(this::started, () -> end(closing ? null : "the elector says it no longer holds it"),
                holder -> {
                    leader = holder;
                    if (holder != null && !holder.isEmpty() && !identity.equals(holder)) {
                        LOG.log(Level.INFO, "control plane {0} stands by: {1} holds the lease {2}/{3}", identity, holder,
                                namespace, LEASE);
                    }
                });
        this.election = client.leaderElector().withConfig(new LeaderElectionConfigBuilder()
                .withName(LEASE)
                .withLock(new TimedLock(new LeaseLock(namespace, LEASE, identity)))
                .withLeaseDuration(LEASE_DURATION)
                .withRenewDeadline(Duration.ofNanos(RENEW_DEADLINE_NANOS))
                .withRetryPeriod(Duration.ofSeconds(2))
                .withReleaseOnCancel(true)
                .withLeaderCallbacks(callbacks)
                .build()).build().start();
        watchdog.scheduleWithFixedDelay(this::watch, 1, 1, TimeUnit.SECONDS);
    }

    private static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    /** The lease, timed: when it was last read, and when this one last wrote it as its holder. */
    private final class TimedLock implements Lock {
        private final Lock inner;

        TimedLock(Lock inner) {
            this.inner = inner;
        }

        /** Another holder's record as last read, and when this one first read it so (monotonic). */
        private LeaderElectionRecord seen;
        private long seenNanos;

        @Override
        public LeaderElectionRecord get(KubernetesClient c) {
            long asked = System.nanoTime();
            LeaderElectionRecord r = inner.get(c);
            readStartedNanos = asked;
            readNanos = System.nanoTime();
            if (r == null || r.getHolderIdentity() == null || r.getHolderIdentity().isEmpty() || identity.equals(r.getHolderIdentity())) {
                seen = null;
                return r;
            }
            // fabric8 judges another holder's lease by the renew time written on the holder's wall clock
            // against this one's: a clock ahead by more than the margin took a lease its holder kept
            // renewing. As client-go does, a lease runs out a lease duration after this one first saw
            // its record unchanged, on this one's monotonic clock
            if (!r.equals(seen)) {
                seen = r;
                seenNanos = asked;
            }
            return r.toBuilder().renewTime(java.time.ZonedDateTime.now(java.time.ZoneOffset.UTC)
                    .minusNanos(System.nanoTime() - seenNanos)).build();
        }

        /** After the end, the lease is written (given back) only once nothing this one started still acts. */
        private void mayWrite() {
            if (ended && !stoppedClean) {
                throw new io.fabric8.kubernetes.client.KubernetesClientException("control plane " + identity
                        + " still has work under way from when it led: the lease runs out instead of being given back");
            }
        }

        @Override
        public void create(KubernetesClient c, LeaderElectionRecord r) {
            mayWrite();
            long asked = Math.min(readStartedNanos == 0 ? Long.MAX_VALUE : readStartedNanos, System.nanoTime());
            inner.create(c, r);
            renewed(r, asked);
        }

        @Override
        public void update(KubernetesClient c, LeaderElectionRecord r) {
            mayWrite();
            // the record's renew time was taken before the read that preceded this write: counted from there
            long asked = Math.min(readStartedNanos == 0 ? Long.MAX_VALUE : readStartedNanos, System.nanoTime());
            inner.update(c, r);
            renewed(r, asked);
        }

        private void renewed(LeaderElectionRecord r, long asked) {
            readNanos = System.nanoTime();
            if (identity.equals(r.getHolderIdentity())) {
                renewedByUs(asked);
            }
        }

        @Override
        public String identity() {
            return inner.identity();
        }

        @Override
        public String describe() {
            return inner.describe();
        }
    }

    /** fabric8 says this one leads (at times before it has written the lease: a restarted holder). */
    private synchronized void started() {
        electorSays = true;
        maybeLead();
    }

    private synchronized void renewedByUs(long asked) {
        renewedNanos = asked;
        maybeLead();
    }

    /** Leads once the elector says so and a renewal of its own is recorded, and never again after it ended. */
    private void maybeLead() {
        if (ended || leadQueued || !electorSays || renewedNanos == 0) {
            return;
        }
        leadQueued = true;
        LOG.log(Level.INFO, "control plane {0} holds the lease {1}/{2}: it leads", identity, namespace, LEASE);
        act(() -> {
            try {
                lead.run();
                synchronized (Leadership.this) { // an end between the read and the write would be undone
                    leading = !ended; // only now are its calls served: the nodes' silences were counted afresh first
                }
            } catch (RuntimeException e) {
                LOG.log(Level.ERROR, "control plane {0} could not start leading: {1}", identity, e.toString());
                end("it could not start leading: " + e.getMessage());
            }
        });
    }

    /** No longer leading, for good ({@code why} null: closed); the lease is given back only after {@code stop} has run. */
    private void end(String why) {
        synchronized (this) {
            if (ended) {
                return;
            }
            ended = true;
            leading = false;
            if (why != null) {
                lost = Instant.now();
                lostWhy = why;
                LOG.log(Level.ERROR, "control plane {0} gives up the lease {1}/{2} ({3}): it stops acting on the nodes (a "
                        + "restart stands by again)", identity, namespace, LEASE, why);
            }
            if (leadQueued) {
                act(() -> {
                    stoppedClean = stop.getAsBoolean();
                    if (!stoppedClean) {
                        LOG.log(Level.ERROR, "control plane {0}: work it started while leading is still under way; the lease "
                                + "{1}/{2} is not given back but runs out", identity, namespace, LEASE);
                    }
                });
            } else {
                stoppedClean = true;
            }
        }
        if (why != null) {
            // given back once this one no longer acts (stop ran): a standby may take it at once then
            act(() -> election.cancel(true));
        }
    }

    private void act(Runnable r) {
        try {
            acting.execute(r);
        } catch (java.util.concurrent.RejectedExecutionException closed) {
            r.run(); // closing: on this thread
        }
    }

    private void watch() {
        long now = System.nanoTime();
        boolean queued;
        synchronized (this) {
            queued = leadQueued;
        }
        if (queued && now - renewedNanos > RENEW_DEADLINE_NANOS) {
            end("not renewed for " + TimeUnit.NANOSECONDS.toMillis(now - renewedNanos) + " ms");
        }
    }

    /** Leading, and renewed within the deadline (checked here too: a process frozen for a while acts on no stale lease). */
    boolean leading() {
        return leading && System.nanoTime() - renewedNanos <= RENEW_DEADLINE_NANOS;
    }

    /**
     * Whether what this control plane does as the leader (its operators' writes, its calls that change
     * nodes) may go on: from the moment it starts leading until it ends, and only while renewed within
     * the deadline (a process paused past its lease acts on nothing when it resumes).
     */
    boolean acting() {
        return leadQueued && !ended && System.nanoTime() - renewedNanos <= RENEW_DEADLINE_NANOS;
    }

    /** Why this control plane does not act (for a refused call), or null while it leads. */
    String standing() {
        if (leading()) {
            return null;
        }
        if (lost != null) {
            return "control plane " + identity + " gave up its lease at " + lost + " and acts no more";
        }
        String holder = leader;
        return "control plane " + identity + " stands by" + (holder == null || holder.isEmpty() ? " (no control plane holds the lease "
                + namespace + "/" + LEASE + " yet)" : "; " + holder + " leads");
    }

    /**
     * Who holds the lease: the control plane's id at its host (the pod's name). Two pods of the
     * Deployment differ by host; a container restarted in its pod is the same one, and takes back the
     * lease its dead predecessor held without waiting for it to expire. (Two control planes with one
     * id on one host would be one to the election: give each its own --control-id.)
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
        if (lost != null) {
            return "gave up the lease " + namespace + "/" + LEASE + " at " + lost + " (" + lostWhy + "); a restart stands by again";
        }
        long since = System.nanoTime() - Math.max(readNanos, startedNanos);
        if (!leading() && since > STUCK_NANOS) {
            return "the lease " + namespace + "/" + LEASE + " could not be read for " + TimeUnit.NANOSECONDS.toSeconds(since) + " s";
        }
        return null;
    }

    @Override
    public void close() {
        closing = true;
        watchdog.shutdownNow();
        end(null); // stop runs first (on the acting thread) ...
        acting.shutdown();
        try {
            acting.awaitTermination(60, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        election.cancel(true); // ... then the lease is given back (releaseOnCancel): a standby takes over now
        client.close();
    }
}
