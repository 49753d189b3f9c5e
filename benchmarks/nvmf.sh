#!/bin/sh
# The NVMe-oF/TCP overhead, end to end: `mayastor bench` against a uring (BENCH_SCHEME) bdev on a
# file (O_DIRECT) in its own process ("raw"), then against a thick replica of a pool on a file of
# the same size on the same file system (raw writes would destroy the pool) shared by a node over
# NVMe/TCP on loopback ("nvmf"; the bench process is the host, the node
# the target; BENCH_TARGET=file shares the file's bdev itself instead), then a malloc bdev through
# nvmf. "rawhop" is raw with one thread hop per I/O (`bench --hop`), the hop every target
# makes from the bdev's completion thread to the connection's reactor. Raw and nvmf alternate ROUNDS times so that drift in the machine hits both.
#   benchmarks/nvmf.sh [ROUNDS] [SECONDS]      (after `mvn install`; writes to stdout)
# Environment: BENCH_WORKLOADS (e.g. "write,128k,8": comma-separated triples, space between them),
# BENCH_DIR (where the backing file goes; default /var/tmp, must allow O_DIRECT),
# BENCH_FILE_MB (default 1024), BENCH_MALLOC=1 (the malloc runs with BENCH_WORKLOADS too),
# BENCH_HUGEPAGES (2 MiB pages reserved for the run, as a Mayastor node has them, and restored after;
# default 320: the node's pool and the bench's, 256 MiB each; 0 leaves the machine as it is).
set -eu
ROUNDS=${1:-3}
SECONDS_PER_RUN=${2:-10}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
M="$ROOT/distribution/target/mayastor/bin/mayastor"
DIR=$(mktemp -d "${BENCH_DIR:-/var/tmp}/nvmf-bench.XXXXXX")
FILE="$DIR/backing.img"
RAW="$DIR/raw.img"
PORT=${BENCH_GRPC_PORT:-10190}
NVMF_PORT=${BENCH_NVMF_PORT:-8430}
NODE="127.0.0.1:$PORT"
SCHEME=${BENCH_SCHEME:-uring}
TARGET=${BENCH_TARGET:-replica}

