package io.mayastorj.nvmf.internal.host;

/**
 * An nvmf bdev as the shell shows it.
 *
 * @param queues "qid:outstanding/depth" of each I/O queue, empty while disconnected
 */
public record NvmfBdevView(String name, String address, String subnqn, boolean connected, String queues,
                           int reconnects, String lastError) {
}
