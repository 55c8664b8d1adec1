// Scenario 3 of the e2e issue and the Headscale/11.2 issue's tests, for each transport:
// install --skip 11.2 on a platform the user installed, then deploy-sidecars adds the
// sidecars keeping the user's values; a service added later; keys expired in Headscale
// or garbage in the Secret are re-minted; a wrong API key changes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { canRun, expectNoSecretIn, REPO, startScenario, type Scenario } from './harness.js';

type HsUser = { id: string | number; name: string };
type HsKey = { id: string | number; key?: string; expiration?: unknown; user?: { name: string } | string };

describe.skipIf(!canRun).each(['exec', 'api'] as const)('sidecars on an existing platform (%s transport)', (transport) => {
  let s: Scenario;
  const cfg = (): Record<string, string> =>
    transport === 'api'
      ? { HEADSCALE_TRANSPORT: 'api', HEADSCALE_API_URL: s.env.headscale.url, HEADSCALE_API_KEY: s.env.headscale.apiKey }
      : {};
  const userNames = async () => ((await s.headscaleJson<HsUser[] | null>(['users', 'list'])) ?? []).map((u) => u.name).sort();
  /** Containers and native sidecars (init containers that run for the pod's life). */
  const containers = async (d: string) => {
    const spec = JSON.parse(await s.env.kubectl(['-n', 'june-services', 'get', 'deployment', d, '-o', 'json'])).spec.template.spec;
    return [...(spec.initContainers ?? []), ...spec.containers].map((c: { name: string }) => c.name);
  };
  const platformRevision = async () =>
    (JSON.parse(await s.env.helm(['list', '-n', 'june-services', '-o', 'json'])) as { name: string; revision: number | string }[]).find(
      (r) => r.name === 'june-platform',
    )!.revision;

  beforeAll(async () => {
    s = await startScenario(`sidecars-${transport}`);
    s.writeConfig(cfg());
    // The June Platform as the user deployed it, before june-ts (spec: prerequisite 2).
    await s.env.helm([
      'upgrade',
      '--install',
      'june-platform',
      join(REPO, 'helm', 'june-platform'),
      '-n',
      'june-services',
      '--create-namespace',
      '--set',
      'ingress.className=traefik',
      '--set',
      'services.orchestrator.ingress.host=api.example.test',
      '--wait',
      '--timeout',
      '120s',
    ]);
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('install --skip 11.2-headscale-sidecars: Headscale up, no service users, no Secret, release untouched', async () => {
    const rev = await platformRevision();
    const r = await s.june(['install', '--skip', '11.2-headscale-sidecars', '--skip', '11.5-tailnet-host']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('11.2-headscale-sidecars skipped: --skip 11.2-headscale-sidecars');
    expect(await userNames()).toEqual([]);
    expect(await s.secret()).toBeNull();
    expect(await platformRevision()).toEqual(rev);
    expect(await containers('june-orchestrator')).not.toContain('tailscale');
  });

  it("deploy-sidecars adds them, keeping the user's values", async () => {
    const r = await s.june(['deploy-sidecars']);
    expect(r.code, r.stderr).toBe(0);
    expect(await userNames()).toEqual(['june-idp', 'june-orchestrator']);
    expect(await containers('june-orchestrator')).toContain('tailscale');
    const values = JSON.parse(await s.env.helm(['get', 'values', 'june-platform', '-n', 'june-services', '-o', 'json']));
    expect(values.ingress.className).toBe('traefik');
    expect(values.services.orchestrator.ingress.host).toBe('api.example.test');
    expect(values.tailscale.enabled).toBe(true);
    await s.env.sidecars.waitJoined('june-services', 'june-orchestrator', 60_000);
  });

  it('a service added to the config gets a user, key and sidecar; the others keep theirs', async () => {
    const before = await s.secret();
    await s.env.helm([
      'upgrade',
      'june-platform',
      join(REPO, 'helm', 'june-platform'),
      '-n',
      'june-services',
      '--reuse-values',
      '--set',
      'services.stt.enabled=true',
    ]);
    s.writeConfig({ ...cfg(), TAILSCALE_SERVICES: 'orchestrator,idp,stt' });
    const r = await s.june(['deploy-sidecars']);
    expect(r.code, r.stderr).toBe(0);
    const after = await s.secret();
    expect(after!.data['june-orchestrator-authkey']).toBe(before!.data['june-orchestrator-authkey']);
    expect(after!.data['june-idp-authkey']).toBe(before!.data['june-idp-authkey']);
    expect(after!.data['june-stt-authkey']).toBeTruthy();
    expect(await userNames()).toEqual(['june-idp', 'june-orchestrator', 'june-stt']);
    const joined = await s.env.sidecars.waitJoined('june-services', 'june-stt', 60_000);
    expect(joined.status.BackendState).toBe('Running');
  });

  it('a key expired in Headscale is re-minted; the others are kept', async () => {
    const before = await s.secret();
    const users = await s.headscaleJson<HsUser[]>(['users', 'list']);
    const idp = users.find((u) => u.name === 'june-idp')!;
    const minor = Number(/^v0\.(\d+)/.exec(s.env.headscale.version)![1]);
    const keyId = JSON.parse(before!.annotations['june-ts.dev/minted-keys']!).idp as string;
    if (minor >= 28) await s.env.headscale.cli(['preauthkeys', 'expire', '--id', String(keyId), '--force']);
    else
      await s.env.headscale.cli([
        'preauthkeys',
        'expire',
        '-u',
        minor >= 26 ? String(idp.id) : idp.name,
        before!.data['june-idp-authkey']!,
      ]);
    const r = await s.june(['deploy-sidecars']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('idp: new key (the key has expired)');
    const after = await s.secret();
    expect(after!.data['june-idp-authkey']).not.toBe(before!.data['june-idp-authkey']);
    expect(after!.data['june-orchestrator-authkey']).toBe(before!.data['june-orchestrator-authkey']);
  });

  it('a Secret entry edited by hand to garbage is detected and repaired', async () => {
    const garbage = Buffer.from('not-a-key').toString('base64');
    await s.env.kubectl([
      '-n',
      'june-services',
      'patch',
      'secret',
      'headscale-auth-keys',
      '--type=merge',
      '-p',
      JSON.stringify({ data: { 'june-orchestrator-authkey': garbage } }),
    ]);
    const r = await s.june(['deploy-sidecars']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/orchestrator: new key \(the key in the Secret is unknown to Headscale/);
    const after = await s.secret();
    expect(after!.data['june-orchestrator-authkey']).not.toBe('not-a-key');
    const keys = await keysOf('june-orchestrator');
    expect(keys.length).toBeGreaterThan(0);
    // the repaired key is one Headscale knows (full key on < 0.28, prefix on >= 0.28)
    const value = after!.data['june-orchestrator-authkey']!;
    expect(
      keys.some(
        (k) =>
          k.key === value ||
          (k.key?.endsWith('-***') && value.startsWith(k.key.replace(/-\*\*\*$/, '-'))) ||
          (k as { prefix?: string }).prefix,
      ),
    ).toBe(true);
  });

  it('a second deploy-sidecars changes nothing', async () => {
    const before = await s.secret();
    const rev = await platformRevision();
    const r = await s.june(['deploy-sidecars']);
    expect(r.code, r.stderr).toBe(0);
    expect((await s.secret())!.resourceVersion).toBe(before!.resourceVersion);
    expect(await platformRevision()).toEqual(rev);
  });

  it('a wrong API key is a clear error and changes nothing', async () => {
    const before = await s.secret();
    const users = await userNames();
    s.writeConfig({
      TAILSCALE_SERVICES: 'orchestrator,idp,stt',
      HEADSCALE_TRANSPORT: 'api',
      HEADSCALE_API_URL: s.env.headscale.url,
      HEADSCALE_API_KEY: 'wrong-key-0123456789',
    });
    const r = await s.june(['deploy-sidecars']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/rejected the API key/);
    expect(r.stderr).toContain('HEADSCALE_API_KEY');
    expect(r.stderr).not.toContain('wrong-key-0123456789');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(await userNames()).toEqual(users);
    expect((await s.secret())!.resourceVersion).toBe(before!.resourceVersion);
    s.writeConfig({ ...cfg(), TAILSCALE_SERVICES: 'orchestrator,idp,stt' });
  });

  it('no key and no API key reached an argv, an environment, june-ts output or an annotation', async () => {
    const secret = await s.secret();
    const secrets = [...Object.values(secret!.data), s.env.headscale.apiKey];
    const annotations = await s.env.kubectl([
      'get',
      'secrets,deployments,configmaps',
      '-A',
      '-o',
      'jsonpath={.items[*].metadata.annotations}',
    ]);
    expect(s.recordedCalls()).toContain('ARGV helm');
    expect(expectNoSecretIn([s.recordedCalls(), s.transcript.join('\n'), annotations].join('\n'), secrets)).toEqual([]);
  });

  async function keysOf(user: string): Promise<HsKey[]> {
    const minor = Number(/^v0\.(\d+)/.exec(s.env.headscale.version)![1]);
    if (minor >= 28) {
      const all = (await s.headscaleJson<HsKey[] | null>(['preauthkeys', 'list'])) ?? [];
      return all.filter((k) => (typeof k.user === 'string' ? k.user : k.user?.name) === user);
    }
    const users = await s.headscaleJson<HsUser[]>(['users', 'list']);
    const u = users.find((x) => x.name === user)!;
    return (await s.headscaleJson<HsKey[] | null>(['preauthkeys', 'list', '-u', minor >= 26 ? String(u.id) : u.name])) ?? [];
  }
});
