package io.mayastorj.iscsi.internal.target;

/**
 * The unit attentions an I_T nexus has not been told yet (ASC/ASCQ), oldest first, each reported
 * once (SAM-5 §5.14), and the LU's size it was last told: a change is CAPACITY DATA HAS CHANGED.
 * They belong to the I_T nexus, not the connection: a session that closed other than by logout
 * leaves them with the target for the next login of the same nexus (open-iscsi reinstates its
 * session after a lost connection). Confined to its connection's reactor while it has one, to the
 * target's lock while it waits for the next login.
 */
final class UnitAttentions {

    private static final int MAX = 8;
    private final int[] queue = new int[MAX];
    private int count;
    /** The LU's size this I_T nexus knows, or -1 before its first command. */
    long knownBlocks = -1;

    /** What an I_T nexus is told after a hard reset (TARGET COLD RESET): that, and nothing from before (SAM-5). */
    static UnitAttentions afterReset() {
        UnitAttentions reset = new UnitAttentions();
        reset.add(io.mayastorj.iscsi.internal.scsi.Sense.POWER_ON_OR_RESET);
        return reset;
    }

    void add(int ascq) {
        for (int i = 0; i < count; i++) {
            if (queue[i] == ascq) {
                return; // still to be told
            }
        }
        if (count == MAX) { // the oldest goes: what came later says more of the state now
            System.arraycopy(queue, 1, queue, 0, --count);
        }
        queue[count++] = ascq;
    }

    boolean isEmpty() {
        return count == 0;
    }

    /** The oldest, taken from the queue: it is reported now. */
    int take() {
        int ascq = queue[0];
        System.arraycopy(queue, 1, queue, 0, --count);
        return ascq;
    }

    /**
     * What an earlier session of this I_T nexus left: its attentions go before this one's, and its
     * known size stands if this session has told none yet.
     */
    void takeOver(UnitAttentions left) {
        int[] mine = java.util.Arrays.copyOf(queue, count);
        count = 0;
        for (int i = 0; i < left.count; i++) {
            add(left.queue[i]);
        }
        for (int ascq : mine) {
            add(ascq);
        }
        if (knownBlocks < 0) {
            knownBlocks = left.knownBlocks;
        }
    }
}
