// Issue 18, end to end: phase 11 upgrades the Headscale it deployed (the chart's pod, its PVC a
// directory) from 0.26.1 to 0.29.3 one minor at a time with a backup before each step, the
// tailnet keeps working; a downgrade is refused; a restore brings back a backup's moment; a
// step the server refuses is undone from its backup. The test pins its own versions.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRun, expectNoSecretIn, startScenario, TAILNET, type Scenario } from './harness.js';

type HsNode = { id: string | number; name: string; given_name?: string; online?: boolean };
type HsUser = { id: string | number; name: string };

const FROM = 'v0.26.1';
const SERVICES = ['orchestrator', 'idp'];

describe.skipIf(!canRun)(`upgrade Headscale ${FROM} → 0.29.3 through phase 11`, () => {
  let s: Scenario;
  let backupDir = '';
  /** node id by name after the install, and the users then */
  let nodesAtInstall: Record<string, string> = {};
  let usersAtInstall: string[] = [];
  const timings: string[] = [];

  beforeAll(async () => {
    s = await startScenario('upgrade', {}, { headscaleServer: 'chart', headscaleVersion: FROM });
    backupDir = join(s.dir, 'backups');
  });
  afterAll(async () => {
    if (timings.length) console.log(`upgrade step timings:\n  ${timings.join('\n  ')}`);
    await s?.stop();
  });

  const version = async () => (await s.env.headscale.cli(['version'])).trim();
  const nodes = async () => {
    const list = await s.headscaleJson<HsNode[]>(['nodes', 'list']);
    return Object.fromEntries(list.map((n) => [n.given_name ?? n.name, String(n.id)]));
  };
  const users = async () => (await s.headscaleJson<HsUser[]>(['users', 'list'])).map((u) => u.name).sort();
  const helmRevision = async () => {
    const list = JSON.parse(await s.env.helm(['list', '-n', 'headscale', '-o', 'json'])) as { name: string; revision: string | number }[];
    return Number(list.find((r) => r.name === 'headscale')?.revision);
  };
  const localBackups = () => (existsSync(backupDir) ? readdirSync(backupDir).sort() : []);
  const hostReachesServices = async () => {
    for (const svc of SERVICES) {
      const r = await s.env.host.curl(`http://june-${svc}.${TAILNET}:8080/`);
      expect(r.code, `${svc}: ${r.stderr}`).toBe(0);
      expect(JSON.parse(r.body)).toMatchObject({ namespace: 'june-services', port: 8080 });
    }
  };

  it(`installs ${FROM} through phase 11; the sidecars and the host join`, async () => {
    const r = await s.june(['install']);
    expect(r.code, r.stderr).toBe(0);
    expect(await version()).toContain(FROM.slice(1));
    for (const svc of SERVICES) await s.env.sidecars.waitJoined('june-services', `june-${svc}`, 60_000);
    nodesAtInstall = await nodes();
    usersAtInstall = await users();
    expect(Object.keys(nodesAtInstall).sort()).toEqual(['june-e2e-host', 'june-idp', 'june-orchestrator']);
  });

  it('phase 11 with 0.29.3 steps 0.27.1 → 0.28.0 → 0.29.3, each after a backup; nodes keep their ids, keys and traffic work', async () => {
    const started = Date.now();
    const r = await s.june(['install', '--only', '11-headscale', '--backup-dir', backupDir], {
      config: s.writeConfig({ HEADSCALE_VERSION: '0.29.3' }, join(s.dir, 'to-0.29.3.env')),
    });
    expect(r.code, r.stderr).toBe(0);
    const out = r.stdout + r.stderr;
    expect(out).toContain('Headscale 0.26.1 → 0.29.3: 3 step(s), 0.27.1 → 0.28.0 → 0.29.3, each after a backup');
    const steps = [
      ...out.matchAll(/step (\d)\/3 \(Headscale ([\d.]+) → ([\d.]+)\): (backup \S+ taken|Headscale [\d.]+ serves after ([\d.]+)s)/g),
    ].map((m) => `${m[1]} ${m[2]}→${m[3]} ${m[4]!.startsWith('backup') ? 'backup' : 'serves'}`);
    expect(steps).toEqual([
      '1 0.26.1→0.27.1 backup',
      '1 0.26.1→0.27.1 serves',
      '2 0.27.1→0.28.0 backup',
      '2 0.27.1→0.28.0 serves',
      '3 0.28.0→0.29.3 backup',
      '3 0.28.0→0.29.3 serves',
    ]);
    for (const m of out.matchAll(
      /step \d\/3 \(Headscale ([\d.]+) → ([\d.]+)\): Headscale [\d.]+ serves after ([\d.]+)s; (\d+)\/(\d+) nodes back/g,
    )) {
      timings.push(`${m[1]} → ${m[2]}: ${m[3]} s (nodes back online: ${m[4]}/${m[5]})`);
    }
    timings.push(`whole run (3 steps with backups): ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expect(await version()).toContain('0.29.3');
    // a backup of each version before its step, on this machine with its record
    expect(localBackups().map((b) => b.replace(/^\d{8}T\d{6}Z-/, ''))).toEqual(['v0.26.1', 'v0.27.1', 'v0.28.0']);
    for (const b of localBackups()) {
      const record = JSON.parse(readFileSync(join(backupDir, b, 'backup.json'), 'utf8'));
      expect(record.volumePath).toBe(`/var/lib/headscale/backups/${b}`);
      // the env runs the embedded DERP server: its key is kept too
      expect(Object.keys(record.sha256).sort()).toEqual(['db.sqlite', 'derp_server_private.key', 'noise_private.key']);
    }
    expect(await nodes()).toEqual(nodesAtInstall);
    expect(await users()).toEqual(usersAtInstall);
    // june-ts's keys still validate, every node is online
    const status = await s.june(['status']);
    expect(status.code, status.stdout + status.stderr).toBe(0);
    await hostReachesServices();
    expect(expectNoSecretIn(out, s.seenKeys())).toEqual([]);
  });

  it('a downgrade is refused with exit 3 and nothing changed', async () => {
    const revision = await helmRevision();
    const r = await s.june(['install', '--only', '11-headscale', '--backup-dir', backupDir], {
      config: s.writeConfig({ HEADSCALE_VERSION: '0.28.0' }, join(s.dir, 'to-0.28.0.env')),
    });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('Headscale 0.29.3 is running and 0.28.0 is older: june-ts does not downgrade');
    expect(r.stderr).toContain('june-ts restore');
    expect(await helmRevision()).toBe(revision);
    expect(await version()).toContain('0.29.3');
    expect(localBackups()).toHaveLength(3);
  });

  it('june-ts restore <backup> brings back the users, keys and nodes of that moment and the version that wrote them', async () => {
    const first = localBackups()[0]!;
    const r = await s.june(['restore', join(backupDir, first)]);
    expect(r.code, r.stderr).toBe(0);
    expect(await version()).toContain('0.26.1');
    expect(await nodes()).toEqual(nodesAtInstall);
    expect(await users()).toEqual(usersAtInstall);
    for (const svc of SERVICES) await s.env.sidecars.waitJoined('june-services', `june-${svc}`, 60_000);
    const status = await s.june(['status', '--wait']);
    expect(status.code, status.stdout + status.stderr).toBe(0);
  });

  it('a step the server refuses stops the upgrade, puts the previous version back on its backup and says how to continue', async () => {
    // 0.28 refuses tuning.node_store_batch_size <= 0; 0.27 does not know the key
    const refused = join(s.dir, 'refused-by-0.28.yaml');
    writeFileSync(refused, 'headscale:\n  extraConfig:\n    tuning:\n      node_store_batch_size: 0\n');
    const r = await s.june(['install', '--only', '11-headscale', '--backup-dir', backupDir], {
      config: s.writeConfig(
        { HEADSCALE_VERSION: '0.29.3', HEADSCALE_VALUES: `${join(s.dir, 'headscale-values.yaml')},${refused}` },
        join(s.dir, 'refused.env'),
      ),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/step 2\/3 \(Headscale 0\.27\.1 → 0\.28\.0\) failed: Headscale pod headscale\/\S+ does not start/);
    expect(r.stderr).toMatch(/Headscale 0\.27\.1 runs again on backup \S+-v0\.27\.1/);
    expect(r.stderr).toContain('it continues from 0.27.1 to 0.29.3');
    expect(await version()).toContain('0.27.1');
    expect(await nodes()).toEqual(nodesAtInstall);
    expect(await users()).toEqual(usersAtInstall);
  });
});
