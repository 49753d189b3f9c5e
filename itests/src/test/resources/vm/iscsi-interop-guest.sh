#!/bin/sh
# Guest half of IscsiKernelInteropTest: the Linux kernel's iSCSI initiator (iscsi_tcp, open-iscsi)
# against a Mayastor-J target on the host's loopback, reached as 10.0.2.2. Discovery, login, a raw
# pattern the test reads back on the host, mkfs.ext4, files, logout; then a second login that finds
# the files again.
#
# GUEST_PORT   the target's port      GUEST_IQN  the target to log in to
# GUEST_SEED   pattern seed           GUEST_FS_MB  size of the file system (MiB)
# GUEST_PATTERN_AT  MiB offset of the raw 8 MiB pattern (beyond the file system)
set -eu
PORTAL=10.0.2.2:$GUEST_PORT
IQN=$GUEST_IQN
step() { echo "== $*"; }
fail() { echo "FAIL: $*"; iscsiadm -m session -P3 2>/dev/null || true; dmesg | tail -20; exit 1; }

disk() {
  DEV=""
  i=0
  while [ $i -lt 150 ]; do
    for b in /sys/block/sd*; do
      [ -e "$b" ] || continue
      case "$(readlink -f "$b")" in */session*) DEV=/dev/$(basename "$b") ;; esac
    done
    [ -n "$DEV" ] && [ -b "$DEV" ] && return 0
    i=$((i + 1)); sleep 0.2
  done
  return 1
}

login() {
  step "iscsiadm -m node -T $IQN -p $PORTAL --login"
  iscsiadm -m node -T "$IQN" -p "$PORTAL" --login || fail "login"
  disk || fail "no SCSI disk appeared after login"
  sd=$(basename "$DEV")
  echo "disk $DEV: $(blockdev --getsize64 "$DEV") bytes, logical block $(blockdev --getss "$DEV") B," \
       "vendor '$(cat /sys/block/$sd/device/vendor | sed 's/ *$//')' model '$(cat /sys/block/$sd/device/model | sed 's/ *$//')'"
}

logout() {
  step "iscsiadm -m node -T $IQN -p $PORTAL --logout"
  iscsiadm -m node -T "$IQN" -p "$PORTAL" --logout || fail "logout"
}

step "iscsiadm -m discovery -t sendtargets -p $PORTAL"
iscsiadm -m discovery -t sendtargets -p "$PORTAL" >/tmp/disc.txt || fail "discovery"
cat /tmp/disc.txt
grep -q " $IQN\$" /tmp/disc.txt || fail "$IQN was not discovered"
# the target reports the portal it listens on (127.0.0.1); from in here that is 10.0.2.2
iscsiadm -m node -T "$IQN" -p "$PORTAL" >/dev/null 2>&1 || iscsiadm -m node -o new -T "$IQN" -p "$PORTAL" >/dev/null

login
step "raw pattern: 8 MiB at $GUEST_PATTERN_AT MiB, O_DIRECT, read back"
yes "$GUEST_SEED" | head -c $((8 << 20)) >/tmp/pattern
dd if=/tmp/pattern of="$DEV" bs=1M seek="$GUEST_PATTERN_AT" oflag=direct conv=fsync status=none
echo 3 >/proc/sys/vm/drop_caches
dd if="$DEV" of=/tmp/back bs=1M skip="$GUEST_PATTERN_AT" count=8 iflag=direct status=none
cmp /tmp/pattern /tmp/back || fail "the pattern read back differs"
echo "pattern OK: $(sha256sum </tmp/pattern | cut -c1-16)"

step "mkfs.ext4 ($GUEST_FS_MB MiB), mount, write files"
mkfs.ext4 -q -F "$DEV" "${GUEST_FS_MB}M"
mkdir -p /mnt/t
mount -t ext4 "$DEV" /mnt/t
echo "hello from the Linux kernel iSCSI initiator, seed $GUEST_SEED" >/mnt/t/hello.txt
dd if=/dev/urandom of=/mnt/t/random.bin bs=1M count=4 status=none
sha256sum /mnt/t/random.bin | cut -d' ' -f1 >/tmp/random.sha
sync
umount /mnt/t
e2fsck -fn "$DEV" >/tmp/fsck.txt 2>&1 || { cat /tmp/fsck.txt; fail "e2fsck"; }
echo "e2fsck clean"
logout

login
step "mount again, check the files"
mount -t ext4 "$DEV" /mnt/t
grep -q "seed $GUEST_SEED" /mnt/t/hello.txt || fail "hello.txt lost"
[ "$(sha256sum /mnt/t/random.bin | cut -d' ' -f1)" = "$(cat /tmp/random.sha)" ] || fail "random.bin differs"
echo "files intact: $(cat /mnt/t/hello.txt)"
umount /mnt/t
logout
echo "ISCSI-INTEROP: PASS"
