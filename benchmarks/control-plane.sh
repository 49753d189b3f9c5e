#!/bin/sh
# The control plane making volumes: `mayastor control` (embedded store) and four nodes on
# 127.0.0.50-.54, a 1 GiB pool per node on a file in $BENCH_DIR (default /var/tmp), all with their
# default settings. ControlPlaneBenchmark measures created -> healthy (p50, p99 over VOLUMES volumes,
# one at a time) and volumes per second (8 callers at once), each against the same replicas made by
# calling the nodes directly; then the control plane's CPU is read from /proc while idle, with no
# volume and with FILL volumes. KEEP=1 keeps the processes' logs.
#   ./mayastor build && mvn -q package -pl benchmarks -DskipTests && benchmarks/control-plane.sh [VOLUMES] [FILL] [IDLE_SECONDS]
set -eu
VOLUMES=${1:-50}
FILL=${2:-100}
IDLE=${3:-60}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
M=${MAYASTOR:-"$ROOT/distribution/target/mayastor/bin/mayastor"}
JAVA=${JAVA:-java}
DIR=$(mktemp -d "${BENCH_DIR:-/var/tmp}/control-plane.XXXXXX")
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    if [ -n "${KEEP:-}" ]; then echo "logs kept in $DIR" >&2; else rm -rf "$DIR"; fi
}
trap cleanup EXIT INT TERM

await() { # log, what
    for _ in $(seq 300); do grep -q "$2" "$1" 2>/dev/null && return; sleep 0.2; done
    echo "did not start: $1" >&2; cat "$1" >&2; exit 1
}
CONTROL=127.0.0.50:10300
"$M" control --grpc-endpoint "$CONTROL" --state-dir "$DIR/control" ${CONTROL_ARGS:-} >"$DIR/control.log" 2>&1 &
CONTROL_PID=$!
PIDS="$PIDS $CONTROL_PID"
await "$DIR/control.log" " ready: "
NODES=""
for n in 1 2 3 4; do
    a=127.0.0.5$n
    "$M" node --node-id "bench-$n" --grpc-endpoint "$a:10301" --state-dir "$DIR/state-$n" --buffers-mb 64 \
        --nvmf-address "$a" --nvmf-port 8460 --nvmf-nexus-port 9460 --iscsi-address "$a" --iscsi-port 3290 \
        --control-endpoint "$CONTROL" >"$DIR/node-$n.log" 2>&1 &
    PIDS="$PIDS $!"
    NODES="$NODES${NODES:+,}bench-$n=$a:10301"
    truncate -s 1G "$DIR/disk-$n.img"
    printf 'apiVersion: openebs.io/v1alpha1\nkind: MayastorPool\nmetadata:\n  name: pool-%s\nspec:\n  node: bench-%s\n  disks: ["%s"]\n---\n' \
        "$n" "$n" "$DIR/disk-$n.img" >>"$DIR/pools.yaml"
done
for n in 1 2 3 4; do await "$DIR/node-$n.log" "ready"; done
"$M" ctl --control "$CONTROL" apply -f "$DIR/pools.yaml" >/dev/null
for _ in $(seq 300); do
    [ "$("$M" ctl --control "$CONTROL" get msp | grep -c ' online ')" = 4 ] && break; sleep 0.5
done

cpu() { # seconds of CPU (user + system) the control plane has used
    awk -v t="$(getconf CLK_TCK)" '{ print ($14 + $15) / t }' "/proc/$CONTROL_PID/stat"
}
idle() { # label
    sleep 15 # let the last changes settle
    a=$(cpu); sleep "$IDLE"; b=$(cpu)
    python3 -c "print('control plane idle with $1: %.2f %% of one core over ${IDLE} s' % (($b - $a) * 100 / $IDLE))"
}
echo "# $(date -u +%FT%TZ) $(uname -r), $(nproc) cores, $("$M" version 2>/dev/null | head -n 1)"
idle "no volume"
"$JAVA" -cp "$ROOT/benchmarks/target/benchmarks.jar" io.mayastorj.benchmarks.ControlPlaneBenchmark \
    --control "$CONTROL" --nodes "$NODES" --volumes "$VOLUMES" --fill "$FILL"
idle "$FILL volumes"
