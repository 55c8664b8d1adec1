// Bad input on the cluster side, against the real environment: objects june-ts expects that
// exist but are not its own, or are not in the state it needs. Each row: the documented exit
// code, one line naming the object and the fix, and nothing changed (Headscale users and
// keys, the auth Secret, the Helm releases). The config and flag rows are in
// test/unit/bad-input.test.ts. The foreign Secret is not refused: its other entries must
// survive deploy-sidecars, rotate-keys and cleanup.
import { createServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRun, startScenario, type JuneResult, type Scenario } from './harness.js';

type HsUser = { id: string | number; name: string };
const NO_STACK = /\n\s+at .+:\d+:\d+/;

describe.skipIf(!canRun)('bad input on the cluster side: refused before anything changes', () => {
  let s: Scenario;
  let html: Server;
  let htmlUrl: string;

  const keyCount = async () => {
    const minor = Number(/^v0\.(\d+)/.exec(s.env.headscale.version)![1]);
    if (minor >= 28) return ((await s.headscaleJson<unknown[] | null>(['preauthkeys', 'list'])) ?? []).length;
    let n = 0;
    for (const u of (await s.headscaleJson<HsUser[] | null>(['users', 'list'])) ?? [])
      n += ((await s.headscaleJson<unknown[] | null>(['preauthkeys', 'list', '-u', minor >= 26 ? String(u.id) : u.name])) ?? []).length;
    return n;
  };
  const snapshot = async () => {
    const secret = await s.secret();
    const releases = JSON.parse(await s.env.helm(['list', '-A', '-o', 'json'])) as { name: string; revision: number | string }[];
    return {
      users: ((await s.headscaleJson<HsUser[] | null>(['users', 'list'])) ?? []).map((u) => u.name).sort(),
      keys: await keyCount(),
      secret: secret ? { rv: secret.resourceVersion, data: secret.data } : null,
      releases: releases.map((r) => `${r.name}@${r.revision}`).sort(),
    };
  };
  const refused = (r: JuneResult, code: number, line: RegExp) => {
    expect(r.code, r.stderr).toBe(code);
    expect(r.stderr).toMatch(line);
    expect(r.stderr).not.toMatch(NO_STACK);
  };

  beforeAll(async () => {
    s = await startScenario('bad-input');
    // an ingress that answers every path with its own HTML page instead of Headscale's JSON
    html = createServer((req, res) => {
      res.writeHead(req.url === '/version' ? 502 : 200, { 'content-type': 'text/html' });
      res.end('<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr>nginx</body></html>\n');
    });
    await new Promise<void>((r) => html.listen(0, '127.0.0.1', r));
    htmlUrl = `http://127.0.0.1:${(html.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    html?.close();
    await s?.stop();
  });

  it('a foreign headscale-auth-keys Secret: june-ts adds its entries and keeps the others, through deploy, rotate and cleanup', async () => {
    await s.env.kubectl(['create', 'namespace', 'june-services']);
    await s.env.kubectl([
      '-n',
      'june-services',
      'create',
      'secret',
      'generic',
      'headscale-auth-keys',
      '--from-literal=payments-authkey=not-june-ts-0123456789',
      '--from-literal=ci-token=also-not-june-ts-0123456789',
    ]);
    const install = await s.june(['install']);
    expect(install.code, install.stderr).toBe(0);
    const foreign = { 'payments-authkey': 'not-june-ts-0123456789', 'ci-token': 'also-not-june-ts-0123456789' };
    expect((await s.secret())!.data).toMatchObject(foreign);
    expect(Object.keys((await s.secret())!.data).sort()).toEqual([
      'ci-token',
      'june-idp-authkey',
      'june-orchestrator-authkey',
      'payments-authkey',
    ]);
    const rotate = await s.june(['rotate-keys']);
    expect(rotate.code, rotate.stderr).toBe(0);
    expect((await s.secret())!.data).toMatchObject(foreign);
    const cleanup = await s.june(['cleanup', '--yes']);
    expect(cleanup.code, cleanup.stderr).toBe(0);
    expect(cleanup.stdout + cleanup.stderr).toMatch(
      /kept it for 2 entries that are not june-ts's \(payments-authkey, ci-token\)|kept it for 2 entries that are not june-ts's \(ci-token, payments-authkey\)/,
    );
    const kept = await s.secret();
    expect(kept!.data).toEqual(foreign);
    expect(kept!.annotations['june-ts.dev/minted-keys']).toBeUndefined();
    // back to the installed state for the rows below
    const again = await s.june(['deploy-sidecars']);
    expect(again.code, again.stderr).toBe(0);
  });

  describe('refused rows', () => {
    let installed: Awaited<ReturnType<typeof snapshot>>;
    beforeAll(async () => {
      installed = await snapshot();
    });

    it('a service the chart knows but does not run (stt, services.stt.enabled=false): exit 3 with the values line, before any key', async () => {
      const t0 = Date.now();
      const r = await s.june(['deploy-sidecars'], {
        config: s.writeConfig({ TAILSCALE_SERVICES: 'orchestrator,idp,stt' }, join(s.dir, 'stt.env')),
      });
      refused(
        r,
        3,
        /TAILSCALE_SERVICES: 'stt' is not enabled in release june-platform \(services\.stt\.enabled is false\) — set services\.stt\.enabled=true/,
      );
      expect(Date.now() - t0).toBeLessThan(60_000);
      expect(await snapshot()).toEqual(installed);
    });

    it('a service the chart does not know: exit 3, named, nothing changed', async () => {
      const r = await s.june(['deploy-sidecars'], {
        config: s.writeConfig({ TAILSCALE_SERVICES: 'orchestrator,sst' }, join(s.dir, 'sst.env')),
      });
      refused(r, 3, /TAILSCALE_SERVICES: 'sst' is not a service of release june-platform .* did you mean stt\?/);
      expect(await snapshot()).toEqual(installed);
    });

    it('a Headscale that answers with an HTML page (ingress error page): exit 1, says so, nothing changed', async () => {
      const path = s.writeConfig(
        { HEADSCALE_TRANSPORT: 'api', HEADSCALE_API_URL: htmlUrl, HEADSCALE_API_KEY: 'some-api-key-0123456789' },
        join(s.dir, 'html.env'),
      );
      const r = await s.june(['deploy-sidecars'], { config: path });
      refused(r, 1, /answered with an HTML page \(HTTP \d+[^)]*\), not Headscale's JSON/);
      expect(r.stderr).toContain(htmlUrl);
      expect(await snapshot()).toEqual(installed);
    });

    it('Headscale scaled to zero: exit 2 in preflight, names the Deployment and the fix, nothing changed', async () => {
      await s.env.kubectl(['-n', 'headscale', 'scale', 'deployment', 'headscale', '--replicas=0']);
      await s.env
        .kubectl(['-n', 'headscale', 'wait', '--for=delete', 'pod', '-l', 'app.kubernetes.io/name=headscale', '--timeout=60s'])
        .catch(() => '');
      try {
        const r = await s.june(['deploy-sidecars']);
        refused(r, 2, /Deployment headscale\/headscale has 0 replicas/);
        expect(r.stderr).toContain('kubectl -n headscale scale deployment headscale --replicas=1');
        expect(await snapshot()).toEqual(installed);
      } finally {
        await s.env.kubectl(['-n', 'headscale', 'scale', 'deployment', 'headscale', '--replicas=1']);
        await s.env.kubectl(['-n', 'headscale', 'rollout', 'status', 'deployment', 'headscale', '--timeout=120s']);
      }
    });

    it('a platform namespace that is terminating: exit 2 in preflight, names it and what holds it, nothing changed', async () => {
      // its own namespace, held in Terminating by a finalizer on an object in it
      writeFileSync(
        join(s.dir, 'held.yaml'),
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  namespace: june-leaving\n  finalizers: [example.com/hold]\n',
      );
      await s.env.kubectl(['create', 'namespace', 'june-leaving']);
      await s.env.kubectl(['apply', '-f', join(s.dir, 'held.yaml')]);
      await s.env.kubectl(['delete', 'namespace', 'june-leaving', '--wait=false']);
      try {
        const r = await s.june(['deploy-sidecars'], {
          config: s.writeConfig({ PLATFORM_NAMESPACE: 'june-leaving' }, join(s.dir, 'leaving.env')),
        });
        refused(r, 2, /namespace june-leaving is terminating/);
        expect(await snapshot()).toEqual(installed);
      } finally {
        await s.env
          .kubectl(['-n', 'june-leaving', 'patch', 'configmap', 'held', '--type=merge', '-p', '{"metadata":{"finalizers":null}}'])
          .catch(() => '');
      }
    });
  });
});
