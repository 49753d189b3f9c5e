#!/bin/sh
# Our iSCSI target against Debian's tgt (tgtd), in one run, alternating: libiscsi's iscsi-perf,
# 4 KiB random reads at 32 outstanding and 128 KiB sequential reads at 8, each target serving a
# RAM-backed file of the same size on /dev/shm (ours through an aio bdev).
#   benchmarks/iscsi.sh [ROUNDS] [SECONDS]    (after `mvn install`; needs libiscsi-bin and tgt)
set -eu
ROUNDS=${1:-3}
SECS=${2:-10}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
M="$ROOT/distribution/target/mayastor/bin/mayastor"
DIR=$(mktemp -d /dev/shm/iscsi-bench.XXXXXX)
NODE="127.0.0.1:${BENCH_GRPC_PORT:-10193}"
OURS_PORT=${BENCH_ISCSI_PORT:-3263}
TGT_PORT=${BENCH_TGT_PORT:-3262}
for tool in iscsi-perf tgtd tgtadm; do
    command -v "$tool" >/dev/null || { echo "$tool is missing (apt-get install libiscsi-bin tgt)" >&2; exit 1; }
done
cleanup() {
    [ -n "${NODE_PID:-}" ] && kill "$NODE_PID" 2>/dev/null && wait "$NODE_PID" 2>/dev/null || true
    if [ -n "${TGT_PID:-}" ]; then # tgtd may shrug off SIGTERM while sessions linger
        kill "$TGT_PID" 2>/dev/null; sleep 1; kill -9 "$TGT_PID" 2>/dev/null; wait "$TGT_PID" 2>/dev/null || true
    fi
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM
dd if=/dev/urandom of="$DIR/ours.img" bs=1M count=1024 status=none
cp "$DIR/ours.img" "$DIR/tgt.img"

tgtd -f --iscsi portal=127.0.0.1:$TGT_PORT --control-port 1 >"$DIR/tgtd.log" 2>&1 &
TGT_PID=$!
sleep 1
tgtadm -C 1 --lld iscsi --op new --mode target --tid 1 -T iqn.2026-11.bench:tgt
tgtadm -C 1 --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 -b "$DIR/tgt.img"
tgtadm -C 1 --lld iscsi --op bind --mode target --tid 1 -I ALL
TGT_URL="iscsi://127.0.0.1:$TGT_PORT/iqn.2026-11.bench:tgt/1"

"$M" node --node-id iscsi-bench --grpc-endpoint "$NODE" --state-dir "$DIR/state" --iscsi-port "$OURS_PORT" \
    --nvmf-port "${BENCH_NVMF_PORT:-8433}" --nvmf-nexus-port "$(( ${BENCH_NVMF_PORT:-8433} + 1000 ))" --buffers-mb 256 >"$DIR/node.log" 2>&1 &
NODE_PID=$!
for _ in $(seq 100); do grep -q "ready" "$DIR/node.log" 2>/dev/null && break; sleep 0.2; done
"$M" ctl --node "$NODE" bdev create "aio://$DIR/ours.img" >/dev/null 2>&1
OURS_URL=$("$M" ctl --node "$NODE" bdev share "$DIR/ours.img" --protocol iscsi)

echo "# $(date -u +%FT%TZ) $(uname -r), $(nproc) cores; tgt $(dpkg-query -W -f='${Version}' tgt 2>/dev/null)"
echo "# ours: $OURS_URL   tgt: $TGT_URL"
perf() { # label url blocks depth [random]
    printf '%-5s %-8s ' "$1" "$3x512B/$4"
    timeout $((SECS + 20)) iscsi-perf -m "$4" -b "$3" -t "$SECS" $5 "$2" 2>&1 | tr '\r' '\n' | grep "iops average" | tail -1
}
for round in $(seq "$ROUNDS"); do
    echo "# round $round"
    perf tgt "$TGT_URL" 8 32 -r
    perf ours "$OURS_URL" 8 32 -r
    perf tgt "$TGT_URL" 256 8 ""
    perf ours "$OURS_URL" 256 8 ""
done
