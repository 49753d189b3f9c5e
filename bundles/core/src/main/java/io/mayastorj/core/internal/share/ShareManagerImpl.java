package io.mayastorj.core.internal.share;

import io.mayastorj.core.bdev.BdevClaim;
import io.mayastorj.core.bdev.BdevRegistry;
import io.mayastorj.core.error.MayastorException;
import io.mayastorj.core.transport.ShareManager;
import io.mayastorj.core.transport.ShareOptions;
import io.mayastorj.core.transport.ShareState;
import io.mayastorj.core.transport.ShareStatus;
import io.mayastorj.core.transport.Transport;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.osgi.service.component.annotations.ReferencePolicyOption;
import org.osgi.service.component.runtime.ServiceComponentRuntime;
import org.osgi.service.component.runtime.dto.ComponentConfigurationDTO;
import org.osgi.service.component.runtime.dto.ComponentDescriptionDTO;

/**
 * The desired shares and the transports that serve them. A share outlives its transport: when
 * the transport's bundle stops the share waits, and when a transport of that protocol appears again
 * it is shared anew, with the same options. Changes are serialized on this object (sharing is an
 * administrative act, never on the I/O path); statuses are read from what the last change published.
 */
@Component(service = ShareManager.class)
public final class ShareManagerImpl implements ShareManager {

    private static final Logger LOG = System.getLogger("mayastor.share");

    private final BdevRegistry registry;
    private final Map<String, Transport> transports = new TreeMap<>();
    private final Map<String, Share> shares = new TreeMap<>();
    /**
     * The shares' statuses and the protocols as the last change left them, read without the lock: a
     * transport's unshare waits (up to seconds) for the share's commands to finish at its bdev, and a
     * nexus's I/O may need its control thread, which reads its share's status to build its view.
     */
    private volatile Map<String, ShareStatus> published = Map.of();
    private volatile List<String> publishedProtocols = List.of();

    private static final class Share {
        final String protocol;
        final ShareOptions options;
        final BdevClaim claim;
        ShareState state = ShareState.WAITING_FOR_TRANSPORT;
        String uri;
        String error;

        Share(String protocol, ShareOptions options, BdevClaim claim) {
            this.protocol = protocol;
            this.options = options;
            this.claim = claim;
        }

        ShareStatus status() {
            return new ShareStatus(claim.device().name(), protocol, options, state, uri, error);
        }
    }

    @Activate
    public ShareManagerImpl(@Reference BdevRegistry registry) {
        this.registry = registry;
    }

    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    public synchronized void addTransport(Transport transport) {
        String protocol = transport.protocol();
        if (transports.putIfAbsent(protocol, transport) != null) {
            LOG.log(Level.WARNING, "a second transport for {0} appeared; it is ignored", protocol);
            return;
        }
        LOG.log(Level.INFO, "transport {0} is available", protocol);
        dropClosed();
        for (Share share : shares.values()) {
            if (share.protocol.equals(protocol) && share.state != ShareState.ACTIVE) {
                establish(transport, share);
                if (share.state == ShareState.ACTIVE) {
                    LOG.log(Level.INFO, "re-shared {0} over {1}: {2}", share.claim.device().name(), protocol, share.uri);
                }
            }
        }
        publish();
    }

    public synchronized void removeTransport(Transport transport) {
        if (!transports.remove(transport.protocol(), transport)) {
            return;
        }
        for (Share share : shares.values()) {
            if (share.protocol.equals(transport.protocol()) && share.state == ShareState.ACTIVE) {
                try {
                    transport.unshare(share.claim.device());
                } catch (RuntimeException e) {
                    LOG.log(Level.WARNING, "transport {0} failed to unshare {1}: {2}", transport.protocol(),
                            share.claim.device().name(), e.getMessage());
                }
                share.state = ShareState.WAITING_FOR_TRANSPORT;
                share.uri = null;
            }
        }
        publish();
        LOG.log(Level.INFO, "transport {0} went away; its shares wait for it", transport.protocol());
    }

    /**
     * Shares whose bdev was closed under them (the bundle that provides it stopped: its factory went,
     * and the registry closed what it had made) are dropped with their claims: shared again, a closed
     * device answered no I/O, and its name — free for a new bdev — could be neither unshared nor shared.
     */
    private void dropClosed() {
        boolean dropped = shares.entrySet().removeIf(e -> {
            if (!(e.getValue().claim.device() instanceof io.mayastorj.core.bdev.BlockDeviceBase b) || !b.isClosed()) {
                return false;
            }
            Share share = e.getValue();
            Transport transport = transports.get(share.protocol);
            if (transport != null && share.state == ShareState.ACTIVE) {
                try {
                    transport.unshare(share.claim.device());
                } catch (RuntimeException ex) {
                    LOG.log(Level.WARNING, "transport {0} failed to unshare {1}: {2}", share.protocol, e.getKey(), ex.getMessage());
                }
            }
            share.claim.close();
            LOG.log(Level.WARNING, "the {0} share of {1} is dropped: its bdev was closed (the bundle that provides it stopped)",
                    share.protocol, e.getKey());
            return true;
        });
        if (dropped) {
            publish();
        }
    }

