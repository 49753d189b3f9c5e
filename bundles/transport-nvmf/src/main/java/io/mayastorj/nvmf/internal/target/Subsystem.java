package io.mayastorj.nvmf.internal.target;

import io.mayastorj.core.bdev.AccessState;
import io.mayastorj.core.bdev.BlockDevice;
import io.mayastorj.core.error.MayastorException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * An NVM subsystem: one bdev as namespace 1, the hosts allowed in, and the controllers they made.
 * The discovery subsystem is one without a bdev. Controllers come and go on reactor threads and the
 * shell reads them from its own, so the table is guarded by this object (never on the I/O path).
 */
final class Subsystem {

    /** CNTLIDs a dynamic controller may take (0xFFF0 and up are reserved). */
    private static final int MAX_CNTLID = 0xFFEF;

    private static final Logger LOG = System.getLogger("mayastor.nvmf");

    private final NvmfTarget target;
    private final String nqn;
    private final BlockDevice device;
    private final List<String> allowedHosts;
    private final String serial;
    private final Map<Integer, Controller> controllers = new TreeMap<>();
    /** Controllers that ended, until their queues have closed and their commands at the bdev ended. */
    private final List<Controller> draining = new ArrayList<>();
    private final int minCntlid;
    private final int maxCntlid;
    private int nextCntlid;
    /** The ANA state hosts were last told of, and how often it changed (the ANA log's CHGCNT). */
    private AccessState reportedAccess = AccessState.OPTIMIZED;
    private long anaChanges;
    /** The namespace's size hosts were last told of, and how often it changed (a volume that grew). */
    private long reportedBlocks;
    private long sizeChanges;
    private boolean shutDown;
    /** Commands of this subsystem at the bdev, so unshare can wait for them. */
    final AtomicInteger inFlight = new AtomicInteger();
    /** Connected queues, so unshare can wait until none can submit. */
    final AtomicInteger liveQueues = new AtomicInteger();

    Subsystem(NvmfTarget target, String nqn, BlockDevice device, List<String> allowedHosts) {
        this(target, nqn, device, allowedHosts, 1, MAX_CNTLID);
    }

    /**
     * @param minCntlid the first CNTLID of this subsystem's controllers here; a nexus that another
     *                  node may serve under the same NQN takes a range of its own, since a host
     *                  refuses a second controller of a subsystem with a CNTLID it has already
     */
    Subsystem(NvmfTarget target, String nqn, BlockDevice device, List<String> allowedHosts, int minCntlid, int maxCntlid) {
        this.target = target;
        this.minCntlid = minCntlid;
        this.maxCntlid = maxCntlid;
        this.nextCntlid = minCntlid;
        this.nqn = nqn;
        this.device = device;
        this.allowedHosts = List.copyOf(allowedHosts);
        this.reportedBlocks = device == null ? 0 : device.blockCount();
        // the serial number is what a host shows for the disk: stable, from the bdev's UUID
        this.serial = device == null ? "discovery"
                : device.uuid().toString().replace("-", "").substring(0, 20).toUpperCase(Locale.ROOT);
    }

    String nqn() {
        return nqn;
    }

    /** The namespace's bdev; null for discovery. */
    BlockDevice device() {
        return device;
    }

    boolean isDiscovery() {
        return device == null;
    }

    String serial() {
        return serial;
    }

    NvmfTarget target() {
        return target;
    }

    boolean allows(String hostNqn) {
        return allowedHosts.isEmpty() || allowedHosts.contains(hostNqn);
    }

    /** A new controller for an admin queue's Connect, or null when the subsystem is going away or full. */
    synchronized Controller newController(TargetQueue admin, String hostNqn, String hostId, int katoMillis) {
        if (shutDown) {
            return null;
        }
        for (int tries = 0; tries <= maxCntlid - minCntlid; tries++) {
            int cntlid = nextCntlid;
            nextCntlid = nextCntlid == maxCntlid ? minCntlid : nextCntlid + 1;
            if (!controllers.containsKey(cntlid)) {
                Controller controller = new Controller(this, cntlid, hostNqn, hostId, katoMillis, admin);
                controllers.put(cntlid, controller);
                return controller;
            }
        }
        return null;
    }

    /**
     * The namespace's ANA state now, and the change count of the ANA log: counted here, where hosts
     * learn of it, since the bdev only has a state. Admin path.
     */
    synchronized long anaChangeCount() {
        access();
        return anaChanges;
    }

