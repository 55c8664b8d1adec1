// Proof that the e2e environment runs the real components: kube-apiserver + kwok,
// kubectl/helm, headscale behind `kubectl exec`, tailscaled sidecars joining for real.
// Headscale version: $JUNE_TS_E2E_HEADSCALE (default from scripts/tools/versions.env);
// helm major: $JUNE_TS_E2E_HELM (3|4). Under CI=true a missing tool fails the suite.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEnv, resolveTools, type E2EEnv } from './env/index.js';

const { missing } = resolveTools();
const ci = process.env.CI === 'true';
if (missing.length && !ci)
  console.warn(`e2e environment skipped (not CI), missing tools:\n  ${missing.join('\n  ')}\nrun: bash scripts/tools/e2e-toolchain.sh`);

type Node = { id: number | string; name: string; given_name?: string; online?: boolean; ip_addresses?: string[] };

describe.skipIf(missing.length > 0 && !ci)('e2e environment (real components)', () => {
  let env: E2EEnv;
  let tmp: string;
  const kubectl = (args: string[], input?: string) => env.kubectl(args, input === undefined ? {} : { input });
  const nodes = async (): Promise<Node[]> => JSON.parse((await env.headscale.cli(['nodes', 'list', '-o', 'json'])) || 'null') ?? [];
  const waitForSecret = async (ns: string, name: string) => {
    for (let i = 0; ; i++) {
      const s = JSON.parse((await kubectl(['-n', ns, 'get', 'secret', name, '-o', 'json', '--ignore-not-found'])) || 'null');
      if (s?.data?.device_fqdn) return s;
      if (i > 100) throw new Error(`secret ${ns}/${name} has no device_fqdn: ${JSON.stringify(s?.data && Object.keys(s.data))}`);
      await new Promise((r) => setTimeout(r, 300));
    }
  };
  const minor = () => Number(/^v0\.(\d+)/.exec(env.headscale.version)?.[1]);

  /** a Deployment whose pod carries a tailscale sidecar configured like the june-platform chart */
  const sidecarDeployment = (ns: string, name: string, secret: string, kubeSecret: string, app: Record<string, unknown> = {}) => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          serviceAccountName: SIDECAR_SA,
          containers: [
            { name: 'app', image: 'registry.invalid/june/app:1', ports: [{ name: 'http', containerPort: 8080 }], ...app },
            {
              name: 'tailscale',
              image: 'ghcr.io/tailscale/tailscale:v1.102.3',
              env: [
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'TS_AUTHKEY', valueFrom: { secretKeyRef: { name: secret, key: 'authkey' } } },
                { name: 'TS_HOSTNAME', value: name },
                { name: 'TS_EXTRA_ARGS', value: `--login-server=${env.headscale.url}` },
                { name: 'TS_KUBE_SECRET', value: kubeSecret },
                { name: 'TS_USERSPACE', value: 'true' },
                { name: 'TS_ENABLE_HEALTH_CHECK', value: 'true' },
                { name: 'TS_LOCAL_ADDR_PORT', value: '[::]:9002' },
              ],
              ports: [{ name: 'ts-health', containerPort: 9002 }],
              readinessProbe: { httpGet: { path: '/healthz', port: 'ts-health' }, periodSeconds: 1, failureThreshold: 2 },
            },
          ],
        },
      },
    },
  });
  /** ServiceAccount + Role the sidecars use for their state Secrets (the chart's Role, without resourceNames) */
  const SIDECAR_SA = 'june-sidecar';
  const sidecarRbac = (ns: string) =>
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: SIDECAR_SA, namespace: ns } },
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'Role',
          metadata: { name: SIDECAR_SA, namespace: ns },
          rules: [
            { apiGroups: [''], resources: ['secrets'], verbs: ['create', 'get', 'update', 'patch'] },
            { apiGroups: [''], resources: ['events'], verbs: ['get', 'create', 'patch'] },
          ],
        },
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name: SIDECAR_SA, namespace: ns },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: SIDECAR_SA },
          subjects: [{ kind: 'ServiceAccount', name: SIDECAR_SA, namespace: ns }],
        },
      ],
    });
  const secret = (ns: string, name: string, key: string) =>
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace: ns },
      type: 'Opaque',
      stringData: { authkey: key },
    });

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'jte-test-'));
    env = await startEnv({ name: 'e2e-proof' });
    console.log(`env up in ${env.startMs}ms: headscale ${env.headscale.version}, helm ${env.helmMajor}, logs ${env.logsDir}`);
  });
  afterAll(async () => {
    await env?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('runs a real control plane with kwok nodes', async () => {
    const v = JSON.parse(await kubectl(['version', '-o', 'json']));
    expect(v.serverVersion.gitVersion).toBe(env.versions.KUBE_VERSION);
    const ns = JSON.parse(await kubectl(['get', 'nodes', '-o', 'json']));
    expect(ns.items.length).toBeGreaterThan(0);
    for (const n of ns.items)
      expect(n.status.conditions.find((c: { type: string; status: string }) => c.type === 'Ready')?.status).toBe('True');
  });

  it('rolls out a Deployment (kubectl rollout status)', async () => {
    await kubectl(['create', 'namespace', 'demo']);
    await kubectl(['-n', 'demo', 'create', 'deployment', 'web', '--image=registry.invalid/web:1', '--replicas=2']);
    const out = await kubectl(['-n', 'demo', 'rollout', 'status', 'deployment/web', '--timeout=60s']);
    expect(out).toContain('successfully rolled out');
    await kubectl(['-n', 'demo', 'rollout', 'restart', 'deployment/web']);
    expect(await kubectl(['-n', 'demo', 'rollout', 'status', 'deployment/web', '--timeout=60s'])).toContain('successfully rolled out');
  });

  it('completes helm upgrade --install --wait of a chart', async () => {
    const chart = join(tmp, 'tiny');
    mkdirSync(join(chart, 'templates'), { recursive: true });
    writeFileSync(join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: tiny\nversion: 0.1.0\n');
    writeFileSync(join(chart, 'values.yaml'), 'replicas: 2\n');
    writeFileSync(
      join(chart, 'templates', 'deploy.yaml'),
      [
        'apiVersion: apps/v1',
        'kind: Deployment',
        'metadata: {name: tiny}',
        'spec:',
        '  replicas: {{ .Values.replicas }}',
        '  selector: {matchLabels: {app: tiny}}',
        '  template:',
        '    metadata: {labels: {app: tiny}}',
        '    spec: {containers: [{name: c, image: registry.invalid/tiny:1}]}',
        '---',
        'apiVersion: v1',
        'kind: Service',
        'metadata: {name: tiny}',
        'spec: {selector: {app: tiny}, ports: [{port: 80}]}',
        '',
      ].join('\n'),
    );
    const args = ['upgrade', '--install', 'tiny', chart, '-n', 'tiny', '--create-namespace', '--wait', '--timeout', '90s'];
    await env.helm(args);
    await env.helm([...args, '--set', 'replicas=3']);
    const st = JSON.parse(await env.helm(['status', 'tiny', '-n', 'tiny', '-o', 'json']));
    expect(st.info.status).toBe('deployed');
    expect(st.version).toBe(2);
    const d = JSON.parse(await kubectl(['-n', 'tiny', 'get', 'deployment', 'tiny', '-o', 'json']));
    expect(d.status.readyReplicas).toBe(3);
  });

  it('kubectl exec deployment/headscale runs the real headscale CLI', async () => {
    await kubectl(['create', 'namespace', 'headscale']);
    await kubectl([
      '-n',
      'headscale',
      'create',
      'deployment',
      'headscale',
      '--image=docker.io/headscale/headscale:' + env.headscale.version.slice(1),
    ]);
    // kubectl create deployment names the container after the image; rename it to `headscale`
    await kubectl([
      '-n',
      'headscale',
      'patch',
      'deployment',
      'headscale',
      '--type=json',
      '-p',
      JSON.stringify([{ op: 'replace', path: '/spec/template/spec/containers/0/name', value: 'headscale' }]),
    ]);
    await kubectl(['-n', 'headscale', 'rollout', 'status', 'deployment/headscale', '--timeout=60s']);
    const exec = (...a: string[]) =>
      kubectl(['-n', 'headscale', 'exec', 'deployment/headscale', '-c', 'headscale', '--', 'headscale', ...a]);
    await exec('users', 'create', 'june-exec');
    const users = JSON.parse(await exec('users', 'list', '-o', 'json'));
    expect(users.map((u: { name: string }) => u.name)).toContain('june-exec');
    expect(await exec('version')).toContain(env.headscale.version.slice(1));
    // same server: the env's own CLI sees the user, and so does the REST API
    expect(await env.headscale.cli(['users', 'list', '-o', 'json'])).toContain('june-exec');
    const r = await fetch(`${env.headscale.apiUrl}/user`, { headers: { Authorization: `Bearer ${env.headscale.apiKey}` } });
    expect(r.status).toBe(200);
    expect(JSON.stringify(await r.json())).toContain('june-exec');
  });

  describe('tailscale sidecars', () => {
    let key = '';
    let xIp = '';
    beforeAll(async () => {
      await env.headscale.cli(['users', 'create', 'june-services']);
      const users = JSON.parse(await env.headscale.cli(['users', 'list', '-o', 'json']));
      const u = users.find((x: { name: string }) => x.name === 'june-services');
      // 0.23-0.25 take the user NAME, 0.26+ the numeric id
      const userArg = minor() >= 26 ? String(u.id) : u.name;
      key = JSON.parse(
        await env.headscale.cli(['preauthkeys', 'create', '-u', userArg, '--reusable', '--expiration', '1h', '-o', 'json']),
      ).key;
      expect(key.length).toBeGreaterThan(10);
      await kubectl(['create', 'namespace', 'june-services']);
      await kubectl(['apply', '-f', '-'], secret('june-services', 'headscale-auth-keys', key));
      await kubectl(['apply', '-f', '-'], sidecarRbac('june-services'));
    });

    it('a pod with a tailscale container becomes a real node', async () => {
      // a stable state Secret name: the node identity survives pod replacement
      await kubectl(
        ['apply', '-f', '-'],
        JSON.stringify(sidecarDeployment('june-services', 'june-x', 'headscale-auth-keys', 'june-x-state')),
      );
      await kubectl(['-n', 'june-services', 'rollout', 'status', 'deployment/june-x', '--timeout=60s']);
      const j = await env.sidecars.waitJoined('june-services', 'june-x');
      expect(j.status.BackendState).toBe('Running');
      xIp = j.status.Self.TailscaleIPs[0]!;
      expect(j.status.Self.DNSName).toMatch(/^june-x\.tail\.june\.test\.?$/);
      const n = (await nodes()).find((x) => x.given_name === 'june-x' || x.name === 'june-x');
      expect(n?.ip_addresses).toContain(xIp);
      expect(n?.online).toBe(true);
      // containerboot keeps the node state and device info in the TS_KUBE_SECRET Secret
      const st = JSON.parse(await kubectl(['-n', 'june-services', 'get', 'secret', 'june-x-state', '-o', 'json']));
      expect(Buffer.from(st.data.device_fqdn, 'base64').toString()).toMatch(/^june-x\.tail\.june\.test\.?$/);
      expect(Object.keys(st.data)).toEqual(expect.arrayContaining(['_machinekey', '_current-profile']));
      // the pod turns Ready only once the sidecar's /healthz (a real readiness probe) passes
      await kubectl(['-n', 'june-services', 'wait', 'pod', j.pod, '--for=condition=Ready', '--timeout=60s']);
    });

    it('a second sidecar pings the first over the tailnet', async () => {
      // per-pod state: $(POD_NAME) is expanded from the fieldRef env entry, like the kubelet does
      await kubectl(
        ['apply', '-f', '-'],
        JSON.stringify(sidecarDeployment('june-services', 'june-y', 'headscale-auth-keys', '$(POD_NAME)')),
      );
      const j = await env.sidecars.waitJoined('june-services', 'june-y');
      const st = await waitForSecret('june-services', j.pod);
      expect(Buffer.from(st.data.device_fqdn, 'base64').toString()).toMatch(/^june-y\.tail\.june\.test\.?$/);
      const sock = env.sidecars.socketFor('june-y');
      expect(sock).toBe(j.socket);
      const out = await env.tailscale(sock!, ['ping', '--tsmp', '--c=10', xIp]);
      expect(out).toMatch(/pong from june-x/);
    });

    it('kubectl exec -c tailscale runs the real CLI inside the pod; kubectl logs shows containerboot', async () => {
      const st = JSON.parse(
        await kubectl(['-n', 'june-services', 'exec', 'deployment/june-x', '-c', 'tailscale', '--', 'tailscale', 'status', '--json']),
      );
      expect(st.BackendState).toBe('Running');
      expect(st.Self.HostName).toBe('june-x');
      const logs = await kubectl(['-n', 'june-services', 'logs', 'deployment/june-x', '-c', 'tailscale']);
      expect(logs).toMatch(/Starting tailscaled/);
    });

    it('the app stand-in answers in the pod; Ready follows the readiness probe, liveness failures restart', async () => {
      const probe = { httpGet: { path: '/e2e/probe', port: 'http' }, periodSeconds: 1 };
      await kubectl(
        ['apply', '-f', '-'],
        JSON.stringify(
          sidecarDeployment('june-services', 'june-p', 'headscale-auth-keys', '', {
            readinessProbe: { ...probe, failureThreshold: 1 },
            livenessProbe: { ...probe, failureThreshold: 6 },
          }),
        ),
      );
      await kubectl(['-n', 'june-services', 'rollout', 'status', 'deployment/june-p', '--timeout=90s']);
      const { pod } = await env.sidecars.waitJoined('june-services', 'june-p');
      const r = await env.sidecars.execIn('june-services', pod, ['curl', '-sS', 'http://127.0.0.1:8080/']);
      expect(JSON.parse(r.stdout)).toMatchObject({ pod, namespace: 'june-services', container: 'app' });
      const podJson = async () => JSON.parse(await kubectl(['-n', 'june-services', 'get', 'pod', pod, '-o', 'json']));
      env.sidecars.setAppMode('june-services', pod, 'app', 'fail');
      await kubectl(['-n', 'june-services', 'wait', 'pod', pod, '--for=condition=Ready=false', '--timeout=30s']);
      const t0 = Date.now();
      for (;;) {
        const app = (await podJson()).status.containerStatuses.find((c: { name: string }) => c.name === 'app');
        if (app.restartCount >= 1) break;
        if (Date.now() - t0 > 30_000) throw new Error(`app never restarted: ${JSON.stringify(app)}`);
        await new Promise((res) => setTimeout(res, 500));
      }
      env.sidecars.setAppMode('june-services', pod, 'app', 'ok');
      await kubectl(['-n', 'june-services', 'wait', 'pod', pod, '--for=condition=Ready', '--timeout=30s']);
      expect(
        (await podJson()).status.containerStatuses.find((c: { name: string; restartCount: number }) => c.name === 'tailscale').restartCount,
      ).toBe(0);
      await kubectl(['-n', 'june-services', 'delete', 'deployment', 'june-p', '--wait=true']);
    });

    it('deleting a pod stops its tailscaled; the replacement reuses the node identity (TS_KUBE_SECRET)', async () => {
      const before = (await nodes()).filter((x) => (x.given_name ?? x.name).startsWith('june-x'));
      expect(before).toHaveLength(1);
      const old = env.sidecars.list().find((s) => s.hostname === 'june-x')!;
      await kubectl(['-n', 'june-services', 'delete', 'pod', old.pod, '--wait=true']);
      await env.sidecars.waitPodGone('june-services', old.pod);
      expect(existsSync(old.socket!)).toBe(false);
      const j = await env.sidecars.waitJoined('june-services', 'june-x');
      expect(j.pod).not.toBe(old.pod);
      const after = (await nodes()).filter((x) => (x.given_name ?? x.name).startsWith('june-x'));
      expect(after.map((x) => x.id)).toEqual(before.map((x) => x.id));
      // and a deleted Deployment takes its node offline in headscale
      await kubectl(['-n', 'june-services', 'delete', 'deployment', 'june-y', '--wait=true']);
      const y = env.sidecars.list().find((s) => s.hostname === 'june-y');
      if (y) await env.sidecars.waitPodGone('june-services', y.pod);
      const t0 = Date.now();
      for (;;) {
        const ny = (await nodes()).find((x) => (x.given_name ?? x.name) === 'june-y');
        if (ny && !ny.online) break;
        if (Date.now() - t0 > 60_000) throw new Error(`june-y still online: ${JSON.stringify(ny)}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    });

    it('an invalid auth key fails to join for real', async () => {
      const bogus = minor() >= 28 ? 'hskey-auth-AAAAAAAAAAAA-' + 'b'.repeat(64) : 'f'.repeat(48);
      await kubectl(['apply', '-f', '-'], secret('june-services', 'bad-keys', bogus));
      await kubectl(['apply', '-f', '-'], JSON.stringify(sidecarDeployment('june-services', 'june-bad', 'bad-keys', '')));
      const err = await env.sidecars.waitFailed('june-services', 'june-bad');
      console.log(`invalid key error (headscale ${env.headscale.version}): ${err.slice(0, 300)}`);
      expect((await nodes()).some((x) => (x.given_name ?? x.name).startsWith('june-bad'))).toBe(false);
      // a missing Secret fails too, without crashing the env
      await kubectl(['apply', '-f', '-'], JSON.stringify(sidecarDeployment('june-services', 'june-nokey', 'no-such-secret', '')));
      expect(await env.sidecars.waitFailed('june-services', 'june-nokey')).toMatch(/no-such-secret/);
    });

    it('the host tailscaled is up but not logged in (for phase 11.5)', async () => {
      const st = await env.host.status();
      expect(st.BackendState).toMatch(/NeedsLogin|NoState|Stopped/);
    });
  });
});
