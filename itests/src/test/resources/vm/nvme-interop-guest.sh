#!/bin/sh
# Guest half of NvmeKernelInteropTest: the Linux kernel's NVMe/TCP host (nvme-tcp, nvme-cli)
# against a Mayastor-J target on the host's loopback, reached as 10.0.2.2. Two rounds: the first
# without digests makes a file system and files; the second, with header and data digests,
# finds them, then writes a raw pattern that the test reads back on the host.
#
# GUEST_PORT     the target's port            GUEST_NQN   the subsystem to connect to
# GUEST_SEED     pattern seed                 GUEST_FS_MB size of the file system (MiB)
# GUEST_PATTERN_AT  MiB offset of the raw 8 MiB pattern (beyond the file system)
set -eu
ADDR=10.0.2.2
PORT=$GUEST_PORT
NQN=$GUEST_NQN
step() { echo "== $*"; }
fail() { echo "FAIL: $*"; nvme list-subsys || true; exit 1; }

round() {
  digests=$1
  step "nvme discover -t tcp -a $ADDR -s $PORT $digests"
  # shellcheck disable=SC2086
  nvme discover -t tcp -a "$ADDR" -s "$PORT" $digests >/tmp/disc.txt || fail "discover"
  grep -E 'trtype|subtype|subnqn|trsvcid' /tmp/disc.txt
  grep -q "subnqn: *$NQN\$" /tmp/disc.txt || fail "$NQN is not in the discovery log"

  step "nvme connect -t tcp -a $ADDR -s $PORT -n $NQN $digests"
  # shellcheck disable=SC2086
  nvme connect -t tcp -a "$ADDR" -s "$PORT" -n "$NQN" $digests || fail "connect"
  DEV=$(nvme-wait-ns "$NQN" 60) || fail "the namespace did not appear"
  for c in /sys/class/nvme/nvme*; do
    [ "$(cat "$c/subsysnqn")" = "$NQN" ] || continue
    echo "controller $(basename "$c"): model '$(cat "$c/model" | sed 's/ *$//')', $(cat "$c/transport")" \
         "$(cat "$c/address"), state $(cat "$c/state"), queues $(ls -d /sys/block/"$(basename "$DEV")"/mq/* | wc -l)"
  done
  echo "namespace $DEV: $(blockdev --getsize64 "$DEV") bytes, logical block $(blockdev --getss "$DEV") B"
}

round ""
step "mkfs.ext4 ($GUEST_FS_MB MiB), mount, write files"
mkfs.ext4 -q -F "$DEV" "${GUEST_FS_MB}M"
mkdir -p /mnt/t
mount -t ext4 "$DEV" /mnt/t
echo "hello from the Linux kernel nvme-tcp host, seed $GUEST_SEED" >/mnt/t/hello.txt
dd if=/dev/urandom of=/mnt/t/random.bin bs=1M count=4 status=none
sha256sum /mnt/t/random.bin | cut -d' ' -f1 >/tmp/random.sha
sync
umount /mnt/t
e2fsck -fn "$DEV" >/tmp/fsck.txt 2>&1 || { cat /tmp/fsck.txt; fail "e2fsck after the first round"; }
echo "e2fsck clean"
step "nvme disconnect -n $NQN"
nvme disconnect -n "$NQN"

round "-g -G"
grep -q "hdr_digest\|data_digest" /proc/mounts 2>/dev/null || true
step "mount again (header and data digests on), check the files"
mount -t ext4 -o ro "$DEV" /mnt/t
grep -q "seed $GUEST_SEED" /mnt/t/hello.txt || fail "hello.txt lost"
[ "$(sha256sum /mnt/t/random.bin | cut -d' ' -f1)" = "$(cat /tmp/random.sha)" ] || fail "random.bin differs"
echo "files intact: $(cat /mnt/t/hello.txt)"
umount /mnt/t

step "raw pattern: 8 MiB at $GUEST_PATTERN_AT MiB, O_DIRECT, read back"
yes "$GUEST_SEED" | head -c 8388608 >/tmp/pattern
dd if=/tmp/pattern of="$DEV" bs=1M seek="$GUEST_PATTERN_AT" oflag=direct conv=fsync status=none
echo 3 >/proc/sys/vm/drop_caches
dd if="$DEV" of=/tmp/readback bs=1M skip="$GUEST_PATTERN_AT" count=8 iflag=direct status=none
cmp /tmp/pattern /tmp/readback || fail "pattern read back differs"
echo "pattern OK: $(sha256sum </tmp/pattern | cut -c1-16)"

step "Get LBA Status, action 02h (allocated ranges), from the kernel host with nvme admin-passthru"
# (nvme-cli 2.3's own get-lba-status sends no data buffer: libnvme issue 753)
CTRL=/dev/$(basename "$DEV" | sed 's/n[0-9]*$//; s/c[0-9]*$//')
nvme admin-passthru "$CTRL" --opcode=0x86 --namespace-id=1 --cdw10=0 --cdw11=0 --cdw12=1023 --cdw13=0x02000000 \
    --data-len=4096 --read --raw-binary >/tmp/lba.bin || fail "Get LBA Status"
nlsd=$(od -An -t u4 -N 4 /tmp/lba.bin | tr -d ' ')
cmpc=$(od -An -t u1 -j 4 -N 1 /tmp/lba.bin | tr -d ' ')
echo "LBA-STATUS: descriptors $nlsd, completion $cmpc"
i=0
while [ "$i" -lt "$nlsd" ]; do
  at=$((8 + 16 * i))
  start=$(od -An -t u8 -j "$at" -N 8 /tmp/lba.bin | tr -d ' ')
  nlb=$(od -An -t u4 -j $((at + 8)) -N 4 /tmp/lba.bin | tr -d ' ')
  status=$(od -An -t u1 -j $((at + 13)) -N 1 /tmp/lba.bin | tr -d ' ')
  echo "LBA-RANGE: $start $((nlb + 1)) $status"
  i=$((i + 1))
done

step "nvme disconnect -n $NQN"
nvme disconnect -n "$NQN"
echo "NVME-INTEROP: PASS"
