// Long runs on one cluster: SOAK_CYCLES cycles of deploy-sidecars / rotate-keys / status,
// with everything june-ts can pile up counted after each cycle (Headscale users, keys and
// nodes; Helm revisions; Secrets; Leases; june-ts-labelled objects; pods), then
// `cleanup --purge` (the counts return to zero) and `cleanup --all` followed by a leak scan
// of every listable kind in every namespace and of Headscale. Runs on the default pair in CI
// (scripts/test.sh): none of it depends on the Headscale CLI generation or the Helm major.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRun, startScenario, type Scenario } from './harness.js';

type HsNode = { id: string | number; name: string; given_name?: string; user?: { name: string } | string };
type HsUser = { id: string | number; name: string };
type HsKey = { id: string | number; user?: { name: string } | string };
type KObject = {
  kind: string;
  apiVersion: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { kind: string; name: string }[];
  };
};

const SOAK_CYCLES = Number(process.env.JUNE_TS_SOAK_CYCLES ?? 30);
const SERVICES = ['orchestrator', 'idp'];
const NS = 'june-services';
/** june-ts's Headscale users: one per service and the host's (11.5). */
const USERS = [...SERVICES.map((s) => `june-${s}`), 'june-host'].sort();
/** Helm's default `--history-max` for `helm upgrade`; june-ts passes none, so Helm keeps at most this many revisions. */
const HELM_HISTORY_MAX = 10;
/** What june-ts, its charts and its Headscale objects are recognised by, in a name, label or annotation. */
const OURS = /june|headscale|tailscale/i;
const userOf = (x: { user?: { name: string } | string }) => (typeof x.user === 'string' ? x.user : x.user?.name);
const nameOf = (n: HsNode) => n.given_name ?? n.name;

