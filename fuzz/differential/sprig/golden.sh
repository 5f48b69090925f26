#!/usr/bin/env bash
# Regenerates render/src/consul_template/sprig/golden.jsonl from cases.txt with the Go oracle.
#
#   fuzz/differential/sprig/golden.sh
#
# Needs Debian's Go 1.19 (apt-get install golang-1.19-go) and bare mirrors of Sprig v3.3.0 and
# its dependencies under /work/.mirror (OWNER+NAME/repo); builds in GOPATH mode (no module proxy).
# The mirror of huandu/xstrings stops at v1.4.0, so a shim supplies v1.5.0's ToPascalCase as
# v1.4.0's ToCamelCase (both upper camel case): camelcase/snakecase/kebabcase goldens are v1.4.0's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
mirror=${MIRROR:-/work/.mirror}
go=${GO:-/usr/lib/go-1.19/bin/go}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src=$work/gopath/src
put() { # OWNER+NAME TAG IMPORT_PATH
  local d=$mirror/$1/repo
  [ -d "$d/.git" ] && d=$d/.git
  mkdir -p "$src/$3"
  git --git-dir="$d" archive "$2" | tar -x -C "$src/$3"
}
put Masterminds+sprig v3.3.0 github.com/Masterminds/sprig/v3
put Masterminds+semver v3.3.0 github.com/Masterminds/semver/v3
put Masterminds+goutils v1.1.1 github.com/Masterminds/goutils
put huandu+xstrings v1.4.0 github.com/huandu/xstrings
put spf13+cast v1.7.0 github.com/spf13/cast
put shopspring+decimal v1.4.0 github.com/shopspring/decimal
put mitchellh+copystructure v1.2.0 github.com/mitchellh/copystructure
put mitchellh+reflectwalk v1.0.2 github.com/mitchellh/reflectwalk
put google+uuid v1.6.0 github.com/google/uuid
put darccio+mergo v1.0.1 dario.cat/mergo
put golang+crypto v0.26.0 golang.org/x/crypto
printf 'package xstrings\n\n// ToPascalCase stands in for v1.5.0 (see golden.sh).\nfunc ToPascalCase(s string) string { return ToCamelCase(s) }\n' \
  > "$src/github.com/huandu/xstrings/pascal_shim.go"
mkdir -p "$src/oracle"
cp "$here/main.go" "$src/oracle/"
(cd "$src/oracle" && GOPATH=$work/gopath GO111MODULE=off GOFLAGS= GOCACHE=$work/cache TZ=UTC \
  "$go" build -o "$work/oracle" .)
TZ=UTC "$work/oracle" < "$here/cases.txt" > "$root/render/src/consul_template/sprig/golden.jsonl"
wc -l "$root/render/src/consul_template/sprig/golden.jsonl"
