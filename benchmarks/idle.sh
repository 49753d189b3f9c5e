#!/bin/sh
# What an idle node costs: a node with a pool on a file (uring://)
# and VOLUMES volumes (a replica each, under a nexus published over NVMe/TCP), after a burst of I/O
# to each, then SECONDS of no I/O. Prints the node's CPU over that time (utime + stime from
# /proc/PID/stat) as a share of one core; the goal is below 1%.
#   benchmarks/idle.sh [VOLUMES] [SECONDS]      (after `mvn install`; writes to stdout)
set -eu
VOLUMES=${1:-10}
IDLE_SECONDS=${2:-60}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
M="$ROOT/distribution/target/mayastor/bin/mayastor"
DIR=$(mktemp -d "${BENCH_DIR:-/var/tmp}/idle-bench.XXXXXX")
PORT=${BENCH_GRPC_PORT:-10191}
NODE="127.0.0.1:$PORT"

cleanup() {
    [ -n "${NODE_PID:-}" ] && kill "$NODE_PID" 2>/dev/null && wait "$NODE_PID" 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

echo "# $(date -u +%FT%TZ) $(uname -r), $(nproc) cores, $("$M" version)"
truncate -s 2G "$DIR/pool.img"
"$M" node --node-id idle-node --grpc-endpoint "$NODE" --state-dir "$DIR/state" \
    --nvmf-address 127.0.0.1 --nvmf-port "${BENCH_NVMF_PORT:-8431}" --nvmf-nexus-port "$(( ${BENCH_NVMF_PORT:-8431} + 1000 ))" --buffers-mb 128 >"$DIR/node.log" 2>&1 &
NODE_PID=$!
for _ in $(seq 100); do grep -q "ready" "$DIR/node.log" 2>/dev/null && break; sleep 0.2; done
grep -q "ready" "$DIR/node.log" || { cat "$DIR/node.log"; echo "the node did not start" >&2; exit 1; }
PID=$(pgrep -f "node-id idle-node" | head -1)

ctl() { "$M" ctl --node "$NODE" "$@"; }
ctl pool create idle "uring://$DIR/pool.img" >/dev/null
echo "# pool on $(ctl bdev list "$DIR/pool.img" | tail -1 | awk '{print $1, $2, $3}')"
for i in $(seq "$VOLUMES"); do
    uuid=$(cat /proc/sys/kernel/random/uuid)
    ctl replica create idle 64MiB --thin --uuid "$uuid" >/dev/null
    ctl nexus create "vol-$i" --child "bdev:///$uuid" >/dev/null
    uri=$(ctl nexus publish "vol-$i" --protocol nvmf)
    "$M" bench --uri "$uri" --rw randwrite --bs 4k --qd 8 --time 1s --ramp 0s >/dev/null 2>&1
done
echo "# $VOLUMES volumes published over nvmf, each written for 1 s; now idle for $IDLE_SECONDS s"
sleep 2
ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
HZ=$(getconf CLK_TCK)
before=$(ticks)
sleep "$IDLE_SECONDS"
after=$(ticks)
python3 -c "
used = ($after - $before) / $HZ
print(f'idle node: {used:.2f} s of CPU in $IDLE_SECONDS s = {100 * used / $IDLE_SECONDS:.2f}% of one core (goal < 1%)')"
