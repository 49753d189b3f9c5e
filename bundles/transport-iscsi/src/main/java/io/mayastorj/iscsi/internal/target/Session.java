package io.mayastorj.iscsi.internal.target;

import io.mayastorj.iscsi.internal.protocol.Negotiation;
import io.mayastorj.iscsi.internal.scsi.Reservations;
import io.mayastorj.iscsi.internal.scsi.ScsiLun;

/**
 * What the login established for this connection's session (MaxConnections is 1, so one connection
 * is one session): who the initiator is, the target and LUN it logged in to, the negotiated values
 * and its I_T nexus. {@link LoginPhase} fills it in; the full feature phase reads it. Kept apart from
 * the connection so that every piece of the full feature phase reads the session's facts from one
 * place without reaching into the connection's socket and read state. Plain fields: everything here
 * runs on the connection's reactor.
 */
final class Session {

    String initiatorName;
    /** The initiator's ISID and the TSIH the target gave the session at its login (0 before). */
    long isid;
    /** Written last at the login (after ISID and CID): other reactors read it first. */
    volatile int tsih;
    /** The connection's CID, from its first Login PDU. */
    int cid;
    boolean discovery;
    /** The target a normal session logged in to (its LUN 0 is the bdev); null in a discovery session. */
    IscsiTarget.Target lunTarget;
    /** The negotiated values; null until the full feature phase. */
    Negotiation.Outcome params;
    ScsiLun lun;
    /** The LUN's reservations, and this session's I_T nexus (initiator port) they are kept by. */
    Reservations reservations;
    String nexus;
    /** EXTENDED COPY statuses by list id, for RECEIVE COPY RESULTS; the oldest finished ones go first. */
    final java.util.Map<Integer, ExtendedCopy.Status> copies = new java.util.LinkedHashMap<>();
}
