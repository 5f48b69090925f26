#!/usr/bin/env bash
# Builds the local etcd image used by the integration tests (no image registry is needed):
# a FROM-scratch image holding Debian's /usr/bin/etcd (package etcd-server) and the libraries
# `ldd` names for it.
#
#   scripts/etcd-image.sh            # builds discovery-etcd:3.4.23 (or $DISCOVERY_ETCD_IMAGE)
#   ETCD_BIN=/path/to/etcd scripts/etcd-image.sh
#   FORCE=1 scripts/etcd-image.sh    # rebuild even when the image exists
#
# The image's entrypoint is /usr/local/bin/etcd (as in upstream images); the test fixture passes the
# data directory and listen/advertise flags. A user with registry access can set DISCOVERY_ETCD_IMAGE to an upstream
# image (e.g. quay.io/coreos/etcd:v3.4.23) instead: the fixture sets the entrypoint to
# /usr/local/bin/etcd, where upstream images keep the binary too.
set -euo pipefail

IMAGE="${DISCOVERY_ETCD_IMAGE:-discovery-etcd:3.4.23}"
BIN="${ETCD_BIN:-/usr/bin/etcd}"

die() {
    echo "etcd-image: $*" >&2
    exit 1
}

command -v docker >/dev/null 2>&1 || die "docker is not installed"
docker info >/dev/null 2>&1 || die "no Docker engine answers (docker info failed)"
[[ -x "$BIN" ]] || die "$BIN not found (install Debian's etcd-server, or set ETCD_BIN)"

if [[ "${FORCE:-0}" != 1 ]] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "etcd-image: $IMAGE already exists (FORCE=1 rebuilds it)" >&2
    exit 0
fi

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/rootfs/usr/local/bin" "$ctx/rootfs/tmp" "$ctx/rootfs/etcd-data"
cp "$BIN" "$ctx/rootfs/usr/local/bin/etcd"
# The dynamic libraries and the loader (nothing when the binary is static).
ldd "$BIN" 2>/dev/null | awk '/=> \// { print $3 } /^[[:space:]]*\/lib/ { print $1 }' |
    while read -r lib; do
        mkdir -p "$ctx/rootfs$(dirname "$lib")"
        cp -L "$lib" "$ctx/rootfs$lib"
    done
cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY rootfs/ /

EXPOSE 2379 2380
ENTRYPOINT ["/usr/local/bin/etcd"]
DOCKERFILE

version="$("$BIN" --version 2>/dev/null | awk '/etcd Version/ { print $3 }')"
DOCKER_BUILDKIT=0 docker build -q -t "$IMAGE" --label "etcd.version=${version:-unknown}" "$ctx" >&2 ||
    die "docker build failed"
echo "etcd-image: built $IMAGE (etcd ${version:-unknown}) from $BIN" >&2
docker images "$IMAGE"