    @Override
    public synchronized String share(String bdev, String protocol, ShareOptions options) {
        dropClosed();
        Share existing = shares.get(bdev);
        if (existing != null) {
            if (existing.protocol.equals(protocol) && existing.options.equals(options)) {
                Transport transport = transports.get(protocol);
                if (existing.state == ShareState.FAILED && transport != null) {
                    // asked again, a share its transport refused (a port taken then, an NQN clash) is tried
                    // again: answered null, it looked as if it waited, and stayed failed for good
                    establish(transport, existing);
                    publish();
                    if (existing.state == ShareState.FAILED) {
                        throw MayastorException.unavailable("the %s share of %s failed: %s", protocol, bdev, existing.error);
                    }
                    LOG.log(Level.INFO, "shared {0} over {1} again: {2}", bdev, protocol, existing.uri);
                }
                return existing.uri; // null while it waits: the same share again changes nothing
            }
            String differs = !existing.protocol.equals(protocol) ? "over " + existing.protocol + ", not " + protocol
                    : !existing.options.allowedHosts().equals(options.allowedHosts())
                        ? "to " + hosts(existing.options.allowedHosts()) + ", not " + hosts(options.allowedHosts())
                    : !existing.options.properties().equals(options.properties())
                        ? "with other properties (" + String.join(", ", new TreeSet<>(existing.options.properties().keySet())) + ")"
                    : "but " + existing.state.toString().toLowerCase(java.util.Locale.ROOT)
                        + (existing.error == null ? "" : " (" + existing.error + ")");
            throw MayastorException.alreadyExists("bdev %s is shared already %s; to change its share, unshare it first "
                    + "(mayastor ctl bdev unshare %s)", bdev, differs, bdev);
        }
        Transport transport = transports.get(protocol);
        if (transport == null) {
            String failure = activationFailure(protocol);
            if (failure != null) {
                throw MayastorException.unavailable("the %s transport failed to start: %s", protocol, failure);
            }
            throw MayastorException.unavailable("no %s transport on this node (available: %s)", protocol,
                    transports.isEmpty() ? "none" : String.join(", ", new TreeSet<>(transports.keySet())));
        }
        BdevClaim claim = registry.claim(bdev, "share " + protocol);
        Share share = new Share(protocol, options, claim);
        try {
            share.uri = transport.share(claim.device(), options);
            share.state = ShareState.ACTIVE;
        } catch (RuntimeException e) {
            claim.close();
            throw e;
        }
        shares.put(bdev, share);
        publish();
        LOG.log(Level.INFO, "shared {0} over {1}: {2}", bdev, protocol, share.uri);
        return share.uri;
    }

    private static String hosts(java.util.List<String> allowed) {
        return allowed.isEmpty() ? "any host" : String.join(", ", allowed);
    }

    @Override
    public synchronized void restore(String bdev, String protocol, ShareOptions options) {
        dropClosed();
        if (shares.containsKey(bdev)) {
            return;
        }
        Share share = new Share(protocol, options, registry.claim(bdev, "share " + protocol));
        shares.put(bdev, share);
        Transport transport = transports.get(protocol);
        if (transport != null) {
            establish(transport, share);
        }
        publish();
        LOG.log(Level.INFO, "restored the {0} share of {1}: {2}", protocol, bdev,
                share.state == ShareState.ACTIVE ? share.uri : share.state.toString().toLowerCase(java.util.Locale.ROOT));
    }

    /** Shares again what was shared before; a failure is recorded on the share, not thrown. */
    private void establish(Transport transport, Share share) {
        try {
            share.uri = transport.share(share.claim.device(), share.options);
            share.state = ShareState.ACTIVE;
            share.error = null;
        } catch (RuntimeException e) {
            share.state = ShareState.FAILED;
            share.uri = null;
            share.error = e.getMessage();
            LOG.log(Level.WARNING, "sharing {0} over {1} failed: {2}", share.claim.device().name(),
                    share.protocol, e.getMessage());
        }
    }

    @Override
    public synchronized void unshare(String bdev) {
        Share share = shares.remove(bdev);
        if (share == null) {
            throw MayastorException.notFound("bdev %s is not shared", bdev);
        }
        publish(); // gone at once: a caller that checks first must not unshare it again while its commands finish
        Transport transport = transports.get(share.protocol);
        try {
            if (transport != null && share.state == ShareState.ACTIVE) {
                transport.unshare(share.claim.device());
            }
        } finally {
            share.claim.close();
        }
        LOG.log(Level.INFO, "unshared {0} ({1})", bdev, share.protocol);
    }

