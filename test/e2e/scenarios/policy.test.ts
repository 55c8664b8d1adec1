// The access policy with real traffic (one install, several checks): the host of 11.5 reaches
// every service on its port by MagicDNS name and nothing else of the pod; a service reaches
// another only along TAILNET_EDGES and never the host; a node registered with a stolen service
// key gets what that service may and no more; a re-run writes nothing; an operator's policy is
// left byte for byte; cleanup --purge removes june-ts's policy and only it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHost, type Host } from '../env/host.js';
import { canRun, startScenario, TAILNET, type Scenario } from './harness.js';

const NS = 'june-services';
const HOST_PORT = 7777;
const OPERATOR_POLICY = '// written by the operator\n{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:22"]}]}\n';

describe.skipIf(!canRun)('access policy: least privilege with real traffic', () => {
  let s: Scenario;
  let hostIp = '';
  let listener: ChildProcess | undefined;
  /** `june-idp@` on 0.26+, `june-idp` on 0.23. */
  let user: (name: string) => string;
  const url = (svc: string, port = 8080) => `http://june-${svc}.${TAILNET}:${port}/`;
  /** The stored policy byte for byte (the REST API; the CLI adds a newline). */
  const policyText = async () => {
    const res = await fetch(`${s.env.headscale.apiUrl}/policy`, { headers: { Authorization: `Bearer ${s.env.headscale.apiKey}` } });
    return ((await res.json()) as { policy: string }).policy;
  };
  const policySets = () =>
    s
      .recordedCalls()
      .split('\n')
      .filter((l) => l.startsWith('ARGV kubectl') && l.includes(' policy set ')).length;
  const podOf = async (svc: string) =>
    (
      await s.env.kubectl(['-n', NS, 'get', 'pods', '-l', `app.kubernetes.io/name=june-${svc}`, '-o', 'jsonpath={.items[0].metadata.name}'])
    ).trim();
  /** curl inside a service's pod through its sidecar's HTTP proxy (tailscale.proxy.enabled). */
  const fromPod = async (svc: string, target: string, seconds = 4) =>
    s.env.sidecars.execIn(NS, await podOf(svc), ['curl', '-sS', '--max-time', String(seconds), '-x', 'http://localhost:1056', target], {
      timeoutMs: (seconds + 10) * 1000,
    });

  beforeAll(async () => {
    s = await startScenario('policy', { TAILNET_EDGES: 'orchestrator->idp' });
    const values = join(s.dir, 'platform-values.yaml');
    writeFileSync(values, 'tailscale:\n  proxy:\n    enabled: true\n');
    s.writeConfig({ PLATFORM_VALUES: values });
    const minor = Number(/^v?0\.(\d+)/.exec(s.env.headscale.version)?.[1]);
    user = (name) => (minor >= 26 ? `${name}@` : name);
    const r = await s.june(['install']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('access policy written (3 rules');
    // 0.29+: Headscale ran the rules' tests over the nodes once they were online
    if (minor >= 29) expect(r.stderr).toMatch(/access policy proven by Headscale: \d+ tests/);
    hostIp = (await s.env.host.status()).Self!.TailscaleIPs![0]!;
    // a listener on every address of the host, its tailnet address included (in the host's network namespace)
    listener = spawn(
      'nsenter',
      [
        '--target',
        String(s.env.host.pid),
        '--net',
        '--',
        process.execPath,
        '-e',
        `require('http').createServer((q, r) => r.end('host listener')).listen(${HOST_PORT}, '0.0.0.0')`,
      ],
      { stdio: 'ignore' },
    );
  });
  afterAll(async () => {
    listener?.kill('SIGKILL');
    await s?.stop();
  });

  it('june-ts wrote its policy in the dialect of this Headscale, marked as its own; status reports it', async () => {
    const text = await policyText();
    expect(text).toMatch(/^\/\/ june-ts:policy rules=[0-9a-f]{16} sha256=[0-9a-f]{16}$/m);
    expect(text).toContain(JSON.stringify(user('june-orchestrator')));
    const st = await s.june(['status', '-o', 'json']);
    expect(st.code, st.stderr).toBe(0);
    expect(JSON.parse(st.stdout).policy).toEqual({
      mode: 'managed',
      state: 'owned',
      current: true,
      missing: [],
      level: 'ok',
      problem: null,
    });
  });

  it('from the host: every service answers on its port by MagicDNS name; another port of the same pod is refused', async () => {
    for (const svc of ['orchestrator', 'idp']) {
      const r = await s.env.host.curl(url(svc));
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.body)).toMatchObject({ namespace: NS, port: 8080 });
    }
    // idp's pod listens on 9000 too (its management port): reachable inside the pod, not over the tailnet
    const inside = await s.env.sidecars.execIn(NS, await podOf('idp'), ['curl', '-sS', '--max-time', '3', 'http://127.0.0.1:9000/']);
    expect(JSON.parse(inside.stdout)).toMatchObject({ port: 9000 });
    const refused = await s.env.host.curl(url('idp', 9000), { timeoutMs: 3000 });
    expect(refused.code).not.toBe(0);
    // the host reaches its own listener on its tailnet address (so a refusal below is the policy)
    expect((await s.env.host.curl(`http://${hostIp}:${HOST_PORT}/`)).body).toBe('host listener');
  });

  it('from inside the pods: the edge answers, a non-edge gets nothing, the host listener is unreachable', async () => {
    const edge = await fromPod('orchestrator', url('idp'));
    expect(edge.code, edge.stderr).toBe(0);
    expect(JSON.parse(edge.stdout)).toMatchObject({ namespace: NS, port: 8080 });
    expect((await fromPod('idp', url('orchestrator'))).code).not.toBe(0);
    expect((await fromPod('orchestrator', `http://${hostIp}:${HOST_PORT}/`)).code).not.toBe(0);
    expect((await fromPod('idp', `http://${hostIp}:${HOST_PORT}/`)).code).not.toBe(0);
  });

  it('a node registered with a stolen service key reaches what that service may and nothing else', async () => {
    const key = (await s.secret())!.data['june-orchestrator-authkey']!;
    let thief: Host | undefined;
    try {
      thief = await startHost({ headscaleUrl: s.env.headscale.url, name: 'thief', parentDir: s.dir });
      await thief.up({ authKey: key, hostname: 'thief' });
      const allowed = await thief.curl(url('idp'), { timeoutMs: 8000 });
      expect(allowed.code, allowed.stderr).toBe(0);
      expect((await thief.curl(url('idp', 9000), { timeoutMs: 3000 })).code).not.toBe(0);
      expect((await thief.curl(url('orchestrator'), { timeoutMs: 3000 })).code).not.toBe(0);
      expect((await thief.curl(`http://${hostIp}:${HOST_PORT}/`, { timeoutMs: 3000 })).code).not.toBe(0);
    } finally {
      await thief?.stop();
      const nodes = JSON.parse(await s.env.headscale.cli(['nodes', 'list', '-o', 'json'])) as {
        id: number | string;
        given_name?: string;
        name: string;
      }[];
      for (const n of nodes ?? [])
        if ((n.given_name ?? n.name) === 'thief') await s.env.headscale.cli(['nodes', 'delete', '-i', String(n.id), '--force']);
    }
  });

  it('a second run writes nothing; a changed edge shows in the dry-run plan as a write with its diff', async () => {
    const before = policySets();
    const text = await policyText();
    const again = await s.june(['deploy-sidecars']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('access policy is up to date (3 rules)');
    expect(policySets()).toBe(before);
    expect(await policyText()).toBe(text);

    const plan = await s.june(['deploy-sidecars', '--dry-run=live'], { env: { TAILNET_EDGES: 'orchestrator->idp,idp->orchestrator' } });
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain('headscale set policy action=update rules=4');
    expect(plan.stdout).toContain(`+ ${user('june-idp')} → ${user('june-orchestrator')} tcp/8080`);
    expect(await policyText()).toBe(text);
  });

  it("an operator's policy is left byte for byte and the run says how to adopt it; adopt takes it over", async () => {
    const file = join(s.dir, 'operator.hujson');
    writeFileSync(file, OPERATOR_POLICY);
    await s.env.headscale.cli(['policy', 'set', '-f', file]);
    const r = await s.june(['deploy-sidecars']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('Headscale holds an access policy june-ts did not write: left as it is.');
    expect(r.stderr).toContain('TAILNET_POLICY=adopt');
    expect(await policyText()).toBe(OPERATOR_POLICY);
    // the operator's policy opens only port 22: doctor names what the config needs and lacks
    const doc = await s.june(['doctor']);
    expect(doc.code).toBe(4);
    expect(doc.stdout).toContain(`${user('june-orchestrator')} → ${user('june-idp')} tcp/8080`);
    expect(doc.stdout).toContain('TAILNET_POLICY=adopt');
    const st = JSON.parse((await s.june(['status', '-o', 'json'])).stdout);
    expect(st.policy).toMatchObject({ state: 'foreign', current: false, level: 'error' });

    const adopt = await s.june(['deploy-sidecars'], { env: { TAILNET_POLICY: 'adopt' } });
    expect(adopt.code, adopt.stderr).toBe(0);
    expect(adopt.stderr).toContain('access policy adopted and replaced');
    expect(await policyText()).toMatch(/^\/\/ june-ts:policy rules=/m);
  });

  it("cleanup --purge removes june-ts's policy (Headscale's default again) and leaves an operator's", async () => {
    const r = await s.june(['cleanup', '--purge', '--yes']);
    expect(r.code, r.stderr).toBe(0);
    const released = await policyText();
    expect(released).toMatch(/^\/\/ june-ts:policy released=/m);
    expect(released).toContain('"dst":["*:*"]');
    expect(released).not.toContain('june-orchestrator');

    const file = join(s.dir, 'operator.hujson');
    await s.env.headscale.cli(['policy', 'set', '-f', file]);
    const again = await s.june(['cleanup', '--purge', '--yes']);
    expect(again.code, again.stderr).toBe(0);
    expect(await policyText()).toBe(OPERATOR_POLICY);
  });
});
