// Scenarios 1, 2, 4 and 5 of the e2e issue: a fresh `june-ts install` on an empty cluster,
// keys that really work (real tailscaled sidecars join, MagicDNS names, tailnet ping),
// a second run that changes nothing, and the host joined by 11.5. The platform namespace
// enforces Pod Security "restricted" and Headscale's "baseline" (as on a shared production
// cluster) from before the install; kernel-mode sidecars are refused there by the API server,
// and doctor --pre says so. doctor names extraArgs a node with state does not run with.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
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
const PLATFORM_CHART = join(process.cwd(), 'helm', 'june-platform');
const ENFORCE = 'pod-security.kubernetes.io/enforce';
/** The Pod Security level each namespace enforces from before the install. */
const LEVELS = { 'june-services': 'restricted', headscale: 'baseline' } as const;

describe.skipIf(!canRun)('install on an empty cluster', () => {
  let s: Scenario;
  beforeAll(async () => {
    // Headscale is the chart's: phase 11 deploys it, and it serves the whole tailnet; the
    // services reach each other below: an edge of the access policy (without it they may not)
    s = await startScenario('install', { TAILNET_EDGES: 'orchestrator->idp' }, { headscaleServer: 'chart' });
    for (const [ns, level] of Object.entries(LEVELS)) {
      await s.env.kubectl(['create', 'namespace', ns]);
      await s.env.kubectl(['label', 'namespace', ns, `${ENFORCE}=${level}`, `${ENFORCE}-version=latest`]);
    }
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
    // the Headscale serving the tailnet is the chart's pod that phase 11 deployed, of the pair's version
    expect(s.env.sidecars.containers('headscale')).toMatchObject([{ namespace: 'headscale', ready: true, restartCount: 0 }]);
    expect(await s.env.headscale.cli(['version'])).toContain(s.env.headscale.version.replace(/^v/, ''));
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
    expect(st.Self!.DNSName.replace(/\.$/, '')).toBe(`june-e2e-host.${TAILNET}`);
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

  it('Pod Security is enforced here: the pods run under "restricted"; a kernel-mode sidecar is refused by the API server, a userspace one admitted', async () => {
    for (const [ns, level] of Object.entries(LEVELS)) {
      const labels = JSON.parse(await s.env.kubectl(['get', 'namespace', ns, '-o', 'json'])).metadata.labels;
      expect(labels[ENFORCE]).toBe(level);
    }
    // the Deployments' pods were admitted (the ReplicaSets' pod creations pass the same admission)
    const pods = JSON.parse(await s.env.kubectl(['-n', 'june-services', 'get', 'pods', '-o', 'json'])).items as unknown[];
    expect(pods.length).toBe(2);
    expect(JSON.parse(await s.env.kubectl(['-n', 'headscale', 'get', 'pods', '-o', 'json'])).items.length).toBe(1);
    // the same pod template with the sidecar in kernel mode, asked of the real API server
    const render = async (set: string) =>
      parseAllDocuments(
        await s.env.helm([
          'template',
          'june-platform',
          PLATFORM_CHART,
          '-n',
          'june-services',
          '--kube-version',
          '1.34.4',
          '-f',
          join(PLATFORM_CHART, 'values-headscale.yaml'),
          '--set',
          set,
        ]),
      )
        .map((d) => d.toJS())
        .find((o) => o?.kind === 'Deployment' && o.metadata.name === 'june-orchestrator');
    const admit = async (set: string, name: string) => {
      const d = await render(set);
      const file = join(s.dir, `${name}.json`);
      writeFileSync(
        file,
        JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'june-services' }, spec: d.spec.template.spec }),
      );
      return s.env.kubectl(['create', '--dry-run=server', '-f', file]).then(
        () => 'admitted',
        (e: Error) => e.message,
      );
    };
    expect(await admit('tailscale.userspace=true', 'psa-userspace')).toBe('admitted');
    const refused = await admit('tailscale.userspace=false,tailscale.allowKernelMode=true', 'psa-kernel');
    expect(refused).toMatch(
      /forbidden: violates PodSecurity "restricted:latest": .*unrestricted capabilities \(.*container "tailscale" must not include "NET_ADMIN", "NET_RAW" in securityContext\.capabilities\.add/,
    );
    expect(refused).toMatch(/runAsNonRoot != true/);
  });

  it('doctor --pre: kernel mode in this restricted namespace is named before anything changes; userspace passes', async () => {
    const revision = (await helmRevision('june-platform', 'june-services'))!.revision;
    const ok = await s.june(['doctor', '--pre']);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toContain(
      '✓ Pod Security of june-services admits the sidecars: namespace june-services enforces "restricted"; sidecars in userspace mode',
    );
    const kernel = join(s.dir, 'kernel-mode.yaml');
    writeFileSync(kernel, 'tailscale:\n  userspace: false\n  allowKernelMode: true\n');
    const r = await s.june(['doctor', '--pre'], { config: s.writeConfig({ PLATFORM_VALUES: kernel }, join(s.dir, 'kernel.env')) });
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stdout).toContain(
      '✗ Pod Security of june-services admits the sidecars: namespace june-services enforces Pod Security "restricted" (label pod-security.kubernetes.io/enforce=restricted) ' +
        'and the sidecars would run in kernel mode (tailscale.userspace=false), as root with NET_ADMIN and NET_RAW: the API server refuses their pods',
    );
    expect(r.stdout).toContain(
      'fix: keep tailscale.userspace=true (the default; it passes "restricted"), or, if the sidecars must run in kernel mode, kubectl label namespace june-services pod-security.kubernetes.io/enforce=privileged --overwrite',
    );
    expect(r.stderr).toMatch(/1 check\(s\) failed: Pod Security of june-services admits the sidecars/);
    expect((await helmRevision('june-platform', 'june-services'))!.revision).toEqual(revision);
  });

  it('doctor names a changed tailscale.extraArgs that the running node (state kept, tailscale.authOnce) does not run with', async () => {
    await s.env.helm([
      'upgrade',
      'june-platform',
      PLATFORM_CHART,
      '-n',
      'june-services',
      '--reuse-values',
      '--set',
      'tailscale.extraArgs={--shields-up}',
    ]);
    for (const d of ['june-orchestrator', 'june-idp']) {
      await s.env.kubectl(['-n', 'june-services', 'rollout', 'status', `deployment/${d}`, '--timeout=90s']);
    }
    const dr = await s.june(['doctor']);
    // a warning: the services run; the node only lacks a setting
    expect(dr.code, dr.stdout + dr.stderr).toBe(0);
    for (const svc of ['orchestrator', 'idp']) {
      expect(dr.stdout).toContain(
        `! ${svc}: sidecar runs the chart's tailscale.extraArgs: the node does not run with --shields-up (node: ShieldsUp=false)`,
      );
    }
    expect(dr.stdout).toMatch(/fix: empty the state Secret june-orchestrator-tailscale-state and restart the Deployment/);
    // what doctor read is what the node has
    const prefs = JSON.parse(
      await s.env.kubectl(['-n', 'june-services', 'exec', 'deployment/june-idp', '-c', 'tailscale', '--', 'tailscale', 'debug', 'prefs']),
    );
    expect(prefs.ShieldsUp ?? false).toBe(false);
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
