#!/bin/sh
# The io_uring bdev against fio's io_uring engine on the same file: `mayastor bench` on
# uring:///FILE (and aio:///FILE, the older path) and fio (ioengine=io_uring, direct=1, one job)
# alternate ROUNDS times, each workload at the same queue depth, so that drift hits all of them.
# The ratio that counts is uring/fio per workload (median IOPS over the rounds); see README.
#   benchmarks/uring.sh [ROUNDS] [SECONDS]      (after `mvn install`; writes to stdout)
# Environment: BENCH_WORKLOADS ("rw,bs,qd" triples, space between them), BENCH_DIR (where the file
# goes; default /var/tmp, must allow O_DIRECT), BENCH_FILE_MB (default 1024), BENCH_REACTORS (1).
set -eu
ROUNDS=${1:-3}
SECONDS_PER_RUN=${2:-10}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
M="$ROOT/distribution/target/mayastor/bin/mayastor"
DIR=$(mktemp -d "${BENCH_DIR:-/var/tmp}/uring-bench.XXXXXX")
FILE="$DIR/backing.img"
REACTORS=${BENCH_REACTORS:-1}
trap 'rm -rf "$DIR"' EXIT INT TERM

command -v fio >/dev/null || { echo "fio is needed (apt-get install fio)" >&2; exit 1; }
echo "# $(date -u +%FT%TZ) $(uname -r), $(nproc) cores, $("$M" version), fio $(fio --version)"
# a file of data, as a used disk holds: reads of holes would measure nothing
dd if=/dev/urandom of="$FILE" bs=1M count="${BENCH_FILE_MB:-1024}" status=none
sync

bench() { # label scheme rw bs qd
    printf '%-5s %-9s bs=%-4s qd=%-2s ' "$1" "$3" "$4" "$5"
    "$M" bench --uri "$2://$FILE" --rw "$3" --bs "$4" --qd "$5" --reactors "$REACTORS" \
        --time "${SECONDS_PER_RUN}s" --ramp 2s --json 2>"$DIR/bench.err" || { cat "$DIR/bench.err" >&2; exit 1; }
}

fio_run() { # rw bs qd
    printf '%-5s %-9s bs=%-4s qd=%-2s ' fio "$1" "$2" "$3"
    fio --name=raw --filename="$FILE" --ioengine=io_uring --direct=1 --rw="$1" --bs="$2" --iodepth="$3" \
        --numjobs=1 --time_based --runtime="$SECONDS_PER_RUN" --ramp_time=2 --output-format=json 2>"$DIR/fio.err" \
        | python3 -c '
import json, sys
job = json.load(sys.stdin)["jobs"][0]
io = job["read"] if job["read"]["io_bytes"] else job["write"]
cpu = (job["usr_cpu"] + job["sys_cpu"]) / 100.0 * job["elapsed"] * 1e6 / max(1, io["total_ios"])
print(json.dumps({"rw": sys.argv[1], "iops": round(io["iops"]), "lat_usec": {"p50": io["clat_ns"]["percentile"]["50.000000"] / 1000,
    "p99": io["clat_ns"]["percentile"]["99.000000"] / 1000}, "cpu_usec_per_io": round(cpu, 3)}))' "$1" \
        || { cat "$DIR/fio.err" >&2; exit 1; }
}

for round in $(seq "$ROUNDS"); do
    echo "# round $round"
    for w in ${BENCH_WORKLOADS:-randread,4k,32 randwrite,4k,32 read,128k,8 write,128k,8}; do
        # shellcheck disable=SC2046 # w is three words
        set -- $(echo "$w" | tr , ' ')
        fio_run "$1" "$2" "$3"
        bench uring uring "$1" "$2" "$3"
        bench aio aio "$1" "$2" "$3"
    done
done
