#!/usr/bin/env bash
# npm run demo: june-ts for real, end to end, on the embedded default configuration. Builds
# what is missing (the toolchain: ~20 min cold on 2 cores, then cached; june-ts itself),
# starts the sandbox (npm run sandbox:up), runs `june-ts install` and `june-ts status`, then
# says how to reach a service over the tailnet and how to stop it all.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
t0=$SECONDS
step() { printf '\n=== %s (%ss)\n' "$*" "$((SECONDS - t0))" >&2; }

step "toolchain: kube-apiserver, etcd, kwok, headscale, tailscale, kubectl, helm (first run ~20 min; cached afterwards)"
bash scripts/tools/e2e-toolchain.sh >&2

step "build june-ts"
[ -d node_modules ] || npm ci --no-audit --no-fund >&2
npm run --silent build >&2

step "sandbox: a real kube-apiserver with kwok nodes, Headscale and this host's tailscaled, on 127.0.0.1"
# the documented exports: KUBECONFIG, PATH, HEADSCALE_URL, TAILNET_DOMAIN, TAILSCALE_SOCKET, TS_HOST_SOCKET, ...
exports=$(node scripts/sandbox.mjs up)
eval "$exports"

step "june-ts install"
./bin/june-ts.js install

step "june-ts status"
./bin/june-ts.js status

cat <<EOT

Done in $((SECONDS - t0))s. The sandbox keeps running. In this shell, first:

  eval "\$(npm run -s sandbox:up)"      # the same exports again (the sandbox is reused)

Reach a service over the tailnet from this host (its tailscaled joined in 11.5-tailnet-host):

  tailscale --socket=\$TS_HOST_SOCKET status
  tailscale --socket=\$TS_HOST_SOCKET ping june-orchestrator
  tailscale --socket=\$TS_HOST_SOCKET ip june-idp     # june-idp.${TAILNET_DOMAIN:-<tailnet domain>}
  # the host lives in a network namespace of its own, with MagicDNS as its resolver:
  nsenter -t \$TS_HOST_PID -n -m curl http://june-orchestrator.${TAILNET_DOMAIN:-<tailnet domain>}:8080/

Then try ./bin/june-ts.js rotate-keys, ./bin/june-ts.js doctor, ./bin/june-ts.js cleanup --all.
Stop and remove everything: npm run sandbox:down
EOT
