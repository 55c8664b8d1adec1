// Proof that the environment runs what the headscale chart deploys (startEnv({ headscaleServer:
// 'chart' })): the pod runs the real `headscale serve` of its image tag with the chart's
// ConfigMap and a directory per PersistentVolumeClaim, reachable at the Service address; a
// config the server refuses crash-loops the pod; a missing version fails like a missing image;
// a shell pod (alpine) runs sqlite3 against the PVC; deleting the claim removes its directory.
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveTools, startEnv, type E2EEnv } from './env/index.js';

const { missing } = resolveTools();
const ci = process.env.CI === 'true';
const CHART = join(import.meta.dirname, '..', '..', 'helm', 'headscale');
const NS = 'headscale';

describe.skipIf(missing.length > 0 && !ci)("the headscale chart's pod runs Headscale", () => {
  let env: E2EEnv;
  let tmp: string;
  let valuesFiles: string[];
  const kubectl = (args: string[], input?: string) => env.kubectl(args, input === undefined ? {} : { input });
  const helmUpgrade = (extra: string[] = [], wait = true) =>
    env.helm([
      'upgrade',
      '--install',
      'headscale',
      CHART,
      '-n',
      NS,
      '--create-namespace',
      ...valuesFiles.flatMap((f) => ['-f', f]),
      ...extra,
      ...(wait ? ['--wait', '--timeout', '90s'] : []),
    ]);
  const hsPod = () => env.sidecars.containers('headscale')[0];
  type Falsy = false | undefined | null | 0 | '';
  const until = async <T>(what: string, fn: () => T | Falsy | Promise<T | Falsy>, timeoutMs = 60_000): Promise<T> => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const v = await fn();
      if (v) return v as T;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 300));
    }
  };
  const claimDir = async () => {
    const pvc = JSON.parse(await kubectl(['-n', NS, 'get', 'pvc', 'headscale-data', '-o', 'json']));
    const pv = JSON.parse(await kubectl(['get', 'pv', pvc.spec.volumeName, '-o', 'json']));
    return pv.spec.hostPath.path as string;
  };
  const users = async () =>
    (JSON.parse((await env.headscale.cli(['users', 'list', '-o', 'json'])) || '[]') as { name: string }[]).map((u) => u.name);

  beforeAll(async () => {
    env = await startEnv({ name: `hspod-${process.pid}`, headscaleServer: 'chart' });
    tmp = mkdtempSync(join(tmpdir(), 'hspod-'));
    writeFileSync(join(tmp, 'env.yaml'), env.headscale.chartValues);
    writeFileSync(join(tmp, 'site.yaml'), `headscale:\n  serverUrl: ${env.headscale.url}\n  dns:\n    baseDomain: tail.june.test\n`);
    valuesFiles = [join(tmp, 'env.yaml'), join(tmp, 'site.yaml')];
  });
  afterAll(async () => {
    await env?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('helm install: headscale of the image tag serves at the Service address, with the ConfigMap as config and its data on the PVC', async () => {
    expect(env.headscale.server).toBe('chart');
    const t0 = Date.now();
    await helmUpgrade();
    console.log(`helm upgrade --install --wait of the headscale chart: ${Date.now() - t0} ms`);
    const pod = hsPod()!;
    expect(pod).toMatchObject({ namespace: NS, ready: true, restartCount: 0 });
    expect((await fetch(`${env.headscale.url}/health`)).status).toBe(200);
    // the CLI runs in the pod (kubectl exec -c headscale), against the pod's server
    expect(await env.headscale.cli(['version'])).toContain(env.headscale.version.replace(/^v/, ''));
    await env.headscale.cli(['users', 'create', 'probe']);
    expect(await users()).toContain('probe');
    const cm = JSON.parse(await kubectl(['-n', NS, 'get', 'configmap', 'headscale-config', '-o', 'json']));
    const cat = await env.sidecars.execIn(NS, pod.pod, ['cat', '/etc/headscale/config.yaml']);
    expect(cat.stdout).toBe(cm.data['config.yaml']);
    const dir = await claimDir();
    expect(readdirSync(dir)).toEqual(expect.arrayContaining(['db.sqlite', 'noise_private.key']));
  });

  it('a new pod (deleted, or rolled by helm) finds the same data on the claim', async () => {
    const old = hsPod()!.pod;
    await kubectl(['-n', NS, 'delete', 'pod', old, '--wait=false']);
    await until('a new ready headscale pod', () => hsPod()?.pod !== old && hsPod()?.ready);
    expect(await users()).toContain('probe');
  });

  it('a config the server refuses crash-loops the pod (not ready, restarts with back-off); a good config brings it back', async () => {
    // the ConfigMap is mounted read-only: Headscale cannot write its noise key there and exits
    await helmUpgrade(['--set', 'headscale.extraConfig.noise.private_key_path=/etc/headscale/noise_private.key'], false);
    const crashing = await until(
      'CrashLoopBackOff',
      () => {
        const p = hsPod();
        return p && p.restartCount >= 1 && (p.state as { waiting?: { reason?: string } }).waiting?.reason === 'CrashLoopBackOff' && p;
      },
      60_000,
    );
    expect(crashing.ready).toBe(false);
    expect(crashing.failure).toMatch(/noise/i);
    const status = JSON.parse(await kubectl(['-n', NS, 'get', 'pod', crashing.pod, '-o', 'json']));
    expect(status.status.containerStatuses[0].lastState.terminated.exitCode).not.toBe(0);
    expect(
      await fetch(`${env.headscale.url}/health`)
        .then((r) => r.status)
        .catch(() => 'refused'),
    ).toBe('refused');
    await helmUpgrade();
    expect(hsPod()).toMatchObject({ ready: true, restartCount: 0 });
    expect(await users()).toContain('probe');
  });

  it('an image tag the toolchain has not built fails like a missing image (ErrImagePull)', async () => {
    await helmUpgrade(['--set', 'image.tag=0.99.0'], false);
    const p = await until('ErrImagePull', () => {
      const x = hsPod();
      return x && /ErrImagePull|ImagePullBackOff/.test(String((x.state as { waiting?: { reason?: string } }).waiting?.reason)) && x;
    });
    expect(p.failure).toContain('headscale/headscale:0.99.0');
    await helmUpgrade();
    expect(hsPod()?.ready).toBe(true);
  });

  it('a shell pod (image alpine) runs sqlite3 in its namespaces with the claim mounted: an online backup', async () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'backup', namespace: NS },
      spec: {
        restartPolicy: 'Never',
        containers: [
          {
            name: 'backup',
            image: 'alpine:3.20',
            command: ['sh', '-c', 'cd /var/lib/headscale && sqlite3 db.sqlite ".backup backup.sqlite" && echo backed up'],
            volumeMounts: [{ name: 'data', mountPath: '/var/lib/headscale' }],
          },
        ],
        volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'headscale-data' } }],
      },
    };
    await kubectl(['apply', '-f', '-'], JSON.stringify(pod));
    await until(
      'backup pod Succeeded',
      async () => (await kubectl(['-n', NS, 'get', 'pod', 'backup', '-o', 'jsonpath={.status.phase}'])) === 'Succeeded',
    );
    expect(await kubectl(['-n', NS, 'logs', 'backup'])).toContain('backed up');
    const backup = join(await claimDir(), 'backup.sqlite');
    expect(existsSync(backup)).toBe(true);
    const { execFileSync } = await import('node:child_process');
    expect(execFileSync('sqlite3', [backup, 'SELECT name FROM users'], { encoding: 'utf8' })).toContain('probe');
    await kubectl(['-n', NS, 'delete', 'pod', 'backup', '--wait=false']);
  });

  it('deleting the claim removes its volume and directory (the chart keeps the claim on uninstall)', async () => {
    const dir = await claimDir();
    await env.helm(['uninstall', 'headscale', '-n', NS]);
    await until('headscale pod gone', () => !hsPod());
    expect(existsSync(dir)).toBe(true);
    await kubectl(['-n', NS, 'delete', 'pvc', 'headscale-data', '--wait=false']);
    await until('claim directory removed', () => !existsSync(dir), 60_000);
    expect(await kubectl(['get', 'pv', '-o', 'name'])).toBe('');
  });
});
