#!/bin/sh
# Writes through a 1-, 2- and 3-replica nexus against the 1-replica case, and rebuild throughput
# against the device's raw sequential bandwidth, in one run. Three node processes on 127.0.0.1/.2/.3,
# each with a pool on a file in $BENCH_DIR (default /var/tmp) and a thick replica (BENCH_GIB, 1 GiB); the nexus on
# the first node has its local replica and the others over NVMe/TCP on loopback; `mayastor bench`
# drives the nexus through its NVMe/TCP share, or, with BENCH_CLIENT=fio, fio's nbd engine through
# the NBD plugin (deployed on the first node, port 10851).
#   benchmarks/nexus.sh [ROUNDS] [SECONDS]    (after `mvn install`)
# BENCH_POOL_SCHEME=aio|uring names the pools' bdev scheme (default uring);
# BENCH_SKIP_WRITES=1 runs only the rebuilds; BENCH_REBUILDS='SEGMENT_KIB,TASKS,quiet|load ...' chooses them;
# BENCH_PROFILE=1 adds where the CPU goes per process and thread (benchmarks/threads.py): during a quiet
# rebuild; for one under load, with the load alone, during the rebuild, and after it; BENCH_WARM=1 runs one
# rebuild first the same way (quiet or under the load), unmeasured, so that the measured one finds its code compiled.
set -eu
ROUNDS=${1:-2}
SECS=${2:-8}
NAME=nexus-bench DEFAULT_DIR=/var/tmp
. "$(dirname "$0")/nodes.sh"
VOL_GIB=${BENCH_GIB:-1}
GIB=1073741824
VOL=$((VOL_GIB * GIB))
CLIENT=${BENCH_CLIENT:-mayastor}

node() { # n [extra flags]: starts node n on 127.0.0.n
    n=$1; shift
    mkdir -p "$DIR/plugins-$n"
    if [ "$n" = 1 ] && [ "$CLIENT" = fio ]; then
        cp "$ROOT"/distribution/target/mayastor/extras/transport-nbd-*.jar "$DIR/plugins-1/"
        echo "nbd.port = 10851" >"$DIR/plugins-1/io.mayastorj.nbd.cfg"
    fi
    start_node "$n" "bench-$n" 10190 8440 3270 --buffers-mb 256 --plugins-dir "$DIR/plugins-$n" "$@"
}
ctl() { n=$1; shift; "$M" ctl --node "127.0.0.$n:10190" "$@"; }
uuid() { echo "b0b0b0b0-0000-4000-8000-00000000000$1"; }

for n in 1 2 3; do
    node "$n"
    truncate -s $((VOL_GIB * 1088 + 176))M "$DIR/pool-$n.img"
    ctl "$n" pool create "p$n" "${BENCH_POOL_SCHEME:-uring}://$DIR/pool-$n.img" >/dev/null
    if [ "$n" = 1 ]; then
        ctl 1 replica create p1 "${VOL_GIB}GiB" --uuid "$(uuid 1)" >/dev/null
    else
        ctl "$n" replica create "p$n" "${VOL_GIB}GiB" --uuid "$(uuid "$n")" --share nvmf \
            --allowed-host nqn.2019-05.io.openebs:node-name:bench-1 --allowed-host nqn.2019-05.io.openebs:node-name:bench >/dev/null
    fi
done
child() { if [ "$1" = 1 ]; then echo "bdev:///$(uuid 1)"; else echo "nvmf://127.0.0.$1:8440/nqn.2019-05.io.openebs:$(uuid "$1")"; fi; }

json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
bench() { # uri rw bs qd -> iops
    if [ "$CLIENT" = fio ]; then
        fio --name=b --ioengine=nbd --uri="$1" --rw="$2" --bs="$3" --iodepth="$4" --size=1G --time_based \
            --runtime="$SECS" --ramp_time=2 --output-format=json 2>/dev/null | sed -n '/^{/,$p' \
            | json "round(d['jobs'][0]['read']['iops'] + d['jobs'][0]['write']['iops'])"
        return
    fi
    "$M" bench --uri "$1" --rw "$2" --bs "$3" --qd "$4" --time "${SECS}s" --ramp 2s --json 2>/dev/null | json "round(d['iops'])"
}

