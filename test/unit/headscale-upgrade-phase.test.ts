// Phase 11's upgrade over a fake cluster that behaves like the real one where it matters:
// the Headscale pod runs the version of its image tag, crash-loops on a version the test
// marks as refusing to start, a helm rollback brings back the previous revision's tag, and
// the backup pod's scripts copy and put back the "database" (a string naming who wrote it).
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Context } from '../../src/context.js';
import { BACKUP_CONTAINER } from '../../src/domain/headscale-backup.js';
import { UsageError } from '../../src/errors.js';
import type { HelmClient, ReleaseInfo, UpgradeRequest } from '../../src/helm/types.js';
import type { HeadscaleVersion } from '../../src/headscale/types.js';
import { reportedVersion } from '../../src/headscale/types.js';
import type { Kubectl } from '../../src/kube/kubectl.js';
import type { KubeClient, PodInfo, PodManifest, PodTemplateSpec } from '../../src/kube/types.js';
import { Handoff } from '../../src/phases/engine.js';
import { readLocalBackup, type HeadscaleVolume } from '../../src/phases/headscale-backup.js';
import { restorePhases, type RestoreData } from '../../src/phases/headscale-restore.js';
import { headscaleServerPhase, type HeadscaleServerData } from '../../src/phases/headscale-server.js';
import { Logger } from '../../src/ui/logger.js';
import { WriteGate, type PlanEntry } from '../../src/write-gate.js';
import { testContext, testRun } from '../helpers/context.js';
import { FakeHeadscale, fakeNode } from '../helpers/fake-seams.js';

const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

class FakeCluster {
  calls: string[] = [];
  /** Versions whose server refuses to start (crash-loops). */
  refuses = new Set<string>();
  /** Versions that come up without the nodes (a lost database). */
  losesNodes = new Set<string>();
  revisions: { tag: string; values: Record<string, unknown> }[] = [];
  replicas = 1;
  volume = true;
  db: string;
  /** The backups on the volume: name → db. */
  volumeBackups = new Map<string, string>();
  backupPods = new Map<string, PodInfo>();
  hs = new FakeHeadscale();
  private podSeq = 0;

  constructor(public running: string) {
    this.db = `db written by ${running}`;
    this.revisions.push({ tag: running, values: { image: { tag: running } } });
    this.hs.users = [{ id: '1', name: 'june-orchestrator' }];
    this.hs.nodes = [fakeNode('1', 'june-orchestrator'), fakeNode('2', 'june-e2e-host')];
    this.hs.keys = [
      { id: '7', user: 'june-orchestrator', key: 'hskey-auth-abc-secretsecret', reusable: true, ephemeral: false, used: true },
    ];
    this.hs.version = async (): Promise<HeadscaleVersion> => {
      if (!this.serving()) throw new Error('container not running');
      return reportedVersion(`v${this.running}`)!;
    };
    this.hs.health = async () => {
      if (!this.serving()) throw new Error('unhealthy');
    };
    const listNodes = this.hs.listNodes.bind(this.hs);
    this.hs.listNodes = async () => (this.losesNodes.has(this.running) ? [] : listNodes());
  }

  serving(): boolean {
    return this.replicas > 0 && !this.refuses.has(this.running);
  }

  template(): PodTemplateSpec {
    return {
      containers: [{ name: 'headscale', image: `headscale/headscale:${this.running}` }],
      volumes: [this.volume ? { name: 'data', persistentVolumeClaim: { claimName: 'headscale-data' } } : { name: 'data', emptyDir: {} }],
      securityContext: { runAsUser: 65532 },
    };
  }

