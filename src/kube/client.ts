// KubeClient over @kubernetes/client-node. Loaded only by commands that talk to a cluster.
import * as k8s from '@kubernetes/client-node';
import { ExternalError, PreflightError, UsageError } from '../errors.js';
import type { WriteGate } from '../plan.js';
import { redactor } from '../ui/redact.js';
import type { ApplySecret, DeploymentInfo, KubeClient, PodInfo, SecretInfo } from './types.js';

const FIELD_MANAGER = 'june-ts';

export interface KubeOptions {
  kubeconfig?: string;
  context?: string;
  gate: WriteGate;
}

function statusOf(e: unknown): number | undefined {
  const err = e as { code?: number; statusCode?: number; body?: unknown };
  return err?.code ?? err?.statusCode;
}

function describe(e: unknown): string {
  const err = e as { body?: unknown; message?: string };
  if (typeof err?.body === 'string') {
    try {
      const parsed = JSON.parse(err.body) as { message?: string };
      if (parsed.message) return parsed.message;
    } catch {
      /* not JSON */
    }
  }
  return (err?.message ?? String(e)).split('\n')[0]!;
}

const TRANSIENT = new Set([429, 500, 502, 503, 504]);

/** Bounded retries with backoff on transient API errors (server restarting, throttling). */
async function withRetry<T>(what: string, fn: () => Promise<T>, attempts = 5): Promise<T> {
  let delay = 200;
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (e) {
      const code = statusOf(e);
      const errno = (e as { cause?: { code?: string }; code?: string })?.cause?.code ?? (e as { code?: string }).code;
      const transient = (code !== undefined && TRANSIENT.has(code)) || errno === 'ECONNREFUSED' || errno === 'ECONNRESET';
      if (!transient || i >= attempts) throw e;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 3000);
      void what;
    }
  }
}

export class ClientNodeKube implements KubeClient {
  private readonly kc: k8s.KubeConfig;
  private readonly core: k8s.CoreV1Api;
  private readonly apps: k8s.AppsV1Api;
  private readonly objects: k8s.KubernetesObjectApi;
  private readonly gate: WriteGate;

  constructor(options: KubeOptions) {
    this.gate = options.gate;
    this.kc = new k8s.KubeConfig();
    try {
      if (options.kubeconfig) this.kc.loadFromFile(options.kubeconfig);
      else this.kc.loadFromDefault();
    } catch (e) {
      throw new UsageError(`cannot read kubeconfig ${options.kubeconfig ?? '(default)'}: ${describe(e)}`, {
        hint: 'set KUBECONFIG (or --kubeconfig) to a valid kubeconfig file',
      });
    }
    if (options.context) {
      if (!this.kc.getContexts().some((c) => c.name === options.context)) {
        throw new UsageError(`kubeconfig context '${options.context}' does not exist`, {
          hint: `use one of: ${this.kc.getContexts().map((c) => c.name).join(', ') || '(none)'} (KUBE_CONTEXT or --context)`,
        });
      }
      this.kc.setCurrentContext(options.context);
    }
    if (!this.kc.getCurrentCluster()) {
      throw new PreflightError('no Kubernetes cluster configured', { hint: 'set KUBECONFIG or KUBE_CONTEXT to point at your cluster' });
    }
    this.core = this.kc.makeApiClient(k8s.CoreV1Api);
    this.apps = this.kc.makeApiClient(k8s.AppsV1Api);
    this.objects = k8s.KubernetesObjectApi.makeApiClient(this.kc);
  }

  private fail(action: string, e: unknown): never {
    const code = statusOf(e);
    if (code === 401 || code === 403) {
      throw new ExternalError(`${action}: forbidden (${code}): ${describe(e)}`, {}, {
        hint: 'your kubeconfig user lacks this permission; see "RBAC for operators" in the README',
      });
    }
    throw new ExternalError(`${action}: ${describe(e)}`, {}, { cause: e });
  }

  async serverVersion(): Promise<string> {
    try {
      const v = await withRetry('version', () => this.kc.makeApiClient(k8s.VersionApi).getCode(), 3);
      return v.gitVersion;
    } catch (e) {
      const server = this.kc.getCurrentCluster()?.server ?? '(unknown)';
      throw new PreflightError(`cannot reach the Kubernetes API server at ${server}: ${describe(e)}`, {
        hint: 'check that the cluster is up and KUBECONFIG/KUBE_CONTEXT point at it (`kubectl cluster-info`)',
      });
    }
  }

  async namespaceExists(name: string): Promise<boolean> {
    try {
      await withRetry('namespace', () => this.core.readNamespace({ name }));
      return true;
    } catch (e) {
      if (statusOf(e) === 404) return false;
      this.fail(`read namespace ${name}`, e);
    }
  }

