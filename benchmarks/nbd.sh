#!/bin/sh
# Our NBD plugin against nbdkit, in one run, alternating: fio's nbd engine, 4 KiB random read and
# write at QD 32 and 128 KiB sequential read at QD 8, each from one fio job (one connection) and
# from two jobs splitting the same depth (two connections). Ours serves a RAM-backed bdev (malloc;
# BENCH_OURS=uring or aio: a uring or aio bdev on a file in /dev/shm), hot-deployed into a node listening on NBD's
# port 10809, which must be free; nbdkit's file plugin serves a 1 GiB file in /dev/shm.
# Each line gives IOPS, the server's CPU time per I/O (from /proc, user + system) and fio's CPU use:
# one fio job saturates a core of its own, so the server's CPU per I/O is what tells them apart there.
#   benchmarks/nbd.sh [ROUNDS] [SECONDS]    (after `mvn install`; needs fio, nbdkit)
set -eu
ROUNDS=${1:-3}
SECS=${2:-10}
RAMP=2
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
    [ -n "${NODE_PID:-}" ] && kill "$NODE_PID" 2>/dev/null && wait "$NODE_PID" 2>/dev/null || true
    [ -n "${KIT_PID:-}" ] && kill "$KIT_PID" 2>/dev/null && wait "$KIT_PID" 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM
dd if=/dev/urandom of="$DIR/kit.img" bs=1M count=1024 status=none

nbdkit --foreground --ipaddr 127.0.0.1 --port "$KIT_PORT" file "$DIR/kit.img" >"$DIR/nbdkit.log" 2>&1 &
KIT_PID=$!
mkdir -p "$DIR/plugins"
cp "$DIST"/extras/transport-nbd-*.jar "$DIR/plugins/"
"$M" node --node-id nbd-bench --grpc-endpoint "$NODE" --state-dir "$DIR/state" \
    --plugins-dir "$DIR/plugins" --nvmf-port "${BENCH_NVMF_PORT:-8434}" --nvmf-nexus-port "$(( ${BENCH_NVMF_PORT:-8434} + 1000 ))" --iscsi-port "${BENCH_ISCSI_PORT:-3264}" \
    --buffers-mb 256 >"$DIR/node.log" 2>&1 &
NODE_PID=$!
for _ in $(seq 100); do grep -q "plugin io.mayastorj.plugins.nbd" "$DIR/node.log" 2>/dev/null && break; sleep 0.2; done
if [ "${BENCH_OURS:-malloc}" != malloc ]; then
    cp "$DIR/kit.img" "$DIR/ours.img"
    BDEV=$("$M" ctl --node "$NODE" bdev create "$BENCH_OURS://$DIR/ours.img" | awk 'NR==2 {print $1}')
else
    BDEV=$("$M" ctl --node "$NODE" bdev create "malloc:///bench?size_mb=1024" | awk 'NR==2 {print $1}')
fi
OURS=$("$M" ctl --node "$NODE" bdev share "$BDEV" --protocol nbd)
KIT="nbd://127.0.0.1:$KIT_PORT"

echo "# $(date -u +%FT%TZ) $(uname -r), $(nproc) cores; nbdkit $(nbdkit --version | awk '{print $2}'), fio $(fio --version)"
echo "# ours: $OURS ($("$M" ctl --node "$NODE" bdev list | awk -v b="$BDEV" '$1 == b {print $2, $3}'))   nbdkit: $KIT (file, /dev/shm)"
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system, in clock ticks
TICK=$(getconf CLK_TCK)
run() { # label pid uri rw bs jobs depth-per-job
    before=$(cpu "$2")
    out=$(fio --name=b --ioengine=nbd --uri="$3" --rw="$4" --bs="$5" --numjobs="$6" --iodepth="$7" --group_reporting \
        --size=1G --time_based --runtime="$SECS" --ramp_time="$RAMP" --output-format=json 2>/dev/null | sed -n '/^{/,$p' \
        | python3 -c "import json,sys; j=json.load(sys.stdin)['jobs'][0]; print(round(j['read']['iops'] + j['write']['iops']), round($6 * (j['usr_cpu'] + j['sys_cpu'])))")
    after=$(cpu "$2")
    set -- "$1" "$4" "$5" "$6" "$7" $out
    # the server's CPU over the ramp and the run, per I/O at the measured rate
    us=$(python3 -c "print('%.1f' % (($after - $before) / $TICK * 1e6 / ($6 * ($SECS + $RAMP))))")
    printf '%-6s %-9s %-5s %sx%-3s %8s IOPS  %5s us/IO server  fio %s%% CPU\n' "$1" "$2" "$3" "$4" "$5" "$6" "$us" "$7"
}
for round in $(seq "$ROUNDS"); do
    echo "# round $round"
    for w in "randread 4k 1 32" "randread 4k 2 16" "randwrite 4k 1 32" "randwrite 4k 2 16" "read 128k 1 8" "read 128k 2 4"; do
        # shellcheck disable=SC2086 # four words
        set -- $w
        run nbdkit "$KIT_PID" "$KIT" "$1" "$2" "$3" "$4"
        run ours "$NODE_PID" "$OURS" "$1" "$2" "$3" "$4"
    done
done | tee "$DIR/lines"
echo "# ours / nbdkit, lowest-highest over the rounds: IOPS, and server CPU per I/O (nbdkit's / ours)"
python3 - "$DIR/lines" <<'EOF'
import sys, collections
rows = collections.defaultdict(dict)
ratios = collections.defaultdict(list)
for line in open(sys.argv[1]):
    if line.startswith('#'):
        continue
    f = line.split()
    key = ' '.join(f[1:4])
    rows[key][f[0]] = (float(f[4]), float(f[6]))
    if len(rows[key]) == 2:
        (ki, kc), (oi, oc) = rows[key]['nbdkit'], rows[key]['ours']
        ratios[key].append((oi / ki, kc / oc))
        rows[key] = {}
for key, r in ratios.items():
    i = sorted(x[0] for x in r); c = sorted(x[1] for x in r)
    print(f"{key:22} IOPS {i[0]:.2f}-{i[-1]:.2f}   CPU/IO {c[0]:.2f}-{c[-1]:.2f}")
EOF
