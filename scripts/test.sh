#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine, then runs every test of the workspace.
#
#   scripts/test.sh            # install servers + run all tests (unit, doc, conformance, integration, compat)
#
# Installs (when missing): Debian's protobuf-compiler and libprotobuf-dev (etcd-client's build),
# etcd-server 3.4.23, nginx,
# and Consul 1.8.7 from Debian bullseye's archive into .tools/ (scripts/install-consul.sh).
# Where a Docker engine answers, it builds the local etcd image the tests run in containers
# (scripts/etcd-image.sh; no image registry is needed).
#
# Environment: DISCOVERY_REQUIRE_ETCD=1 / DISCOVERY_REQUIRE_CONSUL=1 (set by .ci/run) make a missing server a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

step() { printf '\n== %s (%s)\n' "$1" "$(date +%H:%M:%S)"; }

step "system packages"
need=()
command -v protoc >/dev/null 2>&1 || need+=(protobuf-compiler)
# etcd-client's protos import google/protobuf/*.proto, which Debian ships in libprotobuf-dev.
[ -f /usr/include/google/protobuf/descriptor.proto ] || need+=(libprotobuf-dev)
[ -x /usr/bin/etcd ] || need+=(etcd-server)
[ -x /usr/sbin/nginx ] || need+=(nginx)
# The DNS server of the SRV-record tests (tests/tests/endpoints_containers.rs), run in a container.
[ -x /usr/sbin/dnsmasq ] || need+=(dnsmasq-base)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  as_root apt-get update -q
  # Keep the packages' own services from starting (policy-rc.d), so nothing binds 2379/80.
  printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
  as_root chmod +x /usr/sbin/policy-rc.d
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
  as_root rm -f /usr/sbin/policy-rc.d
fi
protoc --version
# sed reads to the end: a 'head' here would SIGPIPE etcd and, under pipefail, fail the run.
/usr/bin/etcd --version 2>&1 | sed -n 1p
/usr/sbin/nginx -v

step "consul"
if [ -x scripts/install-consul.sh ]; then
  scripts/install-consul.sh
fi

step "docker images"
if docker info >/dev/null 2>&1; then
  [ -x scripts/etcd-image.sh ] && scripts/etcd-image.sh
  if [ -x scripts/consul-image.sh ]; then scripts/consul-image.sh; fi
else
  echo "no Docker engine answers: etcd and Consul run as local processes"
fi

export DISCOVERY_WORKSPACE="$root"
export RUST_BACKTRACE=1
# One clean pass: incremental caches would only cost disk (gigabytes over ~40 test binaries).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features -q -- -D warnings
# The library with its default features, as an embedding application builds it.
cargo clippy -p discovery-render --lib -q -- -D warnings

step "docs"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features -q

step "tests"
# The integration tests run the example binaries (tests/src/bins.rs builds them on first use):
# built with the tests' own features, they share the tests' dependencies.
export DISCOVERY_BIN_CARGO_ARGS="--workspace --all-features --bins --tests"
cargo test --workspace --all-features --no-fail-fast

step "done"
