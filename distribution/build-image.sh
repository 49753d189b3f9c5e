#!/bin/sh
# Builds the node image docker.io/mayastorj/mayastor:VERSION as an OCI archive, without a Docker daemon and
# without a registry: a Debian bookworm root file system made with debootstrap (minbase, plus the
# tools the CSI node plugin runs: nvme-cli, open-iscsi, e2fsprogs, xfsprogs), a Java runtime cut
# from this machine's JDK with jlink, and the distribution (distribution/target/mayastor), committed
# with buildah as an oci-archive. Then, unless --no-smoke, it unpacks the archive it wrote, runs a
# node from it chrooted (containers may not run here) and asks it `ctl node info`.
#
#   distribution/build-image.sh [--no-smoke] [OUTPUT]     (as root; default OUTPUT:
#                                                          distribution/target/mayastor-image.tar)
#   load it: podman load -i OUTPUT | ctr -n k8s.io images import OUTPUT | skopeo copy oci-archive:OUTPUT …
#
# Needs debootstrap and buildah (installed with apt-get when missing) and Debian's mirror; the base
# root file system is cached in ~/.cache/mayastor-image (delete it to refresh the packages).
set -eu

SMOKE=1
if [ "${1:-}" = "--no-smoke" ]; then SMOKE=0; shift; fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/distribution/src/main/dist/bin/find-jdk.sh"
DIST="$ROOT/distribution/target/mayastor"
VERSION=$(sed -n 's:.*<version>\(.*\)-SNAPSHOT</version>.*:\1:p' "$ROOT/pom.xml" | head -n 1)
# fully qualified: `ctr images import` keeps an OCI archive's name as written, and the kubelet (CRI)
# looks images up as docker.io/…; a short name would not be found on the node and be pulled
TAG="docker.io/mayastorj/mayastor:$VERSION"
OUT=$(realpath -m "${1:-$ROOT/distribution/target/mayastor-image.tar}")
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/mayastor-image"
PACKAGES=nvme-cli,open-iscsi,e2fsprogs,xfsprogs,util-linux,mount,procps,kmod,ca-certificates

say() { echo "== $*"; }
[ "$(id -u)" -eq 0 ] || { echo "build-image.sh: run it as root (debootstrap and chroot need it)" >&2; exit 2; }
for tool in debootstrap buildah; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        say "installing $tool"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$tool" >/dev/null
    fi
done
[ -x "$DIST/bin/mayastor" ] || "$ROOT/mayastor" build
export STORAGE_DRIVER=vfs # works wherever root does: no overlayfs or fuse needed
export BUILDAH_ISOLATION=chroot

