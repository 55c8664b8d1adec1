// doctor's post-install checks over fake seams: which checks run for a healthy service and
// a broken one, in which order, and the kubectl reads (can-i, events, logs) they make.
import { describe, expect, it } from 'vitest';
import { postChecks, versionCheck } from '../../src/doctor/post.js';
import { reportedVersion } from '../../src/headscale/types.js';
import type { HelmClient } from '../../src/helm/types.js';
import { KubectlCli } from '../../src/kube/kubectl.js';
import type { DeploymentInfo, KubeClient } from '../../src/kube/types.js';
import { testContext } from '../helpers/context.js';
import { fakeDeployment, FakeHeadscale, FakeKube } from '../helpers/fake-seams.js';
import { FakeRunner } from '../helpers/fake-runner.js';

const deployment = (name: string, containers: string[]): DeploymentInfo =>
  fakeDeployment(name, { containers, podLabels: { 'app.kubernetes.io/name': name } });

class DoctorKube extends FakeKube {
  deployments = new Map<string, DeploymentInfo>();
  async getDeployment(_ns: string, name: string) {
    return this.deployments.get(name) ?? null;
  }
  async listPods(_ns: string, selector: string) {
    const name = selector.split('=')[1]!;
    return [
      {
        name: `${name}-0`,
        namespace: 'june-services',
        phase: 'Running',
        labels: {},
        deletionTimestamp: undefined,
        containers: [{ name: 'tailscale', ready: true, restartCount: 0 }],
      },
    ];
  }
  async getConfigMap() {
    return { 'config.yaml': 'dns:\n  base_domain: tail.example.com\n' };
  }
  /** TS_EXTRA_ARGS of the sidecar as the Deployment starts it. */
  podExtraArgs = '--login-server=http://hs.example --shields-up';
  async getPodTemplate() {
    return {
      containers: [{ name: 'app' }],
      initContainers: [{ name: 'tailscale', env: [{ name: 'TS_EXTRA_ARGS', value: this.podExtraArgs }] }],
    };
  }
}

/** `tailscale debug prefs` of a node (sanitized by tailscaled: no keys). */
const prefs = (p: Record<string, unknown>) =>
  JSON.stringify({ ControlURL: 'http://hs.example', AdvertiseTags: null, AdvertiseRoutes: null, ...p });

async function setup(nodePrefs = prefs({ ShieldsUp: false })) {
  const kube = new DoctorKube();
  const hs = new FakeHeadscale();
  const [orchestrator] = await hs.ensureUsers(['june-orchestrator', 'june-idp']);
  const key = await hs.createPreAuthKey(orchestrator!, { reusable: true, expiration: '180d' });
  hs.nodes.push({
    id: '9',
    name: 'june-orchestrator',
    givenName: 'june-orchestrator',
    user: 'june-orchestrator',
    ipAddresses: ['100.64.0.1'],
    online: true,
  });
  await kube.applySecret({ namespace: 'june-services', name: 'headscale-auth-keys', stringData: { 'june-orchestrator-authkey': key.key } });
  kube.deployments.set('june-orchestrator', deployment('june-orchestrator', ['app', 'tailscale']));
  kube.deployments.set('june-idp', deployment('june-idp', ['app']));
  const runner = new FakeRunner()
    .on('kubectl auth can-i', { stdout: 'yes\n' })
    .on('kubectl -n june-services get events', { stdout: 'june-idp-0: Failed: no tailscale container\nother-0: BackOff: x\n' })
    .on('kubectl -n june-services logs deployment/june-idp', { exitCode: 1, stderr: 'container tailscale not found' })
    .on('kubectl -n june-services exec deployment/june-orchestrator -c tailscale -- tailscale debug prefs', { stdout: nodePrefs });
  const helm: Partial<HelmClient> = {
    values: async () => ({ tailscale: { enabled: true, extraArgs: ['--shields-up'] } }),
    release: async (release, namespace) => ({ name: release, namespace, revision: 2, status: 'deployed', chart: `${release}-0.1.0` }),
  };
  const ctx = testContext({
    runner,
    kube: async () => kube as unknown as KubeClient,
    kubectl: async () => new KubectlCli({ bin: 'kubectl', kubeconfig: undefined, context: undefined, runner }),
    helm: async () => helm as HelmClient,
    headscale: async () => hs,
  });
  return { ctx, runner, kube };
}

