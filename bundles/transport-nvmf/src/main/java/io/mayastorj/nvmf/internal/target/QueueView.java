package io.mayastorj.nvmf.internal.target;

/**
 * One connection as the shell shows it.
 *
 * @param subsystem the NQN, or "-" before Connect
 * @param qid       0 for the admin queue, -1 before Connect
 * @param depth     the entries the host may fill (SQSIZE + 1)
 * @param inFlight  commands taken and not yet answered
 */
public record QueueView(String peer, int reactor, String subsystem, int cntlid, int qid, int depth, int inFlight,
                        long commands, boolean headerDigest, boolean dataDigest) {
}
