// The rotate workflow: new keys are proven by a key-check pod (simulated here by a fake
// kubelet that registers a node with whatever key the pod's secretKeyRef holds), no service
// pod is restarted unless --restart, old keys june-ts minted are expired only after the proof,
// retired keys are deleted past KEY_RETENTION, and any failure restores the Secret.
import { describe, expect, it } from 'vitest';
import { PhaseError, PreflightError } from '../../src/errors.js';
import type { DeploymentInfo, PodInfo, PodManifest, PodTemplateSpec, SecretInfo } from '../../src/kube/types.js';
import { MINTED_KEYS_ANNOTATION, RETIRED_KEYS_ANNOTATION } from '../../src/names.js';
import { WriteGate } from '../../src/write-gate.js';
import { rotateData, servicesDue } from '../../src/phases/rotate.js';
import { runPhases, selectPhases } from '../../src/phases/engine.js';
import { WORKFLOWS } from '../../src/phases/workflows.js';
import { Logger } from '../../src/ui/logger.js';
import { testContext, testRun } from '../helpers/context.js';
import { fakeDeployment, FakeHeadscale, FakeKube } from '../helpers/fake-seams.js';

const NS = 'june-services';
const sidecarTemplate = (svc: string): PodTemplateSpec => ({
  containers: [
    { name: 'app', image: 'app:1' },
    {
      name: 'tailscale',
      image: 'ghcr.io/tailscale/tailscale:v1.102.3',
      env: [
        { name: 'TS_AUTHKEY', valueFrom: { secretKeyRef: { name: 'headscale-auth-keys', key: `june-${svc}-authkey` } } },
        { name: 'TS_HOSTNAME', value: `june-${svc}` },
        { name: 'TS_KUBE_SECRET', value: `june-${svc}-tailscale-state` },
      ],
      volumeMounts: [{ name: 'tailscale-tmp', mountPath: '/tmp' }],
    },
  ],
  volumes: [{ name: 'tailscale-tmp', emptyDir: {} }],
});

/** A cluster whose "kubelet" runs key-check pods against the fake Headscale. */
class RotateKube extends FakeKube {
  restored: (SecretInfo | null)[] = [];
  created: PodManifest[] = [];
  pods = new Map<string, PodInfo>();
  restarts: string[] = [];
  /** Key-check pods whose container exits instead of registering. */
  crash = false;
  constructor(private readonly hs: FakeHeadscale) {
    super();
  }
  async restoreSecret(namespace: string, name: string, previous: SecretInfo | null) {
    this.restored.push(previous);
    if (previous) this.secrets.set(`${namespace}/${name}`, previous);
    else this.secrets.delete(`${namespace}/${name}`);
  }
  async getPodTemplate(_ns: string, deployment: string) {
    return sidecarTemplate(deployment.replace(/^june-/, ''));
  }
  async getDeployment(namespace: string, name: string): Promise<DeploymentInfo> {
    return fakeDeployment(name, { namespace, observedGeneration: 2, generation: 2 });
  }
  async listPods(_ns: string, selector: string): Promise<PodInfo[]> {
    return [...this.pods.values()].filter((p) => selector.split(',').every((kv) => p.labels[kv.split('=')[0]!] === kv.split('=')[1]));
  }
  async restartDeployment(_ns: string, name: string) {
    this.restarts.push(name);
  }
  async waitForRollout() {}
  async createPod(pod: PodManifest) {
    this.created.push(pod);
    const name = `${pod.metadata.generateName}${this.created.length}`;
    const c = (pod.spec.containers as { env: { name: string; value?: string; valueFrom?: { secretKeyRef: { key: string } } }[] }[])[0]!;
    const env = Object.fromEntries(
      c.env.map((e) => [e.name, e.value ?? this.secrets.get(`${NS}/headscale-auth-keys`)!.data[e.valueFrom!.secretKeyRef.key]!]),
    );
    const key = this.hs.keys.find((k) => k.key === env.TS_AUTHKEY && (!k.expiration || k.expiration > new Date()));
    const exited = this.crash || !key;
    if (key && !this.crash)
      this.hs.nodes.push({
        id: String(100 + this.created.length),
        name: env.TS_HOSTNAME!,
        givenName: env.TS_HOSTNAME!,
        // as Headscale 0.28+: a tag-owned key registers a node owned by its tags
        ...(key.aclTags ? { user: 'tagged-devices', tags: key.aclTags } : { user: key.user }),
        ipAddresses: [],
        online: true,
        createdAt: new Date(),
        preAuthKeyId: key.id,
      });
    this.pods.set(name, {
      name,
      namespace: NS,
      phase: exited ? 'Failed' : 'Running',
      labels: pod.metadata.labels,
      deletionTimestamp: undefined,
      containers: [
        { name: 'tailscale', ready: !exited, restartCount: 0, ...(exited ? { terminated: { exitCode: 1, reason: 'Error' } } : {}) },
      ],
    });
    return name;
  }
  async getPod(_ns: string, name: string) {
    return this.pods.get(name) ?? null;
  }
  async deletePods(_ns: string, selector: string) {
    const doomed = await this.listPods(NS, selector);
    for (const p of doomed) this.pods.delete(p.name);
    return doomed.length;
  }
  async podLogTail() {
    return 'boot: invalid pre-auth key';
  }
}

