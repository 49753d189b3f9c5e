package io.mayastorj.nexus.internal;

import java.util.List;
import java.util.UUID;

/** A nexus as the API, the CLI and the shell show it; taken on the control thread, so consistent. */
public record NexusView(String name, UUID uuid, long sizeBytes, String state, String deviceUri, List<ChildView> children,
                        io.mayastorj.core.bdev.AccessState access, int incarnation) {

    public record ChildView(String uri, String state, String reason, String cause, long sinceMillis, RebuildView rebuild) {
    }

    /**
     * @param state      waiting, running, paused, cancelled, failed, completed
     * @param total      segments it visits (all for a full rebuild, those written meanwhile for a partial one)
     * @param done       segments done (copied; or zeroed, or skipped, where the source holds no data)
     * @param skipped    segments where neither the source nor the child held data: nothing written
     * @param rate       bytes per second of progress
     * @param etaSeconds -1 when unknown
     */
    public record RebuildView(String state, boolean partial, int segmentBytes, long total, long done, long bytesCopied,
                              long zeroed, long skipped, double progress, double rate, long etaSeconds, long startMillis, String error) {
    }
}
