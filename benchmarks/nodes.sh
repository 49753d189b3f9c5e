# Sourced by the benchmarks that run node processes on loopback addresses: sets ROOT, M (the
# mayastor launcher; MAYASTOR names another build's) and DIR (a fresh directory in $BENCH_DIR, else
# $DEFAULT_DIR, named after $NAME), and stops every node it started, and removes DIR, on exit.
ROOT=$(cd "$(dirname "$0")/.." && pwd)
M=${MAYASTOR:-"$ROOT/distribution/target/mayastor/bin/mayastor"}
DIR=$(mktemp -d "${BENCH_DIR:-$DEFAULT_DIR}/$NAME.XXXXXX")
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

# start_node N ID GRPC_PORT NVMF_PORT ISCSI_PORT [flags]: node ID on 127.0.0.N, its state and log in
# DIR; returns once it is ready (PID_N is its pid).
start_node() {
    n=$1; id=$2; grpc=$3; nvmf=$4; iscsi=$5; shift 5
    "$M" node --node-id "$id" --grpc-endpoint "127.0.0.$n:$grpc" --state-dir "$DIR/state-$n" \
        --nvmf-address "127.0.0.$n" --nvmf-port "$nvmf" --nvmf-nexus-port "$((nvmf + 1000))" --iscsi-address "127.0.0.$n" --iscsi-port "$iscsi" "$@" \
        >"$DIR/node-$n.log" 2>&1 &
    eval "PID_$n=$!"
    PIDS="$PIDS $!"
    for _ in $(seq 150); do grep -q "ready" "$DIR/node-$n.log" 2>/dev/null && return; sleep 0.2; done
    echo "node $n did not start:" >&2; cat "$DIR/node-$n.log" >&2; exit 1
}
