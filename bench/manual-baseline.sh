#!/usr/bin/env bash
# The manual procedure of the spec (tailscale-sidecars-for-june-platform.md, "Option 3:
# Manual Secret Creation" + "Option 2: Using Helm Set Flags"), as a person's script would run
# it: sequential, one `kubectl exec` per headscale command, then one Secret, one helm upgrade
# and a rollout status per Deployment.
#
#   manual-baseline.sh <values.yaml> <control-url> <service>...
#
# env: KUBECONFIG (and optionally KUBE_CONTEXT), CHART (default ./helm/june-platform),
#      HEADSCALE_NUMERIC_IDS=1 for Headscale >= 0.26 (`preauthkeys create -u` takes the user id,
#      found with `users list -o json`), 0 for 0.23-0.25 (`-u` takes the name).
set -euo pipefail

values=$1 control_url=$2
shift 2
chart=${CHART:-./helm/june-platform}
numeric_ids=${HEADSCALE_NUMERIC_IDS:-1}
ctx=()
[ -n "${KUBE_CONTEXT:-}" ] && ctx=(--context "$KUBE_CONTEXT")

hs() { kubectl "${ctx[@]}" -n headscale exec deployment/headscale -c headscale -- headscale "$@"; }

literals=()
for svc in "$@"; do
  user="june-$svc"
  # 2. create the user
  hs users create "$user" >/dev/null
  # Headscale >= 0.26: the key is created for a user id, so look it up
  if [ "$numeric_ids" = 1 ]; then
    ref=$(hs users list -o json | tr -d ' \t\n' | grep -o "\"id\":[0-9]*,\"name\":\"$user\"" | sed 's/"id":\([0-9]*\),.*/\1/')
  else
    ref=$user
  fi
  [ -n "$ref" ] || { echo "user $user not found in users list" >&2; exit 1; }
  # 3. generate a reusable key
  key=$(hs preauthkeys create -u "$ref" --reusable --expiration 180d -o json | tr -d ' \t\n' | sed -n 's/.*"key":"\([^"]*\)".*/\1/p')
  [ -n "$key" ] || { echo "no key for $user" >&2; exit 1; }
  literals+=("--from-literal=june-$svc-authkey=$key")
done

# 4. one Secret with every key
kubectl "${ctx[@]}" create secret generic headscale-auth-keys -n june-services "${literals[@]}" >/dev/null

# Option 2: helm upgrade with the sidecars on
helm upgrade --install june-platform "$chart" "${ctx[@]/--context/--kube-context}" \
  --namespace june-services --create-namespace -f "$values" \
  --set tailscale.enabled=true --set tailscale.controlUrl="$control_url" >/dev/null

# wait until every Deployment has rolled out
for svc in "$@"; do
  kubectl "${ctx[@]}" -n june-services rollout status "deployment/june-$svc" --timeout=300s >/dev/null
done
