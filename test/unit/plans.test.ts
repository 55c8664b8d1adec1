// Golden dry-run plans through main(): what each command would do, as the user sees it.
// Update after an intended change with: npx vitest run --project unit -u test/unit/plans.test.ts
import { HEADSCALE_DEFAULT_VERSION } from '../../src/headscale/types.js';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import type { PhasePlan, PlanEntry } from '../../src/write-gate.js';

const REPO = resolve(__dirname, '../..');
const EXAMPLE = resolve(REPO, 'config.env.example');
const API_KEY = 'K3yVaLuE-only-in-this-test-9f8e7d6c';

function sink() {
  let text = '';
  return {
    stream: { write: (s: string | Uint8Array) => ((text += String(s)), true) } as unknown as NodeJS.WritableStream,
    text: () => text,
  };
}

async function runCli(argv: string[], env: Record<string, string> = {}) {
  const out = sink();
  const err = sink();
  const code = await main(argv, {
    stdout: out.stream,
    stderr: err.stream,
    env: { NO_COLOR: '1', HOST_HOSTNAME: 'june-host-1', ...env },
    signal: new AbortController().signal,
  });
  const stable = (s: string) => s.split(REPO).join('<repo>');
  return { code, stdout: stable(out.text()), stderr: stable(err.text()) };
}

const GOLDEN: [string, string[]][] = [
  ['install', ['install', '--dry-run']],
  ['install-skip-sidecars', ['install', '--dry-run', '--skip', '11.2-headscale-sidecars']],
  ['deploy-sidecars', ['deploy-sidecars', '--dry-run']],
  ['rotate-keys', ['rotate-keys', '--dry-run']],
  ['cleanup-purge-all', ['cleanup', '--dry-run', '--purge', '--all']],
];