function setup(env: Record<string, string> = {}) {
  const hs = new FakeHeadscale();
  const kube = new RotateKube(hs);
  const warnings: string[] = [];
  const sink = { write: () => true } as unknown as NodeJS.WritableStream;
  const log = new Logger({ stdout: sink, stderr: sink, color: false });
  log.warn = (m: string) => void warnings.push(m);
  const ctx = testContext({
    command: 'rotate-keys',
    log,
    env: { TAILSCALE_SERVICES: 'orchestrator,idp', ...env },
    kube: async () => kube as never,
    headscale: async () => hs,
  });
  return { hs, kube, ctx, warnings };
}

/** An installed state: users (or, `tagged`, no users), one key per service in the Secret, minted by june-ts. */
async function installed(hs: FakeHeadscale, kube: RotateKube, services = ['orchestrator', 'idp'], tagged = false) {
  const owners = tagged ? services.map((s) => ({ tag: `tag:june-${s}` })) : await hs.ensureUsers(services.map((s) => `june-${s}`));
  const keys = await Promise.all(owners.map((o) => hs.createPreAuthKey(o, { reusable: true, expiration: '180d' })));
  const secret: SecretInfo = {
    name: 'headscale-auth-keys',
    namespace: NS,
    data: Object.fromEntries(services.map((s, i) => [`june-${s}-authkey`, keys[i]!.key])),
    labels: { 'app.kubernetes.io/managed-by': 'june-ts' },
    annotations: { [MINTED_KEYS_ANNOTATION]: JSON.stringify(Object.fromEntries(services.map((s, i) => [s, keys[i]!.id]))) },
    resourceVersion: '1',
  };
  kube.secrets.set(`${NS}/headscale-auth-keys`, secret);
  return { keys, secret };
}

const tree = WORKFLOWS['rotate-keys'].filter((p) => p.id === 'rotate');
const rotate = (ctx: ReturnType<typeof setup>['ctx'], services: string[], restart = false) => {
  const run = testRun(ctx, rotateData(services, { restart }));
  return runPhases(selectPhases(tree, {}, run, 'rotate-keys'), run, new WriteGate('off'), run.signal);
};