    @Override
    public Optional<ShareStatus> status(String bdev) {
        ShareStatus s = published.get(bdev);
        return s == null ? Optional.empty() : Optional.of(explained(s));
    }

    /** Under the lock, after a change: what the readers see from now on. */
    private void publish() {
        Map<String, ShareStatus> now = new TreeMap<>();
        shares.forEach((bdev, share) -> now.put(bdev, share.status()));
        published = Collections.unmodifiableMap(now);
        publishedProtocols = List.copyOf(transports.keySet());
    }

    /**
     * A share waiting for a transport whose component failed to start is FAILED, with SCR's reason.
     * Asked when a status is read (sharing is administrative; SCR has no event for a failure).
     */
    private ShareStatus explained(ShareStatus s) {
        if (s.state() != ShareState.WAITING_FOR_TRANSPORT) {
            return s;
        }
        String failure = activationFailure(s.protocol());
        return failure == null ? s : new ShareStatus(s.bdev(), s.protocol(), s.options(), ShareState.FAILED, null,
                "the " + s.protocol() + " transport failed to start: " + failure);
    }

    private volatile ServiceComponentRuntime scr;

    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    void setScr(ServiceComponentRuntime runtime) {
        this.scr = runtime;
    }

    void unsetScr(ServiceComponentRuntime runtime) {
        if (this.scr == runtime) {
            this.scr = null;
        }
    }

    /** Why the transport component of {@code protocol} could not start, as SCR recorded it; null when none failed. */
    private String activationFailure(String protocol) {
        ServiceComponentRuntime runtime = scr;
        if (runtime == null) {
            return null;
        }
        try {
            for (ComponentDescriptionDTO d : runtime.getComponentDescriptionDTOs()) {
                if (d.properties == null || !protocol.equals(String.valueOf(d.properties.get(Transport.PROTOCOL)))
                        || d.serviceInterfaces == null || !List.of(d.serviceInterfaces).contains(Transport.class.getName())) {
                    continue;
                }
                for (ComponentConfigurationDTO c : runtime.getComponentConfigurationDTOs(d)) {
                    if (c.state == ComponentConfigurationDTO.FAILED_ACTIVATION) {
                        return reason(c.failure);
                    }
                }
            }
        } catch (RuntimeException e) {
            LOG.log(Level.DEBUG, "cannot ask SCR about the {0} transport: {1}", protocol, e.toString());
        }
        return null;
    }

    /** SCR's failure text is a stack trace: the first cause's message (the constructor's own exception), else its first line. */
    static String reason(String failure) {
        if (failure == null || failure.isBlank()) {
            return "its component did not activate";
        }
        String chosen = failure.lines().filter(l -> l.startsWith("Caused by: ")).findFirst()
                .map(l -> l.substring("Caused by: ".length())).orElse(failure.lines().findFirst().orElse(failure));
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("^[\\w$.]+(?:Exception|Error): (.*)$").matcher(chosen.strip());
        return m.matches() ? m.group(1) : chosen.strip();
    }

    @Override
    public synchronized List<String> connectedHosts(String bdev) {
        Share share = shares.get(bdev);
        Transport transport = share == null ? null : transports.get(share.protocol);
        if (transport == null || share.state != ShareState.ACTIVE) {
            return List.of();
        }
        try {
            return List.copyOf(transport.connectedHosts(share.claim.device()));
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "transport {0} could not list the hosts of {1}: {2}", share.protocol, bdev,
                    e.getMessage());
            return List.of();
        }
    }

    @Override
    public List<ShareStatus> shares() {
        List<ShareStatus> list = new ArrayList<>();
        for (ShareStatus s : published.values()) {
            list.add(explained(s));
        }
        return list;
    }

    @Override
    public List<String> protocols() {
        return publishedProtocols;
    }

    @Deactivate
    public synchronized void stop() {
        for (Share share : shares.values()) {
            // the transports may outlive this component (DS unbinds them after deactivation, from an empty
            // map): left shared, they served bdevs no claim held, which the registry could then destroy
            Transport transport = share.state == ShareState.ACTIVE ? transports.get(share.protocol) : null;
            if (transport != null) {
                try {
                    transport.unshare(share.claim.device());
                } catch (RuntimeException e) {
                    LOG.log(Level.WARNING, "transport {0} failed to unshare {1}: {2}", share.protocol,
                            share.claim.device().name(), e.getMessage());
                }
            }
            share.claim.close();
        }
        shares.clear();
        publish();
    }
}
