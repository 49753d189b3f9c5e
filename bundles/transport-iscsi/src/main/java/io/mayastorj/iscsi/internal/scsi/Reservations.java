package io.mayastorj.iscsi.internal.scsi;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The reservations of one LUN: SPC-2's RESERVE/RELEASE and SPC-4's persistent reservations
 * (PERSISTENT RESERVE IN/OUT, §5.13 and §6.15–6.16), which is what Kubernetes fencing and cluster
 * managers use to keep a node that lost its lease from writing. Both are kept by I_T nexus, the
 * iSCSI initiator port ({@code iqn…,i,0x<ISID>}).
 *
 * <p>Every command asks {@link #conflicts}: that reads one volatile snapshot and takes no lock, so
 * the I/O path pays nothing while nobody holds a reservation. Changes are rare and serialised on
 * this object; each publishes a new snapshot. Unit attentions for other nexuses (registrations
 * preempted, reservations released) go to {@link Attentions}.
 *
 * <p>APTPL (activate persist through power loss): where the target gives this LUN a file (the
 * node's state directory), a REGISTER with APTPL=1 makes every later change of the persistent
 * reservations durable before its GOOD goes out — written whole to a new file, forced, and renamed
 * over the old — and a restarted node loads them back; APTPL=0 deletes the file, and the
 * reservations last as long as the process (SPC-4 §5.13.5: the last APTPL received counts). REPORT
 * CAPABILITIES says PTPL_C and, while active, PTPL_A. Without a file APTPL=1 is refused.
 * SPC-2 RESERVE/RELEASE is never persisted.
 */
public final class Reservations {

    /** Delivers a unit attention to every connection of one I_T nexus. */
    public interface Attentions {
        void post(String nexus, int ascq);
    }

    // PERSISTENT RESERVE OUT service actions
    static final int REGISTER = 0;
    static final int RESERVE = 1;
    static final int RELEASE = 2;
    static final int CLEAR = 3;
    static final int PREEMPT = 4;
    static final int PREEMPT_AND_ABORT = 5;
    static final int REGISTER_AND_IGNORE = 6;

    // persistent reservation types
    static final int WRITE_EXCLUSIVE = 1;
    static final int EXCLUSIVE_ACCESS = 3;
    static final int WRITE_EXCLUSIVE_REGISTRANTS_ONLY = 5;
    static final int EXCLUSIVE_ACCESS_REGISTRANTS_ONLY = 6;
    static final int WRITE_EXCLUSIVE_ALL_REGISTRANTS = 7;
    static final int EXCLUSIVE_ACCESS_ALL_REGISTRANTS = 8;

    /** The parameter list of every service action we take (no SPEC_I_PT, no REGISTER AND MOVE). */
    public static final int PARAMETER_LIST_LENGTH = 24;

    /** What a command does, for the access rules of SPC-2 §5.5.1, SPC-4 table 49 and SBC-3 table 13. */
    enum Access {
        /** Allowed whoever holds what: INQUIRY, REPORT LUNS, REQUEST SENSE, RELEASE. */
        ALWAYS,
        /** Allowed under persistent reservations, not under another's SPC-2 one: TEST UNIT READY, READ CAPACITY, PR IN/OUT, RESERVE. */
        QUERY,
        /** Reads: allowed to everyone under the write-exclusive types. */
        READ,
        /** Writes and anything else that changes the LUN. */
        WRITE
    }

    static Access access(byte[] cdb) {
        return switch (cdb[0] & 0xFF) {
            case ScsiLun.INQUIRY, ScsiLun.REPORT_LUNS, ScsiLun.REQUEST_SENSE, ScsiLun.RELEASE_6, ScsiLun.RELEASE_10,
                 ScsiLun.MAINTENANCE_IN -> Access.ALWAYS;
            // EXTENDED COPY is checked against each copy target's reservations as it reads or writes it
            case ScsiLun.TEST_UNIT_READY, ScsiLun.READ_CAPACITY_10, ScsiLun.PERSISTENT_RESERVE_IN, ScsiLun.PERSISTENT_RESERVE_OUT,
                 ScsiLun.RESERVE_6, ScsiLun.RESERVE_10, ScsiLun.EXTENDED_COPY, ScsiLun.RECEIVE_COPY_RESULTS -> Access.QUERY;
            case ScsiLun.SERVICE_ACTION_IN_16 -> (cdb[1] & 0x1F) == ScsiLun.READ_CAPACITY_16 ? Access.QUERY : Access.READ;
            case ScsiLun.READ_6, ScsiLun.READ_10, ScsiLun.READ_12, ScsiLun.READ_16, ScsiLun.VERIFY_10, ScsiLun.VERIFY_12,
                 ScsiLun.VERIFY_16, ScsiLun.MODE_SENSE_6, ScsiLun.MODE_SENSE_10, ScsiLun.START_STOP_UNIT,
                 ScsiLun.PRE_FETCH_10, ScsiLun.PRE_FETCH_16, ScsiLun.READ_DEFECT_DATA_10, ScsiLun.READ_DEFECT_DATA_12 -> Access.READ;
            default -> Access.WRITE;
        };
    }

    /** One immutable view; replaced whole on every change. */
    private record State(String spc2Holder, Map<String, Long> keys, int generation, String holder, int type) {
        boolean held() {
            return spc2Holder != null || type != 0;
        }

        boolean allRegistrants() {
            return type == WRITE_EXCLUSIVE_ALL_REGISTRANTS || type == EXCLUSIVE_ACCESS_ALL_REGISTRANTS;
        }

        /** A holder of the persistent reservation: the one nexus, or with all-registrants types every registrant. */
        boolean holds(String nexus) {
            return type != 0 && (allRegistrants() ? keys.containsKey(nexus) : nexus.equals(holder));
        }
    }

    private static final State EMPTY = new State(null, Map.of(), 0, null, 0);

    private final Attentions attentions;
    /** Where APTPL keeps the persistent reservations; null: APTPL is not offered. */
    private final Path file;
    private volatile State state = EMPTY;
    /** The last REGISTER's APTPL bit: changes go to {@link #file} while set. */
    private boolean aptpl;

    public Reservations(Attentions attentions) {
        this(attentions, null);
    }

    /**
     * Reservations that can persist through a restart in {@code file} (null: they cannot), loaded
     * from it when a previous process left them there.
     */
    public Reservations(Attentions attentions, Path file) {
        this.attentions = attentions;
        this.file = file;
        if (file != null && Files.exists(file)) {
            try {
                state = load(Files.readAllLines(file, StandardCharsets.UTF_8));
                aptpl = true;
            } catch (IOException | RuntimeException e) {
                // a torn or foreign file: the reservations are lost, and the log says so
                System.getLogger("mayastor.iscsi").log(System.Logger.Level.ERROR,
                        "persistent reservations in {0} cannot be read ({1}); the LUN starts without them", file, e.toString());
            }
        }
    }

    /** True while the persistent reservations are kept through restarts. */
    public synchronized boolean persistent() {
        return aptpl;
    }

    // ------------------------------------------------------------------ the I/O path

    /** True when a reservation held by someone else forbids {@code nexus} this command. */
    public boolean conflicts(String nexus, byte[] cdb) {
        State s = state;
        if (s.spc2Holder != null && persistentReserve(cdb)) {
            // SPC-2 §5.5.1, SPC-4 §5.13.3: while RESERVE holds the LUN every PERSISTENT RESERVE IN and OUT
            // conflicts, its holder's too (a registration by the holder would leave it no RELEASE)
            return true;
        }
        return s.held() && conflicts(s, nexus, access(cdb));
    }

    private static boolean persistentReserve(byte[] cdb) {
        int opcode = cdb[0] & 0xFF;
        return opcode == ScsiLun.PERSISTENT_RESERVE_IN || opcode == ScsiLun.PERSISTENT_RESERVE_OUT;
    }

    private static boolean conflicts(State s, String nexus, Access access) {
        if (access == Access.ALWAYS) {
            return false;
        }
        if (s.spc2Holder != null) {
            return !s.spc2Holder.equals(nexus);
        }
        if (access == Access.QUERY || s.holds(nexus)) {
            return false;
        }
        boolean registered = s.keys.containsKey(nexus);
        return switch (s.type) {
            case WRITE_EXCLUSIVE -> access == Access.WRITE;
            case WRITE_EXCLUSIVE_REGISTRANTS_ONLY, WRITE_EXCLUSIVE_ALL_REGISTRANTS -> !registered && access == Access.WRITE;
            case EXCLUSIVE_ACCESS_REGISTRANTS_ONLY, EXCLUSIVE_ACCESS_ALL_REGISTRANTS -> !registered;
            default -> true; // EXCLUSIVE_ACCESS
        };
    }

    // ------------------------------------------------------------------ SPC-2 RESERVE / RELEASE

    /**
     * RESERVE(6)/(10): true when {@code nexus} holds the LUN now. While any persistent registration
     * exists, RESERVE and RELEASE conflict (SPC-4 §5.13.3).
     */
    public synchronized boolean reserve(String nexus) {
        State s = state;
        if (!s.keys.isEmpty() || s.type != 0 || s.spc2Holder != null && !s.spc2Holder.equals(nexus)) {
            return false;
        }
        state = new State(nexus, s.keys, s.generation, null, 0);
        return true;
    }

    /** RELEASE(6)/(10): false on a conflict; a non-holder's release changes nothing and is GOOD. */
    public synchronized boolean release(String nexus) {
        State s = state;
        if (!s.keys.isEmpty() || s.type != 0) {
            return false;
        }
        endSpc2(nexus);
        return true;
    }

    /** The nexus logged out or lost its connection: its SPC-2 reservation ends, persistent ones stay. */
    public synchronized void endSpc2(String nexus) {
        State s = state;
        if (nexus.equals(s.spc2Holder)) {
            state = new State(null, s.keys, s.generation, s.holder, s.type);
        }
    }

    /** LUN RESET and the target resets end an SPC-2 reservation whoever holds it; persistent ones stay. */
    public synchronized void resetSpc2() {
        State s = state;
        if (s.spc2Holder != null) {
            state = new State(null, s.keys, s.generation, s.holder, s.type);
        }
    }

    /** The reservations as they are now, for {@link #resetSpc2(Object)}: any change (a RESERVE again too) is another. */
    public synchronized Object mark() {
        return state;
    }

    /**
     * A reset's end of the SPC-2 reservation, once its aborted writes are done: only when nothing
     * changed since {@code mark}. Ended whatever came meanwhile, it dropped a reservation the holder
     * took again after hearing of the reset (or one another host took after a release), unsaid.
     */
    public synchronized void resetSpc2(Object mark) {
        if (state == mark) {
            resetSpc2();
        }
    }

    // ------------------------------------------------------------------ PERSISTENT RESERVE IN

    /** PERSISTENT RESERVE IN (5Eh): the whole answer; the caller truncates it to the allocation length. */
    public byte[] in(byte[] cdb) throws ScsiLun.Check {
        State s = state;
        int action = cdb[1] & 0x1F;
        return switch (action) {
            case 0 -> readKeys(s);
            case 1 -> readReservation(s);
            case 2 -> reportCapabilities(file != null, persistent());
            case 3 -> readFullStatus(s);
            default -> throw new ScsiLun.Check(Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 1, 4));
        };
    }

    private static byte[] readKeys(State s) {
        ByteBuffer b = ByteBuffer.allocate(8 + 8 * s.keys.size());
        b.putInt(s.generation).putInt(8 * s.keys.size());
        s.keys.values().forEach(b::putLong);
        return b.array();
    }

    private static byte[] readReservation(State s) {
        if (s.type == 0) {
            return ByteBuffer.allocate(8).putInt(s.generation).putInt(0).array();
        }
        ByteBuffer b = ByteBuffer.allocate(24).putInt(s.generation).putInt(16);
        b.putLong(s.allRegistrants() ? 0 : s.keys.getOrDefault(s.holder, 0L)); // all-registrants: key 0 (SPC-4 §5.13.10)
        b.put(21, (byte) s.type); // scope 0: the logical unit
        return b.array();
    }

    private static byte[] reportCapabilities(boolean capable, boolean active) {
        byte[] c = new byte[8];
        c[1] = 8;
        c[2] = (byte) (0x04 | (capable ? 0x01 : 0)); // ATP_C: one target port is all target ports; PTPL_C; no SIP_C
        c[3] = (byte) (0x80 | (active ? 0x01 : 0)); // TMV: the type mask is valid; ALLOW COMMANDS 0; PTPL_A
        c[4] = (byte) (0x80 | 0x40 | 0x20 | 0x08 | 0x02); // WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX
        c[5] = 0x01; // EX_AC_AR
        return c;
    }

    /** READ FULL STATUS: one descriptor per registration, with its iSCSI TransportID (format 01: name,i,0xISID). */
    private static byte[] readFullStatus(State s) {
        List<byte[]> descriptors = new ArrayList<>();
        int total = 0;
        for (Map.Entry<String, Long> e : s.keys.entrySet()) {
            byte[] name = e.getKey().getBytes(StandardCharsets.UTF_8);
            int idLength = (4 + name.length + 1 + 3) & ~3; // null-terminated, padded to a multiple of 4
            idLength = Math.max(idLength, 24);
            ByteBuffer d = ByteBuffer.allocate(24 + idLength);
            d.putLong(e.getValue());
            if (s.holds(e.getKey())) {
                d.put(12, (byte) 0x01); // R_HOLDER
                d.put(13, (byte) s.type);
            }
            d.put(12, (byte) (d.get(12) | 0x02)); // ALL_TG_PT: there is one target port
            d.putShort(18, (short) 1); // relative target port identifier
            d.putInt(20, idLength);
            d.put(24, (byte) 0x45); // FORMAT CODE 01, PROTOCOL IDENTIFIER 5 (iSCSI)
            d.putShort(26, (short) (idLength - 4));
            d.put(28, name);
            descriptors.add(d.array());
            total += d.capacity();
        }
        ByteBuffer b = ByteBuffer.allocate(8 + total).putInt(s.generation).putInt(total);
        descriptors.forEach(b::put);
        return b.array();
    }

    // ------------------------------------------------------------------ PERSISTENT RESERVE OUT

    /**
     * PERSISTENT RESERVE OUT (5Fh) from {@code nexus} with its parameter list: GOOD or RESERVATION
     * CONFLICT as the status, or a {@link ScsiLun.Check} for a bad CDB or parameter list.
     */
    public synchronized int out(String nexus, byte[] cdb, ByteBuffer list, int listLength) throws ScsiLun.Check {
        return out(nexus, cdb, list, listLength, new ArrayList<>());
    }

    /**
     * As {@link #out(String, byte[], ByteBuffer, int)}; a PREEMPT AND ABORT that succeeds adds the
     * nexuses it preempted to {@code aborted}: their tasks are to be aborted before it completes.
     */
    public synchronized int out(String nexus, byte[] cdb, ByteBuffer list, int listLength, List<String> aborted)
            throws ScsiLun.Check {
        preempted.clear();
        int status = outLocked(nexus, cdb, list, listLength);
        if (status == Sense.GOOD && (cdb[1] & 0x1F) == PREEMPT_AND_ABORT) {
            aborted.addAll(preempted);
        }
        return status;
    }

    /** The nexuses the last PREEMPT removed (guarded by this). */
    private final List<String> preempted = new ArrayList<>();

    private int outLocked(String nexus, byte[] cdb, ByteBuffer list, int listLength) throws ScsiLun.Check {
        int action = cdb[1] & 0x1F;
        int scope = (cdb[2] & 0xF0) >>> 4;
        int type = cdb[2] & 0x0F;
        if (action > REGISTER_AND_IGNORE) { // REGISTER AND MOVE and beyond: not offered
            throw new ScsiLun.Check(Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 1, 4));
        }
        if (Cdb.u32(cdb, 5) != PARAMETER_LIST_LENGTH || listLength < PARAMETER_LIST_LENGTH) {
            throw new ScsiLun.Check(Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.PARAMETER_LIST_LENGTH_ERROR));
        }
        long key = list.getLong(0);
        long actionKey = list.getLong(8);
        int flags = list.get(20) & 0xFF;
        if ((flags & 0x08) != 0) { // SPEC_I_PT: not offered
            throw new ScsiLun.Check(Sense.illegal(Sense.INVALID_FIELD_IN_PARAMETER_LIST, false, 20, 3));
        }
        boolean registering = action == REGISTER || action == REGISTER_AND_IGNORE;
        if ((flags & 0x01) != 0 && registering && file == null) { // APTPL where nothing can keep them
            throw new ScsiLun.Check(Sense.illegal(Sense.INVALID_FIELD_IN_PARAMETER_LIST, false, 20, 0));
        }
        State before = state;
        boolean aptplBefore = aptpl;
        int status = change(nexus, action, scope, type, key, actionKey);
        if (status != Sense.GOOD) {
            return status;
        }
        if (registering && state != before) {
            // the last REGISTER's APTPL counts; other actions ignore the bit, and so does a REGISTER that
            // did nothing (an unregistered nexus unregistering: SPC-4 "no action"), or one path's cleanup
            // would delete the file and with it the fencing a restart must keep
            aptpl = (flags & 0x01) != 0;
        }
        boolean replaced = false; // the file on disk says the new state (durably or not)
        try {
            if (aptpl) {
                Files.move(written(), file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                replaced = true;
                syncDirectory(); // the rename itself is durable
            } else if (aptplBefore) {
                Files.deleteIfExists(file);
                replaced = true;
                syncDirectory(); // else a power loss can bring the file back, and APTPL with it
            }
        } catch (IOException e) {
            if (!replaced) {
                state = before; // not durable, so not done
                aptpl = aptplBefore;
            } // else memory keeps what the file holds: a restart loads that; the initiator reads it back
            System.getLogger("mayastor.iscsi").log(System.Logger.Level.ERROR,
                    "cannot keep the persistent reservations in {0}: {1}", file, e.toString());
            throw new ScsiLun.Check(Sense.fixed(Sense.HARDWARE_ERROR, Sense.INTERNAL_TARGET_FAILURE));
        }
        return Sense.GOOD;
    }

    /** The service action itself, on the current state: GOOD or RESERVATION CONFLICT. */
    private int change(String nexus, int action, int scope, int type, long key, long actionKey) throws ScsiLun.Check {
        State s = state;
        if (s.spc2Holder != null) {
            return Sense.RESERVATION_CONFLICT; // see conflicts: the holder's too
        }
        Long registered = s.keys.get(nexus);
        if (action == REGISTER_AND_IGNORE || action == REGISTER) {
            if (action == REGISTER && (registered == null ? key != 0 : registered != key)) {
                return Sense.RESERVATION_CONFLICT;
            }
            register(s, nexus, registered, actionKey);
            return Sense.GOOD;
        }
        if (registered == null || registered != key) {
            return Sense.RESERVATION_CONFLICT;
        }
        if (action == RESERVE && !validScopeAndType(scope, type)) {
            throw new ScsiLun.Check(Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 2, -1));
        }
        return switch (action) {
            case RESERVE -> {
                if (s.type == 0) {
                    state = new State(s.spc2Holder, s.keys, s.generation, nexus, type);
                    yield Sense.GOOD;
                }
                yield s.holds(nexus) && s.type == type ? Sense.GOOD : Sense.RESERVATION_CONFLICT;
            }
            case RELEASE -> release(s, nexus, scope, type);
            case CLEAR -> {
                state = new State(s.spc2Holder, Map.of(), s.generation + 1, null, 0);
                s.keys.keySet().stream().filter(n -> !n.equals(nexus)).forEach(n -> attentions.post(n, Sense.RESERVATIONS_PREEMPTED));
                yield Sense.GOOD;
            }
            default -> preempt(s, nexus, actionKey, scope, type);
        };
    }

    private static boolean validScopeAndType(int scope, int type) {
        return scope == 0 && switch (type) {
            case WRITE_EXCLUSIVE, EXCLUSIVE_ACCESS, WRITE_EXCLUSIVE_REGISTRANTS_ONLY, EXCLUSIVE_ACCESS_REGISTRANTS_ONLY,
                 WRITE_EXCLUSIVE_ALL_REGISTRANTS, EXCLUSIVE_ACCESS_ALL_REGISTRANTS -> true;
            default -> false;
        };
    }

    /** REGISTER / REGISTER AND IGNORE EXISTING KEY, the checks done: a new key, or 0 to unregister. */
    private void register(State s, String nexus, Long registered, long actionKey) {
        if (registered == null && actionKey == 0) {
            return; // nothing to unregister: GOOD, and the generation stays
        }
        Map<String, Long> keys = new LinkedHashMap<>(s.keys);
        String holder = s.holder;
        int type = s.type;
        if (actionKey == 0) {
            keys.remove(nexus);
            boolean holderLeaves = s.allRegistrants() ? keys.isEmpty() : nexus.equals(s.holder);
            if (s.type != 0 && holderLeaves) {
                // a registrants-only or all-registrants reservation released this way tells the others
                if (s.type == WRITE_EXCLUSIVE_REGISTRANTS_ONLY || s.type == EXCLUSIVE_ACCESS_REGISTRANTS_ONLY) {
                    keys.keySet().forEach(n -> attentions.post(n, Sense.RESERVATIONS_RELEASED));
                }
                holder = null;
                type = 0;
            }
        } else {
            keys.put(nexus, actionKey);
        }
        state = new State(s.spc2Holder, keys, s.generation + 1, holder, type);
    }

    private int release(State s, String nexus, int scope, int type) throws ScsiLun.Check {
        if (s.type == 0 || !s.holds(nexus)) {
            return Sense.GOOD; // nothing held, or held by another: a no-op
        }
        if (scope != 0 || type != s.type) {
            throw new ScsiLun.Check(Sense.fixed(Sense.ILLEGAL_REQUEST, Sense.INVALID_RELEASE_OF_PERSISTENT_RESERVATION));
        }
        state = new State(s.spc2Holder, s.keys, s.generation, null, 0);
        if (type != WRITE_EXCLUSIVE && type != EXCLUSIVE_ACCESS) {
            s.keys.keySet().stream().filter(n -> !n.equals(nexus)).forEach(n -> attentions.post(n, Sense.RESERVATIONS_RELEASED));
        }
        return Sense.GOOD;
    }

    /** PREEMPT (and PREEMPT AND ABORT, whose tasks end with the preempted nexus's own commands). */
    private int preempt(State s, String nexus, long victim, int scope, int type) throws ScsiLun.Check {
        Map<String, Long> keys = new LinkedHashMap<>(s.keys);
        List<String> removed = new ArrayList<>();
        boolean takesReservation = s.type != 0
                && (s.allRegistrants() ? victim == 0 : Objects.equals(victim, s.keys.get(s.holder)));
        if (takesReservation) {
            if (!validScopeAndType(scope, type)) { // only then: removing registrations alone ignores them (SPC-4 §5.13.11.2.4)
                throw new ScsiLun.Check(Sense.illegal(Sense.INVALID_FIELD_IN_CDB, true, 2, -1));
            }
            // the holder's key (or, all-registrants, key 0: everybody else) goes; the reservation is ours
            for (var e : s.keys.entrySet()) {
                if (!e.getKey().equals(nexus) && (s.allRegistrants() || e.getValue() == victim)) {
                    removed.add(e.getKey());
                }
            }
            removed.forEach(keys::remove);
            state = new State(s.spc2Holder, keys, s.generation + 1, nexus, type);
            removed.forEach(n -> attentions.post(n, Sense.REGISTRATIONS_PREEMPTED));
            preempted.addAll(removed);
            if (s.type != type) {
                keys.keySet().stream().filter(n -> !n.equals(nexus)).forEach(n -> attentions.post(n, Sense.RESERVATIONS_RELEASED));
            }
            return Sense.GOOD;
        }
        if (victim == 0) {
            throw new ScsiLun.Check(Sense.illegal(Sense.INVALID_FIELD_IN_PARAMETER_LIST, false, 8, -1));
        }
        for (var e : s.keys.entrySet()) {
            if (e.getValue() == victim) {
                removed.add(e.getKey());
            }
        }
        if (removed.isEmpty()) {
            return Sense.RESERVATION_CONFLICT;
        }
        removed.forEach(keys::remove);
        String holder = s.holder;
        int held = s.type;
        if (held != 0 && (s.allRegistrants() ? keys.isEmpty() : removed.contains(s.holder))) {
            holder = null;
            held = 0;
        }
        state = new State(s.spc2Holder, keys, s.generation + 1, holder, held);
        removed.stream().filter(n -> !n.equals(nexus)).forEach(n -> attentions.post(n, Sense.REGISTRATIONS_PREEMPTED));
        removed.stream().filter(n -> !n.equals(nexus)).forEach(preempted::add);
        return Sense.GOOD;
    }

    // ------------------------------------------------------------------ inspection

    // ------------------------------------------------------------------ APTPL

    /**
     * The persistent reservations as lines of text — generation, type and holder, then one line per
     * registration (key in hex, nexus); I_T nexus names hold no spaces (iSCSI names and ISIDs) —
     * written and synced beside the file, which it replaces by a rename: returns where.
     */
    private Path written() throws IOException {
        State s = state;
        StringBuilder b = new StringBuilder("# persistent reservations (APTPL), written by the iSCSI target\n");
        b.append("generation ").append(s.generation).append('\n');
        b.append("type ").append(s.type).append('\n');
        if (s.holder != null) {
            b.append("holder ").append(s.holder).append('\n');
        }
        s.keys.forEach((nexus, k) -> b.append("key ").append(Long.toHexString(k)).append(' ').append(nexus).append('\n'));
        Files.createDirectories(file.getParent());
        Path next = file.resolveSibling(file.getFileName() + ".new");
        try (FileChannel c = FileChannel.open(next, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            c.write(ByteBuffer.wrap(b.toString().getBytes(StandardCharsets.UTF_8)));
            c.force(true);
        }
        return next;
    }

    private void syncDirectory() throws IOException {
        try (FileChannel dir = FileChannel.open(file.getParent(), StandardOpenOption.READ)) {
            dir.force(true);
        }
    }

    private static State load(List<String> lines) {
        int generation = 0;
        int type = 0;
        String holder = null;
        Map<String, Long> keys = new LinkedHashMap<>();
        for (String line : lines) {
            String[] f = line.strip().split(" ", 3);
            switch (f[0]) {
                case "generation" -> generation = Integer.parseInt(f[1]);
                case "type" -> type = Integer.parseInt(f[1]);
                case "holder" -> holder = f[1];
                case "key" -> keys.put(f[2], Long.parseUnsignedLong(f[1], 16));
                default -> {
                    if (!f[0].isEmpty() && !f[0].startsWith("#")) {
                        throw new IllegalArgumentException("unknown line: " + line);
                    }
                }
            }
        }
        if (type != 0 && (type < WRITE_EXCLUSIVE || type > EXCLUSIVE_ACCESS_ALL_REGISTRANTS)) {
            throw new IllegalArgumentException("reservation type " + type);
        }
        return new State(null, keys, generation, holder, type);
    }

    /** For the shell: who is registered and who holds what. */
    public String describe() {
        State s = state;
        if (s.spc2Holder != null) {
            return "RESERVE (SPC-2) by " + s.spc2Holder;
        }
        if (s.keys.isEmpty()) {
            return "none";
        }
        String type = switch (s.type) {
            case WRITE_EXCLUSIVE -> "write exclusive";
            case EXCLUSIVE_ACCESS -> "exclusive access";
            case WRITE_EXCLUSIVE_REGISTRANTS_ONLY -> "write exclusive, registrants only";
            case EXCLUSIVE_ACCESS_REGISTRANTS_ONLY -> "exclusive access, registrants only";
            case WRITE_EXCLUSIVE_ALL_REGISTRANTS -> "write exclusive, all registrants";
            default -> "exclusive access, all registrants";
        };
        return s.keys.size() + " registered (generation " + s.generation + ")"
                + (s.type == 0 ? ", not reserved" : ", " + type + (s.allRegistrants() ? "" : " held by " + s.holder))
                + (persistent() ? ", kept through restarts (APTPL)" : "");
    }
}