WORK=$(mktemp -d /var/tmp/mayastor-image.XXXXXX)
CONTAINER=""
cleanup() {
    [ -n "$CONTAINER" ] && buildah rm "$CONTAINER" >/dev/null 2>&1 || true
    for m in proc sys dev; do umount "$WORK/smoke/$m" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
start=$(date +%s)

# 1. Debian's userspace, cached: debootstrap takes minutes, the packages change rarely
BASE="$CACHE/bookworm-minbase.tar.gz"
if [ ! -s "$BASE" ]; then
    say "debootstrap bookworm (minbase + $PACKAGES) from $MIRROR"
    mkdir -p "$CACHE" "$WORK/base"
    debootstrap --variant=minbase --include="$PACKAGES" bookworm "$WORK/base" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
        || { tail -20 "$WORK/debootstrap.log"; exit 1; }
    chroot "$WORK/base" apt-get clean
    rm -rf "$WORK/base/var/lib/apt/lists"/* "$WORK/base/usr/share/doc"/* "$WORK/base/usr/share/man"/* \
        "$WORK/base/usr/share/locale"/* "$WORK/base/var/cache/debconf"/*-old "$WORK/base/var/log"/*
    tar -C "$WORK/base" -czf "$BASE.tmp" . && mv "$BASE.tmp" "$BASE"
    rm -rf "$WORK/base"
fi
say "root file system"
mkdir -p "$WORK/rootfs"
tar -C "$WORK/rootfs" -xzf "$BASE"

# 2. a Java runtime with the modules the runtimes use, from this machine's JDK ($JDK_VERSION)
say "jlink a Java $JDK_VERSION runtime"
"$JDK/bin/jlink" --add-modules java.se,jdk.httpserver,jdk.unsupported,jdk.crypto.ec,jdk.management,jdk.zipfs \
    --strip-debug --no-man-pages --no-header-files --compress=zip-6 \
    --output "$WORK/rootfs/usr/lib/jvm/mayastor-jre"

# 3. the distribution
say "the distribution"
mkdir -p "$WORK/rootfs/opt"
cp -a "$DIST" "$WORK/rootfs/opt/mayastor"
rm -rf "$WORK/rootfs/opt/mayastor/state" "$WORK/rootfs/opt/mayastor/plugins"/*.jar 2>/dev/null || true
# the command line's AOT cache belongs to this machine's JDK, not to the image's jlinked runtime
rm -f "$WORK/rootfs/opt/mayastor/lib/cli.aot"

# 4. the image
say "buildah commit $TAG"
CONTAINER=$(buildah from scratch)
buildah copy --quiet "$CONTAINER" "$WORK/rootfs" / >/dev/null
buildah config --env JAVA_HOME=/usr/lib/jvm/mayastor-jre \
    --env PATH=/opt/mayastor/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --entrypoint '["/opt/mayastor/bin/mayastor"]' --cmd '["--help"]' --workingdir /opt/mayastor \
    --port 10124 --port 8420 --port 4421 --port 3260 --port 9502 \
    --label org.opencontainers.image.title=mayastor-j \
    --label org.opencontainers.image.version="$VERSION" \
    --label org.opencontainers.image.description="Mayastor-J: the node, control plane and CSI runtimes" \
    "$CONTAINER"
mkdir -p "$(dirname "$OUT")"
rm -f "$OUT"
buildah commit --quiet --format oci --disable-compression=false "$CONTAINER" "oci-archive:$OUT:$TAG" >/dev/null
say "$OUT: $TAG, $(du -m "$OUT" | cut -f1) MiB, built in $(( $(date +%s) - start )) s"

[ "$SMOKE" -eq 1 ] || exit 0

# 5. smoke test: the image's own files, chrooted (the layer of the archive, unpacked)
say "smoke test: a node from the image, chrooted"
mkdir -p "$WORK/oci" "$WORK/smoke"
tar -C "$WORK/oci" -xf "$OUT"
manifest=$(sed -n 's/.*"digest":"sha256:\([0-9a-f]*\)".*/\1/p' "$WORK/oci/index.json" | head -n 1)
for layer in $(tr ',' '\n' < "$WORK/oci/blobs/sha256/$manifest" | sed -n 's/.*"digest":"sha256:\([0-9a-f]*\)".*/\1/p' | tail -n +2); do
    tar -C "$WORK/smoke" -xf "$WORK/oci/blobs/sha256/$layer"
done
mount -t proc proc "$WORK/smoke/proc"
mount --rbind /sys "$WORK/smoke/sys"
mount --rbind /dev "$WORK/smoke/dev"
PORT=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 20000 ))
chroot "$WORK/smoke" /opt/mayastor/bin/mayastor node --node-id image-smoke --grpc-endpoint "127.0.0.1:$PORT" \
    --state-dir /tmp/state --buffers-mb 32 --hugepages off --nvmf-port $((PORT + 1)) --iscsi-port $((PORT + 2)) \
    >"$WORK/node.log" 2>&1 &
NODE=$!
for _ in $(seq 120); do grep -q "ready" "$WORK/node.log" 2>/dev/null && break; sleep 0.5; done
status=0
chroot "$WORK/smoke" /opt/mayastor/bin/mayastor ctl --node "127.0.0.1:$PORT" node info || status=$?
chroot "$WORK/smoke" sh -c 'nvme version && iscsiadm --version && mkfs.xfs -V && mke2fs -V 2>&1 | head -n 1' || status=$?
kill "$NODE" 2>/dev/null; wait "$NODE" 2>/dev/null || true
for m in proc sys dev; do umount -R "$WORK/smoke/$m" 2>/dev/null || true; done
if [ "$status" -ne 0 ]; then
    echo "smoke test failed; the node said:" >&2
    cat "$WORK/node.log" >&2
    exit 1
fi
say "smoke test passed"