  helm(gate: WriteGate): Partial<HelmClient> {
    return {
      chartRef: async () => 'headscale-0.1.0',
      release: async (): Promise<ReleaseInfo> => ({
        name: 'headscale',
        namespace: 'headscale',
        revision: this.revisions.length,
        status: 'deployed',
        chart: 'headscale-0.1.0',
      }),
      values: async () => this.revisions.at(-1)!.values,
      upgradeInstall: async (req: UpgradeRequest) => {
        const tag = (req.values.image as { tag: string }).tag;
        const stopped = req.values.stopped === true;
        if (gate.dryRun)
          return gate.record({
            kind: 'helm',
            action: 'upgrade --install',
            release: req.release,
            namespace: req.namespace,
            values: req.values,
          });
        this.calls.push(`helm upgrade ${tag}${stopped ? ' stopped' : ''}`);
        this.revisions.push({ tag, values: req.values });
        this.running = tag;
        this.replicas = stopped ? 0 : 1;
        // a new version migrates the database as it starts
        if (!this.refuses.has(tag)) this.db = `db written by ${tag}`;
      },
      rollback: async (_r, _ns, revision) => {
        this.calls.push(`helm rollback ${revision}`);
        const back = this.revisions[revision - 1]!;
        this.revisions.push(back);
        this.running = back.tag;
        this.replicas = back.values.stopped === true ? 0 : 1;
      },
    };
  }

  kube(): Partial<KubeClient> {
    return {
      getPodTemplate: async () => this.template(),
      getDeployment: async () => {
        const ready = this.serving() ? 1 : 0;
        return {
          name: 'headscale',
          namespace: 'headscale',
          replicas: this.replicas,
          readyReplicas: ready,
          updatedReplicas: this.replicas,
          availableReplicas: ready,
          currentReplicas: this.replicas,
          observedGeneration: 1,
          generation: 1,
          containers: ['headscale'],
          podLabels: {},
          maxSurge: 0,
        };
      },
      listPods: async () =>
        this.replicas === 0
          ? []
          : [
              {
                name: 'headscale-abc',
                namespace: 'headscale',
                phase: 'Running',
                labels: {},
                deletionTimestamp: undefined,
                containers: [
                  {
                    name: 'headscale',
                    ready: this.serving(),
                    restartCount: this.serving() ? 0 : 2,
                    ...(this.serving() ? {} : { waitingReason: 'CrashLoopBackOff' }),
                  },
                ],
              },
            ],
      podLogTail: async () => 'FTL fatal config error: randomize_client_port was removed',
      createPod: async (pod: PodManifest) => {
        const name = `headscale-backup-${++this.podSeq}`;
        const spec = pod.spec as { affinity?: unknown; volumes: { persistentVolumeClaim: { claimName: string } }[] };
        this.calls.push(
          `backup pod ${spec.affinity ? 'beside headscale' : 'alone'} on ${spec.volumes[0]!.persistentVolumeClaim.claimName}`,
        );
        this.backupPods.set(name, {
          name,
          namespace: 'headscale',
          phase: 'Running',
          labels: pod.metadata.labels,
          deletionTimestamp: undefined,
          containers: [{ name: BACKUP_CONTAINER, ready: true, restartCount: 0 }],
        });
        return name;
      },
      getPod: async (_ns, name) => this.backupPods.get(name) ?? null,
      deletePods: async () => {
        const n = this.backupPods.size;
        this.backupPods.clear();
        return n;
      },
      getSecret: async () => null,
    };
  }

