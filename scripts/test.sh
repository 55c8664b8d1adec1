#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs npm dependencies, builds the real
# binaries the tests drive (cached in ~/.cache/june-ts-e2e), builds june-ts, lints and
# checks formatting, then runs the unit, chart and end-to-end projects, the end-to-end ones
# across the version matrix.
# `npm test` and .ci/run call exactly this. Under CI=true a skipped test is a failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
RESULTS="$ROOT/.test-results"
rm -rf "$RESULTS" && mkdir -p "$RESULTS"
t0=$SECONDS
step() { echo; echo "=== $* ($((SECONDS - t0))s)"; }

step "npm dependencies"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

step "toolchain: kubectl, helm 3/4, kube-apiserver, etcd, kwok, headscale, tailscale"
bash scripts/tools/e2e-toolchain.sh

step "build june-ts"
npm run --silent build

run_vitest() { # name, env..., -- vitest args
  local name=$1; shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done; shift
  step "vitest $name"
  env "${envs[@]}" npx vitest run "$@" --reporter=default --reporter=json --outputFile.json="$RESULTS/$name.json" || status=1
}
status=0
# Lint (typescript-eslint, import cycles, layer rules, line length) and formatting; a failure
# fails the run, and the tests still run so one report shows everything.
step "lint"
npm run --silent lint || status=1
step "format check"
npm run --silent format:check || status=1
# type-checks what the build does not: the tests, the e2e environment and the benchmarks
step "typecheck (tests, e2e environment, bench)"
npm run --silent typecheck || status=1
run_vitest unit-charts -- --project unit --project charts
# End-to-end. The default pair (newest Headscale, Helm 4) runs every e2e file. Two more pairs
# run the scenarios whose outcome depends on what differs between them, so that every
# Headscale CLI generation (0.23, 0.26, 0.29) and both Helm majors see them:
#   dialect: the Headscale CLI/API and the real client against each server version, the access
#            policy each version accepts (policy.test.ts), tag identities on 0.28+ and their
#            refusal on older servers (tags.test.ts)
#   helm:    upgrades, rollbacks and stuck releases, which Helm 3 and 4 do differently
# The Headscale upgrade (upgrade.test.ts) pins its own versions and runs on the default pair.
# The rest (API-server restarts, the run lock, command retries, cluster-side bad input, the
# soak and leak scan) is about Kubernetes and june-ts alone and runs on the default pair only.
# JUNE_TS_E2E_MATRIX=0 runs the default pair only; =full runs every scenario on all six pairs
# but the soak (soak.test.ts: its key bound needs Headscale 0.28+, which deletes keys).
E2E=test/e2e/scenarios
DIALECT="$E2E/install.test.ts $E2E/sidecars.test.ts $E2E/day2.test.ts $E2E/rotation.test.ts $E2E/real-pods.test.ts $E2E/tags.test.ts $E2E/policy.test.ts"
HELM="$E2E/install.test.ts $E2E/faults.test.ts $E2E/helm-rollback.test.ts $E2E/partial.test.ts"
run_vitest e2e-hs0.29.3-helm4 JUNE_TS_E2E_HEADSCALE=v0.29.3 JUNE_TS_E2E_HELM=4 -- --project e2e
case "${JUNE_TS_E2E_MATRIX:-1}" in
  0) pairs=() ;;
  full)
    ALL=""; for f in "$E2E"/*.test.ts; do [ "$f" = "$E2E/soak.test.ts" ] || ALL+="$f "; done
    pairs=("v0.29.3:3:$ALL" "v0.26.1:3:$ALL" "v0.26.1:4:$ALL" "v0.23.0:4:$ALL" "v0.23.0:3:$ALL") ;;
  # 0.26.1 x Helm 3: the dialect scenarios and the Helm ones; 0.23.0 x Helm 4: the dialect ones
  *) pairs=("v0.26.1:3:$(printf '%s\n' $DIALECT $HELM | sort -u | tr '\n' ' ')" "v0.23.0:4:$DIALECT") ;;
esac
for pair in "${pairs[@]}"; do
  IFS=: read -r hs helm files <<<"$pair"
  # shellcheck disable=SC2086 # a list of files
  run_vitest "e2e-hs${hs#v}-helm$helm" JUNE_TS_E2E_HEADSCALE=$hs JUNE_TS_E2E_HELM=$helm -- --project e2e $files
done

step "summary"
node scripts/summarize-tests.mjs "$RESULTS" || status=1
exit $status
