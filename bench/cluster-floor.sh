#!/usr/bin/env bash
# The part of the job that only the cluster can do, with no Headscale work at all: one auth
# Secret (placeholder values, not keys), `helm upgrade --install` with sidecars on (no wait),
# then `kubectl rollout status` of every Deployment concurrently. No client, june-ts or a
# person's script, can finish the whole job faster than this on the same cluster.
#
#   cluster-floor.sh <values.yaml> <control-url> <service>...
#
# env: KUBECONFIG, KUBE_CONTEXT (optional), CHART (default ./helm/june-platform)
set -euo pipefail

values=$1 control_url=$2
shift 2
chart=${CHART:-./helm/june-platform}
ctx=()
[ -n "${KUBE_CONTEXT:-}" ] && ctx=(--context "$KUBE_CONTEXT")

literals=()
for svc in "$@"; do literals+=("--from-literal=june-$svc-authkey=placeholder-not-a-key"); done
kubectl "${ctx[@]}" create secret generic headscale-auth-keys -n june-services "${literals[@]}" >/dev/null

helm upgrade --install june-platform "$chart" "${ctx[@]/--context/--kube-context}" \
  --namespace june-services --create-namespace -f "$values" \
  --set tailscale.enabled=true --set tailscale.controlUrl="$control_url" >/dev/null

pids=()
for svc in "$@"; do
  kubectl "${ctx[@]}" -n june-services rollout status "deployment/june-$svc" --timeout=300s >/dev/null &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
