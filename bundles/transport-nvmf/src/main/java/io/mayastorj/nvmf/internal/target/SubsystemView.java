package io.mayastorj.nvmf.internal.target;

import java.util.List;

/**
 * A subsystem as the shell shows it.
 *
 * @param bdev        the namespace's bdev, or null for the discovery subsystem
 * @param controllers "cntlid host-nqn" of each live controller
 */
public record SubsystemView(String nqn, String bdev, List<String> allowedHosts, List<String> controllers,
                            long commandsInFlight) {
}
