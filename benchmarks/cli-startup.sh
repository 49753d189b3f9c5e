#!/bin/sh
# Wall time of one `mayastor ctl node info` against a running node, with the command line's AOT
# cache (lib/cli.aot, made by the build on JDK 25+) and without it (MAYASTOR_AOT=0), rounds
# alternating in one run; min and median of each, and their ratio.
#   benchmarks/cli-startup.sh [RUNS]        (default 15 of each)
set -eu
NAME=cli-startup DEFAULT_DIR=/tmp
. "$(dirname "$0")/nodes.sh"
RUNS=${1:-15}
start_node 61 cli 10161 10162 10163
ENDPOINT=127.0.0.61:10161

one() { # seconds for one call, with MAYASTOR_AOT=$1
    start=$(date +%s.%N)
    MAYASTOR_AOT=$1 "$M" ctl --node "$ENDPOINT" node info >/dev/null
    end=$(date +%s.%N)
    echo "$end - $start" | bc
}
"$M" ctl --node "$ENDPOINT" node info >/dev/null # the node's own first call out of the way
for i in $(seq "$RUNS"); do
    one 1 >>"$DIR/with"
    one 0 >>"$DIR/without"
done
stats() { sort -n "$1" | awk '{a[NR] = $1} END {printf "min %.3f s, median %.3f s", a[1], a[int((NR + 1) / 2)]}'; }
median() { sort -n "$1" | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
echo "ctl node info, $RUNS calls each ($(ls "$ROOT/distribution/target/mayastor/lib/cli.aot" >/dev/null 2>&1 && echo "cache present" || echo "no cache"))"
echo "  with the AOT cache:    $(stats "$DIR/with")"
echo "  without (MAYASTOR_AOT=0): $(stats "$DIR/without")"
echo "  ratio of medians (with / without): $(echo "scale=2; $(median "$DIR/with") / $(median "$DIR/without")" | bc)"
