package io.mayastorj.control.internal.operator;

import io.mayastorj.core.text.Sizes;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * Where a volume's replicas go: pools on distinct online nodes with room, the required nodes only
 * when some are named, the preferred ones first, then the emptiest. Pure: the operator gathers what
 * the nodes report and acts on the answer.
 */
public final class Placement {

    /**
     * A pool as its node reports it now; {@code refusedLately}: it refused a replica a little while ago
     * (its replica limit, its metadata room, a size its clusters round past its free space — what its
     * capacity does not show), so it is chosen after every other.
     */
    public record Candidate(String node, String pool, boolean nodeOnline, boolean poolOnline, long capacity, long used,
                            boolean refusedLately) {
        public Candidate(String node, String pool, boolean nodeOnline, boolean poolOnline, long capacity, long used) {
            this(node, pool, nodeOnline, poolOnline, capacity, used, false);
        }

        long free() {
            return Math.max(0, capacity - used);
        }
    }

    /** What a volume asks for. */
    public record Request(int replicas, long bytes, boolean thin, List<String> requiredNodes, List<String> preferredNodes) {
    }

    /** The pools chosen, or (empty) why there are not enough. */
    public record Result(List<Candidate> chosen, String shortfall) {
        public boolean satisfied() {
            return shortfall == null;
        }
    }

    private Placement() {
    }

    /**
     * Chooses {@code wanted} pools for new replicas, none on a node in {@code excludedNodes} (those
     * that hold one of the volume's replicas already).
     */
    public static Result place(Request request, int wanted, List<Candidate> candidates, Set<String> excludedNodes) {
        List<String> problems = new ArrayList<>();
        List<Candidate> usable = new ArrayList<>();
        Set<String> seenNodes = new TreeSet<>();
        for (Candidate c : candidates) {
            seenNodes.add(c.node());
            if (excludedNodes.contains(c.node())) {
                continue;
            }
            if (!request.requiredNodes().isEmpty() && !request.requiredNodes().contains(c.node())) {
                continue;
            }
            if (!c.nodeOnline()) {
                problems.add(c.node() + " is offline");
            } else if (!c.poolOnline()) {
                problems.add(c.node() + "/" + c.pool() + " is not online");
            } else if (request.thin() ? c.free() == 0 : c.free() < request.bytes()) {
                problems.add(c.node() + "/" + c.pool() + " has " + Sizes.human(c.free()) + " free");
            } else {
                usable.add(c);
            }
        }
        for (String required : request.requiredNodes()) {
            if (!seenNodes.contains(required)) {
                problems.add("required node " + required + " has no pool");
            }
        }
        // the first preferred node first (the node Kubernetes' scheduler chose comes first in a CSI request's
        // preferred topology: a local volume must be there); then pools that refused lately last (chosen again
        // at every pass, one that keeps refusing held every volume placed on it short for good); then the other
        // preferred nodes in the order given (a local volume's list names every node), then the most free
        // space; one pool per node
        usable.sort(Comparator.comparing((Candidate c) -> request.preferredNodes().indexOf(c.node()) != 0)
                .thenComparing(Candidate::refusedLately)
                .thenComparingInt((Candidate c) -> {
                    int rank = request.preferredNodes().indexOf(c.node());
                    return rank < 0 ? Integer.MAX_VALUE : rank;
                })
                .thenComparing(Comparator.comparingLong(Candidate::free).reversed())
                .thenComparing(Candidate::node).thenComparing(Candidate::pool));
        List<Candidate> chosen = new ArrayList<>();
        Set<String> nodes = new TreeSet<>(excludedNodes);
        for (Candidate c : usable) {
            if (chosen.size() < wanted && nodes.add(c.node())) {
                chosen.add(c);
            }
        }
        if (chosen.size() == wanted) {
            return new Result(List.copyOf(chosen), null);
        }
        String need = wanted + " pool" + (wanted == 1 ? "" : "s") + " on distinct nodes"
                + (excludedNodes.isEmpty() ? "" : " other than " + String.join(", ", new TreeSet<>(excludedNodes)))
                + (request.thin() ? " with room" : " with " + Sizes.human(request.bytes()) + " free")
                + (request.requiredNodes().isEmpty() ? "" : " among " + String.join(", ", request.requiredNodes()));
        String found = "found " + chosen.size() + (chosen.isEmpty() ? "" : " (" + String.join(", ",
                chosen.stream().map(c -> c.node() + "/" + c.pool()).toList()) + ")");
        return new Result(List.of(), "needs " + need + ", " + found
                + (problems.isEmpty() ? "" : ": " + String.join("; ", new TreeSet<>(problems))));
    }
}
