#!/usr/bin/env bash
# Builds small local container images of the daemons from binaries built here (no image
# registry is needed): one FROM-scratch image per binary, holding the binary, the libraries
# `ldd` names for it, /bin/sh (for check_cmd, reload_cmd and exec commands, which run through
# `sh -c`) and CA certificates when the host has them.
#
#   scripts/image.sh                      # cargo build --profile dist, then confd, consul-template, register
#   scripts/image.sh confd                # just one
#   PROFILE=release scripts/image.sh      # binaries from target/release instead of target/dist
#   BIN_DIR=/path/to/bins scripts/image.sh  # prebuilt binaries; nothing is built
#   TAG=dev scripts/image.sh              # tag (default: the workspace version)
#
# Images: discovery-confd:TAG, discovery-consul-template:TAG, discovery-register:TAG. Their
# entrypoint is the binary, so `docker run discovery-confd:TAG -onetime -backend env ...` works.
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
    echo "image: $*" >&2
    exit 1
}

command -v docker >/dev/null 2>&1 || die "docker is not installed"
docker info >/dev/null 2>&1 || die "no Docker engine answers (docker info failed)"

PROFILE="${PROFILE:-dist}"
TAG="${TAG:-$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)}"
names=("$@")
[[ ${#names[@]} -gt 0 ]] || names=(confd consul-template register)

if [[ -n "${BIN_DIR:-}" ]]; then
    dir="$BIN_DIR"
else
    target="${CARGO_TARGET_DIR:-target}"
    bins=()
    for n in "${names[@]}"; do bins+=(--bin "$n"); done
    cargo build --locked -q -p discovery-examples --profile "$PROFILE" "${bins[@]}" ||
        die "cargo build failed"
    dir="$target/$PROFILE"
fi

copy_with_libs() { # <file> <rootfs> [<path in image>]
    local file="$1" rootfs="$2" dest="${3:-$1}"
    mkdir -p "$rootfs$(dirname "$dest")"
    cp -L "$file" "$rootfs$dest"
    { ldd "$file" 2>/dev/null || true; } | awk '/=> \// { print $3 } /^[[:space:]]*\/lib/ { print $1 }' |
        while read -r lib; do
            mkdir -p "$rootfs$(dirname "$lib")"
            cp -L "$lib" "$rootfs$lib"
        done
}

for n in "${names[@]}"; do
    bin="$dir/$n"
    [[ -x "$bin" ]] || die "$bin not found"
    ctx="$(mktemp -d)"
    rootfs="$ctx/rootfs"
    mkdir -p "$rootfs/tmp" "$rootfs/etc"
    chmod 1777 "$rootfs/tmp"
    copy_with_libs "$bin" "$rootfs" "/usr/local/bin/$n"
    copy_with_libs /bin/sh "$rootfs" /bin/sh
    [[ -f /etc/ssl/certs/ca-certificates.crt ]] &&
        copy_with_libs /etc/ssl/certs/ca-certificates.crt "$rootfs"
    printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$rootfs/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
    cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM scratch
COPY rootfs/ /
ENTRYPOINT ["/usr/local/bin/$n"]
DOCKERFILE
    image="discovery-$n:$TAG"
    DOCKER_BUILDKIT=0 docker build -q -t "$image" --label "discovery.binary=$n" "$ctx" >/dev/null ||
        die "docker build of $image failed"
    rm -rf "$ctx"
    echo "image: built $image from $bin" >&2
done
docker images --filter "label=discovery.binary" --format '{{.Repository}}:{{.Tag}}\t{{.Size}}'
