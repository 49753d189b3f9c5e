package io.mayastorj.control.internal.model;

import io.fabric8.kubernetes.client.CustomResource;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/** The control plane's resource kinds, and the names people call them by. */
public final class Kinds {

    public static final String GROUP = "openebs.io";
    public static final String VERSION = "v1alpha1";
    public static final String NAMESPACE = "mayastor";
    /** Held by every pool and volume the control plane has made something for on the nodes. */
    public static final String FINALIZER = "openebs.io/mayastor-cleanup";
    /**
     * On a MayastorNode: the replica names ({@code vol-<uid>}, comma-separated) of volumes deleted
     * while the node was away, destroyed when it is back — also by a sweep that finds no volume left.
     */
    public static final String DELETED_REPLICAS = "openebs.io/deleted-volume-replicas";
    /**
     * On a MayastorNode: the names (comma-separated) of MayastorPools deleted while the node was away
     * longer than the repair grace, let go then, and destroyed on the node when it is back and empty.
     */
    public static final String DELETED_POOLS = "openebs.io/deleted-pools";

    /** A kind: its class, plural, singular and short name. */
    public record Kind(Class<? extends CustomResource<?, ?>> type, String kind, String plural, String singular, String shortName) {
        public String qualified() {
            return singular + "." + GROUP;
        }
    }

    public static final Kind NODE = new Kind(MayastorNode.class, "MayastorNode", "mayastornodes", "mayastornode", "msn");
    public static final Kind POOL = new Kind(MayastorPool.class, "MayastorPool", "mayastorpools", "mayastorpool", "msp");
    public static final Kind VOLUME = new Kind(MayastorVolume.class, "MayastorVolume", "mayastorvolumes", "mayastorvolume", "msv");
    public static final List<Kind> ALL = List.of(NODE, POOL, VOLUME);

    private Kinds() {
    }

    /** A kind by any of its names (msp, mayastorpool, mayastorpools, MayastorPool, mayastorpool.openebs.io). */
    public static Optional<Kind> byName(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        if (n.endsWith("." + GROUP)) {
            n = n.substring(0, n.length() - GROUP.length() - 1);
        }
        for (Kind k : ALL) {
            if (n.equals(k.plural()) || n.equals(k.singular()) || n.equals(k.shortName())) {
                return Optional.of(k);
            }
        }
        return Optional.empty();
    }

    public static Kind of(Class<?> type) {
        for (Kind k : ALL) {
            if (k.type() == type) {
                return k;
            }
        }
        throw new IllegalArgumentException(type + " is not a kind of the control plane");
    }
}
