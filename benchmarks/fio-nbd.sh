#!/bin/sh
# fio against any bdev of a running node — a replica, a nexus, an nvmf:// or aio:// bdev — through
# the NBD plugin and fio's nbd engine. The bdev is shared over nbd for the run (unless it already
# is) and unshared afterwards. The node needs the plugin in its plugin directory:
#   cp distribution/target/mayastor/extras/transport-nbd-*.jar <plugins.dir>/
# and, to listen elsewhere than 127.0.0.1:10809, an io.mayastorj.nbd.cfg beside it (nbd.port = N).
#
#   benchmarks/fio-nbd.sh --node HOST:PORT BDEV [fio options...]
#   benchmarks/fio-nbd.sh --node 127.0.0.1:10124 b0b0b0b0-0000-4000-8000-000000000001 \
#       --rw=randwrite --bs=4k --iodepth=32 --runtime=10 --time_based
# fio's defaults here: --name=BDEV --size=<the bdev> (--size and --name may be given to override).
set -eu
usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ "${1:-}" = --node ] && [ $# -ge 3 ] || usage
NODE=$2
BDEV=$3
shift 3
ROOT=$(cd "$(dirname "$0")/.." && pwd)
M="$ROOT/distribution/target/mayastor/bin/mayastor"
command -v fio >/dev/null || { echo "fio is missing (apt-get install fio)" >&2; exit 1; }

URI=$("$M" ctl --node "$NODE" bdev list | awk -v b="$BDEV" '$1 == b {print $NF}')
[ -n "$URI" ] || { echo "no bdev '$BDEV' on $NODE" >&2; exit 1; }
case "$URI" in
    nbd://*) SHARED_HERE="" ;;
    -) URI=$("$M" ctl --node "$NODE" bdev share "$BDEV" --protocol nbd) || exit 1; SHARED_HERE=1 ;;
    *) echo "'$BDEV' is shared as $URI already; unshare it first (a bdev has one share)" >&2; exit 1 ;;
esac
[ -n "$SHARED_HERE" ] && trap '"$M" ctl --node "$NODE" bdev unshare "$BDEV" >/dev/null' EXIT INT TERM
fio --name="$BDEV" --ioengine=nbd --uri="$URI" --size="$(nbdinfo --size "$URI" 2>/dev/null || echo 1G)" "$@"
