#!/bin/sh
# The NBD plugin on an aio bdev over a file on a real file system (O_DIRECT: completions come on the
# device's reaper, not inline as on a RAM file), fio's nbd engine, 4 KiB random read at 2x16 and
# 1x32, two rounds. Give it the plugin jar to run, e.g. two builds' to compare them in one sitting:
#   benchmarks/nbd-disk.sh distribution/target/mayastor/extras/transport-nbd-*.jar [LABEL]
# (a 1 GiB file in /var/tmp is made once and kept; ports 10195, 8435, 3265 must be free)
set -eu
[ $# -ge 1 ] || { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
JAR=$(readlink -f "$1")
LABEL=${2:-$(basename "$JAR")}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
M="$ROOT/distribution/target/mayastor/bin/mayastor"
IMG=/var/tmp/mayastor-nbd-disk.img
D=$(mktemp -d /var/tmp/nbd-disk.XXXXXX)
cleanup() { [ -n "${P:-}" ] && kill "$P" 2>/dev/null && wait "$P" 2>/dev/null; rm -rf "$D"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$D/plugins"; cp "$JAR" "$D/plugins/"
[ -f "$IMG" ] || dd if=/dev/urandom of="$IMG" bs=1M count=1024 status=none
"$M" node --node-id nbd-disk --grpc-endpoint 127.0.0.1:10195 --state-dir "$D/state" --plugins-dir "$D/plugins" \
    --nvmf-port 8435 --nvmf-nexus-port 9435 --iscsi-port 3265 --buffers-mb 256 >"$D/node.log" 2>&1 &
P=$!
for _ in $(seq 150); do grep -q "plugin io.mayastorj.plugins.nbd" "$D/node.log" 2>/dev/null && break; sleep 0.2; done
B=$("$M" ctl --node 127.0.0.1:10195 bdev create "aio://$IMG" | awk 'NR==2 {print $1}')
U=$("$M" ctl --node 127.0.0.1:10195 bdev share "$B" --protocol nbd)
for round in 1 2; do
    for jobs in "2 16" "1 32"; do
        set -- $jobs
        fio --name=r --ioengine=nbd --uri="$U" --size=1G --rw=randread --bs=4k --numjobs="$1" --iodepth="$2" \
            --runtime=6 --ramp_time=1 --time_based --group_reporting >"$D/fio.out" 2>&1 || { cat "$D/fio.out" >&2; exit 1; }
        echo "$LABEL round $round $1x$2 $(awk '/^ *read: IOPS=/ {sub(/^ *read: IOPS=/, ""); sub(/,.*/, ""); print}' "$D/fio.out") IOPS"
    done
done
