// Scenarios 1, 2, 4 and 5 of the e2e issue: a fresh `june-ts install` on an empty cluster,
// keys that really work (real tailscaled sidecars join, MagicDNS names, tailnet ping),
// a second run that changes nothing, and the host joined by 11.5.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRun, expectNoSecretIn, startScenario, TAILNET, type Scenario } from './harness.js';

type HsUser = { id: string | number; name: string };
type HsNode = {
  id: string | number;
  name: string;
  given_name?: string;
  online?: boolean;
  ip_addresses?: string[];
  user?: { name: string } | string;
};
const userName = (u: HsNode['user']) => (typeof u === 'string' ? u : u?.name);

describe.skipIf(!canRun)('install on an empty cluster', () => {
  let s: Scenario;
  beforeAll(async () => {
    // the services reach each other below: an edge of the access policy (without it they may not)
    s = await startScenario('install', { TAILNET_EDGES: 'orchestrator->idp' });
  });
  afterAll(async () => {
    await s?.stop();
  });

  const helmRevision = async (release: string, ns: string) => {
    const list = JSON.parse(await s.env.helm(['list', '-n', ns, '-o', 'json'])) as {
      name: string;
      revision: string | number;
      status: string;
    }[];
    return list.find((r) => r.name === release);
  };

  it('installs Headscale, users, keys, Secret, the sidecars and joins the host', async () => {
    const r = await s.june(['install']);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('install complete');

    expect((await helmRevision('headscale', 'headscale'))?.status).toBe('deployed');
    expect((await helmRevision('june-platform', 'june-services'))?.status).toBe('deployed');

    const users = await s.headscaleJson<HsUser[]>(['users', 'list']);
    expect(users.map((u) => u.name).sort()).toEqual(['june-host', 'june-idp', 'june-orchestrator']);

    const secret = await s.secret();
    expect(secret).not.toBeNull();
    expect(Object.keys(secret!.data).sort()).toEqual(['june-idp-authkey', 'june-orchestrator-authkey']);
    expect(secret!.labels['app.kubernetes.io/managed-by']).toBe('june-ts');
    expect(secret!.annotations).not.toHaveProperty('kubectl.kubernetes.io/last-applied-configuration');
    const minted = JSON.parse(secret!.annotations['june-ts.dev/minted-keys']!);
    expect(Object.keys(minted).sort()).toEqual(['idp', 'orchestrator']);

    const values = JSON.parse(await s.env.helm(['get', 'values', 'june-platform', '-n', 'june-services', '-o', 'json']));
    expect(values.tailscale.enabled).toBe(true);
    expect(values.tailscale.controlUrl).toBe(s.env.headscale.url);

    for (const d of ['june-orchestrator', 'june-idp']) {
      expect(await s.env.kubectl(['-n', 'june-services', 'rollout', 'status', `deployment/${d}`, '--timeout=60s'])).toContain(
        'successfully rolled out',
      );
    }
  });

  it('the keys really work: sidecars join as june-<svc> under their user, with MagicDNS names, and reach each other', async () => {
    for (const svc of ['orchestrator', 'idp']) {
      const joined = await s.env.sidecars.waitJoined('june-services', `june-${svc}`, 60_000);
      expect(joined.status.BackendState).toBe('Running');
      expect(joined.status.Self.DNSName.replace(/\.$/, '')).toBe(`june-${svc}.${TAILNET}`);
    }
    const nodes = await s.headscaleJson<HsNode[]>(['nodes', 'list']);
    for (const svc of ['orchestrator', 'idp']) {
      const mine = nodes.filter((n) => (n.given_name ?? n.name) === `june-${svc}`);
      expect(mine).toHaveLength(1);
      expect(userName(mine[0]!.user)).toBe(`june-${svc}`);
      expect(mine[0]!.online).toBe(true);
    }
    const from = s.env.sidecars.socketFor('june-orchestrator', 'june-services')!;
    const idpIp = nodes.find((n) => (n.given_name ?? n.name) === 'june-idp')!.ip_addresses![0]!;
    const pong = await s.env.tailscale(from, ['ping', '--tsmp', '--c=10', idpIp]);
    expect(pong).toMatch(/pong from june-idp/);
  });

  it('11.5 joined the host tailscaled to the tailnet', async () => {
    const st = await s.env.host.status();
    expect(st.BackendState).toBe('Running');
    expect(st.Self.DNSName.replace(/\.$/, '')).toBe(`june-e2e-host.${TAILNET}`);
  });

  it('status is healthy and doctor finds nothing', async () => {
    const st = await s.june(['status', '-o', 'json']);
    expect(st.code, st.stderr + st.stdout).toBe(0);
    const report = JSON.parse(st.stdout);
    expect(report.level).toBe('ok');
    expect(report.services.map((x: { service: string; node: { online: boolean } }) => [x.service, x.node.online])).toEqual([
      ['orchestrator', true],
      ['idp', true],
    ]);
    const dr = await s.june(['doctor']);
    expect(dr.code, dr.stdout + dr.stderr).toBe(0);
    expect(dr.stdout).toContain('✓ MagicDNS base domain');
  });

  it('a second install changes nothing: same users, keys, Secret resourceVersion, Helm revisions, host', async () => {
    const before = {
      users: await s.headscaleJson<HsUser[]>(['users', 'list']),
      secret: await s.secret(),
      hs: await helmRevision('headscale', 'headscale'),
      platform: await helmRevision('june-platform', 'june-services'),
    };
    // a live plan reads the cluster and finds nothing to change
    const plan = await s.june(['install', '--dry-run=live']);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain('live dry run: cluster read, nothing written');
    expect(plan.stdout).toContain('0 change(s) planned');
    const r = await s.june(['install', '--verbose']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('up to date');
    expect(r.stderr).toMatch(/\$ .*kubectl .*exec deployment\/headscale -c headscale -- headscale/);
    expect(r.stderr).toContain('host already joined');
    expect(await s.headscaleJson<HsUser[]>(['users', 'list'])).toEqual(before.users);
    const after = await s.secret();
    expect(after!.resourceVersion).toBe(before.secret!.resourceVersion);
    expect(after!.data).toEqual(before.secret!.data);
    expect((await helmRevision('headscale', 'headscale'))!.revision).toEqual(before.hs!.revision);
    expect((await helmRevision('june-platform', 'june-services'))!.revision).toEqual(before.platform!.revision);
    // deploy-sidecars on the finished state is a no-op too
    const d = await s.june(['deploy-sidecars']);
    expect(d.code, d.stderr).toBe(0);
    expect((await s.secret())!.resourceVersion).toBe(before.secret!.resourceVersion);
  });

  it('no minted key appears in any argv, environment, output or annotation', async () => {
    const secret = await s.secret();
    const keys = Object.values(secret!.data);
    expect(keys.length).toBe(2);
    const annotations = await s.env.kubectl([
      'get',
      'secrets,deployments,configmaps',
      '-A',
      '-o',
      'jsonpath={.items[*].metadata.annotations}',
    ]);
    const haystack = [s.recordedCalls(), s.transcript.join('\n'), annotations].join('\n');
    expect(s.recordedCalls()).toContain('ARGV kubectl'); // the recorder really saw the calls
    expect(expectNoSecretIn(haystack, keys)).toEqual([]);
  });
});
