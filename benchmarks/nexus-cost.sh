#!/bin/sh
# What a replicated write costs against what its parts cost alone, in one run (issue 19, point 4).
# Four node processes on 127.0.0.1-.4, each with a pool on a file in $BENCH_DIR (default /dev/shm,
# so that the figures are the software's, not a disk's); nodes 2-4 each share a thick replica over
# NVMe/TCP; `mayastor bench` writes 4 KiB at random to
#   front  a RAM bdev shared by node 1 (the NVMe/TCP front end alone),
#   child  each replica directly (a child's path alone: its node's target and pool),
#   1      a nexus on node 1 with one remote child (node 2),
#   3      a nexus on node 1 with three remote children (nodes 2, 3, 4),
#   3-on-1 a nexus on node 1 with three remote children all on node 2: the same fan-out with one
#          process to schedule instead of three (on a machine with fewer cores than processes,
#          what separates the two is the scheduler, not the nexus).
# CPU per I/O is the sum over the node processes of utime+stime from /proc/PID/stat around the run,
# divided by the I/Os done. The sum of the parts for three children is front + 3 x (cost of the
# 1-child nexus - front): the front end once, and one child path (the nexus's initiator, the
# network and the child's node) per child. Latency at QD 1 compares the 3- and 1-child nexus.
#   benchmarks/nexus-cost.sh [ROUNDS] [SECONDS]    (after `mvn install`)
# BENCH_PROFILE=1 prints, on stderr, each QD 1 run's CPU, run-queue wait and context switches per
# process and thread (benchmarks/threads.py): the wake-ups a write costs, and who waited for a core.
set -eu
ROUNDS=${1:-2}
SECS=${2:-6}
NAME=nexus-cost DEFAULT_DIR=/dev/shm
. "$(dirname "$0")/nodes.sh"

node() { start_node "$1" "cost-$1" 10190 8440 3270 --buffers-mb 128; } # node n on 127.0.0.n
ctl() { n=$1; shift; "$M" ctl --node "127.0.0.$n:10190" "$@"; }
uuid() { echo "c0c0c0c0-0000-4000-8000-00000000000$1"; }
child() { # replica n: 2-4 on node n, 5 and 6 on node 2
    case $1 in 5|6) echo "nvmf://127.0.0.2:8440/nqn.2019-05.io.openebs:$(uuid "$1")" ;;
        *) echo "nvmf://127.0.0.$1:8440/nqn.2019-05.io.openebs:$(uuid "$1")" ;; esac
}
ticks() { # the summed utime+stime of the node processes, in clock ticks
    t=0
    for p in $PIDS; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
    echo "$t"
}
HZ=$(getconf CLK_TCK)

for n in 1 2 3 4; do node "$n"; done
for n in 2 3 4; do
    truncate -s 1700M "$DIR/pool-$n.img"
    ctl "$n" pool create "p$n" "uring://$DIR/pool-$n.img" >/dev/null
    ctl "$n" replica create "p$n" 512MiB --uuid "$(uuid "$n")" --share nvmf >/dev/null
done
for n in 5 6; do # node 2's second and third replica
    ctl 2 replica create p2 512MiB --uuid "$(uuid "$n")" --share nvmf >/dev/null
done
ctl 1 bdev create "malloc:///front?size_mb=512" >/dev/null
FRONT=$(ctl 1 bdev share front --protocol nvmf)

