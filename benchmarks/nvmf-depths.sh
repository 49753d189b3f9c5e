#!/bin/sh
# Where NVMe/TCP's cost goes: raw aio, raw aio with one thread hop per I/O (`bench --hop`), malloc
# through nvmf (the transport alone) and aio through nvmf, at queue depths 1, 32 and 64 (5 s each).
#   benchmarks/nvmf-depths.sh      (after `mvn install`; prints one line per run)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
M="$ROOT/distribution/target/mayastor/bin/mayastor"
DIR=$(mktemp -d "${BENCH_DIR:-/var/tmp}/nvmf-depths.XXXXXX")
FILE="$DIR/backing.img"
NODE="127.0.0.1:${BENCH_GRPC_PORT:-10192}"
cleanup() {
    [ -n "${NODE_PID:-}" ] && kill "$NODE_PID" 2>/dev/null && wait "$NODE_PID" 2>/dev/null
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM
dd if=/dev/urandom of="$FILE" bs=1M count=1024 status=none
"$M" node --node-id depths-target --grpc-endpoint "$NODE" --state-dir "$DIR/state" \
    --nvmf-address 127.0.0.1 --nvmf-port "${BENCH_NVMF_PORT:-8432}" --nvmf-nexus-port "$(( ${BENCH_NVMF_PORT:-8432} + 1000 ))" >"$DIR/node.log" 2>&1 &
NODE_PID=$!
for _ in $(seq 100); do grep -q "ready" "$DIR/node.log" 2>/dev/null && break; sleep 0.2; done
"$M" ctl --node "$NODE" bdev create 'malloc:///ram?size_mb=1024' >/dev/null
RAM=$("$M" ctl --node "$NODE" bdev share ram --protocol nvmf)
b() {
    printf '%-20s' "$1"; shift
    "$M" bench "$@" --time 5s --ramp 1s --json 2>/dev/null | python3 -c "import json,sys; r=json.load(sys.stdin); \
print('%8.0f IOPS  mean %6.1f  p50 %6.1f  p99 %6.1f us' % (r['iops'], r['lat_usec']['mean'], r['lat_usec']['p50'], r['lat_usec']['p99']))"
}
for qd in 1 32 64; do
    b "raw qd$qd" --uri "aio://$FILE" --qd "$qd"
    b "raw+hop qd$qd" --uri "aio://$FILE" --qd "$qd" --hop
    b "malloc-nvmf qd$qd" --uri "$RAM" --qd "$qd"
    "$M" ctl --node "$NODE" bdev create "aio://$FILE" >/dev/null   # the aio bdev locks its file
    AIO=$("$M" ctl --node "$NODE" bdev share "$FILE" --protocol nvmf)
    b "aio-nvmf qd$qd" --uri "$AIO" --qd "$qd"
    "$M" ctl --node "$NODE" bdev unshare "$FILE" >/dev/null
    "$M" ctl --node "$NODE" bdev destroy "$FILE" >/dev/null
done
