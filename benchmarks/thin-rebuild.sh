#!/bin/sh
# A rebuild of a thin volume written in part: a thin replica of $THIN_GIB GiB (default 4) on node 2
# (127.0.0.2), the only child of a nexus on node 1 (127.0.0.1) over NVMe/TCP; its first $WRITTEN_MIB MiB
# (default 400) written through the nexus; then a new thin replica on node 1 is added and rebuilt from
# the remote one (THIN_GIB=10 WRITTEN_MIB=5120: the 10 GiB replica half written of issue 19). Prints the rebuild's time, the
# bytes it copied and what the new replica allocated. Pools on files in $BENCH_DIR (default
# /var/tmp), large enough that a rebuild copying every block still fits (to measure the old way too).
#   benchmarks/thin-rebuild.sh [ROUNDS]                   (after ./mayastor build)
#   MAYASTOR=/other/tree/distribution/target/mayastor/bin/mayastor benchmarks/thin-rebuild.sh   (another build)
set -eu
ROUNDS=${1:-1}
GIB=${THIN_GIB:-4}
WRITTEN=${WRITTEN_MIB:-400}
NAME=thin-rebuild DEFAULT_DIR=/var/tmp
. "$(dirname "$0")/nodes.sh"

node() { start_node "$1" "thin-$1" 10290 8450 3280 --http-endpoint "127.0.0.$1:10291" --buffers-mb 256; } # node n on 127.0.0.n
ctl() { n=$1; shift; "$M" ctl --node "127.0.0.$n:10290" "$@"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
SOURCE=c0c0c0c0-0000-4000-8000-000000000002
COPY=c0c0c0c0-0000-4000-8000-000000000001
VOLUME=c0c0c0c0-0000-4000-8000-0000000000ff

for n in 1 2; do
    node "$n"
    truncate -s "$((GIB + 1))G" "$DIR/pool-$n.img"
    ctl "$n" pool create "p$n" "uring://$DIR/pool-$n.img" >/dev/null
done
echo "# $(date -u +%FT%TZ) $(uname -r), $(nproc) cores, pools on $(df -T "$DIR" | awk 'NR==2 {print $2}'), $("$M" version 2>/dev/null | head -n 1)"
for round in $(seq "$ROUNDS"); do
    URI=$(ctl 2 replica create p2 "${GIB}GiB" --thin --uuid "$SOURCE" --share nvmf \
        --allowed-host nqn.2019-05.io.openebs:node-name:thin-1 --json | json "d['uri']")
    ctl 1 nexus create thin --uuid "$VOLUME" --child "$URI" >/dev/null
    TARGET=$(ctl 1 nexus publish thin --protocol nvmf)
    "$M" bench --uri "$TARGET" --rw write --bs 1m --qd 8 --size "$((WRITTEN * 1048576))" --time "$((WRITTEN / 100 + 4))s" \
        --ramp 0s >/dev/null 2>&1
    ctl 1 nexus unpublish thin >/dev/null
    ctl 1 replica create p1 "${GIB}GiB" --thin --uuid "$COPY" >/dev/null
    start=$(date +%s.%N)
    ctl 1 nexus add-child thin "bdev:///$COPY" >/dev/null
    # watched on node 1's /metrics with curl (a ctl call per look would start a JVM each time)
    until curl -s "http://127.0.0.1:10291/metrics" | grep -F "child=\"bdev:///$COPY\"" \
            | grep -q '^mayastor_nexus_child_healthy.* 1\(\.0\)\?$'; do
        sleep 0.05
    done
    end=$(date +%s.%N)
    R=$(ctl 1 --json nexus list thin | json "[c for c in d['nexusList'][0]['children'] if c['uri'].startswith('bdev')][0].get('rebuild', {})")
    SRC=$(ctl 2 --json replica list | json "[r for r in d['replicas'] if r['uuid']=='$SOURCE'][0]['usage'].get('allocated', 0)")
    DST=$(ctl 1 --json replica list | json "[r for r in d['replicas'] if r['uuid']=='$COPY'][0]['usage'].get('allocated', 0)")
    STATE=$(ctl 1 --json nexus list thin | json "[c['state'] for c in d['nexusList'][0]['children'] if c['uri'].startswith('bdev')][0]")
    python3 - "$R" "$start" "$end" "$SRC" "$DST" "$STATE" "$GIB" "$WRITTEN" <<'EOF'
import ast, sys
r = ast.literal_eval(sys.argv[1]); start, end = float(sys.argv[2]), float(sys.argv[3])
src, dst, state = int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
mib = 1048576
print(f"rebuild of a {sys.argv[7]} GiB thin volume written to {sys.argv[8]} MiB: {state}, {end - start:.1f} s, "
      f"{int(r.get('bytesCopied', 0)) / mib:.0f} MiB copied, {r.get('segmentsZeroed', 0)} segments zeroed, "
      f"{r.get('segmentsSkipped', 0)} skipped; source allocated {src / mib:.0f} MiB, new replica {dst / mib:.0f} MiB")
EOF
    ctl 1 nexus destroy thin >/dev/null
    rm -f "$DIR"/state-1/nexus/*.properties
    ctl 1 replica destroy "$COPY" >/dev/null
    ctl 2 replica destroy "$SOURCE" --force >/dev/null 2>&1 || ctl 2 replica destroy "$SOURCE" >/dev/null
done
