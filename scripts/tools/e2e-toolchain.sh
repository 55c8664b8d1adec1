#!/usr/bin/env bash
# Builds every real binary the end-to-end environment runs, from Go sources fetched
# through the Go module proxy (nothing from release pages, no images), into
#   ${JUNE_TS_CACHE:-$HOME/.cache/june-ts-e2e}/bin/<name>-<version>/
# Idempotent: a component whose binaries exist is skipped (fast no-op on a warm cache).
# Builds run one at a time (2-core CI); binaries are linked without symbol tables and DWARF
# (-s -w), which the tests never read and which cost link time. Versions: scripts/tools/versions.env.
# Usage: scripts/tools/e2e-toolchain.sh [component...]   (kwok kube etcd tailscale headscale clients sqlite3)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$HERE/versions.env"
CACHE="${JUNE_TS_CACHE:-$HOME/.cache/june-ts-e2e}"
BIN="$CACHE/bin"
# a non-login shell (CI) may not have Go's default install location on PATH
command -v go >/dev/null 2>&1 || export PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null 2>&1 || { echo "e2e-toolchain: Go is required (https://go.dev/doc/install); not found on PATH or in /usr/local/go/bin" >&2; exit 2; }
export GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -buildvcs=false"
mkdir -p "$BIN" "$CACHE/logs"

have() { local d=$1; shift; for f in "$@"; do [ -x "$d/$f" ] || return 1; done; }
say() { echo "e2e-toolchain: $*" >&2; }
timed() { # label cmd...
  local t0=$SECONDS; say "building $1 ..."; shift
  "$@"; say "  done in $((SECONDS - t0))s"
}

build_kwok() {
  local d="$BIN/kwok-$KWOK_VERSION"; have "$d" kwok kwokctl && return 0
  mkdir -p "$d"
  timed "kwok $KWOK_VERSION" env GOBIN="$d" go install -ldflags "-s -w" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION"
}

build_tailscale() {
  local d="$BIN/tailscale-$TAILSCALE_VERSION"; have "$d" tailscale tailscaled containerboot && return 0
  mkdir -p "$d"
  timed "tailscale, tailscaled, containerboot $TAILSCALE_VERSION" env GOBIN="$d" go install -ldflags "-s -w" \
    "tailscale.com/cmd/tailscale@$TAILSCALE_VERSION" "tailscale.com/cmd/tailscaled@$TAILSCALE_VERSION" \
    "tailscale.com/cmd/containerboot@$TAILSCALE_VERSION"
}

build_headscale_one() {
  local v=$1 d="$BIN/headscale-$1"
  if have "$d" headscale && "$d/headscale" version 2>/dev/null | grep -q "${v#v}"; then return 0; fi
  mkdir -p "$d"
  # The module proxy answers 403 to .../juanfont/headscale/@v/list, which `go install
  # pkg@version` reads for its deprecation check. So: download the module and its deps
  # through the real proxy (checksums verified against sum.golang.org), then install
  # with the local module cache as the proxy. go install pkg@version records the module
  # version (0.28+ read it from build info); older versions read an -X variable.
  local x=github.com/juanfont/headscale/hscontrol/types.Version
  case $v in v0.2[0-5].*) x=github.com/juanfont/headscale/cmd/headscale/cli.Version ;; esac
  local dir; dir=$(go mod download -json "github.com/juanfont/headscale@$v" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
  (cd "$dir" && go mod download)
  timed "headscale $v" env GOFLAGS=-mod=mod GOPROXY="file://$(go env GOMODCACHE)/cache/download" GOSUMDB=off \
    GOBIN="$d" go install -ldflags "-s -w -X $x=$v" "github.com/juanfont/headscale/cmd/headscale@$v"
  "$d/headscale" version | grep -q "${v#v}" || { say "headscale $v: 'headscale version' does not print $v"; exit 1; }
}
build_headscale() { for v in $HEADSCALE_VERSIONS ${HEADSCALE_UPGRADE_VERSIONS:-}; do build_headscale_one "$v"; done; }

build_kube() {
  local d="$BIN/kube-$KUBE_VERSION"
  have "$d" kube-apiserver kube-controller-manager kube-scheduler && return 0
  mkdir -p "$d"
  local major=${KUBE_VERSION#v}; major=${major%%.*}
  local minor=${KUBE_VERSION#v*.}; minor=${minor%%.*}
  local ld="" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=$major -X $p.gitMinor=$minor"
    ld+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z -X $p.gitCommit=june-ts-e2e"
  done
  timed "kube-apiserver, kube-controller-manager, kube-scheduler $KUBE_VERSION" \
    bash -c "cd '$HERE/kube-wrapper' && go build -ldflags '-s -w $ld' -o '$d/' \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler"
}

build_etcd() {
  local d="$BIN/etcd-$ETCD_VERSION"; have "$d" etcd && return 0
  mkdir -p "$d"
  timed "etcd $ETCD_VERSION" bash -c "cd '$HERE/etcd-wrapper' && go build -ldflags '-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION' -o '$d/etcd' ."
}

build_clients() { bash "$HERE/k8s-clients.sh"; }

# sqlite3 of the machine: the e2e kubelet runs shell images (alpine, keinos/sqlite3) with it,
# e.g. a pod that backs up Headscale's database online (Debian's package).
build_sqlite3() {
  command -v sqlite3 >/dev/null 2>&1 && return 0
  command -v apt-get >/dev/null 2>&1 || { say "sqlite3 is required (not found, and no apt-get to install it)"; exit 2; }
  local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  timed "sqlite3 (apt-get)" bash -c "$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends sqlite3 >/dev/null"
}

components=("$@"); [ ${#components[@]} -gt 0 ] || components=(clients kwok tailscale headscale etcd kube sqlite3)
for c in "${components[@]}"; do "build_$c"; done
say "all present under $BIN"
