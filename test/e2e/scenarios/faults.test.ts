// Reliability and security against the real environment: bad input changes nothing and
// gets a clear message and exit code; faults mid-run leave a state a plain re-run
// completes; two runs at once never make two sets of keys; sidecar RBAC is least
// privilege; no key reaches an argv, an environment, an output or an annotation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canRun, expectNoSecretIn, startScenario, type Scenario } from './harness.js';

type HsUser = { id: string | number; name: string };

describe.skipIf(!canRun)('faults, bad input, concurrency, least privilege, secrets', () => {
  let s: Scenario;
  const seenKeys = new Set<string>();
  const snapshot = async () => {
    const secret = await s.secret();
    for (const v of Object.values(secret?.data ?? {})) seenKeys.add(v);
    const releases = JSON.parse(await s.env.helm(['list', '-A', '-o', 'json'])) as { name: string; revision: number | string }[];
    return {
      users: ((await s.headscaleJson<HsUser[] | null>(['users', 'list'])) ?? []).map((u) => u.name).sort(),
      secret: secret ? { rv: secret.resourceVersion, data: secret.data } : null,
      releases: releases.map((r) => `${r.name}@${r.revision}`).sort(),
    };
  };

  beforeAll(async () => {
    s = await startScenario('faults');
  });
  afterAll(async () => {
    await s?.stop();
  });

  describe('bad input: one clear message, a documented exit code, nothing changed', () => {
    const cases: { name: string; args?: string[]; config?: () => Record<string, string>; code: number; message: RegExp }[] = [
      { name: 'unknown command', args: ['instal'], code: 3, message: /unknown command 'instal'/ },
      { name: 'unknown flag', args: ['install', '--skip-it'], code: 3, message: /unknown option '--skip-it'/ },
      { name: 'unknown phase id', args: ['install', '--skip', '11.3'], code: 3, message: /--skip 11\.3: no such phase/ },
      {
        name: '--skip and --only name the same phase',
        args: ['install', '--skip', '11-headscale', '--only', '11-headscale'],
        code: 3,
        message: /named by both --skip and --only/,
      },
      {
        name: 'malformed config value',
        config: () => ({ KEY_EXPIRATION: 'forever' }),
        code: 3,
        message: /KEY_EXPIRATION: 'forever' is not a duration/,
      },
      { name: 'missing domain', config: () => ({ HEADSCALE_URL: '' }), code: 3, message: /HEADSCALE_DOMAIN: is required/ },
      {
        name: 'kubectl missing',
        config: () => ({ KUBECTL: '/nonexistent/kubectl' }),
        code: 2,
        message: /kubectl: command not found|not a file/,
      },
      { name: 'helm missing', config: () => ({ HELM: '/nonexistent/helm' }), code: 2, message: /helm: command not found|not a file/ },
      {
        name: 'unsupported Helm version',
        config: () => ({ HELM: fakeHelm('v2.17.0') }),
        code: 2,
        message: /unsupported Helm version v2\.17\.0/,
      },
      {
        name: 'kube context that does not exist',
        config: () => ({ KUBE_CONTEXT: 'no-such-context' }),
        code: 3,
        message: /kubeconfig context 'no-such-context' does not exist/,
      },
      {
        name: 'API server down',
        config: () => ({ KUBECONFIG: deadKubeconfig() }),
        code: 2,
        message: /cannot reach the Kubernetes API server/,
      },
      {
        name: 'chart path with no chart',
        config: () => ({ PLATFORM_CHART: emptyDir() }),
        code: 3,
        message: /no Helm chart at .*Chart\.yaml not found/,
      },
      {
        name: 'config file that does not exist',
        args: ['install', '--config', '/nonexistent/config.env'],
        code: 3,
        message: /config file \/nonexistent\/config\.env does not exist/,
      },
      {
        name: 'config file that is a directory',
        args: ['install', '--config', '/tmp'],
        code: 3,
        message: /config file \/tmp is a directory/,
      },
    ];
    let installed: Awaited<ReturnType<typeof snapshot>>;
    beforeAll(async () => {
      const r = await s.june(['install']);
      if (r.code !== 0) throw new Error(r.stderr);
      installed = await snapshot();
    });
    for (const c of cases) {
      it(c.name, async () => {
        const path = c.config ? s.writeConfig(c.config(), join(s.dir, 'bad.env')) : undefined;
        const r = await s.june(c.args ?? ['install'], path ? { config: path } : {});
        expect(r.code, r.stderr).toBe(c.code);
        expect(r.stderr).toMatch(c.message);
        expect(r.stderr).not.toMatch(/\n\s+at /);
        expect(await snapshot()).toEqual(installed);
      });
    }
    it('Windows line endings and a BOM just work', async () => {
      const path = s.writeConfig({}, join(s.dir, 'crlf.env'));
      writeFileSync(path, `\uFEFF${readFileSync(path, 'utf8').replace(/\n/g, '\r\n')}`);
      const r = await s.june(['deploy-sidecars'], { config: path });
      expect(r.code, r.stderr).toBe(0);
      expect(await snapshot()).toEqual(installed);
    });
    it('a chart render error fails the helm step, names it, and leaves the release as it was', async () => {
      writeFileSync(join(s.dir, 'bad-values.yaml'), 'services:\n  orchestrator:\n    replicas: 2\n');
      const path = s.writeConfig(
        { PLATFORM_VALUES: join(s.dir, 'bad-values.yaml'), TAILSCALE_SERVICES: 'orchestrator,idp' },
        join(s.dir, 'bad.env'),
      );
      const r = await s.june(['deploy-sidecars'], { config: path });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/phase 11\.2-headscale-sidecars\/helm: .*helm upgrade --install june-platform/);
      expect(r.stderr).toMatch(/replicas > 1 would share one Tailscale state Secret/);
      expect(await snapshot()).toEqual(installed);
    });
  });

  it('helm upgrade failing on the server: the release is rolled back and the Secret stays consistent', async () => {
    const before = await snapshot();
    // renders fine, but the API server rejects the Deployment: Helm applies, fails, rolls back
    writeFileSync(join(s.dir, 'reject.yaml'), 'services:\n  orchestrator:\n    resources:\n      limits:\n        cpu: "lots"\n');
    const path = s.writeConfig({ PLATFORM_VALUES: join(s.dir, 'reject.yaml') }, join(s.dir, 'reject.env'));
    const r = await s.june(['deploy-sidecars'], { config: path });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/phase 11\.2-headscale-sidecars\/helm/);
    const history = JSON.parse(await s.env.helm(['history', 'june-platform', '-n', 'june-services', '-o', 'json'])) as { status: string }[];
    expect(history.at(-1)!.status).toBe('deployed');
    const after = await snapshot();
    expect(after.secret).toEqual(before.secret);
    expect((await s.june(['status'])).code).toBe(0);
  });

  it('a rollout that never finishes (pods unschedulable): bounded wait, rolled back to the deployed revision, message names the Deployment', async () => {
    const before = await snapshot();
    const revisions = async () =>
      JSON.parse(await s.env.helm(['history', 'june-platform', '-n', 'june-services', '-o', 'json'])) as {
        revision: number;
        status: string;
      }[];
    const deployedBefore = (await revisions()).filter((h) => h.status === 'deployed').at(-1)!.revision;
    // accepted by the API server, but no node can fit the pod: the Deployment never rolls out
    writeFileSync(join(s.dir, 'unschedulable.yaml'), 'services:\n  idp:\n    resources:\n      requests:\n        cpu: "100000"\n');
    const path = s.writeConfig(
      { PLATFORM_VALUES: join(s.dir, 'unschedulable.yaml'), WAIT_TIMEOUT: '8s' },
      join(s.dir, 'unschedulable.env'),
    );
    const t0 = Date.now();
    const r = await s.june(['deploy-sidecars'], { config: path });
    expect(r.code, r.stderr).toBe(1);
    expect(Date.now() - t0).toBeLessThan(90_000);
    expect(r.stderr).toMatch(
      /phase 11\.2-headscale-sidecars\/helm: Deployments not rolled out after 8s: june-idp\n +release june-platform rolled back to revision \d+/,
    );
    expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
    const history = await revisions();
    expect(history.at(-1)!.status).toBe('deployed');
    expect(history.at(-1)!.revision).toBeGreaterThan(deployedBefore);
    const idp = JSON.parse(await s.env.kubectl(['-n', 'june-services', 'get', 'deployment', 'june-idp', '-o', 'json']));
    expect(idp.spec.template.spec.containers[0].resources?.requests?.cpu).toBeUndefined();
    expect((await snapshot()).secret).toEqual(before.secret);
    expect((await s.june(['status'])).code).toBe(0);
  });

  it('a release left pending-upgrade by a killed helm: refused before any change (exit 2), the fix is named; after it a re-run completes', async () => {
    const revisions = async () =>
      JSON.parse(await s.env.helm(['history', 'june-platform', '-n', 'june-services', '-o', 'json'])) as {
        revision: number;
        status: string;
      }[];
    const last = (await revisions()).at(-1)!;
    // A human's helm upgrade, killed half-way: Helm has recorded the new revision as
    // pending-upgrade and never finishes it. To stop it at that point every time, the
    // upgrade uses a copy of the chart with a pre-upgrade hook Job that cannot be scheduled:
    // Helm records the pending revision, then waits for the hook (before applying anything),
    // and is killed there. (A rollout-based wait is not enough: Helm 3 counts a Deployment
    // with 1 replica and maxUnavailable 1 ready at once, and the kill lost that race in CI.)
    const chart = join(s.dir, 'june-platform-with-hook');
    cpSync(join(process.cwd(), 'helm', 'june-platform'), chart, { recursive: true });
    writeFileSync(
      join(chart, 'templates', 'e2e-stuck-hook.yaml'),
      [
        'apiVersion: batch/v1',
        'kind: Job',
        'metadata:',
        '  name: e2e-stuck-hook',
        '  annotations:',
        '    helm.sh/hook: pre-upgrade',
        '    helm.sh/hook-delete-policy: before-hook-creation',
        'spec:',
        '  backoffLimit: 0',
        '  template:',
        '    spec:',
        '      restartPolicy: Never',
        '      containers:',
        '        - name: wait',
        '          image: busybox',
        '          resources:',
        '            requests:',
        '              cpu: "100000"',
        '',
      ].join('\n'),
    );
    const helm = spawn(
      'helm',
      ['upgrade', 'june-platform', chart, '-n', 'june-services', '--reuse-values', '--wait', '--timeout', '300s'],
      {
        env: { ...process.env, ...s.env.env },
        stdio: 'ignore',
      },
    );
    const exited = new Promise((r) => helm.once('exit', r));
    try {
      for (let i = 0; ; i++) {
        const h = (await revisions()).at(-1)!;
        if (h.revision > last.revision && h.status === 'pending-upgrade') break;
        if (i > 600) throw new Error(`helm never recorded a pending revision: ${JSON.stringify(h)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      helm.kill('SIGKILL');
      await exited;
    }
    // whatever fails below, the tests after this one must not inherit a stuck release
    let freed = false;
    const free = async () => {
      if (freed) return;
      freed = true;
      await s.env.helm(['rollback', 'june-platform', '-n', 'june-services']);
    };
    try {
      await refusedUntilFreed();
    } finally {
      if ((await revisions()).at(-1)!.status.startsWith('pending-')) await free();
      await s.env.kubectl(['-n', 'june-services', 'delete', 'job', 'e2e-stuck-hook', '--ignore-not-found', '--wait=false']);
    }

    async function refusedUntilFreed() {
      expect((await revisions()).at(-1)).toMatchObject({ revision: last.revision + 1, status: 'pending-upgrade' });
      const before = await snapshot();

      const r = await s.june(['deploy-sidecars']);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(
        `error: phase preflight: release june-platform in june-services is pending-upgrade (revision ${last.revision + 1}): a Helm operation on it was interrupted, or is still running`,
      );
      expect(r.stderr).toContain('helm rollback june-platform -n june-services');
      expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
      expect(await snapshot()).toEqual(before);
      expect((await revisions()).at(-1)!.status).toBe('pending-upgrade');
      const doctor = await s.june(['doctor']);
      expect(doctor.code, doctor.stderr).toBe(4);
      expect(`${doctor.stdout}${doctor.stderr}`).toMatch(/Helm release june-services\/june-platform settled[^\n]*\n?[^\n]*pending-upgrade/);

      // the fix the message names, exactly as written, then a plain re-run
      await free();
      const again = await s.june(['deploy-sidecars']);
      expect(again.code, again.stderr).toBe(0);
      const idp = JSON.parse(await s.env.kubectl(['-n', 'june-services', 'get', 'deployment', 'june-idp', '-o', 'json']));
      expect(idp.spec.template.spec.containers[0].resources?.requests?.cpu).toBeUndefined();
      expect((await snapshot()).secret).toEqual(before.secret);
      expect((await s.june(['status'])).code).toBe(0);
    }
  });

  it('Headscale stopped in the middle of 11.2: clear error; a re-run finishes without duplicate users or extra keys', async () => {
    s.writeConfig({ TAILSCALE_SERVICES: 'orchestrator,idp,stt,tts' });
    await s.env.helm([
      'upgrade',
      'june-platform',
      join(process.cwd(), 'helm', 'june-platform'),
      '-n',
      'june-services',
      '--reuse-values',
      '--set',
      'services.stt.enabled=true,services.tts.enabled=true',
    ]);
    const r = await s.juneWithPause(['deploy-sidecars'], 'preauthkeys create', async () => {
      await s.env.headscale.stop();
    });
    await s.env.headscale.start();
    expect(r.paused).toBe(true);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/phase 11\.2-headscale-sidecars\/keys: /);
    const again = await s.june(['deploy-sidecars']);
    expect(again.code, again.stderr).toBe(0);
    const users = ((await s.headscaleJson<HsUser[]>(['users', 'list'])) ?? []).map((u) => u.name).sort();
    expect(users).toEqual(['june-host', 'june-idp', 'june-orchestrator', 'june-stt', 'june-tts']);
    const secret = await s.secret();
    for (const v of Object.values(secret!.data)) seenKeys.add(v);
    expect(Object.keys(secret!.data).sort()).toEqual([
      'june-idp-authkey',
      'june-orchestrator-authkey',
      'june-stt-authkey',
      'june-tts-authkey',
    ]);
    // at most one unexpired key per new service: nothing minted twice
    const minor = Number(/^v0\.(\d+)/.exec(s.env.headscale.version)![1]);
    for (const svc of ['stt', 'tts']) {
      const u = (await s.headscaleJson<HsUser[]>(['users', 'list'])).find((x) => x.name === `june-${svc}`)!;
      const keys =
        minor >= 28
          ? ((await s.headscaleJson<{ user?: { name: string } }[] | null>(['preauthkeys', 'list'])) ?? []).filter(
              (k) => k.user?.name === u.name,
            )
          : ((await s.headscaleJson<unknown[] | null>(['preauthkeys', 'list', '-u', minor >= 26 ? String(u.id) : u.name])) ?? []);
      expect(keys.length, svc).toBe(1);
    }
  });

  it('SIGINT during a phase: exit 130, no half-written Secret; a re-run completes', async () => {
    await s.env.kubectl(['-n', 'june-services', 'delete', 'secret', 'headscale-auth-keys']);
    const r = await s.juneWithPause(['deploy-sidecars'], 'preauthkeys create', async (pid) => {
      process.kill(pid, 'SIGINT');
      await new Promise((res) => setTimeout(res, 300));
    });
    expect(r.paused).toBe(true);
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/interrupted/);
    const secret = await s.secret();
    // either not written at all, or written whole by the partial-save path: never a torn Secret
    if (secret) for (const v of Object.values(secret.data)) expect(v.length).toBeGreaterThan(8);
    const again = await s.june(['deploy-sidecars']);
    expect(again.code, again.stderr).toBe(0);
    for (const v of Object.values((await s.secret())!.data)) seenKeys.add(v);
  });

  it('two runs at once: the second refuses while the first holds the Lease; a stale Lease is taken over', async () => {
    let second: Awaited<ReturnType<Scenario['june']>> | undefined;
    const first = await s.juneWithPause(['deploy-sidecars'], 'helm (list|upgrade)', async () => {
      second = await s.june(['deploy-sidecars']);
    });
    expect(first.paused).toBe(true);
    expect(first.code, first.stderr).toBe(0);
    expect(second!.code).toBe(2);
    expect(second!.stderr).toMatch(/another june-ts run holds the lock \(Lease default\/june-ts-lock/);
    // the Lease is released on exit
    await expect(s.env.kubectl(['-n', 'default', 'get', 'lease', 'june-ts-lock'])).rejects.toThrow(/NotFound|not found/);
    // a stale Lease (holder gone, not renewed) does not block
    const stale = new Date(Date.now() - 10 * 60_000).toISOString().replace('Z', '000Z');
    await s.env.kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: 'june-ts-lock', namespace: 'default' },
        spec: { holderIdentity: 'gone/1/install', leaseDurationSeconds: 60, renewTime: stale },
      }),
    });
    const r = await s.june(['deploy-sidecars']);
    expect(r.code, r.stderr).toBe(0);
  });

  it('least privilege: each sidecar ServiceAccount reaches its own state Secret and nothing else', async () => {
    const can = async (sa: string, verb: string, resource: string) =>
      (
        await s.env
          .kubectl(['auth', 'can-i', verb, resource, '-n', 'june-services', `--as=system:serviceaccount:june-services:${sa}`])
          .catch((e) => String(e))
      )
        .trim()
        .endsWith('yes');
    for (const verb of ['get', 'update', 'patch'])
      expect(await can('june-orchestrator-tailscale', verb, 'secret/june-orchestrator-tailscale-state'), verb).toBe(true);
    // the chart creates the state Secret, so the sidecar needs no create
    expect(await can('june-orchestrator-tailscale', 'create', 'secrets')).toBe(false);
    expect(await can('june-orchestrator-tailscale', 'get', 'secret/headscale-auth-keys')).toBe(false);
    expect(await can('june-orchestrator-tailscale', 'get', 'secret/june-idp-tailscale-state')).toBe(false);
    expect(await can('june-orchestrator-tailscale', 'update', 'secret/june-idp-tailscale-state')).toBe(false);
    expect(await can('june-orchestrator-tailscale', 'list', 'secrets')).toBe(false);
    expect(await can('june-orchestrator-tailscale', 'delete', 'secret/june-orchestrator-tailscale-state')).toBe(false);
    expect(await can('june-orchestrator-tailscale', 'get', 'pods')).toBe(false);
  });

  it('no key ever reached an argv, an environment, june-ts output or an annotation', async () => {
    for (const v of Object.values((await s.secret())?.data ?? {})) seenKeys.add(v);
    expect(seenKeys.size).toBeGreaterThanOrEqual(4);
    const annotations = await s.env.kubectl([
      'get',
      'secrets,deployments,configmaps,leases',
      '-A',
      '-o',
      'jsonpath={.items[*].metadata.annotations}',
    ]);
    const leaks = expectNoSecretIn([s.recordedCalls(), s.transcript.join('\n'), annotations].join('\n'), [...seenKeys]);
    expect(leaks).toEqual([]);
    expect(annotations).not.toContain('last-applied-configuration');
  });

  function fakeHelm(version: string): string {
    const dir = join(s.dir, 'fake-helm');
    mkdirSync(dir, { recursive: true });
    const bin = join(dir, 'helm');
    writeFileSync(bin, `#!/bin/sh\necho '${version}'\n`);
    chmodSync(bin, 0o755);
    return bin;
  }
  function deadKubeconfig(): string {
    const text = readFileSync(s.env.kubeconfig, 'utf8').replace(/server: https?:\/\/127\.0\.0\.1:\d+/, 'server: https://127.0.0.1:9');
    const path = join(s.dir, 'dead-kubeconfig.yaml');
    writeFileSync(path, text);
    return path;
  }
  function emptyDir(): string {
    const dir = join(s.dir, 'no-chart');
    mkdirSync(dir, { recursive: true });
    return dir;
  }
});
