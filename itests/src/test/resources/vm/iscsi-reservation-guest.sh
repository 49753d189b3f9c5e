#!/bin/sh
# Guest half of IscsiReservationTest (VM_HOSTROOT=1: sg3-utils come from the host through hostrun).
# The Linux kernel's iSCSI initiator logs in to two LUNs of a Mayastor-J node on the host (10.0.2.2).
#
# GUEST_PHASE=take: print what the kernel learnt of the LUN (discard and write-same limits, the
#   opcodes sg_opcodes reads from REPORT SUPPORTED OPERATION CODES), copy 4 MiB from the first LUN
#   to the second with sg_xcopy (EXTENDED COPY, done by the target) and compare, then register key
#   GUEST_KEY with APTPL and take a Write Exclusive reservation.
# GUEST_PHASE=check: as another initiator, after the node was killed and restarted: the reservation
#   is still there (READ RESERVATION, PTPL_A), a write is refused with a reservation conflict, a
#   read is allowed.
#
# GUEST_PORT  the target's port    GUEST_IQN1, GUEST_IQN2  the two targets    GUEST_KEY  e.g. 0xabc123
set -eu
PORTAL=10.0.2.2:$GUEST_PORT
step() { echo "== $*"; }
fail() { echo "FAIL: $*"; dmesg | tail -20; exit 1; }

# the sd device of the session logged in to target $1
disk_of() {
  i=0
  while [ $i -lt 150 ]; do
    for s in /sys/class/iscsi_session/session*; do
      [ -e "$s/targetname" ] || continue
      [ "$(cat "$s/targetname")" = "$1" ] || continue
      for b in /sys/block/sd*; do
        case "$(readlink -f "$b")" in *"/$(basename "$s")/"*) echo /dev/$(basename "$b"); return 0 ;; esac
      done
    done
    i=$((i + 1)); sleep 0.2
  done
  return 1
}

login() {
  iscsiadm -m node -T "$1" -p "$PORTAL" >/dev/null 2>&1 || iscsiadm -m node -o new -T "$1" -p "$PORTAL" >/dev/null
  iscsiadm -m node -T "$1" -p "$PORTAL" --login >/dev/null || fail "login to $1"
}

modprobe sg 2>/dev/null || true
step "initiator $(sed 's/InitiatorName=//' /etc/iscsi/initiatorname.iscsi)"
login "$GUEST_IQN1"
A=$(disk_of "$GUEST_IQN1") || fail "no disk for $GUEST_IQN1"
sd=$(basename "$A")

if [ "$GUEST_PHASE" = take ]; then
  login "$GUEST_IQN2"
  B=$(disk_of "$GUEST_IQN2") || fail "no disk for $GUEST_IQN2"
  step "what the kernel learnt of $A"
  for f in discard_max_bytes discard_granularity write_same_max_bytes write_zeroes_max_bytes; do
    echo "queue/$f=$(cat /sys/block/$sd/queue/$f)"
  done
  echo "provisioning_mode=$(cat /sys/block/$sd/device/scsi_disk/*/provisioning_mode)"
  step "sg_opcodes $A"
  hostrun sg_opcodes "$A" || fail "sg_opcodes"

  step "sg_xcopy: 4 MiB from $A to $B, done by the target"
  dd if=/dev/urandom of=/tmp/src bs=1M count=4 status=none
  dd if=/tmp/src of="$A" bs=1M oflag=direct conv=fsync status=none
  sgA=/dev/$(ls /sys/block/$sd/device/scsi_generic/) sgB=/dev/$(ls /sys/block/$(basename "$B")/device/scsi_generic/)
  ls -l "$sgA" "$sgB"
  hostrun sg_xcopy if="$sgA" of="$sgB" bs=512 count=8192 || fail "sg_xcopy"
  dd if="$B" of=/tmp/dst bs=1M count=4 iflag=direct status=none
  cmp /tmp/src /tmp/dst || fail "the copy differs"
  echo "XCOPY-COMPARED: 4194304 bytes"
  iscsiadm -m node -T "$GUEST_IQN2" -p "$PORTAL" --logout >/dev/null

  step "register $GUEST_KEY with APTPL, reserve Write Exclusive"
  hostrun sg_persist --out --register --param-sark="$GUEST_KEY" --param-aptpl "$A" || fail "register"
  hostrun sg_persist --out --reserve --param-rk="$GUEST_KEY" --prout-type=1 "$A" || fail "reserve"
  hostrun sg_persist --in --report-capabilities "$A"
  hostrun sg_persist --in --read-reservation "$A"
  dd if=/tmp/src of="$A" bs=4096 count=1 oflag=direct conv=fsync status=none || fail "the holder's write"
  echo "RESERVATION-TAKEN"
else
  step "after the restart, as another initiator"
  hostrun sg_persist --in --report-capabilities "$A" | tee /tmp/caps
  hostrun sg_persist --in --read-keys "$A"
  hostrun sg_persist --in --read-reservation "$A" | tee /tmp/resv
  grep -qi "Key=$GUEST_KEY" /tmp/resv || fail "no reservation with key $GUEST_KEY"
  grep -qi "Write Exclusive" /tmp/resv || fail "not Write Exclusive"
  dd if="$A" of=/dev/null bs=4096 count=1 iflag=direct status=none || fail "a read under Write Exclusive"
  if dd if=/dev/zero of="$A" bs=4096 count=1 oflag=direct status=none 2>/tmp/dd.err; then
    fail "a write from a non-holder went through"
  fi
  cat /tmp/dd.err
  dmesg | grep -i "reservation conflict" | tail -2
  echo "RESERVATION-HELD"
fi
iscsiadm -m node -T "$GUEST_IQN1" -p "$PORTAL" --logout >/dev/null
echo "ISCSI-RESERVATION: PASS"
