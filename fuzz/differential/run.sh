#!/usr/bin/env bash
# Differential test of our Go-template engine against Go's own text/template (the oracle).
#
#   fuzz/differential/run.sh [SEED] [COUNT]
#
# Needs Debian's golang-go (Go 1.19, the version behind the compat goldens): apt-get install golang-go.
# Generates COUNT structured templates (gen.py), renders each with Go (oracle/main.go, used only as
# a test oracle) and with our engine (render/examples/gotmpl_diff.rs, same functions), and prints
# every case whose output or error text differs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
seed=${1:-1}
count=${2:-6000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
command -v go >/dev/null || { echo "go not found: apt-get install golang-go" >&2; exit 2; }
(cd "$here/oracle" && GOFLAGS=-mod=mod GOCACHE="$work/gocache" go build -o "$work/oracle" .)
python3 "$here/gen.py" "$seed" "$work/cases.jsonl" "$count" >/dev/null
"$work/oracle" < "$work/cases.jsonl" > "$work/go.jsonl"
cargo run -q --release --manifest-path "$root/Cargo.toml" -p discovery-render --example gotmpl_diff \
  < "$work/cases.jsonl" > "$work/rust.jsonl"
python3 "$here/cmp.py" 20 "$work"