echo "# $(date -u +%FT%TZ) $(uname -r), $(nproc) cores, pools on $(df -T "$DIR" | awk 'NR==2 {print $2}') ($DIR), client: $CLIENT"
for round in $(seq "$ROUNDS"); do
    [ -n "${BENCH_SKIP_WRITES:-}" ] && break
    echo "# round $round"
    for replicas in 1 2 3; do
        set -- --child "$(child 1)"
        [ "$replicas" -ge 2 ] && set -- "$@" --child "$(child 2)"
        [ "$replicas" -ge 3 ] && set -- "$@" --child "$(child 3)"
        ctl 1 nexus create bench --uuid b0b0b0b0-0000-4000-8000-0000000000ff "$@" >/dev/null
        if [ "$CLIENT" = fio ]; then
            URI=$(ctl 1 bdev share bench --protocol nbd)
        else
            URI=$(ctl 1 nexus publish bench --protocol nvmf)
        fi
        rw=$(bench "$URI" randwrite 4k 32)
        sw=$(bench "$URI" write 128k 8)
        echo "replicas=$replicas randwrite-4k-qd32=$rw write-128k-qd8=$sw"
        [ "$CLIENT" = fio ] && ctl 1 bdev unshare bench >/dev/null
        ctl 1 nexus destroy bench >/dev/null
        rm -f "$DIR"/state-1/nexus/*.properties # the next nexus is a new volume
    done
done

echo "# rebuild: $VOL_GIB GiB onto a new remote child of a 1-replica nexus whose volume is full, quiet (no application"
echo "# I/O) and under a 4 KiB random write load at QD 8; rate = segments done x segment size / time (what the"
echo "# child receives), against what the path carries: the lesser of the child's sequential write over NVMe/TCP"
echo "# and the source pool's sequential read (1 MiB, QD 8); p99 = the load's write latency during the rebuild, and
# without one: after it (the new child in sync) and before it (one child)"
mbps() { "$M" bench --uri "$1" --rw "$2" --bs 1m --qd 8 --time "${SECS}s" --ramp 1s --json 2>/dev/null | json "round(d['bytes_per_second']/1048576)"; }
WRITE=$(mbps "$(child 2)" write)
truncate -s 1G "$DIR/read.img"   # the source's read: a file as large as its replica on the pools' file system
"$M" bench --uri "uring://$DIR/read.img" --rw write --bs 1m --qd 8 --time 30s --size $GIB --ramp 0s >/dev/null 2>&1
READ=$(mbps "uring://$DIR/read.img" read)
rm -f "$DIR/read.img"
PATHCAP=$((WRITE < READ ? WRITE : READ))
echo "path: child write over NVMe/TCP $WRITE MiB/s, source read $READ MiB/s -> $PATHCAP MiB/s"
p99() { python3 -c "import json; print(json.load(open('$1'))['lat_usec']['p99'])"; }
rebuild() { # segment-KiB tasks quiet|load
    kill "$PID_1"; wait "$PID_1" 2>/dev/null || true
    node 1 --nexus-rebuild-segment-kib "$1" --nexus-rebuild-tasks "$2" --http-endpoint 127.0.0.1:10191
    for _ in $(seq 50); do ctl 1 replica list 2>/dev/null | grep -q "$(uuid 1)" && break; sleep 0.2; done
    ctl 1 replica list | grep -q "$(uuid 1)" || { echo "node 1 restarted without its replica:" >&2; tail -30 "$DIR/node-1.log" >&2; exit 1; }
    rm -f "$DIR"/state-1/nexus/*.properties
    ctl 1 nexus create bench --uuid b0b0b0b0-0000-4000-8000-0000000000fe --child "$(child 1)" >/dev/null
    URI=$(ctl 1 nexus publish bench --protocol nvmf)
    "$M" bench --uri "$URI" --rw write --bs 1m --qd 8 --size $VOL --time $((8 * VOL_GIB))s --ramp 0s >/dev/null 2>&1   # fill it
    LAT=""
    if [ -n "${BENCH_WARM:-}" ]; then # a first rebuild the same way (quiet or under the same load), not measured: the JIT's turn
        LOAD=""
        if [ "$3" = load ]; then
            "$M" bench --uri "$URI" --rw randwrite --bs 4k --qd 8 --time 600s --ramp 0s --json >/dev/null 2>&1 &
            LOAD=$!
            sleep 2
        fi
        ctl 1 nexus add-child bench "$(child 2)" >/dev/null
        until curl -s "http://127.0.0.1:10191/metrics" | grep -F 'child="'"$(child 2)"'"' | grep -q '^mayastor_nexus_child_healthy.* 1\(\.0\)\?$'; do
            sleep 0.05
        done
        if [ -n "$LOAD" ]; then kill "$LOAD" 2>/dev/null || true; wait "$LOAD" 2>/dev/null || true; fi
        ctl 1 nexus remove-child bench "$(child 2)" >/dev/null
        ctl 2 replica destroy "$(uuid 2)" >/dev/null
        ctl 2 replica create p2 "${VOL_GIB}GiB" --uuid "$(uuid 2)" --share nvmf --allowed-host nqn.2019-05.io.openebs:node-name:bench-1 \
            --allowed-host nqn.2019-05.io.openebs:node-name:bench >/dev/null
    fi
    if [ "$3" = load ]; then
        "$M" bench --uri "$URI" --rw randwrite --bs 4k --qd 8 --time 5s --ramp 1s --json >"$DIR/base.json" 2>/dev/null
        "$M" bench --uri "$URI" --rw randwrite --bs 4k --qd 8 --time 600s --ramp 0s --json >"$DIR/load.json" 2>/dev/null &
        LOAD=$!
        sleep 2
        if [ -n "${BENCH_PROFILE:-}" ]; then
            PROCS="node-1=$PID_1 node-2=$PID_2 bench=$LOAD"
            python3 "$ROOT/benchmarks/threads.py" snap $PROCS >"$DIR/t0.json"
            sleep 4
            python3 "$ROOT/benchmarks/threads.py" snap $PROCS >"$DIR/t1.json"
        fi
    fi
    if [ "$3" = quiet ] && [ -n "${BENCH_PROFILE:-}" ]; then
        PROCS="node-1=$PID_1 node-2=$PID_2"
        python3 "$ROOT/benchmarks/threads.py" snap $PROCS >"$DIR/t1.json"
    fi
    ctl 1 nexus add-child bench "$(child 2)" >/dev/null
    # watched on the node's /metrics with curl: a ctl call per look would start a JVM, and load the CPU it measures
    until curl -s "http://127.0.0.1:10191/metrics" | grep -F 'child="'"$(child 2)"'"' | grep -q '^mayastor_nexus_child_healthy.* 1\(\.0\)\?$'; do
        sleep 0.05
    done
    if [ "$3" = quiet ] && [ -n "${BENCH_PROFILE:-}" ]; then
        python3 "$ROOT/benchmarks/threads.py" snap $PROCS >"$DIR/t2.json"
        echo "## profile: the quiet rebuild (from before add-child to the child's healthy on /metrics)"
        python3 "$ROOT/benchmarks/threads.py" diff "$DIR/t1.json" "$DIR/t2.json"
    fi
    if [ "$3" = load ]; then
        [ -n "${BENCH_PROFILE:-}" ] && python3 "$ROOT/benchmarks/threads.py" snap $PROCS >"$DIR/t2.json"
        kill "$LOAD" 2>/dev/null || true; wait "$LOAD" 2>/dev/null || true   # SIGTERM: it reports what it measured
        "$M" bench --uri "$URI" --rw randwrite --bs 4k --qd 8 --time 5s --ramp 1s --json >"$DIR/after.json" 2>/dev/null &
        AFTER=$!
        if [ -n "${BENCH_PROFILE:-}" ]; then
            sleep 2.5
            PROCS="node-1=$PID_1 node-2=$PID_2 bench=$AFTER"
            python3 "$ROOT/benchmarks/threads.py" snap $PROCS >"$DIR/t3.json"
            sleep 3
            python3 "$ROOT/benchmarks/threads.py" snap $PROCS >"$DIR/t4.json"
            echo "## profile: the load alone (1 child)"; python3 "$ROOT/benchmarks/threads.py" diff "$DIR/t0.json" "$DIR/t1.json"
            echo "## profile: the load during the rebuild"; python3 "$ROOT/benchmarks/threads.py" diff "$DIR/t1.json" "$DIR/t2.json"
            echo "## profile: the load after the rebuild (2 children in sync)"; python3 "$ROOT/benchmarks/threads.py" diff "$DIR/t3.json" "$DIR/t4.json"
        fi
        wait "$AFTER"
        [ -n "${BENCH_VERBOSE:-}" ] && cat "$DIR/load.json" "$DIR/after.json" >&2
        LAT=", load p99 $(p99 "$DIR/load.json") us; without a rebuild: $(p99 "$DIR/after.json") us (2 children), $(p99 "$DIR/base.json") us (1)"
    fi
    R=$(ctl 1 --json nexus list bench | json "d['nexusList'][0]['children'][1]['rebuild']")
    RATE=$(echo "$R" | python3 -c "import ast,sys; r=ast.literal_eval(sys.stdin.read()); print(round(r['bytesPerSecond']/1048576))")
    STATE=$(echo "$R" | python3 -c "import ast,sys; r=ast.literal_eval(sys.stdin.read()); print(r['state'])")
    echo "rebuild segment=${1}KiB tasks=$2 $3: $STATE at $RATE MiB/s = $(python3 -c "print(round($RATE/$PATHCAP, 2))") of the path$LAT"
    ctl 1 nexus destroy bench >/dev/null
    ctl 2 replica destroy "$(uuid 2)" >/dev/null  # a fresh replica for the next run
    ctl 2 replica create p2 "${VOL_GIB}GiB" --uuid "$(uuid 2)" --share nvmf --allowed-host nqn.2019-05.io.openebs:node-name:bench-1 \
        --allowed-host nqn.2019-05.io.openebs:node-name:bench >/dev/null
}
for config in ${BENCH_REBUILDS:-64,16,quiet 64,16,load}; do # not a pipeline: the nodes it starts must reach cleanup
    seg=${config%%,*}; rest=${config#*,}
    rebuild "$seg" "${rest%,*}" "${rest#*,}"
done
