// Day-2 operations against the real environment: rotate-keys (no pod touched, node identity
// kept, old keys expired only after a key-check node proved the new ones), a rotation that fails halfway (Headscale
// stopped) leaving the old keys working, status going red, doctor naming the broken thing,
// 11.5 refusing a host joined elsewhere, and cleanup (twice, and with --purge --all).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRun, expectNoSecretIn, startScenario, type Scenario } from './harness.js';

type HsNode = { id: string | number; name: string; given_name?: string; online?: boolean; user?: { name: string } | string };
type HsUser = { id: string | number; name: string };
type HsKey = { id: string | number; key?: string; expiration?: { seconds?: number } | string; user?: { name: string } | string };
const nameOf = (n: HsNode) => n.given_name ?? n.name;

describe.skipIf(!canRun)('day-2 operations', () => {
  let s: Scenario;
  let minor: number;
  const nodes = async () => (await s.headscaleJson<HsNode[] | null>(['nodes', 'list'])) ?? [];
  const serviceNodes = async () => (await nodes()).filter((n) => /^june-(orchestrator|idp)$/.test(nameOf(n)));
  /** Every pod of the services: name, uid and each container's restart count. */
  const pods = async () => {
    const list = JSON.parse(
      await s.env.kubectl(['-n', 'june-services', 'get', 'pods', '-l', 'app.kubernetes.io/instance=june-platform', '-o', 'json']),
    ) as {
      items: {
        metadata: { name: string; uid: string };
        status?: {
          containerStatuses?: { name: string; restartCount: number }[];
          initContainerStatuses?: { name: string; restartCount: number }[];
        };
      }[];
    };
    return list.items
      .map((p) => ({
        name: p.metadata.name,
        uid: p.metadata.uid,
        // a native sidecar's status is an init container's
        restarts: [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]
          .map((c) => `${c.name}=${c.restartCount}`)
          .sort(),
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
  };
  const keysOf = async (user: string): Promise<HsKey[]> => {
    if (minor >= 28) {
      return ((await s.headscaleJson<HsKey[] | null>(['preauthkeys', 'list'])) ?? []).filter(
        (k) => (typeof k.user === 'string' ? k.user : k.user?.name) === user,
      );
    }
    const u = (await s.headscaleJson<HsUser[]>(['users', 'list'])).find((x) => x.name === user)!;
    return (await s.headscaleJson<HsKey[] | null>(['preauthkeys', 'list', '-u', minor >= 26 ? String(u.id) : u.name])) ?? [];
  };
  const expired = (k: HsKey) => {
    const exp = k.expiration;
    const ms = typeof exp === 'string' ? Date.parse(exp) : exp?.seconds !== undefined ? exp.seconds * 1000 : NaN;
    return Number.isFinite(ms) && ms > 0 && ms <= Date.now();
  };

  beforeAll(async () => {
    s = await startScenario('day2');
    minor = Number(/^v0\.(\d+)/.exec(s.env.headscale.version)![1]);
    const r = await s.june(['install']);
    if (r.code !== 0) throw new Error(`install failed:\n${r.stderr}`);
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('rotate-keys: new keys proven by a key-check node, no pod restarted, same nodes, old keys expired', async () => {
    const before = await s.secret();
    const oldIds = JSON.parse(before!.annotations['june-ts.dev/minted-keys']!) as Record<string, string>;
    const nodesBefore = await serviceNodes();
    expect(nodesBefore.map(nameOf).sort()).toEqual(['june-idp', 'june-orchestrator']);
    const podsBefore = await pods();

    const r = await s.june(['rotate-keys']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/orchestrator: new key registered a key-check node \(id \d+, removed again\)/);
    expect(r.stderr).toMatch(/rotate\/restart skipped: running nodes keep working without their pre-auth key/);
    const after = await s.secret();
    expect(after!.data['june-orchestrator-authkey']).not.toBe(before!.data['june-orchestrator-authkey']);
    expect(after!.data['june-idp-authkey']).not.toBe(before!.data['june-idp-authkey']);

    // the services' pods were not touched: same pods, no container restarted
    expect(await pods()).toEqual(podsBefore);
    // the same nodes, still online; the key-check pods and their nodes are gone
    const nodesAfter = await serviceNodes();
    expect(nodesAfter.map(nameOf).sort()).toEqual(['june-idp', 'june-orchestrator']);
    expect(nodesAfter.map((n) => String(n.id)).sort()).toEqual(nodesBefore.map((n) => String(n.id)).sort());
    expect(nodesAfter.every((n) => n.online)).toBe(true);
    expect((await nodes()).filter((n) => /keycheck/.test(nameOf(n)))).toEqual([]);
    expect(await s.env.kubectl(['-n', 'june-services', 'get', 'pods', '-l', 'june-ts.dev/key-check', '-o', 'name'])).toBe('');

    const oldKey = (await keysOf('june-orchestrator')).find((k) => String(k.id) === String(oldIds.orchestrator));
    if (minor >= 28) {
      expect(oldKey && expired(oldKey)).toBe(true);
    } else {
      // 0.23–0.27 can expire a key only with the key in argv: june-ts refuses over exec and says why
      expect(r.stderr).toMatch(/can only expire a pre-auth key by putting the full key on the command line/);
      expect(oldKey && expired(oldKey)).toBe(false);
    }
    // right after a rotation everything is green (the old design raced here)
    const status = await s.june(['status']);
    expect(status.code, status.stdout + status.stderr).toBe(0);
  });

  it('rotate-keys --service idp rotates only idp', async () => {
    const before = await s.secret();
    const r = await s.june(['rotate-keys', '--service', 'idp']);
    expect(r.code, r.stderr).toBe(0);
    const after = await s.secret();
    expect(after!.data['june-idp-authkey']).not.toBe(before!.data['june-idp-authkey']);
    expect(after!.data['june-orchestrator-authkey']).toBe(before!.data['june-orchestrator-authkey']);
    const bad = await s.june(['rotate-keys', '--service', 'nope']);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain('--service nope: not in TAILSCALE_SERVICES');
  });

  it('a rotation that fails halfway (Headscale stopped) restores the Secret; the old keys keep working; a re-run completes', async () => {
    const before = await s.secret();
    // pause at the first `nodes list` (the proof step, after mint and Secret), stop Headscale there
    const r = await s.juneWithPause(['rotate-keys'], 'headscale nodes list', async () => {
      await s.env.headscale.stop();
    });
    expect(r.paused).toBe(true);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/phase rotate\/prove/);
    expect(r.stderr).toMatch(/the Secret was restored and the old keys stay valid/);
    await s.env.headscale.start();
    const after = await s.secret();
    expect(after!.data).toEqual(before!.data);
    // the old keys are still valid in Headscale
    for (const svc of ['orchestrator', 'idp']) {
      const id = JSON.parse(after!.annotations['june-ts.dev/minted-keys']!)[svc];
      const k = (await keysOf(`june-${svc}`)).find((x) => String(x.id) === String(id));
      expect(k, `${svc} key ${id}`).toBeDefined();
      expect(expired(k!)).toBe(false);
    }
    const again = await s.june(['rotate-keys']);
    expect(again.code, again.stderr).toBe(0);
    // the running nodes reconnect to the restarted Headscale by themselves (nothing restarted them)
    const back = await s.june(['status', '--wait']);
    expect(back.code, back.stdout + back.stderr).toBe(0);
  });

  it('status goes red when a node goes offline or a key is expired, and exits 4', async () => {
    const ok = await s.june(['status']);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    // expire the orchestrator's current key in Headscale
    const sec = await s.secret();
    const id = JSON.parse(sec!.annotations['june-ts.dev/minted-keys']!).orchestrator;
    if (minor >= 28) await s.env.headscale.cli(['preauthkeys', 'expire', '--id', String(id), '--force']);
    else {
      const u = (await s.headscaleJson<HsUser[]>(['users', 'list'])).find((x) => x.name === 'june-orchestrator')!;
      await s.env.headscale.cli([
        'preauthkeys',
        'expire',
        '-u',
        minor >= 26 ? String(u.id) : u.name,
        sec!.data['june-orchestrator-authkey']!,
      ]);
    }
    const red = await s.june(['status', '-o', 'json']);
    expect(red.code).toBe(4);
    const report = JSON.parse(red.stdout);
    const orch = report.services.find((x: { service: string }) => x.service === 'orchestrator');
    expect(orch.level).toBe('error');
    expect(orch.key.problem).toBe('the key has expired');
    const doctor = await s.june(['doctor']);
    expect(doctor.code).toBe(4);
    expect(doctor.stdout).toMatch(/✗ orchestrator: key valid: the key has expired\n\s+fix: june-ts deploy-sidecars/);
    // repair
    const repair = await s.june(['deploy-sidecars']);
    expect(repair.code, repair.stderr).toBe(0);
    const green = await s.june(['status']);
    expect(green.code, green.stdout + green.stderr).toBe(0);
  });

  it('status goes red when a node goes offline', async () => {
    await s.env.kubectl(['-n', 'june-services', 'scale', 'deployment/june-idp', '--replicas=0']);
    let report: { level: string; services: { service: string; problems: string[] }[] } | undefined;
    let code = 0;
    for (let i = 0; i < 60; i++) {
      const r = await s.june(['status', '-o', 'json']);
      code = r.code;
      report = JSON.parse(r.stdout);
      if (report!.services.find((x) => x.service === 'idp')!.problems.some((p) => /offline/.test(p))) break;
      await new Promise((res) => setTimeout(res, 1000));
    }
    expect(code).toBe(4);
    expect(report!.services.find((x) => x.service === 'idp')!.problems.join('\n')).toMatch(/node june-idp \(id \d+\) is offline/);
    await s.env.kubectl(['-n', 'june-services', 'scale', 'deployment/june-idp', '--replicas=1']);
    const back = await s.june(['status', '--wait']);
    expect(back.code, back.stdout + back.stderr).toBe(0);
  });

  it('doctor names a MagicDNS base domain that differs from TAILNET_DOMAIN, and missing sidecar RBAC', async () => {
    const dns = await s.june(['doctor'], { config: s.writeConfig({ TAILNET_DOMAIN: 'tail.other.test' }, `${s.dir}/other.env`) });
    expect(dns.code).toBe(4);
    expect(dns.stdout).toMatch(
      /✗ MagicDNS base domain: headscale-config has dns.base_domain=tail\.june\.test, config has TAILNET_DOMAIN=tail\.other\.test/,
    );
    await s.env.kubectl(['-n', 'june-services', 'delete', 'rolebinding', 'june-orchestrator-tailscale']);
    const rbac = await s.june(['doctor']);
    expect(rbac.code).toBe(4);
    expect(rbac.stdout).toMatch(
      /✗ orchestrator: RBAC for the state Secret: june-orchestrator-tailscale lacks get, update, patch on june-orchestrator-tailscale-state/,
    );
    // a re-run of the chart's upgrade restores it (helm re-creates the missing object)
    await s.env.helm([
      'upgrade',
      'june-platform',
      `${process.cwd()}/helm/june-platform`,
      '-n',
      'june-services',
      '--reuse-values',
      '--wait',
    ]);
    expect((await s.june(['doctor'])).code).toBe(0);
  });

  it('doctor names a Secret entry the chart reads but the Secret lacks, and an offline node', async () => {
    const sec = await s.secret();
    await s.env.kubectl([
      '-n',
      'june-services',
      'patch',
      'secret',
      'headscale-auth-keys',
      '--type=json',
      '-p',
      '[{"op":"remove","path":"/data/june-idp-authkey"}]',
    ]);
    const d = await s.june(['doctor']);
    expect(d.code).toBe(4);
    expect(d.stdout).toMatch(/✗ Secret keys match the chart's authKeyRefs: idp: chart reads 'june-idp-authkey'/);
    expect(d.stdout).toMatch(/✗ idp: key valid: no key in the Secret/);
    expect((await s.june(['deploy-sidecars'])).code).toBe(0);
    expect((await s.secret())!.data['june-orchestrator-authkey']).toBe(sec!.data['june-orchestrator-authkey']);
    // stop Headscale: doctor says it is unreachable, with the fix
    await s.env.headscale.stop();
    const down = await s.june(['doctor']);
    await s.env.headscale.start();
    expect(down.code).toBe(4);
    expect(down.stdout).toMatch(/✗ Headscale reachable: .*\n\s+fix: kubectl -n headscale get pods/);
  });

  it('11.5 refuses a host joined to another server unless --force-reauth', async () => {
    // the host is joined to our server; pretend a different control URL in the config
    s.writeConfig({ HEADSCALE_URL: s.env.headscale.url.replace('127.0.0.1', 'localhost') });
    const r = await s.june(['install', '--only', '11.5-tailnet-host']);
    s.writeConfig();
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('this host is logged in to another control server');
    expect(r.stderr).toContain('--force-reauth');
    const again = await s.june(['install', '--only', '11.5-tailnet-host']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('host already joined');
  });

  it('no key reached an argv, an environment, june-ts output (verbose, json) or an annotation', async () => {
    await s.secret();
    const keys = s.seenKeys(); // every key of the run: the first ones, rotated ones, re-minted ones
    const annotations = await s.env.kubectl([
      'get',
      'secrets,deployments,configmaps',
      '-A',
      '-o',
      'jsonpath={.items[*].metadata.annotations}',
    ]);
    expect(keys.length).toBeGreaterThanOrEqual(6);
    expect(expectNoSecretIn([s.recordedCalls(), s.transcript.join('\n'), annotations].join('\n'), keys)).toEqual([]);
  });

  it('cleanup: refuses without --yes off a TTY; removes sidecars, nodes and Secrets; public endpoints unchanged; twice is fine', async () => {
    const svcBefore = await s.env.kubectl([
      '-n',
      'june-services',
      'get',
      'services,ingresses',
      '-o',
      'jsonpath={range .items[*]}{.kind}/{.metadata.name} {.spec}{"\\n"}{end}',
    ]);
    const refuse = await s.june(['cleanup']);
    expect(refuse.code).toBe(3);
    expect(refuse.stderr).toContain('refusing without --yes');
    expect(await s.secret()).not.toBeNull();

    const r = await s.june(['cleanup', '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(await s.secret()).toBeNull();
    expect(await s.secret('june-orchestrator-tailscale-state')).toBeNull();
    expect((await serviceNodes()).length).toBe(0);
    const values = JSON.parse(await s.env.helm(['get', 'values', 'june-platform', '-n', 'june-services', '-o', 'json']));
    expect(values.tailscale.enabled).toBe(false);
    const d = JSON.parse(await s.env.kubectl(['-n', 'june-services', 'get', 'deployment', 'june-orchestrator', '-o', 'json']));
    expect(
      [...(d.spec.template.spec.initContainers ?? []), ...d.spec.template.spec.containers].map((c: { name: string }) => c.name),
    ).not.toContain('tailscale');
    const svcAfter = await s.env.kubectl([
      '-n',
      'june-services',
      'get',
      'services,ingresses',
      '-o',
      'jsonpath={range .items[*]}{.kind}/{.metadata.name} {.spec}{"\\n"}{end}',
    ]);
    expect(svcAfter).toBe(svcBefore);

    const twice = await s.june(['cleanup', '--yes']);
    expect(twice.code, twice.stderr).toBe(0);
    expect(twice.stderr).toContain('no Secrets to delete');
  });

  it('cleanup --all also deletes the users and uninstalls Headscale', async () => {
    const r = await s.june(['cleanup', '--yes', '--all']);
    expect(r.code, r.stderr).toBe(0);
    expect(((await s.headscaleJson<HsUser[] | null>(['users', 'list'])) ?? []).map((u) => u.name)).toEqual([]);
    const releases = JSON.parse(await s.env.helm(['list', '-n', 'headscale', '-o', 'json']));
    expect(releases).toEqual([]);
    const again = await s.june(['cleanup', '--yes', '--all']);
    expect(again.code, again.stderr).toBe(0);
  });
});