describe('rotate workflow', () => {
  it('TAILNET_IDENTITY=tag: new tagged keys, each proven by a key-check node owned by its tag; old keys expired; no user made', async () => {
    const { hs, kube, ctx } = setup({ TAILNET_IDENTITY: 'tag' });
    const { keys: old } = await installed(hs, kube, ['orchestrator', 'idp'], true);
    await rotate(ctx, ['orchestrator', 'idp']);
    const minted = JSON.parse(kube.secrets.get(`${NS}/headscale-auth-keys`)!.annotations[MINTED_KEYS_ANNOTATION]!) as Record<
      string,
      string
    >;
    for (const svc of ['orchestrator', 'idp']) {
      const key = hs.keys.find((k) => k.id === minted[svc])!;
      expect(key.aclTags).toEqual([`tag:june-${svc}`]);
      expect(old.map((k) => k.id)).not.toContain(key.id);
    }
    expect(hs.users).toEqual([]);
    expect(kube.restarts).toEqual([]);
    expect(hs.nodes).toEqual([]);
    for (const k of old) expect(hs.keys.find((x) => x.id === k.id)?.expiration!.getTime() ?? 0).toBeLessThan(Date.now());
  });

  it('--if-expiring-within with tag identities: due by the tagged keys; refused (exit 2) on a Headscale without them', async () => {
    const { hs, kube, ctx } = setup({ TAILNET_IDENTITY: 'tag' });
    await installed(hs, kube, ['orchestrator', 'idp'], true);
    expect(await servicesDue(ctx, ['orchestrator', 'idp'], 30 * 86_400_000)).toEqual([]);
    hs.keys.find((k) => k.aclTags?.includes('tag:june-idp'))!.expiration = new Date(Date.now() + 86_400_000);
    expect((await servicesDue(ctx, ['orchestrator', 'idp'], 30 * 86_400_000)).map((d) => d.service)).toEqual(['idp']);
    hs.tags = false;
    await expect(servicesDue(ctx, ['orchestrator', 'idp'], 30 * 86_400_000)).rejects.toBeInstanceOf(PreflightError);
  });

  it('proves each new key with a key-check pod, restarts nothing, then expires the old keys', async () => {
    const { hs, kube, ctx } = setup();
    const { keys: old } = await installed(hs, kube);
    await rotate(ctx, ['orchestrator', 'idp']);
    const secret = kube.secrets.get(`${NS}/headscale-auth-keys`)!;
    const minted = JSON.parse(secret.annotations[MINTED_KEYS_ANNOTATION]!) as Record<string, string>;
    expect(Object.values(minted).sort()).not.toEqual(old.map((k) => k.id).sort());
    // one key-check pod per service, running the service's sidecar with in-memory state
    expect(kube.created.map((p) => p.metadata.labels['june-ts.dev/key-check']).sort()).toEqual(['idp', 'orchestrator']);
    expect(kube.restarts).toEqual([]);
    // the check pods and their nodes are gone again
    expect(kube.pods.size).toBe(0);
    expect(hs.nodes).toEqual([]);
    // the old keys are expired (after the proof), the new ones are not
    for (const k of old) expect(hs.keys.find((x) => x.id === k.id)?.expiration!.getTime() ?? 0).toBeLessThan(Date.now());
    for (const id of Object.values(minted)) expect(hs.keys.find((x) => x.id === id)!.expiration!.getTime()).toBeGreaterThan(Date.now());
    // the old keys are remembered as retired (ids only) for deletion after KEY_RETENTION
    const retired = JSON.parse(secret.annotations[RETIRED_KEYS_ANNOTATION]!) as Record<string, { id: string }[]>;
    expect(
      Object.values(retired)
        .flat()
        .map((k) => k.id)
        .sort(),
    ).toEqual(old.map((k) => k.id).sort());
    expect(JSON.stringify(secret.annotations)).not.toMatch(/hskey-auth/);
  });

  it('a new key that does not register fails the proof: Secret restored, old keys valid, log lines named', async () => {
    const { hs, kube, ctx, warnings } = setup();
    const { secret: before, keys: old } = await installed(hs, kube);
    kube.crash = true;
    const err = (await rotate(ctx, ['orchestrator', 'idp']).catch((e: unknown) => e)) as PhaseError;
    expect(err).toBeInstanceOf(PhaseError);
    expect(err.phaseId).toBe('rotate/prove');
    expect(err.message).toMatch(
      /the new key could not register a node:\n\s+orchestrator: the key-check container exited \(Error\)\n\s+last lines of its log:\n\s+boot: invalid pre-auth key/,
    );
    expect(kube.restored).toEqual([before]);
    expect(kube.secrets.get(`${NS}/headscale-auth-keys`)).toBe(before);
    for (const k of old) expect(hs.keys.find((x) => x.id === k.id)!.expiration!.getTime()).toBeGreaterThan(Date.now());
    expect(kube.pods.size).toBe(0);
    expect(warnings[0]).toMatch(/^rotation failed \(phase rotate\/prove: .*\); the Secret was restored and the old keys stay valid/);
  });

  it('a key check that registered with another key than the new one is a failed proof', async () => {
    const { hs, kube, ctx } = setup();
    await installed(hs, kube, ['orchestrator']);
    // a stale "kubelet" that starts the check pod with the key the Secret held before
    const before = new Map(kube.secrets);
    const create = kube.createPod.bind(kube);
    kube.createPod = async (pod) => {
      const now = new Map(kube.secrets);
      for (const [k, v] of before) kube.secrets.set(k, v);
      try {
        return await create(pod);
      } finally {
        for (const [k, v] of now) kube.secrets.set(k, v);
      }
    };
    await expect(rotate(ctx, ['orchestrator'])).rejects.toThrow(/orchestrator: its node registered with key \d+, not the new key \d+/);
  });

  it('--restart restarts the Deployments and warns where no surge is allowed', async () => {
    const { hs, kube, ctx, warnings } = setup();
    await installed(hs, kube);
    for (const svc of ['orchestrator', 'idp']) {
      kube.pods.set(`june-${svc}-1`, {
        name: `june-${svc}-1`,
        namespace: NS,
        phase: 'Running',
        labels: { app: `june-${svc}` },
        deletionTimestamp: undefined,
        containers: [{ name: 'tailscale', ready: true, restartCount: 0 }],
      });
      hs.nodes.push({
        id: svc === 'idp' ? '1' : '2',
        name: `june-${svc}`,
        givenName: `june-${svc}`,
        user: `june-${svc}`,
        ipAddresses: [],
        online: true,
      });
    }
    await rotate(ctx, ['orchestrator', 'idp'], true);
    expect(kube.restarts.sort()).toEqual(['june-idp', 'june-orchestrator']);
    expect(warnings.join('\n')).toMatch(/allows no surge .* down from the moment its old pod stops until the new one is Ready/);
  });

  it('retired keys are deleted once older than KEY_RETENTION, and forgotten when Headscale no longer lists them', async () => {
    const { hs, kube, ctx } = setup({ KEY_RETENTION: '0h' });
    const { keys: first } = await installed(hs, kube, ['idp']);
    await rotate(ctx, ['idp']);
    // retention 0: the key retired in this run was deleted at its end
    expect(hs.deleted).toEqual([first[0]!.id]);
    await rotate(ctx, ['idp']);
    expect(hs.keys.filter((k) => k.user === 'june-idp')).toHaveLength(1);
    const retired = JSON.parse(kube.secrets.get(`${NS}/headscale-auth-keys`)!.annotations[RETIRED_KEYS_ANNOTATION] ?? '{}');
    // the first retired key is no longer listed by Headscale, so the record dropped it
    expect(JSON.stringify(retired)).not.toContain(`"${first[0]!.id}"`);
  });

  it('on Headscale versions that cannot delete keys, nothing is retired or deleted', async () => {
    const { hs, kube, ctx } = setup({ KEY_RETENTION: '0h' });
    hs.deletes = false;
    await installed(hs, kube, ['idp']);
    await rotate(ctx, ['idp']);
    expect(hs.deleted).toEqual([]);
    expect(kube.secrets.get(`${NS}/headscale-auth-keys`)!.annotations[RETIRED_KEYS_ANNOTATION]).toBeUndefined();
  });

  it('nothing is restored when no key was minted yet', async () => {
    const { hs, kube, ctx, warnings } = setup();
    hs.failMintFor.add('june-orchestrator');
    await expect(rotate(ctx, ['orchestrator'])).rejects.toThrow(/minting for june-orchestrator/);
    expect(kube.restored).toEqual([]);
    expect(warnings).toEqual([]);
  });
});
