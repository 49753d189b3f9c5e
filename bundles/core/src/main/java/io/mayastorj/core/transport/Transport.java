package io.mayastorj.core.transport;

import io.mayastorj.core.bdev.BlockDevice;
import java.util.List;

/**
 * A storage protocol target (nvmf, iscsi, or a third party's), registered as a service. The
 * {@link ShareManager} calls it; users never do directly. A transport that stops takes its shares
 * down; when it comes back, the share manager shares again whatever was shared before.
 */
public interface Transport {

    /**
     * The service property a transport component declares its protocol in ({@code
     * @Component(property = Transport.PROTOCOL + "=nbd")}): when the component cannot start (its
     * port is taken, say), the node reads the failure from SCR by it and shows it on the protocol's
     * shares (FAILED, with the reason) instead of leaving them waiting without a word.
     */
    String PROTOCOL = "mayastor.protocol";

    /** The protocol's name, e.g. {@code nvmf}: what users pass as {@code --protocol}. */
    String protocol();

    /**
     * Starts serving {@code device} and returns the URI a host connects to.
     *
     * @throws io.mayastorj.core.error.MayastorException with a kind and a message for the user
     */
    String share(BlockDevice device, ShareOptions options);

    /** Stops serving the device; connected hosts are disconnected. Unknown devices are ignored. */
    void unshare(BlockDevice device);

    /**
     * The hosts connected to the device's share now, each as its name and where it connects from
     * (e.g. {@code nqn.2019-05.io.openebs:node-name:node-1 from 10.0.0.2:53422}); empty when none,
     * or when the transport cannot tell. Unsharing or destroying a device a host uses is refused
     * unless forced, so that a volume is not pulled from under its nexus.
     */
    default List<String> connectedHosts(BlockDevice device) {
        return List.of();
    }
}