  kubectl(): Partial<Kubectl> {
    return {
      exec: async (_ns, pod, container, argv, o = {}) => {
        expect(this.backupPods.has(pod)).toBe(true);
        expect(container).toBe(BACKUP_CONTAINER);
        const script = argv[2]!;
        const backup = /backups\/([^/'"]+)/.exec(script)?.[1];
        if (script.includes('.backup')) {
          expect(this.serving()).toBe(true);
          this.calls.push(`backup ${backup}`);
          this.volumeBackups.set(backup!, this.db);
          return `${sha(this.db)}  /var/lib/headscale/backups/${backup}/db.sqlite\n${sha('noise')}  /var/lib/headscale/backups/${backup}/noise_private.key\n`;
        }
        if (script.endsWith('sha256sum * || true')) {
          this.calls.push(`list ${backup}`);
          const db = this.volumeBackups.get(backup!);
          return db === undefined ? '' : `${sha(db)}  db.sqlite\n${sha('noise')}  noise_private.key\n`;
        }
        if (script.includes('base64 -d')) this.calls.push(`upload ${script.includes('db.sqlite') ? 'db.sqlite' : 'key'}`);
        if (script.startsWith('base64 ')) {
          const file = script.includes('db.sqlite') ? this.volumeBackups.get(backup!)! : 'noise';
          return Buffer.from(file).toString('base64');
        }
        if (script.includes('base64 -d')) {
          if (script.includes('db.sqlite')) this.volumeBackups.set(backup!, Buffer.from(o.input!, 'base64').toString());
          return '';
        }
        if (script.includes('.restoring')) {
          expect(this.replicas).toBe(0);
          this.calls.push(`restore ${backup}`);
          this.db = this.volumeBackups.get(backup!)!;
          return `${sha(this.db)}  db.sqlite\n${sha('noise')}  noise_private.key\n`;
        }
        throw new Error(`unexpected script: ${script}`);
      },
    };
  }
}

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'june-ts-upgrade-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function run(cluster: FakeCluster, env: Record<string, string> = {}, gate = new WriteGate('off')) {
  const lines: string[] = [];
  const sink = { write: (s: string) => (lines.push(s), true) } as unknown as NodeJS.WritableStream;
  const ctx: Context = {
    ...testContext({
      env: { WAIT_TIMEOUT: '5s', ...env },
      gate,
      kube: async () => cluster.kube() as KubeClient,
      kubectl: async () => cluster.kubectl() as Kubectl,
      helm: async () => cluster.helm(gate) as HelmClient,
      headscale: async () => cluster.hs,
    }),
    log: new Logger({ stdout: sink, stderr: sink, color: false }),
  };
  const r = testRun<HeadscaleServerData>(ctx, { backupDir: dir });
  const deploy = headscaleServerPhase.children![0]!;
  const restore = async (backup: string) => {
    const data: RestoreData = {
      backup: await readLocalBackup(backup),
      fromLocal: true,
      volume: new Handoff<HeadscaleVolume | undefined>('volume'),
    };
    for (const phase of restorePhases.children!) await phase.run!(testRun(ctx, data));
  };
  return { go: () => deploy.run!(r), restore, output: () => lines.join(''), gate };
}

describe('phase 11 upgrades a running Headscale one minor at a time', () => {
  it('0.26.1 → 0.29.3: 0.27.1, 0.28.0, 0.29.3 in order, each after a backup of the version before it', async () => {
    const cluster = new FakeCluster('0.26.1');
    const r = run(cluster);
    await r.go();
    const steps = cluster.calls.filter((c) => /^(helm|backup \d)/.test(c));
    expect(steps).toEqual([
      expect.stringMatching(/^backup \d{8}T\d{6}Z-v0\.26\.1$/),
      'helm upgrade 0.27.1',
      expect.stringMatching(/^backup \d{8}T\d{6}Z-v0\.27\.1$/),
      'helm upgrade 0.28.0',
      expect.stringMatching(/^backup \d{8}T\d{6}Z-v0\.28\.0$/),
      'helm upgrade 0.29.3',
    ]);
    expect(cluster.calls.filter((c) => c.startsWith('backup pod'))).toEqual(Array(3).fill('backup pod beside headscale on headscale-data'));
    expect(cluster.backupPods.size).toBe(0);
    expect(cluster.running).toBe('0.29.3');
    // each backup is on this machine too: its record, the database as it was, the key readable by the operator only
    for (const [name, db] of cluster.volumeBackups) {
      const local = join(dir, name);
      const record = JSON.parse(readFileSync(join(local, 'backup.json'), 'utf8'));
      expect(record).toMatchObject({ version: name.split('-v')[1], namespace: 'headscale', release: 'headscale' });
      expect(readFileSync(join(local, 'db.sqlite'), 'utf8')).toBe(db);
      expect(statSync(join(local, 'noise_private.key')).mode & 0o777).toBe(0o600);
    }
    const out = r.output();
    expect(out).toContain('Headscale 0.26.1 → 0.29.3: 3 step(s), 0.27.1 → 0.28.0 → 0.29.3, each after a backup');
    expect(out).toMatch(
      /step 1\/3 \(Headscale 0\.26\.1 → 0\.27\.1\): backup \S+-v0\.26\.1 taken \(\/var\/lib\/headscale\/backups\/\S+ on claim headscale-data; copy: /,
    );
    expect(out).toMatch(
      /step 3\/3 \(Headscale 0\.28\.0 → 0\.29\.3\): Headscale 0\.29\.3 serves after [\d.]+s; 2\/2 nodes back online, 1 users, 1 keys kept/,
    );
  });

  it('the same version: one release check, no backup, no step', async () => {
    const cluster = new FakeCluster('0.29.3');
    await run(cluster).go();
    expect(cluster.calls).toEqual(['helm upgrade 0.29.3']);
    expect(cluster.volumeBackups.size).toBe(0);
  });

  it('a downgrade is refused with exit 3 before anything changes', async () => {
    const cluster = new FakeCluster('0.29.3');
    const e = await run(cluster, { HEADSCALE_VERSION: '0.26.1' })
      .go()
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UsageError);
    expect((e as UsageError).exitCode).toBe(3);
    expect((e as UsageError).message).toMatch(/Headscale 0\.29\.3 is running and 0\.26\.1 is older/);
    expect((e as UsageError).hint).toMatch(/june-ts restore/);
    expect(cluster.calls).toEqual([]);
  });

  it('a step whose server does not start: the previous version runs again on its backup, and the error says how to continue', async () => {
    const cluster = new FakeCluster('0.26.1');
    cluster.refuses.add('0.28.0');
    const e = (await run(cluster)
      .go()
      .catch((x: unknown) => x)) as Error & { hint?: string };
    expect(e.message).toMatch(
      /^step 2\/3 \(Headscale 0\.27\.1 → 0\.28\.0\) failed: Headscale pod headscale\/headscale-abc does not start \(CrashLoopBackOff\)/,
    );
    expect(e.message).toContain('FTL fatal config error');
    expect(e.message).toMatch(/Headscale 0\.27\.1 runs again on backup \S+-v0\.27\.1/);
    expect(e.hint).toMatch(/run phase 11 again \(june-ts install --only 11-headscale\): it continues from 0\.27\.1 to 0\.29\.3/);
    const after = cluster.calls.slice(cluster.calls.indexOf('helm upgrade 0.28.0'));
    expect(after).toEqual([
      'helm upgrade 0.28.0',
      'helm rollback 2',
      'helm upgrade 0.27.1 stopped',
      'backup pod alone on headscale-data',
      expect.stringMatching(/^list \S+-v0\.27\.1$/),
      expect.stringMatching(/^restore \S+-v0\.27\.1$/),
      'helm upgrade 0.27.1',
    ]);
    expect(cluster.running).toBe('0.27.1');
    expect(cluster.db).toBe('db written by 0.27.1');
    expect(cluster.calls).not.toContain('helm upgrade 0.29.3');
  });

  it('a step that comes up without the nodes is undone from its backup', async () => {
    const cluster = new FakeCluster('0.27.1');
    cluster.losesNodes.add('0.28.0');
    const e = (await run(cluster)
      .go()
      .catch((x: unknown) => x)) as Error;
    expect(e.message).toMatch(
      /step 1\/2 \(Headscale 0\.27\.1 → 0\.28\.0\) failed: Headscale 0\.28\.0 lost data: nodes missing: june-orchestrator \(id 1\), june-e2e-host \(id 2\)/,
    );
    expect(cluster.calls.slice(cluster.calls.indexOf('helm upgrade 0.28.0'))).toEqual([
      'helm upgrade 0.28.0',
      'helm upgrade 0.27.1 stopped',
      'backup pod alone on headscale-data',
      expect.stringMatching(/^list \S+-v0\.27\.1$/),
      expect.stringMatching(/^restore \S+-v0\.27\.1$/),
      'helm upgrade 0.27.1',
    ]);
    expect(cluster.running).toBe('0.27.1');
  });

  it('reports MagicDNS names the step changed (old → new)', async () => {
    const cluster = new FakeCluster('0.28.0');
    const listNodes = cluster.hs.listNodes;
    cluster.hs.listNodes = async () =>
      (await listNodes()).map((n) => (cluster.running === '0.29.3' && n.id === '2' ? { ...n, givenName: 'june-e2e-host-1' } : n));
    const r = run(cluster);
    await r.go();
    expect(r.output()).toContain('MagicDNS name changed (node 2): june-e2e-host.tail.example.com → june-e2e-host-1.tail.example.com');
  });

  it('without a volume (persistence off) it steps without backups and says so', async () => {
    const cluster = new FakeCluster('0.27.1');
    cluster.volume = false;
    const r = run(cluster);
    await r.go();
    expect(cluster.calls).toEqual(['helm upgrade 0.28.0', 'helm upgrade 0.29.3']);
    expect(r.output()).toContain('keeps no volume (persistence.enabled=false): no backups');
  });

  it('the live dry-run plan lists each step with its version and its backup, and changes nothing', async () => {
    const cluster = new FakeCluster('0.26.1');
    const gate = new WriteGate('live');
    const entries: PlanEntry[] = [];
    const r = run(cluster, {}, gate);
    await gate.collect(entries, r.go);
    const text = entries.map((e) =>
      e.kind === 'note' ? e.text : e.kind === 'helm' ? `helm ${(e.values as { image: { tag: string } }).image.tag}` : e.kind,
    );
    expect(text).toEqual([
      expect.stringMatching(
        /^back up Headscale 0\.26\.1: a pod on claim headscale-data \(keinos\/sqlite3:latest\) copies the database \(sqlite3 \.backup\)/,
      ),
      'helm 0.27.1',
      expect.stringMatching(/^wait until the Deployments/),
      expect.stringMatching(/^step 1\/3 \(Headscale 0\.26\.1 → 0\.27\.1\): wait until Headscale 0\.27\.1 serves/),
      expect.stringMatching(/^back up Headscale 0\.27\.1/),
      'helm 0.28.0',
      expect.stringMatching(/^wait until the Deployments/),
      expect.stringMatching(/^step 2\/3/),
      expect.stringMatching(/^back up Headscale 0\.28\.0/),
      'helm 0.29.3',
      expect.stringMatching(/^wait until the Deployments/),
      expect.stringMatching(/^step 3\/3/),
    ]);
    expect(cluster.calls).toEqual([]);
    expect(existsSync(join(dir, 'x'))).toBe(false);
  });

  it("june-ts restore: the operator's copy of a backup goes back on the volume and its version serves it again", async () => {
    const cluster = new FakeCluster('0.26.1');
    const r = run(cluster);
    await r.go();
    const first = [...cluster.volumeBackups.keys()][0]!;
    cluster.volumeBackups.clear(); // the volume lost its own copies: the operator's copy is what comes back
    cluster.calls = [];
    await r.restore(join(dir, first));
    expect(cluster.calls).toEqual([
      'helm upgrade 0.26.1 stopped',
      'backup pod alone on headscale-data',
      `list ${first}`,
      'upload db.sqlite',
      'upload key',
      `restore ${first}`,
      'helm upgrade 0.26.1',
    ]);
    expect(cluster.running).toBe('0.26.1');
    expect(cluster.db).toBe('db written by 0.26.1');
    expect(r.output()).toMatch(/Headscale 0\.26\.1 serves the backup: 1 users, 2 nodes, 1 pre-auth keys/);
  });

  it('june-ts restore uploads nothing when the volume still holds the same backup', async () => {
    const cluster = new FakeCluster('0.27.1');
    const r = run(cluster);
    await r.go();
    const first = [...cluster.volumeBackups.keys()][0]!;
    cluster.calls = [];
    await r.restore(join(dir, first));
    expect(cluster.calls.filter((c) => /^(list|upload|restore)/.test(c))).toEqual([`list ${first}`, `restore ${first}`]);
    expect(r.output()).toContain(
      `the volume still holds /var/lib/headscale/backups/${first}, identical to ${join(dir, first)}: restoring that`,
    );
    expect(cluster.running).toBe('0.27.1');
  });

  it('june-ts restore refuses a directory that is not a backup, or a copy that differs from its record', async () => {
    const cluster = new FakeCluster('0.26.1');
    const r = run(cluster);
    await expect(r.restore(dir)).rejects.toThrow(/is not a june-ts backup/);
    await r.go();
    const first = [...cluster.volumeBackups.keys()][0]!;
    writeFileSync(join(dir, first, 'db.sqlite'), 'tampered');
    await expect(r.restore(join(dir, first))).rejects.toThrow(/db\.sqlite is missing or differs from the backup record \(sha256\)/);
  });
});
