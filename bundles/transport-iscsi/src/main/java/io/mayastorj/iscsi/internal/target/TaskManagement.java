package io.mayastorj.iscsi.internal.target;

import io.mayastorj.iscsi.internal.protocol.Bhs;
import io.mayastorj.iscsi.internal.scsi.Sense;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Task management functions (RFC 7143 §11.5, SAM-5): ABORT TASK, ABORT TASK SET, LOGICAL UNIT RESET,
 * TARGET WARM RESET and TARGET COLD RESET, each answered with a Task Management Function Response.
 * Aborted tasks get no SCSI Response; resets reach every session of the LUN through the target.
 * Apart because it acts on the connection's tasks from outside their own flow, and on other sessions.
 */
final class TaskManagement {

    private final IscsiConnection connection;
    private final IscsiTarget target;
    private final Session session;
    private final SequenceNumbers sequence;
    private final PduSender sender;
    private final DataPhase dataPhase;
    private final TaskTable tasks;

    TaskManagement(IscsiConnection connection, IscsiTarget target, Session session, SequenceNumbers sequence,
                   PduSender sender, DataPhase dataPhase, TaskTable tasks) {
        this.connection = connection;
        this.target = target;
        this.session = session;
        this.sequence = sequence;
        this.sender = sender;
        this.dataPhase = dataPhase;
        this.tasks = tasks;
    }

    /** The request's LUN field names LUN 0 (peripheral or flat addressing). */
    private static boolean lunZero(ByteBuffer req) {
        return Bhs.lun(req) == 0;
    }

    void request(ByteBuffer req) {
        if (!sequence.acceptCmdSn(req)) {
            return; // sent in order (no I bit), it takes a CmdSN as a command does; out of order, it is dropped as one
        }
        int function = Bhs.flags(req) & 0x7F;
        int response;
        List<Task> atBdev = new ArrayList<>(); // tasks aborted while the bdev has them
        CompletableFuture<Void> others = null; // a reset's aborts of the other sessions' tasks
        Object reservedAtReset = null; // a reset: the SPC-2 reservation as it was, ended once the writes are done (below)
        // ABORT TASK SET and LOGICAL UNIT RESET name a LUN, which must be ours (a target serves LUN 0 only):
        // one addressed elsewhere aborted every session's tasks on LUN 0, and told them all of a reset
        int addressed = (function == 2 || function == 5) && !lunZero(req) ? -1 : function;
        switch (addressed) {
            case -1 -> response = 2; // LUN does not exist
            case 1 -> { // ABORT TASK
                Task t = tasks.get(req.getInt(Bhs.REFERENCED_TASK_TAG));
                if (t == null) {
                    // no such task: it answered already (1) — or another initiator's reset or preemption aborted it
                    // unanswered, which is what this abort asks (Linux escalates "does not exist" to a LUN reset of
                    // its own, aborting the other host's commands in turn)
                    response = abortedElsewhere(req.getInt(Bhs.REFERENCED_TASK_TAG)) ? 0 : 1;
                } else {
                    abort(t, atBdev);
                    response = 0;
                }
            }
            case 2 -> { // ABORT TASK SET
                for (Task t : tasks.tasks()) {
                    abort(t, atBdev);
                }
                response = 0;
            }
            case 5, 6 -> { // LOGICAL UNIT RESET, TARGET WARM RESET: every session's tasks end, and every session hears of it
                for (Task t : tasks.tasks()) {
                    abort(t, atBdev);
                }
                if (session.lunTarget != null) {
                    // the other sessions' tasks too: one of their writes landing after the reset was answered
                    // would land over what the resetting host writes next (clusters break a reservation so)
                    others = target.abortOthersOn(session.lunTarget.device(), connection);
                    reservedAtReset = target.reservations(session.lunTarget.device()).mark();
                    target.unitAttention(session.lunTarget.device(),
                            function == 5 ? Sense.LUN_RESET_OCCURRED : Sense.POWER_ON_OR_RESET);
                }
                response = 0;
            }
            case 7 -> { // TARGET COLD RESET: answered once every session's tasks ended, then every session goes, this one too
                for (Task t : tasks.tasks()) {
                    abort(t, atBdev);
                }
                if (session.lunTarget != null) {
                    others = target.coldReset(session.lunTarget.device(), connection);
                    reservedAtReset = target.reservations(session.lunTarget.device()).mark();
                }
                connection.ending(); // nothing after it is acted on; it closes once its response is out
                response = 0;
            }
            default -> response = 5; // not supported
        }
        int itt = req.getInt(Bhs.ITT);
        int answer = response;
        Runnable answerNow = () -> {
            if (connection.isClosed()) {
                return;
            }
            ByteBuffer rsp = sender.newHeader(Bhs.TASK_MANAGEMENT_RESPONSE, 0);
            rsp.put(1, (byte) Bhs.FINAL);
            rsp.put(2, (byte) answer);
            rsp.putInt(Bhs.ITT, itt);
            sequence.numbers(rsp, true);
            sender.send(rsp, null);
            if (function == 7) {
                connection.answered();
                sender.closeAfterFlush();
            }
            sender.postFlush();
        };
        // A reset ends the SPC-2 reservation only once the aborted writes, and those at the bdev when they are, are
        // done: released at once, another host reserved and wrote, and a late write of the holder's landed over it (as
        // the close of a session waits for its writes before it releases). The holder's connection stays open, so a
        // write it sends after that look can still be at the bdev when another host reserves: a narrower window.
        // Ended only if nothing changed meanwhile: a RESERVE again by the holder, told of the reset, stays
        Object mark = reservedAtReset;
        Runnable respond = mark == null ? answerNow : () -> {
            io.mayastorj.core.bdev.BlockDevice device = session.lunTarget.device();
            target.writesQuiet(device).whenComplete((quiet, failed) -> {
                target.reservations(device).resetSpc2(mark);
                connection.reactor().execute(answerNow);
            });
        };
        // "function complete" only once the aborted tasks can no longer change the medium: a write the
        // bdev still has could otherwise land after the initiator's retry, or after its next write there
        if (others == null) {
            whenDropped(atBdev, respond);
        } else {
            CompletableFuture<Void> elsewhere = others;
            whenDropped(atBdev, () -> elsewhere.whenComplete((done, failed) -> connection.reactor().execute(respond)));
        }
    }

