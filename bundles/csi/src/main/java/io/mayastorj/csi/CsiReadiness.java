package io.mayastorj.csi;

/**
 * A part of the driver that may not be ready to serve yet (the controller while the control plane
 * has no store, the node service before its tools are found). Probe answers ready only when every
 * registered part is.
 */
public interface CsiReadiness {

    /** The driver's name, as Kubernetes knows it (Mayastor's). */
    String DRIVER = "io.openebs.csi-mayastor";

    /** Null when ready; else why not, for the log and Probe's caller. */
    String notReady();
}