run() { # label uri qd -> "label qd=N iops=.. cpu_us=.. mean_us=.. p99_us=.."
    before=$(ticks)
    if [ -n "${BENCH_PROFILE:-}" ] && [ "$3" = 1 ]; then # where a QD 1 write's time goes, per thread (threads.py)
        "$M" bench --uri "$2" --rw randwrite --bs 4k --qd "$3" --time "${SECS}s" --ramp 0s --json >"$DIR/out.json" 2>/dev/null &
        B=$!
        sleep 1.5
        procs="bench=$B"; i=1; for p in $PIDS; do procs="$procs node-$i=$p"; i=$((i + 1)); done
        python3 "$ROOT/benchmarks/threads.py" snap $procs >"$DIR/p0.json"
        sleep $((SECS - 3))
        python3 "$ROOT/benchmarks/threads.py" snap $procs >"$DIR/p1.json"
        wait "$B"
        out=$(cat "$DIR/out.json")
        echo "## profile: $1 at QD 1" >&2
        python3 "$ROOT/benchmarks/threads.py" diff "$DIR/p0.json" "$DIR/p1.json" 4 >&2
    else
        out=$("$M" bench --uri "$2" --rw randwrite --bs 4k --qd "$3" --time "${SECS}s" --ramp 0s --json 2>/dev/null)
    fi
    after=$(ticks)
    echo "$out" | python3 -c "
import json, sys
d = json.load(sys.stdin)
cpu = ($after - $before) / $HZ * 1e6 / max(1, d['ios'])
print('%s qd=%s iops=%d cpu_us=%.2f mean_us=%.1f p99_us=%.1f' % ('$1', d['qd'], d['iops'], cpu, d['lat_usec']['mean'], d['lat_usec']['p99']))" \
        | tee -a "$DIR/round"
}
summary() { # the round's ratios, from its lines
    python3 - "$DIR/round" <<'EOF'
import sys
v = {}
for line in open(sys.argv[1]):
    name, qd, *rest = line.split()
    v[name + ' ' + qd] = dict(kv.split('=') for kv in rest)
cpu = lambda k: float(v[k + ' qd=32']['cpu_us'])
lat = lambda k: float(v[k + ' qd=1']['mean_us'])
front = cpu('front')
parts = front + 3 * (cpu('nexus-1') - front)
print('=> CPU per write: 3 children %.2f us, the parts %.2f us (front %.2f + 3 x child path %.2f): %.2f of the parts'
      % (cpu('nexus-3'), parts, front, cpu('nexus-1') - front, cpu('nexus-3') / parts))
print('=> QD 1 write latency: 3 children %.1f us / 1 child %.1f us = %.2f (three on one node: %.2f)'
      % (lat('nexus-3'), lat('nexus-1'), lat('nexus-3') / lat('nexus-1'), lat('nexus-3-on-1') / lat('nexus-1')))
EOF
    rm -f "$DIR/round"
}
nexus() { # children...: creates and publishes the nexus on node 1, prints its URI
    set -- $(for c in "$@"; do echo --child "$(child "$c")"; done)
    ctl 1 nexus create cost --uuid c0c0c0c0-0000-4000-8000-0000000000ff "$@" >/dev/null
    ctl 1 nexus publish cost --protocol nvmf
}
unnexus() {
    ctl 1 nexus destroy cost >/dev/null
    rm -f "$DIR"/state-1/nexus/*.properties # the next nexus is a new volume
}

echo "# $(date -u +%FT%TZ) $(uname -r), $(nproc) cores, pools on $(df -T "$DIR" | awk 'NR==2 {print $2}'), ${SECS}s per run"
# fill the replicas once, so that every run overwrites (thick replicas; the pool's file is allocated)
for n in 2 3 4 5 6; do "$M" bench --uri "$(child "$n")" --rw write --bs 1m --qd 8 --time 3s --size 536870912 --ramp 0s >/dev/null 2>&1 || true; done
for round in $(seq "$ROUNDS"); do
    echo "# round $round"
    run front "$FRONT" 32
    for n in 2 3 4; do run "child-$n" "$(child "$n")" 32; done
    URI=$(nexus 2); run nexus-1 "$URI" 32; run nexus-1 "$URI" 1; unnexus
    URI=$(nexus 2 3 4); run nexus-3 "$URI" 32; run nexus-3 "$URI" 1; unnexus
    URI=$(nexus 2 5 6); run nexus-3-on-1 "$URI" 32; run nexus-3-on-1 "$URI" 1; unnexus
    summary
done