    /**
     * How often the namespace's size changed since it was shared: counted here, where hosts learn of
     * it, since the bdev grows without an event. Admin path.
     */
    synchronized long sizeChangeCount() {
        long now = device == null ? 0 : device.blockCount();
        if (now != reportedBlocks) {
            LOG.log(Level.INFO, "{0}: namespace 1 is {1} blocks (was {2})", nqn, now, reportedBlocks);
            reportedBlocks = now;
            sizeChanges++;
        }
        return sizeChanges;
    }

    synchronized AccessState access() {
        AccessState now = device == null ? AccessState.OPTIMIZED : device.accessState();
        if (now != reportedAccess) {
            LOG.log(Level.INFO, "{0}: ANA state {1} (was {2})", nqn, now, reportedAccess);
            reportedAccess = now;
            anaChanges++;
        }
        return now;
    }

    static int[] cntlidRange(String min, String max) {
        int lo = min == null ? 1 : parseCntlid("cntlid.min", min);
        int hi = max == null ? MAX_CNTLID : parseCntlid("cntlid.max", max);
        if (lo > hi) {
            throw MayastorException.invalidArgument("cntlid.min %d is above cntlid.max %d", lo, hi);
        }
        return new int[] {lo, hi};
    }

    private static int parseCntlid(String key, String value) {
        try {
            int v = Integer.parseInt(value.strip());
            if (v >= 1 && v <= MAX_CNTLID) {
                return v;
            }
        } catch (NumberFormatException e) {
            // below
        }
        throw MayastorException.invalidArgument("%s must be a controller ID from 1 to %d, not '%s'", key, MAX_CNTLID, value);
    }

    synchronized Controller controller(int cntlid) {
        return controllers.get(cntlid);
    }

    synchronized void removed(Controller controller) {
        controllers.remove(controller.cntlid(), controller);
        draining.removeIf(Controller::drained);
        if (!controller.drained()) {
            draining.add(controller); // its queues close after this, and may still submit until they do
        }
    }

    /**
     * Commands at the bdev of the host's controllers that ended (their host dropped them: a reset
     * closes its sockets, and a partitioned one ends with its keep-alive before the host reconnects)
     * or that it disabled (a reset disables first): what its earlier association may still write. An
     * enabled controller of the host (another path) is not waited for: its commands are current, and
     * it would never be idle under load.
     */
    synchronized int earlierAtBdev(String hostNqn) {
        draining.removeIf(Controller::drained);
        int n = 0;
        for (Controller c : draining) {
            n += c.hostNqn().equals(hostNqn) ? stillWriting(c) : 0;
        }
        for (Controller c : controllers.values()) {
            // disabled (CC.EN 0): a host resetting it disables it before it drops its sockets, and its
            // new Connect may come on another reactor before this one has seen them close
            n += c.hostNqn().equals(hostNqn) && !c.enabled() ? stillWriting(c) : 0;
        }
        return n;
    }

    /**
     * Its commands at the bdev, and at least 1 while an I/O queue of it is open: a queue whose reactor has
     * not read the host's last capsules yet (they sat in its socket when the host reset) would submit them
     * after the new association's writes, which counting what is at the bdev alone let in.
     */
    private static int stillWriting(Controller c) {
        return c.drained() ? 0 : Math.max(1, c.atBdev());
    }

    /** Disconnects every host; new Connects are refused. */
    void shutdown(String why) {
        List<Controller> doomed;
        synchronized (this) {
            shutDown = true;
            doomed = new ArrayList<>(controllers.values());
        }
        for (Controller controller : doomed) {
            controller.destroy(why);
        }
    }

    /** Waits until no queue of this subsystem is connected and none of its commands is at the bdev. */
    void awaitIdle(long timeout, TimeUnit unit) {
        long deadline = System.nanoTime() + unit.toNanos(timeout);
        while ((liveQueues.get() > 0 || inFlight.get() > 0) && System.nanoTime() - deadline < 0) {
            LockSupport.parkNanos(200_000);
        }
    }

    /** Each connected host: its NQN and the address of its admin queue. */
    synchronized List<String> connectedHosts() {
        List<String> hosts = new ArrayList<>();
        for (Controller controller : controllers.values()) {
            hosts.add(controller.hostNqn() + " from " + controller.peer());
        }
        return hosts;
    }

    synchronized SubsystemView view() {
        List<String> list = new ArrayList<>();
        for (Controller controller : controllers.values()) {
            list.add(controller.cntlid() + " " + controller.hostNqn());
        }
        return new SubsystemView(nqn, device == null ? null : device.name(), allowedHosts, list, inFlight.get());
    }
}