  async ensureNamespace(name: string): Promise<void> {
    if (await this.namespaceExists(name)) return;
    await this.gate.write(
      { kind: 'apply', object: `Namespace/${name}`, manifest: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } },
      async () => {
        try {
          await this.core.createNamespace({ body: { metadata: { name } } });
        } catch (e) {
          if (statusOf(e) !== 409) this.fail(`create namespace ${name}`, e);
        }
      },
      undefined,
    );
  }

  async getSecret(namespace: string, name: string): Promise<SecretInfo | null> {
    try {
      const s = await withRetry('secret', () => this.core.readNamespacedSecret({ name, namespace }));
      return toSecretInfo(s);
    } catch (e) {
      if (statusOf(e) === 404) return null;
      this.fail(`read Secret ${namespace}/${name}`, e);
    }
  }

  async applySecret(secret: ApplySecret): Promise<SecretInfo> {
    for (const v of Object.values(secret.stringData)) redactor.add(v);
    const body: k8s.V1Secret & { apiVersion: string; kind: string } = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: secret.name, namespace: secret.namespace, labels: secret.labels, annotations: secret.annotations },
      type: 'Opaque',
      data: Object.fromEntries(Object.entries(secret.stringData).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    };
    const manifest = { ...body, data: Object.fromEntries(Object.keys(secret.stringData).map((k) => [k, '<redacted>'])) };
    return this.gate.write(
      { kind: 'apply', object: `Secret/${secret.name}`, namespace: secret.namespace, manifest, note: 'server-side apply' },
      async () => {
        try {
          const applied = await withRetry('apply secret', () =>
            this.objects.patch(body, undefined, undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply),
          );
          return toSecretInfo(applied as k8s.V1Secret);
        } catch (e) {
          this.fail(`apply Secret ${secret.namespace}/${secret.name}`, e);
        }
      },
      { name: secret.name, namespace: secret.namespace, data: secret.stringData, labels: secret.labels ?? {}, annotations: secret.annotations ?? {}, resourceVersion: '' },
    );
  }

  async restoreSecret(namespace: string, name: string, previous: SecretInfo | null): Promise<void> {
    if (!previous) {
      await this.deleteSecret(namespace, name);
      return;
    }
    await this.gate.write(
      { kind: 'apply', object: `Secret/${name}`, namespace, manifest: { restore: 'previous contents' }, note: 'restore' },
      async () => {
        try {
          const current = await this.core.readNamespacedSecret({ name, namespace });
          current.data = Object.fromEntries(Object.entries(previous.data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
          current.metadata!.annotations = previous.annotations;
          current.metadata!.labels = previous.labels;
          await this.core.replaceNamespacedSecret({ name, namespace, body: current });
        } catch (e) {
          if (statusOf(e) === 404) {
            await this.applySecret({ namespace, name, stringData: previous.data, labels: previous.labels, annotations: previous.annotations });
            return;
          }
          this.fail(`restore Secret ${namespace}/${name}`, e);
        }
      },
      undefined,
    );
  }

  async deleteSecret(namespace: string, name: string): Promise<boolean> {
    return this.gate.write(
      { kind: 'delete', object: `Secret/${name}`, namespace },
      async () => {
        try {
          await withRetry('delete secret', () => this.core.deleteNamespacedSecret({ name, namespace }));
          return true;
        } catch (e) {
          if (statusOf(e) === 404) return false;
          this.fail(`delete Secret ${namespace}/${name}`, e);
        }
      },
      true,
    );
  }

  async getConfigMap(namespace: string, name: string): Promise<Record<string, string> | null> {
    try {
      const cm = await withRetry('configmap', () => this.core.readNamespacedConfigMap({ name, namespace }));
      return cm.data ?? {};
    } catch (e) {
      if (statusOf(e) === 404) return null;
      this.fail(`read ConfigMap ${namespace}/${name}`, e);
    }
  }

  async getDeployment(namespace: string, name: string): Promise<DeploymentInfo | null> {
    try {
      const d = await withRetry('deployment', () => this.apps.readNamespacedDeployment({ name, namespace }));
      return toDeploymentInfo(d);
    } catch (e) {
      if (statusOf(e) === 404) return null;
      this.fail(`read Deployment ${namespace}/${name}`, e);
    }
  }

  async listPods(namespace: string, labelSelector: string): Promise<PodInfo[]> {
    try {
      const list = await withRetry('pods', () => this.core.listNamespacedPod({ namespace, labelSelector }));
      return list.items.map(toPodInfo);
    } catch (e) {
      this.fail(`list pods in ${namespace}`, e);
    }
  }

  async restartDeployment(namespace: string, name: string): Promise<void> {
    const patch = { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } } } } };
    await this.gate.write(
      { kind: 'restart', object: `Deployment/${name}`, namespace },
      async () => {
        try {
          await withRetry('restart', () =>
            this.apps.patchNamespacedDeployment(
              { name, namespace, body: patch, fieldManager: FIELD_MANAGER },
              k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
            ),
          );
        } catch (e) {
          this.fail(`restart Deployment ${namespace}/${name}`, e);
        }
      },
      undefined,
    );
  }

  async waitForRollout(namespace: string, names: string[], timeoutMs: number): Promise<void> {
    if (this.gate.dryRun) return;
    const deadline = Date.now() + timeoutMs;
    let pending = names;
    while (pending.length) {
      const states = await Promise.all(pending.map((n) => this.getDeployment(namespace, n)));
      pending = pending.filter((_, i) => !rolledOut(states[i] ?? null));
      if (!pending.length) return;
      if (Date.now() > deadline) {
        throw new ExternalError(`Deployments not rolled out after ${Math.round(timeoutMs / 1000)}s: ${pending.join(', ')}`, {}, {
          hint: `inspect with: kubectl -n ${namespace} get pods; kubectl -n ${namespace} describe deployment ${pending[0]}`,
        });
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  async acquireLease(namespace: string, name: string, holder: string, durationSeconds: number): Promise<() => Promise<void>> {
    const coord = this.kc.makeApiClient(k8s.CoordinationV1Api);
    const now = () => new k8s.V1MicroTime(Date.now());
    const spec = () => ({ holderIdentity: holder, leaseDurationSeconds: durationSeconds, acquireTime: now(), renewTime: now() });
    try {
      await coord.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec: spec() } });
    } catch (e) {
      if (statusOf(e) !== 409) this.fail(`create Lease ${namespace}/${name}`, e);
      const current = await coord.readNamespacedLease({ name, namespace });
      const renewed = current.spec?.renewTime ? new Date(current.spec.renewTime as unknown as string).getTime() : 0;
      const ttl = (current.spec?.leaseDurationSeconds ?? durationSeconds) * 1000;
      const other = current.spec?.holderIdentity;
      if (other && other !== holder && renewed + ttl > Date.now()) {
        throw new PreflightError(`another june-ts run holds the lock (Lease ${namespace}/${name}, holder ${other})`, {
          hint: `wait for it to finish; if it died, its lock expires ${Math.ceil((renewed + ttl - Date.now()) / 1000)}s after its last renewal`,
        });
      }
      current.spec = spec();
      try {
        await coord.replaceNamespacedLease({ name, namespace, body: current });
      } catch (e2) {
        if (statusOf(e2) === 409) {
          throw new PreflightError(`another june-ts run took the lock (Lease ${namespace}/${name}) at the same moment`, { hint: 'wait for it to finish' });
        }
        this.fail(`take over Lease ${namespace}/${name}`, e2);
      }
    }
    const timer = setInterval(() => {
      void coord
        .readNamespacedLease({ name, namespace })
        .then((l) => {
          if (l.spec?.holderIdentity !== holder) return;
          l.spec.renewTime = now();
          return coord.replaceNamespacedLease({ name, namespace, body: l });
        })
        .catch(() => {});
    }, (durationSeconds * 1000) / 3);
    timer.unref();
    return async () => {
      clearInterval(timer);
      try {
        const l = await coord.readNamespacedLease({ name, namespace });
        if (l.spec?.holderIdentity === holder) await coord.deleteNamespacedLease({ name, namespace });
      } catch {
        /* an expired lease is harmless */
      }
    };
  }
}

