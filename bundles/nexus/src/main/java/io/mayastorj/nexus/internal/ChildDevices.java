package io.mayastorj.nexus.internal;

/**
 * Opens and closes the bdevs behind children: {@code bdev:///NAME} names a bdev of this node
 * (a local replica), any other URI is created through the registry (an {@code nvmf://} remote
 * replica) and destroyed again when the child goes. Either way the nexus claims it.
 */
interface ChildDevices {

    /**
     * Opens and claims the child's bdev and sets {@link Child#device}, {@link Child#claim} and
     * {@link Child#created}. Blocking (a remote child connects).
     *
     * @throws io.mayastorj.core.error.MayastorException with the reason, for the user
     */
    void open(Child child);

    /** Releases the claim and destroys what {@link #open} created. Blocking (waits for I/O in flight). */
    void close(Child child);
}
