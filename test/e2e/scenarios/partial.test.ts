// doctor --pre before anything is installed, cleanup on an empty cluster, and cleanup
// after a partial install (only Headscale deployed).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { canRun, startScenario, type Scenario } from './harness.js';

describe.skipIf(!canRun)('before and after a partial install', () => {
  let s: Scenario;
  beforeAll(async () => {
    s = await startScenario('partial');
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('doctor --pre: binaries, versions, cluster and install permissions, each with a fix when missing', async () => {
    const r = await s.june(['doctor', '--pre']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/✓ kubectl installed/);
    expect(r.stdout).toMatch(/✓ helm installed: v[34]\./);
    expect(r.stdout).toMatch(/✓ cluster reachable: v1\.34\.4/);
    expect(r.stdout).toMatch(/✓ permissions for install: \d+ permissions present/);
  });

  it('doctor --pre names the permissions a user without rights lacks (exit 2)', async () => {
    // a kubeconfig for a ServiceAccount with no roles, authenticated by a real token
    await s.env.kubectl(['-n', 'default', 'create', 'serviceaccount', 'nobody']);
    const token = (await s.env.kubectl(['-n', 'default', 'create', 'token', 'nobody'])).trim();
    const kc = parse(readFileSync(s.env.kubeconfig, 'utf8')) as { users: { name: string; user: Record<string, unknown> }[] };
    for (const u of kc.users) u.user = { token };
    const path = join(s.dir, 'nobody-kubeconfig.yaml');
    writeFileSync(path, stringify(kc), { mode: 0o600 });
    const r = await s.june(['doctor', '--pre'], { config: s.writeConfig({ KUBECONFIG: path }, join(s.dir, 'nobody.env')) });
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/✗ permissions for install: missing: create namespaces; create deployments\.apps in headscale;/);
    expect(r.stdout).toMatch(/fix: grant these to your kubeconfig user \(see "RBAC for operators" in the README\)/);
    // a check that cannot read what it needs says so (a warning) instead of ending the run
    expect(r.stdout).toMatch(
      /! Pod Security of june-services admits the sidecars: cannot tell: read namespace june-services: forbidden \(403\)/,
    );
    expect(r.stdout).not.toContain(token);
  });

  it('cleanup on a cluster where nothing was installed says so and exits 0', async () => {
    const r = await s.june(['cleanup', '--yes', '--all']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('nothing to clean up');
  });

  it('cleanup --all after a partial install (only 11-headscale) removes it; twice is fine', async () => {
    const partial = await s.june(['install', '--only', '11-headscale']);
    expect(partial.code, partial.stderr).toBe(0);
    expect(JSON.parse(await s.env.helm(['list', '-n', 'headscale', '-o', 'json']))).toHaveLength(1);
    const r = await s.june(['cleanup', '--yes', '--all']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('uninstalled release headscale');
    expect(JSON.parse(await s.env.helm(['list', '-n', 'headscale', '-o', 'json']))).toEqual([]);
    const again = await s.june(['cleanup', '--yes', '--all']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('nothing to clean up');
  });
});
