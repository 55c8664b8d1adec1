// The commands kwok-controller runs for `kubectl exec` (its PATH starts with this dir): with
// JUNE_E2E_POD_DIR set (kwok Exec of a pod the environment's kubelet runs) each enters that
// pod's namespaces (its sandbox.pid), else it runs the machine's binary.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Writes the `tailscale`, `headscale` and `sh` exec shims kwok-controller finds first on its PATH; returns dir. */
export function writeExecShim(dir: string, tailscaleBin: string, headscaleBin: string): string {
  mkdirSync(dir, { recursive: true });
  // a headscale pod the kubelet runs: its own binary (the image's version) in its namespaces,
  // where /etc/headscale/config.yaml is the chart's ConfigMap; else the env's own process
  writeFileSync(
    join(dir, 'headscale'),
    [
      '#!/bin/sh',
      'if [ -n "$JUNE_E2E_POD_DIR" ]; then',
      '  bin=$(cat "$JUNE_E2E_POD_DIR/headscale.bin") || exit 126',
      '  exec nsenter --target "$(cat "$JUNE_E2E_POD_DIR/sandbox.pid")" --net --mount -- "$bin" "$@"',
      'fi',
      `exec ${headscaleBin} "$@"`,
      '',
    ].join('\n'),
  );
  chmodSync(join(dir, 'headscale'), 0o755);
  // a shell-image pod (alpine, busybox, keinos/sqlite3): `kubectl exec … -- sh -c …` runs the
  // machine's sh in the pod's namespaces, its volumes mounted (e.g. a Headscale backup pod)
  writeFileSync(
    join(dir, 'sh'),
    [
      '#!/bin/sh',
      'if [ -n "$JUNE_E2E_POD_DIR" ]; then',
      '  exec nsenter --target "$(cat "$JUNE_E2E_POD_DIR/sandbox.pid")" --net --mount -- /bin/sh "$@"',
      'fi',
      'exec /bin/sh "$@"',
      '',
    ].join('\n'),
  );
  chmodSync(join(dir, 'sh'), 0o755);
  const shim = join(dir, 'tailscale');
  writeFileSync(
    shim,
    [
      '#!/bin/sh',
      "# kubectl exec -c tailscale (kwok Exec sets JUNE_E2E_POD_DIR): the CLI runs in the pod's namespaces",
      'if [ -n "$JUNE_E2E_POD_DIR" ]; then',
      `  exec nsenter --target "$(cat "$JUNE_E2E_POD_DIR/sandbox.pid")" --net --mount -- ${tailscaleBin} "$@"`,
      'fi',
      `exec ${tailscaleBin} "$@"`,
      '',
    ].join('\n'),
  );
  chmodSync(shim, 0o755);
  return dir;
}