describe('doctor post-install checks', () => {
  it('runs each check family in order, with the fix for what failed', async () => {
    const { ctx, runner } = await setup();
    const checks = await postChecks(ctx);
    expect(checks.map((c) => [c.name, c.ok])).toEqual([
      ['Headscale reachable', true],
      ['Secret june-services/headscale-auth-keys', true],
      ['Helm release headscale/headscale settled', true],
      ['Helm release june-services/june-platform settled', true],
      ["Secret keys match the chart's authKeyRefs", false],
      ['Headscale version', true],
      ['orchestrator: key format', true],
      ['orchestrator: key valid', true],
      ['orchestrator: node registered and online', true],
      ['orchestrator: RBAC for the state Secret', true],
      ["orchestrator: sidecar runs the chart's tailscale.extraArgs", false],
      ['idp: key valid', false],
      ['idp: node registered and online', false],
      ['idp: sidecar running', false],
      ['MagicDNS base domain', true],
    ]);
    const sidecar = checks.find((c) => c.name === 'idp: sidecar running')!;
    expect(sidecar.detail).toBe('no-sidecar\n      events: june-idp-0: Failed: no tailscale container');
    expect(sidecar.fix).toBe('june-ts deploy-sidecars');
    expect(checks.find((c) => c.name === 'idp: key valid')!.fix).toBe('june-ts deploy-sidecars');
    expect(
      runner
        .commandLines()
        .filter((l) => l.includes('can-i'))
        .sort(),
    ).toEqual([
      'kubectl auth can-i get secrets/june-orchestrator-tailscale-state -n june-services --as=system:serviceaccount:june-services:june-orchestrator-tailscale',
      'kubectl auth can-i patch secrets/june-orchestrator-tailscale-state -n june-services --as=system:serviceaccount:june-services:june-orchestrator-tailscale',
      'kubectl auth can-i update secrets/june-orchestrator-tailscale-state -n june-services --as=system:serviceaccount:june-services:june-orchestrator-tailscale',
    ]);
  });

  it("names extraArgs the node does not run with (tailscale.authOnce keeps a node's first settings), and what it cannot compare", async () => {
    const { ctx } = await setup();
    const c = (await postChecks(ctx)).find((x) => x.name === "orchestrator: sidecar runs the chart's tailscale.extraArgs")!;
    expect(c).toMatchObject({ ok: false, level: 'warn', detail: 'the node does not run with --shields-up (node: ShieldsUp=false)' });
    expect(c.fix).toMatch(
      /^empty the state Secret june-orchestrator-tailscale-state and restart the Deployment .*tailscale\.authOnce=false/,
    );

    const applied = await setup(prefs({ ShieldsUp: true }));
    const ok = (await postChecks(applied.ctx)).find((x) => x.name === "orchestrator: sidecar runs the chart's tailscale.extraArgs")!;
    expect(ok).toMatchObject({ ok: true, detail: '[--shields-up] applied' });
  });

  it('names a Deployment whose TS_EXTRA_ARGS differ from the release values without asking the node', async () => {
    const { ctx, kube, runner } = await setup();
    kube.podExtraArgs = '--login-server=http://hs.example';
    const c = (await postChecks(ctx)).find((x) => x.name === "orchestrator: sidecar runs the chart's tailscale.extraArgs")!;
    expect(c).toMatchObject({
      ok: false,
      detail: "the release's values say [--shields-up], Deployment june-orchestrator starts the sidecar with TS_EXTRA_ARGS []",
    });
    expect(runner.commandLines().filter((l) => l.includes('debug prefs'))).toEqual([]);
  });

  it('warns when Headscale is more than one minor behind what june-ts deploys, naming the steps', () => {
    const config = testContext().config;
    const behind = versionCheck(reportedVersion('v0.26.1')!, config);
    expect(behind).toMatchObject({ ok: false, level: 'warn' });
    expect(behind.detail).toBe(
      'Headscale 0.26.1 is 3 minor versions behind 0.29.3, the version june-ts deploys: Headscale 0.29+ refuses to start after a skipped minor',
    );
    expect(behind.fix).toBe(
      'june-ts install --only 11-headscale: upgrades one minor at a time (0.27.1 → 0.28.0 → 0.29.3), each step after a backup (--backup-dir)',
    );
    expect(versionCheck(reportedVersion('v0.28.0')!, config)).toMatchObject({ ok: true, detail: '0.28.0; june-ts deploys 0.29.3' });
    const pinned = testContext({ env: { HEADSCALE_VERSION: '0.27.1' } }).config;
    expect(versionCheck(reportedVersion('v0.26.1')!, pinned).ok).toBe(true);
  });
});
