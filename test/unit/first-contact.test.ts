// First contact without a cluster, black-box on the built binary: no kubeconfig at all, a
// context that does not exist, and doctor --pre's version lines (fake kubectl and helm).
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../..');
const BIN = resolve(ROOT, 'bin/june-ts.js');
const EXAMPLE = resolve(ROOT, 'config.env.example');
const tmp = mkdtempSync(join(tmpdir(), 'june-ts-first-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const home = join(tmp, 'home');
mkdirSync(home);

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args, '--config', EXAMPLE], {
    cwd: tmp,
    env: { PATH: '/usr/bin:/bin', HOME: home, NO_COLOR: '1', HOST_HOSTNAME: 'june-host-1', ...env },
    encoding: 'utf8',
    input: '',
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const NO_KUBECONFIG = `no kubeconfig found: KUBECONFIG is not set, ${join(home, '.kube/config')} does not exist, and this is not a pod with a service account`;
const HOW = 'point june-ts at a cluster: --kubeconfig PATH, or KUBECONFIG=PATH in the environment or config.env';

describe('no kubeconfig at all', () => {
  it.each([['status'], ['doctor'], ['install'], ['deploy-sidecars'], ['rotate-keys'], ['cleanup', '--yes']])(
    '%s: says so, where it looked and how to point it at a cluster; exit 2',
    (...args) => {
      const r = cli(args);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(
        `error: ${NO_KUBECONFIG}\n  ${HOW}, or put the cluster's kubeconfig at ~/.kube/config; to try june-ts without a cluster: \`npm run sandbox:up\` (see the README)\n`,
      );
      expect(r.stderr).not.toMatch(/localhost:8080|skipTLSVerify|HTTP protocol/);
    },
  );

  it('doctor --pre: a failed check naming it, exit 2', () => {
    const r = cli(['doctor', '--pre']);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain(`✗ cluster reachable: ${NO_KUBECONFIG}\n    fix: ${HOW}`);
  });

  it('a KUBECONFIG that does not exist is named', () => {
    const r = cli(['status'], { KUBECONFIG: join(tmp, 'nope.yaml') });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error: no kubeconfig found: ${join(tmp, 'nope.yaml')} does not exist\n`);
  });
});

describe('--context that the kubeconfig does not have', () => {
  const kubeconfig = join(tmp, 'two-contexts.yaml');
  writeFileSync(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters:
- name: c1
  cluster: { server: 'https://127.0.0.1:1' }
users:
- name: u1
  user: { token: t }
contexts:
- name: alpha
  context: { cluster: c1, user: u1 }
- name: beta
  context: { cluster: c1, user: u1 }
current-context: alpha
`,
  );
  it.each([['status'], ['doctor'], ['doctor', '--pre'], ['install'], ['rotate-keys']])('%s lists the real contexts; exit 3', (...args) => {
    const r = cli([...args, '--context', 'nope'], { KUBECONFIG: kubeconfig });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(
      `error: kubeconfig context 'nope' does not exist in ${kubeconfig}\n  contexts there: alpha, beta (choose one with --context or KUBE_CONTEXT)\n`,
    );
    expect(r.stderr).not.toContain('loaded-context');
  });
});

describe('doctor --pre shows versions', () => {
  it('kubectl: the version from its JSON, not its first line', () => {
    const bin = join(tmp, 'bin');
    mkdirSync(bin, { recursive: true });
    const kubectl = join(bin, 'kubectl');
    writeFileSync(
      kubectl,
      `#!/bin/sh\ncat <<'JSON'\n{\n  "clientVersion": {\n    "major": "1",\n    "minor": "33",\n    "gitVersion": "v1.33.9",\n    "platform": "linux/amd64"\n  },\n  "kustomizeVersion": "v5.6.0"\n}\nJSON\n`,
    );
    const helm = join(bin, 'helm');
    writeFileSync(helm, '#!/bin/sh\necho v3.17.3+ge4da497\n');
    chmodSync(kubectl, 0o755);
    chmodSync(helm, 0o755);
    const r = cli(['doctor', '--pre'], { PATH: `${bin}:/usr/bin:/bin` });
    expect(r.stdout).toContain('✓ kubectl installed: v1.33.9\n');
    expect(r.stdout).toContain('✓ helm installed: v3.17.3+ge4da497\n');
    expect(r.stdout).not.toContain('installed: {');
    expect(r.code).toBe(2); // no cluster here
  });
});