export function rolledOut(d: DeploymentInfo | null): boolean {
  if (!d) return false;
  return (
    d.observedGeneration >= d.generation &&
    d.updatedReplicas >= d.replicas &&
    d.availableReplicas >= d.replicas &&
    d.readyReplicas >= d.replicas
  );
}

function toSecretInfo(s: k8s.V1Secret): SecretInfo {
  const data = Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
  for (const v of Object.values(data)) redactor.add(v);
  return {
    name: s.metadata?.name ?? '',
    namespace: s.metadata?.namespace ?? '',
    data,
    labels: s.metadata?.labels ?? {},
    annotations: s.metadata?.annotations ?? {},
    resourceVersion: s.metadata?.resourceVersion ?? '',
  };
}

function toDeploymentInfo(d: k8s.V1Deployment): DeploymentInfo {
  return {
    name: d.metadata?.name ?? '',
    namespace: d.metadata?.namespace ?? '',
    replicas: d.spec?.replicas ?? 1,
    readyReplicas: d.status?.readyReplicas ?? 0,
    updatedReplicas: d.status?.updatedReplicas ?? 0,
    availableReplicas: d.status?.availableReplicas ?? 0,
    observedGeneration: d.status?.observedGeneration ?? 0,
    generation: d.metadata?.generation ?? 0,
    containers: d.spec?.template.spec?.containers.map((c) => c.name) ?? [],
    podLabels: d.spec?.selector.matchLabels ?? {},
  };
}

function toPodInfo(p: k8s.V1Pod): PodInfo {
  const statuses = p.status?.containerStatuses ?? [];
  return {
    name: p.metadata?.name ?? '',
    namespace: p.metadata?.namespace ?? '',
    phase: p.status?.phase ?? 'Unknown',
    labels: p.metadata?.labels ?? {},
    deletionTimestamp: p.metadata?.deletionTimestamp ? String(p.metadata.deletionTimestamp) : undefined,
    containers: (p.spec?.containers ?? []).map((c) => {
      const st = statuses.find((s) => s.name === c.name);
      const waiting = st?.state?.waiting?.reason;
      return { name: c.name, ready: st?.ready ?? false, restartCount: st?.restartCount ?? 0, ...(waiting ? { waitingReason: waiting } : {}) };
    }),
  };
}