    /**
     * Every task of this connection aborted, for a PREEMPT AND ABORT of its nexus by another: completes
     * once none of them is at the bdev any more. On the connection's reactor.
     */
    CompletableFuture<Void> abortAll() {
        List<Task> atBdev = new ArrayList<>();
        for (Task t : tasks.tasks()) {
            abortedElsewhere[abortedElsewhereNext++ % abortedElsewhere.length] = t.itt;
            abort(t, atBdev);
        }
        CompletableFuture<Void> done = new CompletableFuture<>();
        whenDropped(atBdev, () -> done.complete(null));
        return done;
    }

    /** The EXTENDED COPY tasks writing to {@code device} aborted (a reset or preemption of that LUN); on the reactor. */
    CompletableFuture<Void> abortCopiesInto(io.mayastorj.core.bdev.BlockDevice device) {
        List<Task> atBdev = new ArrayList<>();
        for (Task t : tasks.tasks()) {
            if (t.copyInto != null && t.copyInto.contains(device)) {
                abortedElsewhere[abortedElsewhereNext++ % abortedElsewhere.length] = t.itt;
                abort(t, atBdev);
            }
        }
        CompletableFuture<Void> done = new CompletableFuture<>();
        whenDropped(atBdev, () -> done.complete(null));
        return done;
    }

    /** Tags of the last tasks another initiator's reset or preemption aborted here (they got no answer). */
    private final int[] abortedElsewhere = new int[2 * IscsiConnection.WINDOW];
    private int abortedElsewhereNext;

    private boolean abortedElsewhere(int itt) {
        for (int i = 0; i < Math.min(abortedElsewhereNext, abortedElsewhere.length); i++) {
            if (abortedElsewhere[i] == itt) {
                abortedElsewhere[i] = Bhs.RESERVED_TAG;
                return true;
            }
        }
        return false;
    }

    /** Runs {@code then} once every task of {@code waitFor} has come back from the bdev and been dropped. */
    private static void whenDropped(List<Task> waitFor, Runnable then) {
        if (waitFor.isEmpty()) {
            then.run();
            return;
        }
        int[] left = {waitFor.size()};
        for (Task t : waitFor) {
            Runnable before = t.whenDropped; // aborted by an earlier request too, which waits as well
            t.whenDropped = () -> {
                if (before != null) {
                    before.run();
                }
                if (--left[0] == 0) {
                    then.run();
                }
            };
        }
    }

    /** An aborted task gets no SCSI Response; one still at the bdev is dropped when it returns (added to {@code atBdev}). */
    private void abort(Task t, List<Task> atBdev) {
        t.aborted = true;
        dataPhase.forgetR2t(t);
        if (!t.submitted && !t.awaitingFence) {
            tasks.remove(t.itt);
            if (!dataPhase.holdUntilRead(t)) {
                t.release();
            }
        } else {
            atBdev.add(t); // MediaCommands.bdevDone (or its copy) drops it and frees its buffer
        }
    }
}
