#!/bin/sh
# Our NBD plugin against nbdkit's file plugin, in one run, alternating: fio's nbd engine, 4 KiB
# random read and write at QD 32 and 128 KiB sequential read at QD 8, each server serving a
# RAM-backed file of the same size on /dev/shm (ours through an aio bdev, the plugin hot-deployed,
# listening on NBD's port 10809, which must be free).
#   benchmarks/nbd.sh [ROUNDS] [SECONDS]    (after `mvn install`; needs fio, nbdkit)
set -eu
ROUNDS=${1:-3}
SECS=${2:-10}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIST="$ROOT/distribution/target/mayastor"
M="$DIST/bin/mayastor"
DIR=$(mktemp -d /dev/shm/nbd-bench.XXXXXX)
NODE="127.0.0.1:${BENCH_GRPC_PORT:-10194}"
KIT_PORT=${BENCH_NBDKIT_PORT:-10811}
for tool in fio nbdkit; do
    command -v "$tool" >/dev/null || { echo "$tool is missing (apt-get install fio nbdkit)" >&2; exit 1; }
done
cleanup() {
    [ -n "${NODE_PID:-}" ] && kill "$NODE_PID" 2>/dev/null && wait "$NODE_PID" 2>/dev/null
    [ -n "${KIT_PID:-}" ] && kill "$KIT_PID" 2>/dev/null && wait "$KIT_PID" 2>/dev/null
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM
dd if=/dev/urandom of="$DIR/ours.img" bs=1M count=1024 status=none
cp "$DIR/ours.img" "$DIR/kit.img"

nbdkit --foreground --ipaddr 127.0.0.1 --port "$KIT_PORT" file "$DIR/kit.img" >"$DIR/nbdkit.log" 2>&1 &
KIT_PID=$!
mkdir -p "$DIR/plugins"
cp "$DIST"/extras/transport-nbd-*.jar "$DIR/plugins/"
"$M" node --node-id nbd-bench --grpc-endpoint "$NODE" --state-dir "$DIR/state" \
    --plugins-dir "$DIR/plugins" --nvmf-port "${BENCH_NVMF_PORT:-8434}" --iscsi-port "${BENCH_ISCSI_PORT:-3264}" \
    --buffers-mb 256 >"$DIR/node.log" 2>&1 &
NODE_PID=$!
for _ in $(seq 100); do grep -q "plugin io.mayastorj.plugins.nbd" "$DIR/node.log" 2>/dev/null && break; sleep 0.2; done
"$M" ctl --node "$NODE" bdev create "aio://$DIR/ours.img" >/dev/null
OURS=$("$M" ctl --node "$NODE" bdev share "$DIR/ours.img" --protocol nbd)
KIT="nbd://127.0.0.1:$KIT_PORT"

echo "# $(date -u +%FT%TZ) $(uname -r), $(nproc) cores; nbdkit $(nbdkit --version | awk '{print $2}'), fio $(fio --version)"
echo "# ours: $OURS   nbdkit: $KIT"
run() { # label uri rw bs depth
    iops=$(fio --name=b --ioengine=nbd --uri="$2" --rw="$3" --bs="$4" --iodepth="$5" --size=1G --time_based \
        --runtime="$SECS" --ramp_time=2 --output-format=json 2>/dev/null | sed -n '/^{/,$p' \
        | python3 -c "import json,sys; j=json.load(sys.stdin)['jobs'][0]; print(round(j['read']['iops'] + j['write']['iops']))")
    printf '%-6s %-9s %-5s QD%-3s %8s IOPS\n' "$1" "$3" "$4" "$5" "$iops"
}
for round in $(seq "$ROUNDS"); do
    echo "# round $round"
    for w in "randread 4k 32" "randwrite 4k 32" "read 128k 8"; do
        # shellcheck disable=SC2086 # three words
        set -- $w
        run nbdkit "$KIT" "$1" "$2" "$3"
        run ours "$OURS" "$1" "$2" "$3"
    done
done
