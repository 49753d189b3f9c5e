package io.mayastorj.core.bdev;

/**
 * A registered bdev as listings show it.
 *
 * @param device    the device
 * @param uri       the URI it was created from, or null when a subsystem registered it
 * @param claimedBy the owner of the claim on it, or null
 */
public record BdevInfo(BlockDevice device, String uri, String claimedBy) {
}
