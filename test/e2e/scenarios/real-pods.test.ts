// Scenarios of the real-pods issue that run on the pods themselves: the real containerboot
// keeps its node state in the chart's TS_KUBE_SECRET Secret through the pod's own
// ServiceAccount and Role, and a sidecar that cannot join keeps its pod unready (the
// chart's /healthz readiness probe is run for real) and is named by status and doctor.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { canRun, REPO, startScenario, TAILNET, type Scenario } from './harness.js';

type HsNode = { id: string | number; name: string; given_name?: string; online?: boolean; pre_auth_key?: { id?: string | number } | null };
type ContainerStatus = { name: string; restartCount: number; ready: boolean };
type Pod = {
  metadata: { name: string; uid: string; deletionTimestamp?: string };
  status: {
    conditions?: { type: string; status: string }[];
    containerStatuses?: ContainerStatus[];
    initContainerStatuses?: ContainerStatus[];
  };
};

const NS = 'june-services';
const ORCH = 'june-orchestrator';
const STATE = 'june-orchestrator-tailscale-state';

describe.skipIf(!canRun)('real pods: containerboot state in the Secret, failures visible', () => {
  let s: Scenario;
  const kubectl = (args: string[]) => s.env.kubectl(args);
  const nodes = async (prefix: string) =>
    ((await s.headscaleJson<HsNode[] | null>(['nodes', 'list'])) ?? []).filter((n) => (n.given_name ?? n.name).startsWith(prefix));
  const livePods = async (): Promise<Pod[]> =>
    (JSON.parse(await kubectl(['-n', NS, 'get', 'pods', '-l', `app.kubernetes.io/name=${ORCH}`, '-o', 'json'])).items as Pod[]).filter(
      (p) => !p.metadata.deletionTimestamp,
    );
  const ready = (p: Pod) => p.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
  /** Every container's status, a native sidecar's (an init container) included. */
  const statuses = (p: Pod) => [...(p.status.initContainerStatuses ?? []), ...(p.status.containerStatuses ?? [])];
  const sidecarStatus = (p: Pod) => statuses(p).find((c) => c.name === 'tailscale');
  /** The services' pods: name, uid and each container's restart count. */
  const servicePods = async () =>
    (JSON.parse(await kubectl(['-n', NS, 'get', 'pods', '-l', 'app.kubernetes.io/instance=june-platform', '-o', 'json'])).items as Pod[])
      .map((p) => ({
        name: p.metadata.name,
        uid: p.metadata.uid,
        restarts: statuses(p)
          .map((c) => `${c.name}=${c.restartCount}`)
          .sort(),
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
  async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 90_000): Promise<T> {
    const t0 = Date.now();
    for (;;) {
      const v = await fn();
      if (v) return v;
      if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  const replaceOrchestratorPod = async () => {
    const [old] = await livePods();
    await kubectl(['-n', NS, 'delete', 'pod', old!.metadata.name, '--wait=true']);
    await s.env.sidecars.waitPodGone(NS, old!.metadata.name);
    return until('a replacement pod', async () => (await livePods()).find((p) => p.metadata.name !== old!.metadata.name));
  };

  beforeAll(async () => {
    // the app reaches idp through its sidecar's proxy below: an edge of the access policy
    s = await startScenario('realpods', { TAILNET_EDGES: 'orchestrator->idp' });
    const r = await s.june(['install']);
    expect(r.code, r.stderr).toBe(0);
  });
  afterAll(async () => {
    await s?.stop();
  });

  it("private access by name: from the host, june-<svc>.<tailnet>:8080 answers with that service's pod (MagicDNS, through the sidecar)", async () => {
    for (const svc of ['orchestrator', 'idp']) {
      const { pod } = await s.env.sidecars.waitJoined(NS, `june-${svc}`, 60_000);
      const r = await s.env.host.curl(`http://june-${svc}.${TAILNET}:8080/`);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.body)).toMatchObject({ pod, namespace: NS, port: 8080 });
    }
  });

  it('availability under operations: a load loop from the host sees no failure during re-runs, status and doctor; rotate-keys is measured', async () => {
    const urls = ['orchestrator', 'idp'].map((svc) => `http://june-${svc}.${TAILNET}:8080/`);
    const load = s.env.host.loadLoop(urls, { intervalMs: 100, maxMs: 180_000 });
    for (const args of [['deploy-sidecars'], ['status'], ['doctor'], ['install']]) {
      const r = await s.june(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
    const quiet = await load.stop();
    console.log(
      `load during re-run/status/doctor/install: ${JSON.stringify(Object.fromEntries(urls.map((u) => [u, { n: quiet[u]!.requests, failed: quiet[u]!.failures, longestGapMs: quiet[u]!.longestGapMs }])))}`,
    );
    for (const u of urls) {
      expect(quiet[u]!.failures, JSON.stringify(quiet[u]!.errors)).toBe(0);
      expect(quiet[u]!.successes).toBeGreaterThan(20);
      expect(quiet[u]!.longestGapMs).toBeLessThan(2500);
    }

    // rotate-keys touches no pod: the services answer throughout, the same pods, no restart
    const podsBefore = await servicePods();
    const rot = s.env.host.loadLoop(urls, { intervalMs: 100, maxMs: 180_000 });
    const r = await s.june(['rotate-keys']);
    expect(r.code, r.stderr).toBe(0);
    await new Promise((res) => setTimeout(res, 1000));
    const rotated = await rot.stop();
    console.log(
      `load during rotate-keys: ${JSON.stringify(Object.fromEntries(urls.map((u) => [u, { n: rotated[u]!.requests, failed: rotated[u]!.failures, longestGapMs: rotated[u]!.longestGapMs }])))}`,
    );
    for (const u of urls) {
      expect(rotated[u]!.failures, JSON.stringify(rotated[u]!.errors)).toBe(0);
      expect(rotated[u]!.successes).toBeGreaterThan(20);
      expect(rotated[u]!.longestGapMs).toBeLessThan(2500);
    }
    expect(await servicePods()).toEqual(podsBefore);
  });

  it('after a rotation a pod whose state was deleted registers with the new key; the old key registers nothing', async () => {
    const before = await s.secret();
    const oldIdp = JSON.parse(before!.annotations['june-ts.dev/minted-keys']!).idp as string;
    // over the API, so that the old key is expired on every Headscale version (the CLI of
    // 0.23–0.27 could only do it with the key in argv, which june-ts refuses)
    const api = s.writeConfig({ HEADSCALE_TRANSPORT: 'api', HEADSCALE_API_KEY: s.env.headscale.apiKey }, join(s.dir, 'api.env'));
    const r = await s.june(['rotate-keys', '--service', 'idp', '--config', api]);
    expect(r.code, r.stderr).toBe(0);
    const after = await s.secret();
    const newIdp = JSON.parse(after!.annotations['june-ts.dev/minted-keys']!).idp as string;
    expect(newIdp).not.toBe(oldIdp);
    // re-register idp as an operator would: remove its node from Headscale (so the new one
    // gets its name, not june-idp-1), wipe its state and delete the pod
    const oldNode = (await nodes('june-idp')).find((n) => (n.given_name ?? n.name) === 'june-idp');
    await s.env.headscale.cli(['nodes', 'delete', '--identifier', String(oldNode!.id), '--force']);
    await kubectl([
      '-n',
      NS,
      'patch',
      'secret',
      'june-idp-tailscale-state',
      '--type=json',
      '-p',
      '[{"op":"replace","path":"/data","value":{}}]',
    ]);
    const nodesBefore = ((await s.headscaleJson<HsNode[] | null>(['nodes', 'list'])) ?? []).map((n) => String(n.id));
    const idpPods = JSON.parse(await kubectl(['-n', NS, 'get', 'pods', '-l', 'app.kubernetes.io/name=june-idp', '-o', 'json'])).items as {
      metadata: { name: string };
    }[];
    await kubectl(['-n', NS, 'delete', 'pod', idpPods[0]!.metadata.name, '--wait=true']);
    await s.env.sidecars.waitJoined(NS, 'june-idp', 90_000);
    const fresh = await until('the re-registered idp node', async () =>
      ((await s.headscaleJson<HsNode[] | null>(['nodes', 'list'])) ?? []).find(
        (n) => !nodesBefore.includes(String(n.id)) && /^june-idp/.test(n.given_name ?? n.name),
      ),
    );
    expect(String(fresh.pre_auth_key?.id)).toBe(newIdp);
    expect(fresh.given_name ?? fresh.name).toBe('june-idp');
    // a throwaway pod with the old key (put back into a Secret of its own) cannot register
    const oldKey = before!.data['june-idp-authkey']!;
    const oldSecret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'old-idp-key', namespace: NS }, stringData: { key: oldKey } };
    await s.env.kubectl(['apply', '--server-side', '-f', '-'], { input: JSON.stringify(oldSecret) });
    const stale = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'old-key-probe', namespace: NS },
      spec: {
        restartPolicy: 'Never',
        automountServiceAccountToken: false,
        containers: [
          {
            name: 'tailscale',
            image: 'ghcr.io/tailscale/tailscale:v1.102.3',
            env: [
              { name: 'TS_AUTHKEY', valueFrom: { secretKeyRef: { name: 'old-idp-key', key: 'key' } } },
              { name: 'TS_HOSTNAME', value: 'old-key-probe' },
              { name: 'TS_KUBE_SECRET', value: '' },
              { name: 'TS_EXTRA_ARGS', value: `--login-server=${s.env.headscale.url}` },
              { name: 'TS_NO_LOGS_NO_SUPPORT', value: 'true' },
            ],
          },
        ],
      },
    };
    await s.env.kubectl(['apply', '-f', '-'], { input: JSON.stringify(stale) });
    const why = await s.env.sidecars.waitFailed(NS, 'old-key-probe', 90_000);
    expect(why).toMatch(/expired|invalid|401|not found|AuthKey/i);
    expect(
      ((await s.headscaleJson<HsNode[] | null>(['nodes', 'list'])) ?? []).some((n) => (n.given_name ?? n.name) === 'old-key-probe'),
    ).toBe(false);
    await kubectl(['-n', NS, 'delete', 'pod', 'old-key-probe', '--wait=false']);
    await kubectl(['-n', NS, 'delete', 'secret', 'old-idp-key']);
  });

  it('the app keeps its normal networking; with tailscale.proxy.enabled it reaches another service by MagicDNS name through the sidecar', async () => {
    const { pod } = await s.env.sidecars.waitJoined(NS, ORCH, 60_000);
    const inPod = (argv: string[]) => s.env.sidecars.execIn(NS, pod, argv, { timeoutMs: 20_000 });
    // the app's own listener is where it was, and the API server is reached directly
    expect(JSON.parse((await inPod(['curl', '-sS', '--max-time', '5', 'http://127.0.0.1:8080/'])).stdout)).toMatchObject({
      pod,
      container: ORCH,
    });
    const api = await inPod([
      'curl',
      '-sS',
      '--max-time',
      '5',
      '--cacert',
      '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt',
      'https://kubernetes.default.svc/version',
    ]);
    expect(api.code, api.stderr).toBe(0);
    expect(JSON.parse(api.stdout).gitVersion).toBe(s.env.versions.KUBE_VERSION);
    // no proxy: a tailnet name means nothing to the app's own resolver
    expect((await inPod(['curl', '-sS', '--max-time', '5', `http://june-idp.${TAILNET}:8080/`])).code).not.toBe(0);

    await s.env.helm([
      'upgrade',
      'june-platform',
      join(REPO, 'helm', 'june-platform'),
      '-n',
      NS,
      '--reuse-values',
      '--set',
      'tailscale.proxy.enabled=true',
      '--wait',
      '--timeout',
      '120s',
    ]);
    const { pod: proxied } = await s.env.sidecars.waitJoined(NS, ORCH, 60_000);
    await s.env.sidecars.waitJoined(NS, 'june-idp', 60_000);
    const idpPod = (
      await s.env.kubectl(['-n', NS, 'get', 'pods', '-l', 'app.kubernetes.io/name=june-idp', '-o', 'jsonpath={.items[*].metadata.name}'])
    ).trim();
    const viaProxy = await s.env.sidecars.execIn(
      NS,
      proxied,
      ['curl', '-sS', '--max-time', '10', '-x', 'http://localhost:1056', `http://june-idp.${TAILNET}:8080/`],
      { timeoutMs: 20_000 },
    );
    expect(viaProxy.code, viaProxy.stderr).toBe(0);
    expect(JSON.parse(viaProxy.stdout)).toMatchObject({ pod: idpPod, namespace: NS });
  });

  it('state in the Secret: a deleted pod comes back as the same node (same id, no -1 name)', async () => {
    const first = await s.env.sidecars.waitJoined(NS, ORCH, 60_000);
    const before = await nodes(ORCH);
    expect(before).toHaveLength(1);
    // containerboot/tailscaled wrote the node's keys into the chart's Secret (kube state store)
    const state = JSON.parse(await kubectl(['-n', NS, 'get', 'secret', STATE, '-o', 'json']));
    expect(Object.keys(state.data)).toEqual(expect.arrayContaining(['_machinekey', '_current-profile', 'device_id', 'device_fqdn']));

    const next = await replaceOrchestratorPod();
    const again = await s.env.sidecars.waitJoined(NS, ORCH, 60_000);
    expect(again.pod).toBe(next.metadata.name);
    expect(again.pod).not.toBe(first.pod);
    expect(again.status.Self.ID).toBe(first.status.Self.ID);
    const after = await nodes(ORCH);
    expect(after.map((n) => [n.id, n.given_name ?? n.name])).toEqual(before.map((n) => [n.id, n.given_name ?? n.name]));
    expect(await kubectl(['-n', NS, 'rollout', 'status', `deployment/${ORCH}`, '--timeout=60s'])).toContain('successfully rolled out');
  });

  it('with the Role removed by hand the sidecar fails, its pod stays unready, doctor names the permission', async () => {
    await kubectl(['-n', NS, 'delete', 'role', `${ORCH}-tailscale`]);
    const pod = await replaceOrchestratorPod();
    const err = await s.env.sidecars.waitFailed(NS, ORCH, 60_000);
    expect(err).toMatch(/forbidden|permission/i);
    const logs = await kubectl(['-n', NS, 'logs', pod.metadata.name, '-c', 'tailscale']);
    expect(logs).toMatch(/forbidden|permission/i);
    const p = (await livePods()).find((x) => x.metadata.name === pod.metadata.name)!;
    expect(ready(p)).toBe(false);
    const dr = await s.june(['doctor']);
    expect(dr.code).not.toBe(0);
    expect(dr.stdout).toMatch(/orchestrator: RBAC for the state Secret/);
    expect(dr.stdout).toMatch(/june-orchestrator-tailscale lacks get, update/);
    // the chart brings the Role back; the restarted sidecar then joins as the same node
    await s.env.helm([
      'upgrade',
      'june-platform',
      join(REPO, 'helm', 'june-platform'),
      '-n',
      NS,
      '--reuse-values',
      '--wait',
      '--timeout',
      '120s',
    ]);
    await s.env.sidecars.waitJoined(NS, ORCH, 90_000);
    expect(await nodes(ORCH)).toHaveLength(1);
  });

  it('bad sidecars are visible: an expired key and deleted state keep the pod unready; status and doctor say which', async () => {
    const secret = await s.secret();
    const minted = JSON.parse(secret!.annotations['june-ts.dev/minted-keys']!) as Record<string, string>;
    const minor = Number(/^v0\.(\d+)/.exec(s.env.headscale.version)![1]);
    if (minor >= 28) await s.env.headscale.cli(['preauthkeys', 'expire', '--id', String(minted.orchestrator), '--force']);
    else {
      const users = await s.headscaleJson<{ id: string | number; name: string }[]>(['users', 'list']);
      const u = users.find((x) => x.name === ORCH)!;
      await s.env.headscale.cli([
        'preauthkeys',
        'expire',
        '-u',
        minor >= 26 ? String(u.id) : u.name,
        secret!.data['june-orchestrator-authkey']!,
      ]);
    }
    await kubectl(['-n', NS, 'delete', 'secret', STATE]);
    const pod = await replaceOrchestratorPod();
    const err = await s.env.sidecars.waitFailed(NS, ORCH, 120_000);
    console.log(`expired key, headscale ${s.env.headscale.version}: ${err.slice(0, 300)}`);
    const p = await until(
      'the sidecar restarted with back-off',
      async () => {
        const x = (await livePods()).find((y) => y.metadata.name === pod.metadata.name);
        return x && (sidecarStatus(x)?.restartCount ?? 0) >= 1 && x;
      },
      120_000,
    );
    expect(ready(p)).toBe(false);
    expect(sidecarStatus(p)?.ready).toBe(false);

    const st = await s.june(['status', '-o', 'json']);
    const report = JSON.parse(st.stdout);
    expect(report.level).toBe('error');
    const orch = report.services.find((x: { service: string }) => x.service === 'orchestrator');
    expect(orch.level).toBe('error');
    expect(orch.problems.join(' ')).toMatch(/expired|key/i);
    const dr = await s.june(['doctor']);
    expect(dr.code).not.toBe(0);
    expect(dr.stdout).toMatch(/orchestrator/);
  });
  it('the public path is unchanged: Services and Ingresses are identical with sidecars on and off', async () => {
    const publicObjects = async () => {
      const list = JSON.parse(await kubectl(['-n', NS, 'get', 'services,ingresses', '-o', 'json'])).items as Array<{
        kind: string;
        metadata: Record<string, unknown>;
      }>;
      // only what the API server itself keeps changing is left out
      return list
        .map(({ metadata: { resourceVersion: _r, managedFields: _m, generation: _g, ...meta }, ...rest }) => ({ ...rest, metadata: meta }))
        .sort((a, b) => `${a.kind}/${String(a.metadata.name)}`.localeCompare(`${b.kind}/${String(b.metadata.name)}`));
    };
    const on = await publicObjects();
    expect(on.map((o) => `${o.kind}/${String(o.metadata.name)}`)).toEqual(
      expect.arrayContaining(['Service/june-orchestrator', 'Service/june-idp', 'Ingress/june-orchestrator']),
    );
    await s.env.helm([
      'upgrade',
      'june-platform',
      join(REPO, 'helm', 'june-platform'),
      '-n',
      NS,
      '--reuse-values',
      '--set',
      'tailscale.enabled=false',
      '--wait',
      '--timeout',
      '120s',
    ]);
    const containers = JSON.parse(await kubectl(['-n', NS, 'get', 'deployment', ORCH, '-o', 'json'])).spec.template.spec.containers.map(
      (c: { name: string }) => c.name,
    );
    expect(containers).not.toContain('tailscale');
    expect(JSON.stringify(await publicObjects())).toBe(JSON.stringify(on));
  });
});
