#!/bin/sh
# Writes through a 1-, 2- and 3-replica nexus against the 1-replica case, and rebuild throughput
# against the device's raw sequential bandwidth, in one run. Three node processes on 127.0.0.1/.2/.3,
# each with a pool on a file in $BENCH_DIR (default /var/tmp) and a thick 1 GiB replica; the nexus on
# the first node has its local replica and the others over NVMe/TCP on loopback; `mayastor bench`
# drives the nexus through its NVMe/TCP share.
#   benchmarks/nexus.sh [ROUNDS] [SECONDS]    (after `mvn install`)
set -eu
ROUNDS=${1:-2}
SECS=${2:-8}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
M="$ROOT/distribution/target/mayastor/bin/mayastor"
DIR=$(mktemp -d "${BENCH_DIR:-/var/tmp}/nexus-bench.XXXXXX")
GIB=1073741824
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

node() { # n: starts node n on 127.0.0.n
    "$M" node --node-id "bench-$1" --grpc-endpoint "127.0.0.$1:10190" --state-dir "$DIR/state-$1" --buffers-mb 256 \
        --nvmf-address "127.0.0.$1" --nvmf-port 8440 --iscsi-address "127.0.0.$1" --iscsi-port 3270 >"$DIR/node-$1.log" 2>&1 &
    PIDS="$PIDS $!"
    for _ in $(seq 150); do grep -q "ready" "$DIR/node-$1.log" 2>/dev/null && return; sleep 0.2; done
    echo "node $1 did not start:" >&2; cat "$DIR/node-$1.log" >&2; exit 1
}
ctl() { n=$1; shift; "$M" ctl --node "127.0.0.$n:10190" "$@"; }
uuid() { echo "b0b0b0b0-0000-4000-8000-00000000000$1"; }

for n in 1 2 3; do
    node "$n"
    truncate -s 1100M "$DIR/pool-$n.img"
    ctl "$n" pool create "p$n" "$DIR/pool-$n.img" >/dev/null
    if [ "$n" = 1 ]; then
        ctl 1 replica create p1 1GiB --uuid "$(uuid 1)" >/dev/null
    else
        ctl "$n" replica create "p$n" 1GiB --uuid "$(uuid "$n")" --share nvmf \
            --allowed-host nqn.2019-05.io.openebs:node-name:bench-1 >/dev/null
    fi
done
child() { if [ "$1" = 1 ]; then echo "bdev:///$(uuid 1)"; else echo "nvmf://127.0.0.$1:8440/nqn.2019-05.io.openebs:$(uuid "$1")"; fi; }

json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
bench() { # uri rw bs qd -> iops
    "$M" bench --uri "$1" --rw "$2" --bs "$3" --qd "$4" --time "${SECS}s" --ramp 2s --json | json "round(d['iops'])"
}

echo "# $(date -u +%FT%TZ) $(uname -r), $(nproc) cores, pools on $(df -T "$DIR" | awk 'NR==2 {print $2}') ($DIR)"
for round in $(seq "$ROUNDS"); do
    echo "# round $round"
    for replicas in 1 2 3; do
        set -- --child "$(child 1)"
        [ "$replicas" -ge 2 ] && set -- "$@" --child "$(child 2)"
        [ "$replicas" -ge 3 ] && set -- "$@" --child "$(child 3)"
        ctl 1 nexus create bench --uuid b0b0b0b0-0000-4000-8000-0000000000ff "$@" >/dev/null
        URI=$(ctl 1 nexus publish bench --protocol nvmf)
        rw=$(bench "$URI" randwrite 4k 32)
        sw=$(bench "$URI" write 128k 8)
        echo "replicas=$replicas randwrite-4k-qd32=$rw write-128k-qd8=$sw"
        ctl 1 nexus destroy bench >/dev/null
        rm -f "$DIR"/state-1/nexus/*.properties # the next nexus is a new volume
    done
done

echo "# rebuild: a 1 GiB child added to a 1-replica nexus whose volume is full, under a 4 KiB random write load at QD 8"
truncate -s 1G "$DIR/raw.img"
RAW=$("$M" bench --uri "aio://$DIR/raw.img" --rw write --bs 1m --qd 8 --time "${SECS}s" --ramp 1s --json | json "round(d['bytes_per_second']/1048576)")
rm -f "$DIR/raw.img"
echo "raw sequential write of the pool's filesystem: $RAW MiB/s (aio, 1 MiB, QD 8)"
ctl 1 nexus create bench --uuid b0b0b0b0-0000-4000-8000-0000000000fe --child "$(child 1)" >/dev/null
URI=$(ctl 1 nexus publish bench --protocol nvmf)
"$M" bench --uri "$URI" --rw write --bs 1m --qd 8 --size 1G --time 15s --ramp 0s >/dev/null   # fill it
"$M" bench --uri "$URI" --rw randwrite --bs 4k --qd 8 --time 600s --ramp 0s >/dev/null 2>&1 &
LOAD=$!
ctl 1 nexus add-child bench "$(child 2)" >/dev/null
while ctl 1 --json nexus list bench | json "any(c['state']=='CHILD_DEGRADED' for c in d['nexusList'][0]['children'])" | grep -q True; do
    sleep 0.5
done
kill "$LOAD" 2>/dev/null; wait "$LOAD" 2>/dev/null || true
RATE=$(ctl 1 --json nexus list bench | json "round(d['nexusList'][0]['children'][1]['rebuild']['bytesPerSecond']/1048576)")
STATE=$(ctl 1 --json nexus list bench | json "d['nexusList'][0]['children'][1]['rebuild']['state']")
echo "rebuild of 1 GiB ($STATE): $RATE MiB/s = $(python3 -c "print(round($RATE/$RAW, 2))") of raw, with the load running"
ctl 1 nexus destroy bench >/dev/null