describe('golden dry-run plans (config.env.example)', () => {
  for (const [name, argv] of GOLDEN) {
    it(`june-ts ${argv.join(' ')}`, async () => {
      const r = await runCli([...argv, '--config', EXAMPLE]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).not.toContain('\u001b[');
      await expect(r.stdout).toMatchFileSnapshot(`./__golden__/${name}.txt`);
    });
  }

  it('--skip 11.2-headscale-sidecars and ENABLE_TAILSCALE_SIDECARS=false plan the same writes', async () => {
    const byFlag = await runCli(['install', '--dry-run', '--skip', '11.2-headscale-sidecars', '--config', EXAMPLE]);
    const byConfig = await runCli(['install', '--dry-run', '--config', EXAMPLE], { ENABLE_TAILSCALE_SIDECARS: 'false' });
    expect(byConfig.code).toBe(0);
    expect(byConfig.stdout.split('--skip 11.2-headscale-sidecars').join('ENABLE_TAILSCALE_SIDECARS=false')).toBe(
      byFlag.stdout.split('--skip 11.2-headscale-sidecars').join('ENABLE_TAILSCALE_SIDECARS=false'),
    );
    expect(byConfig.stdout).toContain('○ 11.2-headscale-sidecars  skipped: ENABLE_TAILSCALE_SIDECARS=false');
  });

  it('a change of configuration shows in the plan (the golden files are not static text)', async () => {
    const r = await runCli(['install', '--dry-run', '--config', EXAMPLE], {
      // stt would be refused: the chart does not run it unless services.stt.enabled=true
      TAILSCALE_SERVICES: 'idp',
      PLATFORM_NAMESPACE: 'jp',
      HOST_HOSTNAME: 'box9',
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('headscale create user name=june-idp');
    expect(r.stdout).not.toContain('june-orchestrator');
    expect(r.stdout).toContain('apply Secret/headscale-auth-keys -n jp');
    expect(r.stdout).toContain('--hostname=box9');
  });
});

describe('install --dry-run -o json', () => {
  it('is one JSON document with every phase of install and its entries', async () => {
    const r = await runCli(['install', '--dry-run', '-o', 'json', '--config', EXAMPLE]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const doc = JSON.parse(r.stdout) as { command: string; mode: string; phases: PhasePlan[] };
    expect(doc.command).toBe('install');
    expect(doc.mode).toBe('static');
    expect(doc.phases.map((p) => p.id)).toEqual([
      'preflight',
      '11-headscale',
      '11-headscale/deploy',
      '11-headscale/health',
      '11.2-headscale-sidecars',
      '11.2-headscale-sidecars/users',
      '11.2-headscale-sidecars/keys',
      '11.2-headscale-sidecars/secret',
      '11.2-headscale-sidecars/policy',
      '11.2-headscale-sidecars/helm',
      '11.2-headscale-sidecars/verify',
      '11.2-headscale-sidecars/policy-tests',
      '11.5-tailnet-host',
    ]);
    expect(doc.phases.every((p) => p.status === 'run' && typeof p.description === 'string' && Array.isArray(p.entries))).toBe(true);
    const byId = Object.fromEntries(doc.phases.map((p) => [p.id, p.entries]));

    const hsHelm = byId['11-headscale/deploy']!.find((e) => e.kind === 'helm') as Extract<PlanEntry, { kind: 'helm' }>;
    expect(hsHelm).toMatchObject({
      action: 'upgrade --install',
      release: 'headscale',
      namespace: 'headscale',
      chart: '<repo>/helm/headscale',
    });
    expect(hsHelm.values).toEqual({
      image: { tag: HEADSCALE_DEFAULT_VERSION },
      stopped: false,
      headscale: { domain: 'headscale.ozzu.world', serverUrl: 'https://headscale.ozzu.world', dns: { baseDomain: 'tail.ozzu.world' } },
    });

    expect(byId['11.2-headscale-sidecars/users']).toEqual(
      ['june-orchestrator', 'june-idp'].map((name) =>
        expect.objectContaining({ kind: 'headscale', args: expect.objectContaining({ name }) }),
      ),
    );
    const keys = byId['11.2-headscale-sidecars/keys']!;
    expect(keys).toHaveLength(2);
    for (const k of keys) expect(k).toMatchObject({ kind: 'headscale', args: { reusable: true, expiration: '180d' } });

    const platform = byId['11.2-headscale-sidecars/helm']!.find((e) => e.kind === 'helm') as Extract<PlanEntry, { kind: 'helm' }>;
    expect(platform).toMatchObject({ release: 'june-platform', namespace: 'june-services', chart: '<repo>/helm/june-platform' });
    expect(platform.values).toMatchObject({
      tailscale: {
        enabled: true,
        controlUrl: 'https://headscale.ozzu.world',
        authSecretName: 'headscale-auth-keys',
        authKeyRefs: { orchestrator: 'june-orchestrator-authkey', idp: 'june-idp-authkey' },
      },
    });
  });

  it('shows every Secret data value as <redacted>', async () => {
    for (const argv of [['install'], ['deploy-sidecars'], ['rotate-keys']]) {
      const r = await runCli([...argv, '--dry-run', '-o', 'json', '--config', EXAMPLE]);
      const doc = JSON.parse(r.stdout) as { phases: PhasePlan[] };
      const secrets = doc.phases
        .flatMap((p) => p.entries)
        .filter(
          (e): e is Extract<PlanEntry, { kind: 'apply' }> => e.kind === 'apply' && (e.manifest as { kind?: string }).kind === 'Secret',
        );
      expect(secrets.length).toBeGreaterThan(0);
      for (const s of secrets) {
        const m = s.manifest as { data?: Record<string, string>; stringData?: Record<string, string> };
        const values = [...Object.values(m.data ?? {}), ...Object.values(m.stringData ?? {})];
        expect(values.length).toBe(2);
        for (const v of values) expect(v).toBe('<redacted>');
      }
    }
  });
});

describe('secrets never reach the output', () => {
  it('HEADSCALE_API_KEY from the environment appears nowhere in any plan, text or JSON', async () => {
    const env = { HEADSCALE_TRANSPORT: 'api', HEADSCALE_API_KEY: API_KEY };
    for (const [, argv] of GOLDEN) {
      for (const output of ['text', 'json']) {
        const r = await runCli([...argv, '-o', output, '--config', EXAMPLE], env);
        expect(r.code).toBe(0);
        expect(r.stdout.length).toBeGreaterThan(0);
        expect(r.stdout).not.toContain(API_KEY);
        expect(r.stderr).not.toContain(API_KEY);
      }
    }
    const config = await runCli(['config', '-o', 'json', '--config', EXAMPLE], env);
    expect(config.code).toBe(0);
    expect(config.stdout).not.toContain(API_KEY);
    expect(JSON.parse(config.stdout).values.HEADSCALE_API_KEY).toBe('<redacted>');
  });

  it('nor in a configuration error', async () => {
    const r = await runCli(['install', '--dry-run', '--config', EXAMPLE], {
      HEADSCALE_TRANSPORT: 'api',
      HEADSCALE_API_KEY: 'bad key with spaces K3yVaLuE',
      HEADSCALE_NAMESPACE: 'Bad',
    });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('HEADSCALE_API_KEY: the value is not an API key');
    expect(r.stderr).not.toContain('K3yVaLuE');
    expect(r.stdout).toBe('');
  });
});
