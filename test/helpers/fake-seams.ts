// Small map-backed fakes of the Kubernetes and Headscale seams for phase unit tests.
// Unexpected calls throw (fail closed), so a phase cannot pass by calling something else.
import { isTagOwner, keyOwnedBy, ownerName } from '../../src/headscale/common.js';
import type {
  HeadscaleClient,
  HeadscaleVersion,
  HsNode,
  HsPolicy,
  HsPreAuthKey,
  HsUser,
  KeyOwner,
  PolicyWriteSummary,
} from '../../src/headscale/types.js';
import type { WriteGate } from '../../src/write-gate.js';
import type { ApplySecret, DeploymentInfo, KubeClient, SecretInfo } from '../../src/kube/types.js';

/** An online Headscale node of `user` (the node's own name by default), with tags when given. */
export function fakeNode(id: string, name: string, user = name, tags?: string[]): HsNode {
  return { id, name, givenName: name, user, ipAddresses: [], online: true, ...(tags ? { tags } : {}) };
}

/** A one-replica Deployment in june-services that has rolled out, with what a test changes. */
export function fakeDeployment(name: string, o: Partial<DeploymentInfo> = {}): DeploymentInfo {
  return {
    name,
    namespace: 'june-services',
    replicas: 1,
    readyReplicas: 1,
    updatedReplicas: 1,
    availableReplicas: 1,
    currentReplicas: 1,
    observedGeneration: 1,
    generation: 1,
    containers: ['app', 'tailscale'],
    podLabels: { app: name },
    maxSurge: 0,
    ...o,
  };
}

export class FakeKube implements Partial<KubeClient> {
  secrets = new Map<string, SecretInfo>();
  applies = 0;
  private rv = 1;
  async getSecret(namespace: string, name: string) {
    return this.secrets.get(`${namespace}/${name}`) ?? null;
  }
  async applySecret(s: ApplySecret) {
    this.applies++;
    const info: SecretInfo = {
      name: s.name,
      namespace: s.namespace,
      data: { ...s.stringData },
      labels: s.labels ?? {},
      annotations: s.annotations ?? {},
      resourceVersion: String(++this.rv),
    };
    this.secrets.set(`${s.namespace}/${s.name}`, info);
    return info;
  }
  async ensureNamespace() {}
}

export class FakeHeadscale implements HeadscaleClient {
  users: HsUser[] = [];
  keys: (HsPreAuthKey & { key: string })[] = [];
  nodes: HsNode[] = [];
  /** Make createPreAuthKey fail for these user names (or tags). */
  failMintFor = new Set<string>();
  /** 0.28+ mints keys owned by a tag; set false to act as 0.23–0.27. */
  tags = true;
  private seq = 0;
  async version(): Promise<HeadscaleVersion> {
    if (!this.tags) return { major: 0, minor: 26, patch: 1, raw: 'v0.26.1', generation: 'v026', source: 'reported' };
    return { major: 0, minor: 29, patch: 2, raw: 'v0.29.2', generation: 'v028', source: 'reported' };
  }
  forgetVersion() {}
  prefetch() {}
  async health() {}
  async listUsers() {
    return [...this.users];
  }
  async ensureUsers(names: string[]) {
    for (const n of names) if (!this.users.some((u) => u.name === n)) this.users.push({ id: String(++this.seq), name: n });
    return names.map((n) => this.users.find((u) => u.name === n)!);
  }
  async tagOwnedKeys() {
    return { supported: this.tags, since: '0.28+' };
  }
  async createPreAuthKey(owner: KeyOwner, o: { reusable: boolean; expiration: string }) {
    const name = ownerName(owner);
    if (this.failMintFor.has(name)) throw new Error(`connection refused (minting for ${name})`);
    if (isTagOwner(owner) && !this.tags) throw new Error(`cannot mint a key owned by ${name}`);
    const id = String(++this.seq);
    const k = {
      id,
      user: isTagOwner(owner) ? '' : name,
      ...(isTagOwner(owner) ? { aclTags: [owner.tag] } : {}),
      key: `hskey-auth-p${id}-secret${id}xyz`,
      reusable: o.reusable,
      ephemeral: false,
      used: false,
      expiration: new Date(Date.now() + 180 * 86_400_000),
    };
    this.keys.push(k);
    return k;
  }
  /** owners (user names or tags) passed to each listPreAuthKeys call */
  listed: string[][] = [];
  async listPreAuthKeys(owners: KeyOwner[]) {
    this.listed.push(owners.map(ownerName));
    return this.keys.filter((k) => owners.some((o) => keyOwnedBy(k, o)));
  }
  async expirePreAuthKey(k: HsPreAuthKey) {
    const found = this.keys.find((x) => x.id === k.id);
    if (found) found.expiration = new Date(Date.now() - 1000);
  }
  /** 0.28+ can delete keys; set false to act as 0.23–0.27. */
  deletes = true;
  deleted: string[] = [];
  async canDeletePreAuthKeys() {
    return this.deletes;
  }
  async deletePreAuthKey(id: string) {
    this.deleted.push(id);
    this.keys = this.keys.filter((k) => k.id !== id);
  }
  async listNodes() {
    return [...this.nodes];
  }
  async deleteNode(id: string) {
    this.nodes = this.nodes.filter((n) => n.id !== id);
  }
  async deleteUser(u: HsUser) {
    this.users = this.users.filter((x) => x.name !== u.name);
  }
  /** The stored policy, and each write's summary; with a gate, policy writes go through it as in the real client. */
  policy: HsPolicy = { kind: 'none' };
  policyWrites: PolicyWriteSummary[] = [];
  gate: WriteGate | undefined;
  async getPolicy() {
    return this.policy;
  }
  async setPolicy(text: string, summary: PolicyWriteSummary) {
    const act = async () => {
      this.policyWrites.push(summary);
      this.policy = { kind: 'stored', text };
    };
    await (this.gate ? this.gate.write({ kind: 'headscale', action: 'set policy', args: { ...summary } }, act, undefined) : act());
  }
  async checkPolicy() {
    return false;
  }
}
