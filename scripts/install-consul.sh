#!/usr/bin/env bash
# Installs a real Consul (Debian bullseye's `consul` package, 1.8.7) into .tools/consul/ without
# touching the system's apt state, and prints the binary's path on stdout.
#
# The archive URI is read from the machine's own /etc/apt/sources.list.d/debian.sources; a private
# sources list with suite `bullseye`, component `main` lives in .tools/apt/ with its own lists and
# cache. Idempotent: an existing binary is reused. Where a Docker engine answers, a local image
# `discovery-consul:1.8.7` (FROM scratch + the binary and its libraries) is built too; set
# DISCOVERY_CONSUL_IMAGE=0 to skip that.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
APT="$TOOLS/apt"
DEST="$TOOLS/consul"
BIN="$DEST/usr/bin/consul"
IMAGE="discovery-consul:1.8.7"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
SYSTEM_SOURCES=/etc/apt/sources.list.d/debian.sources

die() {
    echo "install-consul: $*" >&2
    exit 1
}

install_binary() {
    [[ -r "$SYSTEM_SOURCES" ]] || die "cannot read $SYSTEM_SOURCES (needed for the archive URI)"
    [[ -r "$KEYRING" ]] || die "missing keyring $KEYRING (package debian-archive-keyring)"
    local uri
    uri="$(awk '/^URIs:/ { print $2; exit }' "$SYSTEM_SOURCES")"
    [[ -n "$uri" ]] || die "no URIs: line in $SYSTEM_SOURCES"

    mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$APT/parts" "$APT/download"
    printf 'deb [signed-by=%s] %s bullseye main\n' "$KEYRING" "$uri" >"$APT/sources.list"
    local opts=(
        -o "Dir::State::Lists=$APT/lists"
        -o "Dir::Cache=$APT/cache"
        -o "Dir::Etc::SourceList=$APT/sources.list"
        -o "Dir::Etc::SourceParts=$APT/parts"
        -o "Dir::State::status=/dev/null"
        -o "Debug::NoLocking=1"
        -o "APT::Sandbox::User=root"
        -o "Acquire::Languages=none"
    )
    echo "install-consul: fetching the bullseye package index" >&2
    apt-get "${opts[@]}" -qq update >&2 || die "apt-get update of the private bullseye list failed"
    (cd "$APT/download" && rm -f consul_*.deb &&
        apt-get "${opts[@]}" -qq download consul >&2) || die "apt-get download consul failed"
    local deb
    local debs=("$APT"/download/consul_*.deb)
    deb="${debs[0]}"
    [[ -f "$deb" ]] || die "no consul .deb was downloaded"
    rm -rf "$DEST"
    mkdir -p "$DEST"
    dpkg -x "$deb" "$DEST" || die "dpkg -x $deb failed"
    [[ -x "$BIN" ]] || die "the package did not contain usr/bin/consul"
}

build_image() {
    [[ "${DISCOVERY_CONSUL_IMAGE:-1}" != 0 ]] || return 0
    command -v docker >/dev/null 2>&1 || return 0
    docker info >/dev/null 2>&1 || return 0
    # Reuse an image that runs; rebuild one that does not.
    docker run --rm "$IMAGE" version >/dev/null 2>&1 && return 0
    local ctx
    ctx="$(mktemp -d)"
    trap 'rm -rf "$ctx"' RETURN
    mkdir -p "$ctx/rootfs/bin" "$ctx/rootfs/tmp" "$ctx/rootfs/consul/data"
    cp "$BIN" "$ctx/rootfs/bin/consul"
    # Copy the dynamic libraries the binary needs (none when it is static).
    ldd "$BIN" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | while read -r lib; do
        mkdir -p "$ctx/rootfs$(dirname "$lib")"
        cp -L "$lib" "$ctx/rootfs$lib"
    done
    cat >"$ctx/Dockerfile" <<'EOF'
FROM scratch
COPY rootfs/ /
ENV CHECKPOINT_DISABLE=1
EXPOSE 8500
ENTRYPOINT ["/bin/consul"]
CMD ["agent", "-dev", "-client", "0.0.0.0"]
EOF
    docker build -q -t "$IMAGE" "$ctx" >&2 || echo "install-consul: docker image build failed (binary still usable)" >&2
}

if [[ ! -x "$BIN" ]] || ! "$BIN" version >/dev/null 2>&1; then
    install_binary
fi
"$BIN" version >/dev/null 2>&1 || die "$BIN does not run"
build_image
echo "$BIN"