describe.skipIf(!canRun)(`soak (${SOAK_CYCLES} cycles) and leak scan`, () => {
  let s: Scenario;

  beforeAll(async () => {
    // retention 0h: a rotation deletes the key it retired at once (Headscale 0.28+), so the
    // key count has a fixed bound; with the default 30d it is one retired key per rotation in
    // the last 30 days (rotation.test.ts and the README say so)
    s = await startScenario('soak', { KEY_RETENTION: '0h', TAILSCALE_SERVICES: SERVICES.join(',') });
    const minor = Number(/^v0\.(\d+)/.exec(s.env.headscale.version)![1]);
    if (minor < 28) throw new Error(`the soak needs Headscale 0.28+ (key deletion); this pair runs ${s.env.headscale.version}`);
    // as on a shared cluster: the key-check pods of every rotation pass "restricted" too
    await s.env.kubectl(['create', 'namespace', NS]);
    await s.env.kubectl(['label', 'namespace', NS, 'pod-security.kubernetes.io/enforce=restricted']);
    const r = await s.june(['install']);
    if (r.code !== 0) throw new Error(`install failed:\n${r.stderr}`);
  });
  afterAll(async () => {
    await s?.stop();
  });

  const users = async () => ((await s.headscaleJson<HsUser[] | null>(['users', 'list'])) ?? []).map((u) => u.name);
  const keys = async () => (await s.headscaleJson<HsKey[] | null>(['preauthkeys', 'list'])) ?? [];
  const nodes = async () => (await s.headscaleJson<HsNode[] | null>(['nodes', 'list'])) ?? [];
  const list = async (kinds: string, extra: string[] = ['-A']) =>
    (JSON.parse(await s.env.kubectl(['get', kinds, ...extra, '-o', 'json'])) as { items: KObject[] }).items;

  /** Everything the soak bounds, in one snapshot. */
  const counts = async () => {
    const [u, k, n, objects, labelled] = await Promise.all([
      users(),
      keys(),
      nodes(),
      list('secrets,leases.coordination.k8s.io,pods'),
      list('secrets,configmaps,pods,deployments,roles,rolebindings,serviceaccounts', ['-A', '-l', 'app.kubernetes.io/managed-by=june-ts']),
    ]);
    const of = (kind: string, ns?: string) => objects.filter((o) => o.kind === kind && (!ns || o.metadata.namespace === ns));
    const helmRevisions = (release: string) =>
      of('Secret').filter((o) => o.metadata.labels?.owner === 'helm' && o.metadata.labels?.name === release).length;
    return {
      users: u.filter((x) => x.startsWith('june-')).length,
      keys: k.filter((x) => USERS.includes(userOf(x) ?? '')).length,
      nodes: n.filter((x) => USERS.includes(userOf(x) ?? '')).length,
      keyCheckNodes: n.filter((x) => /keycheck/.test(nameOf(x))).length,
      platformRevisions: helmRevisions('june-platform'),
      headscaleRevisions: helmRevisions('headscale'),
      secretsInPlatformNs: of('Secret', NS).length,
      leases: of('Lease').length,
      lockLeases: of('Lease').filter((o) => o.metadata.name === 'june-ts-lock').length,
      podsInPlatformNs: of('Pod', NS).length,
      juneTsLabelled: labelled.length,
    };
  };
  type Counts = Awaited<ReturnType<typeof counts>>;

  let baseline: Counts;
  const cycleMs: number[] = [];
  const commandMs: Record<string, number[]> = {};

  it(`${SOAK_CYCLES} cycles of deploy-sidecars / rotate-keys / status: every count stays within its bound`, async () => {
    baseline = await counts();
    // what one install of 2 services and the host makes
    expect(baseline).toMatchObject({
      users: 3, // june-orchestrator, june-idp, june-host
      keys: 3, // one reusable key per service + the host's
      nodes: 3, // one per service + the host
      keyCheckNodes: 0,
      platformRevisions: 1,
      headscaleRevisions: 1,
      lockLeases: 0,
      juneTsLabelled: 1, // the auth Secret
    });
    const nodeIds = (await nodes()).map((n) => String(n.id)).sort();
    const worst = { ...baseline };
    for (let i = 1; i <= SOAK_CYCLES; i++) {
      const t0 = Date.now();
      for (const args of [['deploy-sidecars'], ['rotate-keys'], ['status']]) {
        const t = Date.now();
        const r = await s.june(args);
        (commandMs[args[0]!] ??= []).push(Date.now() - t);
        expect(r.code, `cycle ${i}: june-ts ${args.join(' ')}\n${r.stderr}${r.stdout}`).toBe(0);
      }
      cycleMs.push(Date.now() - t0);
      const c = await counts();
      for (const k of Object.keys(c) as (keyof Counts)[]) worst[k] = Math.max(worst[k], c[k]);
      // the bounds, checked after every cycle
      expect(c.users, `cycle ${i}`).toBe(3);
      expect(c.keys, `cycle ${i}: retention 0h, each rotation deletes the key it retired`).toBe(3);
      expect(c.nodes, `cycle ${i}: a rotation registers no node that stays`).toBe(3);
      expect(c.keyCheckNodes, `cycle ${i}: key-check nodes are removed`).toBe(0);
      // rotate-keys does not touch the release and deploy-sidecars on a finished state is a no-op
      expect(c.platformRevisions, `cycle ${i}`).toBe(baseline.platformRevisions);
      expect(c.headscaleRevisions, `cycle ${i}`).toBe(baseline.headscaleRevisions);
      expect(c.secretsInPlatformNs, `cycle ${i}`).toBe(baseline.secretsInPlatformNs);
      expect(c.leases, `cycle ${i}: the run lock is released, nothing else is added`).toBe(baseline.leases);
      expect(c.lockLeases, `cycle ${i}`).toBe(0);
      expect(c.podsInPlatformNs, `cycle ${i}: no key-check pod left`).toBe(baseline.podsInPlatformNs);
      expect(c.juneTsLabelled, `cycle ${i}`).toBe(1);
    }
    // the nodes are the same ones: rotation never re-registered a service
    expect((await nodes()).map((n) => String(n.id)).sort()).toEqual(nodeIds);
    expect(worst.platformRevisions).toBeLessThanOrEqual(HELM_HISTORY_MAX);
    const spread = (ms: number[]) => {
      const sorted = [...ms].sort((a, b) => a - b);
      return `min ${sorted[0]} median ${sorted[Math.floor(sorted.length / 2)]} max ${sorted.at(-1)} ms`;
    };
    console.log(
      `soak: ${SOAK_CYCLES} cycles in ${cycleMs.reduce((a, b) => a + b, 0)} ms; cycle ${spread(cycleMs)}; ` +
        Object.entries(commandMs)
          .map(([c, ms]) => `${c} ${spread(ms)}`)
          .join('; ') +
        `; worst counts ${JSON.stringify(worst)}`,
    );
  }, 1_800_000);

  it('cleanup --purge: users, keys, nodes, Secrets, locks and june-ts-labelled objects return to zero', async () => {
    const r = await s.june(['cleanup', '--yes', '--purge']);
    expect(r.code, r.stderr).toBe(0);
    const c = await counts();
    expect(c).toMatchObject({
      users: 0,
      keys: 0,
      nodes: 0,
      keyCheckNodes: 0,
      lockLeases: 0,
      juneTsLabelled: 0,
      leases: baseline.leases,
      // Headscale stays without --all; the platform release (the platform's own) gains the one
      // revision that switched the sidecars off
      headscaleRevisions: 1,
      platformRevisions: baseline.platformRevisions + 1,
      podsInPlatformNs: baseline.podsInPlatformNs,
    });
    // gone: the auth Secret and both state Secrets; the new Helm revision record is the one added
    expect(c.secretsInPlatformNs).toBe(baseline.secretsInPlatformNs - 3 + 1);
  }, 300_000);

  it('leak scan after cleanup --all: every listable kind, every namespace, and Headscale hold nothing of june-ts but what stays on purpose', async () => {
    const r = await s.june(['cleanup', '--yes', '--all']);
    expect(r.code, r.stderr).toBe(0);

    const kinds = (await s.env.kubectl(['api-resources', '--verbs=list', '-o', 'name'])).trim().split('\n').filter(Boolean);
    expect(kinds.length).toBeGreaterThan(30); // the real API server's full list, not a hand-picked one
    // events are records of what happened (deleted by the API server after its --event-ttl), not objects june-ts leaves
    const scanned = kinds.filter((k) => k !== 'events' && k !== 'events.events.k8s.io');
    const all = await list(scanned.join(','));
    const matches = (o: KObject) =>
      [o.metadata.name, ...Object.entries(o.metadata.labels ?? {}).flat(), ...Object.entries(o.metadata.annotations ?? {}).flat()].some(
        (x) => OURS.test(x),
      );
    const found = all.filter(matches);
    expect(found.length).toBeGreaterThan(0); // the scan sees the platform that stays, so it can see a leak

    // What stays on purpose: the June Platform release (the platform's own; june-ts only turned
    // its sidecars off), its Helm records and what its controllers made from it, and the two
    // namespaces. (The Headscale data volume stays too when persistence is on, by
    // helm.sh/resource-policy: keep; the e2e environment has no volume provisioner, so it is off.)
    const manifest = await s.env.helm(['get', 'manifest', 'june-platform', '-n', NS]);
    const released = new Set([...manifest.matchAll(/^kind: (\w+)\nmetadata:\n {2}name: "?([\w.-]+)"?/gm)].map((m) => `${m[1]}/${m[2]}`));
    expect(released.size).toBeGreaterThan(0);
    const stays = (o: KObject) => {
      const { kind, metadata: m } = o;
      // the environment's own kwok configuration (the ClusterExec that runs the real headscale CLI)
      if (o.apiVersion.startsWith('kwok.x-k8s.io/')) return true;
      if (kind === 'Namespace') return m.name === NS || m.name === 'headscale';
      if (m.namespace !== NS) return false;
      if (released.has(`${kind}/${m.name}`)) return true;
      if (kind === 'Secret' && m.labels?.owner === 'helm' && m.labels?.name === 'june-platform') return true;
      // children of the release's Deployments and Services
      const owned = m.labels?.['app.kubernetes.io/instance'] === 'june-platform';
      return owned && ['ReplicaSet', 'Pod', 'Endpoints', 'EndpointSlice'].includes(kind);
    };
    const left = found.filter((o) => !stays(o)).map((o) => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`);
    expect(left).toEqual([]);
    // the platform that stays runs without sidecars
    const values = JSON.parse(await s.env.helm(['get', 'values', 'june-platform', '-n', NS, '-o', 'json']));
    expect(values.tailscale.enabled).toBe(false);
    const sidecarObjects = found.filter((o) => /tailscale/.test(o.metadata.name) || o.metadata.labels?.['june-ts.dev/key-check']);
    expect(sidecarObjects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([]);

    // Headscale: no user, key or node of june-ts; the only API key is the environment's own
    expect(await users()).toEqual([]);
    expect(await keys()).toEqual([]);
    expect(await nodes()).toEqual([]);
    expect(((await s.headscaleJson<unknown[] | null>(['apikeys', 'list'])) ?? []).length).toBe(1);
    console.log(
      `leak scan: ${scanned.length} kinds, ${all.length} objects, ${found.length} named/labelled like june-ts, all documented to stay`,
    );
  }, 300_000);
});