HUGEPAGES=${BENCH_HUGEPAGES:-320}
HUGEPAGES_BEFORE=$(cat /proc/sys/vm/nr_hugepages)
cleanup() {
    [ -n "${NODE_PID:-}" ] && kill "$NODE_PID" 2>/dev/null && wait "$NODE_PID" 2>/dev/null || true
    [ "$HUGEPAGES" -gt 0 ] && echo "$HUGEPAGES_BEFORE" >/proc/sys/vm/nr_hugepages 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

echo "# $(date -u +%FT%TZ) $(uname -r), $(nproc) cores, JDK $("$ROOT/distribution/target/mayastor/bin/mayastor" version)"
# Both sides' DMA buffers on hugepages when reserved (each run's JSON says which it got): a Mayastor
# node runs with them, and on ordinary memory every O_DIRECT request pins its pages.
if [ "$HUGEPAGES" -gt 0 ] && [ "$HUGEPAGES_BEFORE" -lt "$HUGEPAGES" ]; then
    echo "$HUGEPAGES" >/proc/sys/vm/nr_hugepages 2>/dev/null || echo "# could not reserve $HUGEPAGES hugepages (not root?)"
fi
echo "# hugepages: $(cat /proc/sys/vm/nr_hugepages) reserved (were $HUGEPAGES_BEFORE)"
# a file of data, as a used disk holds; written once, read back by every run
dd if=/dev/urandom of="$FILE" bs=1M count="${BENCH_FILE_MB:-1024}" status=none
if [ "$TARGET" = replica ]; then cp "$FILE" "$RAW"; else RAW=$FILE; fi
sync

"$M" node --node-id bench-target --grpc-endpoint "$NODE" --state-dir "$DIR/state" \
    --nvmf-address 127.0.0.1 --nvmf-port "$NVMF_PORT" --nvmf-nexus-port "$((NVMF_PORT + 1000))" --buffers-mb 256 >"$DIR/node.log" 2>&1 &
NODE_PID=$!
for _ in $(seq 100); do grep -q "ready" "$DIR/node.log" 2>/dev/null && break; sleep 0.2; done
grep -q "ready" "$DIR/node.log" || { cat "$DIR/node.log"; echo "the target node did not start" >&2; exit 1; }
TARGET_PID=$(pgrep -f "node-id bench-target" | head -1)
echo "# target: $(grep -o 'DMA buffer pool: .*' "$DIR/node.log" | head -1)"

# the file's bdev locks it: the node opens it only for the nvmf runs (a pool on it is exported between)
ctl() { "$M" ctl --node "$NODE" "$@"; }
if [ "$TARGET" = replica ]; then
    ctl pool create bench "$SCHEME://$FILE" >/dev/null
    REPLICA=$(cat /proc/sys/kernel/random/uuid)
    ctl replica create bench "$(( ${BENCH_FILE_MB:-1024} - 128 ))MiB" --uuid "$REPLICA" >/dev/null
    # A thick replica's clusters are zeroed with fallocate: unwritten extents, which O_DIRECT reads
    # answer without the disk. Write it through once (sequential 1 MiB writes wrap around) so that
    # raw and nvmf read data, as a used disk holds.
    "$M" bench --uri "$(ctl replica share "$REPLICA" --protocol nvmf)" --rw write --bs 1m --qd 8 --time 4s --ramp 0s \
        >/dev/null 2>&1
    ctl replica unshare "$REPLICA" >/dev/null
    ctl pool export bench >/dev/null
    share_file() { ctl pool import "$SCHEME://$FILE" >/dev/null; ctl replica share "$REPLICA" --protocol nvmf; }
    unshare_file() { ctl replica unshare "$REPLICA" >/dev/null; ctl pool export bench >/dev/null; }
else
    share_file() { ctl bdev create "$SCHEME://$FILE" >/dev/null; ctl bdev share "$FILE" --protocol nvmf; }
    unshare_file() { ctl bdev unshare "$FILE" >/dev/null; ctl bdev destroy "$FILE" >/dev/null; }
fi
AIO_URI=$(share_file)
unshare_file
"$M" ctl --node "$NODE" bdev create "malloc:///bench-ram?size_mb=1024" >/dev/null
RAM_URI=$("$M" ctl --node "$NODE" bdev share bench-ram --protocol nvmf)
echo "# $SCHEME file $FILE, its $TARGET shared as $AIO_URI"
echo "# malloc shared as $RAM_URI"

run() { # label uri rw bs qd [extra]
    label=$1; uri=$2; rw=$3; bs=$4; qd=$5; shift 5
    printf '%-6s %-9s bs=%-4s qd=%-2s ' "$label" "$rw" "$bs" "$qd"
    "$M" bench --uri "$uri" --rw "$rw" --bs "$bs" --qd "$qd" --time "${SECONDS_PER_RUN}s" --ramp 2s \
        --target-pid "$TARGET_PID" --json "$@" 2>"$DIR/bench.err" || { cat "$DIR/bench.err" >&2; exit 1; }
}

for round in $(seq "$ROUNDS"); do
    echo "# round $round"
    for w in ${BENCH_WORKLOADS:-randread,4k,32 randwrite,4k,32 read,128k,8 write,128k,8}; do
        # shellcheck disable=SC2046 # w is three words
        set -- $(echo "$w" | tr , ' ')
        run raw "$SCHEME://$RAW" "$1" "$2" "$3"
        run rawhop "$SCHEME://$RAW" "$1" "$2" "$3" --hop
        AIO_URI=$(share_file)
        run nvmf "$AIO_URI" "$1" "$2" "$3"
        unshare_file
    done
    if [ -z "${BENCH_WORKLOADS:-}" ] || [ -n "${BENCH_MALLOC:-}" ]; then # the malloc baseline
        run malloc "$RAM_URI" randread 4k 32
        run malloc "$RAM_URI" randwrite 4k 32
    fi
done
